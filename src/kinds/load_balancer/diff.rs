//! A load balancer as observed, the changes to one, and the pure diff between the two.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::spec::{normalise_target, AttributesSpec, HealthCheckSpec, LoadBalancerSpec};
use crate::core::{Action, Change, FieldChange, Replacement};
use crate::engine::{DiffCtx, Waiting};
use crate::kinds::common::delta::{added_fields, removed_fields, Delta};
use crate::kinds::common::refs;
use crate::kinds::common::scalar::{CommaList, Num};
use crate::kinds::common::tags::{self, Tags, ToSet};
use LoadBalancerChange as C;

const DEFAULT_SCHEME: &str = "internet-facing";

/// A listener, normalised (protocols upper case, instance protocol filled in).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListenerState {
    pub elb_port: i32,
    pub instance_port: i32,
    pub elb_protocol: String,
    pub instance_protocol: String,
    pub certificate: Option<String>,
}

impl fmt::Display for ListenerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} to {}:{}",
            self.elb_protocol, self.elb_port, self.instance_protocol, self.instance_port
        )?;
        if let Some(c) = &self.certificate {
            write!(f, " [{c}]")?;
        }
        Ok(())
    }
}

impl ListenerState {
    /// Its plan field: `listeners.<elb_port>`.
    fn field(&self) -> String {
        format!("listeners.{}", self.elb_port)
    }
}

/// A health check, complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckState {
    pub target: String,
    pub interval: i32,
    pub timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
}

impl HealthCheckState {
    /// `(field, value)` pairs, for plans.
    fn pairs(&self) -> [(&'static str, String); 5] {
        [
            ("target", self.target.clone()),
            ("interval", self.interval.to_string()),
            ("timeout", self.timeout.to_string()),
            ("healthy_threshold", self.healthy_threshold.to_string()),
            ("unhealthy_threshold", self.unhealthy_threshold.to_string()),
        ]
    }
}

/// AWS's health check for a load balancer created without one: `TCP:80`, interval 30 s,
/// timeout 5 s, healthy threshold 10, unhealthy threshold 2.
pub fn aws_default_health_check() -> HealthCheckState {
    HealthCheckState {
        target: "TCP:80".to_string(),
        interval: 30,
        timeout: 5,
        healthy_threshold: 10,
        unhealthy_threshold: 2,
    }
}

/// An access log attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLogState {
    pub enabled: bool,
    pub s3_bucket_name: Option<String>,
    pub s3_bucket_prefix: Option<String>,
    pub emit_interval: Option<i32>,
}

/// A connection draining attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainingState {
    pub enabled: bool,
    pub timeout: Option<i32>,
}

/// Load balancer attributes (as read, or the blocks to write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributesState {
    pub access_log: Option<AccessLogState>,
    pub cross_zone_load_balancing: Option<bool>,
    pub connection_draining: Option<DrainingState>,
    pub idle_timeout: Option<i32>,
}

/// A load balancer as observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveLoadBalancer {
    pub dns_name: Option<String>,
    pub hosted_zone_id: Option<String>,
    pub scheme: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zones: BTreeSet<String>,
    pub subnets: BTreeSet<String>,
    /// When the desired spec names its subnets (`subnet_names`): their ids, when each name
    /// resolved to exactly one subnet this sweep (else `None`: subnets are left alone).
    pub named_subnets: Option<BTreeSet<String>>,
    pub security_groups: Vec<String>,
    /// elb_port → listener
    pub listeners: BTreeMap<i32, ListenerState>,
    pub health_check: Option<HealthCheckState>,
    /// Read only for desired load balancers.
    pub attributes: Option<AttributesState>,
    /// Read only for desired load balancers (all of them with `--prune`).
    pub tags: Tags,
}

/// `(field, live, desired)` of one attribute that differs.
pub type AttributeDiff = (String, Option<String>, String);

