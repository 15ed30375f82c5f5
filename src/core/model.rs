//! The desired-state data model: what the loader produces and the engine reconciles.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::watch;

use super::shard::{Accounts, ShardId, GLOBAL};
use super::source::Origin;

/// Label on every resource rendered for a service instance: `<service>/<instance>`.
pub const LABEL_INSTANCE: &str = "converge/instance";
/// Label on every resource rendered for a service instance: the instance's region; on any other
/// resource, its `metadata.region`.
pub const LABEL_REGION: &str = "converge/region";
/// The account alias a resource is placed in (the instance's, or `metadata.account`).
pub const LABEL_ACCOUNT: &str = "converge/account";
/// Label on every resource rendered in a service directory: the service's name.
pub const LABEL_SERVICE: &str = "converge/service";
/// Label on a resource implied by another one: `<kind>/<name>` of the one that implies it.
pub const LABEL_DERIVED_FROM: &str = "converge/derived-from";

/// The current desired state of one shard as its controllers see it: `None` until a valid tree
/// is loaded.
pub type DesiredRx = watch::Receiver<Option<Arc<DesiredSet>>>;
/// The current desired tree (every shard): `None` until a valid tree is loaded.
pub type TreeRx = watch::Receiver<Option<Arc<DesiredTree>>>;

/// How the last read of the desired directory went (served in `/status` and the console):
/// every problem of an invalid tree, `file:line:column: message`, while the last good tree
/// stays in force.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadReport {
    /// The read worked (false before the first read).
    pub valid: bool,
    /// RFC 3339 time of that read; `None` before the first.
    pub at: Option<String>,
    /// The tree could not be read at all (`problems` says why).
    pub unreadable: bool,
    pub problems: Vec<String>,
}

/// The last [`LoadReport`], as the reloader publishes it.
pub type LoadReportRx = watch::Receiver<LoadReport>;

/// One desired resource, its spec already checked against the kind's schema.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    pub kind: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The typed spec, normalised back to JSON (it deserialises into the kind's spec type).
    /// Shared: a reload that reuses a file's rendering ([`crate::desired::reuse`]) shares it.
    pub spec: SpecText,
    pub origin: Origin,
    /// A hash of the normalised spec: it changes exactly when the desired spec changes.
    pub hash: u64,
}

/// A desired spec as it is kept: its normalised JSON as compact text, shared. The desired
/// state is the largest thing converge holds at fleet scale (11,001 resources at N = 1,000),
/// and a `serde_json::Value` costs a B-tree node per object and a heap string per key: the
/// text is a fraction of that (see BENCHMARKS.md, "Memory"). It is read back where it is
/// needed: typed by the kind's controller when the spec changes ([`SpecText::parse`]), or as JSON
/// while a tree is loaded ([`SpecText::value`]). Keys are in the order `Value` keeps them (sorted),
/// so the text, like the hash, is the same for equal specs.
#[derive(Clone, PartialEq, Eq)]
pub struct SpecText(Arc<str>);

impl SpecText {
    /// The spec as JSON.
    pub fn value(&self) -> serde_json::Value {
        // The text is this type's own rendering of a `Value`: it parses back to the same one.
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// The spec as `T` (a kind's spec type).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl From<&serde_json::Value> for SpecText {
    fn from(value: &serde_json::Value) -> Self {
        // Rendering a `Value` cannot fail (its keys are strings).
        SpecText(value.to_string().into())
    }
}

impl From<serde_json::Value> for SpecText {
    fn from(value: serde_json::Value) -> Self {
        SpecText::from(&value)
    }
}

impl std::fmt::Display for SpecText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for SpecText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl DesiredResource {
    /// A resource with no labels, its hash computed from `spec`.
    pub fn new(kind: &str, name: &str, spec: serde_json::Value, origin: Origin) -> Self {
        DesiredResource {
            kind: kind.to_string(),
            name: name.to_string(),
            labels: BTreeMap::new(),
            hash: hash_json(&spec),
            spec: SpecText::from(&spec),
            origin,
        }
    }

    /// `rendered for <service>/<instance>` for a resource rendered from a template.
    pub fn context(&self) -> Option<String> {
        match (
            self.labels.get(LABEL_INSTANCE),
            self.labels.get(LABEL_SERVICE),
        ) {
            (Some(i), _) => Some(format!("rendered for {i}")),
            (None, Some(s)) => Some(format!("rendered for {s} (shared)")),
            (None, None) => None,
        }
    }

