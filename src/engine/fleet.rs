//! Every shard a process runs, as `/status`, `/readyz` and `plan`/`apply` see them: each
//! shard's engine once it runs, or why it does not (credentials that cannot be obtained, an
//! account id that does not match). Whoever starts the shards (the supervisor) records their
//! state here; this module starts nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::{Engine, Settings};
use crate::core::model::TreeRx;
use crate::core::ShardId;
use crate::metrics::Metrics;

/// Where a shard is in its life.
#[derive(Clone)]
pub enum ShardState {
    /// Its credentials and account id are being checked.
    Starting,
    /// Its kind loops run.
    Running(Arc<Engine>),
    /// High availability: another replica holds its lease (or nobody yet); its loops do not
    /// run here.
    Standby,
    /// It cannot run: `terminal` when retrying cannot help (an account id mismatch) until the
    /// tree changes; otherwise it is retried with backoff.
    Failed { error: String, terminal: bool },
}

impl ShardState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ShardState::Starting => "starting",
            ShardState::Running(_) => "running",
            ShardState::Standby => "standby",
            ShardState::Failed { terminal: true, .. } => "failed",
            ShardState::Failed { .. } => "failing",
        }
    }

    pub fn engine(&self) -> Option<&Arc<Engine>> {
        match self {
            ShardState::Running(e) => Some(e),
            _ => None,
        }
    }
}

/// A shard's state as `/readyz` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ShardProblem {
    pub shard: String,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Kinds that have not completed a sweep or whose last listing failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<serde_json::Value>,
}

/// High availability, as `/status` shows it: this replica, the lease table and every
/// shard's lease (written by the lease coordinator each pass).
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    pub table: String,
    pub replica: String,
    pub process: String,
    /// The last read of the table worked within a lease duration.
    pub table_reachable: bool,
    pub last_read_age_seconds: Option<f64>,
    /// The replicas seen alive (heartbeats moving), this one included.
    pub members: Vec<String>,
    pub shards: Vec<ShardLeaseView>,
}

/// One shard's lease.
#[derive(Debug, Clone, Serialize)]
pub struct ShardLeaseView {
    pub shard: String,
    /// `<replica>/<process>`; none when released or never held.
    pub holder: Option<String>,
    /// The fencing token of the holder's tenure (the last one when released).
    pub token: u64,
    /// Whether this replica holds it.
    pub held_here: bool,
    /// held, fenced (held, past its renew deadline: no mutating calls), releasing, standby
    /// (another replica holds it), unheld.
    pub state: &'static str,
    /// On the holder: seconds since its last renewal that landed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_age_seconds: Option<f64>,
}

/// The shards of one process.
pub struct Fleet {
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// The desired tree in force.
    pub tree: TreeRx,
    shards: RwLock<BTreeMap<ShardId, ShardState>>,
    lease: RwLock<Option<LeaseView>>,
}

impl Fleet {
    pub fn new(settings: Settings, metrics: Arc<Metrics>, tree: TreeRx) -> Fleet {
        Fleet {
            settings,
            metrics,
            tree,
            shards: RwLock::new(BTreeMap::new()),
            lease: RwLock::new(None),
        }
    }

    /// Records the lease coordinator's view (high availability on).
    pub fn set_lease_view(&self, view: LeaseView) {
        if let Ok(mut g) = self.lease.write() {
            *g = Some(view);
        }
    }

    /// The lease view; `None` without high availability.
    pub fn lease_view(&self) -> Option<LeaseView> {
        self.lease.read().ok().and_then(|g| g.clone())
    }

    /// Ready: the tree is loaded, every shard running here is ready, and either some shard
    /// runs here or (high availability) this replica is a standby that reads the lease table,
    /// so it can take over. The problems, when not.
    pub fn readiness(&self) -> (bool, Vec<ShardProblem>) {
        let loaded = self.tree.borrow().is_some();
        let problems = self.not_ready();
        let standing_by = self.lease_view().is_some_and(|v| v.table_reachable);
        let ready = loaded && problems.is_empty() && (!self.engines().is_empty() || standing_by);
        (ready, problems)
    }

