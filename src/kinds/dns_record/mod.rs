//! `kind: DnsRecord` — a Route 53 record set (simple routing) and its ownership record.
//!
//! Spec fields follow Salt's `boto_route53.present` where they exist (`name`, `zone`, `ttl`,
//! `type`); `values` is a list and `alias` an alias target. The DNS name is `name`, or the
//! resource's metadata name, normalised to a lower-case FQDN with its trailing dot. The hosted
//! zone is `zone` (a zone name such as `example.com.` or a zone id such as `Z123...`), or, when
//! omitted, the hosted zone with the longest name that contains the record name.
//!
//! A value (or an alias target) written `loadbalancer:<name>` is the DNS name of that classic
//! load balancer, read from the facts the `LoadBalancer` kind publishes (`dns_name`, and
//! `hosted_zone_id` for an alias); until it is known the record waits for
//! `LoadBalancer/<name>`.
//!
//! **Ownership.** Record sets carry no tags, so ownership is recorded the way external-dns does
//! it: in a TXT record, whose value is
//! `"heritage=converge,owner=<controller id>,resource=<metadata name>"`. It lives at
//! `_converge-owner.<type in lower case>.<record name>`:
//! - a name of its own, never the record's: a CNAME cannot share its name with a TXT record;
//! - one per type, so an `A` and an `MX` record at the same name have separate owners;
//! - a child of the record name, so it is inside the same hosted zone (the apex included);
//! - the prefix is reserved: record names starting with `_converge-owner.` are refused, and
//!   the record name must leave room for the prefix within DNS's 255 characters.
//!
//! The record and its ownership TXT are always written (UPSERT) in one
//! `ChangeResourceRecordSets` batch and deleted in one batch (with their exact current values,
//! as Route 53 requires), so they cannot diverge. An existing record without an ownership
//! record is adopted (the TXT is added); one whose TXT names another controller is left alone.
//! Records this resource owns elsewhere (after a change of `name`, `type` or `zone`) are
//! deleted, in the same batch as the new record when they are in the same zone.
//!
//! **Reads.** One paginated `ListHostedZones` per sweep, then one paginated whole-zone
//! `ListResourceRecordSets` walk per hosted zone holding desired records (every hosted zone
//! with `--prune`, to find owned records), shared by all records of that zone. Route 53 allows
//! about five requests per second per account: the client-side pacing in `src/aws/pacing.rs`
//! (default `route53=5`, `--rate-limit`) keeps every Route 53 request below that.
//!
//! Only simple-routing record sets (without a set identifier) are managed; weighted, latency,
//! failover and geolocation record sets are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use aws_sdk_route53::types::{
    AliasTarget, Change as SdkChange, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    RrType,
};
use serde::{Deserialize, Serialize};

use super::common::refs;
use crate::aws::{classify, Clients};
use crate::core::schema::TagStyle;
use crate::core::{Action, Change, ErrorClass, Fact, FieldChange, KindError, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// Route 53 codes that retrying will not fix.
const TERMINAL: &[&str] = &[
    "InvalidChangeBatch",
    "InvalidInput",
    "InvalidDomainName",
    "InvalidArgument",
    "NoSuchHealthCheck",
];

/// The first labels of every ownership record's name.
pub const OWNER_PREFIX: &str = "_converge-owner.";
/// The first field of an ownership record's value.
const HERITAGE: &str = "heritage=converge";
/// The TTL of ownership records.
const OWNERSHIP_TTL: i64 = 300;
/// The TTL of a record whose spec gives none (Salt's default too).
pub const DEFAULT_TTL: i64 = 300;
const MAX_TTL: i64 = 2_147_483_647;
/// Longest DNS name Route 53 accepts, dots included.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// A value or alias target naming a classic load balancer.
const LB_PREFIX: &str = "loadbalancer:";
/// Record types converge manages (SOA belongs to the hosted zone).
const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];
/// The largest pages Route 53 serves.
const RECORDS_PAGE: i32 = 300;
const ZONES_PAGE: i32 = 100;
/// Longer value lists are summarised in plans and the audit log.
const SHOW_VALUES_MAX: usize = 200;

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

/// A hosted zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Without the `/hostedzone/` prefix.
    pub id: String,
    /// Normalised, with the trailing dot.
    pub name: String,
}

/// One record set, as Route 53 returned it (or as converge will write it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSet {
    /// The name exactly as Route 53 returned it: sent back verbatim in a DELETE.
    pub raw_name: String,
    /// Lower case, unescaped, with the trailing dot.
    pub name: String,
    pub record_type: String,
    pub ttl: Option<i64>,
    /// Exactly as returned (a DELETE must repeat them).
    pub values: Vec<String>,
    pub alias: Option<Alias>,
    pub set_identifier: Option<String>,
    pub health_check_id: Option<String>,
}

/// An alias target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub target: String,
    pub hosted_zone_id: String,
    pub evaluate_target_health: bool,
}

/// A parsed ownership record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub owner: String,
    /// The metadata name of the resource that owns the record.
    pub resource: String,
    /// The TXT record itself (for a DELETE).
    pub record: RecordSet,
}

/// A record (or a lone ownership record) claimed for a resource somewhere other than where
/// its spec puts it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub zone: Zone,
    pub record: Option<RecordSet>,
    pub ownership: Ownership,
}

/// A DnsRecord as observed: the hosted zone its spec resolves to, what is at its name and
/// type there, and what else it owns.
///
/// For a desired resource an entry exists as soon as its zone is known, whether or not the
/// record exists (`record: None`): the zone is what `diff` needs to create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDnsRecord {
    /// The hosted zone, or what is awaited (`HostedZone/example.com.`) when it is unknown.
    pub zone: Result<Zone, String>,
    /// The record set at the spec's name and type, if any.
    pub record: Option<RecordSet>,
    /// Its ownership record, if any.
    pub ownership: Option<Ownership>,
    /// Other records whose ownership record names this resource.
    pub elsewhere: Vec<Claimed>,
}

/// One `ChangeResourceRecordSets` call: DELETEs first, then UPSERTs, in one atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub zone: Zone,
    pub delete: Vec<RecordSet>,
    pub upsert: Vec<RecordSet>,
    /// What the batch changes, for plans, status and the audit log.
    pub fields: Vec<FieldChange>,
}

/// One DnsRecord mutation (always one batch in one zone).
#[derive(Debug, Clone, PartialEq)]
pub enum DnsRecordChange {
    /// UPSERT the record and its ownership record (and DELETE what this resource owned at
    /// another name or type in the zone).
    Create(Batch),
    /// UPSERT the changed record and its ownership record.
    Update(Batch),
    /// Adopt: UPSERT the ownership record only.
    Tag(Batch),
    /// DELETE records this resource owns but no longer wants.
    Remove(Batch),
}

impl DnsRecordChange {
    pub fn batch(&self) -> &Batch {
        match self {
            DnsRecordChange::Create(b)
            | DnsRecordChange::Update(b)
            | DnsRecordChange::Tag(b)
            | DnsRecordChange::Remove(b) => b,
        }
    }
}

impl Change for DnsRecordChange {
    fn action(&self) -> Action {
        match self {
            DnsRecordChange::Create(_) => Action::Create,
            DnsRecordChange::Update(_) => Action::Update,
            DnsRecordChange::Tag(_) => Action::Tag,
            DnsRecordChange::Remove(_) => Action::Delete,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        self.batch().fields.clone()
    }
}

/// The Route 53 record kind.
pub struct DnsRecord {
    client: aws_sdk_route53::Client,
}

impl DnsRecord {
    pub fn new(clients: &Clients) -> Self {
        DnsRecord {
            client: clients.route53.clone(),
        }
    }

