//! Reading EC2: one listing of every group in the region, and the default VPC once.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, SecurityGroup as SdkGroup};

use super::diff::LiveSecurityGroup;
use super::rules::live_rules;
use super::spec::SecurityGroupSpec;
use super::{SecurityGroup, CODES};
use crate::core::KindError;
use crate::engine::{Observed, Scope};
use crate::kinds::common::errors::Sent;
use crate::kinds::common::names::{self, Named};
use crate::kinds::common::tags;

impl SecurityGroup {
    /// The region's default VPC id (`None`: the region has none), looked up once.
    async fn default_vpc(&self) -> Result<Option<String>, KindError> {
        self.default_vpc
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .describe_vpcs()
                    .filters(Filter::builder().name("is-default").values("true").build())
                    .send()
                    .await
                    .or_fail(&CODES, "DescribeVpcs", "(the default VPC)")?;
                Ok(out
                    .vpcs()
                    .iter()
                    .find(|v| v.is_default() != Some(false))
                    .and_then(|v| v.vpc_id().map(String::from)))
            })
            .await
            .cloned()
    }

    /// Every group of the region, by name: one paginated `DescribeSecurityGroups`, with the
    /// VPC lookups the desired groups need sent beside it rather than after it (a one-shot
    /// `apply` would otherwise wait one more round trip for the default VPC).
    pub(super) async fn observe_groups(
        &self,
        scope: &Scope<'_, SecurityGroupSpec>,
    ) -> Result<Observed<LiveSecurityGroup>, KindError> {
        let listing = async {
            self.client
                .describe_security_groups()
                .max_results(1000)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_fail(&CODES, "DescribeSecurityGroups", "(all security groups)")
        };
        let names: BTreeSet<String> = scope
            .desired
            .values()
            .filter_map(|s| s.vpc_name.clone())
            .collect();
        let named = names::ids_by_name(&self.client, Named::Vpc, &names);
        let desired_default = scope
            .desired
            .values()
            .any(|s| s.vpc_id.is_none() && s.vpc_name.is_none());
        // Fills `default_vpc`'s cache beside the listing; its answer is read below.
        let early_default = async {
            if desired_default {
                self.default_vpc().await.map(drop)
            } else {
                Ok(())
            }
        };
        let (groups, named, early_default) = tokio::join!(listing, named, early_default);
        let (groups, named) = (groups?, named?);
        early_default?;
        let mut by_name: BTreeMap<&str, Vec<&SdkGroup>> = BTreeMap::new();
        for g in &groups {
            if let (Some(name), Some(_)) = (g.group_name(), g.group_id()) {
                by_name.entry(name).or_default().push(g);
            }
        }
        // Several groups with one name are told apart by the default VPC too.
        let default_vpc = if desired_default || by_name.values().any(|c| c.len() > 1) {
            self.default_vpc().await?
        } else {
            None
        };
        let mut out = Observed::new();
        for (name, candidates) in by_name {
            let spec = scope.desired.get(name);
            let named_vpcs = spec
                .and_then(|s| s.vpc_name.as_ref())
                .map(|n| named.get(n).cloned().unwrap_or_default());
            let prefer = spec
                .and_then(|s| s.vpc_id.as_deref())
                .or_else(|| {
                    named_vpcs
                        .as_ref()
                        .and_then(|ids| ids.first().map(String::as_str))
                })
                .or(default_vpc.as_deref());
            if let Some(g) = pick(&candidates, prefer) {
                let mut live = live_group(g, default_vpc.as_deref());
                live.named_vpcs = named_vpcs;
                out.insert(name.to_string(), live);
            }
        }
        Ok(out)
    }
}

/// An observed group, normalised.
pub(super) fn live_group(g: &SdkGroup, default_vpc: Option<&str>) -> LiveSecurityGroup {
    LiveSecurityGroup {
        id: g.group_id().unwrap_or_default().to_string(),
        description: g.description().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().map(String::from),
        owner_id: g.owner_id().unwrap_or_default().to_string(),
        in_default_vpc: default_vpc.is_some() && g.vpc_id() == default_vpc,
        named_vpcs: None,
        ingress: live_rules(g.ip_permissions()),
        egress: live_rules(g.ip_permissions_egress()),
        tags: tags::collect(g.tags().iter().map(|t| (t.key(), t.value()))),
    }
}

/// Of several groups with one name (in different VPCs), the one in `prefer` (the VPC the spec
/// asks for, or the default VPC), else the lowest group id.
pub(super) fn pick<'a>(candidates: &[&'a SdkGroup], prefer: Option<&str>) -> Option<&'a SdkGroup> {
    let preferred = prefer.and_then(|v| candidates.iter().find(|g| g.vpc_id() == Some(v)));
    preferred
        .or_else(|| candidates.iter().min_by_key(|g| g.group_id()))
        .copied()
}
