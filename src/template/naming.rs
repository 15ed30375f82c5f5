//! The naming convention and the grains it carries.
//!
//! Every resource of a service instance is named `<service>-<instance>-<region_short>`
//! (`myapp-testing-useast1`, the *cluster name*), and an instance host adds its node id
//! (`myapp-testing-useast1-898900`). The grains are the parts of that name:
//!
//! | grain | example |
//! |---|---|
//! | `service_name` | `myapp` |
//! | `service_instance` | `testing` |
//! | `region` | `us-east-1` |
//! | `region_short` | `useast1` (the region without dashes) |
//! | `cluster_name` | `myapp-testing-useast1` |
//! | `service_group` | `myapp-testing` |
//! | `service_node` | `898900` (hostnames only) |
//!
//! In templates these are the names above. `converge grains` (a Salt external grain) prints
//! the reference article's contract instead: `region` is the short form there (`useast1`),
//! the long one is `aws_region`, and there is no `region_short` ([`Grains::salt_grains`]).
//!
//! A name is parsed from the right, because a service name may contain dashes and an instance
//! name may not: the last segment is the region when it looks like one (`useast1`,
//! `usgovwest1`, `apnortheast2`), otherwise it is the node and the segment before it must be the
//! region. The segment before the region is the instance; everything before that is the
//! service. Ambiguity: a node id that itself looks like a short region name (`...-useast1-uswest2`)
//! is read as the region, so node ids should not look like region names.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::core::shard::{region_from_short, region_short, validate_region};

/// The grains of a service instance (or of one of its hosts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grains {
    pub service_name: String,
    pub service_instance: String,
    pub region: String,
    pub region_short: String,
    pub cluster_name: String,
    pub service_group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_node: Option<String>,
}

/// The grains of the reference article's contract (see [`Grains::salt_grains`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaltGrains {
    pub service_name: String,
    pub service_instance: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_node: Option<String>,
    /// Short: `useast1`.
    pub region: String,
    pub cluster_name: String,
    pub service_group: String,
    /// Long: `us-east-1`.
    pub aws_region: String,
}

impl Grains {
    /// The grains of `service`'s `instance` in `region` (checked).
    pub fn for_instance(service: &str, instance: &str, region: &str) -> Result<Grains, String> {
        validate_service_name(service)?;
        validate_instance_name(instance)?;
        validate_region(region)?;
        let region_short = region_short(region);
        Ok(Grains {
            service_name: service.to_string(),
            service_instance: instance.to_string(),
            region: region.to_string(),
            cluster_name: format!("{service}-{instance}-{region_short}"),
            service_group: format!("{service}-{instance}"),
            region_short,
            service_node: None,
        })
    }

    /// The grains exactly as the reference article's Salt external grain gives them
    /// (`region` is the short form, `useast1`), plus `aws_region` (`us-east-1`): what
    /// `converge grains` prints and what `import-sls --grains` matches pillar top files on.
    pub fn salt_grains(&self) -> SaltGrains {
        SaltGrains {
            service_name: self.service_name.clone(),
            service_instance: self.service_instance.clone(),
            service_node: self.service_node.clone(),
            region: self.region_short.clone(),
            cluster_name: self.cluster_name.clone(),
            service_group: self.service_group.clone(),
            aws_region: self.region.clone(),
        }
    }

    /// The standard tags every taggable resource of the instance carries.
    pub fn standard_tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("service_name".to_string(), self.service_name.clone()),
            (
                "service_instance".to_string(),
                self.service_instance.clone(),
            ),
            ("region".to_string(), self.region.clone()),
            ("cluster_name".to_string(), self.cluster_name.clone()),
            ("service_group".to_string(), self.service_group.clone()),
        ])
    }

    /// `service/instance`, as shown in messages.
    pub fn instance_id(&self) -> String {
        format!("{}/{}", self.service_name, self.service_instance)
    }
}

/// A service name: letters, digits, `-` and `_`, starting with a letter or digit, at most 64.
pub fn validate_service_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "service name `{name}` must be 1 to 64 letters, digits, `-` or `_`, starting with a letter or digit and not ending with `-`"
        ))
    }
}

/// An instance name: letters, digits and `_` (no `-`: names are parsed from the right).
pub fn validate_instance_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "instance name `{name}` must be 1 to 32 letters, digits or `_` (no `-`: the naming convention <service>-<instance>-<region> is parsed from the right)"
        ))
    }
}

