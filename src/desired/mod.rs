//! The desired state: a directory tree of manifests, loaded all-or-nothing.
//!
//! Every file named `*.yaml` or `*.yml` below the root (names starting with `.` are skipped)
//! holds one or more YAML documents, each `apiVersion: converge/v1`, `kind`, `metadata`
//! (`name`, optional `labels`) and `spec`. A spec is checked against its kind's typed schema
//! while it is parsed, so an unknown field or a wrong type is reported at its own line and
//! column. Loading either yields a complete [`DesiredSet`] or every [`Problem`] found; an
//! invalid tree never replaces the last good one (see [`watch`]).
//!
//! Templates ([`crate::template`]):
//! - A directory holding a `service.yaml` is a service directory. Every manifest file below it
//!   is a Jinja template, rendered once per instance the service declares, with the instance's
//!   grains and layered `values`. What an instance renders carries the standard tags (see
//!   [`crate::template::tags`]) and the labels [`LABEL_INSTANCE`] and [`LABEL_REGION`].
//! - Templates in a service's `shared/` directory are rendered once for the service (with
//!   `service_name` and the service's values), for what every instance uses (a service-wide
//!   security group); they carry the `service_name` tag and the label [`LABEL_SERVICE`], and
//!   exist in every region.
//! - A manifest file outside service directories is rendered once (with `values` only) if it
//!   holds Jinja (`{{`, `{%` or `{#`); otherwise it is plain YAML, read exactly as before.
//! - `service.yaml`, a service's `values.yaml` and every `values/` directory in or above a
//!   service directory are configuration, not manifests.
//! - A template error points at the template's file and line; a YAML or schema error in what
//!   a template rendered points at the template line that produced it, followed by
//!   `(rendered for <service>/<instance>)`.
//!
//! Resource names must be unique across the whole tree, every instance and region together (the
//! naming convention puts the instance in every name, and IAM names are global anyway). A
//! controller for one region keeps only the instances of its region: see [`retain_region`].

pub mod watch;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::kinds;
use crate::template::{self, naming::Grains, render::Rendered, Renderer, Role};

/// The only manifest version this build understands.
pub const API_VERSION: &str = "converge/v1";
/// Files larger than this are rejected rather than parsed.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// At most this many documents in one file.
pub const MAX_DOCUMENTS_PER_FILE: usize = 5_000;
/// A file at the root of the tree whose first line, if present, names the revision
/// (e.g. the git commit) being served. Written by `deploy/git/post-receive`.
pub const REVISION_FILE: &str = ".converge-revision";
/// Label on every resource rendered for a service instance: `<service>/<instance>`.
pub const LABEL_INSTANCE: &str = "converge/instance";
/// Label on every resource rendered for a service instance: the instance's region.
pub const LABEL_REGION: &str = "converge/region";
/// Label on every resource rendered in a service directory: the service's name.
pub const LABEL_SERVICE: &str = "converge/service";
/// Label on a resource implied by another one: `<kind>/<name>` of the one that implies it.
pub const LABEL_DERIVED_FROM: &str = "converge/derived-from";

/// Where a manifest (or a part of one) was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem in the desired tree, printed as `path:line:column: message`, or
/// `path:line:column (rendered for myapp/testing): message` in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub message: String,
    /// How the location is to be read, e.g. `rendered for myapp/testing`.
    pub context: Option<String>,
}

