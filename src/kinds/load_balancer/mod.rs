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
//! - Tags are authoritative: tags not in the spec are removed (AWS's own `aws:` tags excepted).
//!
//! Not supported (rejected as unknown fields): Salt's listener and backend `policies`,
//! `alarms`, `subnet_names` and registered `instance_ids`/`instance_names`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_elasticloadbalancing::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticloadbalancing::types::{
    AccessLog, ConnectionDraining, ConnectionSettings, CrossZoneLoadBalancing,
    HealthCheck as SdkHealthCheck, Listener as SdkListener, LoadBalancerAttributes,
    LoadBalancerDescription, Tag, TagKeyOnly,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::common::refs;
use crate::aws::{classify, Clients};
use crate::core::facts::Published;
use crate::core::schema::Derived;
use crate::core::{Action, Change, ErrorClass, FieldChange, KindError, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// ELB codes that retrying will not fix.
const TERMINAL: &[&str] = &[
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
];
/// The load balancer vanished between the listing and the read (or before a delete).
const NOT_FOUND: &[&str] = &["LoadBalancerNotFound"];

/// A tag set.
type Tags = BTreeMap<String, String>;

/// `DescribeTags` takes at most this many names.
const TAG_BATCH: usize = 20;
/// Tags a classic load balancer may carry, ours included.
const MAX_TAGS: usize = 50;

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
const DEFAULT_SCHEME: &str = "internet-facing";
const DEFAULT_CNAME_TTL: i64 = 300;

/// The `spec` of a `kind: LoadBalancer`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// Availability zones (exactly one of this and `subnets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<String>>,
    /// Subnet ids (exactly one of this and `availability_zones`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
    /// Security group names or `sg-` ids (a list, or a comma-separated string as Salt allows).
    /// Managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<GroupList>,
    /// `internet-facing` (the default) or `internal`; fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Every listener, keyed by `elb_port`.
    #[serde(default)]
    pub listeners: Vec<ListenerSpec>,
    /// The health check; omitted fields take AWS's defaults. Not managed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    /// Load balancer attributes; only those written are managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesSpec>,
    /// DNS names that become `DnsRecord` CNAMEs pointing at this load balancer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cnames: Vec<CnameSpec>,
    /// The load balancer's complete tag set (plus `converge:managed-by`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One listener, as Salt's `boto_elb` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    pub elb_port: Num,
    pub instance_port: Num,
    /// `HTTP`, `HTTPS`, `TCP` or `SSL` (any case).
    pub elb_protocol: String,
    /// Defaults to `elb_protocol` (as Salt does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_protocol: Option<String>,
    /// Server certificate ARN; required for `HTTPS` and `SSL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The health check as written; omitted fields take AWS's defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// `TCP:port`, `SSL:port`, `HTTP:port/path` or `HTTPS:port/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<Num>,
}

/// Load balancer attributes, in Salt's spelling.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_zone_load_balancing: Option<EnabledSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_draining: Option<ConnectionDrainingSpec>,
    /// Salt's name for AWS's `ConnectionSettings` (`connection_settings` is accepted too).
    #[serde(
        default,
        alias = "connection_settings",
        skip_serializing_if = "Option::is_none"
    )]
    pub connecting_settings: Option<ConnectionSettingsSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogSpec {
    pub enabled: Flag,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_bucket_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_bucket_prefix: Option<String>,
    /// Minutes: 5 or 60 (a number or a string, as the seed writes `'5'`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_interval: Option<Num>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnabledSpec {
    pub enabled: Flag,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDrainingSpec {
    pub enabled: Flag,
    /// Seconds, 1 to 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Num>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettingsSpec {
    /// Seconds, 1 to 4000.
    pub idle_timeout: Num,
}

/// A CNAME to create for the load balancer (Salt's `cnames` entries).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnameSpec {
    /// The record's DNS name (a trailing dot is added if missing).
    pub name: String,
    /// The hosted zone; when omitted the `DnsRecord` picks the longest matching one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Seconds; 300 when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Num>,
}

