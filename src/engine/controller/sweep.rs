//! One sweep, in the order it runs: observe the kind (all of it, or the resources that have a
//! reason to be looked at), publish its facts, diff what is due, apply, record, prune (full
//! sweeps) and publish the status. A full sweep's listing runs as a task of its own, so desired
//! changes that arrive meanwhile are swept at once, beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::apply::apply_resource;
use super::track::{fingerprint, Outcome, Track};
use super::{Controller, Engine, Inputs, Seen};
use crate::core::facts::Published;
use crate::core::{DesiredSet, ErrorClass, KindError};
use crate::engine::status::State;
use crate::engine::{DiffCtx, Kind, Mode, Observed, Scope};

/// What a sweep is about.
pub(super) struct Listing<K: Kind> {
    /// The specs of the resources in scope.
    in_scope: Arc<BTreeMap<String, K::Spec>>,
    /// Only some resources (a targeted sweep): no pruning, facts updated rather than replaced.
    targeted: bool,
    /// Resources a targeted sweep reconciled while this (full) sweep was listing: not diffed
    /// again against the older listing.
    touched: BTreeSet<String>,
    /// What a previous sweep observed, re-diffed ([`Controller::rediff`]).
    reused: bool,
    started: Instant,
}

/// How long a listing of `resources` may take: the bound of one call (--call-timeout and
/// slack) for every started 100 resources. A kind's listing is many calls, paced: 1,000 load
/// balancers' attributes alone take 100 s at the default `elb=10/s`, so a fixed bound would
/// fail every listing of a large fleet; this one still ends a listing that hangs.
fn listing_deadline(call_deadline: std::time::Duration, resources: usize) -> std::time::Duration {
    let hundreds = u32::try_from(resources.div_ceil(100)).unwrap_or(u32::MAX);
    call_deadline.saturating_mul(hundreds.max(1))
}

