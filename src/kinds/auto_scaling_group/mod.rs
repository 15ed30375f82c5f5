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
//!
//! **Tags** are checked by the rules every kind shares (`common::tags`, as AWS counts: a key of
//! 1 to 128 characters, a value of at most 256 characters, at most 49 tags besides
//! `converge:managed-by`, the `aws:` prefix and `converge:managed-by` reserved); a key given
//! twice is refused. `propagate_at_launch` is part of a tag's value: changing it re-tags.
//!
//! **One kind, several AWS resources.** Launch configurations, launch templates and scaling
//! policies are not kinds of their own: their life is tied to the group's spec (a launch
//! configuration is rolled and deleted with the group's `launch_config`, a template version
//! made when its `launch_template` changes, policies are named within the group), and making
//! them kinds would change the manifests. The code is split along those resources:
//!
//! - [`spec`]: the spec types and their validation;
//! - [`diff`]: the live state, the changes and the pure diff;
//! - [`launch`]: the resolved instance fields and their content hash; [`launch::config`]
//!   (naming by content hash, create, delete unused ones) and [`launch::template`] (versions,
//!   the content hash in the description, the version cache);
//! - [`user_data`]: `user_data` and the cloud-init MIME rendering;
//! - [`policies`]: the scaling policies;
//! - `observe` reads AWS, `apply` applies changes and deletes groups.
//!
//! AWS errors are classified with the kind's codes (`CODES`: Auto Scaling says "not found" with
//! a `ValidationError`) by `common::errors`.

mod apply;
pub mod diff;
pub mod launch;
mod observe;
pub mod policies;
pub mod spec;
pub mod user_data;

use crate::aws::Clients;
use crate::core::facts::Published;
use crate::core::schema::TagStyle;
use crate::core::{KindError, Reference, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};
use crate::kinds::common::errors::{ErrorCodes, NotFound};
use crate::kinds::common::refs;

pub use diff::{AutoScalingGroupChange, LiveAutoScalingGroup};
pub use spec::AutoScalingGroupSpec;

/// Auto Scaling and EC2 launch-template codes that retrying will not fix; Auto Scaling says
/// "not found" with a `ValidationError` whose message says so.
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "LimitExceeded",
        "ServiceLinkedRoleFailure",
        "InvalidLaunchTemplateName.MalformedException",
        "InvalidAMIID.Malformed",
        "InvalidKeyPair.NotFound",
    ],
    NotFound::CodeSaying("ValidationError", "not found"),
);

/// The Auto Scaling group kind.
pub struct AutoScalingGroup {
    client: aws_sdk_autoscaling::Client,
    /// For `subnet_names`: subnets by their `Name` tag.
    ec2: aws_sdk_ec2::Client,
    /// The launch templates, with the version cache.
    templates: launch::template::Templates,
}

impl AutoScalingGroup {
    pub fn new(clients: &Clients) -> Self {
        AutoScalingGroup {
            client: clients.autoscaling.clone(),
            ec2: clients.ec2.clone(),
            templates: launch::template::Templates::new(clients.ec2.clone()),
        }
    }
}

impl Schema for AutoScalingGroup {
    const NAME: &'static str = refs::auto_scaling_group::KIND;
    const TAGS: TagStyle = TagStyle::List;
    type Spec = AutoScalingGroupSpec;

    fn references(spec: &AutoScalingGroupSpec) -> Vec<Reference> {
        spec::references(spec)
    }

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
        spec::validate(name, spec)
    }
}

impl Kind for AutoScalingGroup {
    type Live = LiveAutoScalingGroup;
    type Change = AutoScalingGroupChange;

    async fn observe(
        &self,
        scope: &Scope<'_, AutoScalingGroupSpec>,
    ) -> Result<Observed<LiveAutoScalingGroup>, KindError> {
        self.observe_groups(scope).await
    }

    fn owner(live: &LiveAutoScalingGroup) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(|t| t.value.as_str())
    }

    fn facts(_name: &str, live: &LiveAutoScalingGroup, out: &mut Published) {
        out.set(refs::auto_scaling_group::ARN, &live.arn);
        if let Some(lc) = &live.launch_configuration {
            out.set(refs::auto_scaling_group::LAUNCH_CONFIGURATION, lc);
        }
        for (name, p) in live.policies.iter().filter(|(_, p)| !p.arn.is_empty()) {
            out.set_in(refs::auto_scaling_group::POLICY_ARN, name, &p.arn);
        }
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &AutoScalingGroupSpec,
        live: Option<&LiveAutoScalingGroup>,
    ) -> Result<Vec<AutoScalingGroupChange>, Waiting> {
        diff::diff(ctx, name, desired, live)
    }

    async fn apply(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveAutoScalingGroup>,
        change: &AutoScalingGroupChange,
    ) -> Result<(), KindError> {
        self.apply_change(ctx, name, change).await
    }

    async fn delete(&self, name: &str, live: &LiveAutoScalingGroup) -> Result<(), KindError> {
        self.delete_group(name, live).await
    }
}

#[cfg(test)]
mod tests;