/// A whole number written as a number or as a string (`5` or `'5'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub i64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number (or a string holding one)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                i64::try_from(v)
                    .map(Num)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Num(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not a whole number")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                v.trim()
                    .parse::<i64>()
                    .map(Num)
                    .map_err(|_| E::custom(format!("`{v}` is not a whole number")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A boolean written as `true`/`false` or as the strings `'true'`/`'false'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(self.0)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(Flag(true)),
                    "false" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("`{v}` is not true or false"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Security groups: a list, or one comma-separated string (as Salt's `boto_elb` accepts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupList(pub Vec<String>);

impl Serialize for GroupList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for GroupList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            de::Error::custom("expected a list of security groups or a comma-separated string")
        })? {
            Raw::List(v) => Ok(GroupList(v)),
            Raw::Text(s) => Ok(GroupList(
                s.split(',')
                    .map(|g| g.trim().to_string())
                    .filter(|g| !g.is_empty())
                    .collect(),
            )),
        }
    }
}

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
    pub security_groups: Vec<String>,
    /// elb_port → listener
    pub listeners: BTreeMap<i32, ListenerState>,
    pub health_check: Option<HealthCheckState>,
    /// Read only for desired load balancers.
    pub attributes: Option<AttributesState>,
    /// Read only for desired load balancers (all of them with `--prune`).
    pub tags: BTreeMap<String, String>,
}

/// One load balancer mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadBalancerChange {
    Create {
        scheme: Option<String>,
        availability_zones: Vec<String>,
        subnets: Vec<String>,
        /// Resolved ids; empty when `security_groups` is not written.
        security_groups: Vec<String>,
        listeners: Vec<ListenerState>,
        tags: BTreeMap<String, String>,
    },
    /// An immutable field differs.
    Replace {
        field: String,
        live: Option<String>,
        desired: String,
    },
    /// tag → (live, desired)
    Tag(BTreeMap<String, (Option<String>, String)>),
    /// tag → live value
    Untag(BTreeMap<String, String>),
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
        /// `(field, live, desired)` for each field that differs.
        fields: Vec<(String, Option<String>, String)>,
        /// The blocks to send (desired fields over live ones).
        send: AttributesState,
    },
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "[]".to_string()
    } else {
        v.join(", ")
    }
}

impl Change for LoadBalancerChange {
    fn action(&self) -> Action {
        match self {
            LoadBalancerChange::Create { .. } => Action::Create,
            LoadBalancerChange::Replace { .. } => Action::Replace,
            LoadBalancerChange::Tag(_) | LoadBalancerChange::Untag(_) => Action::Tag,
            _ => Action::Update,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            LoadBalancerChange::Create {
                scheme,
                availability_zones,
                subnets,
                security_groups,
                listeners,
                tags,
            } => {
                let mut out = Vec::new();
                if let Some(s) = scheme {
                    out.push(FieldChange::new("scheme", None, Some(s.clone())));
                }
                if !availability_zones.is_empty() {
                    out.push(FieldChange::new(
                        "availability_zones",
                        None,
                        Some(list(availability_zones)),
                    ));
                }
                if !subnets.is_empty() {
                    out.push(FieldChange::new("subnets", None, Some(list(subnets))));
                }
                if !security_groups.is_empty() {
                    out.push(FieldChange::new(
                        "security_groups",
                        None,
                        Some(list(security_groups)),
                    ));
                }
                out.extend(listeners.iter().map(|l| {
                    FieldChange::new(
                        format!("listeners.{}", l.elb_port),
                        None,
                        Some(l.to_string()),
                    )
                }));
                out.extend(
                    tags.iter()
                        .map(|(k, v)| FieldChange::new(format!("tags.{k}"), None, Some(v.clone()))),
                );
                out
            }
            LoadBalancerChange::Replace {
                field,
                live,
                desired,
            } => vec![FieldChange::new(
                format!("{field} (immutable)"),
                live.clone(),
                Some(desired.clone()),
            )],
            LoadBalancerChange::Tag(m) => super::common::tags::set_fields(m),
            LoadBalancerChange::Untag(m) => super::common::tags::remove_fields(m),
            LoadBalancerChange::SetSecurityGroups { live, desired } => vec![FieldChange::new(
                "security_groups",
                Some(list(live)),
                Some(list(desired)),
            )],
            LoadBalancerChange::EnableZones(z) => z
                .iter()
                .map(|z| {
                    FieldChange::new(
                        format!("availability_zones.{z}"),
                        None,
                        Some("enabled".into()),
                    )
                })
                .collect(),
            LoadBalancerChange::DisableZones(z) => z
                .iter()
                .map(|z| {
                    FieldChange::new(
                        format!("availability_zones.{z}"),
                        Some("enabled".into()),
                        None,
                    )
                })
                .collect(),
            LoadBalancerChange::AttachSubnets(s) => s
                .iter()
                .map(|s| FieldChange::new(format!("subnets.{s}"), None, Some("attached".into())))
                .collect(),
            LoadBalancerChange::DetachSubnets(s) => s
                .iter()
                .map(|s| FieldChange::new(format!("subnets.{s}"), Some("attached".into()), None))
                .collect(),
            LoadBalancerChange::DeleteListeners(ls) => ls
                .iter()
                .map(|l| {
                    FieldChange::new(
                        format!("listeners.{}", l.elb_port),
                        Some(l.to_string()),
                        None,
                    )
                })
                .collect(),
            LoadBalancerChange::CreateListeners(ls) => ls
                .iter()
                .map(|l| {
                    FieldChange::new(
                        format!("listeners.{}", l.elb_port),
                        None,
                        Some(l.to_string()),
                    )
                })
                .collect(),
            LoadBalancerChange::ConfigureHealthCheck { live, desired } => {
                let old = live.as_ref().map(HealthCheckState::pairs);
                desired
                    .pairs()
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, (field, new))| {
                        let was = old.as_ref().map(|o| o[i].1.clone());
                        (was.as_ref() != Some(&new)).then(|| {
                            FieldChange::new(format!("health_check.{field}"), was, Some(new))
                        })
                    })
                    .collect()
            }
            LoadBalancerChange::SetAttributes { fields, .. } => fields
                .iter()
                .map(|(f, old, new)| {
                    FieldChange::new(format!("attributes.{f}"), old.clone(), Some(new.clone()))
                })
                .collect(),
        }
    }
}

/// The classic load balancer kind.
pub struct LoadBalancer {
    client: aws_sdk_elasticloadbalancing::Client,
}

impl LoadBalancer {
    pub fn new(clients: &Clients) -> Self {
        LoadBalancer {
            client: clients.elb.clone(),
        }
    }

    /// Tags of up to 20 load balancers, by name; `None` for one that vanished since the
    /// listing. Such a name makes AWS fail the whole batch, which is then read name by name.
    async fn read_tags(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<(String, Option<Tags>)>, KindError> {
        if let Some(mut tags) = self.describe_tags(&names).await? {
            // A load balancer without tags is listed with none; if AWS ever left it out, it
            // still has no tags (it is not gone: that would have failed the call).
            return Ok(names
                .into_iter()
                .map(|n| {
                    let t = tags.remove(&n).unwrap_or_default();
                    (n, Some(t))
                })
                .collect());
        }
        let mut out = Vec::new();
        for name in names {
            let tags = self
                .describe_tags(std::slice::from_ref(&name))
                .await?
                .map(|mut t| t.remove(&name).unwrap_or_default());
            out.push((name, tags));
        }
        Ok(out)
    }

    /// One `DescribeTags`; `None` when one of the names does not exist.
    async fn describe_tags(
        &self,
        names: &[String],
    ) -> Result<Option<BTreeMap<String, Tags>>, KindError> {
        let out = match self
            .client
            .describe_tags()
            .set_load_balancer_names(Some(names.to_vec()))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify("DescribeTags", &names.join(","), &e, TERMINAL)),
        };
        Ok(Some(
            out.tag_descriptions()
                .iter()
                .filter_map(|d| {
                    let name = d.load_balancer_name()?.to_string();
                    let tags = d
                        .tags()
                        .iter()
                        .map(|t| {
                            (
                                t.key().to_string(),
                                t.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    Some((name, tags))
                })
                .collect(),
        ))
    }

    /// Attributes of one load balancer; `None` if it vanished since the listing.
    async fn read_attributes(&self, name: &str) -> Result<Option<AttributesState>, KindError> {
        match self
            .client
            .describe_load_balancer_attributes()
            .load_balancer_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.load_balancer_attributes()
                    .map(attributes_from_sdk)
                    .unwrap_or_default(),
            )),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(classify(
                "DescribeLoadBalancerAttributes",
                name,
                &e,
                TERMINAL,
            )),
        }
    }
}

fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| NOT_FOUND.contains(&c))
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
                .map(str::to_ascii_uppercase)
                .unwrap_or_else(|| elb_protocol.clone());
            (
                l.load_balancer_port(),
                ListenerState {
                    elb_port: l.load_balancer_port(),
                    instance_port: l.instance_port(),
                    elb_protocol,
                    instance_protocol,
                    certificate: l.ssl_certificate_id().map(String::from),
                },
            )
        })
        .collect();
    let live = LiveLoadBalancer {
        dns_name: d.dns_name().map(String::from),
        hosted_zone_id: d.canonical_hosted_zone_name_id().map(String::from),
        scheme: d.scheme().map(String::from),
        vpc_id: d.vpc_id().map(String::from),
        availability_zones: d.availability_zones().iter().cloned().collect(),
        subnets: d.subnets().iter().cloned().collect(),
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
        tags: BTreeMap::new(),
    };
    Some((name, live))
}

/// A port or count as AWS takes it (validation keeps it in range).
fn int(n: Num) -> i32 {
    i32::try_from(n.0).unwrap_or(i32::MAX)
}

/// The instance protocol a listener uses when `instance_protocol` is not written.
fn instance_protocol(l: &ListenerSpec) -> String {
    l.instance_protocol
        .as_deref()
        .unwrap_or(&l.elb_protocol)
        .to_ascii_uppercase()
}

/// The desired listeners, by port.
fn desired_listeners(spec: &LoadBalancerSpec) -> BTreeMap<i32, ListenerState> {
    spec.listeners
        .iter()
        .map(|l| {
            (
                int(l.elb_port),
                ListenerState {
                    elb_port: int(l.elb_port),
                    instance_port: int(l.instance_port),
                    elb_protocol: l.elb_protocol.to_ascii_uppercase(),
                    instance_protocol: instance_protocol(l),
                    certificate: l.certificate.clone(),
                },
            )
        })
        .collect()
}

/// The protocol part of a health check target in upper case (`http:80/` → `HTTP:80/`).
fn normalise_target(t: &str) -> String {
    match t.split_once(':') {
        Some((proto, rest)) => format!("{}:{rest}", proto.to_ascii_uppercase()),
        None => t.to_string(),
    }
}

/// The complete desired health check, AWS's defaults filling what is not written.
pub fn desired_health_check(h: &HealthCheckSpec) -> HealthCheckState {
    let d = aws_default_health_check();
    HealthCheckState {
        target: h.target.as_deref().map_or(d.target, normalise_target),
        interval: h.interval.map_or(d.interval, int),
        timeout: h.timeout.map_or(d.timeout, int),
        healthy_threshold: h.healthy_threshold.map_or(d.healthy_threshold, int),
        unhealthy_threshold: h.unhealthy_threshold.map_or(d.unhealthy_threshold, int),
    }
}

/// The security group ids the spec names, or what is awaited to resolve a name.
fn resolve_groups(ctx: &DiffCtx<'_>, groups: &GroupList) -> Result<Vec<String>, Waiting> {
    groups
        .0
        .iter()
        .map(|g| {
            if g.starts_with("sg-") {
                Ok(g.clone())
            } else {
                // A name must become an id; whether or not the group is desired here, there
                // is nothing to send until it exists, so /status shows what is awaited.
                ctx.fact(refs::security_group::ID, g)
                    .map(String::from)
                    .ok_or_else(|| Waiting {
                        waiting_for: format!("{}/{g}", refs::security_group::KIND),
                    })
            }
        })
        .collect()
}

fn desired_tags(ctx: &DiffCtx<'_>, spec: &LoadBalancerSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), ctx.controller_id.to_string());
    tags
}

fn opt<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

/// Compares the written attributes with the live ones: the fields that differ, and the blocks
/// to send (the written fields over the live block, so unwritten fields keep their value).
fn diff_attributes(
    want: &AttributesSpec,
    live: Option<&AttributesState>,
) -> (Vec<(String, Option<String>, String)>, AttributesState) {
    let mut fields = Vec::new();
    let mut send = AttributesState::default();
    let have = live.cloned().unwrap_or_default();

    if let Some(w) = &want.access_log {
        let h = have.access_log.clone();
        let mut diffs = Vec::new();
        let hv = h.clone().unwrap_or_default();
        if h.as_ref().map(|h| h.enabled) != Some(w.enabled.0) {
            diffs.push((
                "access_log.enabled".to_string(),
                opt(h.as_ref().map(|h| h.enabled)),
                w.enabled.0.to_string(),
            ));
        }
        // A disabled access log keeps no bucket, prefix or interval worth comparing.
        if w.enabled.0 {
            let texts: [(&str, Option<String>, Option<String>); 3] = [
                (
                    "s3_bucket_name",
                    hv.s3_bucket_name.clone(),
                    w.s3_bucket_name.clone(),
                ),
                (
                    "s3_bucket_prefix",
                    hv.s3_bucket_prefix.clone(),
                    w.s3_bucket_prefix.clone(),
                ),
                (
                    "emit_interval",
                    opt(hv.emit_interval),
                    opt(w.emit_interval.map(|n| n.0)),
                ),
            ];
            for (f, live_v, want_v) in texts {
                if let Some(want_v) = want_v {
                    if live_v.as_ref() != Some(&want_v) {
                        diffs.push((format!("access_log.{f}"), live_v, want_v));
                    }
                }
            }
        }
        if !diffs.is_empty() {
            fields.extend(diffs);
            send.access_log = Some(AccessLogState {
                enabled: w.enabled.0,
                s3_bucket_name: w.s3_bucket_name.clone().or(hv.s3_bucket_name),
                s3_bucket_prefix: w.s3_bucket_prefix.clone().or(hv.s3_bucket_prefix),
                emit_interval: w.emit_interval.map(int).or(hv.emit_interval),
            });
        }
    }

    if let Some(w) = &want.cross_zone_load_balancing {
        if have.cross_zone_load_balancing != Some(w.enabled.0) {
            fields.push((
                "cross_zone_load_balancing.enabled".to_string(),
                opt(have.cross_zone_load_balancing),
                w.enabled.0.to_string(),
            ));
            send.cross_zone_load_balancing = Some(w.enabled.0);
        }
    }

    if let Some(w) = &want.connection_draining {
        let h = have.connection_draining.clone();
        let mut diffs = Vec::new();
        if h.as_ref().map(|h| h.enabled) != Some(w.enabled.0) {
            diffs.push((
                "connection_draining.enabled".to_string(),
                opt(h.as_ref().map(|h| h.enabled)),
                w.enabled.0.to_string(),
            ));
        }
        let live_timeout = h.as_ref().and_then(|h| h.timeout);
        if let Some(t) = w.timeout {
            if live_timeout != Some(int(t)) {
                diffs.push((
                    "connection_draining.timeout".to_string(),
                    opt(live_timeout),
                    t.0.to_string(),
                ));
            }
        }
        if !diffs.is_empty() {
            fields.extend(diffs);
            send.connection_draining = Some(DrainingState {
                enabled: w.enabled.0,
                timeout: w.timeout.map(int).or(live_timeout),
            });
        }
    }

    if let Some(w) = &want.connecting_settings {
        if have.idle_timeout != Some(int(w.idle_timeout)) {
            fields.push((
                "connecting_settings.idle_timeout".to_string(),
                opt(have.idle_timeout),
                w.idle_timeout.0.to_string(),
            ));
            send.idle_timeout = Some(int(w.idle_timeout));
        }
    }
    (fields, send)
}

fn attributes_to_sdk(a: &AttributesState) -> Result<LoadBalancerAttributes, String> {
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
        b = b.connection_settings(
            ConnectionSettings::builder()
                .idle_timeout(t)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(b.build())
}

fn listener_to_sdk(l: &ListenerState) -> Result<SdkListener, String> {
    SdkListener::builder()
        .protocol(&l.elb_protocol)
        .load_balancer_port(l.elb_port)
        .instance_protocol(&l.instance_protocol)
        .instance_port(l.instance_port)
        .set_ssl_certificate_id(l.certificate.clone())
        .build()
        .map_err(|e| e.to_string())
}

fn tag_to_sdk(k: &str, v: &str) -> Result<Tag, String> {
    Tag::builder()
        .key(k)
        .value(v)
        .build()
        .map_err(|e| e.to_string())
}

fn unbuildable(op: &str, name: &str, e: String) -> KindError {
    KindError::new(
        ErrorClass::Terminal,
        format!("{op} {name}: request could not be built: {e}"),
    )
}

/// The DNS name with its trailing dot.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn in_range(problems: &mut Vec<String>, field: &str, n: Option<Num>, lo: i64, hi: i64) {
    if let Some(n) = n {
        if !(lo..=hi).contains(&n.0) {
            problems.push(format!("{field}: {} must be from {lo} to {hi}", n.0));
        }
    }
}

const PROTOCOLS: &[&str] = &["HTTP", "HTTPS", "TCP", "SSL"];

/// HTTP and HTTPS are one layer, TCP and SSL the other.
fn layer(protocol: &str) -> u8 {
    match protocol {
        "HTTP" | "HTTPS" => 7,
        _ => 4,
    }
}

fn validate_listeners(spec: &LoadBalancerSpec, problems: &mut Vec<String>) {
    if spec.listeners.is_empty() {
        problems.push("listeners: a load balancer needs at least one listener".to_string());
    }
    let mut ports = BTreeSet::new();
    for (i, l) in spec.listeners.iter().enumerate() {
        let at = format!("listeners[{i}]");
        in_range(
            problems,
            &format!("{at}.elb_port"),
            Some(l.elb_port),
            1,
            65535,
        );
        in_range(
            problems,
            &format!("{at}.instance_port"),
            Some(l.instance_port),
            1,
            65535,
        );
        if !ports.insert(l.elb_port.0) {
            problems.push(format!(
                "{at}.elb_port: port {} has more than one listener",
                l.elb_port.0
            ));
        }
        let front = l.elb_protocol.to_ascii_uppercase();
        let back = instance_protocol(l);
        let mut known = true;
        for (field, p) in [("elb_protocol", &front), ("instance_protocol", &back)] {
            if !PROTOCOLS.contains(&p.as_str()) {
                problems.push(format!(
                    "{at}.{field}: `{p}` must be one of HTTP, HTTPS, TCP, SSL"
                ));
                known = false;
            }
        }
        if known && layer(&front) != layer(&back) {
            problems.push(format!(
                "{at}.instance_protocol: a {front} listener forwards over {}, not {back}",
                if layer(&front) == 7 {
                    "HTTP or HTTPS"
                } else {
                    "TCP or SSL"
                }
            ));
        }
        match (&l.certificate, front.as_str()) {
            (None, "HTTPS" | "SSL") => problems.push(format!(
                "{at}.certificate: an {front} listener needs a server certificate ARN"
            )),
            (Some(_), "HTTP" | "TCP") => problems.push(format!(
                "{at}.certificate: only HTTPS and SSL listeners take a certificate"
            )),
            (Some(c), _) if !c.starts_with("arn:") => {
                problems.push(format!("{at}.certificate: `{c}` is not an ARN"))
            }
            _ => {}
        }
    }
}

fn validate_health_check(h: &HealthCheckSpec, problems: &mut Vec<String>) {
    if let Some(t) = &h.target {
        let t = normalise_target(t);
        let ok = match t.split_once(':') {
            Some(("TCP" | "SSL", port)) => port.parse::<u16>().is_ok_and(|p| p > 0),
            Some(("HTTP" | "HTTPS", rest)) => match rest.split_once('/') {
                Some((port, _)) => port.parse::<u16>().is_ok_and(|p| p > 0) && t.len() <= 1024,
                None => false,
            },
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "health_check.target: `{t}` must be TCP:<port>, SSL:<port>, HTTP:<port>/<path> or HTTPS:<port>/<path>"
            ));
        }
    }
    in_range(problems, "health_check.interval", h.interval, 5, 300);
    in_range(problems, "health_check.timeout", h.timeout, 2, 60);
    in_range(
        problems,
        "health_check.healthy_threshold",
        h.healthy_threshold,
        2,
        10,
    );
    in_range(
        problems,
        "health_check.unhealthy_threshold",
        h.unhealthy_threshold,
        2,
        10,
    );
    let full = desired_health_check(h);
    if full.timeout >= full.interval {
        problems.push(format!(
            "health_check.timeout: {} s must be less than the interval ({} s)",
            full.timeout, full.interval
        ));
    }
}

fn validate_attributes(a: &AttributesSpec, problems: &mut Vec<String>) {
    if let Some(l) = &a.access_log {
        if l.enabled.0 && l.s3_bucket_name.as_deref().unwrap_or("").is_empty() {
            problems.push(
                "attributes.access_log.s3_bucket_name: an enabled access log needs a bucket"
                    .to_string(),
            );
        }
        if let Some(p) = &l.s3_bucket_prefix {
            if p.starts_with('/') || p.ends_with('/') {
                problems.push(format!(
                    "attributes.access_log.s3_bucket_prefix: `{p}` cannot start or end with `/`"
                ));
            }
        }
        if let Some(n) = l.emit_interval {
            if n.0 != 5 && n.0 != 60 {
                problems.push(format!(
                    "attributes.access_log.emit_interval: {} must be 5 or 60 (minutes)",
                    n.0
                ));
            }
        }
    }
    if let Some(d) = &a.connection_draining {
        in_range(
            problems,
            "attributes.connection_draining.timeout",
            d.timeout,
            1,
            3600,
        );
    }
    if let Some(c) = &a.connecting_settings {
        in_range(
            problems,
            "attributes.connecting_settings.idle_timeout",
            Some(c.idle_timeout),
            1,
            4000,
        );
    }
}

fn validate_dns_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() || bare.len() > 253 {
        return Err(format!("`{name}` must be 1 to 253 characters long"));
    }
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "`{name}`: every label must be 1 to 63 characters long"
            ));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')
        {
            return Err(format!(
                "`{name}` may contain only letters, digits, `-`, `_`, `*` and dots"
            ));
        }
    }
    Ok(())
}

fn validate_cnames(spec: &LoadBalancerSpec, problems: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for (i, c) in spec.cnames.iter().enumerate() {
        let at = format!("cnames[{i}]");
        if let Err(e) = validate_dns_name(&c.name) {
            problems.push(format!("{at}.name: {e}"));
        }
        if !seen.insert(fqdn(&c.name.to_ascii_lowercase())) {
            problems.push(format!("{at}.name: `{}` is listed twice", c.name));
        }
        if let Some(z) = &c.zone {
            if let Err(e) = validate_dns_name(z) {
                problems.push(format!("{at}.zone: {e}"));
            } else if !fqdn(&c.name.to_ascii_lowercase()).ends_with(&fqdn(&z.to_ascii_lowercase()))
            {
                problems.push(format!("{at}.zone: `{}` is not inside zone `{z}`", c.name));
            }
        }
        in_range(problems, &format!("{at}.ttl"), c.ttl, 0, 2_147_483_647);
    }
}

fn validate_tags(spec: &LoadBalancerSpec, problems: &mut Vec<String>) {
    if spec.tags.len() >= MAX_TAGS {
        problems.push(format!(
            "tags: at most {} tags (a load balancer carries {MAX_TAGS}, one is `{MANAGED_BY_TAG}`)",
            MAX_TAGS - 1
        ));
    }
    for (k, v) in &spec.tags {
        if k.is_empty() || k.chars().count() > 128 {
            problems.push(format!(
                "tags.{k}: a tag key must be 1 to 128 characters long"
            ));
        }
        if k.starts_with("aws:") {
            problems.push(format!("tags.{k}: the `aws:` prefix is reserved for AWS"));
        }
        if k == MANAGED_BY_TAG {
            problems.push(format!("tags.{k}: this tag is set by converge"));
        }
        if v.chars().count() > 256 {
            problems.push(format!(
                "tags.{k}: a tag value must be at most 256 characters"
            ));
        }
    }
}

fn set_difference(want: &BTreeSet<String>, have: &BTreeSet<String>) -> Vec<String> {
    want.difference(have).cloned().collect()
}

impl Schema for LoadBalancer {
    const NAME: &'static str = refs::load_balancer::KIND;
    type Spec = LoadBalancerSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        if name.is_empty() || name.len() > 32 {
            return Err(format!(
                "load balancer name `{name}` must be 1 to 32 characters long"
            ));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "load balancer name `{name}` may contain only letters, digits and `-`"
            ));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(format!(
                "load balancer name `{name}` cannot begin or end with `-`"
            ));
        }
        if name.starts_with("internal-") {
            return Err(format!(
                "load balancer name `{name}` cannot begin with `internal-`"
            ));
        }
        Ok(())
    }

    fn validate(_name: &str, spec: &LoadBalancerSpec) -> Vec<String> {
        let mut problems = Vec::new();
        match (&spec.availability_zones, &spec.subnets) {
            (Some(_), Some(_)) => problems.push(
                "availability_zones, subnets: give exactly one of them, not both".to_string(),
            ),
            (None, None) => {
                problems.push("availability_zones, subnets: give exactly one of them".to_string())
            }
            _ => {}
        }
        for (field, v) in [
            ("availability_zones", &spec.availability_zones),
            ("subnets", &spec.subnets),
        ] {
            let Some(v) = v else { continue };
            if v.is_empty() {
                problems.push(format!("{field}: the list cannot be empty"));
            }
            let mut seen = BTreeSet::new();
            for x in v {
                if !seen.insert(x) {
                    problems.push(format!("{field}: `{x}` is listed twice"));
                }
                if field == "subnets" && !x.starts_with("subnet-") {
                    problems.push(format!("subnets: `{x}` is not a subnet id (subnet-...)"));
                }
                if x.trim().is_empty() {
                    problems.push(format!("{field}: an entry is empty"));
                }
            }
        }
        if let Some(g) = &spec.security_groups {
            if g.0.is_empty() {
                problems.push(
                    "security_groups: the list cannot be empty (leave it out to keep the group AWS gives a new load balancer)"
                        .to_string(),
                );
            }
            let mut seen = BTreeSet::new();
            for x in &g.0 {
                if x.trim().is_empty() {
                    problems.push("security_groups: an entry is empty".to_string());
                } else if !seen.insert(x) {
                    problems.push(format!("security_groups: `{x}` is listed twice"));
                }
            }
        }
        if let Some(s) = &spec.scheme {
            if s != "internet-facing" && s != "internal" {
                problems.push(format!(
                    "scheme: `{s}` must be `internet-facing` or `internal`"
                ));
            }
        }
        validate_listeners(spec, &mut problems);
        if let Some(h) = &spec.health_check {
            validate_health_check(h, &mut problems);
        }
        if let Some(a) = &spec.attributes {
            validate_attributes(a, &mut problems);
        }
        validate_cnames(spec, &mut problems);
        validate_tags(spec, &mut problems);
        problems
    }

    /// Each of `cnames` becomes a `DnsRecord` CNAME named by its DNS name (lower case, with the
    /// trailing dot, as Route 53 keeps it), whose value `loadbalancer:<name>` the DnsRecord
    /// kind resolves through this kind's `dns_name` fact.
    fn expand(name: &str, spec: &LoadBalancerSpec) -> Vec<Derived> {
        spec.cnames
            .iter()
            .map(|c| {
                let dns = fqdn(&c.name.to_ascii_lowercase());
                let mut record = serde_json::Map::new();
                if let Some(zone) = &c.zone {
                    record.insert("zone".into(), zone.clone().into());
                }
                record.insert("name".into(), dns.clone().into());
                record.insert("type".into(), "CNAME".into());
                record.insert(
                    "ttl".into(),
                    c.ttl.map_or(DEFAULT_CNAME_TTL, |t| t.0).into(),
                );
                record.insert(
                    "values".into(),
                    serde_json::json!([format!("loadbalancer:{name}")]),
                );
                Derived {
                    kind: refs::dns_record::KIND,
                    name: dns,
                    spec: serde_json::Value::Object(record),
                }
            })
            .collect()
    }
}

impl Kind for LoadBalancer {
    type Live = LiveLoadBalancer;
    type Change = LoadBalancerChange;

    async fn observe(
        &self,
        scope: &Scope<'_, LoadBalancerSpec>,
    ) -> Result<Observed<LiveLoadBalancer>, KindError> {
        let descriptions: Vec<LoadBalancerDescription> = self
            .client
            .describe_load_balancers()
            .page_size(400)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                classify(
                    "DescribeLoadBalancers",
                    "(all load balancers)",
                    &e,
                    TERMINAL,
                )
            })?;
        let mut found: Observed<LiveLoadBalancer> =
            descriptions.iter().filter_map(live_from_sdk).collect();

        let tagged: Vec<String> = found
            .keys()
            .filter(|n| scope.all || scope.desired.contains_key(*n))
            .cloned()
            .collect();
        let batches: Vec<Vec<String>> = tagged.chunks(TAG_BATCH).map(<[String]>::to_vec).collect();
        let tags: Vec<Vec<(String, Option<Tags>)>> = stream::iter(batches)
            .map(|b| self.read_tags(b))
            .buffer_unordered(4)
            .try_collect()
            .await?;
        for (name, tags) in tags.into_iter().flatten() {
            match tags {
                Some(t) => {
                    if let Some(lb) = found.get_mut(&name) {
                        lb.tags = t;
                    }
                }
                // Gone since the listing.
                None => {
                    found.remove(&name);
                }
            }
        }

        let desired: Vec<String> = found
            .keys()
            .filter(|n| scope.desired.contains_key(*n))
            .cloned()
            .collect();
        let attributes: Vec<(String, Option<AttributesState>)> = stream::iter(desired)
            .map(|name| async move {
                let a = self.read_attributes(&name).await?;
                Ok::<_, KindError>((name, a))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        for (name, a) in attributes {
            match a {
                Some(a) => {
                    if let Some(lb) = found.get_mut(&name) {
                        lb.attributes = Some(a);
                    }
                }
                None => {
                    found.remove(&name);
                }
            }
        }
        Ok(found)
    }

    fn owner(live: &LiveLoadBalancer) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
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
        let groups = desired
            .security_groups
            .as_ref()
            .map(|g| resolve_groups(ctx, g))
            .transpose()?;
        let listeners = desired_listeners(desired);
        let tags = desired_tags(ctx, desired);
        let zones: BTreeSet<String> = desired
            .availability_zones
            .iter()
            .flatten()
            .cloned()
            .collect();
        let subnets: BTreeSet<String> = desired.subnets.iter().flatten().cloned().collect();
        let health = desired.health_check.as_ref().map(desired_health_check);

        let Some(live) = live else {
            let mut changes = vec![LoadBalancerChange::Create {
                scheme: desired.scheme.clone(),
                availability_zones: zones.into_iter().collect(),
                subnets: subnets.into_iter().collect(),
                security_groups: groups.unwrap_or_default(),
                listeners: listeners.into_values().collect(),
                tags,
            }];
            if let Some(h) = health {
                changes.push(LoadBalancerChange::ConfigureHealthCheck {
                    live: None,
                    desired: h,
                });
            }
            if let Some(a) = &desired.attributes {
                let (fields, send) = diff_attributes(a, None);
                if !fields.is_empty() {
                    changes.push(LoadBalancerChange::SetAttributes { fields, send });
                }
            }
            return Ok(changes);
        };

        let mut changes = Vec::new();
        let scheme = desired.scheme.as_deref().unwrap_or(DEFAULT_SCHEME);
        if let Some(have) = &live.scheme {
            if have != scheme {
                changes.push(LoadBalancerChange::Replace {
                    field: "scheme".to_string(),
                    live: Some(have.clone()),
                    desired: scheme.to_string(),
                });
            }
        }

        let tag = super::common::tags::to_set(&tags, &live.tags);
        if !tag.is_empty() {
            changes.push(LoadBalancerChange::Tag(tag));
        }
        let untag = super::common::tags::to_remove(&tags, &live.tags);
        if !untag.is_empty() {
            changes.push(LoadBalancerChange::Untag(untag));
        }

        if let Some(want) = groups {
            let a: BTreeSet<&String> = want.iter().collect();
            let b: BTreeSet<&String> = live.security_groups.iter().collect();
            if a != b {
                changes.push(LoadBalancerChange::SetSecurityGroups {
                    live: live.security_groups.clone(),
                    desired: want,
                });
            }
        }

        if desired.availability_zones.is_some() {
            let enable = set_difference(&zones, &live.availability_zones);
            let disable = set_difference(&live.availability_zones, &zones);
            if !enable.is_empty() {
                changes.push(LoadBalancerChange::EnableZones(enable));
            }
            if !disable.is_empty() {
                changes.push(LoadBalancerChange::DisableZones(disable));
            }
        }
        if desired.subnets.is_some() {
            let attach = set_difference(&subnets, &live.subnets);
            let detach = set_difference(&live.subnets, &subnets);
            if !attach.is_empty() {
                changes.push(LoadBalancerChange::AttachSubnets(attach));
            }
            if !detach.is_empty() {
                changes.push(LoadBalancerChange::DetachSubnets(detach));
            }
        }

        let delete: Vec<ListenerState> = live
            .listeners
            .iter()
            .filter(|(port, l)| listeners.get(port) != Some(l))
            .map(|(_, l)| l.clone())
            .collect();
        let create: Vec<ListenerState> = listeners
            .iter()
            .filter(|(port, l)| live.listeners.get(port) != Some(l))
            .map(|(_, l)| l.clone())
            .collect();
        if !delete.is_empty() {
            changes.push(LoadBalancerChange::DeleteListeners(delete));
        }
        if !create.is_empty() {
            changes.push(LoadBalancerChange::CreateListeners(create));
        }

        if let Some(h) = health {
            if live.health_check.as_ref() != Some(&h) {
                changes.push(LoadBalancerChange::ConfigureHealthCheck {
                    live: live.health_check.clone(),
                    desired: h,
                });
            }
        }
        if let Some(a) = &desired.attributes {
            let (fields, send) = diff_attributes(a, live.attributes.as_ref());
            if !fields.is_empty() {
                changes.push(LoadBalancerChange::SetAttributes { fields, send });
            }
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveLoadBalancer>,
        change: &LoadBalancerChange,
    ) -> Result<(), KindError> {
        let c = &self.client;
        match change {
            LoadBalancerChange::Create {
                scheme,
                availability_zones,
                subnets,
                security_groups,
                listeners,
                tags,
            } => {
                let op = "CreateLoadBalancer";
                let listeners = listeners
                    .iter()
                    .map(listener_to_sdk)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unbuildable(op, name, e))?;
                let tags = tags
                    .iter()
                    .map(|(k, v)| tag_to_sdk(k, v))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unbuildable(op, name, e))?;
                let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
                // A load balancer that exists already (a create whose answer was lost) fails
                // with DuplicateLoadBalancerName, classed retryable: the next sweep reads it
                // and diffs it (adopting or reporting a conflict) instead of assuming it ours.
                c.create_load_balancer()
                    .load_balancer_name(name)
                    .set_listeners(Some(listeners))
                    .set_availability_zones(nonempty(availability_zones))
                    .set_subnets(nonempty(subnets))
                    .set_security_groups(nonempty(security_groups))
                    .set_scheme(scheme.clone())
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| classify(op, name, &e, TERMINAL))?;
            }
            LoadBalancerChange::Replace { field, .. } => {
                return Err(KindError::new(
                    ErrorClass::Terminal,
                    format!("load balancer {name}: {field} is immutable; the load balancer would have to be replaced"),
                ));
            }
            LoadBalancerChange::Tag(m) => {
                let op = "AddTags";
                let tags = m
                    .iter()
                    .map(|(k, (_, v))| tag_to_sdk(k, v))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unbuildable(op, name, e))?;
                c.add_tags()
                    .load_balancer_names(name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| classify(op, name, &e, TERMINAL))?;
            }
            LoadBalancerChange::Untag(m) => {
                c.remove_tags()
                    .load_balancer_names(name)
                    .set_tags(Some(
                        m.keys()
                            .map(|k| TagKeyOnly::builder().key(k).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| classify("RemoveTags", name, &e, TERMINAL))?;
            }
            LoadBalancerChange::SetSecurityGroups { desired, .. } => {
                c.apply_security_groups_to_load_balancer()
                    .load_balancer_name(name)
                    .set_security_groups(Some(desired.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        classify("ApplySecurityGroupsToLoadBalancer", name, &e, TERMINAL)
                    })?;
            }
            LoadBalancerChange::EnableZones(z) => {
                c.enable_availability_zones_for_load_balancer()
                    .load_balancer_name(name)
                    .set_availability_zones(Some(z.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        classify("EnableAvailabilityZonesForLoadBalancer", name, &e, TERMINAL)
                    })?;
            }
            LoadBalancerChange::DisableZones(z) => {
                c.disable_availability_zones_for_load_balancer()
                    .load_balancer_name(name)
                    .set_availability_zones(Some(z.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        classify(
                            "DisableAvailabilityZonesForLoadBalancer",
                            name,
                            &e,
                            TERMINAL,
                        )
                    })?;
            }
            LoadBalancerChange::AttachSubnets(s) => {
                c.attach_load_balancer_to_subnets()
                    .load_balancer_name(name)
                    .set_subnets(Some(s.clone()))
                    .send()
                    .await
                    .map_err(|e| classify("AttachLoadBalancerToSubnets", name, &e, TERMINAL))?;
            }
            LoadBalancerChange::DetachSubnets(s) => {
                c.detach_load_balancer_from_subnets()
                    .load_balancer_name(name)
                    .set_subnets(Some(s.clone()))
                    .send()
                    .await
                    .map_err(|e| classify("DetachLoadBalancerFromSubnets", name, &e, TERMINAL))?;
            }
            LoadBalancerChange::DeleteListeners(ls) => {
                c.delete_load_balancer_listeners()
                    .load_balancer_name(name)
                    .set_load_balancer_ports(Some(ls.iter().map(|l| l.elb_port).collect()))
                    .send()
                    .await
                    .map_err(|e| classify("DeleteLoadBalancerListeners", name, &e, TERMINAL))?;
            }
            LoadBalancerChange::CreateListeners(ls) => {
                let op = "CreateLoadBalancerListeners";
                let listeners = ls
                    .iter()
                    .map(listener_to_sdk)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unbuildable(op, name, e))?;
                c.create_load_balancer_listeners()
                    .load_balancer_name(name)
                    .set_listeners(Some(listeners))
                    .send()
                    .await
                    .map_err(|e| classify(op, name, &e, TERMINAL))?;
            }
            LoadBalancerChange::ConfigureHealthCheck { desired, .. } => {
                let op = "ConfigureHealthCheck";
                let check = SdkHealthCheck::builder()
                    .target(&desired.target)
                    .interval(desired.interval)
                    .timeout(desired.timeout)
                    .healthy_threshold(desired.healthy_threshold)
                    .unhealthy_threshold(desired.unhealthy_threshold)
                    .build()
                    .map_err(|e| unbuildable(op, name, e.to_string()))?;
                c.configure_health_check()
                    .load_balancer_name(name)
                    .health_check(check)
                    .send()
                    .await
                    .map_err(|e| classify(op, name, &e, TERMINAL))?;
            }
            LoadBalancerChange::SetAttributes { send, .. } => {
                let op = "ModifyLoadBalancerAttributes";
                let attributes = attributes_to_sdk(send).map_err(|e| unbuildable(op, name, e))?;
                c.modify_load_balancer_attributes()
                    .load_balancer_name(name)
                    .load_balancer_attributes(attributes)
                    .send()
                    .await
                    .map_err(|e| classify(op, name, &e, TERMINAL))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, name: &str, _live: &LiveLoadBalancer) -> Result<(), KindError> {
        match self
            .client
            .delete_load_balancer()
            .load_balancer_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(classify("DeleteLoadBalancer", name, &e, TERMINAL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DesiredResource, DesiredSet, Origin};
    use crate::engine::facts::Snapshot;

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    const CERT: &str = "arn:aws:iam::123456789012:server-certificate/a-certificate";

    /// The seed's load balancer, as a converge spec.
    const SEED: &str = "availability_zones: [us-east-1a, us-east-1d, us-east-1e]
listeners:
  - elb_port: 80
    instance_port: 80
    elb_protocol: HTTP
  - elb_port: 443
    instance_port: 80
    elb_protocol: HTTPS
    instance_protocol: HTTP
    certificate: 'arn:aws:iam::123456789012:server-certificate/a-certificate'
health_check:
  target: 'HTTP:80/'
attributes:
  access_log:
    enabled: true
    s3_bucket_name: 'logs'
    s3_bucket_prefix: 'myapp-testing-useast1'
    emit_interval: '5'
cnames:
  - name: myapp-testing.example.com.
    zone: example.com.
";

    fn ctx(facts: &Snapshot) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: "test",
            facts,
            desired: &EMPTY,
        }
    }

    fn spec(yaml: &str) -> LoadBalancerSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn listener(port: i32, proto: &str, iport: i32, iproto: &str) -> ListenerState {
        ListenerState {
            elb_port: port,
            instance_port: iport,
            elb_protocol: proto.into(),
            instance_protocol: iproto.into(),
            certificate: matches!(proto, "HTTPS" | "SSL").then(|| CERT.to_string()),
        }
    }

    /// The seed's load balancer as moto returns it after a converge.
    fn seed_live() -> LiveLoadBalancer {
        LiveLoadBalancer {
            dns_name: Some("lb.us-east-1.elb.amazonaws.com".into()),
            hosted_zone_id: Some("Z35SXDOTRQ7X7K".into()),
            scheme: Some("internet-facing".into()),
            vpc_id: Some("vpc-1".into()),
            availability_zones: ["us-east-1a", "us-east-1d", "us-east-1e"]
                .map(String::from)
                .into(),
            subnets: ["subnet-1", "subnet-2", "subnet-3"]
                .map(String::from)
                .into(),
            security_groups: vec!["sg-default-elb".into()],
            listeners: [
                listener(80, "HTTP", 80, "HTTP"),
                listener(443, "HTTPS", 80, "HTTP"),
            ]
            .into_iter()
            .map(|l| (l.elb_port, l))
            .collect(),
            health_check: Some(HealthCheckState {
                target: "HTTP:80/".into(),
                ..aws_default_health_check()
            }),
            attributes: Some(AttributesState {
                access_log: Some(AccessLogState {
                    enabled: true,
                    s3_bucket_name: Some("logs".into()),
                    s3_bucket_prefix: Some("myapp-testing-useast1".into()),
                    emit_interval: Some(5),
                }),
                cross_zone_load_balancing: Some(true),
                connection_draining: Some(DrainingState {
                    enabled: false,
                    timeout: Some(300),
                }),
                idle_timeout: Some(60),
            }),
            tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), "test".to_string())]),
        }
    }

    fn desired_with(kind: &str, name: &str) -> DesiredSet {
        let mut desired = DesiredSet::default();
        desired.resources.entry(kind.into()).or_default().insert(
            name.into(),
            DesiredResource {
                kind: kind.into(),
                name: name.into(),
                labels: BTreeMap::new(),
                spec: serde_json::json!({}),
                origin: Origin {
                    file: "x".into(),
                    line: 1,
                    column: 1,
                },
                hash: 0,
            },
        );
        desired
    }

    fn group_fact(name: &str, id: &str) -> Snapshot {
        let mut f = Snapshot::new();
        f.entry("SecurityGroup".into())
            .or_default()
            .insert(name.into(), BTreeMap::from([("id".into(), id.into())]));
        f
    }

    #[test]
    fn the_seed_load_balancer_is_created_then_given_its_health_check_and_attributes() {
        let f = Snapshot::new();
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &spec(SEED), None).unwrap();
        assert_eq!(changes.len(), 3, "{changes:?}");
        let LoadBalancerChange::Create {
            scheme,
            availability_zones,
            subnets,
            security_groups,
            listeners,
            tags,
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(scheme, &None);
        assert_eq!(
            availability_zones,
            &["us-east-1a", "us-east-1d", "us-east-1e"]
        );
        assert!(subnets.is_empty() && security_groups.is_empty());
        assert_eq!(
            listeners,
            &[
                listener(80, "HTTP", 80, "HTTP"),
                listener(443, "HTTPS", 80, "HTTP")
            ]
        );
        assert_eq!(tags[MANAGED_BY_TAG], "test");
        assert_eq!(
            changes[1],
            LoadBalancerChange::ConfigureHealthCheck {
                live: None,
                desired: HealthCheckState {
                    target: "HTTP:80/".into(),
                    interval: 30,
                    timeout: 5,
                    healthy_threshold: 10,
                    unhealthy_threshold: 2,
                },
            }
        );
        let LoadBalancerChange::SetAttributes { send, .. } = &changes[2] else {
            panic!("{changes:?}")
        };
        assert_eq!(
            send,
            &AttributesState {
                access_log: Some(AccessLogState {
                    enabled: true,
                    s3_bucket_name: Some("logs".into()),
                    s3_bucket_prefix: Some("myapp-testing-useast1".into()),
                    emit_interval: Some(5),
                }),
                ..Default::default()
            }
        );
        let plan: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
        assert!(
            plan.contains(&format!(
                "listeners.443: (none) → HTTPS:443 to HTTP:80 [{CERT}]"
            )),
            "{plan:?}"
        );
    }

    #[test]
    fn a_converged_load_balancer_needs_nothing_whatever_is_not_written() {
        // moto's default security group, the subnets it picked, cross-zone balancing and the
        // draining timeout are not in the spec: none of them is a difference.
        let f = Snapshot::new();
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &spec(SEED), Some(&seed_live())).unwrap();
        assert_eq!(changes, vec![]);
    }

    #[test]
    fn a_changed_listener_port_replaces_only_that_listener() {
        let f = Snapshot::new();
        let s = spec(&SEED.replace("elb_port: 443", "elb_port: 8443"));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&seed_live())).unwrap();
        assert_eq!(
            changes,
            vec![
                LoadBalancerChange::DeleteListeners(vec![listener(443, "HTTPS", 80, "HTTP")]),
                LoadBalancerChange::CreateListeners(vec![listener(8443, "HTTPS", 80, "HTTP")]),
            ]
        );
        assert_eq!(changes[0].action(), Action::Update);
    }

    #[test]
    fn a_listener_that_differs_in_anything_is_deleted_and_created_again_and_a_missing_one_created()
    {
        let f = Snapshot::new();
        let mut live = seed_live();
        // Out of band: 443 now forwards HTTPS, and 80 was deleted.
        live.listeners
            .insert(443, listener(443, "HTTPS", 80, "HTTPS"));
        live.listeners.remove(&80);
        live.listeners
            .insert(9000, listener(9000, "TCP", 9000, "TCP"));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &spec(SEED), Some(&live)).unwrap();
        assert_eq!(
            changes,
            vec![
                LoadBalancerChange::DeleteListeners(vec![
                    listener(443, "HTTPS", 80, "HTTPS"),
                    listener(9000, "TCP", 9000, "TCP"),
                ]),
                LoadBalancerChange::CreateListeners(vec![
                    listener(80, "HTTP", 80, "HTTP"),
                    listener(443, "HTTPS", 80, "HTTP"),
                ]),
            ]
        );
    }

    #[test]
    fn instance_protocol_defaults_to_elb_protocol_as_salt_does() {
        let s = spec(
            "availability_zones: [a]\nlisteners:\n  - {elb_port: '443', instance_port: 8443, elb_protocol: https, certificate: 'arn:aws:iam::1:server-certificate/c'}\n  - {elb_port: 25, instance_port: 25, elb_protocol: tcp}\n",
        );
        let l = desired_listeners(&s);
        assert_eq!(l[&443].elb_protocol, "HTTPS");
        assert_eq!(l[&443].instance_protocol, "HTTPS");
        assert_eq!(l[&25].instance_protocol, "TCP");
    }

    #[test]
    fn zones_are_enabled_before_extra_ones_are_disabled_and_subnets_alike() {
        let f = Snapshot::new();
        let s = spec(&SEED.replace("us-east-1e]", "us-east-1f]"));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&seed_live())).unwrap();
        assert_eq!(
            changes,
            vec![
                LoadBalancerChange::EnableZones(vec!["us-east-1f".into()]),
                LoadBalancerChange::DisableZones(vec!["us-east-1e".into()]),
            ]
        );

        let s = spec(&SEED.replace(
            "availability_zones: [us-east-1a, us-east-1d, us-east-1e]",
            "subnets: [subnet-1, subnet-9]",
        ));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&seed_live())).unwrap();
        assert_eq!(
            changes,
            vec![
                LoadBalancerChange::AttachSubnets(vec!["subnet-9".into()]),
                LoadBalancerChange::DetachSubnets(vec!["subnet-2".into(), "subnet-3".into()]),
            ]
        );
    }

    #[test]
    fn health_check_fields_left_out_take_aws_defaults() {
        let f = Snapshot::new();
        let mut live = seed_live();
        live.health_check = Some(aws_default_health_check());
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &spec(SEED), Some(&live)).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        // Only the target differs from a new load balancer's default check.
        let fields: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
        assert_eq!(fields, vec!["health_check.target: TCP:80 → HTTP:80/"]);

        // A changed interval is drift back to the default.
        live.health_check = Some(HealthCheckState {
            target: "HTTP:80/".into(),
            interval: 10,
            ..aws_default_health_check()
        });
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &spec(SEED), Some(&live)).unwrap();
        let fields: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
        assert_eq!(fields, vec!["health_check.interval: 10 → 30"]);

        // Written fields win; the protocol is compared in AWS's upper case.
        let s = spec(&SEED.replace(
            "target: 'HTTP:80/'",
            "target: 'http:80/'\n  interval: '10'\n  healthy_threshold: 3",
        ));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&live)).unwrap();
        let fields: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
        assert_eq!(fields, vec!["health_check.healthy_threshold: 10 → 3"]);

        // Without `health_check` the check is not managed at all.
        let s = spec(&SEED.replace("health_check:\n  target: 'HTTP:80/'\n", ""));
        assert_eq!(
            LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn only_written_attributes_are_compared_and_unwritten_fields_are_sent_as_read() {
        let f = Snapshot::new();
        let mut live = seed_live();
        if let Some(a) = live.attributes.as_mut() {
            a.access_log = Some(AccessLogState {
                enabled: true,
                s3_bucket_name: Some("logs".into()),
                s3_bucket_prefix: Some("keep-me".into()),
                emit_interval: Some(60),
            });
        }
        // The seed writes emit_interval as the string '5'; the prefix is left out here.
        let s = spec(&SEED.replace("    s3_bucket_prefix: 'myapp-testing-useast1'\n", ""));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&live)).unwrap();
        let [LoadBalancerChange::SetAttributes { fields, send }] = changes.as_slice() else {
            panic!("{changes:?}")
        };
        assert_eq!(
            fields,
            &[(
                "access_log.emit_interval".to_string(),
                Some("60".to_string()),
                "5".to_string()
            )]
        );
        assert_eq!(
            send,
            &AttributesState {
                access_log: Some(AccessLogState {
                    enabled: true,
                    s3_bucket_name: Some("logs".into()),
                    s3_bucket_prefix: Some("keep-me".into()),
                    emit_interval: Some(5),
                }),
                ..Default::default()
            },
            "only the block that differs is written, with the live prefix kept"
        );
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "attributes.access_log.emit_interval: 60 → 5"
        );

        // Other blocks, written in Salt's spelling.
        let base = SEED.replace(
            "cnames:\n  - name: myapp-testing.example.com.\n    zone: example.com.\n",
            "",
        );
        let s = spec(&format!(
            "{base}  cross_zone_load_balancing: {{enabled: true}}\n  connection_draining: {{enabled: true, timeout: 20}}\n  connecting_settings: {{idle_timeout: 60}}\n"
        ));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&seed_live())).unwrap();
        let [LoadBalancerChange::SetAttributes { fields, send }] = changes.as_slice() else {
            panic!("{changes:?}")
        };
        assert_eq!(
            fields.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["connection_draining.enabled", "connection_draining.timeout"]
        );
        assert_eq!(
            send.connection_draining,
            Some(DrainingState {
                enabled: true,
                timeout: Some(20)
            })
        );
        assert_eq!(send.access_log, None);
        assert_eq!(send.cross_zone_load_balancing, None);
    }

    #[test]
    fn a_disabled_access_log_compares_only_enabled() {
        let f = Snapshot::new();
        let mut live = seed_live();
        if let Some(a) = live.attributes.as_mut() {
            a.access_log = Some(AccessLogState {
                enabled: false,
                ..Default::default()
            });
        }
        let s = spec(&SEED.replace("enabled: true", "enabled: false"));
        assert_eq!(
            LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn security_group_names_resolve_through_facts_and_wait_while_missing() {
        let s = spec(&format!("{SEED}security_groups: [web, sg-0123]\n"));
        // The group is desired and not created yet: wait for it.
        let desired = desired_with("SecurityGroup", "web");
        let none = Snapshot::new();
        let c = DiffCtx {
            controller_id: "test",
            facts: &none,
            desired: &desired,
        };
        let pending = LoadBalancer::diff(&c, "lb", &s, None).unwrap_err();
        assert_eq!(pending.waiting_for, "SecurityGroup/web");
        // A name not desired here cannot be sent either: also shown as awaited.
        let pending = LoadBalancer::diff(&ctx(&none), "lb", &s, None).unwrap_err();
        assert_eq!(pending.waiting_for, "SecurityGroup/web");
        // Once it exists its id is used; an sg- id passes through.
        let facts = group_fact("web", "sg-web1");
        let c = DiffCtx {
            controller_id: "test",
            facts: &facts,
            desired: &desired,
        };
        let changes = LoadBalancer::diff(&c, "lb", &s, None).unwrap();
        let LoadBalancerChange::Create {
            security_groups, ..
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(security_groups, &["sg-web1", "sg-0123"]);
        // On an existing load balancer the set is compared, not the order.
        let changes = LoadBalancer::diff(&c, "lb", &s, Some(&seed_live())).unwrap();
        assert_eq!(
            changes,
            vec![LoadBalancerChange::SetSecurityGroups {
                live: vec!["sg-default-elb".into()],
                desired: vec!["sg-web1".into(), "sg-0123".into()],
            }]
        );
        let mut live = seed_live();
        live.security_groups = vec!["sg-0123".into(), "sg-web1".into()];
        assert_eq!(
            LoadBalancer::diff(&c, "lb", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_scheme_difference_needs_replacement() {
        let f = Snapshot::new();
        let s = spec(&format!("{SEED}scheme: internal\n"));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&seed_live())).unwrap();
        assert_eq!(changes[0].action(), Action::Replace);
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "scheme (immutable): internet-facing → internal"
        );
    }

    #[test]
    fn an_unowned_load_balancer_is_adopted_by_tagging_and_stray_tags_removed() {
        let f = Snapshot::new();
        let mut live = seed_live();
        live.tags = BTreeMap::from([
            ("stray".to_string(), "1".to_string()),
            ("aws:cloudformation:stack-name".to_string(), "x".to_string()),
        ]);
        let s = spec(&format!("{SEED}tags: {{team: ops}}\n"));
        let changes = LoadBalancer::diff(&ctx(&f), "lb", &s, Some(&live)).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(
            changes[0],
            LoadBalancerChange::Tag(BTreeMap::from([
                (MANAGED_BY_TAG.to_string(), (None, "test".to_string())),
                ("team".to_string(), (None, "ops".to_string())),
            ]))
        );
        assert_eq!(
            changes[1],
            LoadBalancerChange::Untag(BTreeMap::from([("stray".to_string(), "1".to_string())]))
        );
    }

    #[test]
    fn cnames_expand_into_dns_records_pointing_at_the_load_balancer() {
        let s = spec(&format!("{SEED}  - name: WWW.example.org\n    ttl: '60'\n"));
        let derived = LoadBalancer::expand("myapp-testing-useast1", &s);
        assert_eq!(
            derived,
            vec![
                Derived {
                    kind: refs::dns_record::KIND,
                    name: "myapp-testing.example.com.".into(),
                    spec: serde_json::json!({
                        "zone": "example.com.",
                        "name": "myapp-testing.example.com.",
                        "type": "CNAME",
                        "ttl": 300,
                        "values": ["loadbalancer:myapp-testing-useast1"],
                    }),
                },
                Derived {
                    kind: refs::dns_record::KIND,
                    name: "www.example.org.".into(),
                    spec: serde_json::json!({
                        "name": "www.example.org.",
                        "type": "CNAME",
                        "ttl": 60,
                        "values": ["loadbalancer:myapp-testing-useast1"],
                    }),
                },
            ]
        );
        assert!(LoadBalancer::expand("lb", &LoadBalancerSpec::default()).is_empty());
    }

    #[test]
    fn facts_are_the_dns_name_and_hosted_zone() {
        let f = crate::kinds::common::fixtures::published::<LoadBalancer>("lb", &seed_live());
        assert_eq!(f["dns_name"], "lb.us-east-1.elb.amazonaws.com");
        assert_eq!(f["hosted_zone_id"], "Z35SXDOTRQ7X7K");
        assert!(crate::kinds::common::fixtures::published::<LoadBalancer>(
            "lb",
            &LiveLoadBalancer::default()
        )
        .is_empty());
    }

    #[test]
    fn the_seed_is_valid_and_the_yaml_forms_salt_users_write_are_accepted() {
        assert_eq!(
            LoadBalancer::validate("lb", &spec(SEED)),
            Vec::<String>::new()
        );
        let s = spec("subnets: [subnet-1]\nsecurity_groups: 'web, sg-1'\nlisteners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP}]\nattributes:\n  connection_settings: {idle_timeout: '30'}\n  cross_zone_load_balancing: {enabled: 'true'}\n");
        assert_eq!(
            s.security_groups,
            Some(GroupList(vec!["web".into(), "sg-1".into()]))
        );
        let a = s.attributes.as_ref().unwrap();
        assert_eq!(
            a.connecting_settings.as_ref().unwrap().idle_timeout,
            Num(30)
        );
        assert_eq!(
            a.cross_zone_load_balancing.as_ref().unwrap().enabled,
            Flag(true)
        );
        assert_eq!(LoadBalancer::validate("lb", &s), Vec::<String>::new());
        // The typed spec survives the loader's JSON round trip.
        let v = serde_json::to_value(spec(SEED)).unwrap();
        let back: LoadBalancerSpec = serde_json::from_value(v).unwrap();
        assert_eq!(desired_listeners(&back), desired_listeners(&spec(SEED)));
    }

    #[test]
    fn unknown_fields_and_malformed_values_are_schema_errors() {
        for bad in [
            "listeners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP, policies: []}]\n",
            "availability_zones: [a]\nlisteners: []\nhealth_chek: {}\n",
            "listeners: [{elb_port: eighty, instance_port: 80, elb_protocol: HTTP}]\n",
            "attributes: {access_log: {enabled: maybe}}\n",
        ] {
            assert!(
                serde_saphyr::from_str::<LoadBalancerSpec>(bad).is_err(),
                "accepted: {bad}"
            );
        }
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        assert!(LoadBalancer::validate_name("myapp-testing-useast1").is_ok());
        for (bad, why) in [
            ("", "1 to 32"),
            (&"x".repeat(33), "1 to 32"),
            ("my_lb", "letters, digits"),
            ("-lb", "begin or end"),
            ("internal-lb", "internal-"),
        ] {
            assert!(
                LoadBalancer::validate_name(bad).unwrap_err().contains(why),
                "{bad}"
            );
        }
        let p = LoadBalancer::validate(
            "lb",
            &spec("availability_zones: [a]\nsubnets: [s]\nscheme: public\nlisteners:\n  - {elb_port: 443, instance_port: 80, elb_protocol: HTTPS, instance_protocol: TCP}\n  - {elb_port: 443, instance_port: 70000, elb_protocol: FTP}\n  - {elb_port: 80, instance_port: 80, elb_protocol: HTTP, certificate: 'arn:aws:iam::1:server-certificate/c'}\nhealth_check: {target: 'HTTP:80', interval: 5, timeout: 5, healthy_threshold: 11}\nattributes:\n  access_log: {enabled: true, s3_bucket_prefix: '/logs', emit_interval: 10}\n  connection_draining: {enabled: true, timeout: 0}\ncnames:\n  - {name: 'www.example.com', zone: example.org.}\ntags: {'aws:x': y}\n"),
        );
        for expected in [
            "availability_zones, subnets: give exactly one",
            "subnets: `s` is not a subnet id",
            "scheme: `public`",
            "listeners[0].instance_protocol: a HTTPS listener forwards over HTTP or HTTPS, not TCP",
            "listeners[0].certificate: an HTTPS listener needs",
            "listeners[1].instance_port: 70000 must be from 1 to 65535",
            "listeners[1].elb_port: port 443 has more than one listener",
            "listeners[1].elb_protocol: `FTP`",
            "listeners[2].certificate: only HTTPS and SSL",
            "health_check.target: `HTTP:80` must be",
            "health_check.healthy_threshold: 11 must be from 2 to 10",
            "health_check.timeout: 5 s must be less than the interval (5 s)",
            "attributes.access_log.s3_bucket_name: an enabled access log needs a bucket",
            "attributes.access_log.s3_bucket_prefix: `/logs`",
            "attributes.access_log.emit_interval: 10 must be 5 or 60",
            "attributes.connection_draining.timeout: 0 must be from 1 to 3600",
            "cnames[0].zone: `www.example.com` is not inside zone `example.org.`",
            "tags.aws:x: the `aws:` prefix is reserved",
        ] {
            assert!(
                p.iter().any(|m| m.starts_with(expected)),
                "missing `{expected}` in {p:#?}"
            );
        }
        let p = LoadBalancer::validate("lb", &spec("listeners: []\nsecurity_groups: []\n"));
        assert!(p.iter().any(|m| m.contains("give exactly one")), "{p:?}");
        assert!(
            p.iter().any(|m| m.contains("at least one listener")),
            "{p:?}"
        );
    }
}
