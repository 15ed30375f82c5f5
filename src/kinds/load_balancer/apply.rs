//! Changing ELB: one call per change, and the delete of a load balancer no longer desired.

use aws_sdk_elasticloadbalancing::error::BuildError;
use aws_sdk_elasticloadbalancing::types::{
    AccessLog, ConnectionDraining, ConnectionSettings, CrossZoneLoadBalancing, HealthCheck,
    Listener, LoadBalancerAttributes, Tag, TagKeyOnly,
};
use aws_sdk_elasticloadbalancing::Client;

use super::diff::{AttributesState, ListenerState, LoadBalancerChange as C};
use super::{LoadBalancer, CODES};
use crate::core::{KindError, Schema};
use crate::kinds::common::errors::{unbuildable, Sent};
use crate::kinds::common::names::{self, Named};

/// Applies one change.
pub async fn apply(
    client: &Client,
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    change: &C,
) -> Result<(), KindError> {
    match change {
        C::Create {
            scheme,
            availability_zones,
            subnets,
            subnet_names,
            security_groups,
            listeners,
            tags,
        } => {
            let named;
            let subnets = if subnet_names.is_empty() {
                subnets
            } else {
                named = names::resolve_all(ec2, Named::Subnet, subnet_names).await?;
                &named
            };
            let op = "CreateLoadBalancer";
            let listeners = sdk_listeners(listeners, op, name)?;
            let tags = sdk_tags(tags, op, name)?;
            let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
            // A load balancer that exists already (a create whose answer was lost) fails with
            // DuplicateLoadBalancerName, classed retryable: the next sweep reads it and diffs
            // it (adopting or reporting a conflict) instead of assuming it ours.
            client
                .create_load_balancer()
                .load_balancer_name(name)
                .set_listeners(Some(listeners))
                .set_availability_zones(nonempty(availability_zones))
                .set_subnets(nonempty(subnets))
                .set_security_groups(nonempty(security_groups))
                .set_scheme(scheme.clone())
                .set_tags(Some(tags))
                .send()
                .await
                .or_fail(&CODES, op, name)?;
        }
        C::Replace(r) => return Err(r.refused(LoadBalancer::NAME, name)),
        C::Tag(m) => {
            let op = "AddTags";
            let tags = sdk_tags(m.iter().map(|(k, (_, v))| (k, v)), op, name)?;
            client
                .add_tags()
                .load_balancer_names(name)
                .set_tags(Some(tags))
                .send()
                .await
                .or_fail(&CODES, op, name)?;
        }
        C::Untag(m) => {
            let keys = m.keys().map(|k| TagKeyOnly::builder().key(k).build());
            client
                .remove_tags()
                .load_balancer_names(name)
                .set_tags(Some(keys.collect()))
                .send()
                .await
                .or_fail(&CODES, "RemoveTags", name)?;
        }
        C::SetSecurityGroups { desired, .. } => {
            client
                .apply_security_groups_to_load_balancer()
                .load_balancer_name(name)
                .set_security_groups(Some(desired.clone()))
                .send()
                .await
                .or_fail(&CODES, "ApplySecurityGroupsToLoadBalancer", name)?;
        }
        C::EnableZones(z) => {
            client
                .enable_availability_zones_for_load_balancer()
                .load_balancer_name(name)
                .set_availability_zones(Some(z.clone()))
                .send()
                .await
                .or_fail(&CODES, "EnableAvailabilityZonesForLoadBalancer", name)?;
        }
        C::DisableZones(z) => {
            client
                .disable_availability_zones_for_load_balancer()
                .load_balancer_name(name)
                .set_availability_zones(Some(z.clone()))
                .send()
                .await
                .or_fail(&CODES, "DisableAvailabilityZonesForLoadBalancer", name)?;
        }
        C::AttachSubnets(s) => {
            client
                .attach_load_balancer_to_subnets()
                .load_balancer_name(name)
                .set_subnets(Some(s.clone()))
                .send()
                .await
                .or_fail(&CODES, "AttachLoadBalancerToSubnets", name)?;
        }
        C::DetachSubnets(s) => {
            client
                .detach_load_balancer_from_subnets()
                .load_balancer_name(name)
                .set_subnets(Some(s.clone()))
                .send()
                .await
                .or_fail(&CODES, "DetachLoadBalancerFromSubnets", name)?;
        }
        C::DeleteListeners(ls) => {
            client
                .delete_load_balancer_listeners()
                .load_balancer_name(name)
                .set_load_balancer_ports(Some(ls.iter().map(|l| l.elb_port).collect()))
                .send()
                .await
                .or_fail(&CODES, "DeleteLoadBalancerListeners", name)?;
        }
        C::CreateListeners(ls) => {
            let op = "CreateLoadBalancerListeners";
            client
                .create_load_balancer_listeners()
                .load_balancer_name(name)
                .set_listeners(Some(sdk_listeners(ls, op, name)?))
                .send()
                .await
                .or_fail(&CODES, op, name)?;
        }
        C::ConfigureHealthCheck { desired: h, .. } => {
            let op = "ConfigureHealthCheck";
            let check = HealthCheck::builder()
                .target(&h.target)
                .interval(h.interval)
                .timeout(h.timeout)
                .healthy_threshold(h.healthy_threshold)
                .unhealthy_threshold(h.unhealthy_threshold)
                .build()
                .map_err(|e| unbuildable(op, name, e))?;
            client
                .configure_health_check()
                .load_balancer_name(name)
                .health_check(check)
                .send()
                .await
                .or_fail(&CODES, op, name)?;
        }
        C::SetAttributes { send, .. } => {
            let op = "ModifyLoadBalancerAttributes";
            let attributes = sdk_attributes(send).map_err(|e| unbuildable(op, name, e))?;
            client
                .modify_load_balancer_attributes()
                .load_balancer_name(name)
                .load_balancer_attributes(attributes)
                .send()
                .await
                .or_fail(&CODES, op, name)?;
        }
    }
    Ok(())
}

