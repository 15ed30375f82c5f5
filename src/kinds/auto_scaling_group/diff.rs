//! The group as observed, the changes converge makes to it, and the pure diff between the two.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::launch::template::LiveTemplate;
use super::launch::{self, DesiredLaunch, LaunchRef, ResolvedInstance};
use super::policies::{self, LivePolicy, ScalingPolicySpec};
use super::spec::AutoScalingGroupSpec;
use crate::core::{Action, Change, FieldChange, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Waiting};
use crate::kinds::common::delta::{added_fields, removed_fields, Delta};
use crate::kinds::common::refs;
use crate::kinds::common::tags::{self, ToSet};

/// A tag's value as AWS keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagValue {
    pub value: String,
    pub propagate_at_launch: bool,
}

impl fmt::Display for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.propagate_at_launch {
            write!(f, "{} (propagate at launch)", self.value)
        } else {
            f.write_str(&self.value)
        }
    }
}

/// The launch template a group uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

impl LiveTemplateRef {
    /// The pinned version number (`None` for `$Latest` or `$Default`).
    pub fn version_number(&self) -> Option<i64> {
        self.version.as_deref()?.parse().ok()
    }
}

/// An Auto Scaling group as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAutoScalingGroup {
    pub arn: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub default_cooldown: Option<i32>,
    pub health_check_type: Option<String>,
    pub health_check_period: Option<i32>,
    pub availability_zones: BTreeSet<String>,
    pub subnets: BTreeSet<String>,
    /// When the desired spec names its subnets (`subnet_names`): their ids, when each name
    /// resolved to exactly one subnet this sweep (else `None`: the subnets are left alone).
    pub named_subnets: Option<Vec<String>>,
    pub load_balancers: BTreeSet<String>,
    pub termination_policies: Vec<String>,
    pub suspended_processes: BTreeSet<String>,
    pub tags: BTreeMap<String, TagValue>,
    pub launch_configuration: Option<String>,
    pub launch_template: Option<LiveTemplateRef>,
    pub policies: BTreeMap<String, LivePolicy>,
    /// Launch configurations named `<prefix>-<8 hex>` for this group's prefixes → whether
    /// another group uses it.
    pub launch_configs: BTreeMap<String, bool>,
    pub template: Option<LiveTemplate>,
}

impl LiveAutoScalingGroup {
    /// What the group launches, for plans.
    fn launch_display(&self) -> Option<String> {
        if let Some(lc) = &self.launch_configuration {
            return Some(format!("launch configuration {lc}"));
        }
        self.launch_template.as_ref().map(|t| {
            format!(
                "launch template {} version {}",
                t.name.as_deref().or(t.id.as_deref()).unwrap_or("?"),
                t.version.as_deref().unwrap_or("$Default")
            )
        })
    }
}

/// Everything a new group is created with.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCreate {
    pub launch: LaunchRef,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: Option<i32>,
    pub default_cooldown: Option<i32>,
    pub health_check_type: Option<String>,
    pub health_check_period: Option<i32>,
    pub availability_zones: Vec<String>,
    pub subnets: Vec<String>,
    /// Subnets by `Name` tag, resolved when the group is created.
    pub subnet_names: Vec<String>,
    pub load_balancers: Vec<String>,
    pub termination_policies: Vec<String>,
    pub tags: BTreeMap<String, TagValue>,
}

/// The settings `UpdateAutoScalingGroup` changes: each `(live, desired)`, only those that differ.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupUpdate {
    pub launch: Option<(Option<String>, LaunchRef)>,
    pub min_size: Option<(i32, i32)>,
    pub max_size: Option<(i32, i32)>,
    pub desired_capacity: Option<(i32, i32)>,
    pub default_cooldown: Option<(Option<i32>, i32)>,
    pub health_check_type: Option<(Option<String>, String)>,
    pub health_check_period: Option<(Option<i32>, i32)>,
    pub availability_zones: Option<(BTreeSet<String>, Vec<String>)>,
    pub subnets: Option<(BTreeSet<String>, Vec<String>)>,
    pub termination_policies: Option<(Vec<String>, Vec<String>)>,
}