impl Problem {
    /// A problem at `file:line:column` (0 is read as 1).
    pub fn at(file: &Path, line: u64, column: u64, message: String) -> Problem {
        Problem {
            origin: Origin {
                file: file.to_path_buf(),
                line: line.max(1),
                column: column.max(1),
            },
            message,
            context: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(c) => write!(f, "{} ({c}): {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// Why a desired tree could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The root itself cannot be read (missing, not a directory, no permission).
    #[error("cannot read desired directory {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The tree was read, and is invalid; every problem found is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = format!("{} problem(s) in the desired state:", problems.len());
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// One desired resource, its spec already checked against the kind's schema.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    pub kind: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The typed spec, normalised back to JSON (it deserialises into the kind's spec type).
    pub spec: serde_json::Value,
    pub origin: Origin,
    /// A hash of the normalised spec: it changes exactly when the desired spec changes.
    pub hash: u64,
}

impl DesiredResource {
    /// `rendered for <service>/<instance>` for a resource rendered from a template.
    pub fn context(&self) -> Option<String> {
        match (
            self.labels.get(LABEL_INSTANCE),
            self.labels.get(LABEL_SERVICE),
        ) {
            (Some(i), _) => Some(format!("rendered for {i}")),
            (None, Some(s)) => Some(format!("rendered for {s} (shared)")),
            (None, None) => None,
        }
    }

    /// Where it was written, with the instance it was rendered for.
    pub fn located(&self) -> String {
        match self.context() {
            Some(c) => format!("{} ({c})", self.origin),
            None => self.origin.to_string(),
        }
    }
}

/// A complete, valid desired state.
#[derive(Debug, Clone, Default)]
pub struct DesiredSet {
    /// Increases by one each time a changed, valid tree is loaded (0: nothing loaded yet).
    pub generation: u64,
    /// The revision named in [`REVISION_FILE`], if any.
    pub revision: Option<String>,
    /// A hash of every file's path and content: equal fingerprints mean nothing changed.
    pub fingerprint: u64,
    /// kind → name → resource.
    pub resources: BTreeMap<String, BTreeMap<String, DesiredResource>>,
}

impl DesiredSet {
    /// The desired resources of one kind, by name.
    pub fn of_kind(&self, kind: &str) -> Option<&BTreeMap<String, DesiredResource>> {
        self.resources.get(kind)
    }

    /// How many resources, all kinds together.
    pub fn len(&self) -> usize {
        self.resources.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Service instances a controller left out because they are in another region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `<service>/<instance>`.
    pub instance: String,
    pub region: String,
    /// How many resources (derived ones included) were left out.
    pub resources: usize,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instance {} is in {}: its {} resource(s) are left to a controller for that region",
            self.instance, self.region, self.resources
        )
    }
}

/// Keeps only what belongs to `region`: resources rendered for an instance in another region
/// are removed (they are still rendered and validated, so one broken template fails every
/// controller alike). Resources written outside service directories have no region of their
/// own and are always kept. Returns what was left out, by instance.
pub fn retain_region(set: &mut DesiredSet, region: &str) -> Vec<Skipped> {
    let mut skipped: BTreeMap<(String, String), usize> = BTreeMap::new();
    for by_name in set.resources.values_mut() {
        by_name.retain(|_, res| match res.labels.get(LABEL_REGION) {
            Some(r) if r != region => {
                let instance = res.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default();
                *skipped.entry((instance, r.clone())).or_default() += 1;
                false
            }
            _ => true,
        });
    }
    set.resources.retain(|_, by_name| !by_name.is_empty());
    skipped
        .into_iter()
        .map(|((instance, region), resources)| Skipped {
            instance,
            region,
            resources,
        })
        .collect()
}

/// Stable-within-a-process hash of a JSON value.
pub fn hash_json(v: &serde_json::Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// Loads, renders and validates the whole tree below `root` (every instance of every region;
/// see [`retain_region`]). `generation` is left at 0.
pub fn load(root: &Path) -> Result<DesiredSet, LoadError> {
    let mut problems = Vec::new();
    let tree = collect_files(root, &mut problems)?;
    let mut fingerprint = DefaultHasher::new();
    let mut set = DesiredSet {
        revision: read_revision(root),
        ..DesiredSet::default()
    };
    set.revision.hash(&mut fingerprint);
    let mut renderer = Renderer::new(root, tree.services);
    for file in tree.files {
        let text = match read_text(&file) {
            Ok(t) => t,
            Err(message) => {
                problems.push(Problem::at(&file, 1, 1, message));
                continue;
            }
        };
        file.hash(&mut fingerprint);
        text.hash(&mut fingerprint);
        let docs = match template::role(root, &file, renderer.services()) {
            Role::Config => {
                renderer.check_config(&file, &mut problems);
                continue;
            }
            Role::Manifest if !template::looks_like_template(&text) => {
                parse_file(&file, &text, &mut problems)
            }
            Role::Manifest => render_plain(&mut renderer, &file, &text, &mut problems),
            Role::Service(dir) => render_service(&mut renderer, &dir, &file, &text, &mut problems),
            Role::Shared(dir) => render_shared(&mut renderer, &dir, &file, &text, &mut problems),
        };
        for doc in docs {
            for extra in derived(&doc, &mut problems) {
                insert(&mut set, extra, &mut problems);
            }
            insert(&mut set, doc, &mut problems);
        }
    }
    if problems.is_empty() {
        set.fingerprint = fingerprint.finish();
        Ok(set)
    } else {
        Err(LoadError::Invalid(problems))
    }
}

/// The values of `instance` of `service` (a service directory's name, or the `service_name`
/// its `service.yaml` declares) in the tree at `root`, and the files merged, most generic
/// first.
pub fn instance_values(
    root: &Path,
    service: &str,
    instance: &str,
) -> Result<(template::values::Node, Vec<template::values::Layer>), LoadError> {
    let mut problems = Vec::new();
    let tree = collect_files(root, &mut problems)?;
    let mut renderer = Renderer::new(root, tree.services.clone());
    let mut names = Vec::new();
    for dir in &tree.services {
        // Problems of other services are not this command's business.
        let mut own = Vec::new();
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(s) = renderer.service(dir, &mut own) else {
            if dir_name.as_deref() == Some(service) {
                problems.extend(own);
                return Err(LoadError::Invalid(problems));
            }
            continue;
        };
        if s.name != service && dir_name.as_deref() != Some(service) {
            names.push(s.name.clone());
            continue;
        }
        let Some(i) = s
            .instances
            .iter()
            .find(|i| i.grains.service_instance == instance)
        else {
            let declared: Vec<_> = s
                .instances
                .iter()
                .map(|i| i.grains.service_instance.as_str())
                .collect();
            problems.push(Problem::at(
                &s.file,
                1,
                1,
                format!(
                    "service `{}` declares no instance `{instance}` (instances: {})",
                    s.name,
                    declared.join(", ")
                ),
            ));
            return Err(LoadError::Invalid(problems));
        };
        return match renderer.instance_values(&s, i, &mut problems) {
            Some(v) if problems.is_empty() => Ok(v),
            _ => Err(LoadError::Invalid(problems)),
        };
    }
    problems.push(Problem::at(
        root,
        1,
        1,
        format!(
            "no service `{service}` in the tree (a service is a directory holding service.yaml; services: {})",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ),
    ));
    Err(LoadError::Invalid(problems))
}

/// The set as manifests (YAML documents), ordered by where they were written, each preceded
/// by a comment naming its file, line and instance. Implied resources (a load balancer's
/// DNS records) are shown commented out, so the output loads back as the same set. Only what
/// was rendered for `instance` (`<service>/<instance>`) and its service's shared resources,
/// when given.
pub fn to_manifests(set: &DesiredSet, instance: Option<&str>) -> String {
    let mut all: Vec<&DesiredResource> = set
        .resources
        .values()
        .flat_map(BTreeMap::values)
        .filter(|r| match instance {
            None => true,
            Some(i) => match r.labels.get(LABEL_INSTANCE) {
                Some(l) => l == i,
                None => r
                    .labels
                    .get(LABEL_SERVICE)
                    .is_some_and(|s| i.split('/').next() == Some(s.as_str())),
            },
        })
        .collect();
    all.sort_by(|a, b| {
        (
            &a.origin.file,
            a.labels.get(LABEL_INSTANCE),
            a.origin.line,
            &a.kind,
            &a.name,
        )
            .cmp(&(
                &b.origin.file,
                b.labels.get(LABEL_INSTANCE),
                b.origin.line,
                &b.kind,
                &b.name,
            ))
    });
    let mut out = String::new();
    for r in all {
        let mut metadata = serde_json::Map::new();
        metadata.insert("name".into(), r.name.clone().into());
        if !r.labels.is_empty() {
            metadata.insert(
                "labels".into(),
                serde_json::to_value(&r.labels).unwrap_or_default(),
            );
        }
        let doc = serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": r.kind,
            "metadata": metadata,
            "spec": r.spec,
        });
        let yaml = serde_saphyr::to_string(&doc)
            .unwrap_or_else(|e| format!("# cannot show as YAML: {e}\n"));
        match r.labels.get(LABEL_DERIVED_FROM) {
            Some(from) => {
                out.push_str(&format!(
                    "# {}: implied by {from} (not written; shown for reference)\n",
                    r.located()
                ));
                for line in yaml.lines() {
                    out.push_str("# ");
                    out.push_str(line);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(&format!("---\n# {}\n", r.located()));
                out.push_str(&yaml);
            }
        }
    }
    out
}

/// A template outside any service: rendered once, with `values` only.
fn render_plain(
    renderer: &mut Renderer,
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let Some(values) = renderer.plain_values(file, problems) else {
        return Vec::new();
    };
    let source = Source {
        file,
        rendered: None,
        context: Some("rendered".to_string()),
        standard_tags: None,
        labels: BTreeMap::new(),
    };
    match renderer.render(file, text, None, &values) {
        Ok(r) => parse_source(
            &Source {
                rendered: Some(&r),
                ..source
            },
            &r.text,
            problems,
        ),
        Err(e) => {
            problems.push(source.problem(e.line, 1, e.message));
            Vec::new()
        }
    }
}

/// A template of the service in `dir`: rendered once per instance.
fn render_service(
    renderer: &mut Renderer,
    dir: &Path,
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let Some(service) = renderer.service(dir, problems) else {
        return Vec::new();
    };
    let mut docs = Vec::new();
    for instance in &service.instances {
        let Some((values, _)) = renderer.instance_values(&service, instance, problems) else {
            continue;
        };
        let source = Source {
            file,
            rendered: None,
            context: Some(format!("rendered for {}", instance.grains.instance_id())),
            standard_tags: Some(instance.grains.standard_tags()),
            labels: BTreeMap::from([
                (LABEL_INSTANCE.to_string(), instance.grains.instance_id()),
                (LABEL_REGION.to_string(), instance.grains.region.clone()),
                (LABEL_SERVICE.to_string(), service.name.clone()),
            ]),
        };
        match renderer.render(file, text, Some(&instance.grains), &values) {
            Ok(r) => docs.extend(parse_source(
                &Source {
                    rendered: Some(&r),
                    ..source
                },
                &r.text,
                problems,
            )),
            Err(e) => problems.push(source.problem(e.line, 1, e.message)),
        }
    }
    docs
}

/// A template in the `shared/` directory of the service in `dir`: rendered once for the
/// service (no instance), with the service's values.
fn render_shared(
    renderer: &mut Renderer,
    dir: &Path,
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let Some(service) = renderer.service(dir, problems) else {
        return Vec::new();
    };
    let Some(values) = renderer.service_values(&service, problems) else {
        return Vec::new();
    };
    let source = Source {
        file,
        rendered: None,
        context: Some(format!("rendered for {} (shared)", service.name)),
        standard_tags: Some(BTreeMap::from([(
            "service_name".to_string(),
            service.name.clone(),
        )])),
        labels: BTreeMap::from([(LABEL_SERVICE.to_string(), service.name.clone())]),
    };
    match renderer.render_shared(file, text, &service.name, &values) {
        Ok(r) => parse_source(
            &Source {
                rendered: Some(&r),
                ..source
            },
            &r.text,
            problems,
        ),
        Err(e) => {
            problems.push(source.problem(e.line, 1, e.message));
            Vec::new()
        }
    }
}

/// Adds a resource, or reports it as a duplicate of the one already there.
fn insert(set: &mut DesiredSet, doc: DesiredResource, problems: &mut Vec<Problem>) {
    let by_name = set.resources.entry(doc.kind.clone()).or_default();
    if let Some(first) = by_name.get(&doc.name) {
        problems.push(Problem {
            origin: doc.origin.clone(),
            message: format!(
                "duplicate {} `{}`: also defined at {}",
                doc.kind,
                doc.name,
                first.located()
            ),
            context: doc.context(),
        });
        return;
    }
    by_name.insert(doc.name.clone(), doc);
}

/// The resources `doc` implies (e.g. a load balancer's CNAME records), validated like
/// written ones and located at `doc`. They share its instance (labels and standard tags).
fn derived(doc: &DesiredResource, problems: &mut Vec<Problem>) -> Vec<DesiredResource> {
    let mut out = Vec::new();
    let context = doc.context();
    let problem = |message: String| Problem {
        origin: doc.origin.clone(),
        message,
        context: context.clone(),
    };
    let instance_labels: BTreeMap<String, String> = doc
        .labels
        .iter()
        .filter(|(k, _)| [LABEL_INSTANCE, LABEL_REGION, LABEL_SERVICE].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let standard_tags = standard_tags_of(doc);
    for d in kinds::expand(&doc.kind, &doc.name, &doc.spec) {
        let spec =
            match kinds::spec_from_value(d.kind, d.spec).and_then(|spec| match &standard_tags {
                Some(tags) => template::tags::add_standard_tags(d.kind, spec, tags),
                None => Ok(spec),
            }) {
                Ok(v) => v,
                Err(message) => {
                    problems.push(problem(format!(
                        "{} `{}` implies an invalid {}: {message}",
                        doc.kind, doc.name, d.kind
                    )));
                    continue;
                }
            };
        let mut bad = false;
        if let Err(message) = kinds::validate_name(d.kind, &d.name) {
            problems.push(problem(message));
            bad = true;
        }
        for message in kinds::validate_spec(d.kind, &d.name, &spec) {
            problems.push(problem(format!("{} `{}`: {message}", d.kind, d.name)));
            bad = true;
        }
        if bad {
            continue;
        }
        let mut labels = instance_labels.clone();
        labels.insert(
            LABEL_DERIVED_FROM.to_string(),
            format!("{}/{}", doc.kind, doc.name),
        );
        out.push(DesiredResource {
            kind: d.kind.to_string(),
            hash: hash_json(&spec),
            labels,
            name: d.name,
            spec,
            origin: doc.origin.clone(),
        });
    }
    out
}

/// The standard tags of the instance (or service) `doc` was rendered for, if any.
fn standard_tags_of(doc: &DesiredResource) -> Option<BTreeMap<String, String>> {
    let Some(instance) = doc.labels.get(LABEL_INSTANCE) else {
        let service = doc.labels.get(LABEL_SERVICE)?;
        return Some(BTreeMap::from([(
            "service_name".to_string(),
            service.clone(),
        )]));
    };
    let region = doc.labels.get(LABEL_REGION)?;
    let (service, instance) = instance.split_once('/')?;
    Grains::for_instance(service, instance, region)
        .ok()
        .map(|g| g.standard_tags())
}

/// Checks that `root` is a readable directory (used before any port is bound).
pub fn check_readable(root: &Path) -> Result<(), LoadError> {
    std::fs::read_dir(root)
        .map(|_| ())
        .map_err(|source| LoadError::Unreadable {
            path: root.to_path_buf(),
            source,
        })
}

fn read_revision(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(REVISION_FILE)).ok()?;
    let rev = text.lines().next()?.trim();
    (!rev.is_empty() && rev.len() <= 128).then(|| rev.to_string())
}

/// A file's text, within [`MAX_FILE_BYTES`] and valid UTF-8.
pub(crate) fn read_text(file: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a directory, named pipe, socket or device): not read".to_string(),
        );
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, more than the {} allowed for one manifest file",
            meta.len(),
            MAX_FILE_BYTES
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A hash of what the loader would read (every YAML file's path, size, modification and change
/// times and inode; the revision file; the directory the root resolves to; the problems of the
/// walk): it changes when a file is added, removed, edited or swapped in. The periodic poll
/// compares it before reading the tree again. `None` when the root cannot be read.
pub fn tree_stamp(root: &Path) -> Option<u64> {
    let mut problems = Vec::new();
    let tree = collect_files(root, &mut problems).ok()?;
    let mut h = DefaultHasher::new();
    std::fs::canonicalize(root).ok().hash(&mut h);
    for p in &problems {
        p.to_string().hash(&mut h);
    }
    for file in tree.files.iter().chain([&root.join(REVISION_FILE)]) {
        file.hash(&mut h);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            (meta.ctime(), meta.ctime_nsec(), meta.ino(), meta.dev()).hash(&mut h);
        }
    }
    Some(h.finish())
}

/// The YAML files of a tree, and its service directories.
struct Tree {
    files: Vec<PathBuf>,
    services: BTreeSet<PathBuf>,
}

/// Every YAML file below `root`, sorted, following symlinks but not loops; and every directory
/// holding a service file.
fn collect_files(root: &Path, problems: &mut Vec<Problem>) -> Result<Tree, LoadError> {
    let unreadable = |source| LoadError::Unreadable {
        path: root.to_path_buf(),
        source,
    };
    let canonical_root = std::fs::canonicalize(root).map_err(unreadable)?;
    std::fs::read_dir(root).map_err(unreadable)?;
    let mut seen_dirs = HashSet::from([canonical_root]);
    let mut files = Vec::new();
    let mut services = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(file_problem(&dir, format!("cannot read directory: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.push(file_problem(&dir, format!("cannot read directory: {e}")));
                    continue;
                }
            };
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.') {
                continue;
            }
            // `metadata` follows symlinks; a dangling link is a problem, not a skip.
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(file_problem(&path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if meta.is_dir() {
                match std::fs::canonicalize(&path) {
                    Ok(c) if seen_dirs.insert(c.clone()) => stack.push(path),
                    Ok(c) => problems.push(file_problem(
                        &path,
                        format!("symlink loop: {} is already part of the tree", c.display()),
                    )),
                    Err(e) => problems.push(file_problem(&path, format!("cannot read: {e}"))),
                }
            } else if is_manifest(&path) && !meta.is_file() {
                // A FIFO, socket or device named like a manifest: opening it could block.
                problems.push(file_problem(
                    &path,
                    "not a regular file (a named pipe, socket or device): not read".to_string(),
                ));
            } else if is_manifest(&path) {
                if template::service::SERVICE_FILES.contains(&file_name.as_str()) {
                    services.insert(dir.clone());
                }
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(Tree { files, services })
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn file_problem(path: &Path, message: String) -> Problem {
    Problem::at(path, 1, 1, message)
}

/// The YAML parser's options: the limits every desired-state file is read with.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS_PER_FILE,
            max_depth: 64,
            max_aliases: 1_000,
            max_anchors: 10_000,
            max_nodes: 500_000,
            // Bounds what an alias bomb can replay (the default is a million events).
            max_events: 500_000,
        },
    }
}

/// The text being parsed: a file as written, or what a template rendered for an instance.
struct Source<'a> {
    file: &'a Path,
    /// The rendering (with its map to the template) when the text is a template's output.
    rendered: Option<&'a Rendered>,
    /// `rendered for myapp/testing`, printed after every location.
    context: Option<String>,
    /// The standard tags of what is rendered (for a service instance, or a service).
    standard_tags: Option<BTreeMap<String, String>>,
    /// Labels every resource of the text gets (instance, region, service).
    labels: BTreeMap<String, String>,
}

impl Source<'_> {
    /// A location in the text, as a location in the file: a rendered location is mapped back to
    /// the template line and column that produced it (the template text itself, or the
    /// expression whose value it is).
    fn origin(&self, loc: &serde_saphyr::Location) -> Origin {
        let (line, column) = (loc.line().max(1), loc.column().max(1));
        let (line, column) = self
            .rendered
            .and_then(|r| r.template_location(line, column))
            .unwrap_or((line, column));
        Origin {
            file: self.file.to_path_buf(),
            line,
            column,
        }
    }

