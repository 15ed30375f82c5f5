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

use super::{load, retain_region, DesiredSet, LoadError};
use crate::metrics::Metrics;

type Watcher = Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>;

/// The current desired state as seen by the controllers: `None` until a valid tree is loaded.
pub type DesiredRx = watch::Receiver<Option<Arc<DesiredSet>>>;

/// Loads the tree, tracks generations and publishes each new valid set.
pub struct Reloader {
    root: PathBuf,
    generation: u64,
    current: Option<Arc<DesiredSet>>,
    tx: watch::Sender<Option<Arc<DesiredSet>>>,
    metrics: Arc<Metrics>,
    /// The controller's region: service instances of other regions are left out.
    region: Option<String>,
}

impl Reloader {
    pub fn new(root: PathBuf, metrics: Arc<Metrics>) -> (Self, DesiredRx) {
        let (tx, rx) = watch::channel(None);
        let r = Reloader {
            root,
            generation: 0,
            current: None,
            tx,
            metrics,
            region: None,
        };
        (r, rx)
    }

    /// Keeps only the service instances of `region` (see [`retain_region`]).
    pub fn set_region(&mut self, region: String) {
        self.region = Some(region);
    }

    /// The last good desired set, if any.
    pub fn current(&self) -> Option<Arc<DesiredSet>> {
        self.current.clone()
    }

    /// Reads the tree once. A valid tree whose content changed becomes the next generation;
    /// an invalid one is logged (every problem, `file:line:column: message`) and changes
    /// nothing but `converge_desired_valid`.
    pub fn reload(&mut self) -> Result<bool, LoadError> {
        self.metrics.desired_loads.inc();
        match load(&self.root) {
            Ok(mut set) => {
                let skipped = match &self.region {
                    Some(region) => retain_region(&mut set, region),
                    None => Vec::new(),
                };
                self.metrics.desired_valid.set(1);
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.fingerprint == set.fingerprint)
                {
                    return Ok(false);
                }
                self.generation += 1;
                set.generation = self.generation;
                self.metrics.desired_generation.set(self.generation as i64);
                self.metrics.set_revision(set.revision.as_deref());
                tracing::info!(
                    generation = set.generation,
                    revision = set.revision.as_deref().unwrap_or("-"),
                    resources = set.len(),
                    "loaded desired state"
                );
                for s in &skipped {
                    tracing::info!(instance = %s.instance, region = %s.region, resources = s.resources, "{s}");
                }
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
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                }
                got = ev_rx.recv(), if fs.is_some() => {
                    if got.is_none() { fs = None; }
                    while ev_rx.try_recv().is_ok() {}
                }
                _ = ticker.tick() => {}
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
        }
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