/// One Auto Scaling group mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum AutoScalingGroupChange {
    /// `CreateLaunchConfiguration` (its name carries the content hash).
    CreateLaunchConfiguration {
        name: String,
        instance: Box<ResolvedInstance>,
    },
    /// `CreateLaunchTemplate` with its first version (or, if it exists, a version).
    CreateLaunchTemplate {
        template: String,
        instance: Box<ResolvedInstance>,
        hash: String,
    },
    /// `CreateLaunchTemplateVersion`.
    CreateLaunchTemplateVersion {
        template: String,
        template_id: String,
        instance: Box<ResolvedInstance>,
        hash: String,
    },
    CreateGroup(Box<GroupCreate>),
    UpdateGroup(Box<GroupUpdate>),
    SuspendProcesses(BTreeSet<String>),
    ResumeProcesses(BTreeSet<String>),
    AttachLoadBalancers(BTreeSet<String>),
    DetachLoadBalancers(BTreeSet<String>),
    /// tag → (live, desired)
    Tag(ToSet<TagValue>),
    /// tag → live value
    Untag(BTreeMap<String, TagValue>),
    PutScalingPolicy {
        policy: ScalingPolicySpec,
        live: Option<LivePolicy>,
    },
    DeleteScalingPolicy {
        name: String,
        live: LivePolicy,
    },
    /// Launch configurations of this group's prefix that no group uses any more.
    DeleteLaunchConfigurations(Vec<String>),
}

/// `a, b, c`.
fn join<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plan row for what is launched, then the instance's rows.
fn with_instance(first: FieldChange, i: &ResolvedInstance, prefix: &str) -> Vec<FieldChange> {
    std::iter::once(first).chain(i.fields(prefix)).collect()
}

impl GroupCreate {
    fn fields(&self) -> Vec<FieldChange> {
        let num = |n: Option<i32>| n.map(|n| n.to_string());
        let list = |v: &[String]| (!v.is_empty()).then(|| join(v));
        let written = [
            ("desired_capacity", num(self.desired_capacity)),
            ("default_cooldown", num(self.default_cooldown)),
            ("health_check_type", self.health_check_type.clone()),
            ("health_check_period", num(self.health_check_period)),
            ("availability_zones", list(&self.availability_zones)),
            (
                "vpc_zone_identifier",
                (!self.subnets.is_empty()).then(|| self.subnets.join(",")),
            ),
            ("load_balancers", list(&self.load_balancers)),
            ("termination_policies", list(&self.termination_policies)),
        ];
        [
            ("launch", Some(self.launch.to_string())),
            ("min_size", num(Some(self.min_size))),
            ("max_size", num(Some(self.max_size))),
        ]
        .into_iter()
        .chain(written)
        .filter_map(|(k, v)| Some(FieldChange::added(k, v?)))
        .chain(tags::new_fields(&self.tags))
        .collect()
    }
}

impl GroupUpdate {
    fn is_empty(&self) -> bool {
        *self == GroupUpdate::default()
    }

    fn fields(&self) -> Vec<FieldChange> {
        let num = |x: Option<(i32, i32)>| x.map(|(a, b)| (Some(a.to_string()), b.to_string()));
        let opt = |x: Option<(Option<i32>, i32)>| {
            x.map(|(a, b)| (a.map(|a| a.to_string()), b.to_string()))
        };
        let rows = [
            (
                "launch",
                self.launch
                    .as_ref()
                    .map(|(a, b)| (a.clone(), b.to_string())),
            ),
            ("min_size", num(self.min_size)),
            ("max_size", num(self.max_size)),
            ("desired_capacity", num(self.desired_capacity)),
            ("default_cooldown", opt(self.default_cooldown)),
            ("health_check_period", opt(self.health_check_period)),
            ("health_check_type", self.health_check_type.clone()),
            (
                "availability_zones",
                (self.availability_zones.as_ref()).map(|(a, b)| (Some(join(a)), join(b))),
            ),
            (
                "vpc_zone_identifier",
                (self.subnets.as_ref()).map(|(a, b)| (Some(join(a)), b.join(","))),
            ),
            (
                "termination_policies",
                (self.termination_policies.as_ref()).map(|(a, b)| (Some(join(a)), join(b))),
            ),
        ];
        rows.into_iter()
            .filter_map(|(k, r)| r.map(|(a, b)| FieldChange::changed(k, a, b)))
            .collect()
    }
}

