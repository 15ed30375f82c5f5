//! Facts published by kinds for other kinds to refer to (a security group's id, a load
//! balancer's DNS name, a scaling policy's ARN). A missing fact makes a diff
//! wait ([`Waiting`](super::Waiting)), and publishing one wakes the kinds that wait. The keys
//! are typed ([`crate::core::Fact`]); this store holds their text.
//!
//! One store serves every shard of an account, each shard publishing under its region (or
//! `global`), because references cross shards where AWS allows it: an Auto Scaling group in
//! any region uses the account's instance profile (IAM is global), a DNS record (Route 53 is
//! global) points at a load balancer of some region.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

/// The pseudo-kind under which a shard records the kinds its resources wait for (name → no
/// facts). It travels with the shard's facts, to other replicas too, so a kind with nothing
/// desired anywhere in its shard, which lists nothing, starts listing once a resource of the
/// account waits for one of its resources (an existing security group a load balancer names).
const DEMAND: &str = "~demanded";

/// One kind's facts in one shard: name → fact → value.
pub type KindFacts = BTreeMap<String, BTreeMap<String, String>>;
/// One shard's facts: kind → its facts. Each kind's are shared between snapshots: a change
/// copies the one kind it changes, not the store (readers hold older snapshots a while; at
/// fleet scale a copy of every kind's facts per change was megabytes each).
pub type Snapshot = BTreeMap<String, Arc<KindFacts>>;
/// An account's facts: region (or `global`) → that shard's facts.
pub type AccountSnapshot = BTreeMap<String, Snapshot>;

/// Shared, versioned store of an account's facts, as one shard sees it: it publishes under
/// its own region and reads every shard's.
#[derive(Clone)]
pub struct Facts {
    inner: Arc<RwLock<Arc<AccountSnapshot>>>,
    version: watch::Sender<u64>,
    region: String,
}

impl Default for Facts {
    fn default() -> Self {
        Facts::new("local")
    }
}

impl Facts {
    /// A new account's store, seen from the shard of `region`.
    pub fn new(region: &str) -> Facts {
        Facts {
            inner: Arc::new(RwLock::new(Arc::new(AccountSnapshot::new()))),
            version: watch::channel(0).0,
            region: region.to_string(),
        }
    }

    /// The same account's store, seen from the shard of `region`.
    pub fn for_region(&self, region: &str) -> Facts {
        Facts {
            region: region.to_string(),
            ..self.clone()
        }
    }

    /// The region (or `global`) this view publishes under.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// This view's own shard in `snapshot`.
    pub fn own<'a>(&self, snapshot: &'a AccountSnapshot) -> Option<&'a Snapshot> {
        snapshot.get(&self.region)
    }

    /// Applies `change` to a copy of the store and publishes it, unless `unchanged` says there
    /// is nothing to do; wakes waiters when it publishes. (Readers hold snapshots: a change
    /// never alters one under them.)
    fn change<T>(
        &self,
        value: T,
        unchanged: impl FnOnce(&AccountSnapshot, &T) -> bool,
        change: impl FnOnce(&mut AccountSnapshot, T),
    ) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        if unchanged(&guard, &value) {
            return;
        }
        let mut next = (**guard).clone();
        change(&mut next, value);
        *guard = Arc::new(next);
        drop(guard);
        self.version.send_modify(|v| *v += 1);
    }

    /// Replaces everything `kind` published with `by_name`; wakes waiters if anything changed.
    pub fn publish(&self, kind: &str, by_name: KindFacts) {
        let region = &self.region;
        self.change(
            by_name,
            |s, by_name| s.get(region).and_then(|s| s.get(kind)).map(|k| &**k) == Some(by_name),
            |next, by_name| {
                next.entry(region.clone())
                    .or_default()
                    .insert(kind.to_string(), Arc::new(by_name));
            },
        );
    }

    /// Adds or updates one resource's facts (after a create).
    pub fn upsert(&self, kind: &str, name: &str, facts: BTreeMap<String, String>) {
        let region = &self.region;
        self.change(
            facts,
            |s, facts| {
                s.get(region)
                    .and_then(|s| s.get(kind))
                    .and_then(|k| k.get(name))
                    == Some(facts)
            },
            |next, facts| {
                let of_kind = next
                    .entry(region.clone())
                    .or_default()
                    .entry(kind.to_string())
                    .or_default();
                Arc::make_mut(of_kind).insert(name.to_string(), facts);
            },
        );
    }

    /// Replaces everything the shard of `region` published with `facts` (that shard runs on
    /// another replica, which shared them: high availability); wakes waiters if anything
    /// changed.
    pub fn replace_region(&self, region: &str, facts: Snapshot) {
        self.change(
            facts,
            |s, facts| s.get(region) == Some(facts),
            |next, facts| {
                next.insert(region.to_string(), facts);
            },
        );
    }

    /// Records that a resource of this shard waits for a resource of `kind`; wakes waiters the
    /// first time.
    pub fn demand(&self, kind: &str) {
        let region = &self.region;
        self.change(
            (),
            |s, ()| {
                s.get(region)
                    .and_then(|s| s.get(DEMAND))
                    .is_some_and(|d| d.contains_key(kind))
            },
            |next, ()| {
                let demanded = next
                    .entry(region.clone())
                    .or_default()
                    .entry(DEMAND.to_string())
                    .or_default();
                Arc::make_mut(demanded).insert(kind.to_string(), BTreeMap::new());
            },
        );
    }

    /// Whether a resource of any shard of the account waits (or waited) for one of `kind`.
    pub fn demanded(&self, kind: &str) -> bool {
        self.snapshot()
            .values()
            .any(|s| s.get(DEMAND).is_some_and(|d| d.contains_key(kind)))
    }

    /// Takes back everything `kind` published (it has nothing desired and lists nothing any
    /// more): its old facts would otherwise outlive what they describe.
    pub fn withdraw(&self, kind: &str) {
        let region = &self.region;
        self.change(
            (),
            |s, ()| !s.get(region).is_some_and(|s| s.contains_key(kind)),
            |next, ()| {
                if let Some(own) = next.get_mut(region) {
                    own.remove(kind);
                }
            },
        );
    }

    pub fn snapshot(&self) -> Arc<AccountSnapshot> {
        self.inner
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|_| Arc::new(AccountSnapshot::new()))
    }

    /// A receiver that changes whenever a fact does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// One resource's facts in one shard.
pub fn of<'a>(s: &'a Snapshot, kind: &str, name: &str) -> Option<&'a BTreeMap<String, String>> {
    s.get(kind)?.get(name)
}
