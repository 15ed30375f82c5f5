//! Hosted zones: the account's zones (one paginated `ListHostedZones` a sweep) and the zone
//! each record resolves to.

use super::values::{in_zone, normalise_name, zone_id};
use super::{DnsRecord, CODES};
use crate::core::KindError;
use crate::kinds::common::errors::Sent;

/// The largest page `ListHostedZones` serves.
const ZONES_PAGE: i32 = 100;

/// A hosted zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Without the `/hostedzone/` prefix.
    pub id: String,
    /// Normalised, with the trailing dot.
    pub name: String,
}

impl DnsRecord {
    /// Every hosted zone of the account (paginated).
    pub(super) async fn list_zones(&self) -> Result<Vec<Zone>, KindError> {
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
                .or_fail(&CODES, "ListHostedZones", "(all hosted zones)")?;
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
                    return Err(KindError::retryable(
                        "ListHostedZones (all hosted zones): a truncated page without a new \
                         NextMarker; the listing is incomplete",
                    ))
                }
            }
        }
    }
}

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
            let containing = || zones.iter().filter(|z| in_zone(record_name, &z.name));
            let Some(len) = containing().map(|z| z.name.len()).max() else {
                return Err(format!("HostedZone/(a zone containing {record_name})"));
            };
            let c: Vec<&Zone> = containing().filter(|z| z.name.len() == len).collect();
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
