//! One controller loop per kind: observe the whole kind, diff each resource, apply what is
//! needed, prune what is owned and gone — on a new desired generation, on the resync timer,
//! when a resource's backoff expires, and when a fact it waits for appears.
//!
//! - this module: the controller's state and its loop (what to sweep next, and when);
//! - [`sweep`]: one sweep, in named steps (observe, publish facts, diff, apply, record, prune,
//!   publish status), and the full sweep whose listing runs beside targeted sweeps;
//! - [`apply`]: applying one resource's changes; [`prune`]: guarded deletion;
//! - [`track`]: what is remembered per resource and how it is published;
//! - [`shared`]: what every kind's controller shares ([`Engine`]).

mod apply;
mod prune;
mod shared;
mod sweep;
mod track;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoffs;
use super::status::PruneStatus;
use super::{awaited_kind, Kind, Mode, Settings};
use crate::core::{DesiredRx, DesiredSet};
use track::{Meta, Track};

pub use shared::{AppliedChange, DeletionBudget, Engine, FirstListings};

/// A controller with its kind erased, so the registry can hold every kind in one list.
pub trait Runnable: Send {
    fn kind(&self) -> &'static str;
    fn run(self: Box<Self>, engine: Arc<Engine>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// What a new desired generation changed for this kind.
#[derive(Default)]
struct SpecChanges {
    /// New resources and resources whose spec changed.
    changed: BTreeSet<String>,
    /// Some resources are no longer desired.
    removed: bool,
}

/// What a sweep saw of a resource that then waited for another resource: a fact arriving
/// re-diffs it on this (no new listing), while the observation is recent.
struct Seen<L> {
    live: Option<L>,
    at: Instant,
}

/// What wakes a controller: the desired state, other kinds' facts, shutdown.
struct Inputs {
    desired: DesiredRx,
    facts: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
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
    /// Deletions refused in the current generation (each logged and counted once).
    refused: BTreeSet<(u64, String)>,
    prune: Vec<PruneStatus>,
    /// Resources the last sweep changed: verified by the next (targeted) sweep, at once.
    changed: BTreeSet<String>,
    /// A full sweep has completed.
    swept_once: bool,
    /// The first listing (successful or not) has been counted in the engine.
    listed_once: bool,
    /// The last listing failed with a terminal error (access denied, expired credentials):
    /// `apply` stops waiting for this kind (retrying would not help before its timeout).
    listing_terminal: bool,
    /// Resources the last full listing returned (bounds how long the next may take).
    last_listed: usize,
    /// Resources waiting for another resource, as their last sweep saw them.
    waiting_seen: HashMap<String, Seen<K::Live>>,
    /// The last full sweep listed nothing: nothing is desired, nothing may be pruned and no
    /// resource waits for one of this kind.
    idle: bool,
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
            last_listed: 0,
            waiting_seen: HashMap::new(),
            idle: false,
        }
    }

