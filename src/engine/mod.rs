//! The engine: written once, knows no AWS service and no kind.
//!
//! Each resource kind implements [`Kind`] on top of its [`Schema`] (observe every resource of
//! the kind in as few calls as the API allows, diff one resource with a pure function, apply
//! one change). The engine runs one [`controller`] task per kind, which owns scheduling
//! (desired generation, resync timer, per-resource backoff), drift detection, ownership and
//! adoption, guarded pruning, status and metrics. [`facts`] carries what one kind publishes for
//! another, [`status`] what `/status` serves, [`audit`] the record of every change.

pub mod audit;
pub mod backoff;
pub mod controller;
pub mod facts;
pub mod fleet;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::core::facts::Published;
use crate::core::{Change, DesiredSet, Fact, FactFamily, KindError, Schema, GLOBAL};

pub use controller::{Controller, Engine, Runnable};
pub use facts::Facts;

/// A diff that cannot be computed yet because something it refers to does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// What is awaited, e.g. `SecurityGroup/base`.
    pub waiting_for: String,
}

impl Waiting {
    /// Waiting for `<kind>/<name>`.
    pub fn on(kind: &str, name: &str) -> Waiting {
        Waiting {
            waiting_for: format!("{kind}/{name}"),
        }
    }

    /// Waiting for what `what` says (`HostedZone/example.com.`, `Queue/dlq scaling policy x`).
    pub fn new(what: impl Into<String>) -> Waiting {
        Waiting {
            waiting_for: what.into(),
        }
    }
}

/// The kind a [`Waiting::waiting_for`] names (`SecurityGroup` of `SecurityGroup/base`); for
/// something that is no kind (`HostedZone/example.com.`) the word before the slash all the
/// same.
pub fn awaited_kind(waiting_for: &str) -> Option<&str> {
    waiting_for.split_once('/').map(|(kind, _)| kind)
}

/// Read-only context handed to [`Kind::diff`]: who we are, which shard, what other kinds
/// published and what is desired.
///
/// A reference by name resolves in the shard's own region first, then in the account's global
/// services; from the global shard (a DNS record naming a load balancer), in the one region of
/// the account that has the name. A region written with the reference picks that region.
pub struct DiffCtx<'a> {
    pub controller_id: &'a str,
    /// The shard's region, or `global` for an account's global services.
    pub region: &'a str,
    /// Every shard's facts of this account, by region.
    pub facts: &'a facts::AccountSnapshot,
    /// This shard's desired state (with an index of the account's other shards), to tell a
    /// reference to a resource that is still to be created (wait for it) from one to a
    /// resource managed elsewhere (pass it through).
    pub desired: &'a DesiredSet,
}

impl DiffCtx<'_> {
    /// True when `kind`/`name` is desired where a reference from this shard resolves.
    pub fn is_desired(&self, kind: &str, name: &str) -> bool {
        self.desired.contains(kind, name)
            || self.desired.contains_in(GLOBAL, kind, name)
            || (self.region == GLOBAL && !self.desired.regions_of(kind, name).is_empty())
    }

    /// A resource's facts where a reference from this shard resolves (see the type's doc);
    /// `region` when the reference names one.
    fn resolve(
        &self,
        region: Option<&str>,
        kind: &str,
        name: &str,
    ) -> Option<&BTreeMap<String, String>> {
        let in_region = |r: &str| facts::of(self.facts.get(r)?, kind, name);
        if let Some(r) = region {
            return in_region(r);
        }
        if let Some(f) = in_region(self.region).or_else(|| in_region(GLOBAL)) {
            return Some(f);
        }
        if self.region != GLOBAL {
            return None;
        }
        // From the global services: the one region of the account that desires the name; a
        // name desired in several is not guessed (the loader rejects it).
        match self.desired.regions_of(kind, name).as_slice() {
            [one] => return in_region(one),
            [] => {}
            _ => return None,
        }
        // Desired nowhere (managed elsewhere): the one region where it was listed.
        let mut found = self
            .facts
            .iter()
            .filter(|(r, _)| r.as_str() != GLOBAL)
            .filter_map(|(_, s)| facts::of(s, kind, name));
        match (found.next(), found.next()) {
            (Some(f), None) => Some(f),
            _ => None,
        }
    }

    /// A fact published by another kind (or an earlier sweep of this one).
    pub fn fact(&self, fact: Fact, name: &str) -> Option<&str> {
        self.fact_at(None, fact, name)
    }

    /// A fact of `name` in `region` when given (else resolved as [`DiffCtx::fact`] does).
    pub fn fact_at(&self, region: Option<&str>, fact: Fact, name: &str) -> Option<&str> {
        let f = self.resolve(region, fact.kind, name)?;
        f.get(fact.key).map(String::as_str)
    }

    /// One member of a family of facts (e.g. one scaling policy's ARN).
    pub fn fact_in(&self, family: FactFamily, name: &str, qualifier: &str) -> Option<&str> {
        let f = self.resolve(None, family.kind, name)?;
        f.get(&family.key(qualifier)).map(String::as_str)
    }

    /// The resource of this shard (or the account's global services) whose `fact` has `value`
    /// (e.g. the group of a security group id).
    pub fn named_by(&self, fact: Fact, value: &str) -> Option<&str> {
        [self.region, GLOBAL].into_iter().find_map(|r| {
            self.facts
                .get(r)?
                .get(fact.kind)?
                .iter()
                .find_map(|(name, f)| {
                    (f.get(fact.key).map(String::as_str) == Some(value)).then_some(name.as_str())
                })
        })
    }

    /// True once `kind` has published the facts of a listing (in this shard, or the account's
    /// global services).
    pub fn has_listed(&self, kind: &str) -> bool {
        [self.region, GLOBAL]
            .into_iter()
            .any(|r| self.facts.get(r).is_some_and(|s| s.contains_key(kind)))
    }
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

/// The run-time side of a kind of AWS resource (the load-time side is its [`Schema`]). The
/// engine owns scheduling, retries, metrics and status; a kind only knows how to observe,
/// compare and change its own resources.
pub trait Kind: Schema + Send + Sync {
    /// Normalised live state.
    type Live: Clone + fmt::Debug + Send + Sync + 'static;
    /// One planned API mutation.
    type Change: Change;

    /// All resources of this kind in `scope`, in as few API calls as the API allows. It may
    /// return more than the scope (e.g. every security group a single listing returned): the
    /// engine diffs only desired ones, prunes only owned ones, and publishes facts for all.
    fn observe(
        &self,
        scope: &Scope<'_, Self::Spec>,
    ) -> impl Future<Output = Result<Observed<Self::Live>, KindError>> + Send;

    /// The owner recorded on a live resource (the `converge:managed-by` tag), if any.
    fn owner(live: &Self::Live) -> Option<&str>;

    /// Facts other kinds may refer to (e.g. `arn`, `id`, `dns_name`), set on `out`.
    fn facts(_name: &str, _live: &Self::Live, _out: &mut Published) {}

    /// Pure: the changes that make `live` match `desired`, in the order to apply them. Empty
    /// means in sync. An unowned live resource must get its ownership tag (adoption).
    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &Self::Spec,
        live: Option<&Self::Live>,
    ) -> Result<Vec<Self::Change>, Waiting>;

    /// Applies one change; must be safe to repeat after a partial failure. Never called with
    /// a change of [`crate::core::Action::Replace`].
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
