//! One controller loop per kind: observe the whole kind, diff each resource, apply what is
//! needed, prune what is owned and gone — on a new desired generation, on the resync timer,
//! when a resource's backoff expires, and when a fact it waits for appears.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::audit::AuditLog;
use super::backoff::Backoffs;
use super::facts::Facts;
use super::status::{
    rfc3339, KindStatus, PlannedChange, PruneStatus, ResourceStatus, State, StatusStore,
};
use super::{DiffCtx, Kind, Mode, Observed, Scope, Settings};
use crate::core::facts::Published;
use crate::core::{Action, Change, DesiredRx, DesiredSet, ErrorClass, FieldChange, KindError};
use crate::metrics::Metrics;

/// The longest a kind's first sweep waits for the other kinds' first listings.
const FIRST_LISTING_WAIT: Duration = Duration::from_secs(20);

/// A change converge applied (for `apply`'s summary).
#[derive(Debug, Clone, Serialize)]
pub struct AppliedChange {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

/// Everything the controllers share.
pub struct Engine {
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub status: StatusStore,
    pub facts: Facts,
    pub desired: DesiredRx,
    pub shutdown: watch::Receiver<bool>,
    /// Every change applied since start (bounded: the newest 10,000).
    pub applied: Mutex<Vec<AppliedChange>>,
    /// Where mutating changes are recorded (besides the log).
    pub audit: AuditLog,
    /// How many kinds run (set with [`Engine::with_kinds`]), and how many have listed once.
    kinds_total: AtomicUsize,
    first_listings: watch::Sender<usize>,
    deletions: Mutex<(u64, u32)>,
}

impl Engine {
    pub fn new(
        settings: Settings,
        metrics: Arc<Metrics>,
        desired: DesiredRx,
        shutdown: watch::Receiver<bool>,
    ) -> Engine {
        Engine {
            settings,
            metrics,
            status: StatusStore::default(),
            facts: Facts::default(),
            desired,
            shutdown,
            applied: Mutex::new(Vec::new()),
            audit: AuditLog::default(),
            kinds_total: AtomicUsize::new(0),
            first_listings: watch::channel(0).0,
            deletions: Mutex::new((0, 0)),
        }
    }

    /// How many kind controllers will run: each waits (bounded) for all of them to list once
    /// before its first diff, so cross-kind references resolve on the first sweep.
    pub fn with_kinds(self, n: usize) -> Engine {
        self.kinds_total.store(n, Ordering::Relaxed);
        self
    }

    /// Records mutating changes in `audit` too.
    pub fn with_audit(mut self, audit: AuditLog) -> Engine {
        self.audit = audit;
        self
    }

    /// Takes one deletion from the budget of `generation`; false when it is spent.
    fn take_deletion(&self, generation: u64) -> bool {
        let Ok(mut g) = self.deletions.lock() else {
            return false;
        };
        if g.0 != generation {
            *g = (generation, 0);
        }
        if g.1 >= self.settings.max_deletions {
            return false;
        }
        g.1 += 1;
        true
    }

