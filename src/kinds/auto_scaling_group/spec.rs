//! The spec of a `kind: AutoScalingGroup` as manifests write it (argument names as Salt's
//! `boto_asg.present`), and the checks that need no AWS.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::policies::{self, ScalingPolicySpec};
use super::user_data;
use crate::core::Reference;
use crate::kinds::common::scalar::{CommaList, Scalar};
use crate::kinds::common::{refs, tags};

/// Auto Scaling processes that can be suspended.
pub const PROCESSES: &[&str] = &[
    "Launch",
    "Terminate",
    "HealthCheck",
    "ReplaceUnhealthy",
    "AZRebalance",
    "AlarmNotification",
    "ScheduledActions",
    "AddToLoadBalancer",
    "InstanceRefresh",
];

const HEALTH_CHECK_TYPES: &[&str] = &["EC2", "ELB", "VPC_LATTICE", "EBS"];
const TERMINATION_POLICIES: &[&str] = &[
    "Default",
    "AllocationStrategy",
    "ClosestToNextInstanceHour",
    "NewestInstance",
    "OldestInstance",
    "OldestLaunchConfiguration",
    "OldestLaunchTemplate",
];
const VOLUME_TYPES: &[&str] = &["standard", "io1", "io2", "gp2", "gp3", "sc1", "st1"];

/// The security groups (by name) its instances use and the load balancers it joins.
pub fn references(spec: &AutoScalingGroupSpec) -> Vec<Reference> {
    let launch = spec.launch_config.iter().chain(spec.launch_template.iter());
    let groups = refs::security_group::by_name(
        launch.flat_map(|l| l.0.security_groups.iter()),
        "security_groups",
    );
    let lbs = spec.load_balancers.iter().flatten().map(|lb| Reference {
        kind: refs::load_balancer::KIND,
        name: lb.clone(),
        region: None,
        field: "load_balancers",
    });
    groups.chain(lbs).collect()
}

/// The `spec` of a `kind: AutoScalingGroup` (argument names as Salt's `boto_asg.present`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroupSpec {
    /// Prefix of the launch configurations' names (`<launch_config_name>-<hash>`); default the
    /// group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_config_name: Option<String>,
    /// What instances are launched with, as a launch configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_config: Option<SaltMap<InstanceSpec>>,
    /// What instances are launched with, as a versioned EC2 launch template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template: Option<SaltMap<InstanceSpec>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// Subnet ids, as a list or Salt's comma-separated string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_zone_identifier: Option<CommaList>,
    /// Subnets by their `Name` tag (Salt's `subnet_names`), resolved at every sweep; instead
    /// of `vpc_zone_identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_names: Option<Vec<String>>,
    pub min_size: i32,
    pub max_size: i32,
    /// Managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_capacity: Option<i32>,
    /// Classic load balancer names; managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_period: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_cooldown: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_policies: Option<Vec<String>>,
    /// The complete set of suspended processes.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub suspended_processes: BTreeSet<String>,
    /// The group's complete tag set (plus `converge:managed-by`).
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// The group's complete set of (simple) scaling policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaling_policies: Vec<ScalingPolicySpec>,
    /// The instance profile (name or ARN) the instances get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile_name: Option<String>,
}

impl AutoScalingGroupSpec {
    /// The subnet ids of `vpc_zone_identifier`, as written (none when it is not).
    pub fn subnets(&self) -> Vec<String> {
        self.vpc_zone_identifier
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_default()
    }
}

/// The instance fields of a launch configuration or launch template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The launch template's name (`launch_template` only; default the group name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub image_id: String,
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Security group ids or names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_monitoring: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_optimized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associate_public_ip_address: Option<bool>,
    /// `launch_config` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_price: Option<Scalar>,
    /// Device name → volume, as Salt's list of one-key maps or a plain map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_device_mappings: Option<SaltMap<BTreeMap<String, BlockDevice>>>,
    /// Raw user data (converge base64-encodes it for AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// User data rendered from cloud-init parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInit>,
}

/// One block device (Salt's `boto_lc` keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockDevice {
    /// GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// An instance store volume (`ephemeral0` …).
    #[serde(
        default,
        alias = "virtual_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_device: Option<bool>,
}

/// Salt's `cloud_init`: parts of a multi-part MIME user data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudInit {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub boothooks: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scripts: BTreeMap<String, String>,
    /// A mapping (rendered as YAML) or a string.
    #[serde(
        rename = "cloud-config",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_config: Option<Value>,
}

/// A value written either as a map or, Salt style, as a list of one-key maps.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SaltMap<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for SaltMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let merged = merge_one_key_maps(Value::deserialize(d)?).map_err(D::Error::custom)?;
        serde_json::from_value(merged)
            .map(SaltMap)
            .map_err(D::Error::custom)
    }
}

