//! What every kind's controller shares: settings, metrics, status, facts, the desired state,
//! shutdown, the audit log, the deletion budget and the wait for every kind's first listing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::core::fence::Fence;
use crate::core::shard::{ShardId, IMPLICIT_ACCOUNT};
use crate::core::{Action, DesiredRx, FieldChange};
use crate::engine::audit::{AuditLog, Who};
use crate::engine::facts::Facts;
use crate::engine::status::StatusStore;
use crate::engine::{Mode, Settings};
use crate::metrics::{KindLabels, Metrics};

/// The longest a kind's first sweep waits for the other kinds' first listings (`run`).
const FIRST_LISTING_WAIT: Duration = Duration::from_secs(20);
/// The same for `plan` and `apply`: only a safety net (a kind that never counts its first
/// listing, a bug), far beyond any listing's own deadline.
const ONE_PASS_FIRST_LISTING_WAIT: Duration = Duration::from_secs(6 * 3600);
/// How many applied changes [`Engine::applied`] keeps (the newest).
const APPLIED_KEPT: usize = 10_000;

/// A change converge applied (for `apply`'s summary).
#[derive(Debug, Clone, Serialize)]
pub struct AppliedChange {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

/// Everything the controllers of one shard share.
pub struct Engine {
    /// The account and region (or `global`) this engine reconciles.
    pub shard: ShardId,
    /// `shard` as text, as logs and audit records name it.
    pub shard_name: String,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub status: StatusStore,
    pub facts: Facts,
    pub desired: DesiredRx,
    pub shutdown: watch::Receiver<bool>,
    /// Every change applied since start (bounded: the newest 10,000).
    pub applied: Mutex<Vec<AppliedChange>>,
    /// Where mutating changes are recorded (besides the log).
    pub audit: Arc<AuditLog>,
    /// The shard's lease fence (open without high availability): its stamp goes on every
    /// audit record. The clients enforce it; the engine only reports it.
    pub fence: Fence,
    /// How many kinds have listed once, of how many (this shard's, or the account's).
    first_listings: Arc<FirstListings>,
    /// Deletions taken per desired generation: every shard of the process shares one budget,
    /// so `--max-deletions` bounds the whole estate.
    deletions: Arc<DeletionBudget>,
}

impl Engine {
    pub fn new(
        settings: Settings,
        metrics: Arc<Metrics>,
        desired: DesiredRx,
        shutdown: watch::Receiver<bool>,
    ) -> Engine {
        Engine {
            shard: ShardId::new(IMPLICIT_ACCOUNT, "local"),
            shard_name: format!("{IMPLICIT_ACCOUNT}/local"),
            settings,
            metrics,
            status: StatusStore::default(),
            facts: Facts::default(),
            desired,
            shutdown,
            applied: Mutex::new(Vec::new()),
            audit: Arc::new(AuditLog::default()),
            fence: Fence::open(),
            first_listings: Arc::new(FirstListings::default()),
            deletions: Arc::new(DeletionBudget::default()),
        }
    }

    /// How many kind controllers will run: each waits (bounded) for all of them to list once
    /// before its first diff, so cross-kind references resolve on the first sweep.
    pub fn with_kinds(self, n: usize) -> Engine {
        self.first_listings.expect(n);
        self
    }

    /// Waits, before the first diff, for the first listings of every kind `first` counts (the
    /// account's shards share one, so a DNS record of the global services sees the load
    /// balancers of every region listed). The caller declares what it expects.
    pub fn with_first_listings(mut self, first: Arc<FirstListings>) -> Engine {
        self.first_listings = first;
        self
    }

    /// Reconciles `shard`, sharing `facts` (the account's store) with the account's other
    /// shards.
    pub fn in_shard(mut self, shard: ShardId, facts: &Facts) -> Engine {
        self.facts = facts.for_region(&shard.region);
        self.shard_name = shard.to_string();
        self.shard = shard;
        self
    }

    /// The labels of `kind`'s series in this shard.
    pub fn labels<'a>(&'a self, kind: &'a str) -> KindLabels<'a> {
        KindLabels {
            account: &self.shard.account,
            region: &self.shard.region,
            kind,
        }
    }

    /// Records mutating changes in `audit` too.
    pub fn with_audit(mut self, audit: Arc<AuditLog>) -> Engine {
        self.audit = audit;
        self
    }

