//! Starting and feeding the shards of the desired tree.
//!
//! For every shard (account and region, or an account's global services) the tree has and
//! the selection keeps, the supervisor reaches the account (credentials, account id check: once
//! per account, shared by its shards), builds the shard's clients, and runs the shard's kind
//! loops on an [`Engine`] of its own. Each new tree generation is handed to every shard as its
//! own part. A shard that cannot start fails alone and says why in the [`Fleet`]; it is retried
//! with backoff, or — when retrying cannot help (a refused role, an account id mismatch) — when
//! the account's entry in `accounts.yaml` changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use tokio::sync::{watch, OnceCell};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::aws::accounts::{self, AccountError};
use crate::aws::{self, AwsOptions, CallCounter};
use crate::core::model::TreeRx;
use crate::core::shard::{Account, Selection, ShardId};
use crate::core::DesiredSet;
use crate::engine::audit::AuditLog;
use crate::engine::controller::{DeletionBudget, FirstListings};
use crate::engine::fleet::{Fleet, ShardState};
use crate::engine::{Engine, Facts, Mode, Settings};
use crate::kinds;
use crate::metrics::Metrics;

/// The longest wait between two attempts to start a failing shard.
const RETRY_MAX: Duration = Duration::from_secs(300);
/// The region the clients of global services (IAM, Route 53) are configured with when the
/// process has no region of its own.
const GLOBAL_SIGNING_REGION: &str = "us-east-1";

