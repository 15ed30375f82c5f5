//! Keeping the desired state current: reload on filesystem events (debounced) and on a poll
//! timer, publish only complete valid trees, keep the last good one otherwise.
//!
//! The watched path may be a symlink that a deploy swaps atomically (`ln -s new tmp && mv -T tmp
//! current`, as `deploy/git/post-receive` and git-sync do). Its parent directory is watched
//! too, so the swap itself is an event, and the recursive watch is moved to the new target.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::{mpsc, watch};

use super::{tree_stamp, LoadError};
use crate::core::model::{LoadReport, LoadReportRx, TreeRx};
use crate::core::DesiredTree;
use crate::metrics::Metrics;

type Watcher = Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>;

/// How a tree is loaded: [`super::load_stamped`] for the registry of kinds the binary knows
/// (the stamp of what was read, and the tree or why not).
pub type Loader = Box<dyn Fn(&Path) -> (Option<u64>, Result<DesiredTree, LoadError>) + Send + Sync>;

/// Loads the tree, tracks generations and publishes each new valid tree.
pub struct Reloader {
    root: PathBuf,
    load: Loader,
    generation: u64,
    current: Option<Arc<DesiredTree>>,
    tx: watch::Sender<Option<Arc<DesiredTree>>>,
    report: watch::Sender<LoadReport>,
    metrics: Arc<Metrics>,
    /// What the tree looked like (names, sizes, times) when it was last read: the periodic
    /// poll reads it again only when this changed.
    stamp: Option<u64>,
}

impl Reloader {
    pub fn new(root: PathBuf, load: Loader, metrics: Arc<Metrics>) -> (Self, TreeRx) {
        let (tx, rx) = watch::channel(None);
        let r = Reloader {
            root,
            load,
            generation: 0,
            current: None,
            tx,
            report: watch::Sender::new(LoadReport::default()),
            metrics,
            stamp: None,
        };
        (r, rx)
    }

    /// How each read of the tree goes, from now on.
    pub fn reports(&self) -> LoadReportRx {
        self.report.subscribe()
    }

    /// The last good desired tree, if any.
    pub fn current(&self) -> Option<Arc<DesiredTree>> {
        self.current.clone()
    }

    /// Reads the tree once. A valid tree whose content changed becomes the next generation;
    /// an invalid one is logged (every problem, `file:line:column: message`) and changes
    /// nothing but `converge_desired_valid`.
    pub fn reload(&mut self) -> Result<bool, LoadError> {
        self.metrics.desired_loads.inc();
        // The stamp comes from the load's own walk, before the files are read: a change made
        // while reading shows at the next poll.
        let (stamp, loaded) = (self.load)(&self.root);
        self.stamp = stamp;
        self.report.send_replace(LoadReport {
            valid: loaded.is_ok(),
            at: Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
            unreadable: matches!(loaded, Err(LoadError::Unreadable { .. })),
            problems: match &loaded {
                Ok(_) => Vec::new(),
                Err(LoadError::Invalid(problems)) => {
                    problems.iter().map(ToString::to_string).collect()
                }
                Err(e) => vec![e.to_string()],
            },
        });
        match loaded {
            Ok(mut set) => {
                self.metrics.desired_valid.set(1);
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.fingerprint == set.fingerprint)
                {
                    return Ok(false);
                }
                self.generation += 1;
                set.set_generation(self.generation);
                self.metrics.desired_generation.set(self.generation as i64);
                self.metrics.set_revision(set.revision.as_deref());
                tracing::info!(
                    generation = set.generation,
                    revision = set.revision.as_deref().unwrap_or("-"),
                    resources = set.len(),
                    shards = set.shards.len(),
                    "loaded desired state"
                );
                if set.is_empty() {
                    tracing::warn!(
                        "the desired state is empty: nothing will be created, and nothing will be pruned"
                    );
                }
                let set = Arc::new(set);
                self.current = Some(set.clone());
                self.tx.send_replace(Some(set));
                Ok(true)
            }
            Err(e) => {
                self.metrics.desired_valid.set(0);
                match &e {
                    LoadError::Invalid(problems) => {
                        for p in problems {
                            tracing::error!(problem = %p, "invalid desired state; keeping the last good one");
                        }
                    }
                    LoadError::Unreadable { .. } => {
                        tracing::error!(error = %e, "desired state unreadable; keeping the last good one");
                    }
                }
                Err(e)
            }
        }
    }

    /// Watches the tree until `shutdown` turns true. Returns only then (or if the watcher
    /// cannot be created at all, in which case polling carries on alone).
    pub async fn run(
        mut self,
        debounce: Duration,
        poll: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
        let mut fs = FsWatch::new(&self.root, debounce, ev_tx);
        let mut ticker = tokio::time::interval(poll);
        ticker.tick().await;
        // After a reload, once the controllers have moved to the new generation and dropped
        // the old one, freed memory goes back to the system (see `crate::mem`).
        let mut trim_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                }
                _ = sleep_until_some(trim_at) => {
                    trim_at = None;
                    crate::mem::release_free_memory();
                    continue;
                }
                got = ev_rx.recv(), if fs.is_some() => {
                    if got.is_none() { fs = None; }
                    while ev_rx.try_recv().is_ok() {}
                }
                _ = ticker.tick() => {
                    // The poll is a safety net for missed events: stat the tree (a millisecond
                    // for hundreds of files) and read it only if something changed.
                    if self.stamp.is_some() && tree_stamp(&self.root) == self.stamp {
                        continue;
                    }
                }
            }
            // Loading is CPU-bound (rendering, parsing; a hostile file may take seconds within
            // the loader's limits): keep it off the async workers' hot path.
            let _ = match tokio::runtime::Handle::current().runtime_flavor() {
                tokio::runtime::RuntimeFlavor::MultiThread => {
                    tokio::task::block_in_place(|| self.reload())
                }
                _ => self.reload(),
            };
            if let Some(w) = fs.as_mut() {
                w.rearm(&self.root);
            }
            trim_at = Some(tokio::time::Instant::now() + Duration::from_secs(2));
        }
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct FsWatch {
    debouncer: Watcher,
    target: Option<PathBuf>,
}

