//! Test fixtures for kinds' diff tables: a diff context with chosen facts and desired
//! resources, without a server.

use std::collections::BTreeMap;

use crate::core::facts::Published;
use crate::core::model::DesiredResource;
use crate::core::{DesiredSet, Fact, FactFamily, Origin};
use crate::engine::facts::{AccountSnapshot, KindFacts};
use crate::engine::{DiffCtx, Kind};

/// The controller id every fixture context uses.
pub const CONTROLLER: &str = "test";
/// The region of the shard every fixture context diffs in.
pub const REGION: &str = "us-east-1";

/// What a diff sees: facts other kinds published, and the desired state.
pub struct Fixture {
    pub facts: AccountSnapshot,
    pub desired: DesiredSet,
    /// The shard's region (or `global`).
    pub region: &'static str,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            facts: AccountSnapshot::new(),
            desired: DesiredSet::default(),
            region: REGION,
        }
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::default()
    }

    /// Diffs in the shard of `region` (`global` for the account's global services).
    pub fn in_region(mut self, region: &'static str) -> Fixture {
        self.region = region;
        self
    }

    /// A fact published for `name` in this fixture's shard.
    pub fn fact(self, fact: Fact, name: &str, value: &str) -> Fixture {
        let region = self.region;
        self.fact_at(region, fact, name, value)
    }

    /// A fact published for `name` in the shard of `region`.
    pub fn fact_at(mut self, region: &str, fact: Fact, name: &str, value: &str) -> Fixture {
        self.kind_in(region, fact.kind)
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
        let region = self.region;
        self.kind_in(region, family.kind)
            .entry(name.to_string())
            .or_default()
            .insert(family.key(qualifier), value.to_string());
        self
    }

    /// A kind that has listed, with no resources (so references to it resolve or pass through).
    pub fn listed(mut self, kind: &str) -> Fixture {
        let region = self.region;
        self.kind_in(region, kind);
        self
    }

    /// What `kind` published in the shard of `region` (created empty: it has listed).
    fn kind_in(&mut self, region: &str, kind: &str) -> &mut KindFacts {
        let of_kind = self
            .facts
            .entry(region.to_string())
            .or_default()
            .entry(kind.to_string())
            .or_default();
        std::sync::Arc::make_mut(of_kind)
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

    /// `kind`/`name` desired in another shard of the account (the shard of `region`).
    pub fn desired_at(mut self, region: &str, kind: &str, name: &str) -> Fixture {
        std::sync::Arc::make_mut(&mut self.desired.account)
            .entry(region.to_string())
            .or_default()
            .entry(kind.to_string())
            .or_default()
            .insert(name.to_string());
        self
    }

    pub fn ctx(&self) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: CONTROLLER,
            region: self.region,
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
