//! The load-time side of a kind: its manifest name, its spec type and the checks and
//! expansions that need no AWS. The desired-state loader works only with this; the run-time
//! side (observe, diff, apply) is the engine's `Kind`, which extends it.
//!
//! [`Registry`] is every schema one build knows, looked up by manifest `kind`. It is a trait
//! with associated functions (no value) because the loader types a spec while serde reads it,
//! inside `Deserialize` implementations that carry no state; the kinds module implements it
//! with one line per kind.

use std::fmt;

use serde::de::{Deserializer, Error as _};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_saphyr::Spanned;

/// How a kind spells the tags in its spec, so standard tags can be added without knowing the
/// kind's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStyle {
    /// The kind has no tags (a DNS record).
    None,
    /// `tags: {key: value}`.
    Map,
    /// `tags: [{key, value, propagate_at_launch}]` (Auto Scaling groups, whose instances read
    /// the tags at boot, so added tags propagate at launch). A map is accepted as well.
    List,
}

/// A resource implied by another one (see [`Schema::expand`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub kind: &'static str,
    pub name: String,
    /// The spec, as the derived kind's YAML would be written.
    pub spec: serde_json::Value,
}

/// A reference from one resource's spec to another resource by name (a security group a load
/// balancer uses), so the loader can check it can be honoured across shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: &'static str,
    pub name: String,
    /// The region written with the reference (`loadbalancer:us-east-1/web`), if any.
    pub region: Option<String>,
    /// The field it is written in, for messages (`security_groups`).
    pub field: &'static str,
}

/// One kind of resource as manifests write it.
pub trait Schema: Sized + 'static {
    /// The manifest `kind`, also the `kind` metric label.
    const NAME: &'static str;
    /// How the spec spells its tags.
    const TAGS: TagStyle = TagStyle::Map;
    /// A global service (IAM, Route 53): one per account, in the account's `global` shard, and
    /// names unique per account. Otherwise names are unique per account and region.
    const GLOBAL: bool = false;
    /// The spec as written in YAML (unknown fields must be rejected).
    type Spec: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static;

    /// Checks a resource name (length, characters) as AWS would.
    fn validate_name(name: &str) -> Result<(), String>;

    /// Checks that go beyond the schema; each message names its field.
    fn validate(_name: &str, _spec: &Self::Spec) -> Vec<String> {
        Vec::new()
    }

    /// Resources of other kinds that this resource implies (e.g. a load balancer's `cnames`
    /// become `DnsRecord`s), for a resource placed in `region` (or `global`). They are loaded,
    /// validated and reconciled like written ones.
    fn expand(_name: &str, _spec: &Self::Spec, _region: &str) -> Vec<Derived> {
        Vec::new()
    }

    /// The other resources this spec names, for the checks across shards.
    fn references(_spec: &Self::Spec) -> Vec<Reference> {
        Vec::new()
    }
}

/// Every schema a build knows, by manifest `kind`. Each function answers for an unknown kind
/// with an error (or nothing) rather than a panic.
pub trait Registry: 'static {
    /// Every kind, by manifest name.
    fn names() -> &'static [&'static str];
    /// How `kind` spells its tags (`None` for an unknown kind).
    fn tag_style(kind: &str) -> Option<TagStyle>;
    /// Deserialises a spec straight from the YAML into the kind's typed spec (so errors carry
    /// their own line and column), returning it as JSON.
    fn typed_spec<'de, D: Deserializer<'de>>(
        kind: &str,
        d: D,
    ) -> Result<Spanned<serde_json::Value>, D::Error>;
    /// Types a spec held as JSON (read before its `kind`, or built by the loader).
    fn retype(kind: &str, spec: serde_json::Value) -> Result<serde_json::Value, String>;
    /// Checks a resource name as AWS would for this kind.
    fn validate_name(kind: &str, name: &str) -> Result<(), String>;
    /// The kind's checks beyond the schema.
    fn validate_spec(kind: &str, name: &str, spec: &serde_json::Value) -> Vec<String>;
    /// Resources implied by this one (see [`Schema::expand`]).
    fn expand(kind: &str, name: &str, spec: &serde_json::Value, region: &str) -> Vec<Derived>;
    /// True for a global kind (see [`Schema::GLOBAL`]); false for an unknown one.
    fn is_global(kind: &str) -> bool;
    /// The resources this spec names (see [`Schema::references`]).
    fn references(kind: &str, spec: &serde_json::Value) -> Vec<Reference>;
}

/// The error for a kind the registry does not know.
pub fn unknown_kind(kind: &str) -> String {
    format!("unknown kind `{kind}`")
}

/// [`Registry::typed_spec`] for one schema.
pub fn typed_spec<'de, S: Schema, D: Deserializer<'de>>(
    d: D,
) -> Result<Spanned<serde_json::Value>, D::Error> {
    let s: Spanned<S::Spec> = Spanned::deserialize(d)?;
    let v = serde_json::to_value(&s.value).map_err(D::Error::custom)?;
    Ok(Spanned::new(v, s.referenced, s.defined))
}

/// [`Registry::retype`] for one schema.
pub fn retype<S: Schema>(v: serde_json::Value) -> Result<serde_json::Value, String> {
    let spec: S::Spec = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(&spec).map_err(|e| e.to_string())
}

/// [`Registry::validate_spec`] for one schema.
pub fn validate_spec<S: Schema>(name: &str, v: &serde_json::Value) -> Vec<String> {
    match S::Spec::deserialize(v) {
        Ok(spec) => S::validate(name, &spec),
        Err(e) => vec![format!("spec: {e}")],
    }
}

/// [`Registry::expand`] for one schema.
pub fn expand<S: Schema>(name: &str, v: &serde_json::Value, region: &str) -> Vec<Derived> {
    S::Spec::deserialize(v)
        .map(|spec| S::expand(name, &spec, region))
        .unwrap_or_default()
}

/// [`Registry::references`] for one schema.
pub fn references<S: Schema>(v: &serde_json::Value) -> Vec<Reference> {
    S::Spec::deserialize(v)
        .map(|spec| S::references(&spec))
        .unwrap_or_default()
}
