//! The desired-state data model: what the loader produces and the engine reconciles.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::watch;

use super::source::Origin;

/// Label on every resource rendered for a service instance: `<service>/<instance>`.
pub const LABEL_INSTANCE: &str = "converge/instance";
/// Label on every resource rendered for a service instance: the instance's region.
pub const LABEL_REGION: &str = "converge/region";
/// Label on every resource rendered in a service directory: the service's name.
pub const LABEL_SERVICE: &str = "converge/service";
/// Label on a resource implied by another one: `<kind>/<name>` of the one that implies it.
pub const LABEL_DERIVED_FROM: &str = "converge/derived-from";

/// The current desired state as seen by the controllers: `None` until a valid tree is loaded.
pub type DesiredRx = watch::Receiver<Option<Arc<DesiredSet>>>;

/// One desired resource, its spec already checked against the kind's schema.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    pub kind: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The typed spec, normalised back to JSON (it deserialises into the kind's spec type).
    pub spec: serde_json::Value,
    pub origin: Origin,
    /// A hash of the normalised spec: it changes exactly when the desired spec changes.
    pub hash: u64,
}

impl DesiredResource {
    /// A resource with no labels, its hash computed from `spec`.
    pub fn new(kind: &str, name: &str, spec: serde_json::Value, origin: Origin) -> Self {
        DesiredResource {
            kind: kind.to_string(),
            name: name.to_string(),
            labels: BTreeMap::new(),
            hash: hash_json(&spec),
            spec,
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
    /// kind → name → resource.
    pub resources: BTreeMap<String, BTreeMap<String, DesiredResource>>,
}

impl DesiredSet {
    /// The desired resources of one kind, by name.
    pub fn of_kind(&self, kind: &str) -> Option<&BTreeMap<String, DesiredResource>> {
        self.resources.get(kind)
    }

    /// True when `kind`/`name` is desired.
    pub fn contains(&self, kind: &str, name: &str) -> bool {
        self.of_kind(kind).is_some_and(|m| m.contains_key(name))
    }

    /// Adds (or replaces) one resource.
    pub fn insert(&mut self, resource: DesiredResource) {
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

/// Service instances a controller left out because they are in another region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `<service>/<instance>`.
    pub instance: String,
    pub region: String,
    /// How many resources (derived ones included) were left out.
    pub resources: usize,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instance {} is in {}: its {} resource(s) are left to a controller for that region",
            self.instance, self.region, self.resources
        )
    }
}

/// Keeps only what belongs to `region`: resources rendered for an instance in another region
/// are removed (they are still rendered and validated, so one broken template fails every
/// controller alike). Resources written outside service directories have no region of their
/// own and are always kept. Returns what was left out, by instance.
pub fn retain_region(set: &mut DesiredSet, region: &str) -> Vec<Skipped> {
    let mut skipped: BTreeMap<(String, String), usize> = BTreeMap::new();
    for by_name in set.resources.values_mut() {
        by_name.retain(|_, res| match res.labels.get(LABEL_REGION) {
            Some(r) if r != region => {
                let instance = res.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default();
                *skipped.entry((instance, r.clone())).or_default() += 1;
                false
            }
            _ => true,
        });
    }
    set.resources.retain(|_, by_name| !by_name.is_empty());
    skipped
        .into_iter()
        .map(|((instance, region), resources)| Skipped {
            instance,
            region,
            resources,
        })
        .collect()
}

/// Stable-within-a-process hash of a JSON value.
pub fn hash_json(v: &serde_json::Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}
