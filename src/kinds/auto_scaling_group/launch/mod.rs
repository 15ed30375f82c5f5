//! What a group launches: the instance fields with every reference resolved
//! ([`ResolvedInstance`], whose content hash names a launch configuration or marks a launch
//! template version), what the spec asks for ([`DesiredLaunch`]), what the group is pointed at
//! ([`LaunchRef`]) and the diff between the two. The two ways to launch live in [`config`]
//! (launch configurations) and [`template`] (EC2 launch templates).

pub mod config;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::diff::{AutoScalingGroupChange as C, LiveAutoScalingGroup};
use super::spec::{AutoScalingGroupSpec, BlockDevice, InstanceSpec};
use super::user_data;
use crate::core::FieldChange;
use crate::engine::{DiffCtx, Waiting};
use crate::kinds::common::refs;

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

    /// Plan rows `<prefix>.<field>: (none) → value` for the fields written; user data only by
    /// its size.
    pub fn fields(&self, prefix: &str) -> Vec<FieldChange> {
        let flag = |b: Option<bool>| b.map(|b| b.to_string());
        let list = |v: Vec<String>| (!v.is_empty()).then(|| v.join(", "));
        let rows = [
            ("image_id", Some(self.image_id.clone())),
            ("instance_type", Some(self.instance_type.clone())),
            ("key_name", self.key_name.clone()),
            ("security_groups", list(self.security_groups.clone())),
            ("kernel_id", self.kernel_id.clone()),
            ("ramdisk_id", self.ramdisk_id.clone()),
            ("instance_monitoring", flag(self.instance_monitoring)),
            ("ebs_optimized", flag(self.ebs_optimized)),
            (
                "associate_public_ip_address",
                flag(self.associate_public_ip_address),
            ),
            ("spot_price", self.spot_price.clone()),
            ("iam_instance_profile", self.iam_instance_profile.clone()),
            (
                "block_device_mappings",
                list(self.block_device_mappings.keys().cloned().collect()),
            ),
            (
                "user_data",
                self.user_data.as_deref().map(user_data::summarise),
            ),
        ];
        rows.into_iter()
            .filter_map(|(k, v)| Some(FieldChange::added(format!("{prefix}.{k}"), v?)))
            .collect()
    }
}

/// True for 8 lower-case hex digits (a content hash).
pub fn is_hash(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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

/// A desired IamRole's instance profile (waited for); anything else as written.
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
        user_data: user_data::of(inst),
    })
}

/// What the spec says the group launches, resolved.
pub enum DesiredLaunch {
    Config {
        name: String,
        instance: ResolvedInstance,
    },
    /// An existing launch configuration, named by `launch_config_name` alone (made by someone
    /// else, e.g. Salt's `boto_lc`): used as it is, never created or deleted.
    Existing { name: String },
    Template {
        name: String,
        instance: ResolvedInstance,
        hash: String,
    },
}

impl DesiredLaunch {
    /// The spec's launch configuration or launch template, resolved (`None` when it has
    /// neither, which validation rejects).
    pub fn of(
        ctx: &DiffCtx<'_>,
        group: &str,
        spec: &AutoScalingGroupSpec,
    ) -> Result<Option<DesiredLaunch>, Waiting> {
        if let Some(lc) = &spec.launch_config {
            let instance = resolve_instance(ctx, spec, &lc.0)?;
            let name = format!(
                "{}-{}",
                config::prefix(group, spec),
                instance.content_hash()
            );
            return Ok(Some(DesiredLaunch::Config { name, instance }));
        }
        let Some(lt) = &spec.launch_template else {
            return Ok(spec
                .launch_config_name
                .clone()
                .map(|name| DesiredLaunch::Existing { name }));
        };
        let instance = resolve_instance(ctx, spec, &lt.0)?;
        Ok(Some(DesiredLaunch::Template {
            name: template::name(group, &lt.0).to_string(),
            hash: instance.content_hash(),
            instance,
        }))
    }

    /// The launch configuration's name, for a launch configuration.
    pub fn config_name(&self) -> Option<&str> {
        match self {
            DesiredLaunch::Config { name, .. } | DesiredLaunch::Existing { name } => Some(name),
            DesiredLaunch::Template { .. } => None,
        }
    }

    /// Whether converge makes (and cleans up) the group's launch configurations.
    pub fn owns_configs(&self) -> bool {
        !matches!(self, DesiredLaunch::Existing { .. })
    }

    /// Makes it from nothing (the launch configuration, or the template with its first
    /// version): the change, and what the group is then pointed at.
    pub fn create(&self, changes: &mut Vec<C>) -> LaunchRef {
        match self {
            DesiredLaunch::Existing { name } => LaunchRef::Config(name.clone()),
            DesiredLaunch::Config { name, instance } => {
                changes.push(C::CreateLaunchConfiguration {
                    name: name.clone(),
                    instance: Box::new(instance.clone()),
                });
                LaunchRef::Config(name.clone())
            }
            DesiredLaunch::Template {
                name,
                instance,
                hash,
            } => {
                changes.push(C::CreateLaunchTemplate {
                    template: name.clone(),
                    instance: Box::new(instance.clone()),
                    hash: hash.clone(),
                });
                LaunchRef::Template {
                    name: name.clone(),
                    version: TemplateVersion::New(hash.clone()),
                }
            }
        }
    }
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
            LaunchRef::Template { name, version } => match version {
                TemplateVersion::Number(v) => write!(f, "launch template {name} version {v}"),
                TemplateVersion::New(h) => {
                    write!(f, "launch template {name} new version (content hash {h})")
                }
            },
        }
    }
}

/// What an existing group must be moved onto (`None`: it is on it), pushing what must be made
/// first: a launch configuration not made yet, a template or a template version.
pub fn diff(
    live: &LiveAutoScalingGroup,
    launch: &DesiredLaunch,
    changes: &mut Vec<C>,
) -> Option<LaunchRef> {
    match launch {
        DesiredLaunch::Existing { name } => (live.launch_configuration.as_deref()
            != Some(name.as_str()))
        .then(|| LaunchRef::Config(name.clone())),
        DesiredLaunch::Config { name, .. } => {
            if live.launch_configuration.as_deref() == Some(name.as_str()) {
                None
            } else if live.launch_configs.contains_key(name) {
                // Made by an earlier sweep that stopped before moving the group onto it.
                Some(LaunchRef::Config(name.clone()))
            } else {
                Some(launch.create(changes))
            }
        }
        DesiredLaunch::Template {
            name,
            instance,
            hash,
        } => match live.template.as_ref().filter(|t| t.name == *name) {
            Some(t) => template::diff(live, t, instance, hash, changes),
            None => Some(launch.create(changes)),
        },
    }
}
