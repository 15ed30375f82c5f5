//! The lease loop every replica runs: observe the table, heartbeat, renew, take, hand over,
//! release, and tell the supervisor which shards it may run.
//!
//! One pass every `--lease-retry` (±20 % jitter, so replicas do not write in step), or sooner
//! when another replica's lease is about to expire:
//! 1. Renew every held lease: a renewal that landed moves the shard's [`Fence`] to its send
//!    time + renew deadline; a conflict (another replica's write) loses the lease at once; an
//!    error keeps trying with the same new version, so a write that landed unseen is
//!    recognised; once a whole lease has passed since the last renewal that landed, another
//!    replica may hold it: the lease is lost.
//! 2. Read every record of the controller (one consistent `Query`). Each record's version is
//!    remembered with the boot-clock time it was first seen; a record (or member) whose
//!    version has not changed for a whole lease is expired, as this replica measures it.
//! 3. Heartbeat this replica's member record (every quarter lease); share the facts of held
//!    shards that changed, and read those of shards held elsewhere (see [`SharedFacts`]).
//! 4. Take every claimable shard (no record, released, or expired) that the assignment gives
//!    this replica, or that stayed claimable for a whole lease (its assigned replica is not
//!    taking it); hand over held shards the assignment gives a replica that has been live for
//!    a lease (after their loops stop here).
//! 5. Publish the grants (held shards, not being handed over), metrics and `/status`.
//!
//! On shutdown it leaves (removes its member record), stops taking shards, keeps renewing until
//! the supervisor has stopped every shard's loops (in-flight changes finish under the lease),
//! then releases them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::assign::assign;
use super::table::{LeaseRecord, LeaseTable, Me, Renewed, TableError, TableSnapshot};
use super::{digest, GrantMap, Grants, LeaseSettings, SharedFacts};
use crate::core::fence::{boot_time, Fence, LeaseStamp};
use crate::core::model::TreeRx;
use crate::core::shard::{Selection, ShardId};
use crate::engine::fleet::{Fleet, LeaseView, ShardLeaseView};
use crate::metrics::Metrics;

/// The largest facts document shared through the table (DynamoDB items hold 400 KB).
const MAX_FACTS_BYTES: usize = 350_000;

/// A lease this replica holds.
struct Held {
    id: ShardId,
    /// The version this process wrote last and saw land.
    version: String,
    token: u64,
    fence: Fence,
    /// Send time of the acquisition or renewal that last landed.
    renewed: Duration,
    /// When it was acquired.
    since: Duration,
    /// A renewal whose outcome is unknown: its version and first send time. The next attempt
    /// writes the same version, so a landed write shows as this process's own.
    pending: Option<(String, Duration)>,
    /// Being handed over or released: its loops are stopping here.
    releasing: bool,
    /// The digest of the shared facts written for it (renewals put it on the record).
    facts_written: String,
    /// The digest of facts too large to share (warned about once).
    oversized: Option<String>,
}

/// A record's version and when this replica first saw it.
struct Seen {
    version: String,
    since: Duration,
}

/// The coordinator of one replica.
pub struct Coordinator {
    table: LeaseTable,
    settings: LeaseSettings,
    me: Me,
    metrics: Arc<Metrics>,
    fleet: Arc<Fleet>,
    tree: TreeRx,
    selection: Selection,
    grants: watch::Sender<GrantMap>,
    active: watch::Receiver<BTreeSet<ShardId>>,
    /// Where shard facts come from and go to (the supervisor).
    facts: Option<Arc<dyn SharedFacts>>,
    /// Facts of shards held elsewhere, imported: their digest and the epoch of the store
    /// they went into.
    imported: BTreeMap<String, (String, u64)>,
    held: BTreeMap<String, Held>,
    /// By sort key (`lease#…`, `member#…`).
    seen: BTreeMap<String, Seen>,
    /// Claimable shards and since when.
    free_since: BTreeMap<String, Duration>,
    /// Live members and since when they have been live.
    live_since: BTreeMap<String, Duration>,
    /// The last snapshot read, for `/status`.
    last: TableSnapshot,
    /// The shards whose lease series this replica exports.
    published: BTreeSet<String>,
    last_read: Option<Duration>,
    last_heartbeat: Option<Duration>,
    passes: u64,
    /// This replica removed its member record (shutting down).
    left: bool,
    versions: u64,
    rng: u64,
}

