//! What every kind's controller shares: settings, metrics, status, facts, the desired state,
//! shutdown, the audit log, the deletion budget and the wait for every kind's first listing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::core::{Action, DesiredRx, FieldChange};
use crate::engine::audit::AuditLog;
use crate::engine::facts::Facts;
use crate::engine::status::StatusStore;
use crate::engine::Settings;
use crate::metrics::Metrics;

/// The longest a kind's first sweep waits for the other kinds' first listings.
const FIRST_LISTING_WAIT: Duration = Duration::from_secs(20);
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
    /// (desired generation, deletions taken in it).
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
    pub(super) fn take_deletion(&self, generation: u64) -> bool {
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
        self.first_listings.send_modify(|n| *n += 1);
    }

    /// Waits until every kind has listed once, or `FIRST_LISTING_WAIT` has passed.
    pub(super) async fn every_kind_listed(&self) {
        let total = self.kinds_total.load(Ordering::Relaxed);
        let mut rx = self.first_listings.subscribe();
        let _ = tokio::time::timeout(FIRST_LISTING_WAIT, rx.wait_for(|n| *n >= total)).await;
    }
}