/// Aborts a spawned task when dropped (a full sweep's listing, when the controller stops).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<K: Kind> Controller<K> {
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
        let deadline = listing_deadline(
            eng.settings.call_deadline,
            in_scope
                .len()
                .max(if only.is_none() { self.last_listed } else { 0 }),
        );
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
    /// or just `only`. Returns whether the listing worked.
    pub(super) async fn sweep(
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
        let listing = Listing {
            in_scope,
            targeted: only.is_some(),
            touched: BTreeSet::new(),
            reused: false,
            started,
        };
        self.reconcile(eng, desired, facts_rx, listing, observed)
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
    pub(super) async fn full_sweep(
        &mut self,
        eng: &Arc<Engine>,
        mut desired: Arc<DesiredSet>,
        inputs: &mut Inputs,
    ) -> Option<bool> {
        let started = Instant::now();
        if self.is_idle(eng) {
            self.sweep_idle(eng, started);
            return Some(false);
        }
        self.idle = false;
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
                r = inputs.shutdown.changed() => {
                    if r.is_err() || *inputs.shutdown.borrow() {
                        return None;
                    }
                    continue;
                }
                r = inputs.desired.changed(), if live_updates => {
                    if r.is_err() {
                        return None;
                    }
                    let Some(next) = inputs.desired.borrow_and_update().clone() else {
                        continue;
                    };
                    desired = next;
                    let spec_changes = self.load_specs(&desired);
                    again |= spec_changes.removed && eng.settings.prune;
                    let mut targets = spec_changes.changed;
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
            if !self
                .sweep(eng, &desired, &mut inputs.facts, Some(&targets))
                .await
            {
                // Its listing failed: retry those resources with backoff (the full sweep
                // skips them, its listing being older than their change).
                // A name no longer desired gets none: nothing would ever clear it.
                let now = Instant::now();
                for name in targets.iter().filter(|n| self.specs.contains_key(*n)) {
                    self.backoffs.failed(name, false, now);
                }
            }
            touched.extend(targets);
        };
        let listing = Listing {
            in_scope,
            targeted: false,
            touched,
            reused: false,
            started,
        };
        self.reconcile(eng, &desired, &mut inputs.facts, listing, observed)
            .await;
        // The listing's pages and the observed fleet are freed: give the pages back (the
        // next kind's listing would reuse them, but between resyncs they are only resident).
        crate::mem::release_free_memory();
        Some(again)
    }

    /// A full sweep of a kind with nothing to list ([`Controller::is_idle`]): no API call. It
    /// counts as the kind's first listing (others need not wait for it), and its old facts are
    /// taken back: a reference to one of its resources waits, which makes the kind list again.
    fn sweep_idle(&mut self, eng: &Engine, started: Instant) {
        if !self.idle {
            tracing::debug!(
                kind = K::NAME,
                "nothing desired, nothing to prune, nothing waits for this kind: not listed"
            );
        }
        self.idle = true;
        self.count_first_listing(eng);
        eng.facts.withdraw(K::NAME);
        self.listing_worked(eng);
        self.prune.clear();
        self.swept_once = true;
        self.publish_status(eng, started);
    }

    /// Re-diffs resources that waited for a fact which has since appeared, on what their last
    /// sweep saw (no listing) while that is younger than --resync; the others are observed.
    pub(super) async fn rediff(
        &mut self,
        eng: &Arc<Engine>,
        desired: &DesiredSet,
        facts_rx: &mut watch::Receiver<u64>,
        names: &BTreeSet<String>,
    ) {
        let started = Instant::now();
        let mut observed: Observed<K::Live> = BTreeMap::new();
        let mut in_scope: BTreeMap<String, K::Spec> = BTreeMap::new();
        let mut unseen: BTreeSet<String> = BTreeSet::new();
        for name in names {
            let Some(spec) = self.specs.get(name) else {
                continue;
            };
            match self.waiting_seen.get_mut(name) {
                Some(seen) if started.duration_since(seen.at) <= eng.settings.resync => {
                    // Moved, not copied (at fleet scale a first sweep's waiting resources
                    // can be a whole kind); `reconcile` puts back what it does not diff.
                    if let Some(live) = seen.live.take() {
                        observed.insert(name.clone(), live);
                    }
                    in_scope.insert(name.clone(), spec.clone());
                }
                _ => {
                    unseen.insert(name.clone());
                }
            }
        }
        if !unseen.is_empty() {
            self.sweep(eng, desired, facts_rx, Some(&unseen)).await;
        }
        if in_scope.is_empty() {
            return;
        }
        let listing = Listing {
            in_scope: Arc::new(in_scope),
            targeted: true,
            touched: BTreeSet::new(),
            reused: true,
            started,
        };
        self.reconcile(eng, desired, facts_rx, listing, Ok(observed))
            .await;
    }

    /// The rest of a sweep, once its observation is in.
    async fn reconcile(
        &mut self,
        eng: &Arc<Engine>,
        desired: &DesiredSet,
        facts_rx: &mut watch::Receiver<u64>,
        listing: Listing<K>,
        observed: Result<Observed<K::Live>, KindError>,
    ) {
        let mut observed = match observed {
            Ok(o) => o,
            Err(e) => return self.kind_failed(eng, e, listing.started),
        };
        self.listing_worked(eng);
        if !listing.targeted {
            self.last_listed = observed.len();
        }
        if !listing.reused {
            self.publish_facts(eng, &observed, &listing);
        }
        if self.count_first_listing(eng) {
            // The first time, wait (bounded) until every kind has listed once, so references
            // to other kinds resolve against what exists instead of racing their first listing.
            eng.every_kind_listed().await;
        }
        let rewake = self.waiting_to_rewake(facts_rx, &listing);
        let facts = eng.facts.snapshot();
        let ctx = DiffCtx {
            controller_id: &eng.settings.controller_id,
            region: eng.facts.region(),
            facts: &facts,
            desired,
        };
        let outcomes = self.diff_due(&ctx, &listing, &observed);

        // Apply: resources concurrently, each resource's changes in order.
        let mutate = eng.settings.mode != Mode::Plan && !eng.settings.observe_only;
        let kind = &*self.kind;
        let jobs = outcomes.into_iter().map(|(name, outcome)| {
            let live = observed.get(&name);
            apply_resource(eng, kind, &ctx, name, live, outcome, mutate)
        });
        let results: Vec<_> = stream::iter(jobs)
            .buffer_unordered(eng.settings.concurrency.max(1))
            .collect()
            .await;

        let now = Instant::now();
        for done in &results {
            self.changed.remove(&done.name);
            if matches!(done.outcome, Outcome::Waiting(_)) {
                let seen = Seen {
                    // Moved: a desired resource, which pruning below never looks at.
                    live: observed.remove(&done.name),
                    // A re-diff keeps the time of the listing it re-uses.
                    at: self
                        .waiting_seen
                        .get(&done.name)
                        .filter(|_| listing.reused)
                        .map_or(listing.started, |s| s.at),
                };
                self.waiting_seen.insert(done.name.clone(), seen);
            } else {
                self.waiting_seen.remove(&done.name);
            }
        }
        if listing.reused {
            // What a re-diff took from `waiting_seen` and did not diff (backing off since)
            // goes back, or a later re-diff would take it for absent.
            for (name, live) in std::mem::take(&mut observed) {
                if let Some(seen) = self.waiting_seen.get_mut(&name) {
                    seen.live.get_or_insert(live);
                }
            }
        }
        self.changed.extend(rewake);
        for done in results {
            self.record(eng, done, now);
        }
        if !listing.targeted {
            self.prune(eng, desired, &observed, mutate).await;
            self.swept_once = true;
        }
        self.publish_status(eng, listing.started);
    }

    /// A listing worked: the kind is ready and stops backing off.
    fn listing_worked(&mut self, eng: &Engine) {
        self.kind_backoff.forget(&());
        self.listing_terminal = false;
        eng.metrics.kind_ready(eng.labels(K::NAME)).set(1);
    }

    /// Publishes the facts of what was observed. A full listing replaces what the kind
    /// published (gone resources vanish), except for what targeted sweeps saw more recently; a
    /// targeted one updates the resources it saw.
    fn publish_facts(&self, eng: &Engine, observed: &Observed<K::Live>, listing: &Listing<K>) {
        let mut facts: BTreeMap<String, BTreeMap<String, String>> = observed
            .iter()
            .map(|(n, l)| {
                let mut published = Published::new(K::NAME);
                K::facts(n, l, &mut published);
                (n.clone(), published.into_values())
            })
            .filter(|(_, f)| !f.is_empty())
            .collect();
        if listing.targeted {
            for (n, f) in facts {
                eng.facts.upsert(K::NAME, &n, f);
            }
            return;
        }
        if !listing.touched.is_empty() {
            let current = eng.facts.snapshot();
            let mine = eng.facts.own(&current).and_then(|s| s.get(K::NAME));
            for n in listing
                .touched
                .iter()
                .filter(|n| self.specs.contains_key(*n))
            {
                match mine.and_then(|m| m.get(n)) {
                    Some(f) => facts.insert(n.clone(), f.clone()),
                    None => facts.remove(n),
                };
            }
        }
        eng.facts.publish(K::NAME, facts);
    }

    /// Our own publication must not wake us; a later one by another kind must. But a resource
    /// of this very kind may wait for what we just published (a queue for its dead-letter
    /// queue, created by the previous sweep): those outside this sweep are looked at again at
    /// once, or they would wait for the next full resync.
    fn waiting_to_rewake(
        &self,
        facts_rx: &mut watch::Receiver<u64>,
        listing: &Listing<K>,
    ) -> Vec<String> {
        let rewake = if facts_rx.has_changed().unwrap_or(false) {
            self.tracked
                .iter()
                .filter(|(n, t)| {
                    t.waiting_for.is_some()
                        && (!listing.in_scope.contains_key(*n) || listing.touched.contains(*n))
                })
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            Vec::new()
        };
        facts_rx.borrow_and_update();
        rewake
    }

    /// Diffs every resource in scope that is due (not backing off, not touched by a newer
    /// targeted sweep): what it needs, or why it cannot be changed now.
    fn diff_due(
        &self,
        ctx: &DiffCtx<'_>,
        listing: &Listing<K>,
        observed: &Observed<K::Live>,
    ) -> Vec<(String, Outcome<K::Change>)> {
        let now = Instant::now();
        let mut outcomes = Vec::new();
        for (name, spec) in listing.in_scope.iter() {
            if listing.touched.contains(name)
                || !self.specs.contains_key(name)
                || self.backoffs.is_waiting(name, now)
            {
                continue;
            }
            let live = observed.get(name);
            let outcome = match live.and_then(K::owner) {
                Some(owner) if owner != ctx.controller_id => Outcome::Failed(KindError::new(
                    ErrorClass::Conflict,
                    format!(
                        "{} {name} is managed by controller `{owner}`, not `{}`; left alone",
                        K::NAME,
                        ctx.controller_id
                    ),
                )),
                _ => self.outcome_of(name, K::diff(ctx, name, spec, live), self.tracked.get(name)),
            };
            outcomes.push((name.clone(), outcome));
        }
        outcomes
    }

    /// What a diff means for the resource, given what the last sweep did to it.
    fn outcome_of(
        &self,
        name: &str,
        diff: Result<Vec<K::Change>, crate::engine::Waiting>,
        track: Option<&Track>,
    ) -> Outcome<K::Change> {
        match diff {
            Err(w) => Outcome::Waiting(w.waiting_for),
            Ok(c) if c.is_empty() => Outcome::Converged,
            Ok(c)
                if track.is_some_and(|t| {
                    t.applied_last_sweep.as_deref() == Some(fingerprint(&c).as_str())
                }) =>
            {
                // Applied last sweep and still different: do not spin.
                Outcome::Failed(KindError::new(
                    ErrorClass::Retryable,
                    format!(
                        "{} {name}: changes applied but AWS still differs; retrying with backoff",
                        K::NAME
                    ),
                ))
            }
            Ok(changes) => {
                let hash = self.meta.get(name).map(|m| m.hash);
                Outcome::Changes {
                    drift: track.is_some_and(|t| {
                        t.state == Some(State::Converged) && t.converged_hash == hash
                    }),
                    changes,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_listing_may_take_one_call_bound_per_hundred_resources() {
        let call = Duration::from_secs(90);
        assert_eq!(super::listing_deadline(call, 0), call);
        assert_eq!(super::listing_deadline(call, 100), call);
        assert_eq!(super::listing_deadline(call, 101), call * 2);
        // 1,000 load balancers: 100 s of paced attribute reads fit.
        assert_eq!(super::listing_deadline(call, 1_000), call * 10);
    }
}
