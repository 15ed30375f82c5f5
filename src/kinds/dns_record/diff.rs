//! Live state, changes and the pure diff: the record the spec asks for (references resolved)
//! against what is at its name and type, its ownership record, and what the resource owns
//! elsewhere.

use std::collections::BTreeSet;

use super::batch::{deletions, show_values, Batch};
use super::ownership::{ownership_record, ownership_text, Ownership};
use super::records::{Alias, RecordSet};
use super::spec::{DnsRecordSpec, LB_PREFIX};
use super::values::{normalise_name, normalise_value, zone_id};
use super::zones::Zone;
use crate::core::{Action, Change, Fact, FieldChange};
use crate::engine::{DiffCtx, Waiting};
use crate::kinds::common::refs::load_balancer as lb;

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

/// A fact of the load balancer a `loadbalancer:[<region>/]<name>` reference names (`lb` is
/// what follows the prefix), or the wait for it.
fn lb_fact(ctx: &DiffCtx<'_>, lb: &str, fact: Fact) -> Result<String, Waiting> {
    let (region, name) = match lb.split_once('/') {
        Some((region, name)) => (Some(region), name),
        None => (None, lb),
    };
    ctx.fact_at(region, fact, name)
        .map(String::from)
        .ok_or_else(|| Waiting::on(lb::KIND, lb))
}

/// The record set the spec asks for, references resolved.
fn desired_record(
    ctx: &DiffCtx<'_>,
    name: &str,
    spec: &DnsRecordSpec,
    zone: &Zone,
) -> Result<RecordSet, Waiting> {
    let rtype = spec.record_type();
    let mut r = RecordSet::at(spec.record_name(name), rtype.clone());
    if let Some(alias) = &spec.alias {
        let (target, hosted_zone_id) = match alias.target.trim().strip_prefix(LB_PREFIX) {
            Some(name) => {
                let dns = lb_fact(ctx, name, lb::DNS_NAME)?;
                let hz = match &alias.hosted_zone_id {
                    Some(h) => h.clone(),
                    None => lb_fact(ctx, name, lb::HOSTED_ZONE_ID)?,
                };
                (dns, hz)
            }
            None => {
                let hz = alias.hosted_zone_id.as_ref().unwrap_or(&zone.id);
                (alias.target.clone(), hz.clone())
            }
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
                Some(name) => lb_fact(ctx, name, lb::DNS_NAME)?,
                None => v.clone(),
            };
            values.insert(normalise_value(&rtype, &v));
        }
        r.values = values.into_iter().collect();
        r.ttl = Some(spec.ttl());
    }
    Ok(r)
}

/// An alias field as plans show it.
type ShowAlias = fn(&Alias) -> String;

/// The alias fields, as plans show them.
const ALIAS_FIELDS: [(&str, ShowAlias); 3] = [
    ("alias.target", |a| normalise_name(&a.target)),
    ("alias.hosted_zone_id", |a| zone_id(&a.hosted_zone_id)),
    ("alias.evaluate_target_health", |a| {
        a.evaluate_target_health.to_string()
    }),
];

fn alias_fields(from: Option<&Alias>, to: Option<&Alias>) -> Vec<FieldChange> {
    ALIAS_FIELDS
        .iter()
        .filter_map(|(field, show)| {
            let (a, b) = (from.map(show), to.map(show));
            (a != b).then(|| FieldChange::new(*field, a, b))
        })
        .collect()
}

/// What differs between the live record and the desired one.
fn record_fields(have: &RecordSet, want: &RecordSet) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if have.ttl != want.ttl {
        let show = |t: Option<i64>| t.map(|t| t.to_string());
        out.push(FieldChange::new("ttl", show(have.ttl), show(want.ttl)));
    }
    let rtype = want.record_type.as_str();
    let have_values: BTreeSet<String> = have
        .values
        .iter()
        .map(|v| normalise_value(rtype, v))
        .collect();
    if have_values != want.values.iter().cloned().collect() {
        let h: Vec<String> = have_values.into_iter().collect();
        let (from, to) = (show_values(&h), show_values(&want.values));
        out.push(FieldChange::new("values", from, to));
    }
    out.extend(alias_fields(have.alias.as_ref(), want.alias.as_ref()));
    out
}

/// Fields of a record being created.
fn new_fields(zone: &Zone, want: &RecordSet, ownership: &str) -> Vec<FieldChange> {
    let mut out = vec![
        FieldChange::added("zone", format!("{} ({})", zone.name, zone.id)),
        FieldChange::added("name", &want.name),
        FieldChange::added("type", &want.record_type),
    ];
    out.extend(
        want.ttl
            .map(|ttl| FieldChange::added("ttl", ttl.to_string())),
    );
    out.extend(show_values(&want.values).map(|v| FieldChange::added("values", v)));
    out.extend(alias_fields(None, want.alias.as_ref()));
    out.push(FieldChange::added("ownership", ownership));
    out
}

/// The record and ownership record of claimed entries, to delete.
pub fn claimed_records<'a>(items: impl IntoIterator<Item = &'a Claimed>) -> Vec<RecordSet> {
    items
        .into_iter()
        .flat_map(|c| c.record.iter().cloned().chain([c.ownership.record.clone()]))
        .collect()
}

/// The changes that make the record, its ownership record and what the resource owns
/// elsewhere match the spec, in the order to apply them.
pub(super) fn diff(
    ctx: &DiffCtx<'_>,
    name: &str,
    desired: &DnsRecordSpec,
    live: Option<&LiveDnsRecord>,
) -> Result<Vec<DnsRecordChange>, Waiting> {
    let rname = desired.record_name(name);
    let rtype = desired.record_type();
    let Some(live) = live else {
        return Err(Waiting::new(match &desired.zone {
            Some(z) => format!("HostedZone/{}", z.trim()),
            None => format!("HostedZone/(a zone containing {rname})"),
        }));
    };
    let zone = live.zone.as_ref().map_err(Waiting::new)?;
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
            let fields = new_fields(zone, &want, &text);
            let batch = Batch::new(zone, fields, here, vec![want, owner_rec]);
            changes.push(DnsRecordChange::Create(batch));
        }
        Some(have) => {
            let owned = live
                .ownership
                .as_ref()
                .is_some_and(|o| o.owner == ctx.controller_id && o.resource == name);
            if !owned {
                let from = live.ownership.as_ref().map(Ownership::text);
                let fields = vec![FieldChange::new("ownership", from, Some(text))];
                let batch = Batch::new(zone, fields, Vec::new(), vec![owner_rec.clone()]);
                changes.push(DnsRecordChange::Tag(batch));
            }
            // Attributes converge does not manage are kept.
            want.health_check_id = have.health_check_id.clone();
            let fields = record_fields(have, &want);
            if !fields.is_empty() {
                let batch = Batch::new(zone, fields, here, vec![want, owner_rec]);
                changes.push(DnsRecordChange::Update(batch));
            } else if !here.is_empty() {
                let batch = Batch::new(zone, Vec::new(), here, Vec::new());
                changes.push(DnsRecordChange::Remove(batch));
            }
        }
    }
    let away = away.into_iter().map(|c| (&c.zone, claimed_records([c])));
    changes.extend(deletions(away).into_iter().map(DnsRecordChange::Remove));
    Ok(changes)
}
