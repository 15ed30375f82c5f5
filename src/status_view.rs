//! `converge status`: a running controller's `/status` as a terminal table, the same rows and
//! states the console shows.
//!
//! The states an operator reads refine the engine's three: a pending resource that waits for
//! another is `waiting`; a failure because another owner holds the resource is `conflict`.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

/// A resource's state as the console and `converge status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ViewState {
    Converged,
    Pending,
    Waiting,
    Failed,
    Conflict,
}

impl ViewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewState::Converged => "converged",
            ViewState::Pending => "pending",
            ViewState::Waiting => "waiting",
            ViewState::Failed => "failed",
            ViewState::Conflict => "conflict",
        }
    }

    fn of(r: &Value) -> ViewState {
        let s = |k: &str| r.get(k).and_then(Value::as_str);
        match s("state") {
            Some("converged") => ViewState::Converged,
            Some("failed") if s("error_class") == Some("conflict") => ViewState::Conflict,
            Some("failed") => ViewState::Failed,
            _ if s("waiting_for").is_some() => ViewState::Waiting,
            _ => ViewState::Pending,
        }
    }
}

/// One resource row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub shard: String,
    pub kind: String,
    pub name: String,
    pub state: ViewState,
    pub drifts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub source: String,
}

/// Which rows to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    pub state: Option<ViewState>,
    pub shard: Option<String>,
}

impl Filter {
    fn keeps(&self, r: &Row) -> bool {
        self.kind
            .as_deref()
            .is_none_or(|k| k.eq_ignore_ascii_case(&r.kind))
            && self.state.is_none_or(|s| s == r.state)
            && self.shard.as_deref().is_none_or(|s| s == r.shard)
    }
}

