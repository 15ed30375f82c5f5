//! What a controller remembers about each desired resource between sweeps, how a sweep's
//! outcome changes it, and how it is published (`/status`, `converge_resources`).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Controller, Engine};
use crate::core::Origin;
use crate::core::{Action, Change, ErrorClass, KindError};
use crate::engine::status::{rfc3339, KindStatus, PlannedChange, ResourceStatus, State};
use crate::engine::{awaited_kind, Kind};

/// Where a desired resource was written, and the hash of its spec.
pub(super) struct Meta {
    pub hash: u64,
    pub origin: Origin,
}

/// One desired resource, as the controller follows it.
#[derive(Default)]
pub(super) struct Track {
    pub state: Option<State>,
    /// The spec hash the resource was last observed converged with.
    pub converged_hash: Option<u64>,
    pub waiting_for: Option<String>,
    pub error: Option<KindError>,
    pub last_change: Option<SystemTime>,
    pub last_action: Option<Action>,
    pub last_revision: Option<String>,
    /// Sweeps that found it drifted.
    pub drifts: u32,
    /// Changes still to make (shown in `/status` as `pending_changes`).
    pub planned: Vec<PlannedChange>,
    /// The changes applied in the previous sweep: the same diff now means they did not take.
    pub applied_last_sweep: Option<String>,
}

impl Track {
    /// Nothing more to do in this pass: converged, or failed for good.
    pub fn finished(&self) -> bool {
        match self.state {
            Some(State::Converged) => true,
            Some(State::Failed) => self.error.as_ref().is_some_and(|e| e.class.is_final()),
            _ => false,
        }
    }
}

/// What one sweep made of one resource.
pub(super) enum Outcome<C> {
    Converged,
    Waiting(String),
    Failed(KindError),
    /// Changes to apply; `drift` when the resource had converged on this very spec.
    Changes {
        changes: Vec<C>,
        drift: bool,
    },
}

/// One resource after the apply step: its outcome and the changes that were applied.
pub(super) struct Done<C> {
    pub name: String,
    pub outcome: Outcome<C>,
    pub applied: Vec<C>,
    /// On a failure, the planned changes that were not applied (still pending).
    pub unapplied: Vec<PlannedChange>,
    /// The desired revision the changes were applied for.
    pub revision: Option<String>,
}

/// The plan rows of `changes`.
pub(super) fn planned<C: Change>(changes: &[C]) -> Vec<PlannedChange> {
    changes
        .iter()
        .map(|c| PlannedChange {
            action: c.action(),
            fields: c.fields(),
        })
        .collect()
}

/// A comparable text of `changes` (to tell "applied, and AWS still differs the same way").
pub(super) fn fingerprint<C: Change>(changes: &[C]) -> String {
    serde_json::to_string(&planned(changes)).unwrap_or_default()
}

impl<K: Kind> Controller<K> {
    /// Records what the sweep made of one resource: state, error and backoff, and whether its
    /// applied changes are to be verified at once.
    pub(super) fn record(&mut self, eng: &Engine, done: Done<K::Change>, now: Instant) {
        let Done {
            name,
            outcome,
            applied,
            unapplied,
            revision,
        } = done;
        let hash = self.meta.get(&name).map(|m| m.hash);
        let t = self.tracked.entry(name.clone()).or_default();
        t.applied_last_sweep = (!applied.is_empty()).then(|| fingerprint(&applied));
        if let Some(last) = applied.last() {
            t.last_change = Some(SystemTime::now());
            t.last_action = Some(last.action());
            t.last_revision = revision;
            self.changed.insert(name.clone());
        }
        if let Outcome::Changes { drift: true, .. } = outcome {
            t.drifts = t.drifts.saturating_add(1);
        }
        match outcome {
            Outcome::Converged => {
                t.state = Some(State::Converged);
                t.converged_hash = hash;
                t.waiting_for = None;
                t.error = None;
                t.planned.clear();
                self.backoffs.forget(&name);
            }
            Outcome::Waiting(what) => {
                // A kind with nothing desired lists nothing until something waits for it.
                if let Some(kind) = awaited_kind(&what) {
                    eng.facts.demand(kind);
                }
                if t.waiting_for.as_deref() != Some(&what) {
                    tracing::info!(kind = K::NAME, name = %name, waiting_for = %what, "waiting for a dependency");
                }
                t.state = Some(State::Pending);
                t.waiting_for = Some(what);
                t.error = None;
            }
            Outcome::Changes { changes, .. } => {
                t.state = Some(State::Pending);
                t.waiting_for = None;
                t.error = None;
                t.planned = if applied.is_empty() {
                    planned(&changes)
                } else {
                    Vec::new()
                };
            }
            Outcome::Failed(e) => {
                eng.metrics
                    .errors(eng.labels(K::NAME), e.class.as_str())
                    .inc();
                let delay = self.backoffs.failed(&name, e.class.is_final(), now);
                tracing::warn!(kind = K::NAME, name = %name, class = e.class.as_str(), retry_in = ?delay, error = %e, "reconcile failed");
                t.state = Some(State::Failed);
                t.waiting_for = None;
                t.error = Some(e);
                t.applied_last_sweep = None;
                t.planned = unapplied;
            }
        }
    }

