//! Typed keys of facts: what one kind publishes about each of its resources (a security
//! group's id, a load balancer's DNS name, a scaling policy's ARN) for other kinds to refer
//! to. Each key is declared once, as a constant next to the others of its kind, so a consumer
//! cannot misspell one; the engine stores and serves the values.

use std::collections::BTreeMap;

/// One fact: the kind that publishes it and its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fact {
    pub kind: &'static str,
    pub key: &'static str,
}

impl Fact {
    pub const fn new(kind: &'static str, key: &'static str) -> Fact {
        Fact { kind, key }
    }
}

/// A family of facts, one per qualifier (e.g. one ARN per scaling policy of a group), stored
/// under `<prefix>:<qualifier>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactFamily {
    pub kind: &'static str,
    pub prefix: &'static str,
}

impl FactFamily {
    pub const fn new(kind: &'static str, prefix: &'static str) -> FactFamily {
        FactFamily { kind, prefix }
    }

    /// The stored key of one member.
    pub fn key(&self, qualifier: &str) -> String {
        format!("{}:{qualifier}", self.prefix)
    }
}

/// The facts one resource publishes: key → value. Only facts of the publishing kind can be
/// set (a fact of another kind would be stored where no consumer looks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    kind: &'static str,
    values: BTreeMap<String, String>,
}

impl Published {
    pub fn new(kind: &'static str) -> Published {
        Published {
            kind,
            values: BTreeMap::new(),
        }
    }

    /// Sets `fact` (ignored, and a debug assertion, if it belongs to another kind).
    pub fn set(&mut self, fact: Fact, value: impl Into<String>) {
        debug_assert_eq!(fact.kind, self.kind, "a kind publishes only its own facts");
        if fact.kind == self.kind {
            self.values.insert(fact.key.to_string(), value.into());
        }
    }

    /// Sets one member of `family`.
    pub fn set_in(&mut self, family: FactFamily, qualifier: &str, value: impl Into<String>) {
        debug_assert_eq!(
            family.kind, self.kind,
            "a kind publishes only its own facts"
        );
        if family.kind == self.kind {
            self.values.insert(family.key(qualifier), value.into());
        }
    }

    pub fn into_values(self) -> BTreeMap<String, String> {
        self.values
    }
}
