//! `kind: LoadBalancer` — a classic Elastic Load Balancer: listeners, zones or subnets, security
//! groups, health check, attributes and tags; its `cnames` become `DnsRecord`s by expansion.
//!
//! Reads per sweep: one paginated `DescribeLoadBalancers` for the whole region (400 per page),
//! `DescribeTags` in batches of 20 names for the desired load balancers (with `--prune`, for
//! every load balancer, to find the owned ones), and one `DescribeLoadBalancerAttributes` per
//! desired load balancer: the ELB API has no batched read of attributes. Every listed load
//! balancer is returned, so its `dns_name` and `hosted_zone_id` are published as facts even when
//! it is not desired (a `DnsRecord` may point at one managed elsewhere); the tags and attributes
//! of one that is not read stay empty, and it is never pruned on their account.
//!
//! What is managed, field by field (spec names follow Salt's `boto_elb.present`):
//! - `listeners` are authoritative, keyed by `elb_port`. A listener cannot be modified: a changed
//!   port is deleted and created again, extra ports deleted, other ports left alone.
//!   `instance_protocol` defaults to `elb_protocol`, as Salt's `boto_elb` does (it treats every
//!   listener as a "complex" one), and is always sent, so AWS's own default never applies.
//! - `availability_zones` or `subnets` (exactly one): only the difference is enabled/attached
//!   and disabled/detached, additions first so the load balancer is never left without one.
//! - `security_groups` (names or `sg-` ids) are managed only when written: AWS (and moto) give
//!   a load balancer created without any a default group, which is left alone. A name resolves
//!   to its id through the `SecurityGroup` facts; until it does, the load balancer waits for
//!   `SecurityGroup/<name>` (whether that group is desired here or expected from elsewhere).
//! - `health_check`, when written, is the whole check: a field left out takes AWS's default
//!   (`TCP:80`, interval 30 s, timeout 5 s, healthy threshold 10, unhealthy threshold 2) —
//!   unlike Salt, whose boto2 `HealthCheck` filled in thresholds 3 and 5.
//! - `attributes`: only the blocks and fields written are managed; the others keep what AWS has
//!   (they are sent as read, because `ModifyLoadBalancerAttributes` takes whole blocks). The
//!   other fields of a disabled access log are not compared. Salt's spelling
//!   `connecting_settings` is accepted, and so is AWS's `connection_settings`.
//! - `scheme` cannot change on an existing load balancer: a difference is reported as needing
//!   replacement, never applied.
//! - Tags are authoritative: tags not in the spec are removed (AWS's own `aws:` tags excepted),
//!   and checked by the rules every kind shares (at most 49 besides converge's own).
//!
//! Not supported (rejected as unknown fields): Salt's listener and backend `policies`,
//! `alarms`, `subnet_names` and registered `instance_ids`/`instance_names`.
//!
//! Sections: [`spec`] (the spec, its validation and the `cnames` expansion), [`diff`] (live
//! state, changes and the pure diff), `observe` (reading ELB), `apply` (changing and
//! deleting load balancers).

mod apply;
pub mod diff;
mod observe;
pub mod spec;

use super::common::errors::{ErrorCodes, NotFound};
use super::common::{refs, tags};
use crate::aws::Clients;
use crate::core::facts::Published;
use crate::core::schema::{Derived, Reference};
use crate::core::{KindError, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};
use diff::{LiveLoadBalancer, LoadBalancerChange};
use spec::LoadBalancerSpec;

/// ELB codes that retrying will not fix, and the one that says a load balancer vanished
/// between the listing and the read (or before a delete).
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "CertificateNotFound",
        "DuplicateListener",
        "DuplicateTagKeys",
        "InvalidConfigurationRequest",
        "InvalidScheme",
        "InvalidSecurityGroup",
        "InvalidSubnet",
        "ListenerNotFound",
        "LoadBalancerAttributeNotFound",
        "OperationNotPermitted",
        "SubnetNotFound",
        "TooManyLoadBalancers",
        "TooManyTags",
        "UnsupportedProtocol",
    ],
    NotFound::Codes(&["LoadBalancerNotFound"]),
);

/// The classic load balancer kind.
pub struct LoadBalancer {
    client: aws_sdk_elasticloadbalancing::Client,
    /// For `subnet_names`: subnets by their `Name` tag.
    ec2: aws_sdk_ec2::Client,
}

impl LoadBalancer {
    pub fn new(clients: &Clients) -> Self {
        LoadBalancer {
            client: clients.elb.clone(),
            ec2: clients.ec2.clone(),
        }
    }
}

impl Schema for LoadBalancer {
    const NAME: &'static str = refs::load_balancer::KIND;
    type Spec = LoadBalancerSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        spec::validate_name(name)
    }

    fn validate(_name: &str, spec: &LoadBalancerSpec) -> Vec<String> {
        spec::validate(spec)
    }

    fn expand(name: &str, spec: &LoadBalancerSpec, region: &str) -> Vec<Derived> {
        spec::expand(name, spec, region)
    }

    fn references(spec: &LoadBalancerSpec) -> Vec<Reference> {
        spec::references(spec)
    }
}

impl Kind for LoadBalancer {
    type Live = LiveLoadBalancer;
    type Change = LoadBalancerChange;

    async fn observe(
        &self,
        scope: &Scope<'_, LoadBalancerSpec>,
    ) -> Result<Observed<LiveLoadBalancer>, KindError> {
        observe::observe(&self.client, &self.ec2, scope).await
    }

    fn owner(live: &LiveLoadBalancer) -> Option<&str> {
        tags::owner(&live.tags)
    }

    fn facts(_name: &str, live: &LiveLoadBalancer, out: &mut Published) {
        if let Some(d) = &live.dns_name {
            out.set(refs::load_balancer::DNS_NAME, d);
        }
        if let Some(z) = &live.hosted_zone_id {
            out.set(refs::load_balancer::HOSTED_ZONE_ID, z);
        }
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        _name: &str,
        desired: &LoadBalancerSpec,
        live: Option<&LiveLoadBalancer>,
    ) -> Result<Vec<LoadBalancerChange>, Waiting> {
        diff::diff(ctx, desired, live)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveLoadBalancer>,
        change: &LoadBalancerChange,
    ) -> Result<(), KindError> {
        apply::apply(&self.client, &self.ec2, name, change).await
    }

    async fn delete(&self, name: &str, _live: &LiveLoadBalancer) -> Result<(), KindError> {
        apply::delete(&self.client, name).await
    }
}

#[cfg(test)]
mod tests;