/// `[{a: 1}, {b: 2}]` → `{a: 1, b: 2}`; a map stays as it is.
fn merge_one_key_maps(v: Value) -> Result<Value, String> {
    match v {
        Value::Object(_) => Ok(v),
        Value::Array(items) => {
            let mut out = serde_json::Map::new();
            for item in items {
                let Value::Object(m) = item else {
                    return Err(format!(
                        "expected a mapping or a list of one-key mappings, found the item {item}"
                    ));
                };
                for (k, v) in m {
                    if out.contains_key(&k) {
                        return Err(format!("`{k}` is given twice"));
                    }
                    out.insert(k, v);
                }
            }
            Ok(Value::Object(out))
        }
        other => Err(format!(
            "expected a mapping or a list of one-key mappings, found {other}"
        )),
    }
}

/// One tag as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    pub key: String,
    pub value: Scalar,
    #[serde(default)]
    pub propagate_at_launch: bool,
}

/// Tags: Salt's list of `key`/`value`/`propagate_at_launch` (default false), or a plain map
/// (every tag propagated at launch). A kind-specific type (not `common::tags::Tags`) for
/// `propagate_at_launch`; it is checked by the shared rules all the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(pub Vec<TagSpec>);

impl Tags {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            v @ Value::Array(_) => serde_json::from_value(v)
                .map(Tags)
                .map_err(D::Error::custom),
            Value::Object(m) => m
                .into_iter()
                .map(|(key, v)| {
                    let value = match v {
                        Value::String(s) => s,
                        v @ (Value::Number(_) | Value::Bool(_)) => v.to_string(),
                        other => {
                            return Err(D::Error::custom(format!(
                                "tag `{key}`: expected a string, number or boolean, found {other}"
                            )))
                        }
                    };
                    Ok(TagSpec {
                        key,
                        value: Scalar(value),
                        propagate_at_launch: true,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Tags),
            other => Err(D::Error::custom(format!(
                "expected a list of {{key, value, propagate_at_launch}} or a map, found {other}"
            ))),
        }
    }
}

/// `<field>: `<value>` must be one of <allowed>` when `value` is not allowed.
pub(super) fn one_of(p: &mut Vec<String>, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        p.push(format!(
            "{field}: `{value}` must be one of {}",
            allowed.join(", ")
        ));
    }
}

