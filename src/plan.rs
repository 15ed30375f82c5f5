//! Human-readable output of `plan` and `apply`, shard by shard.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::controller::AppliedChange;
use crate::engine::fleet::{Fleet, ShardState};
use crate::engine::status::{KindStatus, State};
use crate::metrics::Metrics;

/// What one shard did, for the summary.
pub struct ShardReport {
    /// `<account>/<region>`.
    pub shard: String,
    /// Why the shard could not run, if it could not.
    pub error: Option<String>,
    pub kinds: BTreeMap<&'static str, KindStatus>,
    pub applied: Vec<AppliedChange>,
}

/// Every shard of `fleet`, in order.
pub fn reports(fleet: &Fleet) -> Vec<ShardReport> {
    fleet
        .snapshot()
        .into_iter()
        .map(|(id, state)| {
            let (error, kinds, applied) = match &state {
                ShardState::Running(e) => (
                    None,
                    e.status.snapshot(),
                    e.applied.lock().map(|g| g.clone()).unwrap_or_default(),
                ),
                ShardState::Failed { error, .. } => {
                    (Some(error.clone()), BTreeMap::new(), Vec::new())
                }
                ShardState::Starting | ShardState::Standby => (
                    Some("did not start in time".to_string()),
                    BTreeMap::new(),
                    Vec::new(),
                ),
            };
            ShardReport {
                shard: id.to_string(),
                error,
                kinds,
                applied,
            }
        })
        .collect()
}

/// A heading per shard when there are several (one shard reads as before).
fn heading(out: &mut String, shards: &[ShardReport], r: &ShardReport) {
    if shards.len() > 1 {
        let _ = writeln!(out, "== {} ==", r.shard);
    }
}

/// What a plan found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlanSummary {
    pub in_sync: usize,
    pub to_change: usize,
    pub waiting: usize,
    pub failed: usize,
    pub to_delete: usize,
    pub kind_errors: usize,
}

/// Renders every pending change, resource by resource: `Kind name: action`, then one line per
/// field, `field: live → desired`.
pub fn render_plan(shards: &[ShardReport]) -> (String, PlanSummary) {
    let mut out = String::new();
    let mut sum = PlanSummary::default();
    for r in shards {
        heading(&mut out, shards, r);
        if let Some(e) = &r.error {
            sum.kind_errors += 1;
            let _ = writeln!(out, "shard {}: cannot run: {e}", r.shard);
        }
        plan_kinds(&mut out, &mut sum, &r.kinds);
    }
    let _ = writeln!(
        out,
        "Plan: {} to change, {} to delete, {} in sync, {} waiting, {} failed.",
        sum.to_change,
        sum.to_delete,
        sum.in_sync,
        sum.waiting,
        sum.failed + sum.kind_errors
    );
    (out, sum)
}

fn plan_kinds(out: &mut String, sum: &mut PlanSummary, kinds: &BTreeMap<&'static str, KindStatus>) {
    for (kind, ks) in kinds {
        if let Some(err) = &ks.last_error {
            sum.kind_errors += 1;
            let _ = writeln!(out, "{kind}: cannot read from AWS: {err}");
            continue;
        }
        for r in &ks.resources {
            if let Some(w) = &r.waiting_for {
                sum.waiting += 1;
                let _ = writeln!(out, "{kind} {}: waiting for {w}", r.name);
                continue;
            }
            match r.state {
                State::Converged => sum.in_sync += 1,
                State::Failed => {
                    sum.failed += 1;
                    let _ = writeln!(
                        out,
                        "{kind} {}: error: {}",
                        r.name,
                        r.last_error.as_deref().unwrap_or("unknown")
                    );
                }
                State::Pending => {
                    sum.to_change += 1;
                    for c in &r.pending_changes {
                        let _ = writeln!(out, "{kind} {}: {}", r.name, c.action);
                        for f in &c.fields {
                            let _ = writeln!(out, "    {f}");
                        }
                    }
                }
            }
        }
        for p in &ks.prune {
            sum.to_delete += 1;
            let _ = writeln!(
                out,
                "{kind} {}: delete ({})",
                p.name,
                p.reason.as_deref().unwrap_or(p.state.as_str())
            );
        }
    }
}

/// Renders what `apply` changed and what did not converge.
pub fn render_apply(shards: &[ShardReport]) -> (String, bool) {
    let mut out = String::new();
    let mut applied = 0;
    let mut converged = 0;
    let mut not_converged = Vec::new();
    for r in shards {
        heading(&mut out, shards, r);
        for a in &r.applied {
            let _ = writeln!(out, "{} {}: {}", a.kind, a.name, a.action);
            for f in &a.fields {
                let _ = writeln!(out, "    {f}");
            }
        }
        applied += r.applied.len();
        if let Some(e) = &r.error {
            not_converged.push(format!("shard {}: cannot run: {e}", r.shard));
        }
        converged += unconverged(&r.kinds, &mut not_converged);
    }
    for n in &not_converged {
        let _ = writeln!(out, "NOT CONVERGED {n}");
    }
    let _ = writeln!(
        out,
        "Apply: {} change(s) applied; {} resource(s) converged, {} not.",
        applied,
        converged,
        not_converged.len()
    );
    (out, not_converged.is_empty())
}

/// Adds what did not converge to `not_converged`; returns how many resources did.
fn unconverged(
    kinds: &BTreeMap<&'static str, KindStatus>,
    not_converged: &mut Vec<String>,
) -> usize {
    let mut converged = 0;
    for (kind, ks) in kinds {
        if let Some(err) = &ks.last_error {
            not_converged.push(format!("{kind}: cannot read from AWS: {err}"));
        }
        if !ks.swept {
            not_converged.push(format!("{kind}: no complete sweep"));
        }
        for r in &ks.resources {
            if r.state == State::Converged {
                converged += 1;
            } else {
                let why = r
                    .waiting_for
                    .as_ref()
                    .map(|w| format!("waiting for {w}"))
                    .or_else(|| r.last_error.clone())
                    .unwrap_or_else(|| "not converged yet".to_string());
                not_converged.push(format!("{kind} {}: {}: {why}", r.name, r.state.as_str()));
            }
        }
    }
    converged
}

/// One line: AWS API calls by service and operation, from the metrics.
pub fn render_calls(metrics: &Metrics) -> String {
    let mut total = 0u64;
    let mut parts = Vec::new();
    for mf in metrics.aws_calls_families() {
        total += mf.1;
        parts.push(format!("{} {}", mf.0, mf.1));
    }
    let mut line = format!("AWS API calls: {total} ({})", parts.join(", "));
    let by_shard = metrics.aws_calls_by_shard();
    if by_shard.len() > 1 {
        let shards: Vec<_> = by_shard.iter().map(|(s, n)| format!("{s} {n}")).collect();
        line.push_str(&format!("\nAWS API calls by shard: {}", shards.join(", ")));
    }
    line
}
