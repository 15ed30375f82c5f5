//! Templates, layered values and the naming convention: how operators coming from Salt keep
//! writing one stack as a Jinja template rendered per environment.
//!
//! - [`service`]: a directory holding `service.yaml` declares a service and its instances
//!   (`instances: {testing: {region: us-east-1}}`); every manifest file below it is a template
//!   rendered once per instance.
//! - [`values`]: the values an instance's templates see, deep-merged from the most generic file
//!   to the most specific (`values/base.yaml` → `<service>/values.yaml` →
//!   `<service>/values/<instance>.yaml`), each key remembering the file that set it.
//! - [`naming`]: the grains of an instance (`service_name`, `service_instance`, `region`,
//!   `region_short`, `cluster_name`, `service_group`) and the parsing of names that follow the
//!   convention `<service>-<instance>-<region_short>[-<node>]`.
//! - [`render`]: `minijinja` with strict undefined values, and a map from rendered output back to
//!   the template's lines and columns so YAML errors point at the template.
//! - [`tags`]: the standard tags every taggable resource of an instance carries.
//!
//! The desired-state loader ([`crate::desired`]) decides which files are templates and parses
//! what they render; this module knows nothing about manifests.

pub mod naming;
pub mod render;
pub mod service;
pub mod tags;
pub mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::Environment;

use crate::core::source::{read_text, Origin, Problem};
use naming::Grains;
use render::{RenderError, Rendered};
use service::{Instance, Service};
use values::Node;

/// True when a manifest file outside any service directory holds Jinja and is rendered (once,
/// with `values` only) before it is parsed. Files without these are plain YAML, as always.
pub fn looks_like_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The variables a template sees: the instance's grains (if any) and `values`.
pub fn context(grains: Option<&Grains>, values: &serde_json::Value) -> minijinja::Value {
    let mut vars = serde_json::Map::new();
    if let Some(g) = grains {
        for (k, v) in [
            ("service_name", &g.service_name),
            ("service_instance", &g.service_instance),
            ("region", &g.region),
            ("region_short", &g.region_short),
            ("cluster_name", &g.cluster_name),
            ("service_group", &g.service_group),
        ] {
            vars.insert(k.to_string(), serde_json::Value::String(v.clone()));
        }
    }
    vars.insert("values".to_string(), values.clone());
    minijinja::Value::from(minijinja::value::Serde(&vars))
}

/// Renders the templates of one desired tree: reads each `service.yaml` and each values file
/// once (reporting each problem once), and renders files for instances.
pub struct Renderer {
    root: PathBuf,
    /// Every service directory in the tree.
    services: BTreeSet<PathBuf>,
    env: Environment<'static>,
    /// `None`: the service file is invalid (already reported).
    service_cache: BTreeMap<PathBuf, Option<Service>>,
    /// `None`: the values file is invalid (already reported); `Some(None)`: absent.
    layer_cache: BTreeMap<PathBuf, Option<Option<Node>>>,
}

impl Renderer {
    pub fn new(root: &Path, services: BTreeSet<PathBuf>) -> Renderer {
        Renderer {
            root: root.to_path_buf(),
            services,
            env: render::environment(),
            service_cache: BTreeMap::new(),
            layer_cache: BTreeMap::new(),
        }
    }

    /// The service directories of the tree.
    pub fn services(&self) -> &BTreeSet<PathBuf> {
        &self.services
    }

    /// The service in `dir`, read once; `None` if it is invalid (its problems are reported the
    /// first time).
    pub fn service(&mut self, dir: &Path, problems: &mut Vec<Problem>) -> Option<Service> {
        if let Some(cached) = self.service_cache.get(dir) {
            return cached.clone();
        }
        let read = match service::service_file(dir) {
            None => {
                problems.push(Problem::at(
                    &dir.join(service::SERVICE_FILES[0]),
                    1,
                    1,
                    "cannot read the service file".to_string(),
                ));
                None
            }
            Some(file) => match read_text(&file) {
                Err(message) => {
                    problems.push(Problem::at(&file, 1, 1, message));
                    None
                }
                Ok(text) => match service::read_service(dir, &file, &text) {
                    Ok(s) => Some(s),
                    Err(ps) => {
                        problems.extend(ps);
                        None
                    }
                },
            },
        };
        self.service_cache.insert(dir.to_path_buf(), read.clone());
        read
    }