/// Until a tree is in force whose entry for `alias` differs from `was` (an alias the tree no
/// longer declares leaves the tree invalid, which keeps the last good one: no change).
async fn account_changed(tree: &mut TreeRx, alias: &str, was: &Account) {
    let _ = tree
        .wait_for(|t| {
            t.as_ref()
                .and_then(|t| t.accounts.get(alias))
                .is_some_and(|a| !a.same_reach(was))
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
    facts: Mutex<HashMap<String, Facts>>,
    first_listings: Mutex<HashMap<String, Arc<FirstListings>>>,
    /// `--max-deletions` per generation, for every shard together.
    deletions: Arc<DeletionBudget>,
}

/// One account's reach, shared by its shards: the account as declared, the attempt it
/// belongs to, and its (single) result.
struct Slot {
    account: Account,
    attempt: u32,
    cell: Arc<OnceCell<Result<SdkConfig, AccountError>>>,
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
            facts: Mutex::new(HashMap::new()),
            first_listings: Mutex::new(HashMap::new()),
            deletions: Arc::new(DeletionBudget::default()),
        }
    }

    fn settings(&self) -> &Settings {
        &self.fleet.settings
    }

    fn metrics(&self) -> Arc<Metrics> {
        self.fleet.metrics.clone()
    }

    /// Runs until shutdown (`run`) or until every shard has finished (`plan`, `apply`): starts
    /// each shard the tree gains and hands every new generation to each shard.
    pub async fn run(self: Arc<Self>) {
        let mut tree_rx: TreeRx = self.fleet.tree.clone();
        let mut shutdown = self.shutdown.clone();
        let mut shards: BTreeMap<ShardId, watch::Sender<Option<Arc<DesiredSet>>>> = BTreeMap::new();
        let mut left_out: BTreeSet<ShardId> = BTreeSet::new();
        let mut tasks = JoinSet::new();
        let one_shot = self.settings().mode != Mode::Run;
        loop {
            let tree = tree_rx.borrow_and_update().clone();
            if let Some(tree) = tree {
                for id in tree.shards.keys() {
                    if shards.contains_key(id) {
                        continue;
                    }
                    if !self.selection.selects(id) {
                        if left_out.insert(id.clone()) {
                            tracing::info!(shard = %id, resources = tree.shards[id].len(), "shard not selected (--shard/--region): left to another controller");
                        }
                        continue;
                    }
                    let (tx, rx) = watch::channel(None);
                    shards.insert(id.clone(), tx);
                    // Declared before any shard of the tree can list: the account's shards
                    // wait for each other's first listings (see `Engine::with_first_listings`).
                    self.first_listings_of(&id.account)
                        .expect(kinds::count(id.is_global()));
                    self.fleet.set(id, ShardState::Starting);
                    let me = self.clone();
                    let shard = id.clone();
                    tasks.spawn(
                        async move { me.shard(shard, rx).await }
                            .instrument(tracing::info_span!("shard", shard = %id)),
                    );
                }
                for (id, tx) in &shards {
                    tx.send_replace(Some(tree.shard(id)));
                }
                if shards.is_empty() && one_shot {
                    tracing::warn!("no shard selected: nothing to do");
                }
            }
            if one_shot {
                while tasks.join_next().await.is_some() {}
                return;
            }
            tokio::select! {
                r = tree_rx.changed() => if r.is_err() { break },
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One shard's life: reach its account (retrying as the error allows), run its kind loops
    /// until they end — or, when the account's entry in `accounts.yaml` changes (another role,
    /// profile or id), stop them and start again with the new entry.
    async fn shard(
        self: Arc<Self>,
        id: ShardId,
        desired: watch::Receiver<Option<Arc<DesiredSet>>>,
    ) {
        let mut attempt = 0u32;
        loop {
            let Some((sdk, account)) = self.reach_shard(&id, &mut attempt).await else {
                return;
            };
            if !self.run_shard(&id, sdk, &account, desired.clone()).await {
                return;
            }
            tracing::info!(
                "the account's entry in accounts.yaml changed: restarting the shard with it"
            );
            self.fleet.set(&id, ShardState::Starting);
        }
    }

    /// Reaches the shard's account: `None` when it cannot (one-shot modes give up at once) or
    /// on shutdown.
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
                self.first_listings_of(&id.account)
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
            let delay = Duration::from_secs(1u64 << (*attempt).min(9)).min(RETRY_MAX);
            // A terminal failure waits for the account's entry to change; another failure for
            // its backoff (or that change, whichever comes first).
            tokio::select! {
                _ = account_changed(&mut tree_rx, &id.account, &account) => {}
                _ = tokio::time::sleep(delay), if !terminal => {}
                _ = shutdown.wait_for(|s| *s) => return None,
            }
        }
    }

    /// Runs the shard's kind loops. True when they were stopped because the account's entry
    /// changed (start again), false when they ended (shutdown, or `plan`/`apply` done).
    async fn run_shard(
        &self,
        id: &ShardId,
        sdk: SdkConfig,
        account: &Account,
        desired: watch::Receiver<Option<Arc<DesiredSet>>>,
    ) -> bool {
        let region = if id.is_global() {
            aws::region_of(&self.base).unwrap_or_else(|| GLOBAL_SIGNING_REGION.to_string())
        } else {
            id.region.clone()
        };
        let counter = CallCounter::new(self.metrics(), &id.account, &id.region);
        let clients = aws::clients(&sdk, &region, &self.aws, counter);
        let controllers = kinds::controllers(&clients, self.settings(), id.is_global());
        // The loops stop on the process's shutdown, or when this shard restarts.
        let (stop_tx, stop_rx) = watch::channel(false);
        let engine = Arc::new(
            Engine::new(self.settings().clone(), self.metrics(), desired, stop_rx)
                .in_shard(id.clone(), &self.facts_of(&id.account))
                .with_audit(self.audit.clone())
                .with_first_listings(self.first_listings_of(&id.account))
                .with_deletion_budget(self.deletions.clone()),
        );
        self.fleet.set(id, ShardState::Running(engine.clone()));
        tracing::info!(kinds = controllers.len(), "shard running");
        let mut loops = JoinSet::new();
        for c in controllers {
            loops.spawn(c.run(engine.clone()).in_current_span());
        }
        let mut shutdown = self.shutdown.clone();
        let mut tree_rx = self.fleet.tree.clone();
        let restart = tokio::select! {
            _ = async { while loops.join_next().await.is_some() {} } => return false,
            _ = shutdown.wait_for(|s| *s) => false,
            _ = account_changed(&mut tree_rx, &id.account, account) => true,
        };
        // In-flight changes finish: the loops return at their next check of `stop`.
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
        restart
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

    /// The first listings of an account's shards.
    fn first_listings_of(&self, account: &str) -> Arc<FirstListings> {
        let Ok(mut all) = self.first_listings.lock() else {
            return Arc::new(FirstListings::default());
        };
        all.entry(account.to_string()).or_default().clone()
    }

    /// The facts store of an account (one per account, shared by its shards).
    fn facts_of(&self, account: &str) -> Facts {
        let Ok(mut all) = self.facts.lock() else {
            return Facts::default();
        };
        all.entry(account.to_string())
            .or_insert_with(Facts::default)
            .clone()
    }
}