    fn problem(&self, line: u64, column: u64, message: String) -> Problem {
        Problem {
            context: self.context.clone(),
            ..Problem::at(self.file, line, column, message)
        }
    }

    fn problem_at(&self, origin: Origin, message: String) -> Problem {
        Problem {
            origin,
            message,
            context: self.context.clone(),
        }
    }
}

/// Parses one file's text into resources, pushing every problem found.
pub fn parse_file(file: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<DesiredResource> {
    parse_source(
        &Source {
            file,
            rendered: None,
            context: None,
            standard_tags: None,
            labels: BTreeMap::new(),
        },
        text,
        problems,
    )
}

fn parse_source(src: &Source<'_>, text: &str, problems: &mut Vec<Problem>) -> Vec<DesiredResource> {
    let docs: Vec<Spanned<RawDoc>> =
        match serde_saphyr::from_multiple_with_options(text, yaml_options()) {
            Ok(d) => d,
            Err(e) => {
                let origin = match e.location() {
                    Some(loc) => src.origin(&loc),
                    None => src.origin(&serde_saphyr::Location::UNKNOWN),
                };
                problems.push(src.problem_at(origin, yaml_message(&e)));
                return Vec::new();
            }
        };
    let mut out = Vec::new();
    for doc in docs {
        let here = src.origin(&doc.referenced);
        if let Some(r) = check_doc(src, doc.value, here, problems) {
            out.push(r);
        }
    }
    out
}

fn check_doc(
    src: &Source<'_>,
    doc: RawDoc,
    here: Origin,
    problems: &mut Vec<Problem>,
) -> Option<DesiredResource> {
    let mut ok = true;
    let absent = [
        ("apiVersion", doc.api_version.is_none()),
        ("kind", doc.kind.is_none()),
        ("metadata", doc.metadata.is_none()),
        ("spec", doc.spec.is_none()),
    ];
    for (field, is_absent) in absent {
        if is_absent {
            problems.push(src.problem_at(here.clone(), format!("missing field `{field}`")));
            ok = false;
        }
    }
    if let Some(v) = &doc.api_version {
        if v.value != API_VERSION {
            problems.push(src.problem_at(
                src.origin(&v.referenced),
                format!(
                    "unsupported apiVersion `{}` (expected `{API_VERSION}`)",
                    v.value
                ),
            ));
            ok = false;
        }
    }
    let (Some(kind), Some(metadata), Some(spec), true) = (doc.kind, doc.metadata, doc.spec, ok)
    else {
        return None;
    };
    let kind = kind.value;
    let name_origin = src.origin(&metadata.name.referenced);
    let spec_origin = src.origin(&spec.location);
    let name = metadata.name.value;
    let spec_value = match spec.value {
        SpecValue::Typed(v) => Ok(v),
        SpecValue::Untyped(v) => kinds::spec_from_value(&kind, v).map_err(|m| format!("spec: {m}")),
    };
    let spec_value = spec_value.and_then(|v| match &src.standard_tags {
        Some(tags) => template::tags::add_standard_tags(&kind, v, tags),
        None => Ok(v),
    });
    let spec_value = match spec_value {
        Ok(v) => v,
        Err(message) => {
            problems.push(src.problem_at(spec_origin, message));
            return None;
        }
    };
    let mut valid = true;
    if let Err(message) = kinds::validate_name(&kind, &name) {
        problems.push(src.problem_at(name_origin.clone(), message));
        valid = false;
    }
    for message in kinds::validate_spec(&kind, &name, &spec_value) {
        problems.push(src.problem_at(spec_origin.clone(), message));
        valid = false;
    }
    let mut labels = metadata.labels;
    labels.extend(src.labels.clone());
    valid.then(|| DesiredResource {
        hash: hash_json(&spec_value),
        kind,
        name,
        labels,
        spec: spec_value,
        origin: here,
    })
}

/// A YAML error in an operator's words: limits say which limit and what to do; the rest is the
/// parser's message without its trailing location (printed first instead).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let e = e.without_snippet();
    let mut inner = e;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let serde_saphyr::Error::Budget { breach, .. } = inner else {
        let message = strip_location(&e.to_string());
        return match message.strip_suffix("; use Option<String>") {
            Some(_) => "expected text here, found nothing (an empty value or `null`)".to_string(),
            None => message,
        };
    };
    let what = match breach {
        B::Documents { .. } => format!(
            "more than {MAX_DOCUMENTS_PER_FILE} documents in one file; split it into several files"
        ),
        B::Depth { .. } => "nested more than 64 levels deep".to_string(),
        B::Aliases { .. } => "more than 1,000 aliases (`*name`) in one file".to_string(),
        B::Anchors { .. } => "more than 10,000 anchors (`&name`) in one file".to_string(),
        B::Nodes { .. } => "more than 500,000 YAML nodes in one file".to_string(),
        B::Events { .. } | B::AliasAnchorRatio { .. } | B::RecordedAnchorEvents { .. } => {
            "the aliases expand to more than 500,000 YAML nodes (an alias bomb?)".to_string()
        }
        other => format!("a YAML parser limit was exceeded ({other:?})"),
    };
    format!("file too large to load: {what}")
}