    /// Where it was written, with the instance it was rendered for.
    pub fn located(&self) -> String {
        match self.context() {
            Some(c) => format!("{} ({c})", self.origin),
            None => self.origin.to_string(),
        }
    }
}

/// A complete, valid desired state.
#[derive(Debug, Clone, Default)]
pub struct DesiredSet {
    /// Increases by one each time a changed, valid tree is loaded (0: nothing loaded yet).
    pub generation: u64,
    /// The revision the tree names (the deploy hook's `.converge-revision`), if any.
    pub revision: Option<String>,
    /// A hash of every file's path and content: equal fingerprints mean nothing changed.
    pub fingerprint: u64,
    /// kind → name → resource. Shared: a reload reuses what did not change (and so do the
    /// loader's caches), without copying it.
    pub resources: BTreeMap<String, BTreeMap<String, Arc<DesiredResource>>>,
    /// What the account's shards desire (this one included), for references across shards.
    pub account: Arc<AccountIndex>,
}

impl DesiredSet {
    /// The desired resources of one kind, by name.
    pub fn of_kind(&self, kind: &str) -> Option<&BTreeMap<String, Arc<DesiredResource>>> {
        self.resources.get(kind)
    }

    /// True when `kind`/`name` is desired in the shard of `region` of this set's account.
    pub fn contains_in(&self, region: &str, kind: &str, name: &str) -> bool {
        self.account
            .get(region)
            .and_then(|k| k.get(kind))
            .is_some_and(|n| n.contains(name))
    }

    /// The regions of this set's account (not `global`) that desire `kind`/`name`.
    pub fn regions_of(&self, kind: &str, name: &str) -> Vec<&str> {
        self.account
            .iter()
            .filter(|(r, k)| r.as_str() != GLOBAL && k.get(kind).is_some_and(|n| n.contains(name)))
            .map(|(r, _)| r.as_str())
            .collect()
    }

    /// True when `kind`/`name` is desired in this set.
    pub fn contains(&self, kind: &str, name: &str) -> bool {
        self.of_kind(kind).is_some_and(|m| m.contains_key(name))
    }

    /// Adds (or replaces) one resource.
    pub fn insert(&mut self, resource: impl Into<Arc<DesiredResource>>) {
        let resource = resource.into();
        self.resources
            .entry(resource.kind.clone())
            .or_default()
            .insert(resource.name.clone(), resource);
    }

    /// How many resources, all kinds together.
    pub fn len(&self) -> usize {
        self.resources.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What each shard of an account desires, by name: region (or `global`) → kind → names.
/// Every shard of the account shares it, so a diff can tell a reference to a resource of
/// another shard that is still to be created (wait) from one managed elsewhere.
pub type AccountIndex = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// A complete, valid desired tree: every shard's resources and the accounts.
#[derive(Debug, Clone, Default)]
pub struct DesiredTree {
    pub generation: u64,
    pub revision: Option<String>,
    pub fingerprint: u64,
    pub accounts: Accounts,
    /// The regions the tree names (instances, metadata), for messages.
    pub regions: BTreeSet<String>,
    pub shards: BTreeMap<ShardId, Arc<DesiredSet>>,
}

impl DesiredTree {
    /// How many resources, every shard together.
    pub fn len(&self) -> usize {
        self.shards.values().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One shard's part, or an empty set of this generation when the tree has none for it
    /// (so a shard that lost every resource sees an empty desired state, which never prunes).
    pub fn shard(&self, id: &ShardId) -> Arc<DesiredSet> {
        match self.shards.get(id) {
            Some(s) => s.clone(),
            None => Arc::new(DesiredSet {
                generation: self.generation,
                revision: self.revision.clone(),
                fingerprint: self.fingerprint,
                ..DesiredSet::default()
            }),
        }
    }

    /// Sets the generation on the tree and every shard's part.
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
        for set in self.shards.values_mut() {
            Arc::make_mut(set).generation = generation;
        }
    }
}

/// Stable-within-a-process hash of a JSON value.
pub fn hash_json(v: &serde_json::Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::SpecText;

    #[test]
    fn a_spec_text_reads_back_as_the_json_and_the_type_it_was_made_from() {
        let json = serde_json::json!({"b": {"y": [1, 2.5, "x"], "a": null}, "a": true});
        let text = SpecText::from(&json);
        assert_eq!(text.value(), json);
        assert_eq!(
            text.to_string(),
            r#"{"a":true,"b":{"a":null,"y":[1,2.5,"x"]}}"#,
            "keys sorted, compact"
        );
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Typed {
            a: bool,
        }
        assert_eq!(text.parse::<Typed>().ok(), Some(Typed { a: true }));
        assert!(
            text.parse::<Vec<u8>>().is_err(),
            "a mismatched type is an error"
        );
    }
}