/// Every check of a group's spec (see [`crate::core::Schema::validate`]).
pub fn validate(name: &str, spec: &AutoScalingGroupSpec) -> Vec<String> {
    let mut p = Vec::new();
    if spec.min_size < 0 {
        p.push(format!("min_size: {} must not be negative", spec.min_size));
    }
    if spec.max_size < spec.min_size {
        p.push(format!(
            "max_size: {} is less than min_size {}",
            spec.max_size, spec.min_size
        ));
    }
    if let Some(d) = spec.desired_capacity {
        if d < spec.min_size || d > spec.max_size {
            p.push(format!(
                "desired_capacity: {d} must be between min_size {} and max_size {}",
                spec.min_size, spec.max_size
            ));
        }
    }
    match (&spec.launch_config, &spec.launch_template) {
        (Some(_), Some(_)) => {
            p.push("launch_config, launch_template: write exactly one of them, not both".into())
        }
        (None, None) if spec.launch_config_name.is_none() => p.push(
            "launch_config: required (or launch_template, or launch_config_name alone for an existing launch configuration): what should the group launch?".into(),
        ),
        _ => {}
    }
    if let Some(lc) = &spec.launch_config {
        check_instance("launch_config", &lc.0, false, &mut p);
    }
    if let Some(lt) = &spec.launch_template {
        check_instance("launch_template", &lt.0, true, &mut p);
    }
    match (&spec.launch_config_name, &spec.launch_template) {
        (Some(_), Some(_)) => p.push(
            "launch_config_name: only with launch_config (name a launch template with launch_template.name)"
                .to_string(),
        ),
        (Some(n), None)
            if spec.launch_config.is_some() && (n.is_empty() || n.chars().count() > 246) =>
        {
            p.push(format!(
                "launch_config_name: `{n}` must be 1 to 246 characters (converge appends `-<8 hex>`)"
            ))
        }
        (Some(n), None) if n.is_empty() || n.chars().count() > 255 => p.push(format!(
            "launch_config_name: `{n}` must be 1 to 255 characters"
        )),
        (None, None) if spec.launch_config.is_some() && name.chars().count() > 246 => p.push(
            "launch_config_name: required for a group name over 246 characters (converge appends `-<8 hex>`)"
                .to_string(),
        ),
        _ => {}
    }
    let subnets = spec.subnets();
    if spec.subnet_names.is_some() && !subnets.is_empty() {
        p.push("subnet_names: write vpc_zone_identifier or subnet_names, not both".into());
    }
    if spec
        .subnet_names
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.iter().any(|x| x.trim().is_empty()))
    {
        p.push("subnet_names: at least one name, none empty".into());
    }
    if spec.availability_zones.is_empty() && subnets.is_empty() && spec.subnet_names.is_none() {
        p.push(
            "availability_zones: required (or vpc_zone_identifier): at least one zone or subnet"
                .to_string(),
        );
    }
    for s in subnets.iter().filter(|s| !s.starts_with("subnet-")) {
        p.push(format!(
            "vpc_zone_identifier: `{s}` is not a subnet id (subnet-…)"
        ));
    }
    for proc in &spec.suspended_processes {
        if !PROCESSES.contains(&proc.as_str()) {
            p.push(format!(
                "suspended_processes: `{proc}` is not a process; one of {}",
                PROCESSES.join(", ")
            ));
        }
    }
    if let Some(t) = &spec.health_check_type {
        one_of(&mut p, "health_check_type", t, HEALTH_CHECK_TYPES);
    }
    for (field, v) in [
        ("health_check_period", spec.health_check_period),
        ("default_cooldown", spec.default_cooldown),
    ] {
        if v.is_some_and(|v| v < 0) {
            p.push(format!("{field}: must not be negative"));
        }
    }
    for t in spec.termination_policies.iter().flatten() {
        if !TERMINATION_POLICIES.contains(&t.as_str()) && !t.starts_with("arn:") {
            p.push(format!(
                "termination_policies: `{t}` must be one of {} or a Lambda function ARN",
                TERMINATION_POLICIES.join(", ")
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for t in spec.tags.0.iter().filter(|t| !seen.insert(t.key.as_str())) {
        p.push(format!("tags: `{}` is given twice", t.key));
    }
    tags::check(
        spec.tags
            .0
            .iter()
            .map(|t| (t.key.as_str(), t.value.0.as_str())),
        &mut p,
    );
    policies::check(&spec.scaling_policies, &mut p);
    if spec
        .instance_profile_name
        .as_ref()
        .is_some_and(String::is_empty)
    {
        p.push("instance_profile_name: must not be empty".to_string());
    }
    p
}

/// Checks one launch configuration or launch template.
fn check_instance(at: &str, i: &InstanceSpec, template: bool, p: &mut Vec<String>) {
    if i.image_id.trim().is_empty() {
        p.push(format!("{at}.image_id: must not be empty"));
    }
    if i.instance_type.trim().is_empty() {
        p.push(format!("{at}.instance_type: must not be empty"));
    }
    match (&i.name, template) {
        (Some(_), false) => p.push(format!(
            "{at}.name: a launch configuration is named by launch_config_name"
        )),
        (Some(n), true) => {
            let ok_chars = n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "().-/_".contains(c));
            if !(3..=128).contains(&n.len()) || !ok_chars {
                p.push(format!(
                    "{at}.name: `{n}` must be 3 to 128 letters, digits and ( ) . - / _"
                ));
            }
        }
        (None, _) => {}
    }
    if template && i.spot_price.is_some() {
        p.push(format!(
            "{at}.spot_price: only for launch_config (a launch template sets spot options itself)"
        ));
    }
    if i.user_data.is_some() && i.cloud_init.is_some() {
        p.push(format!(
            "{at}.user_data, {at}.cloud_init: write one of them, not both"
        ));
    }
    if let Some(ci) = &i.cloud_init {
        if ci.boothooks.is_empty() && ci.scripts.is_empty() && ci.cloud_config.is_none() {
            p.push(format!(
                "{at}.cloud_init: needs at least one of boothooks, scripts, cloud-config"
            ));
        }
        if ci
            .cloud_config
            .as_ref()
            .is_some_and(|v| !matches!(v, Value::String(_) | Value::Object(_)))
        {
            p.push(format!(
                "{at}.cloud_init.cloud-config: expected a mapping or a string"
            ));
        }
    }
    if let Some(u) = user_data::of(i).filter(|u| u.len() > user_data::MAX) {
        p.push(format!(
            "{at}: the user data is {} bytes; AWS allows {}",
            u.len(),
            user_data::MAX
        ));
    }
    for (device, b) in i.block_device_mappings.iter().flat_map(|m| m.0.iter()) {
        let bat = format!("{at}.block_device_mappings.{device}");
        if !device.starts_with('/') && !device.starts_with("xvd") && !device.starts_with("sd") {
            p.push(format!(
                "{bat}: `{device}` is not a device name (/dev/sda1, xvdb …)"
            ));
        }
        if let Some(t) = &b.volume_type {
            one_of(p, &format!("{bat}.volume_type"), t, VOLUME_TYPES);
        }
        for (field, v) in [
            ("size", b.size),
            ("iops", b.iops),
            ("throughput", b.throughput),
        ] {
            if v.is_some_and(|v| v < 1) {
                p.push(format!("{bat}.{field}: must be at least 1"));
            }
        }
    }
}