impl Change for AutoScalingGroupChange {
    fn action(&self) -> Action {
        use AutoScalingGroupChange as C;
        match self {
            C::CreateLaunchConfiguration { .. } | C::CreateLaunchTemplate { .. } => Action::Create,
            C::CreateGroup(_) => Action::Create,
            C::CreateLaunchTemplateVersion { .. }
            | C::UpdateGroup(_)
            | C::SuspendProcesses(_)
            | C::ResumeProcesses(_)
            | C::AttachLoadBalancers(_)
            | C::DetachLoadBalancers(_)
            | C::PutScalingPolicy { .. }
            | C::DeleteScalingPolicy { .. } => Action::Update,
            C::Tag(_) | C::Untag(_) => Action::Tag,
            C::DeleteLaunchConfigurations(_) => Action::Delete,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        use AutoScalingGroupChange as C;
        match self {
            C::CreateLaunchConfiguration { name, instance } => with_instance(
                FieldChange::added("launch_configuration", name),
                instance,
                "launch_config",
            ),
            C::CreateLaunchTemplate {
                template,
                instance,
                hash,
            } => with_instance(
                FieldChange::added(
                    "launch_template",
                    format!("{template} (content hash {hash})"),
                ),
                instance,
                "launch_template",
            ),
            C::CreateLaunchTemplateVersion {
                template,
                instance,
                hash,
                ..
            } => with_instance(
                FieldChange::changed(
                    "launch_template",
                    Some(template.clone()),
                    format!("{template} new version (content hash {hash})"),
                ),
                instance,
                "launch_template",
            ),
            C::CreateGroup(g) => g.fields(),
            C::UpdateGroup(u) => u.fields(),
            C::SuspendProcesses(s) => added_fields("suspended_processes", s, "suspended"),
            C::ResumeProcesses(s) => removed_fields("suspended_processes", s, "suspended"),
            C::AttachLoadBalancers(s) => added_fields("load_balancers", s, "attached"),
            C::DetachLoadBalancers(s) => removed_fields("load_balancers", s, "attached"),
            C::Tag(m) => tags::set_fields(m),
            C::Untag(m) => tags::remove_fields(m),
            C::PutScalingPolicy { policy, live } => vec![FieldChange::changed(
                format!("scaling_policies.{}", policy.name),
                live.as_ref().map(LivePolicy::describe),
                policy.describe(),
            )],
            C::DeleteScalingPolicy { name, live } => vec![FieldChange::removed(
                format!("scaling_policies.{name}"),
                live.describe(),
            )],
            C::DeleteLaunchConfigurations(names) => {
                removed_fields("launch_configurations", names, "unused")
            }
        }
    }
}

/// The spec's tags with `propagate_at_launch`, plus the ownership tag (not propagated).
pub fn desired_tags(ctx: &DiffCtx<'_>, spec: &AutoScalingGroupSpec) -> BTreeMap<String, TagValue> {
    let owner = TagValue {
        value: ctx.controller_id.to_string(),
        propagate_at_launch: false,
    };
    (spec.tags.0.iter())
        .map(|t| {
            let value = TagValue {
                value: t.value.0.clone(),
                propagate_at_launch: t.propagate_at_launch,
            };
            (t.key.clone(), value)
        })
        .chain([(MANAGED_BY_TAG.to_string(), owner)])
        .collect()
}

/// `(live, want)` when `want` is written and differs from `live`.
fn differs<T: PartialEq + Clone>(live: &Option<T>, want: &Option<T>) -> Option<(Option<T>, T)> {
    (want.as_ref())
        .filter(|w| live.as_ref() != Some(*w))
        .map(|w| (live.clone(), w.clone()))
}

/// `(live, want)` when the sets differ.
fn set_differs(
    live: &BTreeSet<String>,
    want: &[String],
) -> Option<(BTreeSet<String>, Vec<String>)> {
    (*live != want.iter().cloned().collect::<BTreeSet<_>>()).then(|| (live.clone(), want.to_vec()))
}

/// The group settings that differ; the zones are the subnets when written, else the
/// availability zones.
fn group_update(
    live: &LiveAutoScalingGroup,
    desired: &AutoScalingGroupSpec,
    launch: Option<LaunchRef>,
) -> GroupUpdate {
    let num = |live: i32, want: i32| (live != want).then_some((live, want));
    let subnets = desired.subnets();
    let (availability_zones, subnets) = match &desired.subnet_names {
        Some(_) => (
            None,
            (live.named_subnets.as_ref()).and_then(|ids| set_differs(&live.subnets, ids)),
        ),
        None if subnets.is_empty() => (
            set_differs(&live.availability_zones, &desired.availability_zones),
            None,
        ),
        None => (None, set_differs(&live.subnets, &subnets)),
    };
    GroupUpdate {
        launch: launch.map(|to| (live.launch_display(), to)),
        min_size: num(live.min_size, desired.min_size),
        max_size: num(live.max_size, desired.max_size),
        desired_capacity: (desired.desired_capacity).and_then(|d| num(live.desired_capacity, d)),
        default_cooldown: differs(&live.default_cooldown, &desired.default_cooldown),
        health_check_type: differs(&live.health_check_type, &desired.health_check_type),
        health_check_period: differs(&live.health_check_period, &desired.health_check_period),
        availability_zones,
        subnets,
        termination_policies: (desired.termination_policies.as_ref())
            .filter(|t| **t != live.termination_policies)
            .map(|t| (live.termination_policies.clone(), t.clone())),
    }
}

/// The changes that make `live` match `desired`: for a new group, what it launches, the group,
/// its suspended processes and policies; for an existing one, tags first (adoption), what it
/// launches, its settings, load balancers, processes, stray tags, policies and the launch
/// configurations nothing uses any more.
pub fn diff(
    ctx: &DiffCtx<'_>,
    name: &str,
    desired: &AutoScalingGroupSpec,
    live: Option<&LiveAutoScalingGroup>,
) -> Result<Vec<AutoScalingGroupChange>, Waiting> {
    use AutoScalingGroupChange as C;
    for lb in desired.load_balancers.iter().flatten() {
        if ctx.is_desired(refs::load_balancer::KIND, lb)
            && ctx.fact(refs::load_balancer::DNS_NAME, lb).is_none()
        {
            return Err(Waiting::on(refs::load_balancer::KIND, lb));
        }
    }
    let Some(launch) = DesiredLaunch::of(ctx, name, desired)? else {
        // Rejected by validation; nothing sensible to do.
        return Ok(Vec::new());
    };
    let want_tags = desired_tags(ctx, desired);
    let processes = |live: &BTreeSet<String>| {
        Delta::between(&desired.suspended_processes, live)
            .removing_first(C::SuspendProcesses, C::ResumeProcesses)
    };
    let mut changes = Vec::new();
    let Some(live) = live else {
        let launch = launch.create(&mut changes);
        changes.push(C::CreateGroup(Box::new(GroupCreate {
            launch,
            min_size: desired.min_size,
            max_size: desired.max_size,
            desired_capacity: desired.desired_capacity,
            default_cooldown: desired.default_cooldown,
            health_check_type: desired.health_check_type.clone(),
            health_check_period: desired.health_check_period,
            availability_zones: desired.availability_zones.clone(),
            subnets: desired.subnets(),
            subnet_names: desired.subnet_names.clone().unwrap_or_default(),
            load_balancers: desired.load_balancers.clone().unwrap_or_default(),
            termination_policies: desired.termination_policies.clone().unwrap_or_default(),
            tags: want_tags,
        })));
        changes.extend(processes(&BTreeSet::new()));
        changes.extend(policies::diff(&desired.scaling_policies, &BTreeMap::new()));
        return Ok(changes);
    };

    // Ownership and tags first (adoption).
    let set = tags::to_set(&want_tags, &live.tags);
    if !set.is_empty() {
        changes.push(C::Tag(set));
    }
    let to = launch::diff(live, &launch, &mut changes);
    let update = group_update(live, desired, to);
    if !update.is_empty() {
        changes.push(C::UpdateGroup(Box::new(update)));
    }
    // Load balancers (only when written).
    if let Some(lbs) = &desired.load_balancers {
        changes.extend(
            Delta::between(&lbs.iter().cloned().collect(), &live.load_balancers)
                .removing_first(C::AttachLoadBalancers, C::DetachLoadBalancers),
        );
    }
    // Suspended processes: only the difference.
    changes.extend(processes(&live.suspended_processes));
    let untag = tags::to_remove(&want_tags, &live.tags);
    if !untag.is_empty() {
        changes.push(C::Untag(untag));
    }
    changes.extend(policies::diff(&desired.scaling_policies, &live.policies));
    // Launch configurations of ours that nothing will use once the group is updated.
    let stale = if launch.owns_configs() {
        launch::config::unused(live, launch.config_name())
    } else {
        Vec::new()
    };
    if !stale.is_empty() {
        changes.push(C::DeleteLaunchConfigurations(stale));
    }
    Ok(changes)
}
