//! EC2 launch templates: one template per group (named by `launch_template.name`, default the
//! group name, tagged `converge:managed-by`), a new version when the content changes (its content
//! hash recorded in the version description as `converge:content-hash=<hash>`), and the group
//! pinned to that exact version number. Versions are immutable, so what a version's description
//! says is read once and cached ([`Templates`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use aws_sdk_autoscaling::types as asg;
use aws_sdk_ec2::types as ec2;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{is_hash, is_sg_id, LaunchRef, ResolvedInstance, TemplateVersion};
use crate::core::{KindError, MANAGED_BY_TAG};
use crate::engine::{Observed, Scope};
use crate::kinds::auto_scaling_group::diff::{
    AutoScalingGroupChange as C, LiveAutoScalingGroup, LiveTemplateRef,
};
use crate::kinds::auto_scaling_group::spec::{AutoScalingGroupSpec, InstanceSpec};
use crate::kinds::auto_scaling_group::{user_data, CODES};
use crate::kinds::common::errors::{code_contains, Sent};
use crate::kinds::common::tags;

/// Recorded in a launch template version's description: `converge:content-hash=<hash>`.
pub const CONTENT_HASH_MARK: &str = "converge:content-hash=";

/// The name of the group's launch template.
pub fn name<'a>(group: &'a str, inst: &'a InstanceSpec) -> &'a str {
    inst.name.as_deref().unwrap_or(group)
}

