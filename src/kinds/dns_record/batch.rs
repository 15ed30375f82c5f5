//! Batches: one atomic `ChangeResourceRecordSets` call in one zone (DELETEs, then UPSERTs),
//! what it shows in plans, and sending it. Every change of a DnsRecord is one batch; deleting
//! a resource is one batch per zone it has records in.

use std::collections::BTreeMap;

use aws_sdk_route53::error::BuildError;
use aws_sdk_route53::types::{Change as SdkChange, ChangeAction, ChangeBatch};

use super::diff::{claimed_records, LiveDnsRecord};
use super::records::RecordSet;
use super::zones::Zone;
use super::{DnsRecord, CODES};
use crate::core::{FieldChange, KindError, Schema};
use crate::kinds::common::errors::{unbuildable, Sent};

/// Longer value lists are summarised in plans and the audit log.
const SHOW_VALUES_MAX: usize = 200;
/// The longest batch comment Route 53 takes, in characters.
const COMMENT_MAX: usize = 256;

/// One `ChangeResourceRecordSets` call: DELETEs first, then UPSERTs, in one atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub zone: Zone,
    pub delete: Vec<RecordSet>,
    pub upsert: Vec<RecordSet>,
    /// What the batch changes, for plans, status and the audit log.
    pub fields: Vec<FieldChange>,
}

impl Batch {
    /// A batch in `zone` that upserts `upsert` (planned as `fields`) and deletes `delete`
    /// (planned after them, one row per record).
    pub fn new(
        zone: &Zone,
        mut fields: Vec<FieldChange>,
        delete: Vec<RecordSet>,
        upsert: Vec<RecordSet>,
    ) -> Batch {
        fields.extend(delete_fields(&delete));
        Batch {
            zone: zone.clone(),
            delete,
            upsert,
            fields,
        }
    }
}

/// Batches that delete records, given as (zone, records): one per zone, in zone-id order,
/// with each zone's records in the order given.
pub fn deletions<'a>(records: impl IntoIterator<Item = (&'a Zone, Vec<RecordSet>)>) -> Vec<Batch> {
    let mut by_zone: BTreeMap<&str, (&Zone, Vec<RecordSet>)> = BTreeMap::new();
    for (zone, recs) in records {
        by_zone
            .entry(&zone.id)
            .or_insert((zone, Vec::new()))
            .1
            .extend(recs);
    }
    by_zone
        .into_values()
        .map(|(zone, delete)| Batch::new(zone, Vec::new(), delete, Vec::new()))
        .collect()
}

/// Values for a plan: joined, or summarised when long.
pub fn show_values(values: &[String]) -> Option<String> {
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

impl DnsRecord {
    /// Sends one batch (nothing when it is empty).
    pub(super) async fn send(&self, resource: &str, batch: &Batch) -> Result<(), KindError> {
        const OPERATION: &str = "ChangeResourceRecordSets";
        let what = format!("{resource} (zone {})", batch.zone.name);
        let build = |e: BuildError| unbuildable(OPERATION, &what, e);
        let mut changes = Vec::new();
        for (action, records) in [
            (ChangeAction::Delete, &batch.delete),
            (ChangeAction::Upsert, &batch.upsert),
        ] {
            for r in records {
                changes.push(
                    SdkChange::builder()
                        .action(action.clone())
                        .resource_record_set(r.to_sdk().map_err(build)?)
                        .build()
                        .map_err(build)?,
                );
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let comment: String = format!("converge {} {resource}", Self::NAME)
            .chars()
            .take(COMMENT_MAX)
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
            .done(&CODES, OPERATION, &what)
    }

    /// Deletes everything `live` holds: its record and ownership record, and what it owns
    /// elsewhere, one batch per zone.
    pub(super) async fn remove(&self, name: &str, live: &LiveDnsRecord) -> Result<(), KindError> {
        let here = live.zone.as_ref().ok().map(|zone| {
            let owner = live.ownership.iter().map(|o| o.record.clone());
            (zone, live.record.iter().cloned().chain(owner).collect())
        });
        let away = live
            .elsewhere
            .iter()
            .map(|c| (&c.zone, claimed_records([c])));
        for batch in deletions(here.into_iter().chain(away)) {
            self.send(name, &batch).await?;
        }
        Ok(())
    }
}
