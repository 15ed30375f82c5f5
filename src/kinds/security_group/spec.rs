//! The spec as written (Salt's `boto_secgroup` forms) and its checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rules::{canonical_protocol, ipv4_network, ipv6_network, ipv6_text};
use crate::core::Reference;
use crate::kinds::common::scalar::{one_or_many, opt_string_or_number, string_or_number};
use crate::kinds::common::{refs, tags};

/// The `spec` of a `kind: SecurityGroup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {
    /// Required; cannot change once the group exists.
    pub description: String,
    /// The VPC; the region's default VPC when absent. Cannot change once the group exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// The VPC by its `Name` tag (Salt's `vpc_name`), resolved in AWS at every sweep; instead
    /// of `vpc_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_name: Option<String>,
    /// Ingress rules: the complete set (absent = none).
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Egress rules: the complete set when written; egress is not managed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_egress: Option<Vec<RuleSpec>>,
    /// The group's complete tag set (plus `converge:managed-by`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The groups its rules name (a group of the same account: another account's group is not
/// desired here).
pub fn references(spec: &SecurityGroupSpec) -> Vec<Reference> {
    spec.rules
        .iter()
        .chain(spec.rules_egress.iter().flatten())
        .filter(|r| r.source_group_owner_id.is_none())
        .filter_map(|r| r.source_group_name.clone())
        .map(|name| Reference {
            kind: refs::security_group::KIND,
            name,
            region: None,
            field: "rules",
        })
        .collect()
}

/// One rule as written, in Salt's `boto_secgroup` form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `all` / `-1`, or a protocol number.
    #[serde(deserialize_with = "string_or_number")]
    pub ip_protocol: String,
    /// First port (tcp, udp) or ICMP type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// Last port (tcp, udp) or ICMP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// IPv4 CIDR blocks: one string or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cidr_ip: Vec<String>,
    /// IPv6 CIDR blocks: one string or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cidr_ipv6: Vec<String>,
    /// A source (or, for egress, destination) group by id.
    #[serde(
        default,
        alias = "source_group_group_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_group_id: Option<String>,
    /// A source (or destination) group by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group_name: Option<String>,
    /// The account that owns the source group (a number or, in EC2-Classic, e.g. `amazon-elb`).
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_group_owner_id: Option<String>,
}

/// Characters AWS allows in a VPC security group's name and description.
fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// Checks a group name as AWS would; `field` prefixes the message.
pub(super) fn validate_group_name(field: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("{field}`{name}` must be 1 to 255 characters long"));
    }
    if name.to_ascii_lowercase().starts_with("sg-") {
        return Err(format!(
            "{field}`{name}` must not start with `sg-` (AWS keeps that prefix for group ids)"
        ));
    }
    if !name.chars().all(allowed_char) {
        return Err(format!(
            "{field}`{name}` may contain only letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$*"
        ));
    }
    Ok(())
}

/// The checks beyond the schema; each message names its field.
pub(super) fn validate(spec: &SecurityGroupSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let d = &spec.description;
    if d.trim().is_empty() || d.len() > 255 {
        problems.push("description: must be 1 to 255 characters long".to_string());
    } else if !d.chars().all(allowed_char) {
        problems.push(format!(
            "description: `{d}` may contain only letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$*"
        ));
    }
    if let Some(v) = &spec.vpc_id {
        if !v.starts_with("vpc-") || v.len() < 5 {
            problems.push(format!("vpc_id: `{v}` is not a VPC id (vpc-...)"));
        }
    }
    match &spec.vpc_name {
        Some(_) if spec.vpc_id.is_some() => {
            problems.push("vpc_name: write vpc_id or vpc_name, not both".to_string())
        }
        Some(n) if n.trim().is_empty() => problems.push("vpc_name: must not be empty".to_string()),
        _ => {}
    }
    for (i, r) in spec.rules.iter().enumerate() {
        validate_rule(&format!("rules[{i}]"), r, &mut problems);
    }
    for (i, r) in spec.rules_egress.iter().flatten().enumerate() {
        validate_rule(&format!("rules_egress[{i}]"), r, &mut problems);
    }
    tags::check_map(&spec.tags, &mut problems);
    problems
}

