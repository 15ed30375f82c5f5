//! The engine: written once, knows no AWS service.
//!
//! Each resource kind implements [`Kind`] (observe every resource of the kind in as few calls
//! as the API allows, diff one resource with a pure function, apply one change). The engine
//! runs one [`controller`] task per kind, which owns scheduling (desired generation, resync
//! timer, per-resource backoff), drift detection, ownership and adoption, guarded pruning,
//! status and metrics.

pub mod audit;
pub mod backoff;
pub mod controller;
pub mod facts;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use controller::{Controller, Engine, Runnable, SweepReport};
pub use facts::Facts;

/// The tag that marks a resource as created (or adopted) by a converge controller.
pub const MANAGED_BY_TAG: &str = "converge:managed-by";

/// What a change does, for metrics, plans and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Tag,
    /// An immutable field differs: the resource would have to be replaced. Never applied
    /// automatically; reported in `plan` and `/status`.
    Replace,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Tag => "tag",
            Action::Replace => "replace",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of a planned change: `field: from → to` (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Self {
        FieldChange {
            field: field.into(),
            from,
            to,
        }
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
        write!(
            f,
            "{}: {} → {}",
            self.field,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// One planned mutation of one resource.
pub trait Change: fmt::Debug + Clone + Send + Sync + 'static {
    fn action(&self) -> Action;
    /// The fields this change sets, for plans, status and the audit log. Policy bodies and
    /// secrets are summarised by the kind, never dumped.
    fn fields(&self) -> Vec<FieldChange>;
}

/// Bounded error classes (the `class` label of `converge_reconcile_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// AWS asked us to slow down: retried with backoff.
    Throttled,
    /// Transient (5xx, timeout, connection): retried with backoff.
    Retryable,
    /// Will not succeed by retrying (access denied, invalid request): retried only at the
    /// backoff cap or when the desired spec changes.
    Terminal,
    /// Waiting for another resource to exist.
    Dependency,
    /// The resource belongs to another controller; left alone.
    Conflict,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::Retryable => "retryable",
            ErrorClass::Terminal => "terminal",
            ErrorClass::Dependency => "dependency",
            ErrorClass::Conflict => "conflict",
        }
    }
}

/// An error from a kind: classified, with a message naming the operation and the resource.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct KindError {
    pub class: ErrorClass,
    pub message: String,
}

impl KindError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        KindError {
            class,
            message: message.into(),
        }
    }
}

/// A diff that cannot be computed yet because something it refers to does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// What is awaited, e.g. `SecurityGroup/base`.
    pub waiting_for: String,
}

/// Read-only context handed to [`Kind::diff`]: who we are and what other kinds published.
pub struct DiffCtx<'a> {
    pub controller_id: &'a str,
    pub facts: &'a facts::Snapshot,
    /// The whole desired state, to tell a reference to a resource that is still to be created
    /// (wait for it) from one to a resource managed elsewhere (pass it through).
    pub desired: &'a crate::desired::DesiredSet,
}

impl DiffCtx<'_> {
    /// True when `kind`/`name` is in the desired state.
    pub fn is_desired(&self, kind: &str, name: &str) -> bool {
        self.desired
            .of_kind(kind)
            .is_some_and(|m| m.contains_key(name))
    }

    /// A fact published by another kind.
    pub fn fact(&self, kind: &str, name: &str, fact: &str) -> Option<&str> {
        facts::get(self.facts, kind, name, fact)
    }
}

/// A resource implied by another one (see [`Kind::expand`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub kind: &'static str,
    pub name: String,
    /// The spec, as the derived kind's YAML would be written.
    pub spec: serde_json::Value,
}

/// What the engine asks a kind to observe.
pub struct Scope<'a, S> {
    /// The desired resources of this kind: name → spec.
    pub desired: &'a BTreeMap<String, S>,
    /// Also observe resources that are not desired (needed to find prune candidates).
    pub all: bool,
}

/// What an observation found: name → live state. A listing that failed or looks truncated
/// must be an `Err`, never a partial map: absence here means "does not exist".
pub type Observed<L> = BTreeMap<String, L>;

/// One kind of AWS resource. The engine owns scheduling, retries, metrics and status; a kind
/// only knows how to observe, compare and change its own resources.
pub trait Kind: Send + Sync + Sized + 'static {
    /// The manifest `kind`, also the `kind` metric label.
    const NAME: &'static str;
    /// The spec as written in YAML (unknown fields must be rejected).
    type Spec: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static;
    /// Normalised live state.
    type Live: Clone + fmt::Debug + Send + Sync + 'static;
    /// One planned API mutation.
    type Change: Change;

    /// Checks a resource name (length, characters) as AWS would.
    fn validate_name(name: &str) -> Result<(), String>;

    /// Checks that go beyond the schema; each message names its field.
    fn validate(_name: &str, _spec: &Self::Spec) -> Vec<String> {
        Vec::new()
    }

    /// Resources of other kinds that this resource implies (e.g. a load balancer's `cnames`
    /// become `DnsRecord`s). They are loaded, validated and reconciled like written ones.
    fn expand(_name: &str, _spec: &Self::Spec) -> Vec<Derived> {
        Vec::new()
    }

    /// All resources of this kind in `scope`, in as few API calls as the API allows. It may
    /// return more than the scope (e.g. every security group a single listing returned): the
    /// engine diffs only desired ones, prunes only owned ones, and publishes facts for all.
    fn observe(
        &self,
        scope: &Scope<'_, Self::Spec>,
    ) -> impl Future<Output = Result<Observed<Self::Live>, KindError>> + Send;

    /// The owner recorded on a live resource (the `converge:managed-by` tag), if any.
    fn owner(live: &Self::Live) -> Option<&str>;

    /// Facts other kinds may refer to (e.g. `arn`, `id`, `dns_name`).
    fn facts(_name: &str, _live: &Self::Live) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Pure: the changes that make `live` match `desired`, in the order to apply them. Empty
    /// means in sync. An unowned live resource must get its ownership tag (adoption).
    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &Self::Spec,
        live: Option<&Self::Live>,
    ) -> Result<Vec<Self::Change>, Pending>;

    /// Applies one change; must be safe to repeat after a partial failure.
    fn apply(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        live: Option<&Self::Live>,
        change: &Self::Change,
    ) -> impl Future<Output = Result<(), KindError>> + Send;

    /// Deletes an owned resource that is no longer desired.
    fn delete(
        &self,
        name: &str,
        live: &Self::Live,
    ) -> impl Future<Output = Result<(), KindError>> + Send;
}

/// How the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forever: sweep on desired changes, the resync timer and backoff expiry.
    Run,
    /// One read-only sweep per kind, then stop.
    Plan,
    /// Sweep until every resource is converged (or terminally failed), then stop.
    Apply,
}

/// Engine settings (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub controller_id: String,
    pub observe_only: bool,
    pub prune: bool,
    pub max_deletions: u32,
    pub resync: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub concurrency: usize,
    /// Upper bound on one `observe` or one change, on top of the SDK's own timeouts.
    pub call_deadline: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Run,
            controller_id: "converge".into(),
            observe_only: false,
            prune: false,
            max_deletions: 5,
            resync: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            concurrency: 8,
            call_deadline: Duration::from_secs(180),
        }
    }
}
