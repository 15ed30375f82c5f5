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
pub struct Tree {
    pub files: Vec<PathBuf>,
    pub services: BTreeSet<PathBuf>,
}

/// Every YAML file below `root`, sorted, following symlinks but not loops; and every directory
/// holding a service file.
pub fn collect_files(root: &Path, problems: &mut Vec<Problem>) -> Result<Tree, LoadError> {
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