impl FsWatch {
    fn new(root: &Path, debounce: Duration, tx: mpsc::UnboundedSender<()>) -> Option<FsWatch> {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        let parent = root.parent().map(Path::to_path_buf);
        let root_entry = root.clone();
        let handler = move |res: DebounceEventResult| match res {
            Ok(events) => {
                // The parent is watched only for the root's own entry (a symlink swap): other
                // files there (logs, other releases) must not cause reloads.
                // Reads (our own reloads open every file) are not changes: counting them made
                // each reload trigger the next.
                let relevant = events.iter().any(|ev| {
                    !matches!(ev.kind, EventKind::Access(_))
                        && ev.paths.iter().any(|p| {
                            *p == root_entry
                                || (p.parent() != parent.as_deref()
                                    && Some(p.as_path()) != parent.as_deref())
                        })
                });
                if relevant {
                    tracing::debug!(events = ?events.iter().map(|e| (&e.kind, &e.paths)).collect::<Vec<_>>(), "desired directory changed");
                    let _ = tx.send(());
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "filesystem watch error; polling continues");
                }
                let _ = tx.send(());
            }
        };
        let debouncer = match new_debouncer(debounce, None, handler) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the desired directory; falling back to polling");
                return None;
            }
        };
        let mut w = FsWatch {
            debouncer,
            target: None,
        };
        // The parent catches an atomic swap of a symlinked root.
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Err(e) = w.debouncer.watch(parent, RecursiveMode::NonRecursive) {
                tracing::warn!(error = %e, path = %parent.display(), "cannot watch parent directory");
            }
        }
        w.rearm(&root);
        Some(w)
    }

    /// Moves the recursive watch to wherever `root` points now.
    fn rearm(&mut self, root: &Path) {
        let now = std::fs::canonicalize(root).ok();
        if now == self.target {
            return;
        }
        if let Some(old) = self.target.take() {
            let _ = self.debouncer.unwatch(&old);
        }
        if let Some(new) = now {
            match self.debouncer.watch(&new, RecursiveMode::Recursive) {
                Ok(()) => self.target = Some(new),
                Err(e) => {
                    tracing::warn!(error = %e, path = %new.display(), "cannot watch desired directory; polling continues")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_stamp_changes_with_the_tree_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("current");
        let a = dir.path().join("release-a");
        std::fs::create_dir_all(a.join("svc")).unwrap();
        std::fs::write(a.join("svc/q.yaml"), "x: 1\n").unwrap();
        std::os::unix::fs::symlink(&a, &root).unwrap();
        let s0 = tree_stamp(&root);
        assert!(s0.is_some());
        assert_eq!(tree_stamp(&root), s0, "stable while nothing changes");

        // An editor's swap file is not a change; the revision file is.
        std::fs::write(a.join("svc/.q.yaml.swp"), "junk").unwrap();
        assert_eq!(tree_stamp(&root), s0);
        std::fs::write(a.join(crate::desired::REVISION_FILE), "abc\n").unwrap();
        let s1 = tree_stamp(&root);
        assert_ne!(s1, s0);

        // Same size, new content (and times).
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(a.join("svc/q.yaml"), "x: 2\n").unwrap();
        let s2 = tree_stamp(&root);
        assert_ne!(s2, s1);

        // A new file, then an atomic swap of the root to an identical copy.
        std::fs::write(a.join("svc/r.yaml"), "y: 1\n").unwrap();
        let s3 = tree_stamp(&root);
        assert_ne!(s3, s2);
        let b = dir.path().join("release-b");
        std::fs::create_dir_all(b.join("svc")).unwrap();
        for f in ["svc/q.yaml", "svc/r.yaml", crate::desired::REVISION_FILE] {
            std::fs::copy(a.join(f), b.join(f)).unwrap();
        }
        let tmp = dir.path().join("tmp-link");
        std::os::unix::fs::symlink(&b, &tmp).unwrap();
        std::fs::rename(&tmp, &root).unwrap();
        assert_ne!(tree_stamp(&root), s3);

        std::fs::remove_file(&root).unwrap();
        assert_eq!(tree_stamp(&root), None);
    }
}