    fn record_applied(&self, change: AppliedChange) {
        if let Ok(mut g) = self.applied.lock() {
            if g.len() >= 10_000 {
                g.remove(0);
            }
            g.push(change);
        }
    }
}

/// A controller with its kind erased, so the registry can hold every kind in one list.
pub trait Runnable: Send {
    fn kind(&self) -> &'static str;
    fn run(self: Box<Self>, engine: Arc<Engine>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// What a new desired generation changed for this kind.
#[derive(Default)]
struct Delta {
    /// New resources and resources whose spec changed.
    changed: BTreeSet<String>,
    /// Some resources are no longer desired.
    removed: bool,
}

struct Meta {
    hash: u64,
    source: String,
}

#[derive(Default)]
struct Track {
    state: Option<State>,
    /// The spec hash the resource was last observed converged with.
    converged_hash: Option<u64>,
    waiting_for: Option<String>,
    error: Option<KindError>,
    last_change: Option<SystemTime>,
    pending: Vec<PlannedChange>,
    /// The changes applied in the previous sweep: the same diff now means they did not take.
    applied_last_sweep: Option<String>,
}

enum Outcome<C> {
    Converged,
    Waiting(String),
    Failed(KindError),
    /// Changes to apply; `drift` when the resource had converged on this very spec.
    Changes {
        changes: Vec<C>,
        drift: bool,
    },
}

/// The loop of one kind.
pub struct Controller<K: Kind> {
    kind: Arc<K>,
    /// name → desired spec, this kind's part of the desired generation in force.
    specs: Arc<BTreeMap<String, K::Spec>>,
    meta: BTreeMap<String, Meta>,
    generation: u64,
    tracked: HashMap<String, Track>,
    backoffs: Backoffs<String>,
    kind_backoff: Backoffs<()>,
    refused: BTreeSet<(u64, String)>,
    prune: Vec<PruneStatus>,
    /// Resources the last sweep changed: verified by the next (targeted) sweep, at once.
    changed: BTreeSet<String>,
    /// A full sweep has completed.
    swept_once: bool,
    /// The first listing (successful or not) has been counted in `Engine::first_listings`.
    listed_once: bool,
    /// The last listing failed with a terminal error (access denied, expired credentials):
    /// `apply` stops waiting for this kind (retrying would not help before its timeout).
    listing_terminal: bool,
}

impl<K: Kind> Controller<K> {
    pub fn new(kind: K, settings: &Settings) -> Self {
        Controller {
            kind: Arc::new(kind),
            specs: Arc::new(BTreeMap::new()),
            meta: BTreeMap::new(),
            generation: 0,
            tracked: HashMap::new(),
            backoffs: Backoffs::new(settings.backoff_min, settings.backoff_max),
            kind_backoff: Backoffs::new(settings.backoff_min, settings.backoff_max),
            refused: BTreeSet::new(),
            prune: Vec::new(),
            changed: BTreeSet::new(),
            swept_once: false,
            listed_once: false,
            listing_terminal: false,
        }
    }

    async fn run_loop(mut self, eng: Arc<Engine>) {
        eng.metrics.init_kind(K::NAME);
        eng.status.register(K::NAME);
        let mut desired_rx = eng.desired.clone();
        let mut facts_rx = eng.facts.subscribe();
        let mut shutdown = eng.shutdown.clone();
        let mode = eng.settings.mode;
        // A full sweep lists the whole kind (and prunes); a targeted one only the resources
        // that have a reason to be looked at now (spec changed, backoff expired, a fact they
        // wait for appeared, changes to verify). Only `run` targets; it keeps a full sweep
        // every --resync for drift.
        let mut next_full = Instant::now();
        let mut full = true;
        let mut targets: BTreeSet<String> = BTreeSet::new();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let current = desired_rx.borrow_and_update().clone();
            let Some(desired) = current else {
                tokio::select! {
                    r = desired_rx.changed() => if r.is_err() { return },
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            let delta = self.load_specs(&desired);
            targets.extend(delta.changed);
            let now = Instant::now();
            targets.extend(self.backoffs.due_keys(now));
            full |= (delta.removed && eng.settings.prune)
                || mode != Mode::Run
                || !self.swept_once
                || now >= next_full
                || self.kind_backoff.next_due().is_some();
            if full {
                let Some(again) = self
                    .full_sweep(&eng, desired, &mut desired_rx, &mut facts_rx, &mut shutdown)
                    .await
                else {
                    return;
                };
                next_full = Instant::now();
                if !again {
                    next_full += eng.settings.resync;
                }
            } else if !targets.is_empty() {
                self.sweep(&eng, &desired, &mut facts_rx, Some(&targets))
                    .await;
            }
            full = false;
            targets.clear();
            if mode == Mode::Plan || (mode == Mode::Apply && self.done()) {
                return;
            }
            let now = Instant::now();
            let mut wake = next_full;
            if !self.changed.is_empty() {
                wake = now;
            }
            for due in [self.backoffs.next_due(), self.kind_backoff.next_due()]
                .into_iter()
                .flatten()
            {
                wake = wake.min(due.max(now));
            }
            let waiting: BTreeSet<String> = self
                .tracked
                .iter()
                .filter(|(_, t)| t.waiting_for.is_some())
                .map(|(n, _)| n.clone())
                .collect();
            tokio::select! {
                _ = shutdown.changed() => {}
                r = desired_rx.changed() => if r.is_err() { return },
                r = facts_rx.changed(), if !waiting.is_empty() => {
                    if r.is_err() { return }
                    targets.extend(waiting);
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            // Whatever woke us, changes applied last sweep are verified now.
            targets.append(&mut self.changed);
        }
    }

    /// Adopts a new desired generation: parses this kind's specs, resets the backoff of
    /// every resource whose spec changed, forgets resources no longer desired.
    fn load_specs(&mut self, desired: &DesiredSet) -> Delta {
        let mut delta = Delta::default();
        if desired.generation == self.generation {
            return delta;
        }
        self.generation = desired.generation;
        let mut specs = BTreeMap::new();
        let mut meta = BTreeMap::new();
        for (name, res) in desired.of_kind(K::NAME).into_iter().flatten() {
            match serde_json::from_value::<K::Spec>(res.spec.clone()) {
                Ok(spec) => {
                    specs.insert(name.clone(), spec);
                    meta.insert(
                        name.clone(),
                        Meta {
                            hash: res.hash,
                            source: res.origin.to_string(),
                        },
                    );
                }
                // The loader checked the spec already; this would be a bug, so say so loudly.
                Err(e) => {
                    tracing::error!(kind = K::NAME, name = %name, error = %e, "spec does not match its schema after loading; skipped")
                }
            }
        }
        for (name, new) in &meta {
            if self.meta.get(name).map(|m| m.hash) != Some(new.hash) {
                self.backoffs.forget(name);
                delta.changed.insert(name.clone());
            }
        }
        delta.removed = self.meta.keys().any(|n| !meta.contains_key(n));
        self.tracked.retain(|n, _| specs.contains_key(n));
        self.backoffs.retain(|n| specs.contains_key(n));
        self.specs = Arc::new(specs);
        self.meta = meta;
        delta
    }

    /// Apply mode is done when every resource converged or failed terminally (or the kind
    /// cannot even be listed, for a terminal reason).
    fn done(&self) -> bool {
        if self.listing_terminal {
            return true;
        }
        self.changed.is_empty()
            && self.specs.keys().all(|n| {
                self.tracked.get(n).is_some_and(|t| match t.state {
                    Some(State::Converged) => true,
                    Some(State::Failed) => t.error.as_ref().is_some_and(|e| e.class.is_final()),
                    _ => false,
                })
            })
    }

    /// The observation a sweep needs, as a future that does not borrow the controller (so a
    /// full sweep's listing can go on while targeted sweeps run beside it), with the specs in
    /// scope. `None` when `only` names nothing desired.
    #[allow(clippy::type_complexity)]
    fn observing(
        &self,
        eng: &Engine,
        only: Option<&BTreeSet<String>>,
    ) -> Option<(
        Arc<BTreeMap<String, K::Spec>>,
        impl Future<Output = Result<Observed<K::Live>, KindError>> + Send + 'static,
    )> {
        let in_scope = match only {
            None => self.specs.clone(),
            Some(names) => {
                let subset: BTreeMap<String, K::Spec> = self
                    .specs
                    .iter()
                    .filter(|(n, _)| names.contains(*n))
                    .map(|(n, s)| (n.clone(), s.clone()))
                    .collect();
                if subset.is_empty() {
                    return None;
                }
                Arc::new(subset)
            }
        };
        let kind = self.kind.clone();
        let specs = in_scope.clone();
        let all = eng.settings.prune && only.is_none();
        let deadline = eng.settings.call_deadline;
        let fut = async move {
            let scope = Scope {
                desired: &*specs,
                all,
            };
            match tokio::time::timeout(deadline, kind.observe(&scope)).await {
                Ok(r) => r,
                Err(_) => Err(KindError::new(
                    ErrorClass::Retryable,
                    format!("listing {} timed out after {deadline:?}", K::NAME),
                )),
            }
        };
        Some((in_scope, fut))
    }

    /// One sweep: all resources (`only` None: list the whole kind, prune, publish all facts)
    /// or just `only`.
    async fn sweep(
        &mut self,
        eng: &Arc<Engine>,
        desired: &DesiredSet,
        facts_rx: &mut watch::Receiver<u64>,
        only: Option<&BTreeSet<String>>,
    ) -> bool {
        let started = Instant::now();
        let Some((in_scope, observing)) = self.observing(eng, only) else {
            return true;
        };
        let observed = observing.await;
        let listed = observed.is_ok();
        let touched = BTreeSet::new();
        self.reconcile(
            eng,
            desired,
            facts_rx,
            only.is_some(),
            &in_scope,
            observed,
            &touched,
            started,
        )
        .await;
        listed
    }

    /// A full sweep. Its listing (paced as background work: it may take many seconds at
    /// fleet scale) does not hold up desired changes: each new generation is reconciled at
    /// once by a targeted sweep of what changed, and the full sweep then leaves the resources
    /// those sweeps touched alone (its listing of them may predate their changes). The listing
    /// runs as a task of its own, so it goes on while they do. Returns `None` when the
    /// controller must stop, else whether another full sweep is due at once (a resource was
    /// removed from the desired state while this one listed, and prune is on).
    async fn full_sweep(
        &mut self,
        eng: &Arc<Engine>,
        mut desired: Arc<DesiredSet>,
        desired_rx: &mut DesiredRx,
        facts_rx: &mut watch::Receiver<u64>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<bool> {
        let started = Instant::now();
        let Some((in_scope, observing)) = self.observing(eng, None) else {
            return Some(false);
        };
        let mut listing = tokio::spawn(crate::core::priority::background(observing));
        let _stop_listing = AbortOnDrop(listing.abort_handle());
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut again = false;
        // Not before the first full sweep: other kinds wait for this kind's first listing.
        let live_updates = eng.settings.mode == Mode::Run && self.swept_once;
        let observed = loop {
            let targets = tokio::select! {
                biased;
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        return None;
                    }
                    continue;
                }
                r = desired_rx.changed(), if live_updates => {
                    if r.is_err() {
                        return None;
                    }
                    let Some(next) = desired_rx.borrow_and_update().clone() else {
                        continue;
                    };
                    desired = next;
                    let delta = self.load_specs(&desired);
                    again |= delta.removed && eng.settings.prune;
                    let mut targets = delta.changed;
                    targets.append(&mut self.changed);
                    targets
                }
                // Changes a targeted sweep just applied are verified at once, as between sweeps.
                _ = std::future::ready(()), if live_updates && !self.changed.is_empty() => {
                    std::mem::take(&mut self.changed)
                }
                r = &mut listing => break r.unwrap_or_else(|e| Err(KindError::new(
                    ErrorClass::Retryable,
                    format!("listing {} failed: {e}", K::NAME),
                ))),
            };
            if !self.sweep(eng, &desired, facts_rx, Some(&targets)).await {
                // Its listing failed: retry those resources with backoff (the full sweep
                // skips them, its listing being older than their change).
                let now = Instant::now();
                for name in &targets {
                    self.backoffs.failed(name, false, now);
                }
            }
            touched.extend(targets);
        };
        self.reconcile(
            eng, &desired, facts_rx, false, &in_scope, observed, &touched, started,
        )
        .await;
        Some(again)
    }

    /// The rest of a sweep, once its observation is in: publish facts, diff, apply, record,
    /// and (full sweeps) prune. `touched` names resources a targeted sweep reconciled while
    /// this (full) sweep was listing: they are not diffed again against that older listing.
    #[allow(clippy::too_many_arguments)]
    async fn reconcile(
        &mut self,
        eng: &Arc<Engine>,
        desired: &DesiredSet,
        facts_rx: &mut watch::Receiver<u64>,
        targeted: bool,
        in_scope: &BTreeMap<String, K::Spec>,
        observed: Result<Observed<K::Live>, KindError>,
        touched: &BTreeSet<String>,
        started: Instant,
    ) {
        let settings = &eng.settings;
        let kind = self.kind.clone();
        let observed = match observed {
            Ok(o) => o,
            Err(e) => return self.kind_failed(eng, e, started),
        };
        self.kind_backoff.forget(&());
        self.listing_terminal = false;
        eng.metrics.kind_ready.with_label_values(&[K::NAME]).set(1);
        let mut facts: BTreeMap<String, BTreeMap<String, String>> = observed
            .iter()
            .map(|(n, l)| {
                let mut published = Published::new(K::NAME);
                K::facts(n, l, &mut published);
                (n.clone(), published.into_values())
            })
            .filter(|(_, f)| !f.is_empty())
            .collect();
        if targeted {
            for (n, f) in facts {
                eng.facts.upsert(K::NAME, &n, f);
            }
        } else {
            // A full listing replaces what the kind published (gone resources vanish), except
            // for what targeted sweeps saw more recently.
            if !touched.is_empty() {
                let current = eng.facts.snapshot();
                let mine = current.get(K::NAME);
                for n in touched.iter().filter(|n| self.specs.contains_key(*n)) {
                    match mine.and_then(|m| m.get(n)) {
                        Some(f) => facts.insert(n.clone(), f.clone()),
                        None => facts.remove(n),
                    };
                }
            }
            eng.facts.publish(K::NAME, facts);
        }
        // The first time, wait (bounded) until every kind has listed once, so references to
        // other kinds resolve against what exists instead of racing their first listing.
        first_listing_done(&mut self.listed_once, eng).await;
        // Our own publication must not wake us; a later one by another kind must. But a
        // resource of this very kind may wait for what we just published (a queue for its
        // dead-letter queue, created by the previous sweep): those outside this sweep are
        // looked at again at once, or they would wait for the next full resync.
        let rewake: Vec<String> = if facts_rx.has_changed().unwrap_or(false) {
            self.tracked
                .iter()
                .filter(|(n, t)| {
                    t.waiting_for.is_some() && (!in_scope.contains_key(*n) || touched.contains(*n))
                })
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            Vec::new()
        };
        facts_rx.borrow_and_update();
        let facts = eng.facts.snapshot();
        let ctx = DiffCtx {
            controller_id: &settings.controller_id,
            facts: &facts,
            desired,
        };

        // Diff every resource that is due.
        let now = Instant::now();
        let mut outcomes: Vec<(String, Outcome<K::Change>)> = Vec::new();
        for (name, spec) in in_scope {
            if touched.contains(name) || !self.specs.contains_key(name) {
                continue;
            }
            let hash = self.meta.get(name).map(|m| m.hash);
            if self.backoffs.is_waiting(name, now) {
                continue;
            }
            let live = observed.get(name);
            if let Some(owner) = live.and_then(K::owner) {
                if owner != settings.controller_id {
                    let e = KindError::new(
                        ErrorClass::Conflict,
                        format!(
                            "{} {name} is managed by controller `{owner}`, not `{}`; left alone",
                            K::NAME,
                            settings.controller_id
                        ),
                    );
                    outcomes.push((name.clone(), Outcome::Failed(e)));
                    continue;
                }
            }
            let track = self.tracked.get(name);
            let outcome = match K::diff(&ctx, name, spec, live) {
                Err(p) => Outcome::Waiting(p.waiting_for),
                Ok(c) if c.is_empty() => Outcome::Converged,
                Ok(c)
                    if track.is_some_and(|t| {
                        t.applied_last_sweep.as_deref() == Some(fingerprint(&c).as_str())
                    }) =>
                {
                    // Applied last sweep and still different: do not spin.
                    Outcome::Failed(KindError::new(
                        ErrorClass::Retryable,
                        format!("{} {name}: changes applied but AWS still differs; retrying with backoff", K::NAME),
                    ))
                }
                Ok(changes) => Outcome::Changes {
                    drift: track.is_some_and(|t| {
                        t.state == Some(State::Converged) && t.converged_hash == hash
                    }),
                    changes,
                },
            };
            outcomes.push((name.clone(), outcome));
        }

        // Apply, resources concurrently, each resource's changes in order.
        let mutate = settings.mode != Mode::Plan && !settings.observe_only;
        let jobs = outcomes.into_iter().map(|(name, outcome)| {
            let kind = kind.clone();
            let ctx = &ctx;
            let observed = &observed;
            let eng = eng.clone();
            async move {
                let Outcome::Changes { changes, drift } = outcome else {
                    return (name, outcome, Vec::new());
                };
                if drift {
                    eng.metrics.drift_detected.with_label_values(&[K::NAME]).inc();
                    tracing::warn!(kind = K::NAME, name = %name, "drift detected: resource changed out of band");
                }
                if !mutate {
                    return (name, Outcome::Changes { changes, drift }, Vec::new());
                }
                let live = observed.get(&name);
                let mut applied = Vec::new();
                let mut blocked = Vec::new();
                for change in &changes {
                    if change.action() == Action::Replace {
                        blocked.push(change.clone());
                        continue;
                    }
                    match apply_one(&eng, &*kind, ctx, &name, live, change).await {
                        Ok(()) => applied.push(change.clone()),
                        Err(e) => return (name, Outcome::Failed(e), applied),
                    }
                }
                if let Some(first) = blocked.first() {
                    let what = first.fields().iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                    let e = KindError::new(
                        ErrorClass::Terminal,
                        format!("{} {name} needs replacement ({what}); converge never replaces a resource on its own", K::NAME),
                    );
                    return (name, Outcome::Failed(e), applied);
                }
                (name, Outcome::Changes { changes, drift }, applied)
            }
        });
        let results: Vec<_> = stream::iter(jobs)
            .buffer_unordered(settings.concurrency.max(1))
            .collect()
            .await;

        // Record outcomes.
        let now = Instant::now();
        for (name, ..) in &results {
            self.changed.remove(name);
        }
        self.changed.extend(rewake);
        for (name, outcome, applied) in results {
            let hash = self.meta.get(&name).map(|m| m.hash);
            let t = self.tracked.entry(name.clone()).or_default();
            t.applied_last_sweep = (!applied.is_empty()).then(|| fingerprint(&applied));
            if !applied.is_empty() {
                t.last_change = Some(SystemTime::now());
                self.changed.insert(name.clone());
            }
            match outcome {
                Outcome::Converged => {
                    t.state = Some(State::Converged);
                    t.converged_hash = hash;
                    t.waiting_for = None;
                    t.error = None;
                    t.pending.clear();
                    self.backoffs.forget(&name);
                }
                Outcome::Waiting(what) => {
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
                    t.pending = if applied.is_empty() {
                        planned(&changes)
                    } else {
                        Vec::new()
                    };
                }
                Outcome::Failed(e) => {
                    eng.metrics
                        .reconcile_errors
                        .with_label_values(&[K::NAME, e.class.as_str()])
                        .inc();
                    let delay = self.backoffs.failed(&name, e.class.is_final(), now);
                    tracing::warn!(kind = K::NAME, name = %name, class = e.class.as_str(), retry_in = ?delay, error = %e, "reconcile failed");
                    t.state = Some(State::Failed);
                    t.waiting_for = None;
                    t.error = Some(e);
                    t.applied_last_sweep = None;
                }
            }
        }

        if !targeted {
            self.prune(eng, desired, &observed, mutate).await;
            self.swept_once = true;
        }
        self.publish_status(eng, started);
    }

    async fn prune(
        &mut self,
        eng: &Engine,
        desired: &DesiredSet,
        observed: &BTreeMap<String, K::Live>,
        mutate: bool,
    ) {
        self.prune.clear();
        if !eng.settings.prune {
            return;
        }
        let id = eng.settings.controller_id.as_str();
        let candidates: Vec<(&String, &K::Live)> = observed
            .iter()
            .filter(|(n, l)| !self.specs.contains_key(*n) && K::owner(l) == Some(id))
            .collect();
        for (name, live) in candidates {
            if !mutate {
                self.prune.push(PruneStatus {
                    name: name.clone(),
                    state: "pending",
                    reason: Some("owned by this controller and no longer desired".into()),
                });
                continue;
            }
            let refusal = if desired.is_empty() {
                Some("the desired state is empty; an empty tree never prunes".to_string())
            } else if !eng.take_deletion(desired.generation) {
                Some(format!(
                    "--max-deletions {} reached for desired generation {}",
                    eng.settings.max_deletions, desired.generation
                ))
            } else {
                None
            };
            if let Some(reason) = refusal {
                if self.refused.insert((desired.generation, name.clone())) {
                    eng.metrics.deletions_refused.inc();
                    tracing::warn!(kind = K::NAME, name = %name, reason = %reason, "deletion refused");
                }
                self.prune.push(PruneStatus {
                    name: name.clone(),
                    state: "refused",
                    reason: Some(reason),
                });
                continue;
            }
            let started = Instant::now();
            let res =
                tokio::time::timeout(eng.settings.call_deadline, self.kind.delete(name, live))
                    .await;
            eng.metrics
                .apply_duration
                .observe(started.elapsed().as_secs_f64());
            let res = res.unwrap_or_else(|_| {
                Err(KindError::new(
                    ErrorClass::Retryable,
                    format!("deleting {} {name} timed out", K::NAME),
                ))
            });
            eng.audit.record(
                &eng.settings.controller_id,
                desired.revision.as_deref(),
                K::NAME,
                name,
                Action::Delete,
                &[],
                &res,
            );
            match res {
                Ok(()) => {
                    eng.metrics
                        .changes_applied
                        .with_label_values(&[K::NAME, "delete"])
                        .inc();
                    eng.record_applied(AppliedChange {
                        kind: K::NAME,
                        name: name.clone(),
                        action: Action::Delete,
                        fields: Vec::new(),
                    });
                }
                Err(e) => {
                    eng.metrics
                        .reconcile_errors
                        .with_label_values(&[K::NAME, e.class.as_str()])
                        .inc();
                    self.prune.push(PruneStatus {
                        name: name.clone(),
                        state: "failed",
                        reason: Some(e.message),
                    });
                }
            }
        }
        self.refused.retain(|(g, _)| *g == desired.generation);
    }

    fn kind_failed(&mut self, eng: &Engine, e: KindError, started: Instant) {
        if !self.listed_once {
            self.listed_once = true;
            eng.first_listings.send_modify(|n| *n += 1);
        }
        self.listing_terminal = e.class == ErrorClass::Terminal;
        eng.metrics
            .reconcile_errors
            .with_label_values(&[K::NAME, e.class.as_str()])
            .inc();
        eng.metrics.kind_ready.with_label_values(&[K::NAME]).set(0);
        let terminal = e.class == ErrorClass::Terminal;
        let delay = self.kind_backoff.failed(&(), terminal, Instant::now());
        tracing::warn!(kind = K::NAME, class = e.class.as_str(), retry_in = ?delay, error = %e, "cannot observe kind; nothing changed, nothing deleted");
        eng.metrics
            .sweep_duration
            .with_label_values(&[K::NAME])
            .observe(started.elapsed().as_secs_f64());
        eng.status.update(K::NAME, |s| {
            s.ready = false;
            s.last_error = Some(e.message.clone());
        });
    }

    fn publish_status(&self, eng: &Engine, started: Instant) {
        let mut resources = Vec::with_capacity(self.specs.len());
        let (mut converged, mut pending, mut failed) = (0, 0, 0);
        for (name, m) in &self.meta {
            let t = self.tracked.get(name);
            let state = t.and_then(|t| t.state).unwrap_or(State::Pending);
            match state {
                State::Converged => converged += 1,
                State::Pending => pending += 1,
                State::Failed => failed += 1,
            }
            resources.push(ResourceStatus {
                kind: K::NAME,
                name: name.clone(),
                state,
                waiting_for: t.and_then(|t| t.waiting_for.clone()),
                last_error: t.and_then(|t| t.error.as_ref().map(|e| e.message.clone())),
                error_class: t.and_then(|t| t.error.as_ref().map(|e| e.class)),
                last_change: t.and_then(|t| t.last_change.map(rfc3339)),
                pending_changes: t.map(|t| t.pending.clone()).unwrap_or_default(),
                attempts: self.backoffs.attempts(name),
                source: m.source.clone(),
            });
        }
        let m = &eng.metrics;
        m.resources
            .with_label_values(&[K::NAME, "converged"])
            .set(converged as i64);
        m.resources
            .with_label_values(&[K::NAME, "pending"])
            .set(pending as i64);
        m.resources
            .with_label_values(&[K::NAME, "failed"])
            .set(failed as i64);
        m.sweep_duration
            .with_label_values(&[K::NAME])
            .observe(started.elapsed().as_secs_f64());
        let now = SystemTime::now();
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        m.last_sweep.with_label_values(&[K::NAME]).set(unix as i64);
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

/// Aborts a spawned task when dropped (a full sweep's listing, when the controller stops).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counts a kind's first listing (successful or not) and, the first time only, waits until
/// every kind has listed once or `FIRST_LISTING_WAIT` has passed.
async fn first_listing_done(listed_once: &mut bool, eng: &Engine) {
    if *listed_once {
        return;
    }
    *listed_once = true;
    eng.first_listings.send_modify(|n| *n += 1);
    let total = eng.kinds_total.load(Ordering::Relaxed);
    let mut rx = eng.first_listings.subscribe();
    let _ = tokio::time::timeout(FIRST_LISTING_WAIT, rx.wait_for(|n| *n >= total)).await;
}

fn fingerprint<C: Change>(changes: &[C]) -> String {
    serde_json::to_string(&planned(changes)).unwrap_or_default()
}

fn planned<C: Change>(changes: &[C]) -> Vec<PlannedChange> {
    changes
        .iter()
        .map(|c| PlannedChange {
            action: c.action(),
            fields: c.fields(),
        })
        .collect()
}

async fn apply_one<K: Kind>(
    eng: &Engine,
    kind: &K,
    ctx: &DiffCtx<'_>,
    name: &str,
    live: Option<&K::Live>,
    change: &K::Change,
) -> Result<(), KindError> {
    let started = Instant::now();
    let res = tokio::time::timeout(
        eng.settings.call_deadline,
        kind.apply(ctx, name, live, change),
    )
    .await
    .unwrap_or_else(|_| {
        Err(KindError::new(
            ErrorClass::Retryable,
            format!(
                "{} {name}: {} timed out after {:?}",
                K::NAME,
                change.action(),
                eng.settings.call_deadline
            ),
        ))
    });
    eng.metrics
        .apply_duration
        .observe(started.elapsed().as_secs_f64());
    let fields = change.fields();
    eng.audit.record(
        &eng.settings.controller_id,
        ctx.desired.revision.as_deref(),
        K::NAME,
        name,
        change.action(),
        &fields,
        &res,
    );
    if res.is_ok() {
        eng.metrics
            .changes_applied
            .with_label_values(&[K::NAME, change.action().as_str()])
            .inc();
        eng.record_applied(AppliedChange {
            kind: K::NAME,
            name: name.to_string(),
            action: change.action(),
            fields,
        });
    }
    res
}

impl<K: Kind> Runnable for Controller<K> {
    fn kind(&self) -> &'static str {
        K::NAME
    }

    fn run(self: Box<Self>, engine: Arc<Engine>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin((*self).run_loop(engine))
    }
}