    /// Apply mode is done when every resource converged or failed for good (or the kind
    /// cannot even be listed, for a terminal reason).
    pub(super) fn done(&self) -> bool {
        if self.listing_terminal {
            return true;
        }
        self.changed.is_empty()
            && self
                .specs
                .keys()
                .all(|n| self.tracked.get(n).is_some_and(Track::finished))
    }

    /// Counts this kind's first listing (worked, failed or skipped) in the engine, once;
    /// true the first time.
    pub(super) fn count_first_listing(&mut self, eng: &Engine) -> bool {
        let first = !self.listed_once;
        if first {
            self.listed_once = true;
            eng.count_first_listing();
        }
        first
    }

    /// The kind could not be listed: nothing is diffed, changed or deleted; the kind backs off
    /// and is not ready.
    pub(super) fn kind_failed(&mut self, eng: &Engine, e: KindError, started: Instant) {
        self.count_first_listing(eng);
        let terminal = e.class == ErrorClass::Terminal;
        self.listing_terminal = terminal;
        eng.metrics
            .errors(eng.labels(K::NAME), e.class.as_str())
            .inc();
        eng.metrics.kind_ready(eng.labels(K::NAME)).set(0);
        let delay = self.kind_backoff.failed(&(), terminal, Instant::now());
        tracing::warn!(kind = K::NAME, class = e.class.as_str(), retry_in = ?delay, error = %e, "cannot observe kind; nothing changed, nothing deleted");
        eng.metrics
            .sweep_duration(eng.labels(K::NAME))
            .observe(started.elapsed().as_secs_f64());
        // Before any sweep, the desired resources are still shown (pending: unknown).
        let unswept = (!self.swept_once).then(|| self.resource_rows());
        eng.status.update(K::NAME, |s| {
            s.ready = false;
            s.last_error = Some(e.message.clone());
            if let Some((resources, [converged, pending, failed])) = unswept {
                (s.converged, s.pending, s.failed) = (converged, pending, failed);
                s.resources = resources;
            }
        });
    }

    /// Every desired resource's status row, and how many are converged, pending, failed.
    fn resource_rows(&self) -> (Vec<ResourceStatus>, [usize; 3]) {
        let mut resources = Vec::with_capacity(self.specs.len());
        let mut counts = [0; 3];
        for (name, m) in &self.meta {
            let t = self.tracked.get(name);
            let state = t.and_then(|t| t.state).unwrap_or(State::Pending);
            counts[match state {
                State::Converged => 0,
                State::Pending => 1,
                State::Failed => 2,
            }] += 1;
            resources.push(ResourceStatus {
                kind: K::NAME,
                name: name.clone(),
                state,
                waiting_for: t.and_then(|t| t.waiting_for.clone()),
                last_error: t.and_then(|t| t.error.as_ref().map(|e| e.message.clone())),
                error_class: t.and_then(|t| t.error.as_ref().map(|e| e.class)),
                last_change: t.and_then(|t| t.last_change.map(rfc3339)),
                last_action: t.and_then(|t| t.last_action),
                last_revision: t.and_then(|t| t.last_revision.clone()),
                drifts: t.map_or(0, |t| t.drifts),
                pending_changes: t.map(|t| t.planned.clone()).unwrap_or_default(),
                attempts: self.backoffs.attempts(name),
                source: m.origin.to_string(),
            });
        }
        (resources, counts)
    }

    /// Publishes every resource's state: `/status`, the `converge_resources` gauges, the
    /// sweep's duration and end.
    pub(super) fn publish_status(&self, eng: &Engine, started: Instant) {
        let (resources, [converged, pending, failed]) = self.resource_rows();
        let m = &eng.metrics;
        for (state, n) in [
            (State::Converged, converged),
            (State::Pending, pending),
            (State::Failed, failed),
        ] {
            m.resources(eng.labels(K::NAME), state.as_str())
                .set(n as i64);
        }
        m.sweep_duration(eng.labels(K::NAME))
            .observe(started.elapsed().as_secs_f64());
        let now = SystemTime::now();
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        m.last_sweep(eng.labels(K::NAME)).set(unix as i64);
        let prune = self.prune.clone();
        eng.status.update(K::NAME, move |s: &mut KindStatus| {
            s.swept = true;
            s.ready = true;
            s.last_sweep = Some(rfc3339(now));
            s.last_error = None;
            s.converged = converged;
            s.pending = pending;
            s.failed = failed;
            s.prune = prune;
            s.resources = resources;
        });
    }
}
