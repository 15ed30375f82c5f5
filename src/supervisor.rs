//! Starting and feeding the shards of the desired tree.
//!
//! For every shard (account and region, or an account's global services) the tree has and
//! the selection keeps, the supervisor reaches the account (credentials, account id check: once
//! per account, shared by its shards), builds the shard's clients, and runs the shard's kind
//! loops on an [`Engine`] of its own. Each shard hands itself its part of every new tree
//! generation — after checking that its account's entry is unchanged, so a generation is never
//! applied with the credentials of an account entry it no longer has. A shard that cannot
//! start fails alone and says why in the [`Fleet`]; it is retried with backoff (a refused role
//! or an account id mismatch only every 5 minutes, or when its `accounts.yaml` entry changes).
//! A running shard whose entry changes restarts with it; one whose account leaves the tree
//! stops.
//!
//! With high availability (`run --lease-table`) a shard's loops run only while the lease
//! coordinator grants it ([`Grants`]): until then the shard is a standby; when the grant goes
//! (lease lost or handed over) its loops stop, in-flight changes finish, and the coordinator is
//! told so it can release the lease. Every client of a granted shard sends mutating requests
//! only while the grant's fence allows.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use tokio::sync::{watch, OnceCell};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::aws::accounts::{self, AccountError};
use crate::aws::{self, AwsOptions, CallCounter};
use crate::core::fence::Fence;
use crate::core::model::TreeRx;
use crate::core::shard::{Account, Selection, ShardId};
use crate::core::DesiredTree;
use crate::engine::audit::AuditLog;
use crate::engine::controller::{DeletionBudget, FirstListings};
use crate::engine::fleet::{Fleet, ShardState};
use crate::engine::{Engine, Facts, Mode, Settings};
use crate::kinds;
use crate::lease::{Grants, SharedFacts};
use crate::metrics::Metrics;

/// The longest wait between two attempts to start a failing shard (and the wait after a
/// terminal failure: a refused role or a wrong account id is checked again this often).
const RETRY_MAX: Duration = Duration::from_secs(300);
/// The region the clients of global services (IAM, Route 53) are configured with when the
/// process has no region of its own.
const GLOBAL_SIGNING_REGION: &str = "us-east-1";

/// How a shard's kind loops ended.
enum Ended {
    /// Shutdown, or `plan`/`apply` done.
    Done,
    /// The account's entry changed: start again with the new one.
    Restart,
    /// The account left the tree.
    Gone,
    /// High availability: the shard's lease is no longer this replica's.
    Lost,
}

/// Until a tree is in force whose entry for `alias` differs from `was` or is gone.
async fn account_changed(tree: &mut TreeRx, alias: &str, was: &Account) {
    let _ = tree
        .wait_for(|t| {
            t.as_ref()
                .is_some_and(|t| t.accounts.get(alias).is_none_or(|a| !a.same_reach(was)))
        })
        .await;
}

/// What every shard is started with.
pub struct Supervisor {
    pub fleet: Arc<Fleet>,
    pub selection: Selection,
    pub aws: AwsOptions,
    /// The process's own AWS configuration.
    pub base: SdkConfig,
    pub audit: Arc<AuditLog>,
    pub shutdown: watch::Receiver<bool>,
    access: Mutex<HashMap<String, Slot>>,
    /// Per account alias: what its shards share while the account is reached the same way.
    accounts: Mutex<HashMap<String, Shared>>,
    /// `--max-deletions` per generation, for every shard together.
    deletions: Arc<DeletionBudget>,
    /// High availability: the shards this replica may run. `None`: every shard.
    grants: Option<Grants>,
    /// Counts the accounts' facts stores made ([`Shared::epoch`]).
    epochs: std::sync::atomic::AtomicU64,
}

/// One account's reach, shared by its shards: the account as declared, the attempt it
/// belongs to, and its (single) result.
struct Slot {
    account: Account,
    attempt: u32,
    cell: Arc<OnceCell<Result<SdkConfig, AccountError>>>,
}

/// What an account's shards share: its facts and the wait for their first listings. A new
/// entry (another role, profile or id) starts both afresh: facts of the account reached before
/// must not resolve references in the one reached now.
struct Shared {
    account: Account,
    facts: Facts,
    first_listings: Arc<FirstListings>,
    /// Which store this is (a new one for every new reach of the account).
    epoch: u64,
}