/// serde-saphyr appends " at line L, column C"; we print the location first instead.
pub(crate) fn strip_location(message: &str) -> String {
    let Some(i) = message.rfind(" at line ") else {
        return message.to_string();
    };
    // Only a trailing " at line L, column C" (not one inside "(used at line …)").
    let tail = &message[i + " at line ".len()..];
    let trailing = tail.split_once(", column ").is_some_and(|(l, c)| {
        !l.is_empty()
            && !c.is_empty()
            && l.bytes().all(|b| b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_digit())
    });
    if trailing {
        message[..i].to_string()
    } else {
        message.to_string()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: Spanned<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A spec, typed when `kind` came before it in the document (the usual order), else kept as
/// JSON and typed afterwards.
enum SpecValue {
    Typed(serde_json::Value),
    Untyped(serde_json::Value),
}

struct LocatedSpec {
    value: SpecValue,
    location: serde_saphyr::Location,
}

/// A `kind` this build knows; an unknown one is an error at the kind's own location.
struct KnownKind(String);

impl<'de> Deserialize<'de> for KnownKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = String::deserialize(d)?;
        if kinds::NAMES.contains(&kind.as_str()) {
            Ok(KnownKind(kind))
        } else {
            Err(de::Error::custom(format!(
                "unknown kind `{kind}` (known kinds: {})",
                kinds::NAMES.join(", ")
            )))
        }
    }
}

