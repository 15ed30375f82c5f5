//! Human-readable output of `plan` and `apply`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::controller::AppliedChange;
use crate::engine::status::{KindStatus, State};
use crate::metrics::Metrics;

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
pub fn render_plan(kinds: &BTreeMap<&'static str, KindStatus>) -> (String, PlanSummary) {
    let mut out = String::new();
    let mut sum = PlanSummary::default();
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

/// Renders what `apply` changed and what did not converge.
pub fn render_apply(
    applied: &[AppliedChange],
    kinds: &BTreeMap<&'static str, KindStatus>,
) -> (String, bool) {
    let mut out = String::new();
    for a in applied {
        let _ = writeln!(out, "{} {}: {}", a.kind, a.name, a.action);
        for f in &a.fields {
            let _ = writeln!(out, "    {f}");
        }
    }
    let mut converged = 0;
    let mut not_converged = Vec::new();
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
    for n in &not_converged {
        let _ = writeln!(out, "NOT CONVERGED {n}");
    }
    let _ = writeln!(
        out,
        "Apply: {} change(s) applied; {} resource(s) converged, {} not.",
        applied.len(),
        converged,
        not_converged.len()
    );
    (out, not_converged.is_empty())
}

/// One line: AWS API calls by service and operation, from the metrics.
pub fn render_calls(metrics: &Metrics) -> String {
    let mut total = 0u64;
    let mut parts = Vec::new();
    for mf in metrics.aws_calls_families() {
        total += mf.1;
        parts.push(format!("{} {}", mf.0, mf.1));
    }
    format!("AWS API calls: {total} ({})", parts.join(", "))
}