/// Every resource of a `/status` document, in shard, kind, name order.
pub fn rows(status: &Value) -> Vec<Row> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let mut out = Vec::new();
    for shard in status["shards"].as_array().into_iter().flatten() {
        let shard_id = text(shard, "shard").unwrap_or_default();
        for (kind, k) in shard["kinds"].as_object().into_iter().flatten() {
            for r in k["resources"].as_array().into_iter().flatten() {
                out.push(Row {
                    shard: shard_id.clone(),
                    kind: kind.clone(),
                    name: text(r, "name").unwrap_or_default(),
                    state: ViewState::of(r),
                    drifts: r["drifts"].as_u64().unwrap_or(0),
                    last_change: text(r, "last_change"),
                    last_action: text(r, "last_action"),
                    last_revision: text(r, "last_revision"),
                    waiting_for: text(r, "waiting_for"),
                    last_error: text(r, "last_error"),
                    source: text(r, "source").unwrap_or_default(),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.shard, &a.kind, &a.name).cmp(&(&b.shard, &b.kind, &b.name)));
    out
}

/// Shards that cannot run (failed or failing) and kinds whose last listing of AWS failed, as
/// `shard: error` and `shard Kind: error`.
pub fn failed_shards(status: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in status["shards"].as_array().into_iter().flatten() {
        let shard = s["shard"].as_str().unwrap_or("?");
        if matches!(s["state"].as_str(), Some("failed" | "failing")) {
            out.push(format!(
                "{shard}: {}",
                s["error"].as_str().unwrap_or("failed")
            ));
        }
        for (kind, k) in s["kinds"].as_object().into_iter().flatten() {
            if let Some(e) = k["last_error"].as_str() {
                out.push(format!("{shard} {kind}: cannot list: {}", one_line(e)));
            }
        }
    }
    out
}

/// The rows `filter` keeps.
pub fn select(status: &Value, filter: &Filter) -> Vec<Row> {
    rows(status)
        .into_iter()
        .filter(|r| filter.keeps(r))
        .collect()
}

/// Whether anything failed: a resource failed or in conflict, or a shard that cannot run.
pub fn any_failed(status: &Value) -> bool {
    !failed_shards(status).is_empty()
        || rows(status)
            .iter()
            .any(|r| matches!(r.state, ViewState::Failed | ViewState::Conflict))
}

/// The table: a header line, one line per row, columns padded; `wide` adds WAITING-FOR/ERROR
/// and SOURCE. Above it, the desired tree's state (and its problems when it is invalid).
pub fn table(status: &Value, rows: &[Row], wide: bool, now: SystemTime) -> String {
    let mut out = String::new();
    let desired = &status["desired"];
    let problems: Vec<&str> = desired["last_load"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let _ = writeln!(
        out,
        "controller {}  revision {}  generation {}  desired {}",
        status["controller_id"].as_str().unwrap_or("?"),
        desired["revision"].as_str().unwrap_or("-"),
        desired["generation"]
            .as_u64()
            .map_or("-".into(), |g| g.to_string()),
        if problems.is_empty() {
            "valid"
        } else {
            "INVALID (last good tree in force)"
        },
    );
    for p in &problems {
        let _ = writeln!(out, "  {p}");
    }
    for s in failed_shards(status) {
        let _ = writeln!(out, "shard {s}");
    }
    let mut header = vec!["SHARD", "KIND", "NAME", "STATE", "DRIFTS", "LAST CHANGE"];
    if wide {
        header.extend(["WAITING FOR / ERROR", "SOURCE"]);
    }
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let mut cells = vec![
            r.shard.clone(),
            r.kind.clone(),
            r.name.clone(),
            r.state.as_str().to_string(),
            r.drifts.to_string(),
            last_change(r, now),
        ];
        if wide {
            cells.push(match (&r.waiting_for, &r.last_error) {
                (Some(w), _) => format!("waits for {w}"),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            });
            cells.push(r.source.clone());
        }
        lines.push(cells);
    }
    let lines: Vec<Vec<String>> = lines
        .into_iter()
        .map(|l| l.iter().map(|c| one_line(c)).collect())
        .collect();
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for l in &lines {
        let mut line = String::new();
        for (i, cell) in l.iter().enumerate() {
            if i + 1 == l.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `update 5m ago @ rev`, or empty.
fn last_change(r: &Row, now: SystemTime) -> String {
    let Some(at) = &r.last_change else {
        return String::new();
    };
    let age = humantime::parse_rfc3339(at)
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .map(|d| format!("{} ago", short_age(d.as_secs())))
        .unwrap_or_else(|| at.clone());
    let mut s = format!("{} {age}", r.last_action.as_deref().unwrap_or("change"));
    if let Some(rev) = &r.last_revision {
        let _ = write!(s, " @ {rev}");
    }
    s
}

fn short_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Control characters (a newline in an AWS error, an escape sequence in a file name) would
/// break the table or drive the terminal: shown as spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status() -> Value {
        json!({
            "controller_id": "ops",
            "desired": {"revision": "abc123", "generation": 3, "last_load": {"valid": true, "problems": []}},
            "shards": [
                {"shard": "prod/us-east-1", "state": "running", "kinds": {
                    "Queue": {"resources": [
                        {"name": "b-queue", "state": "converged", "source": "q.yaml:1:1", "drifts": 2,
                         "last_change": "2026-12-01T10:00:00Z", "last_action": "update", "last_revision": "abc123"},
                        {"name": "a-queue", "state": "failed", "error_class": "conflict",
                         "last_error": "owned by\nsomeone else", "source": "q.yaml:9:1"}
                    ]},
                    "LoadBalancer": {"resources": [
                        {"name": "web", "state": "pending", "waiting_for": "SecurityGroup/web", "source": "lb.yaml:1:1"}
                    ]}
                }},
                {"shard": "prod/eu-west-1", "state": "failing", "error": "cannot assume role", "kinds": null}
            ]
        })
    }

    #[test]
    fn rows_carry_the_states_an_operator_reads() {
        let rows = rows(&status());
        let states: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.state)).collect();
        assert_eq!(
            states,
            vec![
                ("web", ViewState::Waiting),
                ("a-queue", ViewState::Conflict),
                ("b-queue", ViewState::Converged),
            ]
        );
        assert!(any_failed(&status()));
    }

    #[test]
    fn filters_narrow_the_rows() {
        let f = Filter {
            kind: Some("queue".into()),
            state: Some(ViewState::Converged),
            shard: None,
        };
        let rows = select(&status(), &f);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "b-queue");
        let none = Filter {
            shard: Some("prod/eu-west-1".into()),
            ..Filter::default()
        };
        assert!(select(&status(), &none).is_empty());
    }

    #[test]
    fn the_table_aligns_columns_and_says_what_failed() {
        let now = humantime::parse_rfc3339("2026-12-01T10:05:00Z").unwrap();
        let s = status();
        let text = table(&s, &rows(&s), true, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "controller ops  revision abc123  generation 3  desired valid"
        );
        assert_eq!(lines[1], "shard prod/eu-west-1: cannot assume role");
        assert!(lines[2].starts_with("SHARD            KIND           NAME      STATE"));
        let b = lines.iter().find(|l| l.contains("b-queue")).unwrap();
        assert!(
            b.contains("converged   2        update 5m ago @ abc123"),
            "{b}"
        );
        let a = lines.iter().find(|l| l.contains("a-queue")).unwrap();
        assert!(a.contains("owned by someone else"), "{a}");
        // Every row's STATE column starts where the header's does.
        let col = lines[2].find("STATE").unwrap();
        for l in &lines[3..] {
            assert!(
                ["waiting", "conflict", "converged"]
                    .iter()
                    .any(|s| l[col..].starts_with(s)),
                "{l}"
            );
        }
    }
}
