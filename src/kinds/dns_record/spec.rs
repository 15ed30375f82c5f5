//! The spec of a `kind: DnsRecord` as manifests write it, and its checks.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::ownership::{owner_record_name, OWNER_PREFIX};
use super::values::{in_zone, normalise_name, normalise_value, zone_id};
use crate::core::shard::validate_region;
use crate::core::Reference;
use crate::kinds::common::refs;
use crate::kinds::common::validate::in_range;

/// The TTL of a record whose spec gives none (Salt's default too).
pub const DEFAULT_TTL: i64 = 300;
const MAX_TTL: i64 = 2_147_483_647;
/// Longest DNS name Route 53 accepts, dots included.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// A value or alias target naming a classic load balancer.
pub const LB_PREFIX: &str = "loadbalancer:";
/// A `loadbalancer:[<region>/]<name>` reference: (region, name). The region is needed when the
/// name is not unique in the account (a record is global, load balancers are regional).
pub fn lb_ref(value: &str) -> Option<(Option<&str>, &str)> {
    let r = value.trim().strip_prefix(LB_PREFIX)?;
    Some(match r.split_once('/') {
        Some((region, name)) => (Some(region), name),
        None => (None, r),
    })
}

/// The load balancers the record names.
pub fn references(spec: &DnsRecordSpec) -> Vec<Reference> {
    let alias = spec
        .alias
        .iter()
        .map(|a| (a.target.as_str(), "alias.target"));
    let values = spec.values.iter().flatten().map(|v| (v.as_str(), "values"));
    alias
        .chain(values)
        .filter_map(|(v, field)| {
            let (region, name) = lb_ref(v)?;
            Some(Reference {
                kind: refs::load_balancer::KIND,
                name: name.to_string(),
                region: region.map(str::to_string),
                field,
            })
        })
        .collect()
}

/// Record types converge manages (SOA belongs to the hosted zone).
const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];

/// The `spec` of a `kind: DnsRecord`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordSpec {
    /// Hosted zone name (`example.com.`) or id (`Z123...`); default: the longest matching zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The DNS name; default: the resource's metadata name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Record type: `A`, `AAAA`, `CNAME`, `TXT`, `MX`, ...
    #[serde(rename = "type")]
    pub record_type: String,
    /// Seconds; default 300. Not for alias records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The record's values, compared as a set. Either `values` or `alias`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// An alias to an AWS resource or another record. Either `values` or `alias`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasSpec>,
}

/// `spec.alias`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasSpec {
    /// A DNS name, or `loadbalancer:<name>`.
    pub target: String,
    /// The target's hosted zone id; default: the load balancer's zone for `loadbalancer:`
    /// targets, else the record's own zone (an alias to another record of the zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    #[serde(default)]
    pub evaluate_target_health: bool,
}

impl DnsRecordSpec {
    /// The DNS name this resource manages: lower case, with the trailing dot.
    pub fn record_name(&self, resource: &str) -> String {
        normalise_name(self.name.as_deref().unwrap_or(resource))
    }

    /// The record type in upper case.
    pub fn record_type(&self) -> String {
        self.record_type.trim().to_ascii_uppercase()
    }

    pub fn ttl(&self) -> i64 {
        self.ttl.unwrap_or(DEFAULT_TTL)
    }
}

/// A label of a DNS name: letters, digits, `-`, `_`; `*` alone as the leftmost label.
fn check_label(label: &str, leftmost: bool) -> Result<(), String> {
    if label.is_empty() {
        return Err("has an empty label (`..`)".to_string());
    }
    if label.len() > MAX_LABEL {
        return Err(format!(
            "has a label of {} characters (`{label}`); at most {MAX_LABEL}",
            label.len()
        ));
    }
    if label == "*" {
        return if leftmost {
            Ok(())
        } else {
            Err("may have `*` only as its leftmost label".to_string())
        };
    }
    if !label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "label `{label}` may contain only letters, digits, `-` and `_` (a leading `*` label \
             is a wildcard)"
        ));
    }
    Ok(())
}

/// Checks a DNS name (normalised): length and labels; the message names the problem.
fn check_dns_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("is empty".to_string());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "is {} characters long; at most {MAX_NAME}",
            name.len()
        ));
    }
    for (i, label) in bare.split('.').enumerate() {
        check_label(label, i == 0)?;
    }
    Ok(())
}

/// Checks the name of a managed record: a DNS name that leaves room for its ownership record.
fn check_record_name(name: &str, rtype: &str) -> Result<(), String> {
    check_dns_name(name)?;
    if name.starts_with(OWNER_PREFIX) {
        return Err(format!(
            "starts with `{OWNER_PREFIX}`, which converge reserves for ownership records"
        ));
    }
    let room = owner_record_name(rtype, name).len();
    if room > MAX_NAME {
        return Err(format!(
            "is {} characters long; with converge's ownership record `{}` in front it would be \
             {room}, over DNS's {MAX_NAME}",
            name.len(),
            owner_record_name(rtype, "")
        ));
    }
    Ok(())
}

