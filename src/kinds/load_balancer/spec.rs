//! The spec of a load balancer as manifests write it (Salt's `boto_elb.present` spelling), the
//! checks AWS would make of it, and the `DnsRecord`s its `cnames` imply.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::diff::desired_health_check;
use crate::core::schema::{Derived, Reference};
use crate::kinds::common::refs;
use crate::kinds::common::scalar::{CommaList, Flag, Num};
use crate::kinds::common::tags;
use crate::kinds::common::validate::{fqdn, in_range};

const DEFAULT_CNAME_TTL: i64 = 300;

/// The `spec` of a `kind: LoadBalancer`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// Availability zones (exactly one of this and `subnets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<String>>,
    /// Subnet ids (exactly one of this, `subnet_names` and `availability_zones`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
    /// Subnets by their `Name` tag (Salt's `subnet_names`), resolved at every sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_names: Option<Vec<String>>,
    /// Security group names or `sg-` ids (a list, or a comma-separated string as Salt allows).
    /// Managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<CommaList>,
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

impl ListenerSpec {
    /// The instance protocol, in upper case; `elb_protocol` when it is not written.
    pub fn instance_protocol(&self) -> String {
        self.instance_protocol
            .as_deref()
            .unwrap_or(&self.elb_protocol)
            .to_ascii_uppercase()
    }
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

/// The protocol part of a health check target in upper case (`http:80/` → `HTTP:80/`).
pub fn normalise_target(t: &str) -> String {
    match t.split_once(':') {
        Some((proto, rest)) => format!("{}:{rest}", proto.to_ascii_uppercase()),
        None => t.to_string(),
    }
}

/// Checks a load balancer name as ELB would.
pub fn validate_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() || name.len() > 32 {
        "must be 1 to 32 characters long"
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        "may contain only letters, digits and `-`"
    } else if name.starts_with('-') || name.ends_with('-') {
        "cannot begin or end with `-`"
    } else if name.starts_with("internal-") {
        "cannot begin with `internal-`"
    } else {
        return Ok(());
    };
    Err(format!("load balancer name `{name}` {problem}"))
}

