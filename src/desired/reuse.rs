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
//! invalid tree are exactly those of a full load. Placement and the cross-file checks (unique
//! names, references) always run on the whole set: the all-or-nothing guarantee does not
//! change. What those steps compute from one resource alone (the resources it implies, the
//! references its spec makes) is kept too ([`ResourceMemo`]), keyed by everything it is
//! computed from, and only when it was computed without a problem.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::tree::TreeFile;
use crate::core::source::read_text;

use crate::core::model::DesiredResource;
use crate::core::schema::Reference;
use crate::core::Registry;
use crate::template::service::{SERVICE_FILES, SERVICE_VALUES_FILES, VALUES_DIR};
use crate::template::Role;

/// What each file rendered at the last load, by path.
#[derive(Default)]
pub struct RenderCache {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    /// Files the last load rendered, reused and read.
    last: Mutex<LastLoad>,
    /// Per-resource results of the last load's whole-tree steps.
    memo: Mutex<ResourceMemo>,
    /// The digest of each file's text at the last load, and the stamp it had.
    texts: Mutex<HashMap<PathBuf, TextSeen>>,
}

/// What the last load did with the files.
#[derive(Default, Clone, Copy)]
struct LastLoad {
    rendered: usize,
    reused: usize,
    /// Read from disk (the others were known unchanged by their stamp).
    read: usize,
}

/// What a file held when the last load read it.
#[derive(Clone, Copy)]
pub(super) struct TextSeen {
    stamp: u64,
    /// When the read began.
    read_at: SystemTime,
    digest: u64,
}

/// How long after its last change a file is read again even though its stamp is unchanged:
/// the kernel's file times are coarse (a clock tick), so a second write of the same size
/// within that tick, after a read, would leave the stamp as it was ("racy clean", as git
/// calls it). A file unchanged for this long before it was read is trusted by its stamp.
const RACY_WINDOW: Duration = Duration::from_secs(1);

/// A file's text, or only its digest when its stamp shows it unchanged since the last load
/// read it (the text is read when a step needs it: rendering, the accounts file).
pub(super) enum Text {
    Read { text: String, digest: u64 },
    Unchanged { digest: u64 },
}

impl Text {
    pub fn digest(&self) -> u64 {
        match self {
            Text::Read { digest, .. } | Text::Unchanged { digest } => *digest,
        }
    }

    /// The text, read now if only its digest was known.
    pub fn content(&self, file: &Path) -> Result<Cow<'_, str>, String> {
        match self {
            Text::Read { text, .. } => Ok(Cow::Borrowed(text)),
            Text::Unchanged { .. } => read_text(file).map(Cow::Owned),
        }
    }
}

struct Entry {
    key: u64,
    docs: Vec<Arc<DesiredResource>>,
}

impl RenderCache {
    /// What `file` rendered when its inputs hashed to `key`, if it did, taken out of the
    /// cache (the load that takes it keeps it again: [`Recording::keep`]).
    pub(super) fn take(&self, file: &Path, key: u64) -> Option<Vec<Arc<DesiredResource>>> {
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

    /// The per-resource results of the last load, for this load to use (and keep again):
    /// what this load does not use is forgotten when it returns them ([`Self::keep_memo`]).
    pub(super) fn take_memo(&self) -> MemoPass {
        let old = self.memo.lock().map(|mut m| std::mem::take(&mut *m));
        MemoPass {
            old: old.unwrap_or_default(),
            new: ResourceMemo::default(),
        }
    }

    /// Every file of `files`: its digest alone when its stamp is what it was when the last
    /// load read it (and it had not changed for [`RACY_WINDOW`] before that read), else its
    /// text, read now. What was seen replaces what the last load saw.
    pub(super) fn read_texts(&self, files: Vec<TreeFile>) -> Vec<(PathBuf, Result<Text, String>)> {
        let known = self
            .texts
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        let mut seen = HashMap::with_capacity(files.len());
        let texts: Vec<_> = files
            .into_iter()
            .map(|file| {
                let trusted = known.get(&file.path).filter(|k| {
                    k.stamp == file.stamp
                        && file
                            .changed_at
                            .and_then(|c| c.checked_add(RACY_WINDOW))
                            .is_some_and(|settled| settled < k.read_at)
                });
                if let Some(k) = trusted {
                    seen.insert(file.path.clone(), *k);
                    return (file.path, Ok(Text::Unchanged { digest: k.digest }));
                }
                let read_at = SystemTime::now();
                let text = read_text(&file.path).map(|text| {
                    let digest = text_digest(&text);
                    seen.insert(
                        file.path.clone(),
                        TextSeen {
                            stamp: file.stamp,
                            read_at,
                            digest,
                        },
                    );
                    Text::Read { text, digest }
                });
                (file.path, text)
            })
            .collect();
        let reads = texts
            .iter()
            .filter(|(_, t)| !matches!(t, Ok(Text::Unchanged { .. })))
            .count();
        if let Ok(mut last) = self.last.lock() {
            last.read = reads;
        }
        if let Ok(mut t) = self.texts.lock() {
            *t = seen;
        }
        texts
    }

    /// How many files the last load read (the others were known unchanged by their stamp).
    pub fn last_reads(&self) -> usize {
        self.last.lock().map_or(0, |l| l.read)
    }

    /// Ends a load's use of the per-resource results.
    pub(super) fn keep_memo(&self, pass: MemoPass) {
        if let Ok(mut m) = self.memo.lock() {
            *m = pass.new;
        }
    }

    /// How many manifest files the last load rendered, and how many it reused.
    pub fn last_load(&self) -> (usize, usize) {
        self.last.lock().map_or((0, 0), |l| (l.rendered, l.reused))
    }
}

/// The files of one load, kept once the load is over.
pub(super) struct Recording<'a> {
    cache: &'a RenderCache,
    fresh: HashMap<PathBuf, Entry>,
}