    /// One values file, read once: `Ok(None)` if absent, `Err(())` if invalid (reported once).
    fn layer(&mut self, file: &Path, problems: &mut Vec<Problem>) -> Result<Option<Node>, ()> {
        if let Some(cached) = self.layer_cache.get(file) {
            return cached.clone().ok_or(());
        }
        let read = match values::read_layer(file) {
            Ok(n) => Some(n),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        self.layer_cache.insert(file.to_path_buf(), read.clone());
        read.ok_or(())
    }

    /// The merge of `files` (most generic first) and the layers that took part; `None` if one
    /// of them is invalid.
    pub fn values(
        &mut self,
        files: &[PathBuf],
        problems: &mut Vec<Problem>,
    ) -> Option<(Node, Vec<values::Layer>)> {
        let mut merged = Node::empty(Origin {
            file: files.first().cloned().unwrap_or_default(),
            line: 1,
            column: 1,
        });
        let mut layers = Vec::new();
        let mut ok = true;
        for file in files {
            match self.layer(file, problems) {
                Ok(Some(node)) => {
                    merged = values::merge(merged, node);
                    layers.push(values::Layer {
                        file: file.clone(),
                        present: true,
                    });
                }
                Ok(None) => layers.push(values::Layer {
                    file: file.clone(),
                    present: false,
                }),
                Err(()) => ok = false,
            }
        }
        ok.then_some((merged, layers))
    }

    /// The values of one instance of `service`.
    pub fn instance_values(
        &mut self,
        service: &Service,
        instance: &Instance,
        problems: &mut Vec<Problem>,
    ) -> Option<(Node, Vec<values::Layer>)> {
        let files = service::instance_value_files(
            &self.root,
            &service.dir,
            &instance.grains.service_instance,
        );
        self.values(&files, problems)
    }

    /// The values of a service's shared templates: the base layers and the service's own
    /// `values.yaml` (no instance layer).
    pub fn service_values(
        &mut self,
        service: &Service,
        problems: &mut Vec<Problem>,
    ) -> Option<Node> {
        let mut files = service::instance_value_files(&self.root, &service.dir, "_");
        files.pop();
        self.values(&files, problems).map(|(n, _)| n)
    }

    /// The values of a template outside any service (`values/base.yaml` from the root down to
    /// the file's directory).
    pub fn plain_values(&mut self, file: &Path, problems: &mut Vec<Problem>) -> Option<Node> {
        let dir = file.parent().unwrap_or(&self.root).to_path_buf();
        let files = service::base_value_files(&self.root, &dir);
        self.values(&files, problems).map(|(n, _)| n)
    }

    /// Renders `text` (the template `file`) for `grains` (none outside services) with `values`.
    pub fn render(
        &self,
        file: &Path,
        text: &str,
        grains: Option<&Grains>,
        values: &Node,
    ) -> Result<Rendered, RenderError> {
        let ctx = context(grains, &values.to_json());
        render::render(&self.env, &file.display().to_string(), text, &ctx)
    }

    /// Renders a template of a service's `shared/` directory: `service_name` and `values` only.
    pub fn render_shared(
        &self,
        file: &Path,
        text: &str,
        service_name: &str,
        values: &Node,
    ) -> Result<Rendered, RenderError> {
        let mut vars = serde_json::Map::new();
        vars.insert("service_name".into(), service_name.into());
        vars.insert("values".into(), values.to_json());
        let ctx = minijinja::Value::from(minijinja::value::Serde(&vars));
        render::render(&self.env, &file.display().to_string(), text, &ctx)
    }

    /// Checks a configuration file that no template may read: a values file for an instance
    /// the service does not declare, or a file in a `values/` directory that is never read.
    pub fn check_config(&mut self, file: &Path, problems: &mut Vec<Problem>) {
        let Some(parent) = file.parent() else {
            return;
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if service::SERVICE_FILES.contains(&name.as_str()) {
            self.service(parent, problems);
            return;
        }
        if self.services.contains(parent) {
            // <service>/values.yaml
            let _ = self.layer(file, problems);
            return;
        }
        // A file somewhere below a `values/` directory.
        let Some(values_dir) = file
            .ancestors()
            .skip(1)
            .find(|d| d.file_name().is_some_and(|n| n == service::VALUES_DIR))
        else {
            return;
        };
        let owner = values_dir.parent().unwrap_or(&self.root).to_path_buf();
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let nested = values_dir != parent;
        if self.services.contains(&owner) && !(owner == self.root && stem == "base") {
            let declared = self.service(&owner, problems).map(|s| {
                s.instances
                    .iter()
                    .map(|i| i.grains.service_instance.clone())
                    .collect::<Vec<_>>()
            });
            match declared {
                Some(instances) if nested || !instances.contains(&stem) => {
                    problems.push(Problem::at(
                        file,
                        1,
                        1,
                        format!(
                            "values file for instance `{stem}`, which {} does not declare (instances: {}); it would never be read",
                            owner.join(service::SERVICE_FILES[0]).display(),
                            instances.join(", ")
                        ),
                    ));
                }
                Some(_) => {
                    let _ = self.layer(file, problems);
                }
                None => {}
            }
        } else if stem == "base" && !nested {
            let _ = self.layer(file, problems);
        } else {
            problems.push(Problem::at(
                file,
                1,
                1,
                format!(
                    "only base.yaml is read in {} (the values shared by the services below it); this file would never be read",
                    values_dir.display()
                ),
            ));
        }
    }
}

/// What a file in the desired tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `service.yaml`, a service's `values.yaml`, or a file in a `values/` directory in or above
    /// a service directory: read by the renderer, never a manifest.
    Config,
    /// A manifest outside every service directory.
    Manifest,
    /// A template of the service in this directory, rendered per instance.
    Service(PathBuf),
    /// A template in the `shared/` directory of the service in this directory, rendered once
    /// for the service (resources all its instances use, such as a service-wide security group).
    Shared(PathBuf),
}

/// The role of `file` in the tree at `root` whose service directories are `services`.
pub fn role(root: &Path, file: &Path, services: &BTreeSet<PathBuf>) -> Role {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dirs: Vec<&Path> = file
        .ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(root))
        .collect();
    if let Some(service_dir) = dirs.iter().find(|d| services.contains(**d)) {
        let direct = file.parent() == Some(*service_dir);
        if direct
            && (service::SERVICE_FILES.contains(&name.as_str())
                || service::SERVICE_VALUES_FILES.contains(&name.as_str()))
        {
            return Role::Config;
        }
    }
    // Below `D/values/` where D is, or is above, a service directory?
    for (i, d) in dirs.iter().enumerate() {
        if d.file_name().is_some_and(|n| n == service::VALUES_DIR) {
            if let Some(owner) = dirs.get(i + 1) {
                if services.iter().any(|s| s.starts_with(owner)) {
                    return Role::Config;
                }
            }
        }
    }
    match dirs.iter().find(|d| services.contains(**d)) {
        Some(dir) if file.starts_with(dir.join(service::SHARED_DIR)) => {
            Role::Shared(dir.to_path_buf())
        }
        Some(dir) => Role::Service(dir.to_path_buf()),
        None => Role::Manifest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sorted_into_configuration_templates_and_manifests() {
        let root = Path::new("d");
        let services = BTreeSet::from([PathBuf::from("d/apps/myapp")]);
        let role = |f: &str| role(root, Path::new(f), &services);
        assert_eq!(role("d/apps/myapp/service.yaml"), Role::Config);
        assert_eq!(role("d/apps/myapp/values.yaml"), Role::Config);
        assert_eq!(role("d/apps/myapp/values/testing.yaml"), Role::Config);
        assert_eq!(role("d/apps/values/base.yaml"), Role::Config);
        assert_eq!(role("d/values/base.yaml"), Role::Config);
        assert_eq!(
            role("d/apps/myapp/stack.yaml"),
            Role::Service(PathBuf::from("d/apps/myapp"))
        );
        assert_eq!(
            role("d/apps/myapp/more/queues.yaml"),
            Role::Service(PathBuf::from("d/apps/myapp"))
        );
        assert_eq!(
            role("d/apps/myapp/shared/sg.yaml"),
            Role::Shared(PathBuf::from("d/apps/myapp"))
        );
        assert_eq!(role("d/other/values/x.yaml"), Role::Manifest);
        assert_eq!(role("d/queues.yaml"), Role::Manifest);
        // Without any service, nothing is configuration: trees keep working as before.
        assert_eq!(
            super::role(root, Path::new("d/values/base.yaml"), &BTreeSet::new()),
            Role::Manifest
        );
    }

    #[test]
    fn jinja_is_recognised() {
        assert!(looks_like_template("a: {{ x }}"));
        assert!(looks_like_template("{% if x %}"));
        assert!(!looks_like_template("a: {b: c}\n"));
    }

    #[test]
    fn the_context_holds_the_grains_and_values() {
        let g = Grains::for_instance("myapp", "testing", "us-east-1").unwrap();
        let ctx = context(Some(&g), &serde_json::json!({"n": 1}));
        let out = render::environment()
            .render_str(
                "{{ cluster_name }} {{ service_group }} {{ region_short }} {{ values.n }}",
                ctx,
            )
            .unwrap();
        assert_eq!(out, "myapp-testing-useast1 myapp-testing useast1 1");
    }
}