    /// The loop. A full sweep lists the whole kind (and prunes); a targeted one only the
    /// resources that have a reason to be looked at now (spec changed, backoff expired, changes
    /// to verify). A resource that waited for a fact which has now appeared is re-diffed on
    /// what its last sweep saw, without listing again. Only `run` targets desired changes; it
    /// keeps a full sweep every --resync for drift. `plan` sweeps once; `apply` until
    /// [`Controller::done`].
    async fn run_loop(mut self, eng: Arc<Engine>) {
        eng.metrics.init_kind(eng.labels(K::NAME));
        eng.status.register(K::NAME);
        let mut inputs = Inputs {
            desired: eng.desired.clone(),
            facts: eng.facts.subscribe(),
            shutdown: eng.shutdown.clone(),
        };
        let mode = eng.settings.mode;
        let mut next_full = Instant::now();
        let mut full = true;
        let mut targets: BTreeSet<String> = BTreeSet::new();
        // Woken by a fact they waited for.
        let mut rediff: BTreeSet<String> = BTreeSet::new();
        loop {
            if *inputs.shutdown.borrow() {
                return;
            }
            let current = inputs.desired.borrow_and_update().clone();
            let Some(desired) = current else {
                tokio::select! {
                    r = inputs.desired.changed() => if r.is_err() { return },
                    _ = inputs.shutdown.changed() => {}
                }
                continue;
            };
            let adopting = std::time::Instant::now();
            let spec_changes = self.load_specs(&desired);
            if !spec_changes.changed.is_empty() || spec_changes.removed {
                tracing::debug!(kind = K::NAME, generation = desired.generation, changed = spec_changes.changed.len(), removed = spec_changes.removed, took = ?adopting.elapsed(), "desired generation adopted");
            }
            targets.extend(spec_changes.changed);
            let now = Instant::now();
            targets.extend(self.backoffs.due_keys(now));
            // `apply` retries every --resync (5 s) until done; what only waits for another
            // kind's facts is woken by them, and listing it again meanwhile would change nothing.
            let mut resync_due = now >= next_full;
            if resync_due
                && mode == Mode::Apply
                && self.swept_once
                && self.only_waits_on_facts(&eng)
            {
                resync_due = false;
                next_full = now + eng.settings.resync;
            }
            full |= (spec_changes.removed && eng.settings.prune)
                || mode == Mode::Plan
                || (mode == Mode::Apply && !targets.is_empty())
                || !self.swept_once
                || resync_due
                || self.kind_backoff.next_due().is_some()
                || (self.idle && !self.is_idle(&eng));
            if full {
                let Some(again) = self.full_sweep(&eng, desired, &mut inputs).await else {
                    return;
                };
                next_full = Instant::now();
                if !again {
                    next_full += eng.settings.resync;
                }
            } else {
                rediff.retain(|n| !targets.contains(n));
                if !rediff.is_empty() {
                    self.rediff(&eng, &desired, &mut inputs.facts, &rediff)
                        .await;
                }
                if !targets.is_empty() {
                    self.sweep(&eng, &desired, &mut inputs.facts, Some(&targets))
                        .await;
                }
            }
            full = false;
            targets.clear();
            rediff.clear();
            if mode == Mode::Plan || (mode == Mode::Apply && self.done()) {
                return;
            }
            let wake = self.next_wake(next_full);
            let waiting: BTreeSet<String> = self
                .tracked
                .iter()
                .filter(|(_, t)| t.waiting_for.is_some())
                .map(|(n, _)| n.clone())
                .collect();
            tokio::select! {
                _ = inputs.shutdown.changed() => {}
                r = inputs.desired.changed() => if r.is_err() { return },
                // An idle kind wakes on facts too: a resource may have come to wait for one
                // of its resources.
                r = inputs.facts.changed(), if !waiting.is_empty() || self.idle => {
                    if r.is_err() { return }
                    rediff.extend(waiting);
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            // Whatever woke us, changes applied last sweep are verified now.
            targets.append(&mut self.changed);
        }
    }

    /// Every resource not done yet waits for a resource of a kind that publishes facts (whose
    /// facts will wake it), not for something only a listing of this kind would show (a hosted
    /// zone).
    fn only_waits_on_facts(&self, eng: &Engine) -> bool {
        let facts = eng.facts.snapshot();
        let publishes = |kind: &str| facts.values().any(|s| s.contains_key(kind));
        !self.done()
            && self.specs.keys().all(|n| {
                let Some(t) = self.tracked.get(n) else {
                    return false;
                };
                t.finished()
                    || t.waiting_for
                        .as_deref()
                        .and_then(awaited_kind)
                        .is_some_and(publishes)
            })
            && self.changed.is_empty()
    }

    /// Nothing to list (`run` only): nothing of this kind is desired, nothing may be pruned,
    /// and no resource of the account waits for one of this kind (whose facts would tell it).
    /// `plan` and `apply` still list such a kind once: their single pass has no later sweep in
    /// which a resource that comes to wait for it could be resolved.
    fn is_idle(&self, eng: &Engine) -> bool {
        eng.settings.mode == Mode::Run
            && self.specs.is_empty()
            && !eng.settings.prune
            && !eng.facts.demanded(K::NAME)
    }

    /// When to look again without being woken: at once if changes are to be verified, else
    /// at the next backoff expiry or the next full sweep, whichever comes first.
    fn next_wake(&self, next_full: Instant) -> Instant {
        let now = Instant::now();
        if !self.changed.is_empty() {
            return now;
        }
        [self.backoffs.next_due(), self.kind_backoff.next_due()]
            .into_iter()
            .flatten()
            .fold(next_full, |wake, due| wake.min(due.max(now)))
    }

    /// Adopts a new desired generation: parses the specs of this kind that are new or
    /// changed, resets their backoff, forgets resources no longer desired. The specs in force
    /// are updated in place: a reload at fleet scale changes a few resources of one kind, and
    /// the others' specs are neither parsed nor copied again (unless a listing in flight
    /// still holds them).
    fn load_specs(&mut self, desired: &DesiredSet) -> SpecChanges {
        let mut spec_changes = SpecChanges::default();
        if desired.generation == self.generation {
            return spec_changes;
        }
        self.generation = desired.generation;
        let none = BTreeMap::new();
        let wanted = desired.of_kind(K::NAME).unwrap_or(&none);
        let mut parsed = Vec::new();
        for (name, res) in wanted {
            if let Some(m) = self.meta.get_mut(name).filter(|m| m.hash == res.hash) {
                // Moved (another file, or lines added above it) but the same spec.
                if m.origin != res.origin {
                    m.origin = res.origin.clone();
                }
                continue;
            }
            let spec = res.spec.parse::<K::Spec>();
            parsed.push((name, res, spec));
        }
        let gone: Vec<String> = self
            .meta
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        if parsed.is_empty() && gone.is_empty() {
            return spec_changes;
        }
        // Most of the kind is new (the first generation): the maps are rebuilt below.
        let bulk = parsed.len() > self.meta.len();
        let specs = Arc::make_mut(&mut self.specs);
        for (name, res, spec) in parsed {
            match spec {
                Ok(spec) => {
                    specs.insert(name.clone(), spec);
                    self.meta.insert(
                        name.clone(),
                        Meta {
                            hash: res.hash,
                            origin: res.origin.clone(),
                        },
                    );
                    self.backoffs.forget(name);
                    spec_changes.changed.insert(name.clone());
                }
                // The loader checked the spec already; this would be a bug, so say so loudly.
                Err(e) => {
                    tracing::error!(kind = K::NAME, name = %name, error = %e, "spec does not match its schema after loading; skipped");
                    specs.remove(name);
                    spec_changes.removed |= self.meta.remove(name).is_some();
                }
            }
        }
        for name in &gone {
            specs.remove(name);
            self.meta.remove(name);
        }
        spec_changes.removed |= !gone.is_empty();
        if bulk {
            // A B-tree filled one key at a time leaves its nodes half empty, and a node holds
            // its specs inline: rebuilt from sorted entries, every node is full (at 11,001
            // resources, 8 MiB of the specs' 22 were empty slots).
            *specs = std::mem::take(specs).into_iter().collect();
            self.meta = std::mem::take(&mut self.meta).into_iter().collect();
        }
        self.tracked.retain(|n, _| specs.contains_key(n));
        self.waiting_seen.retain(|n, _| specs.contains_key(n));
        self.backoffs.retain(|n| specs.contains_key(n));
        spec_changes
    }
}

impl<K: Kind> Runnable for Controller<K> {
    fn kind(&self) -> &'static str {
        K::NAME
    }

    fn run(self: Box<Self>, engine: Arc<Engine>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin((*self).run_loop(engine))
    }
}
