//! Service directories and their instances.
//!
//! A directory holding a `service.yaml` is a service directory:
//!
//! ```yaml
//! # desired/myapp/service.yaml
//! service_name: myapp          # optional; default: the directory's name
//! instances:
//!   testing: {region: us-east-1}                     # the default account
//!   production: {region: us-east-1, account: prod}  # an alias of accounts.yaml
//! shared: {account: prod, region: us-east-1}         # optional: where shared/ goes
//! ```
//!
//! What an instance renders is placed in the instance's account and region. What `shared/`
//! renders goes where its `metadata` says, else where `shared` says, else to every account
//! and region the service's instances use (one copy per shard: a service-wide security group
//! exists wherever the service's instances are).
//!
//! Every manifest file below it (except `service.yaml`, `values.yaml` and the `values/`
//! directory) is a template rendered once per instance, except those in `shared/`, which are
//! rendered once for the service (with `service_name` and the service's values, no instance):
//! resources every instance uses, such as a service-wide security group. The values of an instance are, most
//! generic first: every `values/base.yaml` from the root of the desired tree down to the
//! directory holding the service directory, then `<service>/values.yaml`, then
//! `<service>/values/<instance>.yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::naming::{self, Grains};
use crate::core::shard::validate_alias;
use crate::core::source::{strip_location, yaml_options, Origin, Problem};

/// The file that makes a directory a service directory.
pub const SERVICE_FILES: &[&str] = &["service.yaml", "service.yml"];
/// The directory of values files, in a service directory or above one.
pub const VALUES_DIR: &str = "values";
/// The directory of a service's shared templates (rendered once for the service).
pub const SHARED_DIR: &str = "shared";
/// The service's own values file.
pub const SERVICE_VALUES_FILES: &[&str] = &["values.yaml", "values.yml"];

/// A service directory, read.
#[derive(Debug, Clone)]
pub struct Service {
    pub dir: PathBuf,
    pub file: PathBuf,
    pub name: String,
    /// By instance name.
    pub instances: Vec<Instance>,
    /// `shared.account` / `shared.region`: where `shared/` templates' resources go.
    pub shared_account: Option<String>,
    pub shared_region: Option<String>,
}

/// One instance of a service.
#[derive(Debug, Clone)]
pub struct Instance {
    pub grains: Grains,
    /// The account alias (`None`: the tree's default account).
    pub account: Option<String>,
    /// Where the instance is declared.
    pub origin: Origin,
}

/// Where a resource goes: (account alias, region); `None` for the tree's default.
pub type Placement = (Option<String>, Option<String>);

