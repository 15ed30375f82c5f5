//! The desired state: a directory tree of manifests, loaded all-or-nothing.
//!
//! Every file named `*.yaml` or `*.yml` below the root (names starting with `.` are skipped)
//! holds one or more YAML documents, each `apiVersion: converge/v1`, `kind`, `metadata`
//! (`name`, optional `labels`) and `spec`. A spec is checked against its kind's typed schema
//! while it is parsed, so an unknown field or a wrong type is reported at its own line and
//! column. Loading either yields a complete [`DesiredTree`] or every [`Problem`] found; an
//! invalid tree never replaces the last good one (see [`watch`]).
//!
//! Templates ([`crate::template`]):
//! - A directory holding a `service.yaml` is a service directory. Every manifest file below it
//!   is a Jinja template, rendered once per instance the service declares, with the instance's
//!   grains and layered `values`. What an instance renders carries the standard tags (see
//!   [`crate::template::tags`]) and the labels `converge/instance` and `converge/region` (and `converge/account`).
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
//! Accounts and shards ([`accounts`], [`place`]): `accounts.yaml` at the root names the
//! accounts; every resource is placed in one shard (an account and a region, or the account's
//! `global` services for IAM and Route 53). Names are unique per shard; a reference AWS cannot
//! honour across shards (a security group of another region) is an error.
//!
//! The loader knows no kind: it is generic over a [`Registry`] of schemas (the kinds module
//! provides the one the binary uses), which types, checks and expands every spec.
//!
//! Layout: [`tree`] walks the directory, [`parse`] reads one file's documents, [`instances`]
//! renders templates per instance and adds implied resources, [`manifests`] prints a set back
//! as YAML, [`watch`] keeps the set current.

pub mod accounts;
pub mod instances;
pub mod manifests;
pub mod parse;
pub mod place;
pub mod reuse;
pub mod tree;
pub mod watch;

#[cfg(test)]
mod tests;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::model::{DesiredResource, DesiredTree};
use crate::core::shard::Accounts;
use crate::core::source::Problem;
use crate::core::Registry;
use crate::template::{self, Renderer, Role};

pub use manifests::to_manifests;
pub use parse::parse_file;
pub use tree::tree_stamp;

/// The only manifest version this build understands.
pub const API_VERSION: &str = "converge/v1";
/// A file at the root of the tree whose first line, if present, names the revision
/// (e.g. the git commit) being served. Written by `deploy/git/post-receive`.
pub const REVISION_FILE: &str = ".converge-revision";

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

/// What loading needs besides the tree.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The region of a tree that names no region at all (`--region`, or the AWS
    /// configuration's). A tree that names one region uses it; one that names several needs
    /// every regional resource to name its own.
    pub default_region: Option<String>,
}

/// Loads, renders, places and validates the whole tree below `root`: every instance of every
/// account and region. `generation` is left at 0.
pub fn load<R: Registry>(root: &Path, opts: &LoadOptions) -> Result<DesiredTree, LoadError> {
    load_reusing::<R>(root, opts, &reuse::RenderCache::default())
}

/// [`load`], reusing what files rendered at the previous load through `cache` while nothing
/// they are made from changed ([`reuse`]); the result and the problems are those of a full
/// load.
pub fn load_reusing<R: Registry>(
    root: &Path,
    opts: &LoadOptions,
    cache: &reuse::RenderCache,
) -> Result<DesiredTree, LoadError> {
    load_stamped::<R>(root, opts, cache).1
}

/// [`load_reusing`], also returning the [`tree_stamp`] of what it read (from the same walk:
/// a change made while the files are read shows as a different stamp at the next poll).
pub fn load_stamped<R: Registry>(
    root: &Path,
    opts: &LoadOptions,
    cache: &reuse::RenderCache,
) -> (Option<u64>, Result<DesiredTree, LoadError>) {
    let started = std::time::Instant::now();
    let mut problems = Vec::new();
    match tree::collect_files(root, &mut problems) {
        Ok(tree) => (
            Some(tree.stamp),
            load_walked::<R>(root, opts, cache, (tree, started), problems),
        ),
        Err(e) => (None, Err(e)),
    }
}

