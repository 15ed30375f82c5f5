//! Facts published by kinds for other kinds to refer to (a security group's id, a load
//! balancer's DNS name, a scaling policy's ARN). A missing fact makes a diff
//! wait ([`Waiting`](super::Waiting)), and publishing one wakes the kinds that wait. The keys
//! are typed ([`crate::core::Fact`]); this store holds their text.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

/// kind → name → fact → value.
pub type Snapshot = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// Shared, versioned store of facts.
#[derive(Clone)]
pub struct Facts {
    inner: Arc<RwLock<Arc<Snapshot>>>,
    version: watch::Sender<u64>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            inner: Arc::new(RwLock::new(Arc::new(Snapshot::new()))),
            version: watch::channel(0).0,
        }
    }
}

impl Facts {
    /// Replaces everything `kind` published with `by_name`; wakes waiters if anything changed.
    pub fn publish(&self, kind: &str, by_name: BTreeMap<String, BTreeMap<String, String>>) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        if guard.get(kind) == Some(&by_name) {
            return;
        }
        let mut next = (**guard).clone();
        next.insert(kind.to_string(), by_name);
        *guard = Arc::new(next);
        drop(guard);
        self.version.send_modify(|v| *v += 1);
    }

    /// Adds or updates one resource's facts (after a create).
    pub fn upsert(&self, kind: &str, name: &str, facts: BTreeMap<String, String>) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        if guard.get(kind).and_then(|k| k.get(name)) == Some(&facts) {
            return;
        }
        let mut next = (**guard).clone();
        next.entry(kind.to_string())
            .or_default()
            .insert(name.to_string(), facts);
        *guard = Arc::new(next);
        drop(guard);
        self.version.send_modify(|v| *v += 1);
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|_| Arc::new(Snapshot::new()))
    }

    /// A receiver that changes whenever a fact does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// Looks up one fact.
pub fn get<'a>(s: &'a Snapshot, kind: &str, name: &str, fact: &str) -> Option<&'a str> {
    s.get(kind)?.get(name)?.get(fact).map(String::as_str)
}
