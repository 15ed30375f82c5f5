//! Record sets as converge holds them, and their Route 53 (SDK) form both ways.

use aws_sdk_route53::error::BuildError;
use aws_sdk_route53::types::{AliasTarget, ResourceRecord, ResourceRecordSet, RrType};

use super::values::normalise_name;

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

impl RecordSet {
    /// A record set converge writes at `name` (normalised), without values yet.
    pub fn at(name: String, record_type: String) -> RecordSet {
        RecordSet {
            raw_name: name.clone(),
            name,
            record_type,
            ..RecordSet::default()
        }
    }

    pub fn from_sdk(rs: &ResourceRecordSet) -> RecordSet {
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

    pub fn to_sdk(&self) -> Result<ResourceRecordSet, BuildError> {
        let mut b = ResourceRecordSet::builder()
            .name(&self.raw_name)
            .r#type(RrType::from(self.record_type.as_str()))
            .set_ttl(self.ttl)
            .set_health_check_id(self.health_check_id.clone());
        if let Some(id) = &self.set_identifier {
            b = b.set_identifier(id);
        }
        if !self.values.is_empty() {
            let values = self
                .values
                .iter()
                .map(|v| ResourceRecord::builder().value(v).build())
                .collect::<Result<Vec<_>, _>>()?;
            b = b.set_resource_records(Some(values));
        }
        if let Some(a) = &self.alias {
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
}