impl Coordinator {
    /// A coordinator for `me`, and the supervisor's side of its grants.
    pub fn new(
        table: LeaseTable,
        settings: LeaseSettings,
        me: Me,
        fleet: Arc<Fleet>,
        selection: Selection,
    ) -> (Coordinator, Grants) {
        let (grants_tx, grants_rx) = watch::channel(GrantMap::new());
        let (active_tx, active_rx) = watch::channel(BTreeSet::new());
        let seed = boot_time().as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32);
        let c = Coordinator {
            table,
            settings,
            me,
            metrics: fleet.metrics.clone(),
            tree: fleet.tree.clone(),
            fleet,
            selection,
            grants: grants_tx,
            active: active_rx,
            facts: None,
            imported: BTreeMap::new(),
            held: BTreeMap::new(),
            seen: BTreeMap::new(),
            free_since: BTreeMap::new(),
            live_since: BTreeMap::new(),
            last: TableSnapshot::default(),
            published: BTreeSet::new(),
            last_read: None,
            last_heartbeat: None,
            passes: 0,
            left: false,
            versions: 0,
            rng: seed | 1,
        };
        let g = Grants {
            granted: grants_rx,
            active: active_tx,
        };
        (c, g)
    }

    /// Shares shard facts with the other replicas through `link` (see [`SharedFacts`]).
    pub fn share_facts(&mut self, link: Arc<dyn SharedFacts>) {
        self.facts = Some(link);
    }

    /// A process id: unique to this process among restarts of the same replica.
    pub fn process_id() -> String {
        let seed = boot_time().as_nanos() as u64 ^ (u64::from(std::process::id()) << 40);
        format!("{:08x}", super::spread(seed) as u32)
    }

    fn next_version(&mut self) -> String {
        self.versions += 1;
        format!("{}-{}", self.me.process, self.versions)
    }

    /// The retry period ±20 %.
    fn jittered(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let f = 0.8 + (self.rng % 1000) as f64 / 2500.0;
        self.settings.retry.mul_f64(f)
    }

    /// Runs until shutdown, then releases every held lease once its loops stopped.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(table = self.table.name(), replica = %self.me.replica, process = %self.me.process, "high availability: competing for shard leases");
        // The process's shutdown signal, or its sender gone (treated the same: stop).
        let mut closed = false;
        loop {
            let stopping = closed || *shutdown.borrow();
            self.pass(stopping).await;
            if stopping && self.held.is_empty() {
                break;
            }
            // The next pass comes at the retry period, or as soon as another replica's lease
            // would expire: a crashed holder is replaced within a lease and one pass.
            let wait = match self.next_expiry() {
                Some(at) => self.jittered().min(at.saturating_sub(boot_time())),
                None => self.jittered(),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                r = shutdown.changed(), if !stopping => closed = r.is_err(),
                r = self.active.changed(), if stopping => {
                    if r.is_ok() {
                        // A shard's loops stopped: release it now, not a retry period later.
                        self.finish_releases().await;
                        self.publish();
                        if self.held.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
        tracing::info!("leases released");
    }

    /// One pass of the loop.
    async fn pass(&mut self, stopping: bool) {
        if stopping && !self.left {
            // Leave first: a replica that reads a released lease then no longer counts this one
            // as live, so the assignment gives the shard to a replica that will take it.
            // Retried every stopping pass until it lands.
            match self.table.leave(&self.me).await {
                Ok(()) => self.left = true,
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove this replica's member record")
                }
            }
            for h in self.held.values_mut() {
                h.releasing = true;
            }
            self.publish();
        }
        // Renewals first: they are what keeps this replica's fences open, and must not wait
        // behind a slow read.
        let renewed_at = boot_time();
        self.renew_all().await;
        let read = self.table.read().await;
        let received = boot_time();
        let snapshot = match read {
            Ok(s) => {
                self.last_read = Some(received);
                self.observe(&s, received);
                Some(s)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the lease table");
                None
            }
        };
        // A replica without a valid tree yet competes for nothing: it does not heartbeat, so
        // nobody assigns it shards it would not take.
        let wanted = self.wanted();
        if let (false, true, Some(w)) = (stopping, self.heartbeat_due(received), &wanted) {
            let version = self.next_version();
            let shards: BTreeSet<String> = w.keys().cloned().collect();
            match self.table.heartbeat(&self.me, &version, &shards).await {
                Ok(()) => self.last_heartbeat = Some(received),
                Err(e) => tracing::warn!(error = %e, "cannot write this replica's heartbeat"),
            }
        }
        self.exchange_facts(snapshot.as_ref()).await;
        // A slow table (each call may take up to its timeout) must not push the next renewal
        // past the renew deadline: renew again before taking anything.
        if boot_time().saturating_sub(renewed_at) >= self.settings.retry {
            self.renew_all().await;
        }
        if let Some(s) = &snapshot {
            // The first pass only looks: every replica started together has heartbeaten once
            // before anyone claims, so the first assignment already counts them all.
            if !stopping && self.passes > 0 {
                self.claim_and_hand_over(s, received).await;
            }
            self.last = s.clone();
        }
        self.finish_releases().await;
        self.passes += 1;
        self.publish();
    }

    /// A heartbeat every quarter lease (at most every pass): others count a member dead only
    /// after its record stayed unchanged for a whole lease, so three may be lost in a row.
    fn heartbeat_due(&self, now: Duration) -> bool {
        let every = (self.settings.duration / 4).max(self.settings.retry);
        self.last_heartbeat.is_none_or(|t| now >= t + every)
    }

    /// Remembers each record's version and since when it is unchanged; tracks live members.
    fn observe(&mut self, s: &TableSnapshot, now: Duration) {
        let mut see = |key: String, version: &str| {
            let fresh = self.seen.get(&key).is_none_or(|v| v.version != version);
            if fresh {
                self.seen.insert(
                    key,
                    Seen {
                        version: version.to_string(),
                        since: now,
                    },
                );
            }
        };
        for (shard, r) in &s.leases {
            see(format!("lease#{shard}"), &r.version);
        }
        for (replica, m) in &s.members {
            see(format!("member#{replica}"), &m.version);
        }
        let live = self.live_members(s, now);
        self.live_since.retain(|m, _| live.contains_key(m));
        for m in live.into_keys() {
            self.live_since.entry(m).or_insert(now);
        }
    }

    /// Whether the record under `key` has stayed at `version` for a whole lease.
    fn unchanged_for_a_lease(&self, key: &str, version: &str, now: Duration) -> bool {
        self.seen
            .get(key)
            .is_some_and(|s| s.version == version && now >= s.since + self.settings.duration)
    }

    /// The earliest time (boot clock) a lease held by another replica would expire, as this
    /// replica has seen it.
    fn next_expiry(&self) -> Option<Duration> {
        let now = boot_time();
        self.last
            .leases
            .iter()
            .filter(|(shard, r)| !r.is_free() && !self.held.contains_key(*shard))
            .filter_map(|(shard, r)| {
                let seen = self.seen.get(&format!("lease#{shard}"))?;
                let at = seen.since + self.settings.duration;
                (seen.version == r.version && at > now).then_some(at)
            })
            .min()
    }

    /// This replica and every member whose heartbeat moved within a lease, each with the
    /// shards it competes for.
    fn live_members(&self, s: &TableSnapshot, now: Duration) -> BTreeMap<String, BTreeSet<String>> {
        let mut live: BTreeMap<String, BTreeSet<String>> = s
            .members
            .iter()
            .filter(|(r, m)| !self.unchanged_for_a_lease(&format!("member#{r}"), &m.version, now))
            .map(|(r, m)| (r.clone(), m.shards.clone()))
            .collect();
        let mine = self.wanted().unwrap_or_default().into_keys().collect();
        live.insert(self.me.replica.clone(), mine);
        live
    }

    /// Renews every held lease, concurrently.
    async fn renew_all(&mut self) {
        let mut attempts = Vec::new();
        for (shard, h) in &self.held {
            let (version, first_sent) = match &h.pending {
                Some((v, t)) => (v.clone(), Some(*t)),
                None => (String::new(), None),
            };
            attempts.push((
                shard.clone(),
                h.version.clone(),
                version,
                first_sent,
                h.facts_written.clone(),
            ));
        }
        for a in &mut attempts {
            if a.2.is_empty() {
                a.2 = self.next_version();
            }
        }
        let table = &self.table;
        let me = &self.me;
        let results = futures::future::join_all(attempts.into_iter().map(
            |(shard, held, version, first_sent, facts)| async move {
                let sent = boot_time();
                let r = table.renew(&shard, &held, &version, me, &facts).await;
                (shard, version, first_sent, sent, r)
            },
        ))
        .await;
        for (shard, version, first_sent, sent, r) in results {
            let Some(h) = self.held.get_mut(&shard) else {
                continue;
            };
            let result = match r {
                Ok(how) => {
                    // A write that landed unseen was sent at its first attempt (or, when the
                    // SDK retried it within this call, at this call's send time).
                    h.renewed = match how {
                        Renewed::Landed => sent,
                        Renewed::LandedBefore => first_sent.unwrap_or(sent),
                    };
                    h.version = version;
                    h.pending = None;
                    h.fence.extend(h.renewed + self.settings.renew_deadline);
                    match how {
                        Renewed::Landed => "ok",
                        Renewed::LandedBefore => {
                            tracing::info!(shard = %shard, "a renewal whose response was lost had landed: lease kept");
                            "recovered"
                        }
                    }
                }
                Err(TableError::Conflict(now)) => {
                    let by = now
                        .filter(|r| !r.is_free())
                        .map(|r| r.holder())
                        .unwrap_or_else(|| "nobody".into());
                    tracing::warn!(shard = %shard, now_held_by = %by, "lease lost: another replica wrote the record");
                    self.lose(&shard);
                    "lost"
                }
                Err(e) => {
                    h.pending
                        .get_or_insert((version, first_sent.unwrap_or(sent)));
                    let since = boot_time().saturating_sub(h.renewed);
                    tracing::warn!(shard = %shard, error = %e, since_last_renewal = ?since, "lease renewal failed");
                    if since >= self.settings.duration {
                        tracing::warn!(shard = %shard, "lease lost: no renewal landed for a whole lease; another replica may hold it now");
                        self.lose(&shard);
                    }
                    "error"
                }
            };
            self.metrics
                .lease_renewals
                .with_label_values(&[&shard, result])
                .inc();
        }
    }

    /// Drops a held lease: its fence closes at once, and its loops are told to stop now
    /// (not at the end of the pass).
    fn lose(&mut self, shard: &str) {
        if let Some(h) = self.held.remove(shard) {
            h.fence.revoke();
            self.metrics
                .lease_transitions
                .with_label_values(&[shard])
                .inc();
            self.publish_grants();
        }
    }

    /// The shards this replica competes for: the tree's, as the selection keeps them; `None`
    /// before the first valid tree (then nothing is taken, and nothing given up).
    fn wanted(&self) -> Option<BTreeMap<String, ShardId>> {
        let tree = self.tree.borrow().clone()?;
        Some(
            tree.shards
                .keys()
                .filter(|id| self.selection.selects(id))
                .map(|id| (id.to_string(), id.clone()))
                .collect(),
        )
    }

    /// Step 4 of the loop: take what is claimable and meant for this replica (or left unheld
    /// for a lease), hand over what is meant for another, give up what left the tree.
    async fn claim_and_hand_over(&mut self, s: &TableSnapshot, now: Duration) {
        let Some(wanted) = self.wanted() else {
            return;
        };
        // A shard the tree no longer has (its account left): give it up once its loops stop.
        for (shard, h) in self.held.iter_mut() {
            if !wanted.contains_key(shard) && !h.releasing {
                tracing::info!(shard = %shard, "the shard left the desired tree: releasing its lease");
                h.releasing = true;
            }
        }
        let live = self.live_members(s, now);
        let mut holders: BTreeMap<String, String> = BTreeMap::new();
        for (shard, r) in &s.leases {
            let expired = self.unchanged_for_a_lease(&format!("lease#{shard}"), &r.version, now);
            if !r.is_free() && !expired {
                holders.insert(shard.clone(), r.replica.clone());
            }
        }
        for shard in self.held.keys() {
            holders.insert(shard.clone(), self.me.replica.clone());
        }
        let names: BTreeSet<String> = wanted.keys().cloned().collect();
        let plan = assign(&names, &live, &holders);
        let lease = self.settings.duration;
        for (shard, id) in &wanted {
            let target = plan.get(shard);
            let mine = target == Some(&self.me.replica);
            if let Some(h) = self.held.get_mut(shard) {
                let settled = |since: Option<&Duration>| since.is_some_and(|t| now >= *t + lease);
                if !mine
                    && !h.releasing
                    && now >= h.since + lease
                    && settled(target.and_then(|t| self.live_since.get(t)))
                {
                    tracing::info!(shard = %shard, to = target.map(String::as_str).unwrap_or("-"), "handing the lease over (rebalancing)");
                    h.releasing = true;
                }
                continue;
            }
            let record = s.leases.get(shard);
            let claimable = match record {
                None => true,
                Some(r) if r.is_free() => true,
                Some(r) => self.unchanged_for_a_lease(&format!("lease#{shard}"), &r.version, now),
            };
            if !claimable {
                self.free_since.remove(shard);
                continue;
            }
            let free_for = now.saturating_sub(*self.free_since.entry(shard.clone()).or_insert(now));
            if mine || free_for >= lease {
                self.acquire(id, record).await;
            }
        }
    }

    async fn acquire(&mut self, id: &ShardId, seen: Option<&LeaseRecord>) {
        let shard = id.to_string();
        let version = self.next_version();
        let sent = boot_time();
        match self
            .table
            .acquire(&shard, seen, &self.me, &version, self.settings.duration)
            .await
        {
            Ok(r) => {
                tracing::info!(shard = %shard, token = r.token, "lease acquired");
                self.take(id, &shard, r, sent);
            }
            // The write landed but its response was lost (or the SDK retried it): the record
            // names this process at the version it wrote. Safe to hold from `sent`, as a
            // renewal's.
            Err(TableError::Conflict(Some(r))) if r.held_by(&self.me) && r.version == version => {
                tracing::info!(shard = %shard, token = r.token, "lease acquired (the response was lost; the write had landed)");
                self.take(id, &shard, r, sent);
            }
            Err(TableError::Conflict(_)) => {
                tracing::debug!(shard = %shard, "another replica took the lease first");
            }
            Err(e) => tracing::warn!(shard = %shard, error = %e, "cannot take the lease"),
        }
    }

    /// Shares facts both ways (see [`SharedFacts`]), every call concurrent and the whole
    /// bounded by a quarter of the renew deadline (at least 250 ms), so a slow table never
    /// holds up a renewal for long; what is cut short is retried next pass.
    async fn exchange_facts(&mut self, snapshot: Option<&TableSnapshot>) {
        let Some(link) = self.facts.clone() else {
            return;
        };
        let budget = (self.settings.renew_deadline / 4).max(Duration::from_millis(250));
        // Out: each held shard whose facts changed, while its fence is open (a paused
        // ex-holder must not overwrite the new holder's facts; the table also refuses a write
        // under an older token).
        let mut out = Vec::new();
        for (shard, h) in self.held.iter_mut() {
            if h.releasing || !h.fence.allows_mutation() {
                continue;
            }
            let Some(json) = link.export(&h.id) else {
                continue;
            };
            let d = digest(&json);
            if d == h.facts_written || h.oversized.as_ref() == Some(&d) {
                continue;
            }
            if json.len() > MAX_FACTS_BYTES {
                tracing::warn!(shard = %shard, bytes = json.len(), "the shard's facts are too large to share through the lease table (400 KB items): other replicas' references to it wait");
                h.oversized = Some(d);
                // Advertise none, rather than facts that are not there.
                h.facts_written = String::new();
                continue;
            }
            out.push((shard.clone(), json, d, h.token));
        }
        // In: shards held elsewhere whose facts changed, for accounts with a shard here.
        let wanted = self.wanted().unwrap_or_default();
        let mut fetch = Vec::new();
        for (shard, r) in snapshot.map(|s| &s.leases).into_iter().flatten() {
            let Some(id) = wanted.get(shard) else {
                continue;
            };
            if self.held.contains_key(shard) || r.facts_digest.is_empty() || !link.wants(id) {
                continue;
            }
            let seen = (r.facts_digest.clone(), link.epoch(id));
            if self.imported.get(shard) != Some(&seen) {
                fetch.push((shard.clone(), id.clone(), seen));
            }
        }
        if out.is_empty() && fetch.is_empty() {
            return;
        }
        let table = &self.table;
        let puts =
            futures::future::join_all(out.into_iter().map(|(shard, json, d, token)| async move {
                let r = table.put_facts(&shard, &json, &d, token).await;
                (shard, d, r)
            }));
        let gets =
            futures::future::join_all(fetch.into_iter().map(|(shard, id, seen)| async move {
                let r = table.get_facts(&shard).await;
                (shard, id, seen, r)
            }));
        let Ok((put, got)) = tokio::time::timeout(budget, futures::future::join(puts, gets)).await
        else {
            tracing::warn!(budget = ?budget, "sharing facts through the lease table took too long; retried next pass");
            return;
        };
        for (shard, d, r) in put {
            match r {
                Ok(()) => {
                    if let Some(h) = self.held.get_mut(&shard) {
                        h.facts_written = d;
                    }
                }
                Err(TableError::Conflict(_)) => {
                    tracing::info!(shard = %shard, "facts not shared: a later holder wrote them");
                }
                Err(e) => {
                    tracing::warn!(shard = %shard, error = %e, "cannot share the shard's facts")
                }
            }
        }
        for (shard, id, seen, r) in got {
            match r {
                Ok(Some((d, json))) if d == seen.0 => {
                    link.import(&id, &json);
                    tracing::debug!(shard = %shard, digest = %d, "facts of a shard held elsewhere imported");
                    self.imported.insert(shard, seen);
                }
                // Written since the record was read: the next pass reads the newer digest.
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(shard = %shard, error = %e, "cannot read a shard's shared facts")
                }
            }
        }
    }

    /// Records a lease acquired by a write sent at `sent`.
    fn take(&mut self, id: &ShardId, shard: &str, r: LeaseRecord, sent: Duration) {
        let stamp = LeaseStamp {
            holder: self.me.holder(),
            token: r.token,
        };
        self.free_since.remove(shard);
        self.held.insert(
            shard.to_string(),
            Held {
                id: id.clone(),
                version: r.version,
                token: r.token,
                fence: Fence::leased(stamp, sent + self.settings.renew_deadline),
                renewed: sent,
                since: sent,
                pending: None,
                releasing: false,
                facts_written: String::new(),
                oversized: None,
            },
        );
        self.metrics
            .lease_transitions
            .with_label_values(&[shard])
            .inc();
    }

    /// Releases every lease being handed over whose loops have stopped here.
    async fn finish_releases(&mut self) {
        let active = self.active.borrow().clone();
        let done: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.releasing && !active.contains(&h.id))
            .map(|(s, _)| s.clone())
            .collect();
        for shard in done {
            let version = self.next_version();
            let Some(h) = self.held.get(&shard) else {
                continue;
            };
            h.fence.revoke();
            let pending = h.pending.as_ref().map(|(v, _)| v.as_str());
            let released = self
                .table
                .release(&shard, &h.version, pending, &version, &self.me)
                .await;
            match released {
                Ok(()) | Err(TableError::Conflict(_)) => {
                    if released.is_ok() {
                        tracing::info!(shard = %shard, token = h.token, "lease released");
                    } else {
                        tracing::warn!(shard = %shard, token = h.token, "lease not released: the record had already changed (another replica holds it, or it will once it expires)");
                    }
                    self.held.remove(&shard);
                    self.metrics
                        .lease_transitions
                        .with_label_values(&[&shard])
                        .inc();
                }
                // Kept (and renewed) until the release lands; its loops stay stopped.
                Err(e) => tracing::warn!(shard = %shard, error = %e, "cannot release the lease"),
            }
        }
    }

    /// The grants: every held shard not being released.
    fn publish_grants(&mut self) {
        let grants: GrantMap = self
            .held
            .values()
            .filter(|h| !h.releasing)
            .map(|h| (h.id.clone(), h.fence.clone()))
            .collect();
        let changed = {
            let cur = self.grants.borrow();
            cur.len() != grants.len()
                || cur.iter().zip(grants.iter()).any(|((a, fa), (b, fb))| {
                    a != b || fa.stamp().map(|s| s.token) != fb.stamp().map(|s| s.token)
                })
        };
        if changed {
            self.grants.send_replace(grants);
        }
    }

    /// Grants, metrics and `/status`.
    fn publish(&mut self) {
        self.publish_grants();
        let now = boot_time();
        let mut shards: BTreeSet<String> = self.wanted().unwrap_or_default().into_keys().collect();
        shards.extend(self.held.keys().cloned());
        // A shard that left the tree (and is not held) is no longer reported: a stale 0 would
        // read as "nobody holds it" and page.
        for gone in self.published.difference(&shards) {
            let _ = self.metrics.lease_held.remove_label_values(&[gone]);
            let _ = self.metrics.lease_renew_age.remove_label_values(&[gone]);
        }
        self.published = shards.clone();
        let mut view = Vec::new();
        for shard in &shards {
            let held = self.held.get(shard);
            let record = self.last.leases.get(shard);
            self.metrics
                .lease_held
                .with_label_values(&[shard])
                .set(i64::from(held.is_some()));
            // From 0, so `increase()` counts this process's first acquisition too.
            self.metrics.lease_transitions.with_label_values(&[shard]);
            let renew_age = held.map(|h| now.saturating_sub(h.renewed).as_secs_f64());
            match renew_age {
                Some(age) => self
                    .metrics
                    .lease_renew_age
                    .with_label_values(&[shard])
                    .set(age),
                None => {
                    let _ = self.metrics.lease_renew_age.remove_label_values(&[shard]);
                }
            }
            let (holder, token) = match (held, record) {
                (Some(h), _) => (Some(self.me.holder()), h.token),
                (None, Some(r)) if !r.is_free() => (Some(r.holder()), r.token),
                (None, Some(r)) => (None, r.token),
                (None, None) => (None, 0),
            };
            let state = match held {
                Some(h) if h.releasing => "releasing",
                Some(h) if !h.fence.allows_mutation() => "fenced",
                Some(_) => "held",
                None if holder.is_some() => "standby",
                None => "unheld",
            };
            view.push(ShardLeaseView {
                shard: shard.clone(),
                holder,
                token,
                held_here: held.is_some(),
                state,
                renew_age_seconds: renew_age,
            });
        }
        let reachable = self
            .last_read
            .is_some_and(|t| now < t + self.settings.duration);
        self.fleet.set_lease_view(LeaseView {
            table: self.table.name().to_string(),
            replica: self.me.replica.clone(),
            process: self.me.process.clone(),
            table_reachable: reachable,
            last_read_age_seconds: self.last_read.map(|t| now.saturating_sub(t).as_secs_f64()),
            members: self.live_since.keys().cloned().collect(),
            shards: view,
        });
    }
}
