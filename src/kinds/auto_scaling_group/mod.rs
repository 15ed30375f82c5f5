//! `kind: AutoScalingGroup` — an EC2 Auto Scaling group with what it launches (a launch
//! configuration or an EC2 launch template), its suspended processes, simple scaling policies
//! and tags. Field names are Salt's `boto_asg.present` arguments, so the reference stack's
//! state reads the same:
//!
//! ```yaml
//! apiVersion: converge/v1
//! kind: AutoScalingGroup
//! metadata:
//!   name: myapp-testing-useast1
//! spec:
//!   launch_config_name: myapp-testing-useast1
//!   launch_config:                 # Salt's list of one-key maps, or a plain map
//!     - image_id: ami-fakeami
//!     - key_name: example-key
//!     - security_groups: [base, myapp, myapp-testing]
//!     - instance_type: c3.large
//!     - instance_monitoring: true
//!     - cloud_init:
//!         scripts:
//!           salt: |
//!             #!/bin/bash
//!             ...
//!   availability_zones: [us-east-1a, us-east-1d, us-east-1e]
//!   suspended_processes: [AddToLoadBalancer]
//!   min_size: 30
//!   max_size: 30
//!   load_balancers: [myapp-testing-useast1]
//!   instance_profile_name: myapp-testing-useast1
//!   scaling_policies:
//!     - {name: ScaleUp, adjustment_type: ChangeInCapacity, scaling_adjustment: 5, cooldown: 1800}
//!   tags:                          # a list (propagate_at_launch defaults to false) or a plain
//!     - {key: Name, value: myapp-testing-useast1, propagate_at_launch: true}   # map (true)
//! ```
//!
//! **What is managed.** `min_size`, `max_size`, the zones (`vpc_zone_identifier` subnets when
//! given, else `availability_zones`), what the group launches, `suspended_processes`,
//! `scaling_policies` and `tags` are authoritative: processes suspended out of band are resumed,
//! policies and tags not in the spec are removed (AWS's own `aws:` tags excepted), as Salt's
//! `boto_asg.present` does. `desired_capacity`, `load_balancers`, `health_check_type`,
//! `health_check_period`, `default_cooldown` and `termination_policies` are managed only when
//! written: without `desired_capacity` converge never fights the scaling policies over capacity.
//! Suspended processes are a set: only the difference is suspended or resumed.
//!
//! **Launch configurations** are immutable. converge names each one
//! `<launch_config_name>-<content hash>` (8 hex digits of a hash over every resolved
//! launch-configuration field, user data included; `launch_config_name` defaults to the group
//! name), so an unchanged spec always names the same one and never creates another. A changed spec
//! creates the new one (an existing one of that name is the same content, so "already exists" is
//! success), moves the group onto it (`UpdateAutoScalingGroup`) and deletes the launch
//! configurations named `<launch_config_name>-<8 hex>` that no group uses any more. Launch
//! configurations carry no tags: these names are how converge recognises its own.
//!
//! **Launch templates.** AWS no longer lets new accounts create launch configurations; those users
//! write `launch_template` instead (the same instance fields as a map, plus an optional `name`,
//! default the group name). converge keeps one EC2 launch template of that name (tagged
//! `converge:managed-by`), adds a version when the content changes (`CreateLaunchTemplate` /
//! `CreateLaunchTemplateVersion`, the content hash recorded in the version description as
//! `converge:content-hash=<hash>`) and pins the group to that exact version number. An unchanged
//! spec creates no version; a version created just before a crash is found by its hash and the
//! group is pinned to it on the next sweep. Old versions are kept.
//!
//! **User data**: `user_data` (sent as written) or `cloud_init` (`boothooks`, `scripts`,
//! `cloud-config`), rendered to multi-part MIME like Salt's `get_cloud_init_mime` (boothooks, then
//! scripts, then the cloud-config part as YAML), but deterministic: parts sorted by name and a
//! fixed boundary, so the same spec always gives the same bytes (and the same content hash).
//! Plans and the audit log show `<user data, N bytes>`, never the script.
//!
//! **References.** `security_groups` take ids (`sg-…`) or names. A name is resolved through the
//! SecurityGroup kind's `id` fact; a group in the desired state that does not exist yet is waited
//! for ("waiting for SecurityGroup/<name>"). A name that is neither desired nor found is passed to
//! AWS as written, which accepts names for EC2-Classic and default-VPC groups (in a VPC, use ids).
//! `instance_profile_name` naming a desired IamRole waits for its `instance_profile_name` fact;
//! otherwise it is passed through. A desired LoadBalancer in `load_balancers` is waited for until
//! it has a `dns_name`; others pass through (AWS answers if they do not exist).
//!
//! **Reads per sweep**: `DescribeAutoScalingGroups` (all groups, 100 a page),
//! `DescribeLaunchConfigurations` (all, 100 a page) and `DescribePolicies` (all, 50 a page), one
//! paginated listing each, never a call per group; with launch templates also one
//! `DescribeLaunchTemplates` filtered by the template names, and `DescribeLaunchTemplateVersions`
//! only for versions not yet seen (versions are immutable, so their content hash is remembered).
//!
//! **Facts**: `arn`, `launch_configuration` (the current launch configuration's name) and
//! `policy:<PolicyName>` (the scaling policy's ARN; MetricAlarm resolves
//! `scaling_policy:<group>:<policy>` with it). ARNs are read back from `DescribePolicies`.
//!
//! **Prune** (`--prune`, owned groups only, within `--max-deletions`): `DeleteAutoScalingGroup`
//! with `ForceDelete` (it terminates the instances), then the group's launch configurations named
//! `<prefix>-<8 hex>` that no other group uses, and its launch template if this controller created
//! it and no other group uses it. A launch configuration AWS still holds while it finishes
//! deleting the group is left behind and logged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_autoscaling::types as asg;
use aws_sdk_ec2::types as ec2;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::common::refs;
use super::common::scalar::Scalar;
use crate::aws::{classify, Clients};
use crate::core::facts::Published;
use crate::core::schema::TagStyle;
use crate::core::{Action, Change, ErrorClass, FieldChange, KindError, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// Auto Scaling and EC2 launch-template codes that retrying will not fix.
const TERMINAL: &[&str] = &[
    "LimitExceeded",
    "ServiceLinkedRoleFailure",
    "InvalidLaunchTemplateName.MalformedException",
    "InvalidAMIID.Malformed",
    "InvalidKeyPair.NotFound",
];

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

/// Simple scaling adjustment types.
pub const ADJUSTMENT_TYPES: &[&str] = &[
    "ChangeInCapacity",
    "ExactCapacity",
    "PercentChangeInCapacity",
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

/// Recorded in a launch template version's description: `converge:content-hash=<hash>`.
pub const CONTENT_HASH_MARK: &str = "converge:content-hash=";
/// The fixed MIME boundary of rendered `cloud_init` user data.
pub const MIME_BOUNDARY: &str = "===============converge-cloud-init==";
/// AWS's limit on user data before base64 encoding.
const USER_DATA_MAX: usize = 16 * 1024;
const DELETING: &str = "Delete in progress";

// ---------------------------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------------------------

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
    pub vpc_zone_identifier: Option<Subnets>,
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

/// One simple scaling policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicySpec {
    pub name: String,
    pub adjustment_type: String,
    pub scaling_adjustment: i32,
    /// Seconds; when omitted the group's default cooldown applies (not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<i32>,
    /// `PercentChangeInCapacity` only (Salt's older name `min_adjustment_step` also works).
    #[serde(
        default,
        alias = "min_adjustment_step",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_adjustment_magnitude: Option<i32>,
}

/// A value written either as a map or, Salt style, as a list of one-key maps.
#[derive(Debug, Clone, PartialEq)]
pub struct SaltMap<T>(pub T);

impl<T: Serialize> Serialize for SaltMap<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

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

/// Subnet ids: a list, or Salt's comma-separated string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subnets(pub Vec<String>);

impl Serialize for Subnets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Subnets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Subnets(
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect(),
            )),
            v @ Value::Array(_) => serde_json::from_value(v)
                .map(Subnets)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected a list of subnet ids or a comma-separated string, found {other}"
            ))),
        }
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
/// (every tag propagated at launch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(pub Vec<TagSpec>);

impl Tags {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
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
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
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

// ---------------------------------------------------------------------------------------------
// Live state
// ---------------------------------------------------------------------------------------------

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

/// A scaling policy as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePolicy {
    pub arn: String,
    pub policy_type: Option<String>,
    pub adjustment_type: Option<String>,
    pub scaling_adjustment: Option<i32>,
    pub cooldown: Option<i32>,
    pub min_adjustment_magnitude: Option<i32>,
}

/// The EC2 launch template of a group (the one its spec names, or the one it uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTemplate {
    pub id: String,
    pub name: String,
    pub latest_version: i64,
    pub tags: BTreeMap<String, String>,
    /// Version → the content hash in its description (read: the pinned and the latest).
    pub hashes: BTreeMap<i64, Option<String>>,
    /// Another group uses this template.
    pub used_by_others: bool,
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

// ---------------------------------------------------------------------------------------------
// Changes
// ---------------------------------------------------------------------------------------------

/// The instance fields with every reference resolved: what a launch configuration or template
/// version is made of, and what its content hash covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedInstance {
    pub image_id: String,
    pub instance_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Sorted, without duplicates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramdisk_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_monitoring: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebs_optimized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associate_public_ip_address: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spot_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_instance_profile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub block_device_mappings: BTreeMap<String, BlockDevice>,
    /// Raw (not base64) user data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

impl ResolvedInstance {
    /// 8 hex digits over every field (FNV-1a 64 of the canonical JSON, folded to 32 bits):
    /// stable across builds and platforms.
    pub fn content_hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{:08x}", (h ^ (h >> 32)) as u32)
    }

    fn fields(&self, prefix: &str) -> Vec<FieldChange> {
        let mut out = Vec::new();
        let mut add = |k: &str, v: Option<String>| {
            if v.is_some() {
                out.push(FieldChange::new(format!("{prefix}.{k}"), None, v));
            }
        };
        add("image_id", Some(self.image_id.clone()));
        add("instance_type", Some(self.instance_type.clone()));
        add("key_name", self.key_name.clone());
        add(
            "security_groups",
            (!self.security_groups.is_empty()).then(|| self.security_groups.join(", ")),
        );
        add("kernel_id", self.kernel_id.clone());
        add("ramdisk_id", self.ramdisk_id.clone());
        add(
            "instance_monitoring",
            self.instance_monitoring.map(|b| b.to_string()),
        );
        add("ebs_optimized", self.ebs_optimized.map(|b| b.to_string()));
        add(
            "associate_public_ip_address",
            self.associate_public_ip_address.map(|b| b.to_string()),
        );
        add("spot_price", self.spot_price.clone());
        add("iam_instance_profile", self.iam_instance_profile.clone());
        add(
            "block_device_mappings",
            (!self.block_device_mappings.is_empty()).then(|| {
                self.block_device_mappings
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        );
        add(
            "user_data",
            self.user_data.as_deref().map(summarise_user_data),
        );
        out
    }
}

/// User data is never shown, only its size.
pub fn summarise_user_data(u: &str) -> String {
    format!("<user data, {} bytes>", u.len())
}

/// Which version of a launch template a group is pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateVersion {
    Number(i64),
    /// The version this sweep creates, found by its content hash.
    New(String),
}

/// What a group launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchRef {
    Config(String),
    Template {
        name: String,
        version: TemplateVersion,
    },
}

impl fmt::Display for LaunchRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchRef::Config(n) => write!(f, "launch configuration {n}"),
            LaunchRef::Template {
                name,
                version: TemplateVersion::Number(v),
            } => write!(f, "launch template {name} version {v}"),
            LaunchRef::Template {
                name,
                version: TemplateVersion::New(h),
            } => write!(f, "launch template {name} new version (content hash {h})"),
        }
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

