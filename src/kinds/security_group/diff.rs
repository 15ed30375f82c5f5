//! Live state, the changes and the pure diff between a spec and a live group.

use std::collections::BTreeSet;

use super::rules::{ipv4_network, ipv6_text, LiveRule, Permission, Source};
use super::spec::{RuleSpec, SecurityGroupSpec};
use super::DEFAULT_VPC;
use crate::core::{Action, Change, FieldChange, Replacement};
use crate::engine::{DiffCtx, Waiting};
use crate::kinds::common::delta::Delta;
use crate::kinds::common::refs::security_group as sg;
use crate::kinds::common::tags::{self, Tags, ToSet};

/// A security group as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSecurityGroup {
    pub id: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub owner_id: String,
    /// True when the group is in the region's default VPC (known only when a desired group has
    /// no `vpc_id` or the name is in several VPCs; false otherwise).
    pub in_default_vpc: bool,
    /// When the desired spec names its VPC (`vpc_name`): the ids of the region's VPCs with that
    /// `Name` tag, as this sweep found them.
    pub named_vpcs: Option<Vec<String>>,
    pub ingress: Vec<LiveRule>,
    pub egress: Vec<LiveRule>,
    pub tags: Tags,
}

/// A permission with how plans show it (source groups with their names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub permission: Permission,
    pub text: String,
}

/// One security group mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum SecurityGroupChange {
    /// `CreateSecurityGroup` (with its tags), then the rules that can be authorized at once.
    Create {
        description: String,
        vpc_id: Option<String>,
        /// The VPC by its `Name` tag, looked up when the group is created.
        vpc_name: Option<String>,
        tags: Tags,
        ingress: Vec<Rule>,
        egress: Vec<Rule>,
        /// Rules added on a later sweep (their source group does not exist yet, or is named
        /// by owner and name), as plans show them.
        deferred: Vec<String>,
    },
    Authorize {
        egress: bool,
        rules: Vec<Rule>,
    },
    Revoke {
        egress: bool,
        rules: Vec<Rule>,
    },
    /// tag → (live, desired)
    Tag(ToSet),
    /// tag → live value
    Untag(Tags),
    /// An immutable field differs.
    Replace(Replacement),
}

pub(super) fn rules_field(egress: bool) -> &'static str {
    if egress {
        "rules_egress"
    } else {
        "rules"
    }
}

/// Plan rows for rules being added: `rules: (none) → tcp 80 from 10.0.0.0/8`.
fn added(egress: bool, rules: &[Rule]) -> impl Iterator<Item = FieldChange> + '_ {
    rules
        .iter()
        .map(move |r| FieldChange::added(rules_field(egress), &r.text))
}

use SecurityGroupChange as C;

impl Change for SecurityGroupChange {
    fn action(&self) -> Action {
        match self {
            C::Create { .. } => Action::Create,
            C::Authorize { .. } | C::Revoke { .. } => Action::Update,
            C::Tag(_) | C::Untag(_) => Action::Tag,
            C::Replace(_) => Action::Replace,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            C::Create {
                description,
                vpc_id,
                vpc_name,
                tags,
                ingress,
                egress,
                deferred,
            } => {
                let vpc = match (vpc_id, vpc_name) {
                    (_, Some(n)) => FieldChange::added("vpc_name", n),
                    (v, None) => FieldChange::added("vpc_id", v.as_deref().unwrap_or(DEFAULT_VPC)),
                };
                let mut f = vec![FieldChange::added("description", description), vpc];
                f.extend(tags::new_fields(tags));
                f.extend(added(false, ingress));
                f.extend(added(true, egress));
                f.extend(
                    deferred
                        .iter()
                        .map(|t| FieldChange::added("rules (after creation)", t)),
                );
                f
            }
            C::Authorize { egress, rules } => added(*egress, rules).collect(),
            C::Revoke { egress, rules } => rules
                .iter()
                .map(|r| FieldChange::removed(rules_field(*egress), &r.text))
                .collect(),
            C::Tag(m) => tags::set_fields(m),
            C::Untag(m) => tags::remove_fields(m),
            C::Replace(r) => r.fields(),
        }
    }
}

