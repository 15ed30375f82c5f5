//! Walking the desired tree: every manifest file below the root (following symlinks, not
//! loops), the service directories, and the stamp the periodic poll compares.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::{LoadError, REVISION_FILE};
use crate::core::source::Problem;
use crate::template;

/// A hash of what the loader would read (every YAML file's path, size, modification and change
/// times and inode; the revision file; the directory the root resolves to; the problems of the
/// walk): it changes when a file is added, removed, edited or swapped in. The periodic poll
/// compares it before reading the tree again. `None` when the root cannot be read.
pub fn tree_stamp(root: &Path) -> Option<u64> {
    collect_files(root, &mut Vec::new()).ok().map(|t| t.stamp)
}

/// The YAML files of a tree, and its service directories.
pub struct Tree {
    pub files: Vec<TreeFile>,
    pub services: BTreeSet<PathBuf>,
    /// [`tree_stamp`] of the tree as walked: taken from the walk's own `stat`s, so a load
    /// knows the stamp of what it read without walking twice.
    pub stamp: u64,
}

/// One YAML file of the tree, as the walk saw it.
pub struct TreeFile {
    pub path: PathBuf,
    /// What changes when the file is edited or replaced ([`file_stamp`]).
    pub stamp: u64,
    /// When the file last changed (its inode change time, which nothing can set back).
    pub changed_at: Option<std::time::SystemTime>,
}

/// Every YAML file below `root`, sorted, following symlinks but not loops; and every directory
/// holding a service file.
pub fn collect_files(root: &Path, problems: &mut Vec<Problem>) -> Result<Tree, LoadError> {
    let unreadable = |source| LoadError::Unreadable {
        path: root.to_path_buf(),
        source,
    };
    let canonical_root = std::fs::canonicalize(root).map_err(unreadable)?;
    let root_meta = std::fs::metadata(root).map_err(unreadable)?;
    std::fs::read_dir(root).map_err(unreadable)?;
    let first_problem = problems.len();
    // Directories already walked, by device and inode (what a symlink resolves to): a loop
    // shows as a directory seen twice, without resolving every path.
    let mut seen_dirs = HashSet::from([dir_identity(root, &root_meta)]);
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
            // A symlink is followed (`metadata`); a dangling one is a problem, not a skip.
            // Anything else is stat'ed relative to its directory (`DirEntry::metadata`),
            // which spares resolving the whole path again.
            let is_link = entry.file_type().map_or(true, |t| t.is_symlink());
            let meta = if is_link {
                std::fs::metadata(&path)
            } else {
                entry.metadata()
            };
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    problems.push(file_problem(&path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if meta.is_dir() {
                if seen_dirs.insert(dir_identity(&path, &meta)) {
                    stack.push(path);
                } else {
                    let target = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    problems.push(file_problem(
                        &path,
                        format!(
                            "symlink loop: {} is already part of the tree",
                            target.display()
                        ),
                    ));
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
                files.push(TreeFile {
                    path,
                    stamp: file_stamp(&meta),
                    changed_at: change_time(&meta),
                });
            }
        }
    }
    files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut h = DefaultHasher::new();
    canonical_root.hash(&mut h);
    for p in &problems[first_problem..] {
        p.to_string().hash(&mut h);
    }
    for file in &files {
        (&file.path, file.stamp).hash(&mut h);
    }
    let revision = root.join(REVISION_FILE);
    revision.hash(&mut h);
    std::fs::metadata(&revision)
        .ok()
        .map(|m| file_stamp(&m))
        .hash(&mut h);
    Ok(Tree {
        files,
        services,
        stamp: h.finish(),
    })
}

/// What identifies a directory whatever path leads to it: device and inode (elsewhere, a hash
/// of the resolved path).
fn dir_identity(path: &Path, meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        let mut h = DefaultHasher::new();
        std::fs::canonicalize(path).ok().hash(&mut h);
        (0, h.finish())
    }
}

/// What changes when a file is edited or replaced: size, modification time and, on Unix, the
/// change time and the inode.
fn file_stamp(meta: &std::fs::Metadata) -> u64 {
    let mut h = DefaultHasher::new();
    meta.len().hash(&mut h);
    meta.modified().ok().hash(&mut h);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.ctime(), meta.ctime_nsec(), meta.ino(), meta.dev()).hash(&mut h);
    }
    h.finish()
}

/// The inode change time (`st_ctime`): set by the kernel on every write, rename or
/// `chmod`, unlike the modification time that `touch -d`, `tar` and `rsync -a` set back.
fn change_time(meta: &std::fs::Metadata) -> Option<std::time::SystemTime> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let secs = u64::try_from(meta.ctime()).ok()?;
        let nanos = u32::try_from(meta.ctime_nsec()).ok()?;
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    {
        meta.modified().ok()
    }
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
