//! Applying one change, and deleting a group with what only it used.

use aws_sdk_autoscaling::types as asg;

use super::diff::{AutoScalingGroupChange, LiveAutoScalingGroup, TagValue};
use super::launch::{config, LaunchRef};
use super::{policies, AutoScalingGroup, CODES};
use crate::core::KindError;
use crate::engine::DiffCtx;
use crate::kinds::common::errors::Sent;
use crate::kinds::common::names::{self, Named};

/// One tag of a group, for `CreateOrUpdateTags` (with its value) and `DeleteTags` (without).
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

/// `Some` for a non-empty list.
fn listed(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

impl AutoScalingGroup {
    /// What a create or update request points the group at: a launch configuration's name,
    /// or a launch template pinned to an exact version.
    async fn launch(
        &self,
        launch: Option<&LaunchRef>,
    ) -> Result<(Option<String>, Option<asg::LaunchTemplateSpecification>), KindError> {
        Ok(match launch {
            Some(LaunchRef::Config(lc)) => (Some(lc.clone()), None),
            Some(LaunchRef::Template { name, version }) => {
                (None, Some(self.templates.pin(name, version).await?))
            }
            None => (None, None),
        })
    }

    pub(super) async fn apply_change(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        change: &AutoScalingGroupChange,
    ) -> Result<(), KindError> {
        use AutoScalingGroupChange as C;
        let c = &self.client;
        match change {
            C::CreateLaunchConfiguration { name: lc, instance } => {
                config::create(c, lc, instance).await
            }
            C::CreateLaunchTemplate {
                template,
                instance,
                hash,
            } => {
                (self.templates)
                    .create(ctx.controller_id, template, instance, hash)
                    .await
            }
            C::CreateLaunchTemplateVersion {
                template,
                template_id,
                instance,
                hash,
            } => {
                (self.templates)
                    .create_version(template, template_id, instance, hash)
                    .await
            }
            C::CreateGroup(g) => {
                let (lc, lt) = self.launch(Some(&g.launch)).await?;
                let subnets = if g.subnet_names.is_empty() {
                    g.subnets.clone()
                } else {
                    names::resolve_all(&self.ec2, Named::Subnet, &g.subnet_names).await?
                };
                let subnets = (!subnets.is_empty()).then(|| subnets.join(","));
                c.create_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .set_launch_configuration_name(lc)
                    .set_launch_template(lt)
                    .min_size(g.min_size)
                    .max_size(g.max_size)
                    .set_desired_capacity(g.desired_capacity)
                    .set_default_cooldown(g.default_cooldown)
                    .set_health_check_type(g.health_check_type.clone())
                    .set_health_check_grace_period(g.health_check_period)
                    .set_availability_zones(listed(&g.availability_zones))
                    .set_vpc_zone_identifier(subnets)
                    .set_load_balancer_names(listed(&g.load_balancers))
                    .set_termination_policies(listed(&g.termination_policies))
                    .set_tags(Some(
                        (g.tags.iter())
                            .map(|(k, v)| asg_tag(name, k, Some(v)))
                            .collect(),
                    ))
                    .send()
                    .await
                    // An earlier attempt made it; the next sweep compares everything.
                    .ok_if(&["AlreadyExists"], &CODES, "CreateAutoScalingGroup", name)
            }
            C::UpdateGroup(u) => {
                let (lc, lt) = self.launch(u.launch.as_ref().map(|x| &x.1)).await?;
                c.update_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .set_launch_configuration_name(lc)
                    .set_launch_template(lt)
                    .set_min_size(u.min_size.map(|x| x.1))
                    .set_max_size(u.max_size.map(|x| x.1))
                    .set_desired_capacity(u.desired_capacity.map(|x| x.1))
                    .set_default_cooldown(u.default_cooldown.map(|x| x.1))
                    .set_health_check_type(u.health_check_type.as_ref().map(|x| x.1.clone()))
                    .set_health_check_grace_period(u.health_check_period.map(|x| x.1))
                    .set_availability_zones(u.availability_zones.as_ref().map(|x| x.1.clone()))
                    .set_vpc_zone_identifier(u.subnets.as_ref().map(|x| x.1.join(",")))
                    .set_termination_policies(u.termination_policies.as_ref().map(|x| x.1.clone()))
                    .send()
                    .await
                    .done(&CODES, "UpdateAutoScalingGroup", name)
            }
            C::SuspendProcesses(s) => c
                .suspend_processes()
                .auto_scaling_group_name(name)
                .set_scaling_processes(Some(s.iter().cloned().collect()))
                .send()
                .await
                .done(&CODES, "SuspendProcesses", name),
            C::ResumeProcesses(s) => c
                .resume_processes()
                .auto_scaling_group_name(name)
                .set_scaling_processes(Some(s.iter().cloned().collect()))
                .send()
                .await
                .done(&CODES, "ResumeProcesses", name),
            C::AttachLoadBalancers(s) => c
                .attach_load_balancers()
                .auto_scaling_group_name(name)
                .set_load_balancer_names(Some(s.iter().cloned().collect()))
                .send()
                .await
                .done(&CODES, "AttachLoadBalancers", name),
            C::DetachLoadBalancers(s) => c
                .detach_load_balancers()
                .auto_scaling_group_name(name)
                .set_load_balancer_names(Some(s.iter().cloned().collect()))
                .send()
                .await
                .done(&CODES, "DetachLoadBalancers", name),
            C::Tag(m) => c
                .create_or_update_tags()
                .set_tags(Some(
                    (m.iter())
                        .map(|(k, (_, v))| asg_tag(name, k, Some(v)))
                        .collect(),
                ))
                .send()
                .await
                .done(&CODES, "CreateOrUpdateTags", name),
            C::Untag(m) => c
                .delete_tags()
                .set_tags(Some(m.keys().map(|k| asg_tag(name, k, None)).collect()))
                .send()
                .await
                .done(&CODES, "DeleteTags", name),
            C::PutScalingPolicy { policy, .. } => policies::put(c, name, policy).await,
            C::DeleteScalingPolicy { name: policy, .. } => policies::delete(c, name, policy).await,
            C::DeleteLaunchConfigurations(names) => config::delete(c, name, names).await,
        }
    }

    /// `DeleteAutoScalingGroup` with `ForceDelete` (it terminates the instances), then the
    /// launch configurations and template only it used.
    pub(super) async fn delete_group(
        &self,
        name: &str,
        live: &LiveAutoScalingGroup,
    ) -> Result<(), KindError> {
        (self.client)
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true)
            .send()
            .await
            .gone_ok(&CODES, "DeleteAutoScalingGroup", name)?;
        // The group's own launch configuration is among them (its name gives the prefix).
        config::delete(&self.client, name, &config::unused(live, None)).await?;
        self.templates.delete(live).await
    }
}
