//! Reading ELB: one listing of the region's load balancers, their tags in batches, and the
//! attributes of each desired one.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancing::types::{LoadBalancerAttributes, LoadBalancerDescription};
use aws_sdk_elasticloadbalancing::Client;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::diff::{
    AccessLogState, AttributesState, DrainingState, HealthCheckState, ListenerState,
    LiveLoadBalancer,
};
use super::{LoadBalancerSpec, CODES};
use crate::core::KindError;
use crate::engine::{Observed, Scope};
use crate::kinds::common::errors::Sent;
use crate::kinds::common::names::{self, Named};
use crate::kinds::common::tags::{self, Tags};

/// `DescribeTags` takes at most this many names.
const TAG_BATCH: usize = 20;

/// Every listed load balancer, with the tags of those in `scope` and the attributes of the
/// desired ones; one that vanishes between the reads is left out.
pub async fn observe(
    client: &Client,
    ec2: &aws_sdk_ec2::Client,
    scope: &Scope<'_, LoadBalancerSpec>,
) -> Result<Observed<LiveLoadBalancer>, KindError> {
    let descriptions: Vec<LoadBalancerDescription> = client
        .describe_load_balancers()
        .page_size(400)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_fail(&CODES, "DescribeLoadBalancers", "(all load balancers)")?;
    let mut found: Observed<LiveLoadBalancer> =
        descriptions.iter().filter_map(live_from_sdk).collect();

    // The names to read more of: those in scope (`all`), or only the desired ones.
    let names = |found: &Observed<LiveLoadBalancer>, all: bool| -> Vec<String> {
        let wanted = found
            .keys()
            .filter(|n| all || scope.desired.contains_key(*n));
        wanted.cloned().collect()
    };
    let tagged = names(&found, scope.all);
    let batches: Vec<Vec<String>> = tagged.chunks(TAG_BATCH).map(<[String]>::to_vec).collect();
    // Tags and attributes both need only the names: read side by side.
    let tags = stream::iter(batches)
        .map(|batch| read_tags(client, batch))
        .buffer_unordered(4)
        .try_collect::<Vec<Vec<(String, Option<Tags>)>>>();
    let attributes = stream::iter(names(&found, false))
        .map(|name| read_attributes(client, name))
        .buffer_unordered(8)
        .try_collect::<Vec<(String, Option<AttributesState>)>>();
    // `subnet_names` of the desired load balancers that exist: one DescribeSubnets for all.
    let subnet_names: std::collections::BTreeSet<String> = scope
        .desired
        .iter()
        .filter(|(n, _)| found.contains_key(*n))
        .flat_map(|(_, s)| s.subnet_names.iter().flatten().cloned())
        .collect();
    let named = names::ids_by_name(ec2, Named::Subnet, &subnet_names);
    let (tags, attributes, named) = tokio::join!(tags, attributes, named);
    let named = named?;
    for (name, spec) in scope.desired.iter() {
        if let (Some(want), Some(lb)) = (&spec.subnet_names, found.get_mut(name)) {
            lb.named_subnets = want
                .iter()
                .map(|n| names::one(Named::Subnet, n, &named).ok())
                .collect::<Option<_>>();
        }
    }
    keep(&mut found, tags?.into_iter().flatten(), |lb, t| lb.tags = t);
    keep(&mut found, attributes?, |lb, a| lb.attributes = Some(a));
    Ok(found)
}

/// Sets what was read on each load balancer, and drops one that was gone (`None`).
fn keep<T>(
    found: &mut Observed<LiveLoadBalancer>,
    read: impl IntoIterator<Item = (String, Option<T>)>,
    set: impl Fn(&mut LiveLoadBalancer, T),
) {
    for (name, value) in read {
        match (value, found.get_mut(&name)) {
            (Some(v), Some(lb)) => set(lb, v),
            (Some(_), None) => {}
            // Gone since the listing.
            (None, _) => drop(found.remove(&name)),
        }
    }
}

/// Tags of up to 20 load balancers, by name; `None` for one that vanished since the listing.
/// Such a name makes AWS fail the whole batch, which is then read name by name.
async fn read_tags(
    client: &Client,
    names: Vec<String>,
) -> Result<Vec<(String, Option<Tags>)>, KindError> {
    if let Some(tags) = describe_tags(client, &names).await? {
        return Ok(tags);
    }
    let mut out = Vec::new();
    for name in names {
        let tags = describe_tags(client, std::slice::from_ref(&name)).await?;
        out.extend(tags.unwrap_or_else(|| vec![(name, None)]));
    }
    Ok(out)
}

