//! Reading Route 53: the zones, then one paginated whole-zone `ListResourceRecordSets` walk
//! per zone that holds desired records (every zone with `--prune`), assembled into one entry
//! per resource.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_route53::types::RrType;

use super::diff::{Claimed, LiveDnsRecord};
use super::ownership::{owned_slot, Ownership};
use super::records::RecordSet;
use super::spec::DnsRecordSpec;
use super::zones::{resolve_zone, Zone};
use super::{DnsRecord, CODES};
use crate::core::KindError;
use crate::engine::{Observed, Scope};
use crate::kinds::common::errors::Sent;
use crate::kinds::common::refs;

/// The largest page `ListResourceRecordSets` serves.
const RECORDS_PAGE: i32 = 300;

/// Where a zone's listing goes on: the next record's name, type and set identifier.
type Start = (String, RrType, Option<String>);

impl DnsRecord {
    pub(super) async fn read(
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
                let zone = resolve_zone(&zones, spec.zone.as_deref(), &spec.record_name(name));
                (name.clone(), zone)
            })
            .collect();
        // Every zone with `--prune` (in listing order), else each zone of a desired record once.
        let to_walk: Vec<&Zone> = if scope.all {
            zones.iter().collect()
        } else {
            let by_id: BTreeMap<&str, &Zone> = slots
                .values()
                .flatten()
                .map(|z| (z.id.as_str(), z))
                .collect();
            by_id.into_values().collect()
        };
        let mut walked = Vec::with_capacity(to_walk.len());
        for zone in to_walk {
            walked.push((zone.clone(), self.walk(zone).await?));
        }
        Ok(assemble(scope.desired, &slots, walked))
    }

    /// Every record set of one zone (paginated).
    async fn walk(&self, zone: &Zone) -> Result<Vec<RecordSet>, KindError> {
        let what = format!("zone {} ({})", zone.name, zone.id);
        let incomplete = |why: &str| {
            KindError::retryable(format!(
                "ListResourceRecordSets zone {}: {why}; the listing is incomplete",
                zone.name
            ))
        };
        let mut out = Vec::new();
        let mut start: Option<Start> = None;
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
            let page = req
                .send()
                .await
                .or_fail(&CODES, "ListResourceRecordSets", &what)?;
            out.extend(page.resource_record_sets().iter().map(RecordSet::from_sdk));
            if !page.is_truncated() {
                return Ok(out);
            }
            let (Some(name), Some(rtype)) = (page.next_record_name(), page.next_record_type())
            else {
                return Err(incomplete("a truncated page without NextRecordName"));
            };
            let ident = page.next_record_identifier().map(String::from);
            let next = (name.to_string(), rtype.clone(), ident);
            if start.as_ref() == Some(&next) {
                return Err(incomplete("the next page starts where the last one did"));
            }
            start = Some(next);
        }
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
pub(super) fn assemble(
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
        // Only simple routing: record sets with a set identifier are not managed.
        for rs in sets.into_iter().filter(|rs| rs.set_identifier.is_none()) {
            if let (Some(slot), Some(own)) = (owned_slot(&rs.name), Ownership::from_record(&rs)) {
                idx.owners.insert(slot, own);
            } else {
                let slot = (rs.name.clone(), rs.record_type.clone());
                idx.records.insert(slot, rs);
            }
        }
    }

    let mut out = Observed::new();
    let mut claimed: BTreeMap<(String, String, String), &String> = BTreeMap::new();
    for (key, spec) in desired {
        let slot = (spec.record_name(key), spec.record_type());
        let mut live = LiveDnsRecord {
            zone: slots
                .get(key)
                .cloned()
                .unwrap_or_else(|| Err(format!("HostedZone/(a zone containing {})", slot.0))),
            record: None,
            ownership: None,
            elsewhere: Vec::new(),
        };
        if let Ok(z) = &live.zone {
            let at = (z.id.clone(), slot.0.clone(), slot.1.clone());
            if let Some(first) = claimed.get(&at) {
                live.zone = Err(format!(
                    "{}/{first} to give up {} {} (two resources manage it)",
                    refs::dns_record::KIND,
                    slot.1,
                    slot.0
                ));
            } else {
                claimed.insert(at, key);
                if let Some((_, idx)) = index.get(&z.id) {
                    live.record = idx.records.get(&slot).cloned();
                    live.ownership = idx.owners.get(&slot).cloned();
                }
            }
        }
        out.insert(key.clone(), live);
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
            tracing::debug!(kind = refs::dns_record::KIND, resource = %resource, "records of several controllers claim this resource name; none is pruned");
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
