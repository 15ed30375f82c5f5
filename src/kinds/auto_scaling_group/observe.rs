//! Reading AWS: every group, launch configuration and scaling policy in one paginated listing
//! each (never a call per group), then the launch templates the groups need.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_autoscaling::types as asg;

use super::diff::{LiveAutoScalingGroup, LiveTemplateRef, TagValue};
use super::launch::config;
use super::policies::LivePolicy;
use super::spec::AutoScalingGroupSpec;
use super::{AutoScalingGroup, CODES};
use crate::core::KindError;
use crate::engine::{Observed, Scope};
use crate::kinds::common::errors::Sent;
use crate::kinds::common::names::{self, Named};

/// The status of a group AWS is deleting.
const DELETING: &str = "Delete in progress";

impl AutoScalingGroup {
    pub(super) async fn observe_groups(
        &self,
        scope: &Scope<'_, AutoScalingGroupSpec>,
    ) -> Result<Observed<LiveAutoScalingGroup>, KindError> {
        // Each listing's items are read into what is kept as they arrive (the SDK's groups and
        // launch configurations, user data included, are several times that in memory).
        let c = &self.client;
        let groups = async {
            let mut items = c
                .describe_auto_scaling_groups()
                .max_records(100)
                .into_paginator()
                .items()
                .send();
            let mut groups = Vec::new();
            while let Some(g) = items.next().await {
                let g = g.or_fail(&CODES, "DescribeAutoScalingGroups", "(all groups)")?;
                if let Some(name) = g.auto_scaling_group_name() {
                    groups.push((
                        name.to_string(),
                        live_group(&g),
                        g.status() == Some(DELETING),
                    ));
                }
            }
            Ok::<_, KindError>(groups)
        };
        let lc_names = async {
            let mut items = c
                .describe_launch_configurations()
                .max_records(100)
                .into_paginator()
                .items()
                .send();
            let mut names = BTreeSet::new();
            while let Some(lc) = items.next().await {
                let lc = lc.or_fail(
                    &CODES,
                    "DescribeLaunchConfigurations",
                    "(all launch configurations)",
                )?;
                names.extend(lc.launch_configuration_name().map(String::from));
            }
            Ok::<_, KindError>(names)
        };
        let policies = async {
            let mut items = c
                .describe_policies()
                .max_records(50)
                .into_paginator()
                .items()
                .send();
            let mut policies = Vec::new();
            while let Some(p) = items.next().await {
                let p = p.or_fail(&CODES, "DescribePolicies", "(all policies)")?;
                if let (Some(group), Some(name)) = (p.auto_scaling_group_name(), p.policy_name()) {
                    policies.push((group.to_string(), name.to_string(), LivePolicy::of(&p)));
                }
            }
            Ok::<_, KindError>(policies)
        };
        let (groups, lc_names, policies) = tokio::join!(groups, lc_names, policies);
        let (groups, lc_names, policies) = (groups?, lc_names?, policies?);

        // Launch configuration name, and launch template id → the groups using it.
        let mut lc_users: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut template_users: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (name, live, _) in &groups {
            if let Some(lc) = &live.launch_configuration {
                lc_users.entry(lc.clone()).or_default().insert(name.clone());
            }
            if let Some(id) = live.launch_template.as_ref().and_then(|t| t.id.clone()) {
                template_users.entry(id).or_default().insert(name.clone());
            }
        }
        // A group AWS is deleting still holds its launch configuration, but is not there to
        // manage (or to delete again). (Collected, not inserted one by one: full B-tree nodes.)
        let mut out: Observed<LiveAutoScalingGroup> = (groups.into_iter())
            .filter(|(_, _, deleting)| !deleting)
            .map(|(name, live, _)| (name, live))
            .collect();
        for (group, name, policy) in policies {
            if let Some(live) = out.get_mut(&group) {
                live.policies.insert(name, policy);
            }
        }
        for (name, live) in out.iter_mut() {
            let spec = scope.desired.get(name);
            live.launch_configs = config::ours(name, live, spec, &lc_names, &lc_users);
        }
        // `subnet_names` of the desired groups that exist: one DescribeSubnets for all.
        let subnet_names: BTreeSet<String> = scope
            .desired
            .iter()
            .filter(|(n, _)| out.contains_key(*n))
            .flat_map(|(_, s)| s.subnet_names.iter().flatten().cloned())
            .collect();
        let named = names::ids_by_name(&self.ec2, Named::Subnet, &subnet_names).await?;
        for (name, spec) in scope.desired.iter() {
            if let (Some(want), Some(live)) = (&spec.subnet_names, out.get_mut(name)) {
                live.named_subnets = want
                    .iter()
                    .map(|n| names::one(Named::Subnet, n, &named).ok())
                    .collect::<Option<_>>();
            }
        }
        self.templates
            .observe(scope, &mut out, &template_users)
            .await?;
        Ok(out)
    }
}

/// A group as `DescribeAutoScalingGroups` lists it (its policies, launch configurations and
/// template are added from the other listings).
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
        named_subnets: None,
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
                let value = TagValue {
                    value: t.value().unwrap_or_default().to_string(),
                    propagate_at_launch: t.propagate_at_launch().unwrap_or(false),
                };
                Some((t.key()?.to_string(), value))
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