impl Recording<'_> {
    /// `file` rendered `docs` from inputs hashing to `key`, without a problem.
    pub fn keep(&mut self, file: &Path, key: u64, docs: Vec<Arc<DesiredResource>>) {
        self.fresh.insert(file.to_path_buf(), Entry { key, docs });
    }

    /// The load is over, having rendered `rendered` files and reused `reused`: what it kept
    /// replaces the cache.
    pub fn finish(self, rendered: usize, reused: usize) {
        if let Ok(mut entries) = self.cache.entries.lock() {
            *entries = self.fresh;
        }
        if let Ok(mut last) = self.cache.last.lock() {
            (last.rendered, last.reused) = (rendered, reused);
        }
    }
}

/// Per-resource results of the whole-tree steps, by a hash of their inputs.
#[derive(Default)]
pub(super) struct ResourceMemo {
    derived: HashMap<u64, Vec<Arc<DesiredResource>>>,
    references: HashMap<u64, Arc<[Reference]>>,
}

/// One load's use of a [`ResourceMemo`]: it reads the last load's, and records its own.
pub(super) struct MemoPass {
    old: ResourceMemo,
    new: ResourceMemo,
}

impl MemoPass {
    /// The resources `doc` implies in `region` ([`super::instances::derived`]), computed again
    /// only if the resource (kind, name, spec, labels, origin) or the region changed. A result
    /// with problems is not kept, so they are reported on every load.
    pub fn derived<R: Registry>(
        &mut self,
        doc: &DesiredResource,
        region: &str,
        problems: &mut Vec<super::Problem>,
    ) -> Vec<Arc<DesiredResource>> {
        let mut h = DefaultHasher::new();
        (
            &doc.kind,
            &doc.name,
            doc.hash,
            &doc.labels,
            &doc.origin,
            region,
        )
            .hash(&mut h);
        let key = h.finish();
        if let Some(made) = self.old.derived.remove(&key) {
            self.new.derived.insert(key, made.clone());
            return made;
        }
        let before = problems.len();
        let made: Vec<_> = super::instances::derived::<R>(doc, region, problems)
            .into_iter()
            .map(Arc::new)
            .collect();
        if problems.len() == before {
            self.new.derived.insert(key, made.clone());
        }
        made
    }

    /// The references `doc`'s spec makes ([`Registry::references`]), computed again only if
    /// its kind or spec changed.
    pub fn references<R: Registry>(&mut self, doc: &DesiredResource) -> Arc<[Reference]> {
        let mut h = DefaultHasher::new();
        (&doc.kind, doc.hash).hash(&mut h);
        let key = h.finish();
        let made = match self.old.references.remove(&key) {
            Some(made) => made,
            None => self
                .new
                .references
                .get(&key)
                .cloned()
                .unwrap_or_else(|| R::references(&doc.kind, &doc.spec.value()).into()),
        };
        self.new.references.insert(key, made.clone());
        made
    }
}

/// The configuration each directory contributes to the files at or below it: a hash of the
/// paths and texts of its `service.yaml`, `values.yaml` and `values/` files.
pub(super) struct ConfigDigests {
    by_dir: HashMap<PathBuf, u64>,
}

impl ConfigDigests {
    /// From every file of the tree and the digest of its text (files that could not be read
    /// are left out: they fail the load anyway).
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a Path, u64)>) -> ConfigDigests {
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

    /// The reuse key of the check of configuration file `file` with `text` (its digest): it
    /// depends on the
    /// file, the rest of its directory's configuration (a values file of an instance the
    /// `service.yaml` beside it must declare) and, for a `service.yaml`, the accounts its
    /// instances name.
    pub fn config_key(&self, file: &Path, text: u64, accounts: Option<u64>) -> u64 {
        let mut h = DefaultHasher::new();
        (4u8, file, text, accounts).hash(&mut h);
        if let Some(dir) = influence(file) {
            self.by_dir.get(&dir).hash(&mut h);
        }
        h.finish()
    }

    /// The reuse key of manifest `file` with `text` (its digest) and `role`.
    pub fn key(&self, root: &Path, file: &Path, role: &Role, text: u64) -> u64 {
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

/// A hash of a file's text.
pub(super) fn text_digest(text: &str) -> u64 {
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
        ConfigDigests::new(files.iter().map(|(f, t)| (Path::new(*f), text_digest(t))))
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
        let key = |files: &[(&str, &str)], text: &str| {
            digests(files).key(root, file, &role, text_digest(text))
        };
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
            digests(&base).key(root, file, &Role::Manifest, text_digest("q")),
            "its role"
        );
    }
}