fn load_walked<R: Registry>(
    root: &Path,
    opts: &LoadOptions,
    cache: &reuse::RenderCache,
    (tree, started): (tree::Tree, std::time::Instant),
    mut problems: Vec<Problem>,
) -> Result<DesiredTree, LoadError> {
    let walked = started.elapsed();
    let mut fingerprint = DefaultHasher::new();
    let revision = read_revision(root);
    revision.hash(&mut fingerprint);
    let mut renderer = Renderer::new(root, tree.services.clone());
    let mut accounts = None;
    let mut docs = Vec::new();
    let texts = cache.read_texts(tree.files);
    let config = reuse::ConfigDigests::new(
        texts
            .iter()
            .filter_map(|(f, t)| Some((f.as_path(), t.as_ref().ok()?.digest()))),
    );
    let read_done = started.elapsed();
    let accounts_digest = texts
        .iter()
        .find(|(f, _)| accounts::is_accounts_file(root, f))
        .map(|(_, t)| t.as_ref().map_or(0, reuse::Text::digest));
    let mut recording = cache.begin();
    // Services whose `service.yaml` was checked clean before, with these same accounts.
    let mut services_checked = std::collections::BTreeSet::new();
    let mut service_files: Vec<(PathBuf, PathBuf, u64)> = Vec::new();
    let mut config_time = std::time::Duration::ZERO;
    let (mut reused, mut rendered_files) = (0usize, 0usize);
    for (file, text) in texts {
        let text = match text {
            Ok(t) => t,
            Err(message) => {
                problems.push(Problem::at(&file, 1, 1, message));
                continue;
            }
        };
        file.hash(&mut fingerprint);
        text.digest().hash(&mut fingerprint);
        if accounts::is_accounts_file(root, &file) {
            match text.content(&file) {
                Ok(t) => accounts = accounts::parse(&file, &t, &mut problems),
                Err(message) => problems.push(Problem::at(&file, 1, 1, message)),
            }
            continue;
        }
        let role = template::role(root, &file, renderer.services());
        if let Role::Config = role {
            let t = std::time::Instant::now();
            let key = config.config_key(&file, text.digest(), accounts_digest);
            if cache.take(&file, key).is_some() {
                recording.keep(&file, key, Vec::new());
                if let Some(dir) = template::service::service_dir_of(&file) {
                    services_checked.insert(dir.to_path_buf());
                }
            } else {
                let before = problems.len();
                renderer.check_config(&file, &mut problems);
                match template::service::service_dir_of(&file) {
                    // Kept once its instances' accounts are checked too (below).
                    Some(dir) if problems.len() == before => {
                        service_files.push((dir.to_path_buf(), file.clone(), key));
                    }
                    _ if problems.len() == before => recording.keep(&file, key, Vec::new()),
                    _ => {}
                }
            }
            config_time += t.elapsed();
            continue;
        }
        let key = config.key(root, &file, &role, text.digest());
        if let Some(kept) = cache.take(&file, key) {
            docs.extend(kept.iter().cloned());
            recording.keep(&file, key, kept);
            reused += 1;
            continue;
        }
        rendered_files += 1;
        let text = match text.content(&file) {
            Ok(t) => t,
            Err(message) => {
                problems.push(Problem::at(&file, 1, 1, message));
                continue;
            }
        };
        let before = problems.len();
        let made = match role {
            Role::Config => Vec::new(),
            Role::Manifest if !template::looks_like_template(&text) => {
                parse::parse_file::<R>(&file, &text, &mut problems)
            }
            Role::Manifest => {
                instances::render_plain::<R>(&mut renderer, &file, &text, &mut problems)
            }
            Role::Service(dir) => {
                instances::render_service::<R>(&mut renderer, &dir, &file, &text, &mut problems)
            }
            Role::Shared(dir) => {
                instances::render_shared::<R>(&mut renderer, &dir, &file, &text, &mut problems)
            }
        };
        let made: Vec<Arc<DesiredResource>> = made.into_iter().map(Arc::new).collect();
        if problems.len() == before {
            recording.keep(&file, key, made.clone());
        }
        docs.extend(made);
    }
    let rendered = started.elapsed();
    let accounts = accounts.unwrap_or_else(Accounts::implicit);
    let unchecked = tree
        .services
        .iter()
        .filter(|d| !services_checked.contains(*d))
        .cloned()
        .collect();
    let unknown_accounts =
        check_instance_accounts(&mut renderer, &unchecked, &accounts, &mut problems);
    for (dir, file, key) in service_files {
        if !unknown_accounts.contains(&dir) {
            recording.keep(&file, key, Vec::new());
        }
    }
    recording.finish(rendered_files, reused);
    let placer = place::Placer::new(&accounts, opts.default_region.as_deref(), &docs);
    let mut memo = cache.take_memo();
    let mut shards = BTreeMap::new();
    for doc in docs {
        let Some(shard) = placer.shard_of::<R>(&doc, &mut problems) else {
            continue;
        };
        for extra in memo.derived::<R>(&doc, &shard.region, &mut problems) {
            if let Some(at) = placer.shard_of::<R>(&extra, &mut problems) {
                place::insert(&mut shards, &at, extra, &mut problems);
            }
        }
        place::insert(&mut shards, &shard, doc, &mut problems);
    }
    let placed = started.elapsed();
    place::check_references::<R>(&shards, &mut memo, &mut problems);
    cache.keep_memo(memo);
    tracing::debug!(walk = ?walked, render = ?(rendered - walked), place = ?(placed - rendered), references = ?(started.elapsed() - placed), files_rendered = rendered_files, files_reused = reused, read = ?(read_done - walked), config = ?config_time, "desired tree loaded");
    if problems.is_empty() {
        let regions = placer.regions().clone();
        Ok(place::tree(
            shards,
            accounts,
            regions,
            revision,
            fingerprint.finish(),
        ))
    } else {
        Err(LoadError::Invalid(problems))
    }
}

/// Every service instance's account is one the tree declares (reported at the instance).
/// Returns the services that name an account the tree does not declare.
fn check_instance_accounts(
    renderer: &mut Renderer,
    services: &std::collections::BTreeSet<PathBuf>,
    accounts: &Accounts,
    problems: &mut Vec<Problem>,
) -> std::collections::BTreeSet<PathBuf> {
    let mut unknown = std::collections::BTreeSet::new();
    for dir in services {
        // A service that does not read was reported when its templates were rendered.
        let mut ignored = Vec::new();
        let Some(service) = renderer.service(dir, &mut ignored) else {
            continue;
        };
        for i in &service.instances {
            match &i.account {
                Some(a) if accounts.get(a).is_none() => {
                    unknown.insert(dir.clone());
                    problems.push(Problem {
                        origin: i.origin.clone(),
                        message: format!(
                            "instance `{}`: {}",
                            i.grains.service_instance,
                            place::unknown_account(accounts, a)
                        ),
                        context: None,
                    })
                }
                _ => {}
            }
        }
    }
    unknown
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
    let tree = tree::collect_files(root, &mut problems)?;
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