struct RawDoc {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    metadata: Option<Metadata>,
    spec: Option<LocatedSpec>,
}

impl<'de> Deserialize<'de> for RawDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawDocVisitor)
    }
}

struct RawDocVisitor;

const DOC_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

impl<'de> Visitor<'de> for RawDocVisitor {
    type Value = RawDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest: a mapping with apiVersion, kind, metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDoc, A::Error> {
        let mut doc = RawDoc {
            api_version: None,
            kind: None,
            metadata: None,
            spec: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => doc.api_version = Some(map.next_value()?),
                "kind" => {
                    let kind: Spanned<KnownKind> = map.next_value()?;
                    doc.kind = Some(Spanned::new(kind.value.0, kind.referenced, kind.defined));
                }
                "metadata" => doc.metadata = Some(map.next_value()?),
                "spec" => {
                    doc.spec = Some(match &doc.kind {
                        Some(kind) => {
                            let spanned = map.next_value_seed(kinds::SpecSeed(&kind.value))?;
                            LocatedSpec {
                                value: SpecValue::Typed(spanned.value),
                                location: spanned.referenced,
                            }
                        }
                        None => {
                            let spanned: Spanned<serde_json::Value> = map.next_value()?;
                            LocatedSpec {
                                value: SpecValue::Untyped(spanned.value),
                                location: spanned.referenced,
                            }
                        }
                    })
                }
                other => return Err(de::Error::unknown_field(other, DOC_FIELDS)),
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<DesiredResource>, Vec<String>) {
        let mut problems = Vec::new();
        let docs = parse_file(Path::new("t.yaml"), text, &mut problems);
        (docs, problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_valid_queue_document_parses() {
        let (docs, problems) = parse(
            "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  attributes:\n    DelaySeconds: 5\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].name, "q1");
        assert_eq!(docs[0].origin.line, 1);
    }

    #[test]
    fn an_empty_name_reads_as_an_operator_would_say_it() {
        let (_, problems) =
            parse("apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name:\nspec: {}\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("t.yaml:4:")
                && problems[0].contains("expected text here, found nothing")
                && !problems[0].contains("Option<"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_spec_field_is_reported_at_its_line() {
        let (_, problems) = parse(
            "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  atributes: {}\n",
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("t.yaml:6:3: unknown field `atributes`"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_kind_is_an_error_with_location() {
        let (_, problems) =
            parse("apiVersion: converge/v1\nkind: Bucket\nmetadata:\n  name: b\nspec: {}\n");
        assert!(
            problems[0].starts_with("t.yaml:2:") && problems[0].contains("unknown kind `Bucket`"),
            "{problems:?}"
        );
    }

    #[test]
    fn wrong_api_version_and_missing_fields_are_reported() {
        let (_, problems) = parse("apiVersion: v2\nkind: Queue\nspec: {}\n");
        assert!(problems
            .iter()
            .any(|p| p.contains("unsupported apiVersion `v2`")));
        assert!(problems
            .iter()
            .any(|p| p.contains("missing field `metadata`")));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let (_, problems) = parse(
            "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n  tags: {a: b}\n  tags: {c: d}\n",
        );
        assert!(
            problems[0].contains("duplicate mapping key"),
            "{problems:?}"
        );
        assert!(problems[0].starts_with("t.yaml:7:"), "{problems:?}");
    }

    #[test]
    fn spec_before_kind_is_still_typed() {
        let (docs, problems) = parse(
            "spec:\n  bogus: 1\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\n",
        );
        assert!(docs.is_empty());
        assert!(
            problems[0].starts_with("t.yaml:2:3:") && problems[0].contains("unknown field `bogus`"),
            "{problems:?}"
        );
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (docs, problems) = parse(&text);
        assert!(docs.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn strip_location_removes_the_suffix_only() {
        assert_eq!(strip_location("bad thing at line 3, column 4"), "bad thing");
        assert_eq!(strip_location("plain"), "plain");
        let alias =
            "expected string scalar (defined at line 3, column 9) (used at line 4, column 6)";
        assert_eq!(strip_location(alias), alias);
    }

    /// A desired tree in a temp dir: `(relative path, text)`.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn problems_of(dir: &tempfile::TempDir) -> Vec<String> {
        let root = dir.path().display().to_string();
        match load(dir.path()) {
            Ok(_) => Vec::new(),
            Err(LoadError::Invalid(ps)) => ps
                .iter()
                .map(|p| p.to_string().replace(&format!("{root}/"), ""))
                .collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    const SERVICE: &str =
        "instances:\n  testing: {region: us-east-1}\n  production: {region: us-west-2}\n";
    const QUEUES: &str = "{% for q in values.queues %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_name }}-{{ q }}\nspec:\n  tags: {team: {{ values.team }}, service_instance: mine}\n{% endfor %}\n";

    #[test]
    fn a_service_template_renders_once_per_instance_with_labels_and_standard_tags() {
        let d = tree(&[
            ("values/base.yaml", "team: ops\nqueues: [a]\n"),
            ("myapp/service.yaml", SERVICE),
            ("myapp/values.yaml", "queues: [a, b]\n"),
            ("myapp/values/production.yaml", "team: prod-ops\n"),
            ("myapp/queues.yaml", QUEUES),
            (
                "plain.yaml",
                "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: plain}\nspec: {}\n",
            ),
        ]);
        let set = load(d.path()).unwrap();
        let queues = set.of_kind("Queue").unwrap();
        let names: Vec<&str> = queues.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            vec![
                "myapp-production-uswest2-a",
                "myapp-production-uswest2-b",
                "myapp-testing-useast1-a",
                "myapp-testing-useast1-b",
                "plain",
            ]
        );
        let q = &queues["myapp-production-uswest2-b"];
        assert_eq!(q.spec["tags"]["team"], "prod-ops");
        assert_eq!(q.spec["tags"]["service_instance"], "mine", "user tags win");
        assert_eq!(q.spec["tags"]["cluster_name"], "myapp-production-uswest2");
        assert_eq!(q.spec["tags"]["service_group"], "myapp-production");
        assert_eq!(q.spec["tags"]["region"], "us-west-2");
        assert_eq!(q.labels[LABEL_INSTANCE], "myapp/production");
        assert_eq!(q.labels[LABEL_REGION], "us-west-2");
        assert_eq!(q.origin.line, 3, "the template line of the document");
        let plain = &queues["plain"];
        assert!(plain.labels.is_empty());
        assert_eq!(
            plain.spec["tags"],
            serde_json::json!({}),
            "no standard tags outside services"
        );

        let mut east = set.clone();
        let skipped = retain_region(&mut east, "us-east-1");
        let names: Vec<&str> = east
            .of_kind("Queue")
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            vec![
                "myapp-testing-useast1-a",
                "myapp-testing-useast1-b",
                "plain"
            ]
        );
        assert_eq!(
            skipped,
            vec![Skipped {
                instance: "myapp/production".into(),
                region: "us-west-2".into(),
                resources: 2
            }]
        );
    }

    #[test]
    fn a_yaml_error_in_rendered_output_points_at_the_template_line() {
        let d = tree(&[
            ("myapp/service.yaml", "instances:\n  testing: {region: us-east-1}\n"),
            (
                "myapp/q.yaml",
                "{% for q in ['a', 'b'] %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ service_group }}-{{ q }}\nspec:\n  attributes: {DelaySeconds: 5}\n  atributes: {}\n{% endfor %}\n",
            ),
        ]);
        let problems = problems_of(&d);
        assert_eq!(
            problems.len(),
            1,
            "the first error ends the file: {problems:?}"
        );
        assert!(
            problems[0].starts_with(
                "myapp/q.yaml:9:3 (rendered for myapp/testing): unknown field `atributes`"
            ),
            "{problems:?}"
        );
        let d = tree(&[
            (
                "myapp/service.yaml",
                "instances:\n  testing: {region: us-east-1}\n",
            ),
            (
                "myapp/q.yaml",
                "# a queue\n{% set n = 'q' %}\napiVersion: converge/v1\nkind: [{{ n }}\n",
            ),
        ]);
        let problems = problems_of(&d);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("myapp/q.yaml:5:")
                || problems[0].starts_with("myapp/q.yaml:4:"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("(rendered for myapp/testing)"),
            "{problems:?}"
        );
    }

    #[test]
    fn template_errors_name_the_file_and_line() {
        let d = tree(&[
            ("myapp/service.yaml", "instances:\n  testing: {region: us-east-1}\n"),
            ("myapp/a.yaml", "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ service_nmae }}\nspec: {}\n"),
            ("myapp/b.yaml", "apiVersion: converge/v1\n{% if %}\n"),
        ]);
        let problems = problems_of(&d);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "myapp/a.yaml:4:1 (rendered for myapp/testing): template undefined value"
            ) && problems[0].contains("service_nmae"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with(
                "myapp/b.yaml:2:1 (rendered for myapp/testing): template syntax error"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_values_and_service_files_are_errors_with_their_location() {
        let d = tree(&[
            (
                "myapp/service.yaml",
                "instances:\n  testing: {region: us-east-1}\n  staging: {}\n",
            ),
            ("myapp/values.yaml", "- not\n- a map\n"),
            ("myapp/values/prodution.yaml", "x: 1\n"),
            ("myapp/q.yaml", QUEUES),
        ]);
        let problems = problems_of(&d);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("myapp/service.yaml:3:")
                    && p.contains("instance `staging` has no `region`")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("myapp/values.yaml:1:1: a values file must be a map")),
            "{problems:?}"
        );
        assert_eq!(problems.len(), 2, "each problem once: {problems:?}");
        let d = tree(&[
            (
                "myapp/service.yaml",
                "instances:\n  production: {region: us-east-1}\n",
            ),
            ("myapp/values/prodution.yaml", "x: 1\n"),
        ]);
        let problems = problems_of(&d);
        assert_eq!(
            problems,
            vec!["myapp/values/prodution.yaml:1:1: values file for instance `prodution`, which myapp/service.yaml does not declare (instances: production); it would never be read"]
        );
    }

    #[test]
    fn a_template_outside_services_renders_once_with_values() {
        let d = tree(&[
            ("values/base.yaml", "delay: 7\n"),
            ("svc/service.yaml", "instances: {}\n"),
            ("q.yaml", "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: q}\nspec:\n  attributes: {DelaySeconds: {{ values.delay }}}\n"),
        ]);
        let set = load(d.path()).unwrap();
        assert_eq!(
            set.of_kind("Queue").unwrap()["q"].spec["attributes"]["DelaySeconds"],
            "7"
        );
    }

    #[test]
    fn the_same_name_from_two_instances_is_a_duplicate_naming_both() {
        let d = tree(&[
            (
                "myapp/service.yaml",
                "instances:\n  testing: {region: us-east-1}\n  production: {region: us-east-1}\n",
            ),
            (
                "myapp/q.yaml",
                "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: shared}\nspec: {}\n",
            ),
        ]);
        let problems = problems_of(&d);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(
                "(rendered for myapp/testing): duplicate Queue `shared`: also defined at"
            ) && problems[0].ends_with("myapp/q.yaml:1:1 (rendered for myapp/production)"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_changed_values_file_changes_the_fingerprint() {
        let d = tree(&[
            (
                "myapp/service.yaml",
                "instances:\n  testing: {region: us-east-1}\n",
            ),
            ("myapp/values.yaml", "queues: [a]\nteam: x\n"),
            ("myapp/q.yaml", QUEUES),
        ]);
        let before = load(d.path()).unwrap().fingerprint;
        std::fs::write(
            d.path().join("myapp/values.yaml"),
            "queues: [a, b]\nteam: x\n",
        )
        .unwrap();
        let after = load(d.path()).unwrap();
        assert_ne!(before, after.fingerprint);
        assert_eq!(after.len(), 2);
    }

    #[test]
    fn a_shared_template_renders_once_for_the_service() {
        let d = tree(&[
            ("myapp/service.yaml", SERVICE),
            ("myapp/values.yaml", "queues: [a]\nteam: ops\n"),
            ("myapp/queues.yaml", QUEUES),
            (
                "myapp/shared/q.yaml",
                "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: '{{ service_name }}-shared'}\nspec: {tags: {team: '{{ values.team }}'}}\n",
            ),
        ]);
        let mut set = load(d.path()).unwrap();
        let q = &set.of_kind("Queue").unwrap()["myapp-shared"];
        assert_eq!(
            q.spec["tags"],
            serde_json::json!({"service_name": "myapp", "team": "ops"})
        );
        assert_eq!(q.labels[LABEL_SERVICE], "myapp");
        assert_eq!(q.context().as_deref(), Some("rendered for myapp (shared)"));
        let testing = to_manifests(&set, Some("myapp/testing"));
        assert!(testing.contains("name: myapp-shared"), "{testing}");
        assert!(
            testing.contains("name: myapp-testing-useast1-a"),
            "{testing}"
        );
        assert!(!testing.contains("myapp-production"), "{testing}");
        retain_region(&mut set, "eu-west-1");
        let names: Vec<&str> = set
            .of_kind("Queue")
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            vec!["myapp-shared"],
            "shared resources exist in every region"
        );
        let d = tree(&[
            ("myapp/service.yaml", SERVICE),
            ("myapp/shared/q.yaml", "name: {{ service_instance }}\n"),
        ]);
        let problems = problems_of(&d);
        assert!(
            problems[0].starts_with(
                "myapp/shared/q.yaml:1:1 (rendered for myapp (shared)): template undefined value"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn rendered_manifests_load_back_as_the_same_set() {
        let d = tree(&[
            ("myapp/service.yaml", SERVICE),
            ("myapp/values.yaml", "queues: [a, b]\nteam: ops\n"),
            ("myapp/queues.yaml", QUEUES),
        ]);
        let set = load(d.path()).unwrap();
        let text = to_manifests(&set, None);
        assert!(text.contains("# "), "{text}");
        let mut problems = Vec::new();
        let docs = parse_file(Path::new("rendered.yaml"), &text, &mut problems);
        assert!(problems.is_empty(), "{problems:?}\n{text}");
        assert_eq!(docs.len(), set.len());
        for doc in docs {
            let original = &set.of_kind(&doc.kind).unwrap()[&doc.name];
            assert_eq!(doc.spec, original.spec, "{}", doc.name);
        }
    }
}