/// One load balancer mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadBalancerChange {
    Create {
        scheme: Option<String>,
        availability_zones: Vec<String>,
        subnets: Vec<String>,
        /// Subnets by `Name` tag, resolved when the load balancer is created.
        subnet_names: Vec<String>,
        /// Resolved ids; empty when `security_groups` is not written.
        security_groups: Vec<String>,
        listeners: Vec<ListenerState>,
        tags: Tags,
    },
    /// An immutable field (`scheme`) differs.
    Replace(Replacement),
    /// tag → (live, desired)
    Tag(ToSet),
    /// tag → live value
    Untag(Tags),
    /// The whole set of security group ids.
    SetSecurityGroups {
        live: Vec<String>,
        desired: Vec<String>,
    },
    EnableZones(Vec<String>),
    DisableZones(Vec<String>),
    AttachSubnets(Vec<String>),
    DetachSubnets(Vec<String>),
    /// The live listeners to delete (changed or no longer desired).
    DeleteListeners(Vec<ListenerState>),
    /// Listeners to create (new, or changed and deleted just before).
    CreateListeners(Vec<ListenerState>),
    ConfigureHealthCheck {
        live: Option<HealthCheckState>,
        desired: HealthCheckState,
    },
    SetAttributes {
        /// Each field that differs.
        fields: Vec<AttributeDiff>,
        /// The blocks to send (desired fields over live ones).
        send: AttributesState,
    },
}

/// A list in a plan: `a, b`, or `[]`.
fn list(v: &[String]) -> String {
    match v {
        [] => "[]".to_string(),
        _ => v.join(", "),
    }
}

impl Change for LoadBalancerChange {
    fn action(&self) -> Action {
        match self {
            C::Create { .. } => Action::Create,
            C::Replace(_) => Action::Replace,
            C::Tag(_) | C::Untag(_) => Action::Tag,
            _ => Action::Update,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            C::Create {
                scheme,
                availability_zones,
                subnets,
                subnet_names,
                security_groups,
                listeners,
                tags,
            } => {
                let lists = [
                    ("availability_zones", availability_zones),
                    ("subnets", subnets),
                    ("subnet_names", subnet_names),
                    ("security_groups", security_groups),
                ];
                let lists = lists.into_iter().filter(|(_, v)| !v.is_empty());
                let new = |l: &ListenerState| FieldChange::added(l.field(), l.to_string());
                scheme
                    .iter()
                    .map(|s| FieldChange::added("scheme", s))
                    .chain(lists.map(|(field, v)| FieldChange::added(field, list(v))))
                    .chain(listeners.iter().map(new))
                    .chain(tags::new_fields(tags))
                    .collect()
            }
            C::Replace(r) => r.fields(),
            C::Tag(m) => tags::set_fields(m),
            C::Untag(m) => tags::remove_fields(m),
            C::SetSecurityGroups { live, desired } => vec![FieldChange::changed(
                "security_groups",
                Some(list(live)),
                list(desired),
            )],
            C::EnableZones(z) => added_fields("availability_zones", z, "enabled"),
            C::DisableZones(z) => removed_fields("availability_zones", z, "enabled"),
            C::AttachSubnets(s) => added_fields("subnets", s, "attached"),
            C::DetachSubnets(s) => removed_fields("subnets", s, "attached"),
            C::DeleteListeners(ls) => ls
                .iter()
                .map(|l| FieldChange::removed(l.field(), l.to_string()))
                .collect(),
            C::CreateListeners(ls) => ls
                .iter()
                .map(|l| FieldChange::added(l.field(), l.to_string()))
                .collect(),
            C::ConfigureHealthCheck { live, desired } => {
                let old = live.as_ref().map(HealthCheckState::pairs);
                desired
                    .pairs()
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, (field, new))| {
                        let was = old.as_ref().map(|o| o[i].1.clone());
                        (was.as_ref() != Some(&new)).then(|| {
                            FieldChange::changed(format!("health_check.{field}"), was, new)
                        })
                    })
                    .collect()
            }
            C::SetAttributes { fields, .. } => fields
                .iter()
                .map(|(f, old, new)| {
                    FieldChange::changed(format!("attributes.{f}"), old.clone(), new)
                })
                .collect(),
        }
    }
}

/// The desired listeners, by port.
pub fn desired_listeners(spec: &LoadBalancerSpec) -> BTreeMap<i32, ListenerState> {
    spec.listeners
        .iter()
        .map(|l| {
            let listener = ListenerState {
                elb_port: l.elb_port.int(),
                instance_port: l.instance_port.int(),
                elb_protocol: l.elb_protocol.to_ascii_uppercase(),
                instance_protocol: l.instance_protocol(),
                certificate: l.certificate.clone(),
            };
            (listener.elb_port, listener)
        })
        .collect()
}

/// The complete desired health check, AWS's defaults filling what is not written.
pub fn desired_health_check(h: &HealthCheckSpec) -> HealthCheckState {
    let d = aws_default_health_check();
    HealthCheckState {
        target: h.target.as_deref().map_or(d.target, normalise_target),
        interval: h.interval.map_or(d.interval, Num::int),
        timeout: h.timeout.map_or(d.timeout, Num::int),
        healthy_threshold: h.healthy_threshold.map_or(d.healthy_threshold, Num::int),
        unhealthy_threshold: h
            .unhealthy_threshold
            .map_or(d.unhealthy_threshold, Num::int),
    }
}

