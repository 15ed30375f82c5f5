//! Launch configurations: immutable, so each is named by its content
//! (`<launch_config_name>-<8 hex>`), created once, and deleted when no group uses it any more.
//! They carry no tags: these names are how converge recognises its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_autoscaling::types as asg;

use super::{is_hash, ResolvedInstance};
use crate::core::KindError;
use crate::kinds::auto_scaling_group::diff::LiveAutoScalingGroup;
use crate::kinds::auto_scaling_group::spec::{AutoScalingGroupSpec, BlockDevice};
use crate::kinds::auto_scaling_group::{user_data, CODES};
use crate::kinds::common::errors::{has_code, Sent};
use crate::kinds::common::refs;

/// `<prefix>` of a launch configuration named `<prefix>-<8 hex>`.
pub fn lc_prefix(name: &str) -> Option<&str> {
    let (prefix, hash) = name.rsplit_once('-')?;
    (is_hash(hash) && !prefix.is_empty()).then_some(prefix)
}

/// The prefix of the group's launch configurations.
pub fn prefix<'a>(group: &'a str, spec: &'a AutoScalingGroupSpec) -> &'a str {
    spec.launch_config_name.as_deref().unwrap_or(group)
}

/// Of every launch configuration (`names`, with the groups using each), the ones named
/// `<prefix>-<8 hex>` for the group's prefixes (its spec's, and that of the one it uses) →
/// whether another group uses it.
pub fn ours(
    group: &str,
    live: &LiveAutoScalingGroup,
    spec: Option<&AutoScalingGroupSpec>,
    names: &BTreeSet<String>,
    users: &HashMap<String, BTreeSet<String>>,
) -> BTreeMap<String, bool> {
    let prefixes: BTreeSet<&str> = spec
        .filter(|s| s.launch_config.is_some())
        .map(|s| prefix(group, s))
        .into_iter()
        .chain(live.launch_configuration.as_deref().and_then(lc_prefix))
        .collect();
    names
        .iter()
        .filter(|lc| lc_prefix(lc).is_some_and(|p| prefixes.contains(p)))
        .map(|lc| {
            let others = users.get(lc).is_some_and(|u| u.iter().any(|u| u != group));
            (lc.clone(), others)
        })
        .collect()
}

/// The group's launch configurations that no other group uses, but `keep`.
pub fn unused(live: &LiveAutoScalingGroup, keep: Option<&str>) -> Vec<String> {
    live.launch_configs
        .iter()
        .filter(|(lc, others)| !**others && Some(lc.as_str()) != keep)
        .map(|(lc, _)| lc.clone())
        .collect()
}

/// `CreateLaunchConfiguration`; one of that name already has this content (its name is the
/// hash), so "already exists" is success.
pub async fn create(
    client: &aws_sdk_autoscaling::Client,
    name: &str,
    i: &ResolvedInstance,
) -> Result<(), KindError> {
    client
        .create_launch_configuration()
        .launch_configuration_name(name)
        .image_id(&i.image_id)
        .instance_type(&i.instance_type)
        .set_key_name(i.key_name.clone())
        .set_security_groups((!i.security_groups.is_empty()).then(|| i.security_groups.clone()))
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
            (!i.block_device_mappings.is_empty()).then(|| block_devices(&i.block_device_mappings)),
        )
        .set_user_data(i.user_data.as_deref().map(user_data::b64))
        .send()
        .await
        .ok_if(
            &["AlreadyExists"],
            &CODES,
            "CreateLaunchConfiguration",
            name,
        )
}

/// Deletes launch configurations of `group`; one AWS still holds (`ResourceInUse`, e.g. while
/// it finishes deleting a group) is left for now and logged, one already gone is done.
pub async fn delete(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    names: &[String],
) -> Result<(), KindError> {
    for lc in names {
        match client
            .delete_launch_configuration()
            .launch_configuration_name(lc)
            .send()
            .await
        {
            Err(e) if has_code(&e, &["ResourceInUse"]) => {
                tracing::warn!(kind = refs::auto_scaling_group::KIND, name = %group, launch_configuration = %lc, "launch configuration still in use; left for now");
            }
            r => r.gone_ok(&CODES, "DeleteLaunchConfiguration", lc)?,
        }
    }
    Ok(())
}

fn block_devices(m: &BTreeMap<String, BlockDevice>) -> Vec<asg::BlockDeviceMapping> {
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