/// The metadata name: by default also the DNS name, and written into the ownership record.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "DnsRecord name `{name}` must be 1 to {MAX_NAME} characters long"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*'))
    {
        return Err(format!(
            "DnsRecord name `{name}` may contain only letters, digits, `-`, `_`, `.` and `*`"
        ));
    }
    Ok(())
}

/// The checks beyond the schema; each message names its field.
pub fn validate(name: &str, spec: &DnsRecordSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let rtype = spec.record_type();
    let field = if spec.name.is_some() {
        "name"
    } else {
        "name (from metadata.name)"
    };
    let rname = spec.record_name(name);
    if rtype == "SOA" {
        problems.push(
            "type: SOA records belong to their hosted zone; converge does not manage them"
                .to_string(),
        );
    } else if !TYPES.contains(&rtype.as_str()) {
        problems.push(format!(
            "type: `{}` is not a record type Route 53 supports; one of {}",
            spec.record_type,
            TYPES.join(", ")
        ));
    }
    if let Err(e) = check_record_name(&rname, &rtype) {
        problems.push(format!("{field}: `{rname}` {e}"));
    }
    if let Some(zone) = &spec.zone {
        let z = zone.trim();
        if z.is_empty() {
            problems.push(
                "zone: must not be empty (omit it to use the longest matching hosted zone)"
                    .to_string(),
            );
        } else if z.trim_end_matches('.').contains('.') {
            // A zone name (a zone id has no dots): the record must be inside it.
            let zname = normalise_name(z);
            if !in_zone(&rname, &zname) {
                problems.push(format!(
                    "zone: record name `{rname}` is not inside zone `{zname}`"
                ));
            }
        }
    }
    in_range(&mut problems, "ttl", spec.ttl, 0, MAX_TTL);
    match (&spec.values, &spec.alias) {
        (Some(_), Some(_)) => {
            problems.push("values, alias: give one of them, not both".to_string())
        }
        (None, None) => problems.push("values: required (or an alias)".to_string()),
        (None, Some(alias)) => {
            if spec.ttl.is_some() {
                problems.push(
                    "ttl: an alias record has no TTL (Route 53 uses the target's)".to_string(),
                );
            }
            check_alias(alias, &mut problems);
        }
        (Some(values), None) => check_values(&rtype, values, &mut problems),
    }
    problems
}

fn check_alias(alias: &AliasSpec, problems: &mut Vec<String>) {
    let t = alias.target.trim();
    match lb_ref(t) {
        Some((_, "")) => {
            problems.push("alias.target: `loadbalancer:` needs a load balancer name".into())
        }
        Some((Some(region), _)) => {
            if let Err(e) = validate_region(region) {
                problems.push(format!("alias.target: {e}"));
            }
        }
        Some(_) => {}
        None if t.is_empty() => problems.push("alias.target: must not be empty".to_string()),
        None => {
            if let Err(e) = check_dns_name(&normalise_name(t)) {
                problems.push(format!("alias.target: `{t}` {e}"));
            }
        }
    }
    if alias
        .hosted_zone_id
        .as_deref()
        .is_some_and(|h| zone_id(h).is_empty())
    {
        problems.push("alias.hosted_zone_id: must not be empty".to_string());
    }
}

fn check_values(rtype: &str, values: &[String], problems: &mut Vec<String>) {
    if values.is_empty() {
        problems.push("values: at least one value is required".to_string());
    }
    if rtype == "CNAME" && values.len() > 1 {
        problems.push(format!(
            "values: a CNAME record has exactly one value, not {}",
            values.len()
        ));
    }
    let mut seen = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        let t = v.trim();
        if t.is_empty() {
            problems.push(format!("values[{i}]: must not be empty"));
            continue;
        }
        if let Some((region, lb)) = lb_ref(t) {
            if let Some(Err(e)) = region.map(validate_region) {
                problems.push(format!("values[{i}]: {e}"));
            } else if lb.is_empty() {
                problems.push(format!(
                    "values[{i}]: `loadbalancer:` needs a load balancer name"
                ));
            } else if rtype != "CNAME" {
                problems.push(format!(
                    "values[{i}]: `{t}` is a DNS name: use type CNAME, or an alias for type \
                     {rtype}"
                ));
            }
            continue;
        }
        let bad = match rtype {
            "A" => t
                .parse::<Ipv4Addr>()
                .err()
                .map(|_| "is not an IPv4 address".to_string()),
            "AAAA" => t
                .parse::<Ipv6Addr>()
                .err()
                .map(|_| "is not an IPv6 address".to_string()),
            "CNAME" | "NS" | "PTR" => check_dns_name(&normalise_name(t)).err(),
            "MX" => {
                let w: Vec<&str> = t.split_whitespace().collect();
                let ok = w.len() == 2 && w[0].parse::<u16>().is_ok();
                (!ok).then(|| "must be `<priority 0-65535> <mail server>`".to_string())
            }
            _ => None,
        };
        if let Some(e) = bad {
            problems.push(format!("values[{i}]: `{t}` {e}"));
        }
        if let Some(j) = seen.insert(normalise_value(rtype, t), i) {
            problems.push(format!("values[{i}]: the same value as values[{j}]"));
        }
    }
}
