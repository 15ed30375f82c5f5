//! Placing resources in shards: which account and region each resource of the tree belongs
//! to, names unique per shard, and references that AWS can honour across shards.
//!
//! A resource's account is its instance's (`instances: {testing: {account: staging}}`), else
//! its `metadata.account` (or its service's `shared` default), else the default account of
//! `accounts.yaml`. Its region likewise, else the only region the tree names; in a tree that
//! names several, a regional resource outside service instances must name its region; a tree
//! that names none is in the controller's region (`--region`).
//! Global kinds (IAM, Route 53) go to the account's `global` shard whatever their region.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::core::model::{
    AccountIndex, DesiredResource, DesiredSet, DesiredTree, LABEL_ACCOUNT, LABEL_INSTANCE,
    LABEL_REGION,
};
use crate::core::shard::{Accounts, ShardId};
use crate::core::source::{Origin, Problem};
use crate::core::Registry;

/// The region of a tree that names none, loaded without a default region (offline checks
/// only: `plan`, `apply` and `run` always know their region).
pub const UNKNOWN_REGION: &str = "(default region)";

/// Decides the shard of each resource.
pub struct Placer<'a> {
    accounts: &'a Accounts,
    /// `--region`, else the only region of the tree.
    default_region: Option<String>,
    /// Every region the tree names, for messages.
    regions: BTreeSet<String>,
}

impl<'a> Placer<'a> {
    pub fn new(
        accounts: &'a Accounts,
        default_region: Option<&str>,
        docs: &[Arc<DesiredResource>],
    ) -> Placer<'a> {
        let regions: BTreeSet<String> = docs
            .iter()
            .filter_map(|d| d.labels.get(LABEL_REGION).cloned())
            .collect();
        // Where a resource goes must not depend on the rest of the tree changing (a new
        // instance in another region would move it, and the old shard would prune it) nor on
        // where the controller runs: a tree that names one region means it for everything; one
        // that names several needs every regional resource to name its own; one that names none
        // (a single-region tree) is in the controller's region.
        let default_region = match regions.len() {
            1 => regions.iter().next().cloned(),
            // Checked without AWS configuration (`validate` in a git hook): every controller
            // puts it in its own region.
            0 => Some(default_region.unwrap_or(UNKNOWN_REGION).to_string()),
            _ => None,
        };
        Placer {
            accounts,
            default_region,
            regions,
        }
    }

    pub fn regions(&self) -> &BTreeSet<String> {
        &self.regions
    }

    /// The shard of `doc`, or a problem saying why it has none.
    pub fn shard_of<R: Registry>(
        &self,
        doc: &DesiredResource,
        problems: &mut Vec<Problem>,
    ) -> Option<ShardId> {
        let problem = |message: String| Problem {
            origin: doc.origin.clone(),
            message,
            context: doc.context(),
        };
        let account = doc
            .labels
            .get(LABEL_ACCOUNT)
            .unwrap_or(&self.accounts.default);
        if self.accounts.get(account).is_none() {
            // An instance's unknown account is reported once, at the instance.
            if !doc.labels.contains_key(LABEL_INSTANCE) {
                problems.push(problem(unknown_account(self.accounts, account)));
            }
            return None;
        }
        if R::is_global(&doc.kind) {
            return Some(ShardId::global(account.as_str()));
        }
        let region = doc
            .labels
            .get(LABEL_REGION)
            .or(self.default_region.as_ref());
        match region {
            Some(r) => Some(ShardId::new(account.as_str(), r.as_str())),
            None => {
                let named = self.regions.iter().cloned().collect::<Vec<_>>().join(", ");
                problems.push(problem(format!(
                    "{} `{}` has no region, and the tree names several ({named}): set `metadata.region`",
                    doc.kind, doc.name
                )));
                None
            }
        }
    }
}

/// The message for an account alias the tree does not declare.
pub fn unknown_account(accounts: &Accounts, alias: &str) -> String {
    if accounts.declared {
        format!(
            "account `{alias}` is not in accounts.yaml (accounts: {})",
            accounts.aliases()
        )
    } else {
        format!(
            "account `{alias}`: the tree has no accounts.yaml, so its only account is `{}` (add accounts.yaml to name others)",
            accounts.default
        )
    }
}

