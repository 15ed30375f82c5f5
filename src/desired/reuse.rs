//! Incremental reloads: what each manifest file rendered is kept between loads and reused
//! while nothing it was made from has changed, so a `git push` that touches one service
//! re-renders and re-checks that service only.
//!
//! A file's output depends on its own text, its role (which service it belongs to, shared or
//! per instance), and the configuration the renderer reads for it: `service.yaml` and
//! `values.yaml` of its service, and every file of a `values/` directory in or above its
//! directory. The reuse key hashes all of these, so any change to any of them renders the file
//! again; templates cannot include other files (the environment has no loader), so nothing
//! else can change what a file renders. Only files that rendered without a problem are kept:
//! a file with problems is rendered (and reported) afresh every time, so the problems of an
//! invalid tree are exactly those of a full load. Placement, derived resources and the
//! cross-file checks (unique names, references) always run on the whole set: the
//! all-or-nothing guarantee does not change.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::core::model::DesiredResource;
use crate::template::service::{SERVICE_FILES, SERVICE_VALUES_FILES, VALUES_DIR};
use crate::template::Role;

/// What each file rendered at the last load, by path.
#[derive(Default)]
pub struct RenderCache {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    /// Files rendered and reused by the last load.
    last: Mutex<(usize, usize)>,
}

struct Entry {
    key: u64,
    docs: Vec<DesiredResource>,
}

impl RenderCache {
    /// What `file` rendered when its inputs hashed to `key`, if it did, taken out of the
    /// cache (the load that takes it keeps it again: [`Recording::keep`]).
    pub(super) fn take(&self, file: &Path, key: u64) -> Option<Vec<DesiredResource>> {
        let mut entries = self.entries.lock().ok()?;
        if entries.get(file)?.key != key {
            return None;
        }
        entries.remove(file).map(|e| e.docs)
    }

    /// Starts recording a load: what it renders (or reuses) replaces everything, so files that
    /// are gone are forgotten.
    pub(super) fn begin(&self) -> Recording<'_> {
        Recording {
            cache: self,
            fresh: HashMap::new(),
        }
    }

    /// How many manifest files the last load rendered, and how many it reused.
    pub fn last_load(&self) -> (usize, usize) {
        self.last.lock().map_or((0, 0), |l| *l)
    }
}

/// The files of one load, kept once the load is over.
pub(super) struct Recording<'a> {
    cache: &'a RenderCache,
    fresh: HashMap<PathBuf, Entry>,
}

impl Recording<'_> {
    /// `file` rendered `docs` from inputs hashing to `key`, without a problem.
    pub fn keep(&mut self, file: &Path, key: u64, docs: Vec<DesiredResource>) {
        self.fresh.insert(file.to_path_buf(), Entry { key, docs });
    }

    /// The load is over, having rendered `rendered` files and reused `reused`: what it kept
    /// replaces the cache.
    pub fn finish(self, rendered: usize, reused: usize) {
        if let Ok(mut entries) = self.cache.entries.lock() {
            *entries = self.fresh;
        }
        if let Ok(mut last) = self.cache.last.lock() {
            *last = (rendered, reused);
        }
    }
}

/// The configuration each directory contributes to the files at or below it: a hash of the
/// paths and texts of its `service.yaml`, `values.yaml` and `values/` files.
pub(super) struct ConfigDigests {
    by_dir: HashMap<PathBuf, u64>,
}