/// One `DescribeTags`: the tags of each name, or `None` when one of them does not exist.
async fn describe_tags(
    client: &Client,
    names: &[String],
) -> Result<Option<Vec<(String, Option<Tags>)>>, KindError> {
    let Some(out) = client
        .describe_tags()
        .set_load_balancer_names(Some(names.to_vec()))
        .send()
        .await
        .or_missing(&CODES, "DescribeTags", &names.join(","))?
    else {
        return Ok(None);
    };
    let mut tags: BTreeMap<&str, Tags> = out
        .tag_descriptions()
        .iter()
        .filter_map(|d| {
            let tags = d.tags().iter().map(|t| (Some(t.key()), t.value()));
            Some((d.load_balancer_name()?, tags::collect(tags)))
        })
        .collect();
    // A load balancer without tags is listed with none; if AWS ever left it out, it still has
    // no tags (it is not gone: that would have failed the call).
    let mut tags_of = |n: &String| Some(tags.remove(n.as_str()).unwrap_or_default());
    Ok(Some(
        names.iter().map(|n| (n.clone(), tags_of(n))).collect(),
    ))
}

/// Attributes of one load balancer; `None` if it vanished since the listing.
async fn read_attributes(
    client: &Client,
    name: String,
) -> Result<(String, Option<AttributesState>), KindError> {
    let out = client
        .describe_load_balancer_attributes()
        .load_balancer_name(&name)
        .send()
        .await
        .or_missing(&CODES, "DescribeLoadBalancerAttributes", &name)?;
    let attributes = out.map(|out| {
        out.load_balancer_attributes()
            .map(attributes_from_sdk)
            .unwrap_or_default()
    });
    Ok((name, attributes))
}

fn attributes_from_sdk(a: &LoadBalancerAttributes) -> AttributesState {
    AttributesState {
        access_log: a.access_log().map(|l| AccessLogState {
            enabled: l.enabled(),
            s3_bucket_name: l.s3_bucket_name().map(String::from),
            s3_bucket_prefix: l.s3_bucket_prefix().map(String::from),
            emit_interval: l.emit_interval(),
        }),
        cross_zone_load_balancing: a.cross_zone_load_balancing().map(|c| c.enabled()),
        connection_draining: a.connection_draining().map(|c| DrainingState {
            enabled: c.enabled(),
            timeout: c.timeout(),
        }),
        idle_timeout: a.connection_settings().map(|c| c.idle_timeout()),
    }
}

fn live_from_sdk(d: &LoadBalancerDescription) -> Option<(String, LiveLoadBalancer)> {
    let name = d.load_balancer_name()?.to_string();
    let listeners = d
        .listener_descriptions()
        .iter()
        .filter_map(|ld| ld.listener())
        .map(|l| {
            let elb_protocol = l.protocol().to_ascii_uppercase();
            let instance_protocol = l
                .instance_protocol()
                .map_or_else(|| elb_protocol.clone(), str::to_ascii_uppercase);
            let listener = ListenerState {
                elb_port: l.load_balancer_port(),
                instance_port: l.instance_port(),
                elb_protocol,
                instance_protocol,
                certificate: l.ssl_certificate_id().map(String::from),
            };
            (listener.elb_port, listener)
        })
        .collect();
    let live = LiveLoadBalancer {
        dns_name: d.dns_name().map(String::from),
        hosted_zone_id: d.canonical_hosted_zone_name_id().map(String::from),
        scheme: d.scheme().map(String::from),
        vpc_id: d.vpc_id().map(String::from),
        availability_zones: d.availability_zones().iter().cloned().collect(),
        subnets: d.subnets().iter().cloned().collect(),
        named_subnets: None,
        security_groups: d.security_groups().to_vec(),
        listeners,
        health_check: d.health_check().map(|h| HealthCheckState {
            target: h.target().to_string(),
            interval: h.interval(),
            timeout: h.timeout(),
            healthy_threshold: h.healthy_threshold(),
            unhealthy_threshold: h.unhealthy_threshold(),
        }),
        attributes: None,
        tags: Tags::new(),
    };
    Some((name, live))
}
