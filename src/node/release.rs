//! One service's releases on the node, under `<root>/<service>/`: `releases/<id>/` (unpacked
//! artifacts), `next` (the release being deployed), `current` (the deployed one), switched
//! atomically (a new symlink renamed over the old, so a reader sees the old target or the
//! new, never a missing or half-written one).
//!
//! A deployment runs the article's steps in order: link `next`, run the release's
//! `hooks/pre-release/*` (name order, the release as working directory), the configuration
//! command, switch `current`, run `hooks/post-release/*`. A failure at any step leaves
//! `current` where it was.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::NodeError;

/// The directories of one service.
#[derive(Debug, Clone)]
pub struct ServiceDir {
    pub dir: PathBuf,
}

impl ServiceDir {
    pub fn new(root: &Path, service: &str) -> ServiceDir {
        ServiceDir {
            dir: root.join(service),
        }
    }
    pub fn releases(&self) -> PathBuf {
        self.dir.join("releases")
    }
    pub fn release(&self, id: &str) -> PathBuf {
        self.releases().join(id)
    }
    /// The id `current` points at, if any.
    pub fn current(&self) -> Option<String> {
        std::fs::read_link(self.dir.join("current"))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
    }
}

/// Points `link` at `target` atomically: a temporary symlink renamed over it.
pub fn switch_link(link: &Path, target: &Path) -> Result<(), NodeError> {
    let io = |e: std::io::Error| NodeError::Io(format!("{}: {e}", link.display()));
    let tmp = link.with_extension("converge-tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io)?;
    std::fs::rename(&tmp, link).map_err(io)
}

/// Runs every executable of `release/hooks/<phase>/` in name order, then stops at the first
/// that fails; each is bounded by `timeout`, its output logged.
pub async fn run_hooks(
    release: &Path,
    phase: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), NodeError> {
    let dir = release.join("hooks").join(phase);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let mut hooks: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    hooks.sort();
    for hook in hooks.into_iter().filter(|h| h.is_file()) {
        let what = format!("{phase} hook {}", hook.display());
        let mut cmd = tokio::process::Command::new(&hook);
        cmd.current_dir(release);
        run(cmd, &what, env, timeout).await?;
    }
    Ok(())
}

/// Runs the configuration command (through `sh -c`) in `release`.
pub async fn configure(
    release: &Path,
    command: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), NodeError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(release);
    run(cmd, &format!("configuration `{command}`"), env, timeout).await
}

async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), NodeError> {
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| NodeError::Step(format!("{what}: cannot start: {e}")))?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| NodeError::Step(format!("{what}: still running after {timeout:?}; killed")))?
        .map_err(|e| NodeError::Step(format!("{what}: {e}")))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    tracing::info!(step = what, status = %out.status, stdout = %text(&out.stdout), stderr = %text(&out.stderr), "step ran");
    if out.status.success() {
        Ok(())
    } else {
        Err(NodeError::Step(format!(
            "{what}: {} ({})",
            out.status,
            text(&out.stderr).lines().last().unwrap_or("no output")
        )))
    }
}

/// Removes all but the newest `keep` releases (by name: ids sort by time), never the ones
/// `current` and `next` point at.
pub fn prune(service: &ServiceDir, keep: usize) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(service.releases()) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    ids.sort();
    let current = service.current();
    let mut removed = Vec::new();
    let excess = ids.len().saturating_sub(keep);
    for id in ids.into_iter().take(excess) {
        if Some(&id) == current.as_ref() {
            continue;
        }
        if std::fs::remove_dir_all(service.release(&id)).is_ok() {
            removed.push(id);
        }
    }
    removed
}