impl Supervisor {
    pub fn new(
        fleet: Arc<Fleet>,
        selection: Selection,
        aws: AwsOptions,
        base: SdkConfig,
        audit: Arc<AuditLog>,
        shutdown: watch::Receiver<bool>,
    ) -> Supervisor {
        Supervisor {
            fleet,
            selection,
            aws,
            base,
            audit,
            shutdown,
            access: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            deletions: Arc::new(DeletionBudget::default()),
            grants: None,
            epochs: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Runs only the shards `grants` grants (high availability).
    pub fn with_grants(mut self, grants: Grants) -> Supervisor {
        self.grants = Some(grants);
        self
    }

    fn settings(&self) -> &Settings {
        &self.fleet.settings
    }

    fn metrics(&self) -> Arc<Metrics> {
        self.fleet.metrics.clone()
    }

    /// Runs until shutdown (`run`) or until every shard has finished (`plan`, `apply`): starts
    /// each shard the tree gains, and forgets one whose account left the tree.
    pub async fn run(self: Arc<Self>) {
        let mut tree_rx: TreeRx = self.fleet.tree.clone();
        let mut shutdown = self.shutdown.clone();
        let mut running: BTreeSet<ShardId> = BTreeSet::new();
        let mut left_out: BTreeSet<ShardId> = BTreeSet::new();
        let mut tasks: JoinSet<ShardId> = JoinSet::new();
        let one_shot = self.settings().mode != Mode::Run;
        loop {
            let tree = tree_rx.borrow_and_update().clone();
            if let Some(tree) = tree {
                for id in tree.shards.keys() {
                    if running.contains(id) {
                        continue;
                    }
                    if !self.selection.selects(id) {
                        if left_out.insert(id.clone()) {
                            tracing::info!(shard = %id, resources = tree.shards[id].len(), "shard not selected (--shard/--region): left to another controller");
                        }
                        continue;
                    }
                    running.insert(id.clone());
                    self.fleet.set(id, ShardState::Starting);
                    let me = self.clone();
                    let shard = id.clone();
                    tasks.spawn(
                        async move {
                            me.shard(&shard).await;
                            shard
                        }
                        .instrument(tracing::info_span!("shard", shard = %id)),
                    );
                }
                if running.is_empty() && !tree.shards.is_empty() {
                    tracing::warn!(
                        shards = tree.shards.len(),
                        "no shard of the tree is selected (--shard/--region): nothing to do"
                    );
                }
            }
            if one_shot {
                while tasks.join_next().await.is_some() {}
                return;
            }
            tokio::select! {
                r = tree_rx.changed() => if r.is_err() { break },
                Some(Ok(id)) = tasks.join_next(), if !tasks.is_empty() => {
                    // Its account left the tree: forget it (it starts again if it comes back).
                    running.remove(&id);
                    self.fleet.remove(&id);
                }
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One shard's life: reach its account (retrying as the error allows), run its kind loops
    /// until they end — or, when the account's entry changes, stop them and start again with
    /// the new entry.
    async fn shard(&self, id: &ShardId) {
        let mut attempt = 0u32;
        loop {
            let fence = match &self.grants {
                None => Fence::open(),
                Some(grants) => match self.granted(id, grants).await {
                    Some(fence) => fence,
                    None => return,
                },
            };
            let Some((sdk, account)) = self.reach_shard(id, &mut attempt).await else {
                return;
            };
            match self.run_shard(id, sdk, &account, &fence).await {
                Ended::Done | Ended::Gone => return,
                Ended::Restart => {
                    tracing::info!("the account's entry in accounts.yaml changed: restarting the shard with it");
                    self.fleet.set(id, ShardState::Starting);
                    attempt = 0;
                }
                Ended::Lost => {
                    tracing::info!(
                        "the shard's lease is no longer this replica's: its loops stopped"
                    );
                    attempt = 0;
                }
            }
        }
    }

    /// Waits (as a standby) until this replica holds the shard's lease: its fence, or `None`
    /// on shutdown or when the shard left the tree.
    async fn granted(&self, id: &ShardId, grants: &Grants) -> Option<Fence> {
        let mut granted = grants.granted.clone();
        if let Some(f) = granted.borrow_and_update().get(id) {
            return Some(f.clone());
        }
        self.fleet.set(id, ShardState::Standby);
        let mut shutdown = self.shutdown.clone();
        let mut tree = self.fleet.tree.clone();
        let alias = id.account.clone();
        tokio::select! {
            g = granted.wait_for(|g| g.contains_key(id)) => g.ok().and_then(|g| g.get(id).cloned()),
            _ = shutdown.wait_for(|s| *s) => None,
            // Gone from the tree (its account, or only its region): this task ends.
            _ = tree.wait_for(|t| t.as_ref().is_some_and(|t| t.accounts.get(&alias).is_none() || !t.shards.contains_key(id))) => None,
        }
    }

    /// Reaches the shard's account: `None` when it cannot (one-shot modes give up at once), on
    /// shutdown, or when the account left the tree.
    async fn reach_shard(&self, id: &ShardId, attempt: &mut u32) -> Option<(SdkConfig, Account)> {
        let mut shutdown = self.shutdown.clone();
        let mut tree_rx = self.fleet.tree.clone();
        loop {
            *attempt += 1;
            let account = self.account_of(id)?;
            let e = match self.reach(&account, *attempt).await {
                Ok(sdk) => return Some((sdk, account)),
                Err(e) => e,
            };
            let terminal = e.terminal();
            tracing::error!(error = %e, terminal, "shard cannot start; the other shards go on");
            if *attempt == 1 {
                // Its kinds will not list: the account's other shards stop waiting for them.
                self.shared_of(&account)
                    .first_listings
                    .count(kinds::count(id.is_global()));
            }
            self.fleet.set(
                id,
                ShardState::Failed {
                    error: e.to_string(),
                    terminal,
                },
            );
            if self.settings().mode != Mode::Run {
                return None;
            }
            let delay = if terminal {
                RETRY_MAX
            } else {
                Duration::from_secs(1u64 << (*attempt).min(9)).min(RETRY_MAX)
            };
            tokio::select! {
                _ = account_changed(&mut tree_rx, &id.account, &account) => {}
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|s| *s) => return None,
            }
        }
    }

    /// Runs the shard's kind loops, handing them the shard's part of each tree generation whose
    /// entry for the account is the one they run with.
    async fn run_shard(
        &self,
        id: &ShardId,
        sdk: SdkConfig,
        account: &Account,
        fence: &Fence,
    ) -> Ended {
        let region = if id.is_global() {
            aws::region_of(&self.base).unwrap_or_else(|| GLOBAL_SIGNING_REGION.to_string())
        } else {
            id.region.clone()
        };
        let counter = CallCounter::new(self.metrics(), &id.account, &id.region);
        let clients = aws::clients(&sdk, &region, &self.aws, counter, fence);
        let controllers = kinds::controllers(&clients, self.settings(), id.is_global());
        let kind_names: Vec<&'static str> = controllers.iter().map(|c| c.kind()).collect();
        let mut tree_rx = self.fleet.tree.clone();
        let part = |tree: &DesiredTree| Some(tree.shard(id));
        let first = tree_rx.borrow_and_update().as_deref().and_then(part);
        let (desired_tx, desired_rx) = watch::channel(first);
        // The loops stop on the process's shutdown, or when this shard restarts or ends.
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = self.shared_of(account);
        // With leases, the account's other shards may run on other replicas: waiting for their
        // first listings would only delay this shard's first sweep.
        let first_listings = match &self.grants {
            None => shared.first_listings,
            Some(_) => {
                let own = Arc::new(FirstListings::default());
                own.expect(kind_names.len());
                own
            }
        };
        let engine = Arc::new(
            Engine::new(self.settings().clone(), self.metrics(), desired_rx, stop_rx)
                .in_shard(id.clone(), &shared.facts)
                .with_audit(self.audit.clone())
                .with_fence(fence.clone())
                .with_first_listings(first_listings)
                .with_deletion_budget(self.deletions.clone()),
        );
        let mut granted = self.grants.as_ref().map(|g| g.granted.clone());
        let token = fence.stamp().map(|s| s.token);
        let still_granted = |g: &crate::lease::GrantMap| {
            g.get(id).and_then(|f| f.stamp().map(|s| s.token)) == token
        };
        if let Some(g) = &mut granted {
            if !still_granted(&g.borrow_and_update()) {
                return Ended::Lost;
            }
        }
        if let Some(g) = &self.grants {
            g.started(id);
        }
        // Its kinds are registered before the shard reads as running, so `/readyz` never
        // sees a running shard with no kinds (which would read as ready) before its loops start.
        for c in &controllers {
            engine.status.register(c.kind());
        }
        self.fleet.set(id, ShardState::Running(engine.clone()));
        tracing::info!(kinds = controllers.len(), "shard running");
        let mut loops = JoinSet::new();
        for c in controllers {
            loops.spawn(c.run(engine.clone()).in_current_span());
        }
        let mut shutdown = self.shutdown.clone();
        let ended = loop {
            tokio::select! {
                _ = async { while loops.join_next().await.is_some() {} } => break Ended::Done,
                _ = shutdown.wait_for(|s| *s) => break Ended::Done,
                Some(r) = async {
                    match granted.as_mut() {
                        Some(g) => Some(g.changed().await),
                        None => std::future::pending().await,
                    }
                } => {
                    let lost = r.is_err() || granted.as_mut().is_some_and(|g| !still_granted(&g.borrow_and_update()));
                    if lost {
                        break Ended::Lost;
                    }
                }
                r = tree_rx.changed() => {
                    if r.is_err() {
                        break Ended::Done;
                    }
                    let tree = tree_rx.borrow_and_update().clone();
                    let Some(tree) = tree else { continue };
                    match tree.accounts.get(&id.account) {
                        None => break Ended::Gone,
                        Some(a) if !a.same_reach(account) => break Ended::Restart,
                        Some(_) => {
                            desired_tx.send_replace(part(&tree));
                        }
                    }
                }
            }
        };
        // In-flight changes finish: the loops return at their next check of `stop`.
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
        if !matches!(ended, Ended::Done) {
            // This process no longer reports the shard's kinds (they restart, or run elsewhere).
            for kind in &kind_names {
                self.metrics().forget_kind(engine.labels(kind));
            }
        }
        if let Some(g) = &self.grants {
            g.stopped(id);
        }
        ended
    }

    /// The account of `id` in the tree in force.
    fn account_of(&self, id: &ShardId) -> Option<Account> {
        let tree = self.fleet.tree.borrow().clone()?;
        tree.accounts.get(&id.account).cloned()
    }

    /// The account's reach for `attempt`: computed once per account and attempt, whichever of
    /// its shards asks first.
    async fn reach(&self, account: &Account, attempt: u32) -> Result<SdkConfig, AccountError> {
        let cell = {
            let Ok(mut slots) = self.access.lock() else {
                return Err(AccountError::Credentials {
                    message: "internal: account cache poisoned".into(),
                    terminal: true,
                });
            };
            let fresh = match slots.get(&account.alias) {
                Some(s) => !s.account.same_reach(account) || s.attempt < attempt,
                None => true,
            };
            if fresh {
                slots.insert(
                    account.alias.clone(),
                    Slot {
                        account: account.clone(),
                        attempt,
                        cell: Arc::new(OnceCell::new()),
                    },
                );
            }
            slots[&account.alias].cell.clone()
        };
        cell.get_or_init(|| async {
            let r = accounts::reach(
                &self.base,
                &self.aws,
                account,
                &self.settings().controller_id,
                self.metrics(),
            )
            .await;
            if r.is_ok() && account.id.is_some() {
                tracing::info!(account = %account.alias, id = account.id.as_deref().unwrap_or(""), "account checked");
            }
            r
        })
        .await
        .clone()
    }

    /// What the shards of `account` share, fresh when the account is reached another way than
    /// before. The first-listing wait expects every selected shard the tree has for it.
    fn shared_of(&self, account: &Account) -> SharedView {
        let Ok(mut all) = self.accounts.lock() else {
            return SharedView {
                facts: Facts::default(),
                first_listings: Arc::new(FirstListings::default()),
            };
        };
        let fresh = all
            .get(&account.alias)
            .is_none_or(|s| !s.account.same_reach(account));
        if fresh {
            let first = Arc::new(FirstListings::default());
            if let Some(tree) = self.fleet.tree.borrow().as_ref() {
                let kinds: usize = tree
                    .shards
                    .keys()
                    .filter(|s| s.account == account.alias && self.selection.selects(s))
                    .map(|s| kinds::count(s.is_global()))
                    .sum();
                first.expect(kinds);
            }
            let epoch = self
                .epochs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            all.insert(
                account.alias.clone(),
                Shared {
                    account: account.clone(),
                    facts: Facts::default(),
                    first_listings: first,
                    epoch,
                },
            );
        }
        let s = &all[&account.alias];
        SharedView {
            facts: s.facts.clone(),
            first_listings: s.first_listings.clone(),
        }
    }
}

/// High availability: the facts of this replica's shards go to the lease table, and the facts
/// of shards other replicas run come into the account's store, so references across shards
/// resolve whichever replica holds which shard.
impl SharedFacts for Supervisor {
    fn export(&self, id: &ShardId) -> Option<String> {
        let engine = self.fleet.snapshot().get(id)?.engine()?.clone();
        let all = engine.facts.snapshot();
        let own = all.get(&id.region).cloned().unwrap_or_default();
        serde_json::to_string(&own).ok()
    }

    fn wants(&self, id: &ShardId) -> bool {
        self.fleet
            .snapshot()
            .iter()
            .any(|(s, state)| s.account == id.account && state.engine().is_some())
    }

    fn import(&self, id: &ShardId, json: &str) {
        let facts = match serde_json::from_str(json) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(shard = %id, error = %e, "unreadable shared facts ignored");
                return;
            }
        };
        let store = self
            .accounts
            .lock()
            .ok()
            .and_then(|all| all.get(&id.account).map(|s| s.facts.clone()));
        if let Some(store) = store {
            store.replace_region(&id.region, facts);
        }
    }

    fn epoch(&self, id: &ShardId) -> u64 {
        self.accounts
            .lock()
            .ok()
            .and_then(|all| all.get(&id.account).map(|s| s.epoch))
            .unwrap_or(0)
    }
}

/// An account's shared state, as one shard takes it.
struct SharedView {
    facts: Facts,
    first_listings: Arc<FirstListings>,
}
