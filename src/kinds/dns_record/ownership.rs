//! Ownership records (pure): the TXT record at `_converge-owner.<type>.<record name>` whose
//! value `heritage=converge,owner=<controller id>,resource=<metadata name>` says who manages
//! the record (see the module documentation of `dns_record`).

use super::records::RecordSet;
use super::values::{parse_txt, txt_text};

/// The first labels of every ownership record's name.
pub const OWNER_PREFIX: &str = "_converge-owner.";
/// The first field of an ownership record's value.
const HERITAGE: &str = "heritage=converge";
/// The TTL of ownership records.
const OWNERSHIP_TTL: i64 = 300;

/// A parsed ownership record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub owner: String,
    /// The metadata name of the resource that owns the record.
    pub resource: String,
    /// The TXT record itself (for a DELETE).
    pub record: RecordSet,
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
            let record = r.clone();
            Some(Ownership {
                owner,
                resource,
                record,
            })
        })
    }

    /// Its text, as plans show it.
    pub fn text(&self) -> String {
        ownership_text(&self.owner, &self.resource)
    }
}

/// The ownership record converge writes for `resource`'s `rtype` record at `name`.
pub fn ownership_record(rtype: &str, name: &str, owner: &str, resource: &str) -> RecordSet {
    RecordSet {
        ttl: Some(OWNERSHIP_TTL),
        values: vec![txt_text(&ownership_text(owner, resource))],
        ..RecordSet::at(owner_record_name(rtype, name), "TXT".to_string())
    }
}