impl GroupUpdate {
    fn is_empty(&self) -> bool {
        *self == GroupUpdate::default()
    }
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
    Tag(BTreeMap<String, (Option<TagValue>, TagValue)>),
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

fn describe_policy(p: &ScalingPolicySpec) -> String {
    let mut s = format!("{} {}", p.adjustment_type, p.scaling_adjustment);
    if let Some(c) = p.cooldown {
        s.push_str(&format!(", cooldown {c}"));
    }
    if let Some(m) = p.min_adjustment_magnitude {
        s.push_str(&format!(", min adjustment {m}"));
    }
    s
}

fn describe_live_policy(p: &LivePolicy) -> String {
    let mut s = format!(
        "{} {}",
        p.adjustment_type.as_deref().unwrap_or("?"),
        p.scaling_adjustment
            .map(|a| a.to_string())
            .unwrap_or_else(|| "?".into())
    );
    if let Some(c) = p.cooldown {
        s.push_str(&format!(", cooldown {c}"));
    }
    if let Some(m) = p.min_adjustment_magnitude {
        s.push_str(&format!(", min adjustment {m}"));
    }
    if let Some(t) = p.policy_type.as_deref().filter(|t| *t != "SimpleScaling") {
        s.push_str(&format!(" ({t})"));
    }
    s
}

fn join<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn fc(field: &str, from: Option<String>, to: Option<String>) -> FieldChange {
    FieldChange::new(field, from, to)
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
            C::CreateLaunchConfiguration { name, instance } => {
                let mut v = vec![fc("launch_configuration", None, Some(name.clone()))];
                v.extend(instance.fields("launch_config"));
                v
            }
            C::CreateLaunchTemplate {
                template,
                instance,
                hash,
            } => {
                let mut v = vec![fc(
                    "launch_template",
                    None,
                    Some(format!("{template} (content hash {hash})")),
                )];
                v.extend(instance.fields("launch_template"));
                v
            }
            C::CreateLaunchTemplateVersion {
                template,
                instance,
                hash,
                ..
            } => {
                let mut v = vec![fc(
                    "launch_template",
                    Some(template.clone()),
                    Some(format!("{template} new version (content hash {hash})")),
                )];
                v.extend(instance.fields("launch_template"));
                v
            }
            C::CreateGroup(g) => {
                let mut v = vec![
                    fc("launch", None, Some(g.launch.to_string())),
                    fc("min_size", None, Some(g.min_size.to_string())),
                    fc("max_size", None, Some(g.max_size.to_string())),
                ];
                let mut opt = |k: &str, val: Option<String>| {
                    if val.is_some() {
                        v.push(fc(k, None, val));
                    }
                };
                opt(
                    "desired_capacity",
                    g.desired_capacity.map(|d| d.to_string()),
                );
                opt(
                    "default_cooldown",
                    g.default_cooldown.map(|d| d.to_string()),
                );
                opt("health_check_type", g.health_check_type.clone());
                opt(
                    "health_check_period",
                    g.health_check_period.map(|d| d.to_string()),
                );
                opt(
                    "availability_zones",
                    (!g.availability_zones.is_empty()).then(|| join(&g.availability_zones)),
                );
                opt(
                    "vpc_zone_identifier",
                    (!g.subnets.is_empty()).then(|| g.subnets.join(",")),
                );
                opt(
                    "load_balancers",
                    (!g.load_balancers.is_empty()).then(|| join(&g.load_balancers)),
                );
                opt(
                    "termination_policies",
                    (!g.termination_policies.is_empty()).then(|| join(&g.termination_policies)),
                );
                for (k, t) in &g.tags {
                    v.push(fc(&format!("tags.{k}"), None, Some(t.to_string())));
                }
                v
            }
            C::UpdateGroup(u) => {
                let mut v = Vec::new();
                if let Some((old, new)) = &u.launch {
                    v.push(fc("launch", old.clone(), Some(new.to_string())));
                }
                let num = |v: &mut Vec<FieldChange>, k: &str, x: &Option<(i32, i32)>| {
                    if let Some((a, b)) = x {
                        v.push(fc(k, Some(a.to_string()), Some(b.to_string())));
                    }
                };
                num(&mut v, "min_size", &u.min_size);
                num(&mut v, "max_size", &u.max_size);
                num(&mut v, "desired_capacity", &u.desired_capacity);
                let opt = |v: &mut Vec<FieldChange>, k: &str, x: &Option<(Option<i32>, i32)>| {
                    if let Some((a, b)) = x {
                        v.push(fc(k, a.map(|a| a.to_string()), Some(b.to_string())));
                    }
                };
                opt(&mut v, "default_cooldown", &u.default_cooldown);
                opt(&mut v, "health_check_period", &u.health_check_period);
                if let Some((a, b)) = &u.health_check_type {
                    v.push(fc("health_check_type", a.clone(), Some(b.clone())));
                }
                if let Some((a, b)) = &u.availability_zones {
                    v.push(fc("availability_zones", Some(join(a)), Some(join(b))));
                }
                if let Some((a, b)) = &u.subnets {
                    v.push(fc("vpc_zone_identifier", Some(join(a)), Some(b.join(","))));
                }
                if let Some((a, b)) = &u.termination_policies {
                    v.push(fc("termination_policies", Some(join(a)), Some(join(b))));
                }
                v
            }
            C::SuspendProcesses(s) => s
                .iter()
                .map(|p| {
                    fc(
                        &format!("suspended_processes.{p}"),
                        None,
                        Some("suspended".into()),
                    )
                })
                .collect(),
            C::ResumeProcesses(s) => s
                .iter()
                .map(|p| {
                    fc(
                        &format!("suspended_processes.{p}"),
                        Some("suspended".into()),
                        None,
                    )
                })
                .collect(),
            C::AttachLoadBalancers(s) => s
                .iter()
                .map(|l| {
                    fc(
                        &format!("load_balancers.{l}"),
                        None,
                        Some("attached".into()),
                    )
                })
                .collect(),
            C::DetachLoadBalancers(s) => s
                .iter()
                .map(|l| {
                    fc(
                        &format!("load_balancers.{l}"),
                        Some("attached".into()),
                        None,
                    )
                })
                .collect(),
            C::Tag(m) => m
                .iter()
                .map(|(k, (old, new))| {
                    fc(
                        &format!("tags.{k}"),
                        old.as_ref().map(ToString::to_string),
                        Some(new.to_string()),
                    )
                })
                .collect(),
            C::Untag(m) => m
                .iter()
                .map(|(k, old)| fc(&format!("tags.{k}"), Some(old.to_string()), None))
                .collect(),
            C::PutScalingPolicy { policy, live } => vec![fc(
                &format!("scaling_policies.{}", policy.name),
                live.as_ref().map(describe_live_policy),
                Some(describe_policy(policy)),
            )],
            C::DeleteScalingPolicy { name, live } => vec![fc(
                &format!("scaling_policies.{name}"),
                Some(describe_live_policy(live)),
                None,
            )],
            C::DeleteLaunchConfigurations(names) => names
                .iter()
                .map(|n| {
                    fc(
                        &format!("launch_configurations.{n}"),
                        Some("unused".into()),
                        None,
                    )
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers: user data, names, resolution
// ---------------------------------------------------------------------------------------------

/// One MIME part as Python's `email.mime.text.MIMEText(text, subtype).as_string()` writes it:
/// ASCII as 7bit, anything else as base64 UTF-8 (76-character lines).
fn mime_part(subtype: &str, text: &str) -> String {
    if text.is_ascii() {
        format!(
            "Content-Type: text/{subtype}; charset=\"us-ascii\"\nMIME-Version: 1.0\n\
             Content-Transfer-Encoding: 7bit\n\n{text}"
        )
    } else {
        let b64 = aws_smithy_types::base64::encode(text.as_bytes());
        let mut body = String::with_capacity(b64.len() + b64.len() / 76 + 1);
        for chunk in b64.as_bytes().chunks(76) {
            body.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            body.push('\n');
        }
        format!(
            "Content-Type: text/{subtype}; charset=\"utf-8\"\nMIME-Version: 1.0\n\
             Content-Transfer-Encoding: base64\n\n{body}"
        )
    }
}

/// The cloud-config part: a string as written, a mapping as YAML.
fn cloud_config_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_saphyr::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}

/// Renders `cloud_init` to multi-part MIME user data like Salt's `get_cloud_init_mime`
/// (boothooks, scripts, then cloud-config), deterministically: parts sorted by name within each
/// group and a fixed boundary (suffixed with a number in the unlikely case a part contains it).
pub fn render_cloud_init(ci: &CloudInit) -> String {
    let mut parts: Vec<(&str, String)> = Vec::new();
    for s in ci.boothooks.values() {
        parts.push(("cloud-boothook", s.clone()));
    }
    for s in ci.scripts.values() {
        parts.push(("x-shellscript", s.clone()));
    }
    if let Some(cc) = &ci.cloud_config {
        parts.push(("cloud-config", cloud_config_text(cc)));
    }
    let mut boundary = MIME_BOUNDARY.to_string();
    let mut n = 0;
    while parts.iter().any(|(_, t)| t.contains(&boundary)) {
        n += 1;
        boundary = format!("{MIME_BOUNDARY}{n}");
    }
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    for (subtype, text) in parts {
        out.push_str("--");
        out.push_str(&boundary);
        out.push('\n');
        out.push_str(&mime_part(subtype, &text));
        out.push('\n');
    }
    out.push_str("--");
    out.push_str(&boundary);
    out.push_str("--\n");
    out
}

/// The raw user data of an instance spec.
pub fn user_data(inst: &InstanceSpec) -> Option<String> {
    match (&inst.user_data, &inst.cloud_init) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(ci)) => Some(render_cloud_init(ci)),
        (None, None) => None,
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<prefix>` of a launch configuration named `<prefix>-<8 hex>`.
pub fn lc_prefix(name: &str) -> Option<&str> {
    let (prefix, hash) = name.rsplit_once('-')?;
    (is_hash(hash) && !prefix.is_empty()).then_some(prefix)
}

/// The prefix of the group's launch configurations.
fn lc_name_prefix<'a>(name: &'a str, spec: &'a AutoScalingGroupSpec) -> &'a str {
    spec.launch_config_name.as_deref().unwrap_or(name)
}

/// The name of the group's launch template.
fn template_name<'a>(name: &'a str, inst: &'a InstanceSpec) -> &'a str {
    inst.name.as_deref().unwrap_or(name)
}

fn is_sg_id(s: &str) -> bool {
    s.starts_with("sg-")
}

/// Security group ids stay; names resolve through the SecurityGroup kind's facts.
fn resolve_security_groups(ctx: &DiffCtx<'_>, groups: &[String]) -> Result<Vec<String>, Waiting> {
    let mut out = BTreeSet::new();
    for g in groups {
        if is_sg_id(g) {
            out.insert(g.clone());
        } else if let Some(id) = ctx.fact(refs::security_group::ID, g) {
            out.insert(id.to_string());
        } else if ctx.is_desired(refs::security_group::KIND, g)
            || !ctx.has_listed(refs::security_group::KIND)
        {
            // Desired and not created yet; or the SecurityGroup kind has not listed the groups
            // yet (so a name that it would resolve does not flip to an id later and roll the
            // launch configuration for nothing).
            return Err(Waiting::on(refs::security_group::KIND, g));
        } else {
            // Neither desired nor found: AWS accepts names of EC2-Classic and default-VPC groups.
            out.insert(g.clone());
        }
    }
    Ok(out.into_iter().collect())
}

fn resolve_instance_profile(
    ctx: &DiffCtx<'_>,
    spec: &AutoScalingGroupSpec,
) -> Result<Option<String>, Waiting> {
    let Some(p) = &spec.instance_profile_name else {
        return Ok(None);
    };
    if ctx.is_desired(refs::iam_role::KIND, p) {
        return ctx
            .fact(refs::iam_role::INSTANCE_PROFILE_NAME, p)
            .map(|n| Some(n.to_string()))
            .ok_or_else(|| Waiting::on(refs::iam_role::KIND, p));
    }
    Ok(Some(p.clone()))
}

/// The instance fields with references resolved.
pub fn resolve_instance(
    ctx: &DiffCtx<'_>,
    spec: &AutoScalingGroupSpec,
    inst: &InstanceSpec,
) -> Result<ResolvedInstance, Waiting> {
    Ok(ResolvedInstance {
        image_id: inst.image_id.clone(),
        instance_type: inst.instance_type.clone(),
        key_name: inst.key_name.clone(),
        security_groups: resolve_security_groups(ctx, &inst.security_groups)?,
        kernel_id: inst.kernel_id.clone(),
        ramdisk_id: inst.ramdisk_id.clone(),
        instance_monitoring: inst.instance_monitoring,
        ebs_optimized: inst.ebs_optimized,
        associate_public_ip_address: inst.associate_public_ip_address,
        spot_price: inst.spot_price.as_ref().map(|s| s.0.clone()),
        iam_instance_profile: resolve_instance_profile(ctx, spec)?,
        block_device_mappings: inst
            .block_device_mappings
            .as_ref()
            .map(|m| m.0.clone())
            .unwrap_or_default(),
        user_data: user_data(inst),
    })
}

/// What the spec says the group launches, resolved.
enum DesiredLaunch {
    Config {
        name: String,
        instance: ResolvedInstance,
    },
    Template {
        name: String,
        instance: ResolvedInstance,
        hash: String,
    },
}

fn desired_launch(
    ctx: &DiffCtx<'_>,
    name: &str,
    spec: &AutoScalingGroupSpec,
) -> Result<Option<DesiredLaunch>, Waiting> {
    if let Some(lc) = &spec.launch_config {
        let instance = resolve_instance(ctx, spec, &lc.0)?;
        let lc_name = format!("{}-{}", lc_name_prefix(name, spec), instance.content_hash());
        return Ok(Some(DesiredLaunch::Config {
            name: lc_name,
            instance,
        }));
    }
    if let Some(lt) = &spec.launch_template {
        let instance = resolve_instance(ctx, spec, &lt.0)?;
        let hash = instance.content_hash();
        return Ok(Some(DesiredLaunch::Template {
            name: template_name(name, &lt.0).to_string(),
            instance,
            hash,
        }));
    }
    Ok(None)
}

fn desired_tags(ctx: &DiffCtx<'_>, spec: &AutoScalingGroupSpec) -> BTreeMap<String, TagValue> {
    let mut tags: BTreeMap<String, TagValue> = spec
        .tags
        .0
        .iter()
        .map(|t| {
            (
                t.key.clone(),
                TagValue {
                    value: t.value.0.clone(),
                    propagate_at_launch: t.propagate_at_launch,
                },
            )
        })
        .collect();
    tags.insert(
        MANAGED_BY_TAG.to_string(),
        TagValue {
            value: ctx.controller_id.to_string(),
            propagate_at_launch: false,
        },
    );
    tags
}

fn policy_matches(want: &ScalingPolicySpec, have: &LivePolicy) -> bool {
    have.policy_type.as_deref().unwrap_or("SimpleScaling") == "SimpleScaling"
        && have.adjustment_type.as_deref() == Some(want.adjustment_type.as_str())
        && have.scaling_adjustment == Some(want.scaling_adjustment)
        && (want.cooldown.is_none() || have.cooldown == want.cooldown)
        && (want.min_adjustment_magnitude.is_none()
            || have.min_adjustment_magnitude == want.min_adjustment_magnitude)
}

/// The version a group should be pinned to, and the changes to get there.
fn template_diff(
    live: &LiveAutoScalingGroup,
    template: &str,
    instance: &ResolvedInstance,
    hash: &str,
    changes: &mut Vec<AutoScalingGroupChange>,
) -> Option<LaunchRef> {
    let Some(t) = live.template.as_ref().filter(|t| t.name == template) else {
        changes.push(AutoScalingGroupChange::CreateLaunchTemplate {
            template: template.to_string(),
            instance: Box::new(instance.clone()),
            hash: hash.to_string(),
        });
        return Some(LaunchRef::Template {
            name: template.to_string(),
            version: TemplateVersion::New(hash.to_string()),
        });
    };
    let has = |v: i64| t.hashes.get(&v).and_then(Option::as_deref) == Some(hash);
    let pinned = live
        .launch_template
        .as_ref()
        .filter(|r| match &r.id {
            Some(id) => *id == t.id,
            None => r.name.as_deref() == Some(t.name.as_str()),
        })
        .and_then(|r| r.version.as_deref())
        .and_then(|v| v.parse::<i64>().ok());
    if pinned.is_some_and(has) {
        return None;
    }
    let version = if has(t.latest_version) {
        // Created by an earlier sweep that stopped before moving the group onto it.
        TemplateVersion::Number(t.latest_version)
    } else {
        changes.push(AutoScalingGroupChange::CreateLaunchTemplateVersion {
            template: template.to_string(),
            template_id: t.id.clone(),
            instance: Box::new(instance.clone()),
            hash: hash.to_string(),
        });
        TemplateVersion::New(hash.to_string())
    };
    Some(LaunchRef::Template {
        name: template.to_string(),
        version,
    })
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
        if let Some(v) = &ci.cloud_config {
            if !matches!(v, Value::String(_) | Value::Object(_)) {
                p.push(format!(
                    "{at}.cloud_init.cloud-config: expected a mapping or a string"
                ));
            }
        }
    }
    if let Some(u) = user_data(i) {
        if u.len() > USER_DATA_MAX {
            p.push(format!(
                "{at}: the user data is {} bytes; AWS allows {USER_DATA_MAX}",
                u.len()
            ));
        }
    }
    for (device, b) in i.block_device_mappings.iter().flat_map(|m| m.0.iter()) {
        let bat = format!("{at}.block_device_mappings.{device}");
        if !device.starts_with('/') && !device.starts_with("xvd") && !device.starts_with("sd") {
            p.push(format!(
                "{bat}: `{device}` is not a device name (/dev/sda1, xvdb …)"
            ));
        }
        if let Some(t) = &b.volume_type {
            if !VOLUME_TYPES.contains(&t.as_str()) {
                p.push(format!(
                    "{bat}.volume_type: `{t}` must be one of {}",
                    VOLUME_TYPES.join(", ")
                ));
            }
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

fn subnets(spec: &AutoScalingGroupSpec) -> Vec<String> {
    spec.vpc_zone_identifier
        .as_ref()
        .map(|s| s.0.clone())
        .unwrap_or_default()
}

/// The changes for a group that does not exist yet.
fn create_changes(
    ctx: &DiffCtx<'_>,
    spec: &AutoScalingGroupSpec,
    launch: DesiredLaunch,
) -> Vec<AutoScalingGroupChange> {
    use AutoScalingGroupChange as C;
    let mut changes = Vec::new();
    let launch = match launch {
        DesiredLaunch::Config { name, instance } => {
            changes.push(C::CreateLaunchConfiguration {
                name: name.clone(),
                instance: Box::new(instance),
            });
            LaunchRef::Config(name)
        }
        DesiredLaunch::Template {
            name,
            instance,
            hash,
        } => {
            changes.push(C::CreateLaunchTemplate {
                template: name.clone(),
                instance: Box::new(instance),
                hash: hash.clone(),
            });
            LaunchRef::Template {
                name,
                version: TemplateVersion::New(hash),
            }
        }
    };
    changes.push(C::CreateGroup(Box::new(GroupCreate {
        launch,
        min_size: spec.min_size,
        max_size: spec.max_size,
        desired_capacity: spec.desired_capacity,
        default_cooldown: spec.default_cooldown,
        health_check_type: spec.health_check_type.clone(),
        health_check_period: spec.health_check_period,
        availability_zones: spec.availability_zones.clone(),
        subnets: subnets(spec),
        load_balancers: spec.load_balancers.clone().unwrap_or_default(),
        termination_policies: spec.termination_policies.clone().unwrap_or_default(),
        tags: desired_tags(ctx, spec),
    })));
    if !spec.suspended_processes.is_empty() {
        changes.push(C::SuspendProcesses(spec.suspended_processes.clone()));
    }
    for p in &spec.scaling_policies {
        changes.push(C::PutScalingPolicy {
            policy: p.clone(),
            live: None,
        });
    }
    changes
}

// ---------------------------------------------------------------------------------------------
// The kind
// ---------------------------------------------------------------------------------------------

/// The Auto Scaling group kind.
pub struct AutoScalingGroup {
    client: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    /// (launch template id, version) → the content hash in its description. Versions are
    /// immutable, so what was read once stays true.
    versions: Mutex<HashMap<(String, i64), Option<String>>>,
    /// Launch template name → (content hash, version) of the version this process created last.
    created: Mutex<HashMap<String, (String, i64)>>,
}

impl AutoScalingGroup {
    pub fn new(clients: &Clients) -> Self {
        AutoScalingGroup {
            client: clients.autoscaling.clone(),
            ec2: clients.ec2.clone(),
            versions: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
        }
    }

    fn remember_version(&self, template_id: &str, version: i64, hash: Option<String>) {
        if let Ok(mut m) = self.versions.lock() {
            m.insert((template_id.to_string(), version), hash);
        }
    }

    fn known_version(&self, template_id: &str, version: i64) -> Option<Option<String>> {
        self.versions
            .lock()
            .ok()
            .and_then(|m| m.get(&(template_id.to_string(), version)).cloned())
    }

    fn remember_created(&self, template: &str, template_id: &str, hash: &str, version: i64) {
        if let Ok(mut m) = self.created.lock() {
            m.insert(template.to_string(), (hash.to_string(), version));
        }
        self.remember_version(template_id, version, Some(hash.to_string()));
    }

    /// Reads the given versions of one template into the cache (one call; one per version
    /// only if some version no longer exists).
    async fn read_versions(&self, template_id: &str, versions: Vec<i64>) -> Result<(), KindError> {
        let read = |vs: Vec<String>| {
            self.ec2
                .describe_launch_template_versions()
                .launch_template_id(template_id)
                .set_versions(Some(vs))
                .send()
        };
        let gone = |e: &SdkError<_, _>| code(e).is_some_and(|c| c.contains("VersionNotFound"));
        let mut found = Vec::new();
        match read(versions.iter().map(i64::to_string).collect()).await {
            Ok(o) => found.extend(o.launch_template_versions().iter().cloned()),
            // A pinned version deleted out of band: read the others one by one.
            Err(e) if gone(&e) => {
                for v in &versions {
                    match read(vec![v.to_string()]).await {
                        Ok(o) => found.extend(o.launch_template_versions().iter().cloned()),
                        Err(e) if gone(&e) => self.remember_version(template_id, *v, None),
                        Err(e) => {
                            return Err(classify(
                                "DescribeLaunchTemplateVersions",
                                template_id,
                                &e,
                                TERMINAL,
                            ))
                        }
                    }
                }
            }
            Err(e) => {
                return Err(classify(
                    "DescribeLaunchTemplateVersions",
                    template_id,
                    &e,
                    TERMINAL,
                ))
            }
        }
        for v in found {
            if let Some(n) = v.version_number() {
                self.remember_version(template_id, n, content_hash_of(v.version_description()));
            }
        }
        Ok(())
    }

    /// The latest version of a template and its content hash.
    async fn latest_version(
        &self,
        template: &str,
    ) -> Result<Option<(String, i64, Option<String>)>, KindError> {
        let out = self
            .ec2
            .describe_launch_template_versions()
            .launch_template_name(template)
            .versions("$Latest")
            .send()
            .await
            .map_err(|e| classify("DescribeLaunchTemplateVersions", template, &e, TERMINAL))?;
        Ok(out.launch_template_versions().first().and_then(|v| {
            Some((
                v.launch_template_id()?.to_string(),
                v.version_number()?,
                content_hash_of(v.version_description()),
            ))
        }))
    }

    async fn create_template_version(
        &self,
        template: &str,
        template_id: &str,
        instance: &ResolvedInstance,
        hash: &str,
    ) -> Result<(), KindError> {
        let out = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(template_id)
            .version_description(format!("{CONTENT_HASH_MARK}{hash}"))
            .launch_template_data(template_data(instance))
            .send()
            .await
            .map_err(|e| classify("CreateLaunchTemplateVersion", template, &e, TERMINAL))?;
        let n = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| {
                KindError::new(
                    ErrorClass::Retryable,
                    format!("CreateLaunchTemplateVersion {template}: no version number returned"),
                )
            })?;
        self.remember_created(template, template_id, hash, n);
        Ok(())
    }

    /// The version number to pin a group to.
    async fn template_version(
        &self,
        template: &str,
        version: &TemplateVersion,
    ) -> Result<String, KindError> {
        let hash = match version {
            TemplateVersion::Number(n) => return Ok(n.to_string()),
            TemplateVersion::New(h) => h,
        };
        let mine = self
            .created
            .lock()
            .ok()
            .and_then(|m| m.get(template).filter(|(h, _)| h == hash).map(|(_, n)| *n));
        if let Some(n) = mine {
            return Ok(n.to_string());
        }
        match self.latest_version(template).await? {
            Some((_, n, Some(h))) if h == *hash => Ok(n.to_string()),
            _ => Err(KindError::new(
                ErrorClass::Retryable,
                format!("launch template {template} has no version with content hash {hash} yet"),
            )),
        }
    }

    async fn launch_template_spec(
        &self,
        name: &str,
        version: &TemplateVersion,
    ) -> Result<asg::LaunchTemplateSpecification, KindError> {
        Ok(asg::LaunchTemplateSpecification::builder()
            .launch_template_name(name)
            .version(self.template_version(name, version).await?)
            .build())
    }

    async fn delete_launch_configurations(
        &self,
        group: &str,
        names: &[String],
    ) -> Result<(), KindError> {
        for lc in names {
            match self
                .client
                .delete_launch_configuration()
                .launch_configuration_name(lc)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("ResourceInUse") => {
                    tracing::warn!(kind = "AutoScalingGroup", name = %group, launch_configuration = %lc, "launch configuration still in use; left for now");
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(classify("DeleteLaunchConfiguration", lc, &e, TERMINAL)),
            }
        }
        Ok(())
    }
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

/// Auto Scaling says "not found" with a ValidationError.
fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().is_some_and(|s| {
        s.code() == Some("ValidationError")
            && s.message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("not found"))
    })
}

fn content_hash_of(description: Option<&str>) -> Option<String> {
    let d = description?;
    let at = d.find(CONTENT_HASH_MARK)? + CONTENT_HASH_MARK.len();
    let h = d.get(at..at + 8)?;
    is_hash(h).then(|| h.to_string())
}

fn b64(s: &str) -> String {
    aws_smithy_types::base64::encode(s.as_bytes())
}

fn lc_block_devices(m: &BTreeMap<String, BlockDevice>) -> Vec<asg::BlockDeviceMapping> {
    m.iter()
        .map(|(device, b)| {
            let mut bd = asg::BlockDeviceMapping::builder()
                .device_name(device)
                .set_virtual_name(b.ephemeral_name.clone())
                .set_no_device(b.no_device);
            if b.ephemeral_name.is_none() && b.no_device != Some(true) {
                bd = bd.ebs(
                    asg::Ebs::builder()
                        .set_volume_size(b.size)
                        .set_volume_type(b.volume_type.clone())
                        .set_iops(b.iops)
                        .set_throughput(b.throughput)
                        .set_snapshot_id(b.snapshot_id.clone())
                        .set_delete_on_termination(b.delete_on_termination)
                        .set_encrypted(b.encrypted)
                        .build(),
                );
            }
            bd.build()
        })
        .collect()
}

/// A launch template version's data.
fn template_data(i: &ResolvedInstance) -> ec2::RequestLaunchTemplateData {
    let mut d = ec2::RequestLaunchTemplateData::builder()
        .image_id(&i.image_id)
        .instance_type(ec2::InstanceType::from(i.instance_type.as_str()))
        .set_key_name(i.key_name.clone())
        .set_kernel_id(i.kernel_id.clone())
        .set_ram_disk_id(i.ramdisk_id.clone())
        .set_ebs_optimized(i.ebs_optimized)
        .set_user_data(i.user_data.as_deref().map(b64));
    if let Some(m) = i.instance_monitoring {
        d = d.monitoring(
            ec2::LaunchTemplatesMonitoringRequest::builder()
                .enabled(m)
                .build(),
        );
    }
    if let Some(p) = &i.iam_instance_profile {
        let spec = ec2::LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        d = d.iam_instance_profile(if p.starts_with("arn:") {
            spec.arn(p).build()
        } else {
            spec.name(p).build()
        });
    }
    if let Some(public) = i.associate_public_ip_address {
        // A public address is a network-interface setting; the groups go with it (ids only).
        d = d.network_interfaces(
            ec2::LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(0)
                .associate_public_ip_address(public)
                .set_groups((!i.security_groups.is_empty()).then(|| i.security_groups.clone()))
                .build(),
        );
    } else {
        let (ids, names): (Vec<String>, Vec<String>) =
            i.security_groups.iter().cloned().partition(|g| is_sg_id(g));
        d = d
            .set_security_group_ids((!ids.is_empty()).then_some(ids))
            .set_security_groups((!names.is_empty()).then_some(names));
    }
    for (device, b) in &i.block_device_mappings {
        let mut bd = ec2::LaunchTemplateBlockDeviceMappingRequest::builder()
            .device_name(device)
            .set_virtual_name(b.ephemeral_name.clone());
        if b.no_device == Some(true) {
            bd = bd.no_device("");
        } else if b.ephemeral_name.is_none() {
            bd = bd.ebs(
                ec2::LaunchTemplateEbsBlockDeviceRequest::builder()
                    .set_volume_size(b.size)
                    .set_volume_type(b.volume_type.as_deref().map(ec2::VolumeType::from))
                    .set_iops(b.iops)
                    .set_throughput(b.throughput)
                    .set_snapshot_id(b.snapshot_id.clone())
                    .set_delete_on_termination(b.delete_on_termination)
                    .set_encrypted(b.encrypted)
                    .build(),
            );
        }
        d = d.block_device_mappings(bd.build());
    }
    d.build()
}

fn asg_tag(group: &str, key: &str, v: Option<&TagValue>) -> asg::Tag {
    let t = asg::Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(key);
    match v {
        Some(v) => t
            .value(&v.value)
            .propagate_at_launch(v.propagate_at_launch)
            .build(),
        None => t.build(),
    }
}

/// The launch configurations and template of one group, from the fleet-wide listings.
fn attach_launch_info(
    name: &str,
    live: &mut LiveAutoScalingGroup,
    spec: Option<&AutoScalingGroupSpec>,
    lc_names: &BTreeSet<String>,
    lc_users: &HashMap<String, BTreeSet<String>>,
) {
    let mut prefixes = BTreeSet::new();
    if let Some(s) = spec.filter(|s| s.launch_config.is_some()) {
        prefixes.insert(lc_name_prefix(name, s).to_string());
    }
    if let Some(p) = live.launch_configuration.as_deref().and_then(lc_prefix) {
        prefixes.insert(p.to_string());
    }
    live.launch_configs = lc_names
        .iter()
        .filter(|lc| lc_prefix(lc).is_some_and(|p| prefixes.contains(p)))
        .map(|lc| {
            let others = lc_users
                .get(lc)
                .is_some_and(|users| users.iter().any(|u| u != name));
            (lc.clone(), others)
        })
        .collect();
}

fn live_group(g: &asg::AutoScalingGroup) -> LiveAutoScalingGroup {
    LiveAutoScalingGroup {
        arn: g.auto_scaling_group_arn().unwrap_or_default().to_string(),
        min_size: g.min_size().unwrap_or_default(),
        max_size: g.max_size().unwrap_or_default(),
        desired_capacity: g.desired_capacity().unwrap_or_default(),
        default_cooldown: g.default_cooldown(),
        health_check_type: g.health_check_type().map(String::from),
        health_check_period: g.health_check_grace_period(),
        availability_zones: g.availability_zones().iter().cloned().collect(),
        subnets: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        load_balancers: g.load_balancer_names().iter().cloned().collect(),
        termination_policies: g.termination_policies().to_vec(),
        suspended_processes: g
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(String::from))
            .collect(),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    TagValue {
                        value: t.value().unwrap_or_default().to_string(),
                        propagate_at_launch: t.propagate_at_launch().unwrap_or(false),
                    },
                ))
            })
            .collect(),
        launch_configuration: g.launch_configuration_name().map(String::from),
        launch_template: g.launch_template().map(|t| LiveTemplateRef {
            id: t.launch_template_id().map(String::from),
            name: t.launch_template_name().map(String::from),
            version: t.version().map(String::from),
        }),
        policies: BTreeMap::new(),
        launch_configs: BTreeMap::new(),
        template: None,
    }
}

impl Schema for AutoScalingGroup {
    const NAME: &'static str = refs::auto_scaling_group::KIND;
    const TAGS: TagStyle = TagStyle::List;
    type Spec = AutoScalingGroupSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        if name.is_empty() || name.chars().count() > 255 {
            return Err(format!(
                "Auto Scaling group name `{name}` must be 1 to 255 characters long"
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(format!(
                "Auto Scaling group name `{name}` may not contain control characters"
            ));
        }
        Ok(())
    }

    fn validate(name: &str, spec: &AutoScalingGroupSpec) -> Vec<String> {
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
            (Some(_), Some(_)) => p.push(
                "launch_config, launch_template: write exactly one of them, not both".to_string(),
            ),
            (None, None) => p.push(
                "launch_config: required (or launch_template): what should the group launch?"
                    .to_string(),
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
            (Some(n), None) if n.is_empty() || n.chars().count() > 246 => p.push(format!(
                "launch_config_name: `{n}` must be 1 to 246 characters (converge appends `-<8 hex>`)"
            )),
            (None, None) if spec.launch_config.is_some() && name.chars().count() > 246 => p.push(
                "launch_config_name: required for a group name over 246 characters (converge appends `-<8 hex>`)"
                    .to_string(),
            ),
            _ => {}
        }
        let subnets = subnets(spec);
        if spec.availability_zones.is_empty() && subnets.is_empty() {
            p.push(
                "availability_zones: required (or vpc_zone_identifier): at least one zone or subnet"
                    .to_string(),
            );
        }
        for s in &subnets {
            if !s.starts_with("subnet-") {
                p.push(format!(
                    "vpc_zone_identifier: `{s}` is not a subnet id (subnet-…)"
                ));
            }
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
            if !HEALTH_CHECK_TYPES.contains(&t.as_str()) {
                p.push(format!(
                    "health_check_type: `{t}` must be one of {}",
                    HEALTH_CHECK_TYPES.join(", ")
                ));
            }
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
        for t in &spec.tags.0 {
            if !seen.insert(t.key.as_str()) {
                p.push(format!("tags: `{}` is given twice", t.key));
            }
            if t.key.is_empty() || t.key.chars().count() > 128 {
                p.push(format!("tags: key `{}` must be 1 to 128 characters", t.key));
            }
            if t.value.0.chars().count() > 256 {
                p.push(format!("tags.{}: the value is over 256 characters", t.key));
            }
            if t.key.starts_with("aws:") {
                p.push(format!("tags: `{}`: the `aws:` prefix is reserved", t.key));
            }
            if t.key == MANAGED_BY_TAG {
                p.push(format!(
                    "tags: `{MANAGED_BY_TAG}` is set by converge itself"
                ));
            }
        }
        if spec.tags.0.len() > 49 {
            p.push("tags: at most 49 tags (AWS allows 50, one is converge's own)".to_string());
        }
        let mut names = BTreeSet::new();
        for pol in &spec.scaling_policies {
            let at = format!("scaling_policies.{}", pol.name);
            if pol.name.is_empty() || pol.name.chars().count() > 255 {
                p.push(format!("{at}: the name must be 1 to 255 characters"));
            }
            if pol.name.contains(':') {
                p.push(format!(
                    "{at}: the name may not contain `:` (alarms refer to `scaling_policy:<group>:<policy>`)"
                ));
            }
            if !names.insert(pol.name.as_str()) {
                p.push(format!("{at}: the policy is given twice"));
            }
            if !ADJUSTMENT_TYPES.contains(&pol.adjustment_type.as_str()) {
                p.push(format!(
                    "{at}.adjustment_type: `{}` must be one of {}",
                    pol.adjustment_type,
                    ADJUSTMENT_TYPES.join(", ")
                ));
            }
            if pol.cooldown.is_some_and(|c| c < 0) {
                p.push(format!("{at}.cooldown: must not be negative"));
            }
            if let Some(m) = pol.min_adjustment_magnitude {
                if pol.adjustment_type != "PercentChangeInCapacity" {
                    p.push(format!(
                        "{at}.min_adjustment_magnitude: only for adjustment_type PercentChangeInCapacity"
                    ));
                }
                if m < 1 {
                    p.push(format!("{at}.min_adjustment_magnitude: must be at least 1"));
                }
            }
        }
        if let Some(ip) = &spec.instance_profile_name {
            if ip.is_empty() {
                p.push("instance_profile_name: must not be empty".to_string());
            }
        }
        p
    }
}

impl Kind for AutoScalingGroup {
    type Live = LiveAutoScalingGroup;
    type Change = AutoScalingGroupChange;

    async fn observe(
        &self,
        scope: &Scope<'_, AutoScalingGroupSpec>,
    ) -> Result<Observed<LiveAutoScalingGroup>, KindError> {
        let groups = self
            .client
            .describe_auto_scaling_groups()
            .max_records(100)
            .into_paginator()
            .items()
            .send()
            .try_collect();
        let lcs = self
            .client
            .describe_launch_configurations()
            .max_records(100)
            .into_paginator()
            .items()
            .send()
            .try_collect();
        let policies = self
            .client
            .describe_policies()
            .max_records(50)
            .into_paginator()
            .items()
            .send()
            .try_collect();
        let (groups, lcs, policies) = tokio::join!(groups, lcs, policies);
        let groups: Vec<asg::AutoScalingGroup> = groups
            .map_err(|e| classify("DescribeAutoScalingGroups", "(all groups)", &e, TERMINAL))?;
        let lcs: Vec<asg::LaunchConfiguration> = lcs.map_err(|e| {
            classify(
                "DescribeLaunchConfigurations",
                "(all launch configurations)",
                &e,
                TERMINAL,
            )
        })?;
        let policies: Vec<asg::ScalingPolicy> =
            policies.map_err(|e| classify("DescribePolicies", "(all policies)", &e, TERMINAL))?;

        let lc_names: BTreeSet<String> = lcs
            .iter()
            .filter_map(|l| l.launch_configuration_name().map(String::from))
            .collect();
        let mut lc_users: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut template_users: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut out: Observed<LiveAutoScalingGroup> = BTreeMap::new();
        for g in &groups {
            let Some(name) = g.auto_scaling_group_name() else {
                continue;
            };
            let live = live_group(g);
            if let Some(lc) = &live.launch_configuration {
                lc_users
                    .entry(lc.clone())
                    .or_default()
                    .insert(name.to_string());
            }
            if let Some(id) = live.launch_template.as_ref().and_then(|t| t.id.clone()) {
                template_users
                    .entry(id)
                    .or_default()
                    .insert(name.to_string());
            }
            // A group AWS is deleting still holds its launch configuration, but is not there
            // to manage (or to delete again).
            if g.status() != Some(DELETING) {
                out.insert(name.to_string(), live);
            }
        }
        for p in &policies {
            let (Some(group), Some(name)) = (p.auto_scaling_group_name(), p.policy_name()) else {
                continue;
            };
            if let Some(live) = out.get_mut(group) {
                live.policies.insert(
                    name.to_string(),
                    LivePolicy {
                        arn: p.policy_arn().unwrap_or_default().to_string(),
                        policy_type: p.policy_type().map(String::from),
                        adjustment_type: p.adjustment_type().map(String::from),
                        scaling_adjustment: p.scaling_adjustment(),
                        cooldown: p.cooldown(),
                        min_adjustment_magnitude: p.min_adjustment_magnitude(),
                    },
                );
            }
        }
        for (name, live) in out.iter_mut() {
            attach_launch_info(name, live, scope.desired.get(name), &lc_names, &lc_users);
        }

        // Launch templates: the ones desired specs name, and the ones groups in scope use.
        let mut wanted: BTreeMap<String, String> = BTreeMap::new(); // group → template name
        for (name, spec) in scope.desired {
            if let Some(lt) = &spec.launch_template {
                wanted.insert(name.clone(), template_name(name, &lt.0).to_string());
            }
        }
        for (name, live) in &out {
            if wanted.contains_key(name) || !(scope.all || scope.desired.contains_key(name)) {
                continue;
            }
            if let Some(t) = live.launch_template.as_ref().and_then(|t| t.name.clone()) {
                wanted.insert(name.clone(), t);
            }
        }
        if wanted.is_empty() {
            return Ok(out);
        }
        let names: BTreeSet<String> = wanted.values().cloned().collect();
        let names: Vec<String> = names.into_iter().collect();
        let mut templates: BTreeMap<String, ec2::LaunchTemplate> = BTreeMap::new();
        for chunk in names.chunks(200) {
            let found: Vec<ec2::LaunchTemplate> = self
                .ec2
                .describe_launch_templates()
                .filters(
                    ec2::Filter::builder()
                        .name("launch-template-name")
                        .set_values(Some(chunk.to_vec()))
                        .build(),
                )
                .max_results(200)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| {
                    classify(
                        "DescribeLaunchTemplates",
                        "(launch templates of the groups)",
                        &e,
                        TERMINAL,
                    )
                })?;
            for t in found {
                if let Some(n) = t.launch_template_name() {
                    templates.insert(n.to_string(), t);
                }
            }
        }
        // Versions to know: every template's latest, and each group's pinned one.
        let mut need: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for (group, tname) in &wanted {
            let Some(t) = templates.get(tname) else {
                continue;
            };
            let (Some(id), Some(latest)) = (t.launch_template_id(), t.latest_version_number())
            else {
                continue;
            };
            let mut versions = BTreeSet::from([latest]);
            if let Some(pinned) = out
                .get(group)
                .and_then(|l| l.launch_template.as_ref())
                .filter(|r| r.id.as_deref() == Some(id))
                .and_then(|r| r.version.as_deref())
                .and_then(|v| v.parse::<i64>().ok())
            {
                versions.insert(pinned);
            }
            for v in versions {
                if self.known_version(id, v).is_none() {
                    need.entry(id.to_string()).or_default().insert(v);
                }
            }
        }
        stream::iter(need)
            .map(|(id, versions)| async move {
                self.read_versions(&id, versions.into_iter().collect())
                    .await
            })
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        for (group, tname) in &wanted {
            let Some(t) = templates.get(tname) else {
                continue;
            };
            let (Some(id), Some(latest)) = (t.launch_template_id(), t.latest_version_number())
            else {
                continue;
            };
            let Some(live) = out.get_mut(group) else {
                continue;
            };
            let mut versions = vec![latest];
            if let Some(v) = live
                .launch_template
                .as_ref()
                .and_then(|r| r.version.as_deref())
                .and_then(|v| v.parse::<i64>().ok())
            {
                versions.push(v);
            }
            live.template = Some(LiveTemplate {
                id: id.to_string(),
                name: tname.clone(),
                latest_version: latest,
                tags: t
                    .tags()
                    .iter()
                    .filter_map(|x| Some((x.key()?.to_string(), x.value()?.to_string())))
                    .collect(),
                hashes: versions
                    .into_iter()
                    .filter_map(|v| self.known_version(id, v).map(|h| (v, h)))
                    .collect(),
                used_by_others: template_users
                    .get(id)
                    .is_some_and(|users| users.iter().any(|u| u != group)),
            });
        }
        Ok(out)
    }

    fn owner(live: &LiveAutoScalingGroup) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(|t| t.value.as_str())
    }

    fn facts(_name: &str, live: &LiveAutoScalingGroup, out: &mut Published) {
        out.set(refs::auto_scaling_group::ARN, &live.arn);
        if let Some(lc) = &live.launch_configuration {
            out.set(refs::auto_scaling_group::LAUNCH_CONFIGURATION, lc);
        }
        for (name, p) in &live.policies {
            if !p.arn.is_empty() {
                out.set_in(refs::auto_scaling_group::POLICY_ARN, name, &p.arn);
            }
        }
    }

    fn diff(
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
        let Some(launch) = desired_launch(ctx, name, desired)? else {
            // Rejected by validation; nothing sensible to do.
            return Ok(Vec::new());
        };
        let Some(live) = live else {
            return Ok(create_changes(ctx, desired, launch));
        };
        let mut changes = Vec::new();

        // Ownership and tags first (adoption).
        let tags = desired_tags(ctx, desired);
        let tag: BTreeMap<String, (Option<TagValue>, TagValue)> = tags
            .iter()
            .filter(|(k, v)| live.tags.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), (live.tags.get(k).cloned(), v.clone())))
            .collect();
        if !tag.is_empty() {
            changes.push(C::Tag(tag));
        }

        // What the group launches.
        let mut update = GroupUpdate::default();
        let mut keep_lc = None;
        match &launch {
            DesiredLaunch::Config { name: lc, instance } => {
                keep_lc = Some(lc.clone());
                if live.launch_configuration.as_deref() != Some(lc.as_str()) {
                    if !live.launch_configs.contains_key(lc) {
                        changes.push(C::CreateLaunchConfiguration {
                            name: lc.clone(),
                            instance: Box::new(instance.clone()),
                        });
                    }
                    update.launch = Some((live.launch_display(), LaunchRef::Config(lc.clone())));
                }
            }
            DesiredLaunch::Template {
                name: template,
                instance,
                hash,
            } => {
                if let Some(to) = template_diff(live, template, instance, hash, &mut changes) {
                    update.launch = Some((live.launch_display(), to));
                }
            }
        }

        // Group settings.
        if live.min_size != desired.min_size {
            update.min_size = Some((live.min_size, desired.min_size));
        }
        if live.max_size != desired.max_size {
            update.max_size = Some((live.max_size, desired.max_size));
        }
        if let Some(d) = desired.desired_capacity {
            if live.desired_capacity != d {
                update.desired_capacity = Some((live.desired_capacity, d));
            }
        }
        if let Some(c) = desired.default_cooldown {
            if live.default_cooldown != Some(c) {
                update.default_cooldown = Some((live.default_cooldown, c));
            }
        }
        if let Some(t) = &desired.health_check_type {
            if live.health_check_type.as_ref() != Some(t) {
                update.health_check_type = Some((live.health_check_type.clone(), t.clone()));
            }
        }
        if let Some(pd) = desired.health_check_period {
            if live.health_check_period != Some(pd) {
                update.health_check_period = Some((live.health_check_period, pd));
            }
        }
        let want_subnets = subnets(desired);
        if !want_subnets.is_empty() {
            let want: BTreeSet<String> = want_subnets.iter().cloned().collect();
            if live.subnets != want {
                update.subnets = Some((live.subnets.clone(), want_subnets));
            }
        } else {
            let want: BTreeSet<String> = desired.availability_zones.iter().cloned().collect();
            if live.availability_zones != want {
                update.availability_zones = Some((
                    live.availability_zones.clone(),
                    desired.availability_zones.clone(),
                ));
            }
        }
        if let Some(t) = &desired.termination_policies {
            if &live.termination_policies != t {
                update.termination_policies = Some((live.termination_policies.clone(), t.clone()));
            }
        }
        if !update.is_empty() {
            changes.push(C::UpdateGroup(Box::new(update)));
        }

        // Load balancers (only when written).
        if let Some(lbs) = &desired.load_balancers {
            let want: BTreeSet<String> = lbs.iter().cloned().collect();
            let detach: BTreeSet<String> = live.load_balancers.difference(&want).cloned().collect();
            let attach: BTreeSet<String> = want.difference(&live.load_balancers).cloned().collect();
            if !detach.is_empty() {
                changes.push(C::DetachLoadBalancers(detach));
            }
            if !attach.is_empty() {
                changes.push(C::AttachLoadBalancers(attach));
            }
        }

        // Suspended processes: only the difference.
        let resume: BTreeSet<String> = live
            .suspended_processes
            .difference(&desired.suspended_processes)
            .cloned()
            .collect();
        let suspend: BTreeSet<String> = desired
            .suspended_processes
            .difference(&live.suspended_processes)
            .cloned()
            .collect();
        if !resume.is_empty() {
            changes.push(C::ResumeProcesses(resume));
        }
        if !suspend.is_empty() {
            changes.push(C::SuspendProcesses(suspend));
        }

        let untag: BTreeMap<String, TagValue> = live
            .tags
            .iter()
            .filter(|(k, _)| !tags.contains_key(*k) && !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !untag.is_empty() {
            changes.push(C::Untag(untag));
        }

        // Scaling policies: the spec's set, nothing else.
        for p in &desired.scaling_policies {
            let have = live.policies.get(&p.name);
            if !have.is_some_and(|h| policy_matches(p, h)) {
                changes.push(C::PutScalingPolicy {
                    policy: p.clone(),
                    live: have.cloned(),
                });
            }
        }
        for (pname, p) in &live.policies {
            if !desired.scaling_policies.iter().any(|d| &d.name == pname) {
                changes.push(C::DeleteScalingPolicy {
                    name: pname.clone(),
                    live: p.clone(),
                });
            }
        }

        // Launch configurations of ours that nothing will use once the group is updated.
        let stale: Vec<String> = live
            .launch_configs
            .iter()
            .filter(|(lc, others)| !**others && Some(*lc) != keep_lc.as_ref())
            .map(|(lc, _)| lc.clone())
            .collect();
        if !stale.is_empty() {
            changes.push(C::DeleteLaunchConfigurations(stale));
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveAutoScalingGroup>,
        change: &AutoScalingGroupChange,
    ) -> Result<(), KindError> {
        use AutoScalingGroupChange as C;
        match change {
            C::CreateLaunchConfiguration { name: lc, instance } => {
                let i = instance;
                let res = self
                    .client
                    .create_launch_configuration()
                    .launch_configuration_name(lc)
                    .image_id(&i.image_id)
                    .instance_type(&i.instance_type)
                    .set_key_name(i.key_name.clone())
                    .set_security_groups(
                        (!i.security_groups.is_empty()).then(|| i.security_groups.clone()),
                    )
                    .set_kernel_id(i.kernel_id.clone())
                    .set_ramdisk_id(i.ramdisk_id.clone())
                    .set_instance_monitoring(
                        i.instance_monitoring
                            .map(|m| asg::InstanceMonitoring::builder().enabled(m).build()),
                    )
                    .set_ebs_optimized(i.ebs_optimized)
                    .set_associate_public_ip_address(i.associate_public_ip_address)
                    .set_spot_price(i.spot_price.clone())
                    .set_iam_instance_profile(i.iam_instance_profile.clone())
                    .set_block_device_mappings(
                        (!i.block_device_mappings.is_empty())
                            .then(|| lc_block_devices(&i.block_device_mappings)),
                    )
                    .set_user_data(i.user_data.as_deref().map(b64))
                    .send()
                    .await;
                match res {
                    Ok(_) => {}
                    // Same name, same content hash: an earlier attempt made it.
                    Err(e) if code(&e) == Some("AlreadyExists") => {}
                    Err(e) => return Err(classify("CreateLaunchConfiguration", lc, &e, TERMINAL)),
                }
            }
            C::CreateLaunchTemplate {
                template,
                instance,
                hash,
            } => {
                let res = self
                    .ec2
                    .create_launch_template()
                    .launch_template_name(template)
                    .version_description(format!("{CONTENT_HASH_MARK}{hash}"))
                    .launch_template_data(template_data(instance))
                    .tag_specifications(
                        ec2::TagSpecification::builder()
                            .resource_type(ec2::ResourceType::LaunchTemplate)
                            .tags(
                                ec2::Tag::builder()
                                    .key(MANAGED_BY_TAG)
                                    .value(ctx.controller_id)
                                    .build(),
                            )
                            .build(),
                    )
                    .send()
                    .await;
                match res {
                    Ok(out) => {
                        let t = out.launch_template();
                        let id = t.and_then(|t| t.launch_template_id()).unwrap_or_default();
                        let v = t.and_then(|t| t.latest_version_number()).unwrap_or(1);
                        self.remember_created(template, id, hash, v);
                    }
                    Err(e) if code(&e).is_some_and(|c| c.contains("AlreadyExists")) => {
                        // An earlier attempt (or someone) made it: reuse its latest version if it
                        // has this content, else add one.
                        match self.latest_version(template).await? {
                            Some((id, v, Some(h))) if h == *hash => {
                                self.remember_created(template, &id, hash, v)
                            }
                            Some((id, _, _)) => {
                                self.create_template_version(template, &id, instance, hash)
                                    .await?
                            }
                            None => {
                                return Err(classify(
                                    "CreateLaunchTemplate",
                                    template,
                                    &e,
                                    TERMINAL,
                                ))
                            }
                        }
                    }
                    Err(e) => return Err(classify("CreateLaunchTemplate", template, &e, TERMINAL)),
                }
            }
            C::CreateLaunchTemplateVersion {
                template,
                template_id,
                instance,
                hash,
            } => {
                self.create_template_version(template, template_id, instance, hash)
                    .await?
            }
            C::CreateGroup(g) => {
                let mut req = self
                    .client
                    .create_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .min_size(g.min_size)
                    .max_size(g.max_size)
                    .set_desired_capacity(g.desired_capacity)
                    .set_default_cooldown(g.default_cooldown)
                    .set_health_check_type(g.health_check_type.clone())
                    .set_health_check_grace_period(g.health_check_period)
                    .set_availability_zones(
                        (!g.availability_zones.is_empty()).then(|| g.availability_zones.clone()),
                    )
                    .set_vpc_zone_identifier((!g.subnets.is_empty()).then(|| g.subnets.join(",")))
                    .set_load_balancer_names(
                        (!g.load_balancers.is_empty()).then(|| g.load_balancers.clone()),
                    )
                    .set_termination_policies(
                        (!g.termination_policies.is_empty())
                            .then(|| g.termination_policies.clone()),
                    )
                    .set_tags(Some(
                        g.tags
                            .iter()
                            .map(|(k, v)| asg_tag(name, k, Some(v)))
                            .collect(),
                    ));
                req = match &g.launch {
                    LaunchRef::Config(lc) => req.launch_configuration_name(lc),
                    LaunchRef::Template {
                        name: t,
                        version: v,
                    } => req.launch_template(self.launch_template_spec(t, v).await?),
                };
                match req.send().await {
                    Ok(_) => {}
                    // An earlier attempt made it; the next sweep compares everything.
                    Err(e) if code(&e) == Some("AlreadyExists") => {}
                    Err(e) => return Err(classify("CreateAutoScalingGroup", name, &e, TERMINAL)),
                }
            }
            C::UpdateGroup(u) => {
                let mut req = self
                    .client
                    .update_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .set_min_size(u.min_size.map(|x| x.1))
                    .set_max_size(u.max_size.map(|x| x.1))
                    .set_desired_capacity(u.desired_capacity.map(|x| x.1))
                    .set_default_cooldown(u.default_cooldown.map(|x| x.1))
                    .set_health_check_type(u.health_check_type.as_ref().map(|x| x.1.clone()))
                    .set_health_check_grace_period(u.health_check_period.map(|x| x.1))
                    .set_availability_zones(u.availability_zones.as_ref().map(|x| x.1.clone()))
                    .set_vpc_zone_identifier(u.subnets.as_ref().map(|x| x.1.join(",")))
                    .set_termination_policies(u.termination_policies.as_ref().map(|x| x.1.clone()));
                match u.launch.as_ref().map(|x| &x.1) {
                    Some(LaunchRef::Config(lc)) => req = req.launch_configuration_name(lc),
                    Some(LaunchRef::Template {
                        name: t,
                        version: v,
                    }) => req = req.launch_template(self.launch_template_spec(t, v).await?),
                    None => {}
                }
                req.send()
                    .await
                    .map_err(|e| classify("UpdateAutoScalingGroup", name, &e, TERMINAL))?;
            }
            C::SuspendProcesses(s) => {
                self.client
                    .suspend_processes()
                    .auto_scaling_group_name(name)
                    .set_scaling_processes(Some(s.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| classify("SuspendProcesses", name, &e, TERMINAL))?;
            }
            C::ResumeProcesses(s) => {
                self.client
                    .resume_processes()
                    .auto_scaling_group_name(name)
                    .set_scaling_processes(Some(s.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| classify("ResumeProcesses", name, &e, TERMINAL))?;
            }
            C::AttachLoadBalancers(s) => {
                self.client
                    .attach_load_balancers()
                    .auto_scaling_group_name(name)
                    .set_load_balancer_names(Some(s.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| classify("AttachLoadBalancers", name, &e, TERMINAL))?;
            }
            C::DetachLoadBalancers(s) => {
                self.client
                    .detach_load_balancers()
                    .auto_scaling_group_name(name)
                    .set_load_balancer_names(Some(s.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| classify("DetachLoadBalancers", name, &e, TERMINAL))?;
            }
            C::Tag(m) => {
                self.client
                    .create_or_update_tags()
                    .set_tags(Some(
                        m.iter()
                            .map(|(k, (_, v))| asg_tag(name, k, Some(v)))
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| classify("CreateOrUpdateTags", name, &e, TERMINAL))?;
            }
            C::Untag(m) => {
                self.client
                    .delete_tags()
                    .set_tags(Some(m.keys().map(|k| asg_tag(name, k, None)).collect()))
                    .send()
                    .await
                    .map_err(|e| classify("DeleteTags", name, &e, TERMINAL))?;
            }
            C::PutScalingPolicy { policy, .. } => {
                // moto answers `PolicyArn` where AWS says `PolicyARN`: the ARN is read back from
                // DescribePolicies on the next sweep either way.
                self.client
                    .put_scaling_policy()
                    .auto_scaling_group_name(name)
                    .policy_name(&policy.name)
                    .policy_type("SimpleScaling")
                    .adjustment_type(&policy.adjustment_type)
                    .scaling_adjustment(policy.scaling_adjustment)
                    .set_cooldown(policy.cooldown)
                    .set_min_adjustment_magnitude(policy.min_adjustment_magnitude)
                    .send()
                    .await
                    .map_err(|e| {
                        classify(
                            "PutScalingPolicy",
                            &format!("{name} policy {}", policy.name),
                            &e,
                            TERMINAL,
                        )
                    })?;
            }
            C::DeleteScalingPolicy { name: policy, .. } => {
                match self
                    .client
                    .delete_policy()
                    .auto_scaling_group_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        return Err(classify(
                            "DeletePolicy",
                            &format!("{name} policy {policy}"),
                            &e,
                            TERMINAL,
                        ))
                    }
                }
            }
            C::DeleteLaunchConfigurations(names) => {
                self.delete_launch_configurations(name, names).await?
            }
        }
        Ok(())
    }

    async fn delete(&self, name: &str, live: &LiveAutoScalingGroup) -> Result<(), KindError> {
        match self
            .client
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(classify("DeleteAutoScalingGroup", name, &e, TERMINAL)),
        }
        // The group's own launch configuration is among them (its name gives the prefix).
        let lcs: Vec<String> = live
            .launch_configs
            .iter()
            .filter(|(_, others)| !**others)
            .map(|(lc, _)| lc.clone())
            .collect();
        self.delete_launch_configurations(name, &lcs).await?;
        if let Some(t) = &live.template {
            let ours = t.tags.get(MANAGED_BY_TAG).is_some_and(|owner| {
                live.tags.get(MANAGED_BY_TAG).map(|o| &o.value) == Some(owner)
            });
            if ours && !t.used_by_others {
                match self
                    .ec2
                    .delete_launch_template()
                    .launch_template_id(&t.id)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if code(&e).is_some_and(|c| c.contains("NotFound")) => {}
                    Err(e) => return Err(classify("DeleteLaunchTemplate", &t.name, &e, TERMINAL)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DesiredResource, DesiredSet, Origin};
    use crate::engine::facts::Snapshot;

    /// The seed's group (myapp.sls), with two instances instead of thirty.
    const SEED: &str = r#"
launch_config_name: myapp-testing-useast1
launch_config:
  - image_id: ami-fakeami
  - key_name: example-key
  - security_groups:
    - base
    - myapp
    - myapp-testing
  - instance_type: c3.large
  - instance_monitoring: true
  - cloud_init:
      scripts:
        salt: |
          #!/bin/bash
          apt-get -y update
          time /srv/pulldeploy/venv/bin/python /srv/pulldeploy/pulldeploy.py myapp testing -v && salt-call state.sls elb.register
availability_zones:
  - us-east-1a
  - us-east-1d
  - us-east-1e
suspended_processes:
  - AddToLoadBalancer
min_size: 2
max_size: 2
load_balancers:
  - myapp-testing-useast1
instance_profile_name: myapp-testing-useast1
scaling_policies:
  - name: ScaleDown
    adjustment_type: ChangeInCapacity
    scaling_adjustment: -1
    cooldown: 1800
  - name: ScaleUp
    adjustment_type: ChangeInCapacity
    scaling_adjustment: 5
    cooldown: 1800
tags:
  - key: 'Name'
    value: 'myapp-testing-useast1'
    propagate_at_launch: true
"#;

    fn spec(yaml: &str) -> AutoScalingGroupSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// Facts in which the SecurityGroup kind has listed `groups` (name → id).
    fn facts(groups: &[(&str, &str)]) -> Snapshot {
        let mut f = Snapshot::new();
        let sg = f.entry("SecurityGroup".into()).or_default();
        for (n, id) in groups {
            sg.insert(
                n.to_string(),
                BTreeMap::from([("id".to_string(), id.to_string())]),
            );
        }
        f
    }

    fn seed_facts() -> Snapshot {
        facts(&[("myapp", "sg-11111111"), ("myapp-testing", "sg-22222222")])
    }

    fn desired_set(items: &[(&str, &str)]) -> DesiredSet {
        let mut d = DesiredSet::default();
        for (kind, name) in items {
            d.resources.entry(kind.to_string()).or_default().insert(
                name.to_string(),
                DesiredResource {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    labels: BTreeMap::new(),
                    spec: serde_json::json!({}),
                    origin: Origin {
                        file: "x".into(),
                        line: 1,
                        column: 1,
                    },
                    hash: 0,
                },
            );
        }
        d
    }

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    fn ctx<'a>(f: &'a Snapshot, d: &'a DesiredSet) -> DiffCtx<'a> {
        DiffCtx {
            controller_id: "test",
            facts: f,
            desired: d,
        }
    }

    /// The live group exactly as `diff` would leave `s` (owned by "test").
    fn converged(name: &str, s: &AutoScalingGroupSpec, f: &Snapshot) -> LiveAutoScalingGroup {
        let c = ctx(f, &EMPTY);
        let lc = match desired_launch(&c, name, s).unwrap().unwrap() {
            DesiredLaunch::Config { name, .. } => name,
            DesiredLaunch::Template { .. } => panic!("launch config expected"),
        };
        LiveAutoScalingGroup {
            arn: format!(
                "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/{name}"
            ),
            min_size: s.min_size,
            max_size: s.max_size,
            desired_capacity: s.desired_capacity.unwrap_or(s.min_size),
            default_cooldown: Some(300),
            health_check_type: Some("EC2".into()),
            health_check_period: Some(300),
            availability_zones: s.availability_zones.iter().cloned().collect(),
            subnets: BTreeSet::new(),
            load_balancers: s.load_balancers.iter().flatten().cloned().collect(),
            termination_policies: vec!["Default".into()],
            suspended_processes: s.suspended_processes.clone(),
            tags: desired_tags(&c, s),
            launch_configuration: Some(lc.clone()),
            launch_template: None,
            policies: s
                .scaling_policies
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        LivePolicy {
                            arn: format!("arn:policy/{}", p.name),
                            policy_type: Some("SimpleScaling".into()),
                            adjustment_type: Some(p.adjustment_type.clone()),
                            scaling_adjustment: Some(p.scaling_adjustment),
                            cooldown: p.cooldown.or(Some(300)),
                            min_adjustment_magnitude: p.min_adjustment_magnitude,
                        },
                    )
                })
                .collect(),
            launch_configs: BTreeMap::from([(lc, false)]),
            template: None,
        }
    }

    #[test]
    fn the_seed_group_is_created_with_its_launch_configuration_processes_and_policies() {
        let f = seed_facts();
        let s = spec(SEED);
        let changes =
            AutoScalingGroup::diff(&ctx(&f, &EMPTY), "myapp-testing-useast1", &s, None).unwrap();
        let actions: Vec<&str> = changes
            .iter()
            .map(|c| match c {
                AutoScalingGroupChange::CreateLaunchConfiguration { .. } => "lc",
                AutoScalingGroupChange::CreateGroup(_) => "group",
                AutoScalingGroupChange::SuspendProcesses(_) => "suspend",
                AutoScalingGroupChange::PutScalingPolicy { .. } => "policy",
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(actions, ["lc", "group", "suspend", "policy", "policy"]);
        let AutoScalingGroupChange::CreateLaunchConfiguration { name, instance } = &changes[0]
        else {
            panic!()
        };
        assert!(name.starts_with("myapp-testing-useast1-"), "{name}");
        assert_eq!(lc_prefix(name), Some("myapp-testing-useast1"));
        // Names resolve to ids through the facts; `base` is neither desired nor known: as written.
        assert_eq!(
            instance.security_groups,
            ["base", "sg-11111111", "sg-22222222"]
        );
        assert_eq!(
            instance.iam_instance_profile.as_deref(),
            Some("myapp-testing-useast1")
        );
        assert_eq!(instance.instance_monitoring, Some(true));
        let ud = instance.user_data.as_deref().unwrap();
        assert!(ud.starts_with("Content-Type: multipart/mixed;"), "{ud}");
        assert!(ud.contains("Content-Type: text/x-shellscript; charset=\"us-ascii\""));
        assert!(ud.contains("salt-call state.sls elb.register\n"));
        let AutoScalingGroupChange::CreateGroup(g) = &changes[1] else {
            panic!()
        };
        assert_eq!(g.launch, LaunchRef::Config(name.clone()));
        assert_eq!((g.min_size, g.max_size, g.desired_capacity), (2, 2, None));
        assert_eq!(g.load_balancers, ["myapp-testing-useast1"]);
        assert_eq!(
            g.tags["Name"],
            TagValue {
                value: "myapp-testing-useast1".into(),
                propagate_at_launch: true
            }
        );
        assert_eq!(
            g.tags[MANAGED_BY_TAG],
            TagValue {
                value: "test".into(),
                propagate_at_launch: false
            }
        );
        assert_eq!(
            changes[2],
            AutoScalingGroupChange::SuspendProcesses(BTreeSet::from([
                "AddToLoadBalancer".to_string()
            ]))
        );
        // Plans never show the script.
        let shown: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
        assert!(
            shown
                .iter()
                .any(|l| l.starts_with("launch_config.user_data: (none) → <user data, ")),
            "{shown:?}"
        );
        assert!(!shown.iter().any(|l| l.contains("apt-get")), "{shown:?}");
    }

    #[test]
    fn a_converged_group_needs_nothing_and_desired_capacity_omitted_never_diffs() {
        let f = seed_facts();
        let s = spec(SEED);
        let mut live = converged("g", &s, &f);
        live.desired_capacity = 7; // the scaling policies moved it
        live.tags.insert(
            "aws:cloudformation:stack-name".into(),
            TagValue {
                value: "x".into(),
                propagate_at_launch: true,
            },
        );
        assert_eq!(
            AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap(),
            vec![]
        );
        // Written, it is enforced.
        let s2 = spec(&SEED.replace(
            "min_size: 2\nmax_size: 2",
            "min_size: 2\nmax_size: 9\ndesired_capacity: 3",
        ));
        let live2 = LiveAutoScalingGroup {
            max_size: 9,
            ..live
        };
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s2, Some(&live2)).unwrap();
        assert_eq!(
            changes,
            vec![AutoScalingGroupChange::UpdateGroup(Box::new(GroupUpdate {
                desired_capacity: Some((7, 3)),
                ..GroupUpdate::default()
            }))]
        );
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "desired_capacity: 7 → 3"
        );
    }

    #[test]
    fn the_launch_configuration_hash_is_stable_and_covers_every_resolved_field() {
        let f = seed_facts();
        let s = spec(SEED);
        let lc = |s: &AutoScalingGroupSpec, f: &Snapshot| {
            let c = ctx(f, &EMPTY);
            match desired_launch(&c, "g", s).unwrap().unwrap() {
                DesiredLaunch::Config { name, .. } => name,
                DesiredLaunch::Template { .. } => unreachable!(),
            }
        };
        let first = lc(&s, &f);
        // The same spec gives the same name, in every process and build (pinned here: a change
        // to the hash would roll every group converge manages).
        assert_eq!(first, lc(&spec(SEED), &f));
        assert_eq!(first, "myapp-testing-useast1-2ef3105b");
        // Order of security groups is not content.
        let reordered = SEED.replace(
            "    - base\n    - myapp\n    - myapp-testing\n",
            "    - myapp-testing\n    - base\n    - myapp\n",
        );
        assert_eq!(first, lc(&spec(&reordered), &f));
        // A plain map is the same launch configuration as Salt's list of one-key maps.
        let as_map = spec(
            &SEED
                .replace("  - image_id", "  image_id")
                .replace("  - key_name", "  key_name")
                .replace(
                    "  - security_groups:\n    - base\n    - myapp\n    - myapp-testing\n",
                    "  security_groups: [base, myapp, myapp-testing]\n",
                )
                .replace("  - instance_type", "  instance_type")
                .replace("  - instance_monitoring", "  instance_monitoring")
                .replace(
                    "  - cloud_init:\n      scripts:\n        salt: |\n          ",
                    "  cloud_init:\n    scripts:\n      salt: |\n        ",
                )
                .replace("\n          apt-get", "\n        apt-get")
                .replace("\n          time", "\n        time"),
        );
        assert_eq!(first, lc(&as_map, &f));
        // Every field counts: instance type, user data, a resolved group id, the profile.
        assert_ne!(first, lc(&spec(&SEED.replace("c3.large", "c3.xlarge")), &f));
        assert_ne!(
            first,
            lc(
                &spec(&SEED.replace("apt-get -y update", "apt-get update")),
                &f
            )
        );
        assert_ne!(
            first,
            lc(
                &s,
                &facts(&[("myapp", "sg-11111111"), ("myapp-testing", "sg-33333333")])
            )
        );
        assert_ne!(
            first,
            lc(
                &spec(&SEED.replace(
                    "instance_profile_name: myapp-testing-useast1",
                    "instance_profile_name: other"
                )),
                &f
            )
        );
        // Group settings are not launch-configuration content.
        assert_eq!(
            first,
            lc(&spec(&SEED.replace("max_size: 2", "max_size: 3")), &f)
        );
    }

    #[test]
    fn a_changed_launch_configuration_rolls_the_group_and_deletes_the_old_one() {
        let f = seed_facts();
        let s = spec(SEED);
        let mut live = converged("g", &s, &f);
        let old = live.launch_configuration.clone().unwrap();
        // An older leftover of ours, and one another group still uses.
        live.launch_configs
            .insert("myapp-testing-useast1-00000000".into(), false);
        live.launch_configs
            .insert("myapp-testing-useast1-11111111".into(), true);
        let s2 = spec(&SEED.replace("c3.large", "c3.xlarge"));
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s2, Some(&live)).unwrap();
        assert_eq!(changes.len(), 3, "{changes:#?}");
        let AutoScalingGroupChange::CreateLaunchConfiguration {
            name: new,
            instance,
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_ne!(new, &old);
        assert_eq!(instance.instance_type, "c3.xlarge");
        let AutoScalingGroupChange::UpdateGroup(u) = &changes[1] else {
            panic!()
        };
        assert_eq!(
            u.launch,
            Some((
                Some(format!("launch configuration {old}")),
                LaunchRef::Config(new.clone())
            ))
        );
        assert_eq!(
            changes[2],
            AutoScalingGroupChange::DeleteLaunchConfigurations(vec![
                "myapp-testing-useast1-00000000".to_string(),
                old.clone()
            ])
        );
        // After a crash between create and update, the existing one is used, not created again.
        live.launch_configs.insert(new.clone(), false);
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s2, Some(&live)).unwrap();
        assert!(
            matches!(&changes[0], AutoScalingGroupChange::UpdateGroup(_)),
            "{changes:?}"
        );
        // Once moved, only the leftovers go.
        live.launch_configuration = Some(new.clone());
        live.launch_configs.remove(&old);
        live.launch_configs.remove("myapp-testing-useast1-00000000");
        assert_eq!(
            AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s2, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn cloud_init_renders_the_same_mime_bytes_every_time_with_parts_sorted() {
        let ci: CloudInit = serde_saphyr::from_str(
            "scripts:\n  b-second: \"#!/bin/sh\\necho b\\n\"\n  a-first: \"#!/bin/sh\\necho a\"\nboothooks:\n  hook: \"#cloud-boothook\\necho h\\n\"\ncloud-config:\n  packages: [git]\n  apt_update: true\n",
        )
        .unwrap();
        let b = MIME_BOUNDARY;
        let expected = format!(
            "Content-Type: multipart/mixed; boundary=\"{b}\"\nMIME-Version: 1.0\n\n\
             --{b}\nContent-Type: text/cloud-boothook; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\n#cloud-boothook\necho h\n\n\
             --{b}\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\n#!/bin/sh\necho a\n\
             --{b}\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\n#!/bin/sh\necho b\n\n\
             --{b}\nContent-Type: text/cloud-config; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\napt_update: true\npackages:\n- git\n\n\
             --{b}--\n"
        );
        let got = render_cloud_init(&ci);
        assert_eq!(got, expected);
        assert_eq!(render_cloud_init(&ci.clone()), got);
        // Non-ASCII text goes as base64 UTF-8, as Python's MIMEText does.
        let ci = CloudInit {
            scripts: BTreeMap::from([("s".into(), "#!/bin/bash\necho héllo\n".into())]),
            ..CloudInit::default()
        };
        assert!(render_cloud_init(&ci).contains(
            "Content-Type: text/x-shellscript; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\nIyEvYmluL2Jhc2gKZWNobyBow6lsbG8K\n\n--"
        ));
        // A part that contains the boundary gets another one.
        let ci = CloudInit {
            scripts: BTreeMap::from([("s".into(), format!("echo {MIME_BOUNDARY}\n"))]),
            ..CloudInit::default()
        };
        assert!(render_cloud_init(&ci).contains(&format!("boundary=\"{MIME_BOUNDARY}1\"")));
    }

    #[test]
    fn suspended_processes_change_by_their_difference_only() {
        let f = seed_facts();
        let s = spec(&SEED.replace(
            "suspended_processes:\n  - AddToLoadBalancer",
            "suspended_processes: [AddToLoadBalancer, AZRebalance]",
        ));
        let mut live = converged("g", &s, &f);
        live.suspended_processes = BTreeSet::from(["AZRebalance".into(), "Launch".into()]);
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap();
        assert_eq!(
            changes,
            vec![
                AutoScalingGroupChange::ResumeProcesses(BTreeSet::from(["Launch".into()])),
                AutoScalingGroupChange::SuspendProcesses(BTreeSet::from([
                    "AddToLoadBalancer".into()
                ])),
            ]
        );
        assert_eq!(
            changes[1].fields()[0].to_string(),
            "suspended_processes.AddToLoadBalancer: (none) → suspended"
        );
    }

    #[test]
    fn scaling_policies_are_put_when_missing_or_different_and_others_deleted() {
        let f = seed_facts();
        let s = spec(SEED);
        let mut live = converged("g", &s, &f);
        live.policies.remove("ScaleUp");
        live.policies
            .get_mut("ScaleDown")
            .unwrap()
            .scaling_adjustment = Some(-2);
        let stray = LivePolicy {
            arn: "arn:policy/Stray".into(),
            policy_type: Some("TargetTrackingScaling".into()),
            adjustment_type: None,
            scaling_adjustment: None,
            cooldown: None,
            min_adjustment_magnitude: None,
        };
        live.policies.insert("Stray".into(), stray.clone());
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap();
        assert_eq!(changes.len(), 3, "{changes:#?}");
        assert!(
            matches!(&changes[0], AutoScalingGroupChange::PutScalingPolicy { policy, live: Some(l) } if policy.name == "ScaleDown" && l.scaling_adjustment == Some(-2))
        );
        assert!(
            matches!(&changes[1], AutoScalingGroupChange::PutScalingPolicy { policy, live: None } if policy.name == "ScaleUp")
        );
        assert_eq!(
            changes[2],
            AutoScalingGroupChange::DeleteScalingPolicy {
                name: "Stray".into(),
                live: stray
            }
        );
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "scaling_policies.ScaleDown: ChangeInCapacity -2, cooldown 1800 → ChangeInCapacity -1, cooldown 1800"
        );
        // A cooldown left out is the group's default: not compared.
        let s = spec(&SEED.replace("    cooldown: 1800\n", ""));
        let live = converged("g", &s, &f);
        assert_eq!(live.policies["ScaleUp"].cooldown, Some(300));
        assert_eq!(
            AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap(),
            vec![]
        );
        // The ARNs are published for alarms.
        let facts = crate::kinds::common::fixtures::published::<AutoScalingGroup>("g", &live);
        assert_eq!(facts["policy:ScaleUp"], "arn:policy/ScaleUp");
        assert_eq!(
            facts["launch_configuration"],
            live.launch_configuration.clone().unwrap()
        );
        assert!(facts["arn"].ends_with("autoScalingGroupName/g"));
    }

    #[test]
    fn tags_as_a_list_or_a_map_and_an_unowned_group_is_adopted() {
        let list = spec("min_size: 0\nmax_size: 1\ntags:\n  - {key: a, value: 1}\n  - {key: b, value: x, propagate_at_launch: true}\n");
        assert_eq!(
            list.tags.0,
            vec![
                TagSpec {
                    key: "a".into(),
                    value: Scalar("1".into()),
                    propagate_at_launch: false
                },
                TagSpec {
                    key: "b".into(),
                    value: Scalar("x".into()),
                    propagate_at_launch: true
                },
            ]
        );
        let map = spec("min_size: 0\nmax_size: 1\ntags: {team: ops, n: 3}\n");
        assert!(map.tags.0.iter().all(|t| t.propagate_at_launch));
        assert!(map.tags.0.iter().any(|t| t.key == "n" && t.value.0 == "3"));
        // The spec round-trips through JSON (the engine stores specs that way).
        let v = serde_json::to_value(&map).unwrap();
        let back: AutoScalingGroupSpec = serde_json::from_value(v).unwrap();
        assert_eq!(back.tags, map.tags);

        let f = seed_facts();
        let s = spec(SEED);
        let mut live = converged("g", &s, &f);
        live.tags.remove(MANAGED_BY_TAG);
        live.tags.insert(
            "stray".into(),
            TagValue {
                value: "1".into(),
                propagate_at_launch: false,
            },
        );
        live.tags.get_mut("Name").unwrap().propagate_at_launch = false;
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap();
        assert_eq!(changes.len(), 2, "{changes:#?}");
        let AutoScalingGroupChange::Tag(t) = &changes[0] else {
            panic!()
        };
        assert_eq!(t[MANAGED_BY_TAG].1.value, "test");
        assert!(t["Name"].1.propagate_at_launch);
        assert_eq!(
            changes[1],
            AutoScalingGroupChange::Untag(BTreeMap::from([(
                "stray".into(),
                TagValue {
                    value: "1".into(),
                    propagate_at_launch: false
                }
            )]))
        );
    }

    #[test]
    fn references_wait_for_desired_resources_and_pass_others_through() {
        let s = spec(SEED);
        // A desired load balancer without its DNS name yet.
        let d = desired_set(&[("LoadBalancer", "myapp-testing-useast1")]);
        let f = seed_facts();
        let e = AutoScalingGroup::diff(&ctx(&f, &d), "g", &s, None).unwrap_err();
        assert_eq!(e.waiting_for, "LoadBalancer/myapp-testing-useast1");
        // A desired security group not created yet.
        let d = desired_set(&[("SecurityGroup", "base")]);
        let e = AutoScalingGroup::diff(&ctx(&f, &d), "g", &s, None).unwrap_err();
        assert_eq!(e.waiting_for, "SecurityGroup/base");
        // Before the SecurityGroup kind has listed anything, names wait (no id flip later).
        let e = AutoScalingGroup::diff(&ctx(&Snapshot::new(), &EMPTY), "g", &s, None).unwrap_err();
        assert_eq!(e.waiting_for, "SecurityGroup/base");
        // A desired role without its instance profile yet; with it, its name is used.
        let d = desired_set(&[("IamRole", "myapp-testing-useast1")]);
        let e = AutoScalingGroup::diff(&ctx(&f, &d), "g", &s, None).unwrap_err();
        assert_eq!(e.waiting_for, "IamRole/myapp-testing-useast1");
        let mut f2 = seed_facts();
        f2.entry("IamRole".into()).or_default().insert(
            "myapp-testing-useast1".into(),
            BTreeMap::from([(
                "instance_profile_name".to_string(),
                "myapp-profile".to_string(),
            )]),
        );
        let changes = AutoScalingGroup::diff(&ctx(&f2, &d), "g", &s, None).unwrap();
        let AutoScalingGroupChange::CreateLaunchConfiguration { instance, .. } = &changes[0] else {
            panic!()
        };
        assert_eq!(
            instance.iam_instance_profile.as_deref(),
            Some("myapp-profile")
        );
    }

    fn template_spec() -> AutoScalingGroupSpec {
        spec("launch_template:\n  image_id: ami-1\n  instance_type: t3.micro\n  security_groups: [sg-1]\n  user_data: \"#!/bin/sh\\necho hi\\n\"\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n")
    }

    fn template_live(
        s: &AutoScalingGroupSpec,
        pinned: &str,
        latest: i64,
        hashes: &[(i64, &str)],
    ) -> LiveAutoScalingGroup {
        let f = facts(&[]);
        let c = ctx(&f, &EMPTY);
        LiveAutoScalingGroup {
            arn: "arn".into(),
            min_size: 1,
            max_size: 2,
            desired_capacity: 1,
            default_cooldown: Some(300),
            health_check_type: None,
            health_check_period: None,
            availability_zones: BTreeSet::from(["us-east-1a".into()]),
            subnets: BTreeSet::new(),
            load_balancers: BTreeSet::new(),
            termination_policies: vec![],
            suspended_processes: BTreeSet::new(),
            tags: desired_tags(&c, s),
            launch_configuration: None,
            launch_template: Some(LiveTemplateRef {
                id: Some("lt-1".into()),
                name: Some("g".into()),
                version: Some(pinned.into()),
            }),
            policies: BTreeMap::new(),
            launch_configs: BTreeMap::new(),
            template: Some(LiveTemplate {
                id: "lt-1".into(),
                name: "g".into(),
                latest_version: latest,
                tags: BTreeMap::new(),
                hashes: hashes
                    .iter()
                    .map(|(v, h)| (*v, (!h.is_empty()).then(|| h.to_string())))
                    .collect(),
                used_by_others: false,
            }),
        }
    }

    #[test]
    fn a_launch_template_gets_a_version_only_when_its_content_changes() {
        let f = facts(&[]);
        let s = template_spec();
        let c = ctx(&f, &EMPTY);
        let Some(DesiredLaunch::Template { hash, name, .. }) = desired_launch(&c, "g", &s).unwrap()
        else {
            panic!()
        };
        assert_eq!(name, "g");
        // From nothing: the template, then the group on the version it creates.
        let changes = AutoScalingGroup::diff(&c, "g", &s, None).unwrap();
        assert!(
            matches!(&changes[0], AutoScalingGroupChange::CreateLaunchTemplate { template, hash: h, .. } if template == "g" && *h == hash)
        );
        let AutoScalingGroupChange::CreateGroup(g) = &changes[1] else {
            panic!()
        };
        assert_eq!(
            g.launch,
            LaunchRef::Template {
                name: "g".into(),
                version: TemplateVersion::New(hash.clone())
            }
        );
        // Pinned to a version with this content: nothing, however many versions exist.
        let live = template_live(&s, "3", 5, &[(3, &hash), (5, "0badc0de")]);
        assert_eq!(
            AutoScalingGroup::diff(&c, "g", &s, Some(&live)).unwrap(),
            vec![]
        );
        // The latest version has it but the group is not on it (a crash between the two):
        // repaired without a new version.
        let live = template_live(&s, "2", 3, &[(2, "0badc0de"), (3, &hash)]);
        let changes = AutoScalingGroup::diff(&c, "g", &s, Some(&live)).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        let AutoScalingGroupChange::UpdateGroup(u) = &changes[0] else {
            panic!()
        };
        assert_eq!(
            u.launch.as_ref().unwrap().1,
            LaunchRef::Template {
                name: "g".into(),
                version: TemplateVersion::Number(3)
            }
        );
        // Changed content: a new version, and the group moves onto it.
        let live = template_live(&s, "2", 2, &[(2, "0badc0de")]);
        let changes = AutoScalingGroup::diff(&c, "g", &s, Some(&live)).unwrap();
        assert!(
            matches!(&changes[0], AutoScalingGroupChange::CreateLaunchTemplateVersion { template_id, .. } if template_id == "lt-1")
        );
        assert!(
            matches!(&changes[1], AutoScalingGroupChange::UpdateGroup(u) if u.launch.as_ref().unwrap().1 == LaunchRef::Template { name: "g".into(), version: TemplateVersion::New(hash.clone()) })
        );
        // `$Latest` is not a pinned version.
        let live = template_live(&s, "$Latest", 3, &[(3, &hash)]);
        assert_eq!(
            AutoScalingGroup::diff(&c, "g", &s, Some(&live))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn version_descriptions_carry_the_content_hash() {
        assert_eq!(
            content_hash_of(Some("converge:content-hash=0123abcd")).as_deref(),
            Some("0123abcd")
        );
        assert_eq!(content_hash_of(Some("by hand")), None);
        assert_eq!(content_hash_of(None), None);
        assert_eq!(lc_prefix("a-b-0123abcd"), Some("a-b"));
        assert_eq!(lc_prefix("a-b-0123abcg"), None);
        assert_eq!(lc_prefix("a-0123abc"), None);
    }

    #[test]
    fn subnets_as_a_list_or_a_comma_string_and_compared_as_a_set() {
        let s = spec("launch_config: {image_id: ami-1, instance_type: t3.micro}\nvpc_zone_identifier: 'subnet-2, subnet-1'\nmin_size: 0\nmax_size: 1\n");
        assert_eq!(subnets(&s), ["subnet-2", "subnet-1"]);
        let f = facts(&[]);
        let mut live = converged("g", &s, &f);
        live.availability_zones = BTreeSet::from(["us-east-1a".into(), "us-east-1b".into()]);
        live.subnets = BTreeSet::from(["subnet-1".into(), "subnet-2".into()]);
        assert_eq!(
            AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap(),
            vec![]
        );
        live.subnets.insert("subnet-3".into());
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap();
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "vpc_zone_identifier: subnet-1, subnet-2, subnet-3 → subnet-2,subnet-1"
        );
    }

    #[test]
    fn load_balancers_are_attached_and_detached_only_when_written() {
        let f = seed_facts();
        let s = spec(SEED);
        let mut live = converged("g", &s, &f);
        live.load_balancers = BTreeSet::from(["old".into()]);
        let changes = AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap();
        assert_eq!(
            changes,
            vec![
                AutoScalingGroupChange::DetachLoadBalancers(BTreeSet::from(["old".into()])),
                AutoScalingGroupChange::AttachLoadBalancers(BTreeSet::from([
                    "myapp-testing-useast1".into()
                ])),
            ]
        );
        let s = spec(&SEED.replace("load_balancers:\n  - myapp-testing-useast1\n", ""));
        assert_eq!(
            AutoScalingGroup::diff(&ctx(&f, &EMPTY), "g", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn validation_names_the_field_for_every_mistake() {
        assert!(AutoScalingGroup::validate(&"g".repeat(10), &spec(SEED)).is_empty());
        assert!(AutoScalingGroup::validate_name(&"g".repeat(256))
            .unwrap_err()
            .contains("1 to 255"));
        assert!(AutoScalingGroup::validate_name("ok name-1").is_ok());
        let bad = |yaml: &str, needle: &str| {
            let p = AutoScalingGroup::validate("g", &spec(yaml));
            assert!(p.iter().any(|m| m.contains(needle)), "{needle}: {p:?}");
        };
        let lc = "launch_config: {image_id: ami-1, instance_type: t3.micro}\navailability_zones: [us-east-1a]\n";
        bad(
            &format!("{lc}min_size: 3\nmax_size: 2\n"),
            "max_size: 2 is less than min_size 3",
        );
        bad(
            &format!("{lc}min_size: 1\nmax_size: 2\ndesired_capacity: 5\n"),
            "desired_capacity: 5 must be between",
        );
        bad(
            &format!("{lc}min_size: 1\nmax_size: 2\nsuspended_processes: [Launch, Nap]\n"),
            "suspended_processes: `Nap` is not a process",
        );
        bad(&format!("{lc}min_size: 1\nmax_size: 2\nscaling_policies: [{{name: x, adjustment_type: Double, scaling_adjustment: 2}}]\n"), "scaling_policies.x.adjustment_type: `Double`");
        bad(&format!("{lc}min_size: 1\nmax_size: 2\nscaling_policies: [{{name: x, adjustment_type: ChangeInCapacity, scaling_adjustment: 2, min_adjustment_magnitude: 2}}]\n"), "only for adjustment_type PercentChangeInCapacity");
        bad(&format!("{lc}launch_template: {{image_id: ami-1, instance_type: t3.micro}}\nmin_size: 1\nmax_size: 2\n"), "exactly one of them");
        bad(
            "availability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n",
            "launch_config: required",
        );
        bad(
            "launch_config: {image_id: ami-1, instance_type: t3.micro}\nmin_size: 1\nmax_size: 2\n",
            "availability_zones: required",
        );
        bad(
            &format!("{lc}min_size: 1\nmax_size: 2\nhealth_check_type: HTTP\n"),
            "health_check_type: `HTTP`",
        );
        bad(
            &format!("{lc}min_size: 1\nmax_size: 2\ntags: [{{key: 'aws:x', value: 1}}]\n"),
            "reserved",
        );
        bad("launch_config: {image_id: ami-1, instance_type: t3.micro, user_data: x, cloud_init: {scripts: {a: b}}}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "write one of them, not both");
        bad("launch_template: {name: 'a b', image_id: ami-1, instance_type: t3.micro, spot_price: 0.1}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "launch_template.name: `a b`");
        bad("launch_template: {image_id: ami-1, instance_type: t3.micro, spot_price: 0.1}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "launch_template.spot_price");
        bad("launch_config_name: x\nlaunch_template: {image_id: ami-1, instance_type: t3.micro}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "launch_config_name: only with launch_config");
        bad(
            &format!("{lc}min_size: 1\nmax_size: 2\nvpc_zone_identifier: sg-1\n"),
            "not a subnet id",
        );
        bad("launch_config: {image_id: ami-1, instance_type: t3.micro, block_device_mappings: [{/dev/sda1: {size: 0, volume_type: gp9}}]}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "volume_type: `gp9`");
        // Unknown fields are schema errors, inside the Salt-style list too.
        assert!(serde_saphyr::from_str::<AutoScalingGroupSpec>(
            "min_size: 1\nmax_size: 2\nmin_sise: 1\n"
        )
        .is_err());
        let e = serde_saphyr::from_str::<AutoScalingGroupSpec>(
            "launch_config:\n  - image_id: a\n  - instance_typo: b\nmin_size: 1\nmax_size: 2\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("instance_typo"), "{e}");
        let e = serde_saphyr::from_str::<AutoScalingGroupSpec>(
            "launch_config:\n  - image_id: a\n  - image_id: b\nmin_size: 1\nmax_size: 2\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }
}