impl Service {
    /// Where `shared/` resources go: where `shared` says, else every distinct account and
    /// region of the instances (the default account and region for a service without any).
    pub fn shared_placements(&self) -> Vec<Placement> {
        if self.shared_account.is_some() || self.shared_region.is_some() {
            return vec![(self.shared_account.clone(), self.shared_region.clone())];
        }
        let mut out: Vec<Placement> = Vec::new();
        for i in &self.instances {
            let p = (i.account.clone(), Some(i.grains.region.clone()));
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            out.push((None, None));
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    #[serde(default)]
    service_name: Option<Spanned<String>>,
    instances: BTreeMap<String, Spanned<Option<InstanceFile>>>,
    #[serde(default)]
    shared: Option<PlacementFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceFile {
    #[serde(default)]
    region: Option<Spanned<String>>,
    #[serde(default)]
    account: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementFile {
    #[serde(default)]
    account: Option<Spanned<String>>,
    #[serde(default)]
    region: Option<Spanned<String>>,
}

/// The service file in `dir`, if there is one.
pub fn service_file(dir: &Path) -> Option<PathBuf> {
    SERVICE_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// The service directory `file` is the service file of, if it is one.
pub fn service_dir_of(file: &Path) -> Option<&Path> {
    let name = file.file_name()?.to_str()?;
    SERVICE_FILES
        .contains(&name)
        .then(|| file.parent())
        .flatten()
}

/// Reads `file` (a `service.yaml` in `dir`), checking every instance.
pub fn read_service(dir: &Path, file: &Path, text: &str) -> Result<Service, Vec<Problem>> {
    let at = |line: u64, column: u64, message: String| Problem::at(file, line, column, message);
    let parsed: Option<ServiceFile> = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
            vec![at(
                line,
                column,
                strip_location(&e.without_snippet().to_string()),
            )]
        })?;
    let Some(parsed) = parsed else {
        return Err(vec![at(
            1,
            1,
            "service.yaml is empty: it must declare `instances` (e.g. `instances: {testing: {region: us-east-1}}`)".to_string(),
        )]);
    };
    let mut problems = Vec::new();
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match &parsed.service_name {
        Some(n) => {
            if let Err(e) = naming::validate_service_name(&n.value) {
                problems.push(at(n.referenced.line(), n.referenced.column(), e));
            }
            n.value.clone()
        }
        None => {
            if let Err(e) = naming::validate_service_name(&dir_name) {
                problems.push(at(
                    1,
                    1,
                    format!("{e} (the directory's name is the service name unless `service_name` is set)"),
                ));
            }
            dir_name
        }
    };
    let mut instances = Vec::new();
    for (instance, decl) in parsed.instances {
        let origin = Origin {
            file: file.to_path_buf(),
            line: decl.referenced.line().max(1),
            column: decl.referenced.column().max(1),
        };
        let here = |message: String| Problem::at(file, origin.line, origin.column, message);
        if let Err(e) = naming::validate_instance_name(&instance) {
            problems.push(here(e));
            continue;
        }
        let (region, account) = match decl.value {
            Some(d) => (d.region, d.account),
            None => (None, None),
        };
        let Some(region) = region else {
            problems.push(here(format!(
                "instance `{instance}` has no `region` (e.g. `{instance}: {{region: us-east-1}}`)"
            )));
            continue;
        };
        if let Some(Err(e)) = account.as_ref().map(|a| validate_alias(&a.value)) {
            let a = account.as_ref().map(|a| &a.referenced);
            let (line, column) = a.map_or((origin.line, origin.column), |l| (l.line(), l.column()));
            problems.push(Problem::at(
                file,
                line,
                column,
                format!("instance `{instance}`: {e}"),
            ));
            continue;
        }
        match Grains::for_instance(&name, &instance, &region.value) {
            Ok(grains) => instances.push(Instance {
                grains,
                account: account.map(|a| a.value),
                origin,
            }),
            Err(e) => problems.push(Problem::at(
                file,
                region.referenced.line().max(1),
                region.referenced.column().max(1),
                format!("instance `{instance}`: {e}"),
            )),
        }
    }
    let (mut shared_account, mut shared_region) = (None, None);
    if let Some(shared) = parsed.shared {
        if let Some(a) = shared.account {
            match validate_alias(&a.value) {
                Ok(()) => shared_account = Some(a.value),
                Err(e) => problems.push(at(
                    a.referenced.line(),
                    a.referenced.column(),
                    format!("shared.account: {e}"),
                )),
            }
        }
        if let Some(r) = shared.region {
            match naming::validate_region(&r.value) {
                Ok(()) => shared_region = Some(r.value),
                Err(e) => problems.push(at(
                    r.referenced.line(),
                    r.referenced.column(),
                    format!("shared.region: {e}"),
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(Service {
            dir: dir.to_path_buf(),
            file: file.to_path_buf(),
            name,
            instances,
            shared_account,
            shared_region,
        })
    } else {
        Err(problems)
    }
}

/// Every `values/base.yaml` from `root` down to `dir` (both included), most generic first.
pub fn base_value_files(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| d.starts_with(root))
        .collect();
    if dirs.is_empty() {
        dirs.push(root);
    }
    dirs.reverse();
    dirs.into_iter()
        .map(|d| pick(&d.join(VALUES_DIR), "base"))
        .collect()
}

/// `dir/stem.yaml`, or `dir/stem.yml` if only that one exists.
fn pick(dir: &Path, stem: &str) -> PathBuf {
    let yaml = dir.join(format!("{stem}.yaml"));
    let yml = dir.join(format!("{stem}.yml"));
    if !yaml.is_file() && yml.is_file() {
        yml
    } else {
        yaml
    }
}

/// The values files of `instance` of the service in `service_dir`, most generic first.
pub fn instance_value_files(root: &Path, service_dir: &Path, instance: &str) -> Vec<PathBuf> {
    let above = match service_dir.parent() {
        Some(p) if service_dir != root && p.starts_with(root) => p,
        _ => root,
    };
    let mut files = base_value_files(root, above);
    files.push(pick(service_dir, "values"));
    files.push(pick(&service_dir.join(VALUES_DIR), instance));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Service, Vec<String>> {
        read_service(
            Path::new("d/myapp"),
            Path::new("d/myapp/service.yaml"),
            text,
        )
        .map_err(|ps| ps.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn instances_are_read_with_their_grains() {
        let s = read(
            "instances:\n  testing: {region: us-east-1}\n  production:\n    region: eu-west-1\n",
        )
        .unwrap();
        assert_eq!(s.name, "myapp");
        let names: Vec<_> = s
            .instances
            .iter()
            .map(|i| i.grains.cluster_name.clone())
            .collect();
        assert_eq!(
            names,
            vec!["myapp-production-euwest1", "myapp-testing-useast1"]
        );
        assert_eq!(s.instances[1].origin.line, 2);
    }

    #[test]
    fn an_instance_without_a_region_is_an_error_at_its_line() {
        let e = read("instances:\n  testing: {region: us-east-1}\n  production: {}\n  staging:\n")
            .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e.iter().any(|p| p.starts_with("d/myapp/service.yaml:3:")
                && p.contains("instance `production` has no `region`")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|p| p.contains("instance `staging` has no `region`")),
            "{e:?}"
        );
    }

    #[test]
    fn bad_names_regions_and_fields_are_errors() {
        let e = read("instances:\n  test-ing: {region: us-east-1}\n").unwrap_err();
        assert!(e[0].contains("instance name `test-ing`"), "{e:?}");
        let e = read("instances:\n  testing: {region: us-east}\n").unwrap_err();
        assert!(e[0].starts_with("d/myapp/service.yaml:2:"), "{e:?}");
        assert!(e[0].contains("not an AWS region name"), "{e:?}");
        let e = read("instances: {}\nregions: []\n").unwrap_err();
        assert!(e[0].contains("unknown field `regions`"), "{e:?}");
        let e = read("").unwrap_err();
        assert!(e[0].contains("must declare `instances`"), "{e:?}");
    }

    #[test]
    fn service_name_can_be_set() {
        let s =
            read("service_name: web-app\ninstances:\n  testing: {region: us-east-1}\n").unwrap();
        assert_eq!(
            s.instances[0].grains.cluster_name,
            "web-app-testing-useast1"
        );
    }

    #[test]
    fn values_layers_go_from_the_root_down_to_the_instance() {
        let files = instance_value_files(Path::new("d"), Path::new("d/examples/myapp"), "testing");
        let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            files,
            vec![
                "d/values/base.yaml",
                "d/examples/values/base.yaml",
                "d/examples/myapp/values.yaml",
                "d/examples/myapp/values/testing.yaml",
            ]
        );
        let files = instance_value_files(Path::new("d"), Path::new("d"), "testing");
        assert_eq!(files[0], Path::new("d/values/base.yaml"));
        assert_eq!(files.len(), 3);
    }
}
