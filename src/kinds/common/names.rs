//! Names where Salt takes names: VPCs and subnets by their `Name` tag (`vpc_name`,
//! `subnet_names`), resolved in AWS at run time, as Salt resolves them at every run.
//!
//! One `DescribeVpcs`/`DescribeSubnets` call resolves every name a sweep needs; a kind makes it
//! only when a desired resource uses a name. When a resource is created, its names must each
//! resolve to exactly one id: none yet is retried (it may be created soon), several is for
//! the user to settle by writing the id.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Tag};

use crate::core::KindError;
use crate::kinds::common::errors::{ErrorCodes, NotFound, Sent};

const CODES: ErrorCodes = ErrorCodes::new(&[], NotFound::Codes(&[]));

/// What is looked up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Vpc,
    Subnet,
}

impl Named {
    fn what(self) -> &'static str {
        match self {
            Named::Vpc => "VPC",
            Named::Subnet => "subnet",
        }
    }
    fn id_field(self) -> &'static str {
        match self {
            Named::Vpc => "vpc_id",
            Named::Subnet => "subnets",
        }
    }
}

fn name_tag(tags: &[Tag]) -> Option<&str> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
}

/// For each of `names`, the ids of the region's VPCs or subnets with that `Name` tag (empty
/// when none): one call for all of them, none when `names` is empty.
pub async fn ids_by_name(
    ec2: &aws_sdk_ec2::Client,
    what: Named,
    names: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<String>>, KindError> {
    let mut out: BTreeMap<String, Vec<String>> =
        names.iter().map(|n| (n.clone(), Vec::new())).collect();
    if names.is_empty() {
        return Ok(out);
    }
    let filter = Filter::builder()
        .name("tag:Name")
        .set_values(Some(names.iter().cloned().collect()))
        .build();
    let found: Vec<(Option<String>, Option<String>)> = match what {
        Named::Vpc => ec2
            .describe_vpcs()
            .filters(filter)
            .send()
            .await
            .or_fail(&CODES, "DescribeVpcs", "(VPCs by name)")?
            .vpcs()
            .iter()
            .map(|v| {
                (
                    name_tag(v.tags()).map(String::from),
                    v.vpc_id().map(String::from),
                )
            })
            .collect(),
        Named::Subnet => ec2
            .describe_subnets()
            .filters(filter)
            .send()
            .await
            .or_fail(&CODES, "DescribeSubnets", "(subnets by name)")?
            .subnets()
            .iter()
            .map(|s| {
                (
                    name_tag(s.tags()).map(String::from),
                    s.subnet_id().map(String::from),
                )
            })
            .collect(),
    };
    for (name, id) in found {
        if let (Some(name), Some(id)) = (name, id) {
            if let Some(ids) = out.get_mut(&name) {
                ids.push(id);
            }
        }
    }
    for ids in out.values_mut() {
        ids.sort();
    }
    Ok(out)
}

/// The one id `name` resolved to (see the module doc for none and several).
pub fn one(
    what: Named,
    name: &str,
    found: &BTreeMap<String, Vec<String>>,
) -> Result<String, KindError> {
    match found.get(name).map(Vec::as_slice).unwrap_or_default() {
        [id] => Ok(id.clone()),
        [] => Err(KindError::retryable(format!(
            "no {} named `{name}` (tag Name) in this region yet",
            what.what()
        ))),
        ids => Err(KindError::terminal(format!(
            "{} {}s are named `{name}` ({}); write the one meant in {}",
            ids.len(),
            what.what(),
            ids.join(", "),
            what.id_field()
        ))),
    }
}

/// Every name of `names` resolved to its one id, in order.
pub async fn resolve_all(
    ec2: &aws_sdk_ec2::Client,
    what: Named,
    names: &[String],
) -> Result<Vec<String>, KindError> {
    let set: BTreeSet<String> = names.iter().cloned().collect();
    let found = ids_by_name(ec2, what, &set).await?;
    names.iter().map(|n| one(what, n, &found)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolves_to_exactly_one_id() {
        let found = BTreeMap::from([
            ("a".to_string(), vec!["subnet-1".to_string()]),
            ("none".to_string(), vec![]),
            (
                "two".to_string(),
                vec!["subnet-2".to_string(), "subnet-3".to_string()],
            ),
        ]);
        assert_eq!(one(Named::Subnet, "a", &found).unwrap(), "subnet-1");
        let e = one(Named::Subnet, "none", &found).unwrap_err();
        assert!(e.message.contains("no subnet named `none`") && !e.class.is_final());
        let e = one(Named::Vpc, "two", &found).unwrap_err();
        assert!(
            e.message.contains("2 VPCs are named `two`") && e.class.is_final(),
            "{}",
            e.message
        );
    }
}