/// Deletes a load balancer; one that is already gone counts as deleted.
pub async fn delete(client: &Client, name: &str) -> Result<(), KindError> {
    client
        .delete_load_balancer()
        .load_balancer_name(name)
        .send()
        .await
        .gone_ok(&CODES, "DeleteLoadBalancer", name)
}

fn sdk_listeners(ls: &[ListenerState], op: &str, name: &str) -> Result<Vec<Listener>, KindError> {
    ls.iter()
        .map(|l| {
            Listener::builder()
                .protocol(&l.elb_protocol)
                .load_balancer_port(l.elb_port)
                .instance_protocol(&l.instance_protocol)
                .instance_port(l.instance_port)
                .set_ssl_certificate_id(l.certificate.clone())
                .build()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| unbuildable(op, name, e))
}

fn sdk_tags<'a>(
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    op: &str,
    name: &str,
) -> Result<Vec<Tag>, KindError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| unbuildable(op, name, e))
}

fn sdk_attributes(a: &AttributesState) -> Result<LoadBalancerAttributes, BuildError> {
    let mut b = LoadBalancerAttributes::builder();
    if let Some(l) = &a.access_log {
        b = b.access_log(
            AccessLog::builder()
                .enabled(l.enabled)
                .set_s3_bucket_name(l.s3_bucket_name.clone())
                .set_s3_bucket_prefix(l.s3_bucket_prefix.clone())
                .set_emit_interval(l.emit_interval)
                .build(),
        );
    }
    if let Some(c) = a.cross_zone_load_balancing {
        b = b.cross_zone_load_balancing(CrossZoneLoadBalancing::builder().enabled(c).build());
    }
    if let Some(d) = &a.connection_draining {
        b = b.connection_draining(
            ConnectionDraining::builder()
                .enabled(d.enabled)
                .set_timeout(d.timeout)
                .build(),
        );
    }
    if let Some(t) = a.idle_timeout {
        b = b.connection_settings(ConnectionSettings::builder().idle_timeout(t).build()?);
    }
    Ok(b.build())
}
