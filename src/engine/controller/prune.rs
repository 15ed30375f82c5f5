//! Pruning: deleting what this controller owns and no longer desires — only after a full,
//! successful listing, never from an empty desired tree, at most `--max-deletions` per desired
//! generation; every refusal is logged once and counted.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::{AppliedChange, Controller, Engine};
use crate::core::{Action, DesiredSet, ErrorClass, KindError};
use crate::engine::status::{PruneState, PruneStatus};
use crate::engine::Kind;

impl<K: Kind> Controller<K> {
    /// Deletes (or, without `mutate`, lists) the owned resources of `observed` that are not
    /// desired.
    pub(super) async fn prune(
        &mut self,
        eng: &Engine,
        desired: &DesiredSet,
        observed: &BTreeMap<String, K::Live>,
        mutate: bool,
    ) {
        self.prune.clear();
        if !eng.settings.prune {
            return;
        }
        let id = eng.settings.controller_id.as_str();
        let candidates = observed
            .iter()
            .filter(|(n, l)| !self.specs.contains_key(*n) && K::owner(l) == Some(id));
        for (name, live) in candidates {
            if !mutate {
                self.prune.push(PruneStatus::new(
                    name,
                    PruneState::WouldDelete,
                    "owned by this controller and no longer desired",
                ));
                continue;
            }
            if let Some(reason) = refusal(eng, desired) {
                if self.refused.insert((desired.generation, name.clone())) {
                    eng.metrics.deletions_refused.inc();
                    tracing::warn!(kind = K::NAME, name = %name, reason = %reason, "deletion refused");
                }
                self.prune
                    .push(PruneStatus::new(name, PruneState::Refused, reason));
                continue;
            }
            if let Err(e) = self.delete_one(eng, desired, name, live).await {
                eng.metrics
                    .errors(eng.labels(K::NAME), e.class.as_str())
                    .inc();
                self.prune
                    .push(PruneStatus::new(name, PruneState::Failed, e.message));
            }
        }
        self.refused.retain(|(g, _)| *g == desired.generation);
    }

    /// One deletion: bounded by the call deadline, timed, audited and counted.
    async fn delete_one(
        &self,
        eng: &Engine,
        desired: &DesiredSet,
        name: &str,
        live: &K::Live,
    ) -> Result<(), KindError> {
        let started = Instant::now();
        let res = tokio::time::timeout(eng.settings.call_deadline, self.kind.delete(name, live))
            .await
            .unwrap_or_else(|_| {
                Err(KindError::new(
                    ErrorClass::Retryable,
                    format!("deleting {} {name} timed out", K::NAME),
                ))
            });
        eng.metrics
            .apply_duration
            .observe(started.elapsed().as_secs_f64());
        eng.audit.record(
            eng.who(),
            desired.revision.as_deref(),
            K::NAME,
            name,
            Action::Delete,
            &[],
            &res,
            started.elapsed(),
        );
        if res.is_ok() {
            eng.metrics.changes(eng.labels(K::NAME), "delete").inc();
            eng.record_applied(AppliedChange {
                kind: K::NAME,
                name: name.to_string(),
                action: Action::Delete,
                fields: Vec::new(),
            });
        }
        res
    }
}

/// Why a deletion may not happen now, if it may not: the tree is empty, or the generation's
/// deletion budget is spent (taking one from it otherwise).
fn refusal(eng: &Engine, desired: &DesiredSet) -> Option<String> {
    if desired.is_empty() {
        Some("the desired state is empty; an empty tree never prunes".to_string())
    } else if !eng.take_deletion(desired.generation) {
        Some(format!(
            "--max-deletions {} reached for desired generation {}",
            eng.settings.max_deletions, desired.generation
        ))
    } else {
        None
    }
}