    /// Stamps the lease of `fence` on this shard's audit records.
    pub fn with_fence(mut self, fence: Fence) -> Engine {
        self.fence = fence;
        self
    }

    /// Who makes this shard's changes, as audit records say it.
    pub fn who(&self) -> Who<'_> {
        Who {
            controller_id: &self.settings.controller_id,
            shard: &self.shard_name,
            lease: self.fence.stamp(),
        }
    }

    /// Takes one deletion from the budget of `generation`; false when it is spent.
    pub(super) fn take_deletion(&self, generation: u64) -> bool {
        self.deletions.take(generation, self.settings.max_deletions)
    }

    /// Shares `budget` (the deletions of a desired generation) with the other shards.
    pub fn with_deletion_budget(mut self, budget: Arc<DeletionBudget>) -> Engine {
        self.deletions = budget;
        self
    }

    pub(super) fn record_applied(&self, change: AppliedChange) {
        if let Ok(mut g) = self.applied.lock() {
            if g.len() >= APPLIED_KEPT {
                g.remove(0);
            }
            g.push(change);
        }
    }

    /// Counts a kind's first listing (successful or not).
    pub(super) fn count_first_listing(&self) {
        self.first_listings.count(1);
    }

    /// Waits until every kind has listed once, or `FIRST_LISTING_WAIT` has passed (or
    /// shutdown). `plan` and `apply` wait for every first listing: each ends, listed or failed,
    /// within its own deadline (which grows with the fleet: see `sweep::listing_deadline`), and
    /// their one pass cannot end before the slowest kind's listing anyway, while a diff made
    /// before it would wait for that kind's facts and list again. (Their `--timeout` bounds the
    /// whole run.)
    pub(super) async fn every_kind_listed(&self) {
        let mut shutdown = self.shutdown.clone();
        let bound = match self.settings.mode {
            Mode::Run => FIRST_LISTING_WAIT,
            Mode::Plan | Mode::Apply => ONE_PASS_FIRST_LISTING_WAIT,
        };
        tokio::select! {
            _ = self.first_listings.wait(bound) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
    }
}

/// Deletions taken in the current desired generation (a new generation starts afresh).
#[derive(Default)]
pub struct DeletionBudget {
    /// (generation, deletions taken in it).
    taken: Mutex<(u64, u32)>,
}

impl DeletionBudget {
    /// Takes one deletion of `generation`; false when `max` are taken, or when a newer
    /// generation is in force (a sweep still on an older one must not reset the count).
    pub fn take(&self, generation: u64, max: u32) -> bool {
        let Ok(mut g) = self.taken.lock() else {
            return false;
        };
        if generation < g.0 {
            return false;
        }
        if generation > g.0 {
            *g = (generation, 0);
        }
        if g.1 >= max {
            return false;
        }
        g.1 += 1;
        true
    }
}

/// The first listings of a group of kinds: how many are expected, how many happened.
#[derive(Default)]
pub struct FirstListings {
    expected: AtomicUsize,
    done: watch::Sender<usize>,
}

impl FirstListings {
    /// `n` more kinds will list.
    pub fn expect(&self, n: usize) {
        self.expected.fetch_add(n, Ordering::Relaxed);
        self.done.send_modify(|_| {});
    }

    /// `n` kinds listed once (or will never: a shard that could not start).
    pub fn count(&self, n: usize) {
        self.done.send_modify(|d| *d += n);
    }

    /// Until every expected kind has listed, at most `limit`.
    pub async fn wait(&self, limit: Duration) {
        let mut rx = self.done.subscribe();
        let expected = &self.expected;
        let _ = tokio::time::timeout(
            limit,
            rx.wait_for(|d| *d >= expected.load(Ordering::Relaxed)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::DeletionBudget;

    #[test]
    fn one_budget_bounds_every_shard_of_a_generation() {
        let shared = DeletionBudget::default();
        assert!(shared.take(1, 2), "shard a");
        assert!(shared.take(1, 2), "shard b");
        assert!(
            !shared.take(1, 2),
            "the generation's budget is spent, whichever shard asks"
        );
        assert!(shared.take(2, 2), "a new generation starts afresh");
        assert!(
            !shared.take(1, 2),
            "a sweep still on the old one takes nothing"
        );
        assert!(shared.take(2, 2), "and did not reset the new one's count");
        assert!(!shared.take(2, 2));
    }
}