/// One direction's rules (ingress or egress), resolved through the facts.
#[derive(Debug, Default)]
struct Resolved {
    egress: bool,
    /// Permissions that can be authorized now.
    now: BTreeSet<Permission>,
    /// Permissions passed to AWS by owner and name (a subset of `now`).
    by_name: BTreeSet<Permission>,
    /// `(source group, the rule as plans show it)` for each rule whose source group does not
    /// exist (yet).
    waiting: Vec<(String, String)>,
}

impl Resolved {
    /// Normalises rules into permissions, resolving source groups by name through the facts.
    fn new(ctx: &DiffCtx<'_>, rules: &[RuleSpec], egress: bool) -> Resolved {
        let mut out = Resolved {
            egress,
            ..Resolved::default()
        };
        for r in rules {
            let (from, to) = (r.from_port, r.to_port);
            let perm = |source: Source| Permission::new(&r.ip_protocol, from, to, source);
            for c in &r.cidr_ip {
                out.now.insert(perm(Source::Cidr(
                    ipv4_network(c).unwrap_or_else(|| c.trim().to_string()),
                )));
            }
            for c in &r.cidr_ipv6 {
                out.now.insert(perm(Source::CidrV6(ipv6_text(c))));
            }
            if let Some(id) = &r.source_group_id {
                out.now.insert(perm(Source::Group(id.clone())));
            }
            let Some(name) = &r.source_group_name else {
                continue;
            };
            let owner = r.source_group_owner_id.as_deref();
            let id = ctx.fact(sg::ID, name);
            let fact_owner = ctx.fact(sg::OWNER_ID, name);
            match (id, owner) {
                (Some(id), None) => {
                    out.now.insert(perm(Source::Group(id.to_string())));
                }
                (Some(id), Some(o)) if fact_owner == Some(o) => {
                    out.now.insert(perm(Source::Group(id.to_string())));
                }
                // Named with an owner, and not a group of ours (or not one to wait for): AWS
                // decides.
                (found, Some(o)) if found.is_some() || !ctx.is_desired(sg::KIND, name) => {
                    let p = perm(Source::GroupName {
                        name: name.clone(),
                        owner: o.to_string(),
                    });
                    out.by_name.insert(p.clone());
                    out.now.insert(p);
                }
                _ => {
                    let traffic = perm(Source::Group(String::new())).traffic();
                    let dir = direction(egress);
                    let shown = format!("{traffic} {dir} {}/{name} (once it exists)", sg::KIND);
                    out.waiting.push((name.clone(), shown));
                }
            }
        }
        out
    }

    /// What a new group gets at once: everything but the rules by owner and name.
    fn immediate(&self, ctx: &DiffCtx<'_>) -> Vec<Rule> {
        let now = self.now.difference(&self.by_name).cloned();
        shown(ctx, now, self.egress)
    }

    /// What a new group gets on a later sweep, as plans show it.
    fn deferred<'a>(&'a self, ctx: &'a DiffCtx<'_>) -> impl Iterator<Item = String> + 'a {
        let by_name = self.by_name.iter().map(|p| show(ctx, p, self.egress));
        by_name.chain(self.waiting.iter().map(|(_, rule)| rule.clone()))
    }

    /// The changes that make `live` rules equal these: authorize what is missing, then
    /// revoke what is extra.
    fn changes(&self, ctx: &DiffCtx<'_>, live: &LiveSecurityGroup) -> Vec<C> {
        let (want, egress) = (&self.now, self.egress);
        let live = if egress { &live.egress } else { &live.ingress };
        let missing = want
            .iter()
            .filter(|w| !live.iter().any(|l| l.satisfies(w)))
            .cloned()
            .collect();
        let extra = live
            .iter()
            .filter(|l| !want.iter().any(|w| l.satisfies(w)))
            .map(|l| l.permission.clone())
            .collect();
        let rules = |p| shown(ctx, p, egress);
        Delta {
            add: missing,
            remove: extra,
        }
        .adding_first(
            |p| C::Authorize {
                egress,
                rules: rules(p),
            },
            |p| C::Revoke {
                egress,
                rules: rules(p),
            },
        )
    }
}