    /// Every hosted zone of the account (paginated).
    async fn list_zones(&self) -> Result<Vec<Zone>, KindError> {
        let mut zones = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_hosted_zones()
                .max_items(ZONES_PAGE)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify("ListHostedZones", "(all hosted zones)", &e, TERMINAL))?;
            zones.extend(page.hosted_zones().iter().map(|z| Zone {
                id: zone_id(z.id()),
                name: normalise_name(z.name()),
            }));
            if !page.is_truncated() {
                return Ok(zones);
            }
            match page.next_marker() {
                Some(m) if Some(m) != marker.as_deref() => marker = Some(m.to_string()),
                _ => {
                    return Err(KindError::new(
                        ErrorClass::Retryable,
                        "ListHostedZones (all hosted zones): a truncated page without a new \
                         NextMarker; the listing is incomplete",
                    ))
                }
            }
        }
    }

    /// Every record set of one zone (paginated).
    async fn walk(&self, zone: &Zone) -> Result<Vec<RecordSet>, KindError> {
        let mut out = Vec::new();
        let mut start: Option<(String, RrType, Option<String>)> = None;
        loop {
            let mut req = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&zone.id)
                .max_items(RECORDS_PAGE);
            if let Some((name, rtype, ident)) = &start {
                req = req
                    .start_record_name(name)
                    .start_record_type(rtype.clone())
                    .set_start_record_identifier(ident.clone());
            }
            let page = req.send().await.map_err(|e| {
                classify(
                    "ListResourceRecordSets",
                    &format!("zone {} ({})", zone.name, zone.id),
                    &e,
                    TERMINAL,
                )
            })?;
            out.extend(page.resource_record_sets().iter().map(record_from_sdk));
            if !page.is_truncated() {
                return Ok(out);
            }
            let next = match (page.next_record_name(), page.next_record_type()) {
                (Some(n), Some(t)) => (
                    n.to_string(),
                    t.clone(),
                    page.next_record_identifier().map(String::from),
                ),
                _ => {
                    return Err(KindError::new(
                        ErrorClass::Retryable,
                        format!(
                            "ListResourceRecordSets zone {}: a truncated page without \
                             NextRecordName; the listing is incomplete",
                            zone.name
                        ),
                    ))
                }
            };
            if start.as_ref() == Some(&next) {
                return Err(KindError::new(
                    ErrorClass::Retryable,
                    format!(
                        "ListResourceRecordSets zone {}: the next page starts where the last \
                         one did; the listing is incomplete",
                        zone.name
                    ),
                ));
            }
            start = Some(next);
        }
    }

    /// Sends one batch (nothing when it is empty).
    async fn send(&self, resource: &str, batch: &Batch) -> Result<(), KindError> {
        let what = format!("{resource} (zone {})", batch.zone.name);
        let build = |e: aws_sdk_route53::error::BuildError| {
            KindError::new(
                ErrorClass::Terminal,
                format!("ChangeResourceRecordSets {what}: request could not be built: {e}"),
            )
        };
        let mut changes = Vec::new();
        for (action, records) in [
            (ChangeAction::Delete, &batch.delete),
            (ChangeAction::Upsert, &batch.upsert),
        ] {
            for r in records {
                changes.push(
                    SdkChange::builder()
                        .action(action.clone())
                        .resource_record_set(record_to_sdk(r).map_err(build)?)
                        .build()
                        .map_err(build)?,
                );
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let comment: String = format!("converge DnsRecord {resource}")
            .chars()
            .take(256)
            .collect();
        let batch_sdk = ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(changes))
            .build()
            .map_err(build)?;
        self.client
            .change_resource_record_sets()
            .hosted_zone_id(&batch.zone.id)
            .change_batch(batch_sdk)
            .send()
            .await
            .map_err(|e| classify("ChangeResourceRecordSets", &what, &e, TERMINAL))?;
        Ok(())
    }
}