    /// Records a shard's state (and `converge_shard_up`).
    pub fn set(&self, shard: &ShardId, state: ShardState) {
        let up = matches!(state, ShardState::Running(_));
        self.metrics
            .shard_up
            .with_label_values(&[&shard.account, &shard.region])
            .set(i64::from(up));
        if let Ok(mut g) = self.shards.write() {
            g.insert(shard.clone(), state);
        }
    }

    /// Forgets a shard (its account left the tree), and its `converge_shard_up` series.
    pub fn remove(&self, shard: &ShardId) {
        let _ = self
            .metrics
            .shard_up
            .remove_label_values(&[&shard.account, &shard.region]);
        if let Ok(mut g) = self.shards.write() {
            g.remove(shard);
        }
    }

    /// Every shard and its state, by shard.
    pub fn snapshot(&self) -> BTreeMap<ShardId, ShardState> {
        self.shards.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Every running shard's engine.
    pub fn engines(&self) -> Vec<Arc<Engine>> {
        self.snapshot()
            .into_values()
            .filter_map(|s| s.engine().cloned())
            .collect()
    }

    /// The shards that are not ready, and why (empty when every shard is): a shard is ready
    /// once it runs and every kind completed a sweep whose listing worked.
    pub fn not_ready(&self) -> Vec<ShardProblem> {
        let mut out = Vec::new();
        for (id, state) in self.snapshot() {
            let (error, kinds) = match &state {
                ShardState::Running(engine) => match unready_kinds(engine) {
                    Some(kinds) => (None, kinds),
                    None => continue,
                },
                ShardState::Failed { error, .. } => (Some(error.clone()), Vec::new()),
                ShardState::Starting => (None, Vec::new()),
                ShardState::Standby => continue,
            };
            out.push(ShardProblem {
                shard: id.to_string(),
                state: state.as_str(),
                error,
                kinds,
            });
        }
        out
    }
}

/// The kinds of a running shard that are not ready, or `None` when the shard is ready. A
/// shard with no kind registered yet is still starting its loops: not ready.
fn unready_kinds(engine: &Engine) -> Option<Vec<serde_json::Value>> {
    let status = engine.status.snapshot();
    let kinds: Vec<_> = status
        .iter()
        .filter(|(_, s)| !(s.swept && s.ready))
        .map(|(k, s)| serde_json::json!({"kind": k, "swept": s.swept, "error": s.last_error}))
        .collect();
    (status.is_empty() || !kinds.is_empty()).then_some(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    fn fleet() -> (Fleet, Arc<Engine>) {
        let metrics = Arc::new(Metrics::new().expect("metrics register"));
        let (_tree_tx, tree_rx) = watch::channel(None);
        let (_desired_tx, desired_rx) = watch::channel(None);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let engine = Arc::new(Engine::new(
            Settings::default(),
            metrics.clone(),
            desired_rx,
            stop_rx,
        ));
        (Fleet::new(Settings::default(), metrics, tree_rx), engine)
    }

    #[test]
    fn a_running_shard_is_ready_only_once_its_registered_kinds_swept() {
        let (fleet, engine) = fleet();
        let id = ShardId::new("default", "us-east-1");
        fleet.set(&id, ShardState::Running(engine.clone()));
        let starting = fleet.not_ready();
        assert_eq!(starting.len(), 1, "no kind registered yet is not ready");
        assert_eq!(starting[0].state, "running");

        engine.status.register("Queue");
        assert_eq!(fleet.not_ready()[0].kinds.len(), 1, "Queue has not swept");

        engine.status.update("Queue", |s| {
            s.swept = true;
            s.ready = true;
        });
        assert!(fleet.not_ready().is_empty());
    }
}
