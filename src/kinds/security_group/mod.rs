//! `kind: SecurityGroup` — an EC2 security group: description, VPC, ingress and egress rules,
//! tags.
//!
//! Spec fields follow Salt's `boto_secgroup.present` (`description`, `vpc_id`, `rules`,
//! `rules_egress`, `tags`; a rule has `ip_protocol`, `from_port`, `to_port` and one source:
//! `cidr_ip`, `cidr_ipv6`, `source_group_id` (Salt's `source_group_group_id` is accepted too) or
//! `source_group_name` with an optional `source_group_owner_id`).
//!
//! Reads per sweep: ONE paginated `DescribeSecurityGroups` for the whole region (1,000 per page),
//! never one call per group. The default VPC is found once per process with `DescribeVpcs`
//! (`is-default=true`), and only when a desired group has no `vpc_id` or a group name exists in
//! more than one VPC; the answer is cached (a default VPC created later needs a restart).
//!
//! - Groups are keyed by `GroupName`. Names are unique per VPC, not per region: when a name exists
//!   in several VPCs, the group managed is the one in the VPC the spec asks for (`vpc_id`, else
//!   the default VPC); for a group that is not desired, the one in the default VPC (else the
//!   lowest group id) is the one whose facts (`id`, `vpc_id`, `owner_id`) are published.
//! - `description` is required (AWS requires one; Salt's state requires it too). It and `vpc_id`
//!   cannot change on an existing group: a difference is reported as needing replacement and
//!   never applied. A group of the desired name found only in another VPC is reported the same
//!   way and otherwise left alone.
//! - Rules compare as sets of single permissions after normalisation: `tcp` = `6`, `udp` = `17`,
//!   `icmp` = `1`, `icmpv6` = `58`, `all` = `-1`; a rule with two CIDRs is two permissions; ports
//!   count only for tcp, udp, icmp and icmpv6 (type and code, `-1` when not written). What is
//!   missing is authorized, what is extra is revoked, nothing else is touched. Rule descriptions
//!   are not managed.
//! - `rules` (ingress) is authoritative: ingress rules that are not written are revoked (no
//!   `rules` means no ingress rules). `rules_egress` is authoritative only when written: without
//!   it egress is not managed at all (a new group keeps AWS's default allow-all egress rule).
//! - A source group by name resolves through the SecurityGroup facts (every group the listing
//!   returned). One that is in the desired state and does not exist yet is waited for
//!   (`waiting for SecurityGroup/<name>`); so is one that exists nowhere. A group is created at
//!   once without such rules (so a group may refer to itself or two groups to each other), and
//!   they are added as soon as their source exists. A name with a `source_group_owner_id` that
//!   does not resolve to a group of this account is passed to AWS by name (an EC2-Classic style
//!   reference, like the seed's `amazon-elb/amazon-elb-sg`); when AWS rejects it, the resource
//!   fails with a terminal error naming the rule and why.
//! - Tags are authoritative (AWS's own `aws:` tags excepted) and checked by the rules every
//!   kind shares ([`super::common::tags`]). An existing untagged group is adopted by tagging it
//!   first, before any rule is revoked.
//!
//! Its files: `spec.rs` (the spec and its checks), `rules.rs` (protocols, CIDR blocks and
//! permissions, normalised), `diff.rs` (live state, changes and the pure diff), `observe.rs`
//! (reading EC2), `apply.rs` (changing it) and `tests.rs`.

mod apply;
mod diff;
mod observe;
mod rules;
mod spec;

use tokio::sync::OnceCell;

pub use diff::{LiveSecurityGroup, Rule, SecurityGroupChange};
pub use rules::{canonical_protocol, LiveRule, Permission, Source};
pub use spec::{RuleSpec, SecurityGroupSpec};

use super::common::errors::{ErrorCodes, NotFound};
use super::common::{refs, tags};
use crate::aws::Clients;
use crate::core::facts::Published;
use crate::core::{KindError, Reference, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// The group (or a group a rule names) does not exist.
const GROUP_NOT_FOUND: &str = "InvalidGroup.NotFound";

/// EC2's codes for security groups: those retrying will not fix, and "no such group".
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "InvalidGroup.Reserved",
        "InvalidGroupId.Malformed",
        "InvalidGroup.Malformed",
        "InvalidPermission.Malformed",
        "InvalidVpcID.NotFound",
        "InvalidVpcId.Malformed",
        "VPCIdNotSpecified",
        "RulesPerSecurityGroupLimitExceeded",
        "SecurityGroupLimitExceeded",
        "SecurityGroupsPerInstanceLimitExceeded",
        "CannotDelete",
        "InvalidTagKey.Malformed",
        "TagLimitExceeded",
    ],
    NotFound::Codes(&[GROUP_NOT_FOUND]),
);

/// Shown for a group without `vpc_id`.
const DEFAULT_VPC: &str = "(default VPC)";

/// The EC2 security group kind.
pub struct SecurityGroup {
    client: aws_sdk_ec2::Client,
    /// The region's default VPC id (`None`: the region has none), looked up once.
    default_vpc: OnceCell<Option<String>>,
}

impl SecurityGroup {
    pub fn new(clients: &Clients) -> Self {
        SecurityGroup {
            client: clients.ec2.clone(),
            default_vpc: OnceCell::new(),
        }
    }
}

impl Schema for SecurityGroup {
    const NAME: &'static str = refs::security_group::KIND;
    type Spec = SecurityGroupSpec;

    fn references(spec: &SecurityGroupSpec) -> Vec<Reference> {
        spec::references(spec)
    }

    fn validate_name(name: &str) -> Result<(), String> {
        spec::validate_group_name("security group name ", name)
    }

    fn validate(_name: &str, spec: &SecurityGroupSpec) -> Vec<String> {
        spec::validate(spec)
    }
}

impl Kind for SecurityGroup {
    type Live = LiveSecurityGroup;
    type Change = SecurityGroupChange;

    async fn observe(
        &self,
        scope: &Scope<'_, SecurityGroupSpec>,
    ) -> Result<Observed<LiveSecurityGroup>, KindError> {
        self.observe_groups(scope).await
    }

    fn owner(live: &LiveSecurityGroup) -> Option<&str> {
        tags::owner(&live.tags)
    }

    fn facts(_name: &str, live: &LiveSecurityGroup, out: &mut Published) {
        out.set(refs::security_group::ID, &live.id);
        out.set(refs::security_group::OWNER_ID, &live.owner_id);
        if let Some(v) = &live.vpc_id {
            out.set(refs::security_group::VPC_ID, v);
        }
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        _name: &str,
        desired: &SecurityGroupSpec,
        live: Option<&LiveSecurityGroup>,
    ) -> Result<Vec<SecurityGroupChange>, Waiting> {
        diff::diff(ctx, desired, live)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        live: Option<&LiveSecurityGroup>,
        change: &SecurityGroupChange,
    ) -> Result<(), KindError> {
        self.apply_change(name, live, change).await
    }

    async fn delete(&self, name: &str, live: &LiveSecurityGroup) -> Result<(), KindError> {
        self.delete_group(name, live).await
    }
}

#[cfg(test)]
mod tests;