/// The security group ids the spec names (`None` when it names none), or what is awaited to
/// resolve a name.
fn resolve_groups(
    ctx: &DiffCtx<'_>,
    groups: Option<&CommaList>,
) -> Result<Option<Vec<String>>, Waiting> {
    let resolve = |g: &String| {
        if g.starts_with("sg-") {
            return Ok(g.clone());
        }
        // A name must become an id; whether or not the group is desired here, there is nothing
        // to send until it exists, so /status shows what is awaited.
        ctx.fact(refs::security_group::ID, g)
            .map(String::from)
            .ok_or_else(|| Waiting::on(refs::security_group::KIND, g))
    };
    groups
        .map(|g| g.0.iter().map(resolve).collect())
        .transpose()
}

impl AttributesState {
    /// The attributes a spec writes (the others `None`).
    fn written(w: &AttributesSpec) -> AttributesState {
        AttributesState {
            access_log: w.access_log.as_ref().map(|l| AccessLogState {
                enabled: l.enabled.0,
                s3_bucket_name: l.s3_bucket_name.clone(),
                s3_bucket_prefix: l.s3_bucket_prefix.clone(),
                emit_interval: l.emit_interval.map(Num::int),
            }),
            cross_zone_load_balancing: w.cross_zone_load_balancing.as_ref().map(|c| c.enabled.0),
            connection_draining: w.connection_draining.as_ref().map(|d| DrainingState {
                enabled: d.enabled.0,
                timeout: d.timeout.map(Num::int),
            }),
            idle_timeout: w.connecting_settings.as_ref().map(|c| c.idle_timeout.int()),
        }
    }

    /// Every field that is set, as `(plan field, text)`, in plan order.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let text = |v: Option<i32>| v.map(|v| v.to_string());
        let mut rows = Vec::new();
        if let Some(l) = &self.access_log {
            rows.extend([
                ("access_log.enabled", Some(l.enabled.to_string())),
                ("access_log.s3_bucket_name", l.s3_bucket_name.clone()),
                ("access_log.s3_bucket_prefix", l.s3_bucket_prefix.clone()),
                ("access_log.emit_interval", text(l.emit_interval)),
            ]);
        }
        if let Some(c) = self.cross_zone_load_balancing {
            rows.push(("cross_zone_load_balancing.enabled", Some(c.to_string())));
        }
        if let Some(d) = &self.connection_draining {
            rows.extend([
                ("connection_draining.enabled", Some(d.enabled.to_string())),
                ("connection_draining.timeout", text(d.timeout)),
            ]);
        }
        rows.push(("connecting_settings.idle_timeout", text(self.idle_timeout)));
        rows.into_iter()
            .filter_map(|(field, v)| Some((field, v?)))
            .collect()
    }
}

/// Compares the written attributes with the live ones, as text: the fields that differ, and
/// the blocks to send, which are those with a field that differs, the written fields over the
/// live ones (`ModifyLoadBalancerAttributes` takes whole blocks: unwritten fields keep their
/// value).
fn diff_attributes(
    want: &AttributesSpec,
    live: Option<&AttributesState>,
) -> (Vec<AttributeDiff>, AttributesState) {
    let have = live.cloned().unwrap_or_default();
    let written = AttributesState::written(want);
    let live_rows: BTreeMap<&str, String> = have.rows().into_iter().collect();
    // A disabled access log keeps no bucket, prefix or interval worth comparing.
    let log_off = written.access_log.as_ref().is_some_and(|l| !l.enabled);
    let compared =
        |f: &str| !(log_off && f.starts_with("access_log.") && f != "access_log.enabled");
    let fields: Vec<AttributeDiff> = written
        .rows()
        .into_iter()
        .filter(|(f, v)| compared(f) && live_rows.get(f) != Some(v))
        .map(|(f, v)| (f.to_string(), live_rows.get(f).cloned(), v))
        .collect();
    let differs = |block: &str| fields.iter().any(|(f, ..)| f.starts_with(block));

    let log = have.access_log.unwrap_or_default();
    let draining = have.connection_draining.unwrap_or_default();
    let send = AttributesState {
        access_log: written
            .access_log
            .filter(|_| differs("access_log."))
            .map(|w| AccessLogState {
                enabled: w.enabled,
                s3_bucket_name: w.s3_bucket_name.or(log.s3_bucket_name),
                s3_bucket_prefix: w.s3_bucket_prefix.or(log.s3_bucket_prefix),
                emit_interval: w.emit_interval.or(log.emit_interval),
            }),
        cross_zone_load_balancing: written
            .cross_zone_load_balancing
            .filter(|_| differs("cross_zone_load_balancing.")),
        connection_draining: written
            .connection_draining
            .filter(|_| differs("connection_draining."))
            .map(|w| DrainingState {
                enabled: w.enabled,
                timeout: w.timeout.or(draining.timeout),
            }),
        idle_timeout: written
            .idle_timeout
            .filter(|_| differs("connecting_settings.")),
    };
    (fields, send)
}