/// Adds a resource to its shard, or reports it as a duplicate of the one already there (names
/// are unique per shard: per account and region, per account for global kinds).
pub fn insert(
    shards: &mut BTreeMap<ShardId, DesiredSet>,
    shard: &ShardId,
    doc: Arc<DesiredResource>,
    problems: &mut Vec<Problem>,
) {
    let set = shards.entry(shard.clone()).or_default();
    if let Some(first) = set.of_kind(&doc.kind).and_then(|m| m.get(&doc.name)) {
        problems.push(Problem {
            origin: doc.origin.clone(),
            message: format!(
                "duplicate {} `{}` in {shard}: also defined at {}",
                doc.kind,
                doc.name,
                first.located()
            ),
            context: doc.context(),
        });
        return;
    }
    set.insert(doc);
}

/// Where a resource is desired: its region and its origin.
type Place<'a> = (&'a str, &'a Origin);

/// Checks every reference between resources against the shards: a regional resource can use
/// only what is in its own region (or global), and a global one must name the region when
/// the name is desired in several regions of the account.
pub(super) fn check_references<R: Registry>(
    shards: &BTreeMap<ShardId, DesiredSet>,
    memo: &mut super::reuse::MemoPass,
    problems: &mut Vec<Problem>,
) {
    // (account, kind, name) → (region, origin) of every desired resource.
    let mut where_: BTreeMap<(&str, &str, &str), Vec<Place<'_>>> = BTreeMap::new();
    for (shard, set) in shards {
        for (kind, by_name) in &set.resources {
            for (name, res) in by_name {
                where_
                    .entry((shard.account.as_str(), kind.as_str(), name.as_str()))
                    .or_default()
                    .push((shard.region.as_str(), &res.origin));
            }
        }
    }
    let list = |places: &[Place<'_>]| {
        places
            .iter()
            .map(|(r, o)| format!("{r} ({o})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (shard, set) in shards {
        for res in set.resources.values().flat_map(|m| m.values()) {
            for reference in memo.references::<R>(res).iter() {
                if R::is_global(reference.kind) {
                    continue;
                }
                let places = where_
                    .get(&(
                        shard.account.as_str(),
                        reference.kind,
                        reference.name.as_str(),
                    ))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let message = match (&reference.region, shard.is_global()) {
                    (Some(r), false) if *r != shard.region => Some(format!(
                        "{}: {} `{}` is named in {r}, but a {} in {} can use only a {} of its own region",
                        reference.field, reference.kind, reference.name, res.kind, shard.region, reference.kind
                    )),
                    (Some(r), _) => {
                        let there = places.iter().any(|(p, _)| p == r);
                        (!there && !places.is_empty()).then(|| format!(
                            "{}: {} `{}` is named in {r}, but it is desired in {}",
                            reference.field, reference.kind, reference.name, list(places)
                        ))
                    }
                    (None, false) => {
                        let here = places.iter().any(|(r, _)| *r == shard.region);
                        (!here && !places.is_empty()).then(|| format!(
                            "{}: {} `{}` is desired in {}, not in {}: AWS cannot use a {} of another region here (define one in {} too)",
                            reference.field, reference.kind, reference.name, list(places), shard.region, reference.kind, shard.region
                        ))
                    }
                    (None, true) => (places.len() > 1).then(|| format!(
                        "{}: {} `{}` is desired in several regions of account `{}`: {}; name the region (for a load balancer: `loadbalancer:<region>/{}`)",
                        reference.field, reference.kind, reference.name, shard.account, list(places), reference.name
                    )),
                };
                if let Some(message) = message {
                    problems.push(Problem {
                        origin: res.origin.clone(),
                        message,
                        context: res.context(),
                    });
                }
            }
        }
    }
}

/// The finished tree: every shard's set carries the index of its account's names.
pub fn tree(
    shards: BTreeMap<ShardId, DesiredSet>,
    accounts: Accounts,
    regions: BTreeSet<String>,
    revision: Option<String>,
    fingerprint: u64,
) -> DesiredTree {
    let mut indexes: BTreeMap<String, AccountIndex> = BTreeMap::new();
    for (shard, set) in &shards {
        let index = indexes.entry(shard.account.clone()).or_default();
        let region = index.entry(shard.region.clone()).or_default();
        for (kind, by_name) in &set.resources {
            region
                .entry(kind.clone())
                .or_default()
                .extend(by_name.keys().cloned());
        }
    }
    let indexes: BTreeMap<String, Arc<AccountIndex>> =
        indexes.into_iter().map(|(a, i)| (a, Arc::new(i))).collect();
    let shards = shards
        .into_iter()
        .map(|(id, mut set)| {
            set.revision = revision.clone();
            set.fingerprint = fingerprint;
            if let Some(i) = indexes.get(&id.account) {
                set.account = i.clone();
            }
            (id, Arc::new(set))
        })
        .collect();
    DesiredTree {
        generation: 0,
        revision,
        fingerprint,
        accounts,
        regions,
        shards,
    }
}
