//! The audit log: one JSON line per mutating AWS change (`--audit-log PATH`), and the same
//! record in the log at info under the `audit` target.
//!
//! A record holds the time, the desired revision, the shard (and, with high availability, the
//! lease's holder and fencing token), kind, name, action, the fields changed (`from` → `to`,
//! as the kind describes them: policy documents and user data summarised, never dumped), the
//! outcome and how long the call took.
//!
//! The last [`RECENT`] records are also kept in memory, newest first, for the console's
//! activity feed and `/status` (bounded: a busy estate never grows it).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use crate::core::fence::LeaseStamp;
use crate::core::{Action, FieldChange, KindError};

/// Who made a change: the controller, the shard and (high availability) its lease.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub controller_id: &'a str,
    /// `<account alias>/<region>`.
    pub shard: &'a str,
    pub lease: Option<&'a LeaseStamp>,
}

/// One audit record.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub time: String,
    pub revision: Option<&'a str>,
    pub controller_id: &'a str,
    /// `<account alias>/<region>`.
    pub shard: &'a str,
    /// The lease holder (`<replica>/<process>`), with high availability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<&'a str>,
    /// The lease's fencing token, with high availability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<u64>,
    pub kind: &'a str,
    pub name: &'a str,
    pub action: Action,
    pub fields: &'a [FieldChange],
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the AWS call took, in milliseconds (its end is `time`).
    pub duration_ms: u64,
}

/// How many audit records are kept in memory.
pub const RECENT: usize = 200;

/// Where audit records go besides the log.
#[derive(Default)]
pub struct AuditLog {
    file: Option<Mutex<File>>,
    /// The last [`RECENT`] records, oldest first.
    recent: Mutex<VecDeque<serde_json::Value>>,
}

impl AuditLog {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            file: Some(Mutex::new(file)),
            recent: Mutex::default(),
        })
    }

    /// The records kept in memory, newest first.
    pub fn recent(&self) -> Vec<serde_json::Value> {
        self.recent
            .lock()
            .map(|r| r.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Records one change and its outcome.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        who: Who<'_>,
        revision: Option<&str>,
        kind: &str,
        name: &str,
        action: Action,
        fields: &[FieldChange],
        res: &Result<(), KindError>,
        took: std::time::Duration,
    ) {
        let rec = Record {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            revision,
            controller_id: who.controller_id,
            shard: who.shard,
            lease_holder: who.lease.map(|l| l.holder.as_str()),
            lease_token: who.lease.map(|l| l.token),
            kind,
            name,
            action,
            fields,
            outcome: if res.is_ok() { "ok" } else { "error" },
            error: res.as_ref().err().map(|e| e.message.clone()),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        };
        let line = serde_json::to_string(&rec).unwrap_or_default();
        if let (Ok(mut recent), Ok(value)) = (self.recent.lock(), serde_json::to_value(&rec)) {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(value);
        }
        match res {
            Ok(()) => {
                tracing::info!(target: "audit", shard = who.shard, lease_token = who.lease.map(|l| l.token), kind, name, action = action.as_str(), revision = revision.unwrap_or("-"), record = %line, "applied")
            }
            Err(e) => {
                tracing::info!(target: "audit", shard = who.shard, lease_token = who.lease.map(|l| l.token), kind, name, action = action.as_str(), revision = revision.unwrap_or("-"), record = %line, error = %e, "apply failed")
            }
        }
        if let Some(f) = &self.file {
            if let Ok(mut f) = f.lock() {
                if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                    tracing::error!(error = %e, "cannot write the audit log");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_records_kept_in_memory_are_bounded_and_newest_first() {
        let log = AuditLog::default();
        let who = Who {
            controller_id: "c",
            shard: "default/us-east-1",
            lease: None,
        };
        for i in 0..RECENT + 50 {
            let res = if i % 2 == 0 {
                Ok(())
            } else {
                Err(KindError::terminal("no"))
            };
            let name = format!("q{i}");
            log.record(
                who,
                Some("rev"),
                "Queue",
                &name,
                Action::Update,
                &[],
                &res,
                std::time::Duration::from_millis(7),
            );
        }
        let recent = log.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0]["name"], format!("q{}", RECENT + 49));
        assert_eq!(recent[0]["outcome"], "error");
        assert_eq!(recent[0]["duration_ms"], 7);
        assert_eq!(recent[RECENT - 1]["name"], "q50");
    }
}