/// The content hash a version description records, if any.
pub fn content_hash_of(description: Option<&str>) -> Option<String> {
    let d = description?;
    let at = d.find(CONTENT_HASH_MARK)? + CONTENT_HASH_MARK.len();
    let h = d.get(at..at + 8)?;
    is_hash(h).then(|| h.to_string())
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

/// The version the group should be pinned to (`None`: it is), given its template `t`, pushing
/// a new version when no version has this content.
pub fn diff(
    live: &LiveAutoScalingGroup,
    t: &LiveTemplate,
    instance: &ResolvedInstance,
    hash: &str,
    changes: &mut Vec<C>,
) -> Option<LaunchRef> {
    let has = |v: i64| t.hashes.get(&v).and_then(Option::as_deref) == Some(hash);
    let pinned = live
        .launch_template
        .as_ref()
        .filter(|r| match &r.id {
            Some(id) => *id == t.id,
            None => r.name.as_deref() == Some(t.name.as_str()),
        })
        .and_then(LiveTemplateRef::version_number);
    if pinned.is_some_and(has) {
        return None;
    }
    let version = if has(t.latest_version) {
        // Created by an earlier sweep that stopped before moving the group onto it.
        TemplateVersion::Number(t.latest_version)
    } else {
        changes.push(C::CreateLaunchTemplateVersion {
            template: t.name.clone(),
            template_id: t.id.clone(),
            instance: Box::new(instance.clone()),
            hash: hash.to_string(),
        });
        TemplateVersion::New(hash.to_string())
    };
    Some(LaunchRef::Template {
        name: t.name.clone(),
        version,
    })
}

/// The launch templates of the groups, with what this process knows of their versions.
pub struct Templates {
    ec2: aws_sdk_ec2::Client,
    /// (launch template id, version) → the content hash in its description. Versions are
    /// immutable, so what was read once stays true.
    versions: Mutex<HashMap<(String, i64), Option<String>>>,
    /// Launch template name → (content hash, version) of the version this process created last.
    created: Mutex<HashMap<String, (String, i64)>>,
}

impl Templates {
    pub fn new(ec2: aws_sdk_ec2::Client) -> Templates {
        Templates {
            ec2,
            versions: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, template_id: &str, version: i64, hash: Option<String>) {
        if let Ok(mut m) = self.versions.lock() {
            m.insert((template_id.to_string(), version), hash);
        }
    }

    fn known(&self, template_id: &str, version: i64) -> Option<Option<String>> {
        let m = self.versions.lock().ok()?;
        m.get(&(template_id.to_string(), version)).cloned()
    }

    /// The version of `template` this process created with `hash`, if it was the last.
    fn created_with(&self, template: &str, hash: &str) -> Option<i64> {
        let m = self.created.lock().ok()?;
        m.get(template).filter(|(h, _)| h == hash).map(|(_, n)| *n)
    }

    fn remember_created(&self, template: &str, template_id: &str, hash: &str, version: i64) {
        if let Ok(mut m) = self.created.lock() {
            m.insert(template.to_string(), (hash.to_string(), version));
        }
        self.remember(template_id, version, Some(hash.to_string()));
    }

    /// Sets `template` on the groups in `out` that have one: the ones desired specs name, and
    /// the ones groups in scope use. One `DescribeLaunchTemplates` (filtered by name, 200 a
    /// call), then `DescribeLaunchTemplateVersions` only for versions not seen before.
    pub async fn observe(
        &self,
        scope: &Scope<'_, AutoScalingGroupSpec>,
        out: &mut Observed<LiveAutoScalingGroup>,
        users: &HashMap<String, BTreeSet<String>>,
    ) -> Result<(), KindError> {
        // group → template name
        let mut wanted: BTreeMap<String, String> = scope
            .desired
            .iter()
            .filter_map(|(group, spec)| {
                let lt = spec.launch_template.as_ref()?;
                Some((group.clone(), name(group, &lt.0).to_string()))
            })
            .collect();
        for (group, live) in out.iter() {
            if wanted.contains_key(group) || !(scope.all || scope.desired.contains_key(group)) {
                continue;
            }
            if let Some(t) = live.launch_template.as_ref().and_then(|t| t.name.clone()) {
                wanted.insert(group.clone(), t);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = wanted.values().cloned().collect();
        names.sort();
        names.dedup();
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
                .or_fail(
                    &CODES,
                    "DescribeLaunchTemplates",
                    "(launch templates of the groups)",
                )?;
            templates.extend(
                found
                    .into_iter()
                    .filter_map(|t| Some((t.launch_template_name()?.to_string(), t))),
            );
        }
        // Per group: its template, the template's id and latest version.
        let found: Vec<(&String, &String, &ec2::LaunchTemplate, &str, i64)> = wanted
            .iter()
            .filter_map(|(group, tname)| {
                let t = templates.get(tname)?;
                Some((
                    group,
                    tname,
                    t,
                    t.launch_template_id()?,
                    t.latest_version_number()?,
                ))
            })
            .collect();
        // Versions to know: every template's latest, and each group's pinned one.
        let mut need: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for &(group, _, _, id, latest) in &found {
            let pinned = out
                .get(group)
                .and_then(|l| l.launch_template.as_ref())
                .filter(|r| r.id.as_deref() == Some(id))
                .and_then(LiveTemplateRef::version_number);
            for v in std::iter::once(latest).chain(pinned) {
                if self.known(id, v).is_none() {
                    need.entry(id.to_string()).or_default().insert(v);
                }
            }
        }
        stream::iter(need)
            .map(|(id, versions)| async move { self.read_versions(&id, versions).await })
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        for (group, tname, t, id, latest) in found {
            let Some(live) = out.get_mut(group) else {
                continue;
            };
            let pinned = live
                .launch_template
                .as_ref()
                .and_then(LiveTemplateRef::version_number);
            live.template = Some(LiveTemplate {
                id: id.to_string(),
                name: tname.clone(),
                latest_version: latest,
                tags: tags::collect(t.tags().iter().map(|x| (x.key(), x.value()))),
                hashes: std::iter::once(latest)
                    .chain(pinned)
                    .filter_map(|v| self.known(id, v).map(|h| (v, h)))
                    .collect(),
                used_by_others: users.get(id).is_some_and(|u| u.iter().any(|u| u != group)),
            });
        }
        Ok(())
    }

    /// Reads the given versions of one template into the cache (one call; one per version
    /// only if some version no longer exists).
    async fn read_versions(&self, id: &str, versions: BTreeSet<i64>) -> Result<(), KindError> {
        const OP: &str = "DescribeLaunchTemplateVersions";
        let read = |vs: Vec<String>| {
            self.ec2
                .describe_launch_template_versions()
                .launch_template_id(id)
                .set_versions(Some(vs))
                .send()
        };
        let mut outputs = Vec::new();
        match read(versions.iter().map(i64::to_string).collect()).await {
            // A pinned version deleted out of band: read the others one by one.
            Err(e) if code_contains(&e, "VersionNotFound") => {
                for v in &versions {
                    match read(vec![v.to_string()]).await {
                        Err(e) if code_contains(&e, "VersionNotFound") => {
                            self.remember(id, *v, None)
                        }
                        r => outputs.push(r.or_fail(&CODES, OP, id)?),
                    }
                }
            }
            r => outputs.push(r.or_fail(&CODES, OP, id)?),
        }
        for v in outputs.iter().flat_map(|o| o.launch_template_versions()) {
            if let Some(n) = v.version_number() {
                self.remember(id, n, content_hash_of(v.version_description()));
            }
        }
        Ok(())
    }

    /// The latest version of a template: (template id, version, content hash).
    async fn latest(
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
            .or_fail(&CODES, "DescribeLaunchTemplateVersions", template)?;
        Ok(out.launch_template_versions().first().and_then(|v| {
            Some((
                v.launch_template_id()?.to_string(),
                v.version_number()?,
                content_hash_of(v.version_description()),
            ))
        }))
    }

    /// `CreateLaunchTemplate` with its first version, tagged as `owner`'s. If it exists (an
    /// earlier attempt, or someone, made it): its latest version if it has this content, else
    /// a new version.
    pub async fn create(
        &self,
        owner: &str,
        template: &str,
        instance: &ResolvedInstance,
        hash: &str,
    ) -> Result<(), KindError> {
        let res = self
            .ec2
            .create_launch_template()
            .launch_template_name(template)
            .version_description(format!("{CONTENT_HASH_MARK}{hash}"))
            .launch_template_data(data(instance))
            .tag_specifications(
                ec2::TagSpecification::builder()
                    .resource_type(ec2::ResourceType::LaunchTemplate)
                    .tags(ec2::Tag::builder().key(MANAGED_BY_TAG).value(owner).build())
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
            Err(e) if code_contains(&e, "AlreadyExists") => match self.latest(template).await? {
                Some((id, v, Some(h))) if h == hash => {
                    self.remember_created(template, &id, hash, v)
                }
                Some((id, _, _)) => self.create_version(template, &id, instance, hash).await?,
                None => return Err(e).or_fail(&CODES, "CreateLaunchTemplate", template),
            },
            Err(e) => return Err(e).or_fail(&CODES, "CreateLaunchTemplate", template),
        }
        Ok(())
    }

    /// `CreateLaunchTemplateVersion`, remembered as the version with this content.
    pub async fn create_version(
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
            .launch_template_data(data(instance))
            .send()
            .await
            .or_fail(&CODES, "CreateLaunchTemplateVersion", template)?;
        let n = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| {
                KindError::retryable(format!(
                    "CreateLaunchTemplateVersion {template}: no version number returned"
                ))
            })?;
        self.remember_created(template, template_id, hash, n);
        Ok(())
    }

    /// The template and exact version number to pin a group to: a new version is the one
    /// this process created with that hash, or else the latest if it has it.
    pub async fn pin(
        &self,
        template: &str,
        version: &TemplateVersion,
    ) -> Result<asg::LaunchTemplateSpecification, KindError> {
        let n = match version {
            TemplateVersion::Number(n) => *n,
            TemplateVersion::New(hash) => match self.created_with(template, hash) {
                Some(n) => n,
                None => match self.latest(template).await? {
                    Some((_, n, Some(h))) if h == *hash => n,
                    _ => {
                        return Err(KindError::retryable(format!(
                            "launch template {template} has no version with content hash {hash} yet"
                        )))
                    }
                },
            },
        };
        Ok(asg::LaunchTemplateSpecification::builder()
            .launch_template_name(template)
            .version(n.to_string())
            .build())
    }

    /// Deletes the group's template if this controller created it (its owner tag is the
    /// group's) and no other group uses it.
    pub async fn delete(&self, live: &LiveAutoScalingGroup) -> Result<(), KindError> {
        let Some(t) = &live.template else {
            return Ok(());
        };
        let ours = t
            .tags
            .get(MANAGED_BY_TAG)
            .is_some_and(|owner| live.tags.get(MANAGED_BY_TAG).map(|o| &o.value) == Some(owner));
        if !ours || t.used_by_others {
            return Ok(());
        }
        match self
            .ec2
            .delete_launch_template()
            .launch_template_id(&t.id)
            .send()
            .await
        {
            Err(e) if code_contains(&e, "NotFound") => Ok(()),
            r => r.done(&CODES, "DeleteLaunchTemplate", &t.name),
        }
    }
}

/// A launch template version's data.
fn data(i: &ResolvedInstance) -> ec2::RequestLaunchTemplateData {
    let mut d = ec2::RequestLaunchTemplateData::builder()
        .image_id(&i.image_id)
        .instance_type(ec2::InstanceType::from(i.instance_type.as_str()))
        .set_key_name(i.key_name.clone())
        .set_kernel_id(i.kernel_id.clone())
        .set_ram_disk_id(i.ramdisk_id.clone())
        .set_ebs_optimized(i.ebs_optimized)
        .set_user_data(i.user_data.as_deref().map(user_data::b64))
        .set_monitoring(i.instance_monitoring.map(|m| {
            ec2::LaunchTemplatesMonitoringRequest::builder()
                .enabled(m)
                .build()
        }));
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