/// Parses an Auto Scaling group name or a hostname (`myapp-testing-useast1[-898900]`, a domain
/// after the first `.` is ignored) into its grains.
pub fn parse_name(name: &str) -> Result<Grains, String> {
    let host = name.split('.').next().unwrap_or(name);
    let bad = || {
        format!(
            "`{name}` does not follow the naming convention <service>-<instance>-<region>[-<node>] (e.g. myapp-testing-useast1-898900)"
        )
    };
    let parts: Vec<&str> = host.split('-').collect();
    if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let last = parts.len() - 1;
    let (region_at, node) = if region_from_short(parts[last]).is_some() {
        (last, None)
    } else if parts.len() >= 4 && region_from_short(parts[last - 1]).is_some() {
        (last - 1, Some(parts[last].to_string()))
    } else {
        return Err(bad());
    };
    if region_at < 2 {
        return Err(bad());
    }
    let region = region_from_short(parts[region_at]).ok_or_else(bad)?;
    let instance = parts[region_at - 1];
    let service = parts[..region_at - 1].join("-");
    let mut grains =
        Grains::for_instance(&service, instance, &region).map_err(|e| format!("{}: {e}", bad()))?;
    grains.service_node = node;
    Ok(grains)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_region_names_map_back_to_region_names() {
        for region in [
            "us-east-1",
            "us-west-2",
            "eu-central-1",
            "ap-northeast-2",
            "ap-southeast-1",
            "sa-east-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "il-central-1",
        ] {
            assert_eq!(
                region_from_short(&region_short(region)).as_deref(),
                Some(region),
                "{region}"
            );
            assert!(validate_region(region).is_ok(), "{region}");
        }
    }

    #[test]
    fn things_that_are_not_regions_are_rejected() {
        for s in ["web1", "898900", "useast", "east1", "Useast1", "usfoo1"] {
            assert_eq!(region_from_short(s), None, "{s}");
        }
        assert!(validate_region("us-east")
            .unwrap_err()
            .contains("not an AWS region name"));
        assert!(validate_region("useast1").is_err());
    }

    #[test]
    fn an_asg_name_parses_into_grains_without_a_node() {
        let g = parse_name("myapp-testing-useast1").unwrap();
        assert_eq!(g.service_name, "myapp");
        assert_eq!(g.service_instance, "testing");
        assert_eq!(g.region, "us-east-1");
        assert_eq!(g.region_short, "useast1");
        assert_eq!(g.cluster_name, "myapp-testing-useast1");
        assert_eq!(g.service_group, "myapp-testing");
        assert_eq!(g.service_node, None);
    }

    #[test]
    fn a_hostname_parses_with_its_node_and_ignores_the_domain() {
        let g = parse_name("myapp-testing-useast1-898900.example.com").unwrap();
        assert_eq!(g.service_node.as_deref(), Some("898900"));
        assert_eq!(g.cluster_name, "myapp-testing-useast1");
    }

    #[test]
    fn a_service_name_may_contain_dashes() {
        let g = parse_name("my-big-app-production-euwest1-7").unwrap();
        assert_eq!(g.service_name, "my-big-app");
        assert_eq!(g.service_instance, "production");
        assert_eq!(g.region, "eu-west-1");
        assert_eq!(g.service_node.as_deref(), Some("7"));
        assert_eq!(g.service_group, "my-big-app-production");
    }

    #[test]
    fn names_off_the_convention_are_errors() {
        for n in [
            "myapp",
            "myapp-testing",
            "testing-useast1",
            "myapp-testing-nowhere",
            "myapp-testing-useast1-1-2",
            "myapp--useast1",
        ] {
            let e = parse_name(n).unwrap_err();
            assert!(e.contains("naming convention"), "{n}: {e}");
        }
    }

    #[test]
    fn instance_grains_build_the_standard_tags() {
        let g = Grains::for_instance("myapp", "testing", "us-east-1").unwrap();
        let tags = g.standard_tags();
        assert_eq!(tags["cluster_name"], "myapp-testing-useast1");
        assert_eq!(tags["service_group"], "myapp-testing");
        assert_eq!(tags["region"], "us-east-1");
        assert_eq!(tags.len(), 5);
        assert!(Grains::for_instance("myapp", "test-ing", "us-east-1")
            .unwrap_err()
            .contains("instance name `test-ing`"));
    }
}