fn record_from_sdk(rs: &ResourceRecordSet) -> RecordSet {
    RecordSet {
        raw_name: rs.name().to_string(),
        name: normalise_name(rs.name()),
        record_type: rs.r#type().as_str().to_string(),
        ttl: rs.ttl(),
        values: rs
            .resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect(),
        alias: rs.alias_target().map(|a| Alias {
            target: a.dns_name().to_string(),
            hosted_zone_id: a.hosted_zone_id().to_string(),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        set_identifier: rs.set_identifier().map(String::from),
        health_check_id: rs.health_check_id().map(String::from),
    }
}

fn record_to_sdk(r: &RecordSet) -> Result<ResourceRecordSet, aws_sdk_route53::error::BuildError> {
    let mut b = ResourceRecordSet::builder()
        .name(&r.raw_name)
        .r#type(RrType::from(r.record_type.as_str()))
        .set_ttl(r.ttl)
        .set_health_check_id(r.health_check_id.clone());
    if let Some(id) = &r.set_identifier {
        b = b.set_identifier(id);
    }
    if !r.values.is_empty() {
        let values = r
            .values
            .iter()
            .map(|v| ResourceRecord::builder().value(v).build())
            .collect::<Result<Vec<_>, _>>()?;
        b = b.set_resource_records(Some(values));
    }
    if let Some(a) = &r.alias {
        b = b.alias_target(
            AliasTarget::builder()
                .dns_name(&a.target)
                .hosted_zone_id(&a.hosted_zone_id)
                .evaluate_target_health(a.evaluate_target_health)
                .build()?,
        );
    }
    b.build()
}

// ---------------------------------------------------------------------------------------------
// Names, values and ownership records (pure).

/// A zone id without the `/hostedzone/` prefix.
pub fn zone_id(id: &str) -> String {
    id.trim()
        .strip_prefix("/hostedzone/")
        .unwrap_or(id.trim())
        .to_string()
}

/// A DNS name as converge compares it: octal escapes (`\052`) decoded, lower case, with the
/// trailing dot.
pub fn normalise_name(name: &str) -> String {
    let mut out = unescape_octal(name.trim()).to_ascii_lowercase();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Decodes Route 53's `\ddd` octal escapes.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(v) = octal_at(b, i) {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte encoded by a `\ddd` escape starting at `i`, if there is one.
fn octal_at(b: &[u8], i: usize) -> Option<u8> {
    if b.get(i) != Some(&b'\\') {
        return None;
    }
    let digits = b.get(i + 1..i + 4)?;
    if !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
    u8::try_from(v).ok()
}

/// True when `name` is `zone` or inside it (both normalised).
fn in_zone(name: &str, zone: &str) -> bool {
    zone == "." || name == zone || name.ends_with(&format!(".{zone}"))
}

/// The character strings of a TXT value: `"a b" "c"` → `["a b", "c"]`; unquoted text is one
/// string per whitespace-separated word; `\"`, `\\` and `\ddd` are decoded.
pub fn parse_txt(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let mut strings = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = b[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut cur = Vec::new();
        while i < b.len() {
            let c = b[i];
            if quoted && c == b'"' {
                i += 1;
                break;
            }
            if !quoted && c.is_ascii_whitespace() {
                break;
            }
            if c == b'\\' {
                if let Some(v) = octal_at(b, i) {
                    cur.push(v);
                    i += 4;
                    continue;
                }
                if let Some(&next) = b.get(i + 1) {
                    cur.push(next);
                    i += 2;
                    continue;
                }
            }
            cur.push(c);
            i += 1;
        }
        strings.push(String::from_utf8_lossy(&cur).into_owned());
    }
    strings
}

/// Renders character strings as a TXT value: each quoted, `"` and `\` escaped, control
/// characters as `\ddd`.
pub fn render_txt(strings: &[String]) -> String {
    strings
        .iter()
        .map(|s| {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\{:03o}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits text into TXT character strings of at most 255 bytes.
fn txt_chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if cur.len() + c.len_utf8() > 255 {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// A TXT value as written in a spec: quoted text (`'"v=spf1 -all"'`) is taken as DNS
/// character strings; unquoted text is one string (split every 255 bytes).
fn txt_value(value: &str) -> String {
    if value.trim_start().starts_with('"') {
        render_txt(&parse_txt(value))
    } else {
        render_txt(&txt_chunks(value))
    }
}

fn collapse_whitespace(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value as converge writes and compares it, for a record of type `rtype`.
pub fn normalise_value(rtype: &str, value: &str) -> String {
    let v = value.trim();
    match rtype {
        "A" => v
            .parse::<Ipv4Addr>()
            .map_or_else(|_| v.to_string(), |a| a.to_string()),
        "AAAA" => v
            .parse::<Ipv6Addr>()
            .map_or_else(|_| v.to_ascii_lowercase(), |a| a.to_string()),
        "CNAME" | "NS" | "PTR" => normalise_name(v),
        "TXT" | "SPF" => txt_value(v),
        "MX" | "SRV" => {
            // `priority host` / `priority weight port host`: numbers as numbers, the host as
            // a name.
            let words: Vec<&str> = v.split_whitespace().collect();
            let host_at = if rtype == "MX" { 1 } else { 3 };
            if words.len() != host_at + 1 {
                return collapse_whitespace(v);
            }
            let mut out: Vec<String> = words[..host_at]
                .iter()
                .map(|w| {
                    w.parse::<u32>()
                        .map_or_else(|_| w.to_string(), |n| n.to_string())
                })
                .collect();
            out.push(normalise_name(words[host_at]));
            out.join(" ")
        }
        _ => collapse_whitespace(v),
    }
}

/// The name of the ownership record of the `rtype` record at `name`.
pub fn owner_record_name(rtype: &str, name: &str) -> String {
    format!("{OWNER_PREFIX}{}.{name}", rtype.to_ascii_lowercase())
}

/// The record (name, TYPE) an ownership record's name refers to.
pub fn owned_slot(owner_record: &str) -> Option<(String, String)> {
    let rest = owner_record.strip_prefix(OWNER_PREFIX)?;
    let (rtype, name) = rest.split_once('.')?;
    if rtype.is_empty() || name.is_empty() {
        return None;
    }
    Some((name.to_string(), rtype.to_ascii_uppercase()))
}

/// The text of an ownership record.
pub fn ownership_text(owner: &str, resource: &str) -> String {
    format!("{HERITAGE},owner={owner},resource={resource}")
}

/// `(owner, resource)` from an ownership record's text.
pub fn parse_ownership(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix(HERITAGE)?.strip_prefix(",owner=")?;
    // Resource names cannot contain `,` (see `validate_name`); owners might.
    let (owner, resource) = rest.rsplit_once(",resource=")?;
    if owner.is_empty() || resource.is_empty() {
        return None;
    }
    Some((owner.to_string(), resource.to_string()))
}

impl Ownership {
    /// Reads an ownership record (a TXT record at an `_converge-owner.` name).
    pub fn from_record(r: &RecordSet) -> Option<Ownership> {
        if r.record_type != "TXT" || !r.name.starts_with(OWNER_PREFIX) {
            return None;
        }
        r.values.iter().find_map(|v| {
            let (owner, resource) = parse_ownership(&parse_txt(v).concat())?;
            Some(Ownership {
                owner,
                resource,
                record: r.clone(),
            })
        })
    }
}

/// The ownership record converge writes for `resource`'s `rtype` record at `name`.
fn ownership_record(rtype: &str, name: &str, owner: &str, resource: &str) -> RecordSet {
    let owner_name = owner_record_name(rtype, name);
    RecordSet {
        raw_name: owner_name.clone(),
        name: owner_name,
        record_type: "TXT".to_string(),
        ttl: Some(OWNERSHIP_TTL),
        values: vec![render_txt(&txt_chunks(&ownership_text(owner, resource)))],
        ..RecordSet::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Zones and observation (pure parts).

/// The hosted zone of a record: by id or name when `selector` is given, else the zone with
/// the longest name containing `record_name`. `Err` names what is awaited.
pub fn resolve_zone(
    zones: &[Zone],
    selector: Option<&str>,
    record_name: &str,
) -> Result<Zone, String> {
    let (wanted, candidates): (String, Vec<&Zone>) = match selector {
        Some(sel) => {
            let id = zone_id(sel);
            if let Some(z) = zones.iter().find(|z| z.id == id) {
                return Ok(z.clone());
            }
            let name = normalise_name(sel);
            let c = zones.iter().filter(|z| z.name == name).collect();
            (name, c)
        }
        None => {
            let longest = zones
                .iter()
                .filter(|z| in_zone(record_name, &z.name))
                .map(|z| z.name.len())
                .max();
            let Some(len) = longest else {
                return Err(format!("HostedZone/(a zone containing {record_name})"));
            };
            let c: Vec<&Zone> = zones
                .iter()
                .filter(|z| z.name.len() == len && in_zone(record_name, &z.name))
                .collect();
            (c.first().map(|z| z.name.clone()).unwrap_or_default(), c)
        }
    };
    match candidates.as_slice() {
        [] => Err(format!("HostedZone/{wanted}")),
        [one] => Ok((*one).clone()),
        many => Err(format!(
            "HostedZone/{wanted} (ambiguous: {} hosted zones have this name: {}; give spec.zone \
             as a zone id)",
            many.len(),
            many.iter()
                .map(|z| z.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Record sets and ownership records of one zone, by (name, TYPE).
#[derive(Default)]
struct ZoneIndex {
    records: BTreeMap<(String, String), RecordSet>,
    owners: BTreeMap<(String, String), Ownership>,
}

/// Builds the observation from the zones walked.
///
/// Each desired resource gets the entry of its (zone, name, type), existing or not. Ownership
/// records elsewhere naming a desired resource are attached to it (`elsewhere`); the others
/// are keyed by the resource they name, for pruning, when all of them agree on the owner
/// (records of two controllers claiming one resource name are left out: never pruned).
fn assemble(
    desired: &BTreeMap<String, DnsRecordSpec>,
    slots: &BTreeMap<String, Result<Zone, String>>,
    walked: Vec<(Zone, Vec<RecordSet>)>,
) -> Observed<LiveDnsRecord> {
    let mut index: BTreeMap<String, (Zone, ZoneIndex)> = BTreeMap::new();
    for (zone, sets) in walked {
        let idx = &mut index
            .entry(zone.id.clone())
            .or_insert_with(|| (zone, ZoneIndex::default()))
            .1;
        for rs in sets {
            if rs.set_identifier.is_some() {
                continue;
            }
            if let (Some(slot), Some(own)) = (owned_slot(&rs.name), Ownership::from_record(&rs)) {
                idx.owners.insert(slot, own);
                continue;
            }
            idx.records
                .insert((rs.name.clone(), rs.record_type.clone()), rs);
        }
    }

    let mut out = Observed::new();
    let mut claimed: BTreeMap<(String, String, String), &String> = BTreeMap::new();
    for (key, spec) in desired {
        let slot = (spec.record_name(key), spec.record_type());
        let mut zone = slots
            .get(key)
            .cloned()
            .unwrap_or_else(|| Err(format!("HostedZone/(a zone containing {})", slot.0)));
        let (mut record, mut ownership) = (None, None);
        if let Ok(z) = &zone {
            let at = (z.id.clone(), slot.0.clone(), slot.1.clone());
            if let Some(first) = claimed.get(&at) {
                zone = Err(format!(
                    "DnsRecord/{first} to give up {} {} (two resources manage it)",
                    slot.1, slot.0
                ));
            } else {
                claimed.insert(at, key);
                if let Some((_, idx)) = index.get(&z.id) {
                    record = idx.records.get(&slot).cloned();
                    ownership = idx.owners.get(&slot).cloned();
                }
            }
        }
        out.insert(
            key.clone(),
            LiveDnsRecord {
                zone,
                record,
                ownership,
                elsewhere: Vec::new(),
            },
        );
    }

    let mut groups: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
    for (zid, (zone, idx)) in &index {
        for (slot, own) in &idx.owners {
            if claimed.contains_key(&(zid.clone(), slot.0.clone(), slot.1.clone())) {
                continue;
            }
            let c = Claimed {
                zone: zone.clone(),
                record: idx.records.get(slot).cloned(),
                ownership: own.clone(),
            };
            match out.get_mut(&own.resource) {
                Some(live) if desired.contains_key(&own.resource) => live.elsewhere.push(c),
                _ => groups.entry(own.resource.clone()).or_default().push(c),
            }
        }
    }
    for (resource, mut items) in groups {
        let owners: BTreeSet<&str> = items.iter().map(|c| c.ownership.owner.as_str()).collect();
        if owners.len() != 1 {
            tracing::debug!(kind = "DnsRecord", resource = %resource, "records of several controllers claim this resource name; none is pruned");
            continue;
        }
        let first = items.remove(0);
        out.insert(
            resource,
            LiveDnsRecord {
                zone: Ok(first.zone),
                record: first.record,
                ownership: Some(first.ownership),
                elsewhere: items,
            },
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Diff helpers (pure).

/// A fact of a load balancer, or the wait for it.
fn lb_fact(ctx: &DiffCtx<'_>, lb: &str, fact: Fact) -> Result<String, Waiting> {
    ctx.fact(fact, lb)
        .map(String::from)
        .ok_or_else(|| Waiting::on(refs::load_balancer::KIND, lb))
}

/// The record set the spec asks for, references resolved.
fn desired_record(
    ctx: &DiffCtx<'_>,
    name: &str,
    spec: &DnsRecordSpec,
    zone: &Zone,
) -> Result<RecordSet, Waiting> {
    let rname = spec.record_name(name);
    let rtype = spec.record_type();
    let mut r = RecordSet {
        raw_name: rname.clone(),
        name: rname,
        record_type: rtype.clone(),
        ..RecordSet::default()
    };
    if let Some(alias) = &spec.alias {
        let (target, hosted_zone_id) = match alias.target.trim().strip_prefix(LB_PREFIX) {
            Some(lb) => {
                let dns = lb_fact(ctx, lb, refs::load_balancer::DNS_NAME)?;
                let hz = match &alias.hosted_zone_id {
                    Some(h) => h.clone(),
                    None => lb_fact(ctx, lb, refs::load_balancer::HOSTED_ZONE_ID)?,
                };
                (dns, hz)
            }
            None => (
                alias.target.clone(),
                alias
                    .hosted_zone_id
                    .clone()
                    .unwrap_or_else(|| zone.id.clone()),
            ),
        };
        r.alias = Some(Alias {
            target: normalise_name(&target),
            hosted_zone_id: zone_id(&hosted_zone_id),
            evaluate_target_health: alias.evaluate_target_health,
        });
    } else {
        let mut values = BTreeSet::new();
        for v in spec.values.iter().flatten() {
            let v = match v.trim().strip_prefix(LB_PREFIX) {
                Some(lb) => lb_fact(ctx, lb, refs::load_balancer::DNS_NAME)?,
                None => v.clone(),
            };
            values.insert(normalise_value(&rtype, &v));
        }
        r.values = values.into_iter().collect();
        r.ttl = Some(spec.ttl());
    }
    Ok(r)
}

/// Values for a plan: joined, or summarised when long.
fn show_values(values: &[String]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let joined = values.join(", ");
    if joined.len() > SHOW_VALUES_MAX {
        Some(format!(
            "<{} value(s), {} bytes>",
            values.len(),
            joined.len()
        ))
    } else {
        Some(joined)
    }
}

fn alias_fields(from: Option<&Alias>, to: Option<&Alias>) -> Vec<FieldChange> {
    let parts = |a: &Alias| {
        [
            normalise_name(&a.target),
            zone_id(&a.hosted_zone_id),
            a.evaluate_target_health.to_string(),
        ]
    };
    let (f, t) = (from.map(parts), to.map(parts));
    [
        "alias.target",
        "alias.hosted_zone_id",
        "alias.evaluate_target_health",
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, field)| {
        let (a, b) = (
            f.as_ref().map(|p| p[i].clone()),
            t.as_ref().map(|p| p[i].clone()),
        );
        (a != b).then(|| FieldChange::new(field, a, b))
    })
    .collect()
}

/// What differs between the live record and the desired one.
fn record_fields(have: &RecordSet, want: &RecordSet) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if have.ttl != want.ttl {
        out.push(FieldChange::new(
            "ttl",
            have.ttl.map(|t| t.to_string()),
            want.ttl.map(|t| t.to_string()),
        ));
    }
    let rtype = want.record_type.as_str();
    let have_values: BTreeSet<String> = have
        .values
        .iter()
        .map(|v| normalise_value(rtype, v))
        .collect();
    let want_values: BTreeSet<String> = want.values.iter().cloned().collect();
    if have_values != want_values {
        let h: Vec<String> = have_values.into_iter().collect();
        out.push(FieldChange::new(
            "values",
            show_values(&h),
            show_values(&want.values),
        ));
    }
    out.extend(alias_fields(have.alias.as_ref(), want.alias.as_ref()));
    out
}

/// Fields of a record being created.
fn new_fields(zone: &Zone, want: &RecordSet, ownership: &str) -> Vec<FieldChange> {
    let mut out = vec![
        FieldChange::new("zone", None, Some(format!("{} ({})", zone.name, zone.id))),
        FieldChange::new("name", None, Some(want.name.clone())),
        FieldChange::new("type", None, Some(want.record_type.clone())),
    ];
    if let Some(ttl) = want.ttl {
        out.push(FieldChange::new("ttl", None, Some(ttl.to_string())));
    }
    if !want.values.is_empty() {
        out.push(FieldChange::new("values", None, show_values(&want.values)));
    }
    out.extend(alias_fields(None, want.alias.as_ref()));
    out.push(FieldChange::new(
        "ownership",
        None,
        Some(ownership.to_string()),
    ));
    out
}

/// Fields of records being deleted.
fn delete_fields(records: &[RecordSet]) -> Vec<FieldChange> {
    records
        .iter()
        .map(|r| {
            let what = show_values(&r.values)
                .or_else(|| r.alias.as_ref().map(|a| format!("alias {}", a.target)));
            FieldChange::new(format!("{} {}", r.record_type, r.name), what, None)
        })
        .collect()
}

/// The record and ownership record of claimed entries, to delete.
fn claimed_records<'a>(items: impl IntoIterator<Item = &'a Claimed>) -> Vec<RecordSet> {
    items
        .into_iter()
        .flat_map(|c| c.record.iter().cloned().chain([c.ownership.record.clone()]))
        .collect()
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

impl Schema for DnsRecord {
    const NAME: &'static str = refs::dns_record::KIND;
    const TAGS: TagStyle = TagStyle::None;
    type Spec = DnsRecordSpec;

    /// The metadata name: by default also the DNS name, and written into the ownership record.
    fn validate_name(name: &str) -> Result<(), String> {
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

    fn validate(name: &str, spec: &DnsRecordSpec) -> Vec<String> {
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
        if let Some(ttl) = spec.ttl {
            if !(0..=MAX_TTL).contains(&ttl) {
                problems.push(format!("ttl: {ttl} must be from 0 to {MAX_TTL}"));
            }
        }
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
                let t = alias.target.trim();
                match t.strip_prefix(LB_PREFIX) {
                    Some("") => problems
                        .push("alias.target: `loadbalancer:` needs a load balancer name".into()),
                    Some(_) => {}
                    None if t.is_empty() => {
                        problems.push("alias.target: must not be empty".to_string())
                    }
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
            (Some(values), None) => {
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
                    if let Some(lb) = t.strip_prefix(LB_PREFIX) {
                        if lb.is_empty() {
                            problems.push(format!(
                                "values[{i}]: `loadbalancer:` needs a load balancer name"
                            ));
                        } else if rtype != "CNAME" {
                            problems.push(format!(
                                "values[{i}]: `{t}` is a DNS name: use type CNAME, or an alias \
                                 for type {rtype}"
                            ));
                        }
                        continue;
                    }
                    let bad = match rtype.as_str() {
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
                    if let Some(j) = seen.insert(normalise_value(&rtype, t), i) {
                        problems.push(format!("values[{i}]: the same value as values[{j}]"));
                    }
                }
            }
        }
        problems
    }
}

impl Kind for DnsRecord {
    type Live = LiveDnsRecord;
    type Change = DnsRecordChange;

    async fn observe(
        &self,
        scope: &Scope<'_, DnsRecordSpec>,
    ) -> Result<Observed<LiveDnsRecord>, KindError> {
        if scope.desired.is_empty() && !scope.all {
            return Ok(Observed::new());
        }
        let zones = self.list_zones().await?;
        let slots: BTreeMap<String, Result<Zone, String>> = scope
            .desired
            .iter()
            .map(|(name, spec)| {
                let rname = spec.record_name(name);
                (
                    name.clone(),
                    resolve_zone(&zones, spec.zone.as_deref(), &rname),
                )
            })
            .collect();
        let to_walk: Vec<Zone> = if scope.all {
            zones
        } else {
            let mut seen = BTreeMap::new();
            for z in slots.values().flatten() {
                seen.entry(z.id.clone()).or_insert_with(|| z.clone());
            }
            seen.into_values().collect()
        };
        let mut walked = Vec::with_capacity(to_walk.len());
        for zone in to_walk {
            let sets = self.walk(&zone).await?;
            walked.push((zone, sets));
        }
        Ok(assemble(scope.desired, &slots, walked))
    }

    fn owner(live: &LiveDnsRecord) -> Option<&str> {
        live.ownership.as_ref().map(|o| o.owner.as_str())
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &DnsRecordSpec,
        live: Option<&LiveDnsRecord>,
    ) -> Result<Vec<DnsRecordChange>, Waiting> {
        let rname = desired.record_name(name);
        let rtype = desired.record_type();
        let Some(live) = live else {
            return Err(Waiting {
                waiting_for: match &desired.zone {
                    Some(z) => format!("HostedZone/{}", z.trim()),
                    None => format!("HostedZone/(a zone containing {rname})"),
                },
            });
        };
        let zone = live.zone.as_ref().map_err(|w| Waiting {
            waiting_for: w.clone(),
        })?;
        let mut want = desired_record(ctx, name, desired, zone)?;
        let text = ownership_text(ctx.controller_id, name);
        let owner_rec = ownership_record(&rtype, &rname, ctx.controller_id, name);

        // What this resource owns elsewhere: deleted, in the same batch when in this zone.
        let ours = live
            .elsewhere
            .iter()
            .filter(|c| c.ownership.owner == ctx.controller_id);
        let (here, away): (Vec<&Claimed>, Vec<&Claimed>) = ours.partition(|c| c.zone == *zone);
        let here = claimed_records(here);

        let mut changes = Vec::new();
        match &live.record {
            None => {
                let mut fields = new_fields(zone, &want, &text);
                fields.extend(delete_fields(&here));
                changes.push(DnsRecordChange::Create(Batch {
                    zone: zone.clone(),
                    delete: here,
                    upsert: vec![want, owner_rec],
                    fields,
                }));
            }
            Some(have) => {
                let owned = live
                    .ownership
                    .as_ref()
                    .is_some_and(|o| o.owner == ctx.controller_id && o.resource == name);
                if !owned {
                    changes.push(DnsRecordChange::Tag(Batch {
                        zone: zone.clone(),
                        delete: Vec::new(),
                        upsert: vec![owner_rec.clone()],
                        fields: vec![FieldChange::new(
                            "ownership",
                            live.ownership
                                .as_ref()
                                .map(|o| ownership_text(&o.owner, &o.resource)),
                            Some(text.clone()),
                        )],
                    }));
                }
                // Attributes converge does not manage are kept.
                want.health_check_id = have.health_check_id.clone();
                let fields = record_fields(have, &want);
                if !fields.is_empty() {
                    let mut fields = fields;
                    fields.extend(delete_fields(&here));
                    changes.push(DnsRecordChange::Update(Batch {
                        zone: zone.clone(),
                        delete: here,
                        upsert: vec![want, owner_rec],
                        fields,
                    }));
                } else if !here.is_empty() {
                    changes.push(DnsRecordChange::Remove(Batch {
                        zone: zone.clone(),
                        fields: delete_fields(&here),
                        delete: here,
                        upsert: Vec::new(),
                    }));
                }
            }
        }

        let mut by_zone: BTreeMap<String, (Zone, Vec<&Claimed>)> = BTreeMap::new();
        for c in away {
            by_zone
                .entry(c.zone.id.clone())
                .or_insert_with(|| (c.zone.clone(), Vec::new()))
                .1
                .push(c);
        }
        for (zone, items) in by_zone.into_values() {
            let delete = claimed_records(items);
            changes.push(DnsRecordChange::Remove(Batch {
                zone,
                fields: delete_fields(&delete),
                delete,
                upsert: Vec::new(),
            }));
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveDnsRecord>,
        change: &DnsRecordChange,
    ) -> Result<(), KindError> {
        self.send(name, change.batch()).await
    }

    async fn delete(&self, name: &str, live: &LiveDnsRecord) -> Result<(), KindError> {
        let mut by_zone: BTreeMap<String, Batch> = BTreeMap::new();
        let mut add = |zone: &Zone, records: Vec<RecordSet>| {
            by_zone
                .entry(zone.id.clone())
                .or_insert_with(|| Batch {
                    zone: zone.clone(),
                    delete: Vec::new(),
                    upsert: Vec::new(),
                    fields: Vec::new(),
                })
                .delete
                .extend(records);
        };
        if let Ok(zone) = &live.zone {
            let records = live
                .record
                .iter()
                .cloned()
                .chain(live.ownership.iter().map(|o| o.record.clone()))
                .collect();
            add(zone, records);
        }
        for c in &live.elsewhere {
            add(&c.zone, claimed_records([c]));
        }
        for batch in by_zone.values() {
            self.send(name, batch).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DesiredResource, DesiredSet, Origin};
    use crate::engine::facts::Snapshot;

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    fn ctx(facts: &Snapshot) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: "test",
            facts,
            desired: &EMPTY,
        }
    }

    fn spec(yaml: &str) -> DnsRecordSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn zone(id: &str, name: &str) -> Zone {
        Zone {
            id: id.into(),
            name: name.into(),
        }
    }

    fn example() -> Zone {
        zone("Z1", "example.com.")
    }

    fn rec(name: &str, rtype: &str, ttl: i64, values: &[&str]) -> RecordSet {
        RecordSet {
            raw_name: name.into(),
            name: normalise_name(name),
            record_type: rtype.into(),
            ttl: Some(ttl),
            values: values.iter().map(|v| v.to_string()).collect(),
            ..RecordSet::default()
        }
    }

    fn owner_txt(rtype: &str, name: &str, owner: &str, resource: &str) -> RecordSet {
        ownership_record(rtype, name, owner, resource)
    }

    fn owned(rtype: &str, name: &str, owner: &str, resource: &str) -> Option<Ownership> {
        Ownership::from_record(&owner_txt(rtype, name, owner, resource))
    }

    fn live(record: Option<RecordSet>, ownership: Option<Ownership>) -> LiveDnsRecord {
        LiveDnsRecord {
            zone: Ok(example()),
            record,
            ownership,
            elsewhere: Vec::new(),
        }
    }

    fn lb_facts(lb: &str) -> Snapshot {
        let mut f = Snapshot::new();
        f.entry("LoadBalancer".into()).or_default().insert(
            lb.into(),
            BTreeMap::from([
                (
                    "dns_name".to_string(),
                    "MyLB-123.us-east-1.elb.amazonaws.com".to_string(),
                ),
                ("hosted_zone_id".to_string(), "Z35SXDOTRQ7X7K".to_string()),
            ]),
        );
        f
    }

    fn desired_with(kind: &str, name: &str) -> DesiredSet {
        let mut d = DesiredSet::default();
        d.resources.entry(kind.into()).or_default().insert(
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
        d
    }

    #[test]
    fn names_are_normalised_to_lower_case_fqdns() {
        assert_eq!(normalise_name("WWW.Example.COM"), "www.example.com.");
        assert_eq!(normalise_name("www.example.com."), "www.example.com.");
        assert_eq!(normalise_name("\\052.example.com."), "*.example.com.");
        let s = spec("type: cname\nvalues: [a.example.org]\n");
        assert_eq!(s.record_name("App.Example.com"), "app.example.com.");
        assert_eq!(s.record_type(), "CNAME");
        let s = spec("name: Other.Example.com\ntype: A\nvalues: [192.0.2.1]\n");
        assert_eq!(s.record_name("ignored"), "other.example.com.");
        assert_eq!(zone_id("/hostedzone/Z123"), "Z123");
    }

    #[test]
    fn a_missing_record_is_created_with_its_ownership_record_in_one_batch() {
        let f = Snapshot::new();
        let s = spec("type: CNAME\nvalues: [Target.Example.org]\n");
        let changes =
            DnsRecord::diff(&ctx(&f), "www.example.com.", &s, Some(&live(None, None))).unwrap();
        assert_eq!(changes.len(), 1);
        let DnsRecordChange::Create(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(b.zone, example());
        assert!(b.delete.is_empty());
        assert_eq!(b.upsert.len(), 2);
        assert_eq!(b.upsert[0].name, "www.example.com.");
        assert_eq!(b.upsert[0].record_type, "CNAME");
        assert_eq!(b.upsert[0].ttl, Some(300));
        assert_eq!(b.upsert[0].values, vec!["target.example.org."]);
        assert_eq!(b.upsert[1].name, "_converge-owner.cname.www.example.com.");
        assert_eq!(b.upsert[1].record_type, "TXT");
        assert_eq!(
            b.upsert[1].values,
            vec!["\"heritage=converge,owner=test,resource=www.example.com.\""]
        );
        let shown: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
        assert!(
            shown.contains(&"values: (none) → target.example.org.".to_string()),
            "{shown:?}"
        );
        assert_eq!(changes[0].action(), Action::Create);
    }

    #[test]
    fn values_compare_as_normalised_sets() {
        let f = Snapshot::new();
        let own = |t: &str, n: &str| owned(t, n, "test", n);
        let cases: Vec<(&str, &str, RecordSet)> = vec![
            (
                "a.example.com.",
                "type: A\nvalues: [192.0.2.2, 192.0.2.1]\n",
                rec("a.example.com.", "A", 300, &["192.0.2.1", "192.0.2.2"]),
            ),
            (
                "c.example.com.",
                "type: CNAME\nvalues: [Target.example.ORG]\n",
                rec("c.example.com.", "CNAME", 300, &["target.example.org"]),
            ),
            (
                "v6.example.com.",
                "type: AAAA\nvalues: ['2001:DB8:0:0::1']\n",
                rec("v6.example.com.", "AAAA", 300, &["2001:db8::1"]),
            ),
            (
                "t.example.com.",
                "type: TXT\nttl: 60\nvalues: ['v=spf1 -all', '\"two\" \"strings\"']\n",
                rec(
                    "t.example.com.",
                    "TXT",
                    60,
                    &["\"two\" \"strings\"", "\"v=spf1 -all\""],
                ),
            ),
            (
                "m.example.com.",
                "type: MX\nvalues: ['10   Mail.example.com']\n",
                rec("m.example.com.", "MX", 300, &["10 mail.example.com."]),
            ),
        ];
        for (name, yaml, have) in cases {
            let l = live(Some(have.clone()), own(&have.record_type, name));
            let changes = DnsRecord::diff(&ctx(&f), name, &spec(yaml), Some(&l)).unwrap();
            assert_eq!(changes, vec![], "{name}: {yaml}");
        }
    }

    #[test]
    fn a_changed_value_or_ttl_is_upserted_with_the_ownership_record() {
        let f = Snapshot::new();
        let n = "a.example.com.";
        let l = live(
            Some(rec(n, "A", 60, &["192.0.2.1", "192.0.2.9"])),
            owned("A", n, "test", n),
        );
        let s = spec("type: A\nvalues: [192.0.2.1, 192.0.2.2]\n");
        let changes = DnsRecord::diff(&ctx(&f), n, &s, Some(&l)).unwrap();
        assert_eq!(changes.len(), 1);
        let DnsRecordChange::Update(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(b.upsert[0].values, vec!["192.0.2.1", "192.0.2.2"]);
        assert_eq!(b.upsert[0].ttl, Some(300));
        assert_eq!(b.upsert[1].name, "_converge-owner.a.a.example.com.");
        let shown: Vec<String> = b.fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "ttl: 60 → 300".to_string(),
                "values: 192.0.2.1, 192.0.2.9 → 192.0.2.1, 192.0.2.2".to_string()
            ]
        );
    }

    #[test]
    fn switching_between_values_and_alias_is_an_update() {
        let f = Snapshot::new();
        let n = "a.example.com.";
        let l = live(
            Some(rec(n, "A", 300, &["192.0.2.1"])),
            owned("A", n, "test", n),
        );
        let s = spec("type: A\nalias: {target: b.example.com}\n");
        let changes = DnsRecord::diff(&ctx(&f), n, &s, Some(&l)).unwrap();
        let DnsRecordChange::Update(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        let want = &b.upsert[0];
        assert_eq!(want.ttl, None);
        assert!(want.values.is_empty());
        assert_eq!(
            want.alias,
            Some(Alias {
                target: "b.example.com.".into(),
                // An alias to another record: the record's own zone by default.
                hosted_zone_id: "Z1".into(),
                evaluate_target_health: false,
            })
        );
        let shown: Vec<String> = b.fields.iter().map(|f| f.to_string()).collect();
        assert!(
            shown.contains(&"ttl: 300 → (none)".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"alias.target: (none) → b.example.com.".to_string()),
            "{shown:?}"
        );

        // And the same alias, live, is in sync (AWS's trailing dot and case are no difference).
        let mut have = rec(n, "A", 0, &[]);
        have.ttl = None;
        have.alias = Some(Alias {
            target: "B.example.com".into(),
            hosted_zone_id: "/hostedzone/Z1".into(),
            evaluate_target_health: false,
        });
        let l = live(Some(have), owned("A", n, "test", n));
        assert_eq!(DnsRecord::diff(&ctx(&f), n, &s, Some(&l)).unwrap(), vec![]);
    }

    #[test]
    fn an_unowned_record_is_adopted_and_then_corrected() {
        let f = Snapshot::new();
        let n = "www.example.com.";
        let s = spec("type: CNAME\nvalues: [new.example.org.]\n");
        let l = live(Some(rec(n, "CNAME", 300, &["new.example.org."])), None);
        let changes = DnsRecord::diff(&ctx(&f), n, &s, Some(&l)).unwrap();
        assert_eq!(changes.len(), 1);
        let DnsRecordChange::Tag(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(b.upsert.len(), 1);
        assert_eq!(b.upsert[0].name, "_converge-owner.cname.www.example.com.");
        assert_eq!(
            b.fields[0].to_string(),
            "ownership: (none) → heritage=converge,owner=test,resource=www.example.com."
        );

        let l = live(Some(rec(n, "CNAME", 300, &["old.example.org."])), None);
        let changes = DnsRecord::diff(&ctx(&f), n, &s, Some(&l)).unwrap();
        let actions: Vec<Action> = changes.iter().map(Change::action).collect();
        assert_eq!(actions, vec![Action::Tag, Action::Update]);
    }

    #[test]
    fn an_ownership_record_naming_another_resource_of_ours_is_rewritten() {
        let f = Snapshot::new();
        let n = "www.example.com.";
        let s = spec("name: www.example.com.\ntype: CNAME\nvalues: [x.example.org.]\n");
        let l = live(
            Some(rec(n, "CNAME", 300, &["x.example.org."])),
            owned("CNAME", n, "test", "old-name"),
        );
        let changes = DnsRecord::diff(&ctx(&f), "www", &s, Some(&l)).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "ownership: heritage=converge,owner=test,resource=old-name → heritage=converge,owner=test,resource=www"
        );
    }

    #[test]
    fn ownership_records_parse_and_reject_foreign_text() {
        assert_eq!(
            parse_ownership("heritage=converge,owner=ctl,a,resource=www.example.com."),
            Some(("ctl,a".to_string(), "www.example.com.".to_string()))
        );
        assert_eq!(parse_ownership("heritage=external-dns,owner=x"), None);
        assert_eq!(parse_ownership("heritage=converge,owner=,resource=x"), None);
        assert_eq!(
            owned_slot("_converge-owner.cname.www.example.com."),
            Some(("www.example.com.".to_string(), "CNAME".to_string()))
        );
        assert_eq!(owned_slot("www.example.com."), None);
        // Route 53 may split and escape the value; it still parses.
        let mut r = rec(
            "_converge-owner.a.x.example.com.",
            "TXT",
            300,
            &["\"heritage=converge,owner=my\\040ctl\" \",resource=x\""],
        );
        let o = Ownership::from_record(&r).unwrap();
        assert_eq!((o.owner.as_str(), o.resource.as_str()), ("my ctl", "x"));
        // A TXT at an ownership name that is not ours is no ownership.
        r.values = vec!["\"hello\"".into()];
        assert_eq!(Ownership::from_record(&r), None);
        // Quoting round-trips through escapes.
        let s = vec!["a \"b\" \\c".to_string()];
        assert_eq!(parse_txt(&render_txt(&s)), s);
        // Long ownership values are split into 255-byte strings.
        let long = ownership_record("A", "x.", &"o".repeat(300), "x");
        assert_eq!(parse_txt(&long.values[0]).len(), 2);
        assert_eq!(
            Ownership::from_record(&long).unwrap().owner,
            "o".repeat(300)
        );
    }

    #[test]
    fn zones_resolve_by_id_name_or_longest_match() {
        let zones = vec![
            zone("Z1", "example.com."),
            zone("Z2", "sub.example.com."),
            zone("Z3", "other.org."),
            zone("Z4", "twin.net."),
            zone("Z5", "twin.net."),
        ];
        let r = |sel: Option<&str>, name: &str| resolve_zone(&zones, sel, name);
        assert_eq!(r(None, "a.sub.example.com.").unwrap().id, "Z2");
        assert_eq!(r(None, "sub.example.com.").unwrap().id, "Z2");
        assert_eq!(r(None, "a.xsub.example.com.").unwrap().id, "Z1");
        assert_eq!(r(None, "example.com.").unwrap().id, "Z1");
        assert_eq!(
            r(Some("example.com"), "a.sub.example.com.").unwrap().id,
            "Z1"
        );
        assert_eq!(r(Some("/hostedzone/Z3"), "x.other.org.").unwrap().id, "Z3");
        assert_eq!(r(Some("Z3"), "x.other.org.").unwrap().id, "Z3");
        assert_eq!(
            r(None, "x.nowhere.io.").unwrap_err(),
            "HostedZone/(a zone containing x.nowhere.io.)"
        );
        assert_eq!(
            r(Some("missing.io."), "x.missing.io.").unwrap_err(),
            "HostedZone/missing.io."
        );
        let e = r(None, "a.twin.net.").unwrap_err();
        assert!(e.starts_with("HostedZone/twin.net. (ambiguous"), "{e}");
        assert!(e.contains("Z4, Z5"), "{e}");
    }

    #[test]
    fn an_unknown_zone_is_waited_for() {
        let f = Snapshot::new();
        let s = spec("zone: example.com.\ntype: A\nvalues: [192.0.2.1]\n");
        let p = DnsRecord::diff(&ctx(&f), "a.example.com.", &s, None).unwrap_err();
        assert_eq!(p.waiting_for, "HostedZone/example.com.");
        let l = LiveDnsRecord {
            zone: Err("HostedZone/example.com.".into()),
            record: None,
            ownership: None,
            elsewhere: Vec::new(),
        };
        let p = DnsRecord::diff(&ctx(&f), "a.example.com.", &s, Some(&l)).unwrap_err();
        assert_eq!(p.waiting_for, "HostedZone/example.com.");
    }

    #[test]
    fn a_load_balancer_value_waits_for_its_dns_name_and_then_resolves() {
        let n = "myapp-testing.example.com.";
        // Exactly what the LoadBalancer kind derives from its `cnames`.
        let v = serde_json::json!({
            "zone": null,
            "name": n,
            "type": "CNAME",
            "ttl": 300,
            "values": ["loadbalancer:myapp-testing-useast1"]
        });
        let s: DnsRecordSpec = serde_json::from_value(v).unwrap();
        assert!(DnsRecord::validate_name(n).is_ok());
        assert_eq!(DnsRecord::validate(n, &s), Vec::<String>::new());
        let roundtrip: DnsRecordSpec =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(roundtrip.values, s.values);

        let none = Snapshot::new();
        let desired = desired_with("LoadBalancer", "myapp-testing-useast1");
        let c = DiffCtx {
            controller_id: "test",
            facts: &none,
            desired: &desired,
        };
        let p = DnsRecord::diff(&c, n, &s, Some(&live(None, None))).unwrap_err();
        assert_eq!(p.waiting_for, "LoadBalancer/myapp-testing-useast1");
        // Not desired and not found: its name cannot be resolved either.
        let p = DnsRecord::diff(&ctx(&none), n, &s, Some(&live(None, None))).unwrap_err();
        assert_eq!(p.waiting_for, "LoadBalancer/myapp-testing-useast1");

        let f = lb_facts("myapp-testing-useast1");
        let changes = DnsRecord::diff(&ctx(&f), n, &s, Some(&live(None, None))).unwrap();
        let DnsRecordChange::Create(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(
            b.upsert[0].values,
            vec!["mylb-123.us-east-1.elb.amazonaws.com."]
        );
    }

    #[test]
    fn a_load_balancer_alias_takes_its_zone_from_the_facts() {
        let f = lb_facts("lb");
        let s = spec("type: A\nalias: {target: 'loadbalancer:lb', evaluate_target_health: true}\n");
        let changes =
            DnsRecord::diff(&ctx(&f), "x.example.com.", &s, Some(&live(None, None))).unwrap();
        let DnsRecordChange::Create(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(
            b.upsert[0].alias,
            Some(Alias {
                target: "mylb-123.us-east-1.elb.amazonaws.com.".into(),
                hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                evaluate_target_health: true,
            })
        );
    }

    #[test]
    fn a_type_change_deletes_the_old_record_in_the_same_batch() {
        let f = Snapshot::new();
        let n = "www.example.com.";
        let old = rec(n, "A", 300, &["192.0.2.1"]);
        let old_owner = owned("A", n, "test", n).unwrap();
        let mut l = live(None, None);
        l.elsewhere.push(Claimed {
            zone: example(),
            record: Some(old.clone()),
            ownership: old_owner.clone(),
        });
        // Another controller's claim is never touched.
        l.elsewhere.push(Claimed {
            zone: example(),
            record: None,
            ownership: owned("MX", n, "someone-else", n).unwrap(),
        });
        // Ours in another zone: removed in that zone's own batch.
        let other = zone("Z9", "example.net.");
        let far = rec("www.example.net.", "CNAME", 300, &["x.example.com."]);
        l.elsewhere.push(Claimed {
            zone: other.clone(),
            record: Some(far.clone()),
            ownership: owned("CNAME", "www.example.net.", "test", n).unwrap(),
        });
        let s = spec("type: CNAME\nvalues: [lb.example.org.]\n");
        let changes = DnsRecord::diff(&ctx(&f), n, &s, Some(&l)).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        let DnsRecordChange::Create(b) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(b.delete, vec![old, old_owner.record]);
        assert_eq!(b.upsert[0].record_type, "CNAME");
        let DnsRecordChange::Remove(b) = &changes[1] else {
            panic!("{changes:?}")
        };
        assert_eq!(b.zone, other);
        assert_eq!(b.delete[0], far);
        assert_eq!(changes[1].action(), Action::Delete);
    }

    #[test]
    fn observation_keys_records_by_resource_and_claims_desired_slots() {
        let ex = example();
        let desired: BTreeMap<String, DnsRecordSpec> = BTreeMap::from([
            (
                "www.example.com.".to_string(),
                spec("type: CNAME\nvalues: [a.example.org.]\n"),
            ),
            (
                "api".to_string(),
                spec("name: api.example.com.\ntype: A\nvalues: [192.0.2.1]\n"),
            ),
            (
                "lost".to_string(),
                spec("zone: nowhere.io.\nname: x.nowhere.io.\ntype: A\nvalues: [192.0.2.1]\n"),
            ),
        ]);
        let slots = BTreeMap::from([
            ("www.example.com.".to_string(), Ok(ex.clone())),
            ("api".to_string(), Ok(ex.clone())),
            (
                "lost".to_string(),
                Err("HostedZone/nowhere.io.".to_string()),
            ),
        ]);
        let mut weighted = rec("api.example.com.", "A", 60, &["192.0.2.7"]);
        weighted.set_identifier = Some("blue".into());
        let sets = vec![
            rec("example.com.", "NS", 172800, &["ns-1.awsdns.com."]),
            // www: ours.
            rec("www.example.com.", "CNAME", 300, &["a.example.org."]),
            owner_txt("CNAME", "www.example.com.", "ctl", "www.example.com."),
            // api: unowned, plus a weighted set (ignored).
            rec("api.example.com.", "A", 300, &["192.0.2.1"]),
            weighted,
            // old: ours and no longer desired.
            rec("old.example.com.", "A", 300, &["192.0.2.3"]),
            owner_txt("A", "old.example.com.", "ctl", "old"),
            // A lone ownership record of ours for `api` at another type: api owns it.
            owner_txt("MX", "api.example.com.", "ctl", "api"),
            // Two controllers claim `dup`: never pruned.
            rec("d1.example.com.", "A", 300, &["192.0.2.4"]),
            owner_txt("A", "d1.example.com.", "ctl", "dup"),
            rec("d2.example.com.", "A", 300, &["192.0.2.5"]),
            owner_txt("A", "d2.example.com.", "other", "dup"),
            // Unowned and not desired: not observed.
            rec("stray.example.com.", "A", 300, &["192.0.2.6"]),
        ];
        let out = assemble(&desired, &slots, vec![(ex.clone(), sets)]);
        assert_eq!(
            out.keys().cloned().collect::<Vec<_>>(),
            vec!["api", "lost", "old", "www.example.com."]
        );
        let www = &out["www.example.com."];
        assert_eq!(DnsRecord::owner(www), Some("ctl"));
        assert_eq!(www.record.as_ref().unwrap().values, vec!["a.example.org."]);
        let api = &out["api"];
        assert_eq!(DnsRecord::owner(api), None);
        assert_eq!(api.record.as_ref().unwrap().ttl, Some(300));
        assert_eq!(api.elsewhere.len(), 1);
        assert_eq!(api.elsewhere[0].record, None);
        assert!(out["lost"].zone.is_err());
        let old = &out["old"];
        assert_eq!(DnsRecord::owner(old), Some("ctl"));
        assert_eq!(old.record.as_ref().unwrap().name, "old.example.com.");
    }

    #[test]
    fn two_resources_for_one_record_are_reported() {
        let ex = example();
        let s = spec("name: www.example.com.\ntype: A\nvalues: [192.0.2.1]\n");
        let desired = BTreeMap::from([("a".to_string(), s.clone()), ("b".to_string(), s)]);
        let slots = BTreeMap::from([
            ("a".to_string(), Ok(ex.clone())),
            ("b".to_string(), Ok(ex.clone())),
        ]);
        let out = assemble(&desired, &slots, vec![(ex, Vec::new())]);
        assert!(out["a"].zone.is_ok());
        let e = out["b"].zone.clone().unwrap_err();
        assert!(
            e.starts_with("DnsRecord/a to give up A www.example.com."),
            "{e}"
        );
    }

    #[test]
    fn long_values_are_summarised_in_plans() {
        let f = Snapshot::new();
        let key = format!("v=DKIM1; k=rsa; p={}", "A".repeat(400));
        let s = DnsRecordSpec {
            record_type: "TXT".into(),
            values: Some(vec![key]),
            ..DnsRecordSpec::default()
        };
        let changes = DnsRecord::diff(
            &ctx(&f),
            "k._domainkey.example.com.",
            &s,
            Some(&live(None, None)),
        )
        .unwrap();
        let v = changes[0]
            .fields()
            .into_iter()
            .find(|f| f.field == "values")
            .unwrap();
        assert!(v.to.as_deref().unwrap().starts_with("<1 value(s), "), "{v}");
        // Split into 255-byte strings for Route 53.
        let DnsRecordChange::Create(b) = &changes[0] else {
            panic!()
        };
        assert_eq!(parse_txt(&b.upsert[0].values[0]).len(), 2);
    }

    #[test]
    fn validation_names_the_field() {
        let p = |name: &str, yaml: &str| DnsRecord::validate(name, &spec(yaml));
        assert!(p("www.example.com.", "type: CNAME\nvalues: [a.example.org]\n").is_empty());
        let cases: &[(&str, &str, &str)] = &[
            (
                "x.example.com.",
                "type: BOGUS\nvalues: [a]\n",
                "type: `BOGUS` is not",
            ),
            (
                "x.example.com.",
                "type: SOA\nvalues: [a]\n",
                "type: SOA records",
            ),
            (
                "x.example.com.",
                "type: CNAME\nvalues: [a.org, b.org]\n",
                "exactly one value",
            ),
            ("x.example.com.", "type: A\n", "values: required"),
            (
                "x.example.com.",
                "type: A\nvalues: []\n",
                "at least one value",
            ),
            (
                "x.example.com.",
                "type: A\nvalues: [192.0.2.1]\nalias: {target: y.example.com}\n",
                "give one of them, not both",
            ),
            (
                "x.example.com.",
                "type: A\nttl: -1\nvalues: [192.0.2.1]\n",
                "ttl: -1 must be from 0 to 2147483647",
            ),
            (
                "x.example.com.",
                "type: A\nttl: 2147483648\nvalues: [192.0.2.1]\n",
                "ttl: 2147483648",
            ),
            (
                "x.example.com.",
                "type: A\nvalues: [999.0.0.1]\n",
                "values[0]: `999.0.0.1` is not an IPv4 address",
            ),
            (
                "x.example.com.",
                "type: AAAA\nvalues: [192.0.2.1]\n",
                "is not an IPv6 address",
            ),
            (
                "x.example.com.",
                "type: A\nvalues: ['loadbalancer:lb']\n",
                "use type CNAME, or an alias",
            ),
            (
                "x.example.com.",
                "type: MX\nvalues: [mail.example.com]\n",
                "<priority 0-65535>",
            ),
            (
                "x.example.com.",
                "type: A\nttl: 60\nalias: {target: y.example.com}\n",
                "an alias record has no TTL",
            ),
            (
                "x.example.com.",
                "zone: example.org.\ntype: A\nvalues: [192.0.2.1]\n",
                "zone: record name `x.example.com.` is not inside zone `example.org.`",
            ),
            (
                "a..example.com.",
                "type: A\nvalues: [192.0.2.1]\n",
                "empty label",
            ),
            (
                "a.*.example.com.",
                "type: A\nvalues: [192.0.2.1]\n",
                "only as its leftmost label",
            ),
            (
                "_converge-owner.a.x.com.",
                "type: A\nvalues: [192.0.2.1]\n",
                "reserves for ownership",
            ),
            (
                "x",
                "name: 'bad name.example.com.'\ntype: A\nvalues: [192.0.2.1]\n",
                "name: `bad name.example.com.` label `bad name`",
            ),
        ];
        for (name, yaml, want) in cases {
            let problems = p(name, yaml);
            assert!(
                problems.iter().any(|m| m.contains(want)),
                "{name} {yaml}: {problems:?}"
            );
        }
        let long_label = format!("{}.example.com.", "a".repeat(64));
        assert!(p(&long_label, "type: A\nvalues: [192.0.2.1]\n")
            .iter()
            .any(|m| m.contains("at most 63")));
        let long = format!("{}example.com.", "abcdefghi.".repeat(24));
        assert!(long.len() <= 255);
        let problems = p(&long, "type: CNAME\nvalues: [a.org]\n");
        assert!(
            problems
                .iter()
                .any(|m| m.contains("ownership record `_converge-owner.cname.`")),
            "{problems:?}"
        );
        assert!(p("*.example.com.", "type: A\nvalues: [192.0.2.1]\n").is_empty());
        assert!(p(
            "x.example.com.",
            "type: A\nvalues: [192.0.2.1, ' 192.0.2.1']\n"
        )
        .iter()
        .any(|m| m.contains("values[1]: the same value as values[0]")));
        assert!(DnsRecord::validate_name("www.example.com.").is_ok());
        assert!(DnsRecord::validate_name("a,b")
            .unwrap_err()
            .contains("may contain only"));
        assert!(DnsRecord::validate_name(&"a".repeat(256))
            .unwrap_err()
            .contains("1 to 255"));
        assert!(serde_saphyr::from_str::<DnsRecordSpec>("type: A\nvalue: [x]\n").is_err());
        assert!(
            serde_saphyr::from_str::<DnsRecordSpec>("type: A\nalias: {target: x, ttl: 1}\n")
                .is_err()
        );
    }
}