fn validate_rule(path: &str, r: &RuleSpec, problems: &mut Vec<String>) {
    // Each port (or ICMP type and code) written out of `lo..=hi`: `<field>: <v> must be <what>`.
    let mut out_of = |lo: i32, hi: i32, what: &str| {
        for (field, v) in [("from_port", r.from_port), ("to_port", r.to_port)] {
            if let Some(v) = v.filter(|v| !(lo..=hi).contains(v)) {
                problems.push(format!("{path}.{field}: {v} must be {what}"));
            }
        }
    };
    match canonical_protocol(&r.ip_protocol).as_deref() {
        None => problems.push(format!(
            "{path}.ip_protocol: `{}` must be tcp, udp, icmp, icmpv6, all (or -1) or a protocol number from 0 to 255",
            r.ip_protocol
        )),
        Some(p @ ("tcp" | "udp")) => match (r.from_port, r.to_port) {
            (Some(f), Some(t)) => {
                out_of(0, 65535, "a port from 0 to 65535");
                if f > t {
                    problems.push(format!(
                        "{path}.from_port: {f} is greater than to_port {t}"
                    ));
                }
            }
            _ => problems.push(format!(
                "{path}: a {p} rule needs from_port and to_port"
            )),
        },
        Some("icmp" | "icmpv6") => out_of(
            -1,
            255,
            "an ICMP type or code from 0 to 255, or -1 for all",
        ),
        Some(_) => {}
    }
    let sources = [
        !r.cidr_ip.is_empty(),
        !r.cidr_ipv6.is_empty(),
        r.source_group_id.is_some(),
        r.source_group_name.is_some(),
    ]
    .into_iter()
    .filter(|s| *s)
    .count();
    if sources != 1 {
        problems.push(format!(
            "{path}: give exactly one source: cidr_ip, cidr_ipv6, source_group_id or source_group_name"
        ));
    }
    for c in &r.cidr_ip {
        match ipv4_network(c) {
            None => problems.push(format!(
                "{path}.cidr_ip: `{c}` is not an IPv4 CIDR block such as 10.0.0.0/8"
            )),
            Some(n) if n != c.trim() => problems.push(format!(
                "{path}.cidr_ip: `{c}` has bits set beyond its prefix; AWS stores it as {n}, write that"
            )),
            Some(_) => {}
        }
    }
    for c in &r.cidr_ipv6 {
        match ipv6_network(c) {
            None => problems.push(format!(
                "{path}.cidr_ipv6: `{c}` is not an IPv6 CIDR block such as 2001:db8::/32"
            )),
            Some(n) if n != ipv6_text(c) => problems.push(format!(
                "{path}.cidr_ipv6: `{c}` has bits set beyond its prefix; AWS stores it as {n}, write that"
            )),
            Some(_) => {}
        }
    }
    if let Some(id) = &r.source_group_id {
        if !id.starts_with("sg-") || id.len() < 4 {
            problems.push(format!(
                "{path}.source_group_id: `{id}` is not a security group id (sg-...); use source_group_name for a name"
            ));
        }
    }
    if let Some(n) = &r.source_group_name {
        if let Err(p) = validate_group_name(&format!("{path}.source_group_name: "), n) {
            problems.push(p);
        }
    }
    if let Some(o) = &r.source_group_owner_id {
        if r.source_group_name.is_none() && r.source_group_id.is_none() {
            problems.push(format!(
                "{path}.source_group_owner_id: only with source_group_name or source_group_id"
            ));
        }
        if o.chars().all(|c| c.is_ascii_digit()) && o.len() != 12 {
            problems.push(format!(
                "{path}.source_group_owner_id: `{o}` is not a 12-digit account id (quote account ids in YAML so leading zeros are kept)"
            ));
        }
        if o.is_empty() {
            problems.push(format!("{path}.source_group_owner_id: must not be empty"));
        }
    }
}