fn direction(egress: bool) -> &'static str {
    if egress {
        "to"
    } else {
        "from"
    }
}

/// A permission as plans show it: `tcp 80 from 10.0.0.0/8`, `all traffic to sg-1 (web)`.
fn show(ctx: &DiffCtx<'_>, p: &Permission, egress: bool) -> String {
    let source = match &p.source {
        Source::Cidr(c) | Source::CidrV6(c) => c.clone(),
        Source::Group(id) => match ctx.named_by(sg::ID, id) {
            Some(n) => format!("{id} ({n})"),
            None => id.clone(),
        },
        Source::GroupName { name, owner } => format!("{owner}/{name}"),
        Source::PrefixList(id) => id.clone(),
    };
    format!("{} {} {source}", p.traffic(), direction(egress))
}

fn shown(
    ctx: &DiffCtx<'_>,
    perms: impl IntoIterator<Item = Permission>,
    egress: bool,
) -> Vec<Rule> {
    perms
        .into_iter()
        .map(|p| Rule {
            text: show(ctx, &p, egress),
            permission: p,
        })
        .collect()
}

/// The changes that make `live` match `desired`, in the order to apply them.
pub(super) fn diff(
    ctx: &DiffCtx<'_>,
    desired: &SecurityGroupSpec,
    live: Option<&LiveSecurityGroup>,
) -> Result<Vec<C>, Waiting> {
    let ingress = Resolved::new(ctx, &desired.rules, false);
    let egress = (desired.rules_egress.as_ref()).map(|r| Resolved::new(ctx, r, true));
    let both = || [Some(&ingress), egress.as_ref()].into_iter().flatten();
    let tags = tags::with_owner(&desired.tags, ctx.controller_id);

    let Some(live) = live else {
        // Created at once with what can be authorized now; the rest follows on a later
        // sweep (a rule may name this very group, or a group that names this one).
        return Ok(vec![C::Create {
            description: desired.description.clone(),
            vpc_id: desired.vpc_id.clone(),
            vpc_name: desired.vpc_name.clone(),
            tags,
            ingress: ingress.immediate(ctx),
            egress: (egress.as_ref())
                .map(|r| r.immediate(ctx))
                .unwrap_or_default(),
            deferred: both().flat_map(|r| r.deferred(ctx)).collect(),
        }]);
    };

    // Another VPC's group of the same name is not this one: report, touch nothing.
    let vpc_differs = match (&desired.vpc_id, &desired.vpc_name) {
        (Some(v), _) => live.vpc_id.as_deref() != Some(v.as_str()),
        // A name that resolves to no VPC this sweep tells nothing: the group is left in its VPC.
        (None, Some(_)) => live.named_vpcs.as_ref().is_some_and(|ids| {
            !ids.is_empty()
                && !ids
                    .iter()
                    .any(|id| live.vpc_id.as_deref() == Some(id.as_str()))
        }),
        (None, None) => !live.in_default_vpc,
    };
    if vpc_differs {
        let (field, want) = match (&desired.vpc_id, &desired.vpc_name) {
            (None, Some(n)) => ("vpc_name", format!("(VPC named {n})")),
            (v, _) => (
                "vpc_id",
                v.clone().unwrap_or_else(|| DEFAULT_VPC.to_string()),
            ),
        };
        return Ok(vec![C::Replace(Replacement::new(
            field,
            live.vpc_id.clone(),
            &want,
        ))]);
    }
    if let Some((group, _)) = both().find_map(|r| r.waiting.first()) {
        return Err(Waiting::on(sg::KIND, group));
    }

    let mut changes = Vec::new();
    if live.description != desired.description {
        changes.push(C::Replace(Replacement::new(
            "description",
            Some(live.description.clone()),
            &desired.description,
        )));
    }
    // Tag first: an unowned group is adopted before any of its rules is revoked.
    let tag = tags::to_set(&tags, &live.tags);
    if !tag.is_empty() {
        changes.push(C::Tag(tag));
    }
    changes.extend(both().flat_map(|r| r.changes(ctx, live)));
    let untag = tags::to_remove(&tags, &live.tags);
    if !untag.is_empty() {
        changes.push(C::Untag(untag));
    }
    Ok(changes)
}
