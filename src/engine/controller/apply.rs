//! Applying one resource's planned changes, in order: each change timed, audited, counted; a
//! change that needs replacement is never applied, and a failed change stops the rest.

use tokio::time::Instant;

use super::track::{planned, Done, Outcome};
use super::{AppliedChange, Engine};
use crate::core::{Action, Change, ErrorClass, KindError};
use crate::engine::{DiffCtx, Kind};

/// Applies what `outcome` plans for `name` (`mutate` false: observe-only or plan, nothing is
/// applied). Drift is counted here, once per sweep that finds it.
pub(super) async fn apply_resource<K: Kind>(
    eng: &Engine,
    kind: &K,
    ctx: &DiffCtx<'_>,
    name: String,
    live: Option<&K::Live>,
    outcome: Outcome<K::Change>,
    mutate: bool,
) -> Done<K::Change> {
    let done = |outcome, applied: Vec<K::Change>, unapplied: &[K::Change]| Done {
        name: name.clone(),
        outcome,
        revision: (!applied.is_empty())
            .then(|| ctx.desired.revision.clone())
            .flatten(),
        applied,
        unapplied: planned(unapplied),
    };
    let Outcome::Changes { changes, drift } = outcome else {
        return done(outcome, Vec::new(), &[]);
    };
    if drift {
        eng.metrics.drift(eng.labels(K::NAME)).inc();
        tracing::warn!(kind = K::NAME, name = %name, "drift detected: resource changed out of band");
    }
    if !mutate {
        return done(Outcome::Changes { changes, drift }, Vec::new(), &[]);
    }
    let mut applied = Vec::new();
    let mut replacements = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        if change.action() == Action::Replace {
            replacements.push(change);
            continue;
        }
        match apply_one(eng, kind, ctx, &name, live, change).await {
            Ok(()) => applied.push(change.clone()),
            Err(e) => {
                // Still pending: the replacements seen so far, this change and the rest.
                let left: Vec<K::Change> = replacements
                    .iter()
                    .map(|c| (*c).clone())
                    .chain(changes[i..].iter().cloned())
                    .collect();
                return done(Outcome::Failed(e), applied, &left);
            }
        }
    }
    if let Some(first) = replacements.first() {
        let what = first
            .fields()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let e = KindError::terminal(format!(
            "{} {name} needs replacement ({what}); converge never replaces a resource on its own",
            K::NAME
        ));
        return done(
            Outcome::Failed(e),
            applied,
            &replacements.into_iter().cloned().collect::<Vec<_>>(),
        );
    }
    done(Outcome::Changes { changes, drift }, applied, &[])
}

/// One change: bounded by the call deadline, timed, audited and counted.
async fn apply_one<K: Kind>(
    eng: &Engine,
    kind: &K,
    ctx: &DiffCtx<'_>,
    name: &str,
    live: Option<&K::Live>,
    change: &K::Change,
) -> Result<(), KindError> {
    let started = Instant::now();
    let deadline = eng.settings.call_deadline;
    let res = tokio::time::timeout(deadline, kind.apply(ctx, name, live, change))
        .await
        .unwrap_or_else(|_| {
            Err(KindError::new(
                ErrorClass::Retryable,
                format!(
                    "{} {name}: {} timed out after {deadline:?}",
                    K::NAME,
                    change.action()
                ),
            ))
        });
    eng.metrics
        .apply_duration
        .observe(started.elapsed().as_secs_f64());
    let fields = change.fields();
    eng.audit.record(
        eng.who(),
        ctx.desired.revision.as_deref(),
        K::NAME,
        name,
        change.action(),
        &fields,
        &res,
        started.elapsed(),
    );
    if res.is_ok() {
        eng.metrics
            .changes(eng.labels(K::NAME), change.action().as_str())
            .inc();
        eng.record_applied(AppliedChange {
            kind: K::NAME,
            name: name.to_string(),
            action: change.action(),
            fields,
        });
    }
    res
}