/// The checks beyond the schema; each message names its field.
pub fn validate(spec: &LoadBalancerSpec) -> Vec<String> {
    let mut problems = Vec::new();
    const ONE_OF: &str = "availability_zones, subnets, subnet_names: give exactly one of them";
    let given = [
        spec.availability_zones.is_some(),
        spec.subnets.is_some(),
        spec.subnet_names.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    match given {
        0 => problems.push(ONE_OF.to_string()),
        1 => {}
        _ => problems.push(format!("{ONE_OF}, not several")),
    }
    for (field, v) in [
        ("availability_zones", &spec.availability_zones),
        ("subnets", &spec.subnets),
        ("subnet_names", &spec.subnet_names),
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
    tags::check_map(&spec.tags, &mut problems);
    problems
}

const PROTOCOLS: &[&str] = &["HTTP", "HTTPS", "TCP", "SSL"];

/// The protocols of a listener's layer: HTTP and HTTPS are one, TCP and SSL the other.
fn layer(protocol: &str) -> &'static str {
    match protocol {
        "HTTP" | "HTTPS" => "HTTP or HTTPS",
        _ => "TCP or SSL",
    }
}

fn validate_listeners(spec: &LoadBalancerSpec, problems: &mut Vec<String>) {
    if spec.listeners.is_empty() {
        problems.push("listeners: a load balancer needs at least one listener".to_string());
    }
    let mut ports = BTreeSet::new();
    for (i, l) in spec.listeners.iter().enumerate() {
        let at = format!("listeners[{i}]");
        for (field, port) in [("elb_port", l.elb_port), ("instance_port", l.instance_port)] {
            in_range(problems, &format!("{at}.{field}"), Some(port.0), 1, 65535);
        }
        if !ports.insert(l.elb_port.0) {
            problems.push(format!(
                "{at}.elb_port: port {} has more than one listener",
                l.elb_port.0
            ));
        }
        let front = l.elb_protocol.to_ascii_uppercase();
        let back = l.instance_protocol();
        let mut known = true;
        for (field, p) in [("elb_protocol", &front), ("instance_protocol", &back)] {
            if !PROTOCOLS.contains(&p.as_str()) {
                problems.push(format!(
                    "{at}.{field}: `{p}` must be one of HTTP, HTTPS, TCP, SSL"
                ));
                known = false;
            }
        }
        let over = layer(&front);
        if known && over != layer(&back) {
            problems.push(format!(
                "{at}.instance_protocol: a {front} listener forwards over {over}, not {back}"
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
        let port_ok = |port: &str| port.parse::<u16>().is_ok_and(|p| p > 0);
        let ok = match t.split_once(':') {
            Some(("TCP" | "SSL", port)) => port_ok(port),
            Some(("HTTP" | "HTTPS", rest)) => rest
                .split_once('/')
                .is_some_and(|(port, _)| port_ok(port) && t.len() <= 1024),
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "health_check.target: `{t}` must be TCP:<port>, SSL:<port>, HTTP:<port>/<path> or HTTPS:<port>/<path>"
            ));
        }
    }
    for (field, n, lo, hi) in [
        ("interval", h.interval, 5, 300),
        ("timeout", h.timeout, 2, 60),
        ("healthy_threshold", h.healthy_threshold, 2, 10),
        ("unhealthy_threshold", h.unhealthy_threshold, 2, 10),
    ] {
        let field = format!("health_check.{field}");
        in_range(problems, &field, n.map(|n| n.0), lo, hi);
    }
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
        if let Some(Num(n)) = l.emit_interval {
            if n != 5 && n != 60 {
                problems.push(format!(
                    "attributes.access_log.emit_interval: {n} must be 5 or 60 (minutes)"
                ));
            }
        }
    }
    if let Some(d) = &a.connection_draining {
        let field = "attributes.connection_draining.timeout";
        in_range(problems, field, d.timeout.map(|n| n.0), 1, 3600);
    }
    if let Some(c) = &a.connecting_settings {
        let field = "attributes.connecting_settings.idle_timeout";
        in_range(problems, field, Some(c.idle_timeout.0), 1, 4000);
    }
}

fn validate_dns_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() || bare.len() > 253 {
        return Err(format!("`{name}` must be 1 to 253 characters long"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*');
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "`{name}`: every label must be 1 to 63 characters long"
            ));
        }
        if !label.chars().all(allowed) {
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
        let dns = fqdn(&c.name.to_ascii_lowercase());
        if let Err(e) = validate_dns_name(&c.name) {
            problems.push(format!("{at}.name: {e}"));
        }
        if !seen.insert(dns.clone()) {
            problems.push(format!("{at}.name: `{}` is listed twice", c.name));
        }
        if let Some(z) = &c.zone {
            if let Err(e) = validate_dns_name(z) {
                problems.push(format!("{at}.zone: {e}"));
            } else if !dns.ends_with(&fqdn(&z.to_ascii_lowercase())) {
                problems.push(format!("{at}.zone: `{}` is not inside zone `{z}`", c.name));
            }
        }
        let ttl = c.ttl.map(|n| n.0);
        in_range(problems, &format!("{at}.ttl"), ttl, 0, 2_147_483_647);
    }
}

/// The security groups it names (by name; ids are not references).
pub fn references(spec: &LoadBalancerSpec) -> Vec<Reference> {
    let groups = spec.security_groups.iter().flat_map(|g| g.0.iter());
    refs::security_group::by_name(groups, "security_groups").collect()
}

/// Each of `cnames` becomes a `DnsRecord` CNAME named by its DNS name (lower case, with the
/// trailing dot, as Route 53 keeps it), whose value `loadbalancer:<region>/<name>` the
/// DnsRecord kind resolves through this kind's `dns_name` fact. The record is global (Route
/// 53), so it names the load balancer's region: the same name may exist in another region.
pub fn expand(name: &str, spec: &LoadBalancerSpec, region: &str) -> Vec<Derived> {
    spec.cnames
        .iter()
        .map(|c| {
            let dns = fqdn(&c.name.to_ascii_lowercase());
            let mut record = serde_json::json!({
                "name": dns,
                "type": "CNAME",
                "ttl": c.ttl.map_or(DEFAULT_CNAME_TTL, |t| t.0),
                "values": [format!("loadbalancer:{region}/{name}")],
            });
            if let (Some(zone), Some(fields)) = (&c.zone, record.as_object_mut()) {
                fields.insert("zone".into(), zone.clone().into());
            }
            Derived {
                kind: refs::dns_record::KIND,
                name: dns,
                spec: record,
            }
        })
        .collect()
}
