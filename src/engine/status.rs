//! What every resource and kind is doing now: served as `/status`, summarised by `plan` and
//! `apply`.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::SystemTime;

use serde::Serialize;

use crate::core::{Action, ErrorClass, FieldChange};

/// The state of one desired resource (the `state` label of `converge_resources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Converged,
    Pending,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Converged => "converged",
            State::Pending => "pending",
            State::Failed => "failed",
        }
    }
}

/// One planned change, as shown by `plan` and `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedChange {
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

/// One resource's status.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceStatus {
    pub kind: &'static str,
    pub name: String,
    pub state: State,
    /// What the resource waits for (another resource that does not exist yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    /// RFC 3339 time of the last change converge applied to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<String>,
    /// The action of that change (the last one applied, when a sweep applied several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_action: Option<Action>,
    /// The desired revision that change was made for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_revision: Option<String>,
    /// Sweeps that found the resource changed out of band since this process started.
    #[serde(skip_serializing_if = "is_zero")]
    pub drifts: u32,
    /// Changes still to make (or, in observe-only mode, that would be made).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_changes: Vec<PlannedChange>,
    /// Consecutive failures.
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Where the resource is declared (`file:line:column`).
    pub source: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A resource converge would delete (`--prune`), or refused to.
#[derive(Debug, Clone, Serialize)]
pub struct PruneStatus {
    pub name: String,
    pub state: PruneState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PruneStatus {
    pub fn new(name: &str, state: PruneState, reason: impl Into<String>) -> PruneStatus {
        PruneStatus {
            name: name.to_string(),
            state,
            reason: Some(reason.into()),
        }
    }
}

/// Where a prune candidate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneState {
    /// Plan and observe-only: it would be deleted (served as `pending`).
    #[serde(rename = "pending")]
    WouldDelete,
    /// A guard refused the deletion (empty tree, `--max-deletions`).
    Refused,
    /// The deletion failed; it is tried again on the next full sweep.
    Failed,
}

impl PruneState {
    pub fn as_str(self) -> &'static str {
        match self {
            PruneState::WouldDelete => "pending",
            PruneState::Refused => "refused",
            PruneState::Failed => "failed",
        }
    }
}

/// One kind's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStatus {
    /// A sweep has completed.
    pub swept: bool,
    /// The last listing of AWS succeeded.
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sweep: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub converged: usize,
    pub pending: usize,
    pub failed: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune: Vec<PruneStatus>,
    /// The kind's resources; served inline in `/status`.
    pub resources: Vec<ResourceStatus>,
}

/// Status of every kind, replaced kind by kind after each sweep.
#[derive(Default)]
pub struct StatusStore {
    kinds: RwLock<BTreeMap<&'static str, KindStatus>>,
}

impl StatusStore {
    /// Registers a kind (not ready, not swept) so `/readyz` waits for it.
    pub fn register(&self, kind: &'static str) {
        if let Ok(mut g) = self.kinds.write() {
            g.entry(kind).or_default();
        }
    }

    pub fn update(&self, kind: &'static str, f: impl FnOnce(&mut KindStatus)) {
        if let Ok(mut g) = self.kinds.write() {
            f(g.entry(kind).or_default());
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, KindStatus> {
        self.kinds.read().map(|g| g.clone()).unwrap_or_default()
    }
}

/// RFC 3339, seconds precision, UTC.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