/// The changes that make `live` match `desired`, in the order to apply them: create (or, on
/// an existing load balancer, scheme, tags, security groups, zones or subnets, listeners),
/// then the health check and the attributes.
pub fn diff(
    ctx: &DiffCtx<'_>,
    desired: &LoadBalancerSpec,
    live: Option<&LiveLoadBalancer>,
) -> Result<Vec<LoadBalancerChange>, Waiting> {
    let groups = resolve_groups(ctx, desired.security_groups.as_ref())?;
    let listeners = desired_listeners(desired);
    let want_tags = tags::with_owner(&desired.tags, ctx.controller_id);
    let set = |v: &Option<Vec<String>>| BTreeSet::from_iter(v.iter().flatten().cloned());
    let (zones, subnets) = (set(&desired.availability_zones), set(&desired.subnets));

    let mut changes = Vec::new();
    match live {
        None => changes.push(C::Create {
            scheme: desired.scheme.clone(),
            availability_zones: zones.into_iter().collect(),
            subnets: subnets.into_iter().collect(),
            subnet_names: desired.subnet_names.clone().unwrap_or_default(),
            security_groups: groups.unwrap_or_default(),
            listeners: listeners.into_values().collect(),
            tags: want_tags,
        }),
        Some(live) => {
            let scheme = desired.scheme.as_deref().unwrap_or(DEFAULT_SCHEME);
            if let Some(have) = live.scheme.as_ref().filter(|have| *have != scheme) {
                changes.push(C::Replace(Replacement::new(
                    "scheme",
                    Some(have.clone()),
                    scheme,
                )));
            }

            changes.extend(tags::changes(&want_tags, &live.tags, C::Tag, C::Untag));

            // The set is compared, not the order.
            let set = |v: &[String]| BTreeSet::from_iter(v.iter().cloned());
            if let Some(want) = groups.filter(|w| set(w) != set(&live.security_groups)) {
                changes.push(C::SetSecurityGroups {
                    live: live.security_groups.clone(),
                    desired: want,
                });
            }

            // Additions first, so the load balancer is never left without a zone or subnet.
            if desired.availability_zones.is_some() {
                changes.extend(
                    Delta::between(&zones, &live.availability_zones).adding_first(
                        |z| C::EnableZones(Vec::from_iter(z)),
                        |z| C::DisableZones(Vec::from_iter(z)),
                    ),
                );
            }
            let subnets = match (&desired.subnet_names, &live.named_subnets) {
                (None, _) => desired.subnets.is_some().then_some(subnets),
                (Some(_), named) => named.clone(),
            };
            if let Some(subnets) = subnets {
                changes.extend(Delta::between(&subnets, &live.subnets).adding_first(
                    |s| C::AttachSubnets(Vec::from_iter(s)),
                    |s| C::DetachSubnets(Vec::from_iter(s)),
                ));
            }

            // A listener cannot be modified: one that differs in anything is deleted, then
            // created again.
            let want = BTreeSet::from_iter(listeners.into_values());
            let have = BTreeSet::from_iter(live.listeners.values().cloned());
            changes.extend(Delta::between(&want, &have).removing_first(
                |l| C::CreateListeners(Vec::from_iter(l)),
                |l| C::DeleteListeners(Vec::from_iter(l)),
            ));
        }
    }

    // On a new load balancer, the whole written check and every written attribute.
    let health = desired.health_check.as_ref().map(desired_health_check);
    let live_health = live.and_then(|l| l.health_check.as_ref());
    if let Some(h) = health.filter(|h| live_health != Some(h)) {
        changes.push(C::ConfigureHealthCheck {
            live: live_health.cloned(),
            desired: h,
        });
    }
    if let Some(a) = &desired.attributes {
        let (fields, send) = diff_attributes(a, live.and_then(|l| l.attributes.as_ref()));
        if !fields.is_empty() {
            changes.push(C::SetAttributes { fields, send });
        }
    }
    Ok(changes)
}
