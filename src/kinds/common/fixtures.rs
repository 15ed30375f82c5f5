//! Test fixtures for kinds' diff tables: a diff context with chosen facts and desired
//! resources, without a server.

use std::collections::BTreeMap;

use crate::core::facts::Published;
use crate::core::model::DesiredResource;
use crate::core::{DesiredSet, Fact, FactFamily, Origin};
use crate::engine::facts::Snapshot;
use crate::engine::{DiffCtx, Kind};

/// The controller id every fixture context uses.
pub const CONTROLLER: &str = "test";

/// What a diff sees: facts other kinds published, and the desired state.
#[derive(Default)]
pub struct Fixture {
    pub facts: Snapshot,
    pub desired: DesiredSet,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::default()
    }

    /// A fact published for `name`.
    pub fn fact(mut self, fact: Fact, name: &str, value: &str) -> Fixture {
        self.facts
            .entry(fact.kind.to_string())
            .or_default()
            .entry(name.to_string())
            .or_default()
            .insert(fact.key.to_string(), value.to_string());
        self
    }

    /// A member of a family of facts published for `name`.
    pub fn fact_in(
        mut self,
        family: FactFamily,
        name: &str,
        qualifier: &str,
        value: &str,
    ) -> Fixture {
        self.facts
            .entry(family.kind.to_string())
            .or_default()
            .entry(name.to_string())
            .or_default()
            .insert(family.key(qualifier), value.to_string());
        self
    }

    /// A kind that has listed, with no resources (so references to it resolve or pass through).
    pub fn listed(mut self, kind: &str) -> Fixture {
        self.facts.entry(kind.to_string()).or_default();
        self
    }

    /// `kind`/`name` in the desired state (spec `{}`).
    pub fn desired(mut self, kind: &str, name: &str) -> Fixture {
        let origin = Origin {
            file: "test.yaml".into(),
            line: 1,
            column: 1,
        };
        self.desired.insert(DesiredResource::new(
            kind,
            name,
            serde_json::json!({}),
            origin,
        ));
        self
    }

    pub fn ctx(&self) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: CONTROLLER,
            facts: &self.facts,
            desired: &self.desired,
        }
    }
}

/// A string map from pairs.
pub fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What `K` publishes for one live resource, key → value.
pub fn published<K: Kind>(name: &str, live: &K::Live) -> BTreeMap<String, String> {
    let mut out = Published::new(K::NAME);
    K::facts(name, live, &mut out);
    out.into_values()
}