impl ConfigDigests {
    /// From every file of the tree and its text (files that could not be read are left out:
    /// they fail the load anyway).
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a Path, &'a str)>) -> ConfigDigests {
        let mut by_dir: HashMap<PathBuf, DefaultHasher> = HashMap::new();
        for (file, text) in files {
            let Some(dir) = influence(file) else {
                continue;
            };
            let h = by_dir.entry(dir).or_default();
            file.hash(h);
            text.hash(h);
        }
        ConfigDigests {
            by_dir: by_dir.into_iter().map(|(d, h)| (d, h.finish())).collect(),
        }
    }

    /// The reuse key of the check of configuration file `file` with `text`: it depends on the
    /// file, the rest of its directory's configuration (a values file of an instance the
    /// `service.yaml` beside it must declare) and, for a `service.yaml`, the accounts its
    /// instances name.
    pub fn config_key(&self, file: &Path, text: &str, accounts: Option<u64>) -> u64 {
        let mut h = DefaultHasher::new();
        (4u8, file, text, accounts).hash(&mut h);
        if let Some(dir) = influence(file) {
            self.by_dir.get(&dir).hash(&mut h);
        }
        h.finish()
    }

    /// The reuse key of manifest `file` with `text` and `role`.
    pub fn key(&self, root: &Path, file: &Path, role: &Role, text: &str) -> u64 {
        let mut h = DefaultHasher::new();
        file.hash(&mut h);
        text.hash(&mut h);
        match role {
            Role::Config => 0u8.hash(&mut h),
            Role::Manifest => 1u8.hash(&mut h),
            Role::Service(dir) => (2u8, dir).hash(&mut h),
            Role::Shared(dir) => (3u8, dir).hash(&mut h),
        }
        // The configuration of every directory from the root down to the file's own, and of
        // the service directory (its instances' values files live below it).
        let service_dir = match role {
            Role::Service(d) | Role::Shared(d) => Some(d.as_path()),
            _ => None,
        };
        for dir in file
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(root))
            .chain(service_dir)
        {
            if let Some(d) = self.by_dir.get(dir) {
                (dir, d).hash(&mut h);
            }
        }
        h.finish()
    }
}

/// A hash of `text` (`None`: absent).
pub(super) fn digest(text: Option<&str>) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The directory whose files `file` configures, if it is configuration: the parent of its
/// `values/` directory, or (for `service.yaml` and `values.yaml`) its own directory.
fn influence(file: &Path) -> Option<PathBuf> {
    let values_dir = file
        .ancestors()
        .skip(1)
        .find(|d| d.file_name().is_some_and(|n| n == VALUES_DIR));
    if let Some(v) = values_dir {
        return v.parent().map(Path::to_path_buf);
    }
    let name = file.file_name()?.to_string_lossy();
    let configures =
        SERVICE_FILES.contains(&name.as_ref()) || SERVICE_VALUES_FILES.contains(&name.as_ref());
    configures.then(|| file.parent().map(Path::to_path_buf))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(files: &[(&str, &str)]) -> ConfigDigests {
        ConfigDigests::new(files.iter().map(|(f, t)| (Path::new(*f), *t)))
    }

    #[test]
    fn a_file_is_keyed_by_its_text_and_the_configuration_above_it_only() {
        let root = Path::new("/t");
        let file = Path::new("/t/a/svc/queue.yaml");
        let role = Role::Service(PathBuf::from("/t/a/svc"));
        let base = [
            ("/t/values/base.yaml", "x: 1"),
            ("/t/a/svc/service.yaml", "instances: {}"),
            ("/t/a/svc/values/prod.yaml", "y: 1"),
            ("/t/b/other/service.yaml", "instances: {}"),
        ];
        let key = |files: &[(&str, &str)], text: &str| digests(files).key(root, file, &role, text);
        let k = key(&base, "q");
        assert_eq!(k, key(&base, "q"), "stable");
        assert_ne!(k, key(&base, "q2"), "its own text");
        for (i, changed) in [(0, "x: 2"), (1, "instances: {a: {}}"), (2, "y: 2")] {
            let mut files = base;
            files[i].1 = changed;
            assert_ne!(k, key(&files, "q"), "{} configures it", files[i].0);
        }
        let mut files = base;
        files[3].1 = "instances: {b: {}}";
        assert_eq!(k, key(&files, "q"), "another service's file does not");
        let added = [base.as_slice(), &[("/t/a/values/base.yaml", "z: 1")]].concat();
        assert_ne!(k, key(&added, "q"), "a values file added above it");
        assert_ne!(
            k,
            digests(&base).key(root, file, &Role::Manifest, "q"),
            "its role"
        );
    }
}
