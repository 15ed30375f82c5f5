//! `/status`: every shard, kind and desired resource, the last load of the desired tree and
//! the recent audit records, as JSON. The console and `converge status` read it; its schema is
//! in README ("/status").
//!
//! However many clients poll it, the reconcile loops pay for at most one rendering at a time,
//! and for at most one every [`FRESH_FOR`]: concurrent requests wait for the rendering in
//! progress and share it, a request within [`FRESH_FOR`] of the last one gets that body. The
//! rendering runs on the blocking pool, never on a thread the loops run on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::Web;
use crate::engine::fleet::ShardState;

/// How long a rendered body is served again.
pub const FRESH_FOR: Duration = Duration::from_millis(250);

/// The last rendered body, and when it was rendered.
#[derive(Default)]
pub(super) struct Cache {
    last: Mutex<Option<(Instant, Bytes)>>,
    /// Renderings so far (what the bound is about).
    renders: AtomicU64,
}

pub(super) async fn serve(State(web): State<Arc<Web>>) -> Response {
    match body(&web).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

async fn body(web: &Arc<Web>) -> Result<Bytes, String> {
    // A task of its own holds the lock across the rendering, so a client that hangs up
    // (dropping this request) cannot release it early and start a second rendering; the
    // requests that arrive meanwhile wait for the lock and share the result.
    let w = web.clone();
    tokio::spawn(async move {
        let mut last = w.status.last.lock().await;
        if let Some((at, bytes)) = last.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return Ok(bytes.clone());
            }
        }
        w.status.renders.fetch_add(1, Ordering::Relaxed);
        let r = w.clone();
        let bytes = tokio::task::spawn_blocking(move || render(&r))
            .await
            .map_err(|e| format!("rendering /status failed: {e}"))??;
        *last = Some((Instant::now(), bytes.clone()));
        Ok(bytes)
    })
    .await
    .map_err(|e| format!("rendering /status failed: {e}"))?
}

/// The desired resources of a shard that does not run here, as `pending` (with why).
fn unrun(set: &crate::core::DesiredSet, why: &str) -> serde_json::Value {
    let mut kinds = serde_json::Map::new();
    for (kind, by_name) in &set.resources {
        let resources: Vec<_> = by_name
            .values()
            .map(|r| {
                json!({
                    "kind": kind, "name": r.name, "state": "pending",
                    "last_error": why, "source": r.origin.to_string(),
                })
            })
            .collect();
        kinds.insert(
            kind.clone(),
            json!({"swept": false, "ready": false, "converged": 0, "pending": resources.len(),
                   "failed": 0, "resources": resources}),
        );
    }
    serde_json::Value::Object(kinds)
}

/// The whole document.
fn render(web: &Web) -> Result<Bytes, String> {
    let fleet = &web.fleet;
    let tree = fleet.tree.borrow().clone();
    let lease = fleet.lease_view();
    let shards: Vec<_> = fleet
        .snapshot()
        .into_iter()
        .map(|(id, state)| {
            let (error, terminal) = match &state {
                ShardState::Failed { error, terminal } => (Some(error.clone()), *terminal),
                _ => (None, false),
            };
            let shard = id.to_string();
            let holder = lease.as_ref().and_then(|l| {
                l.shards
                    .iter()
                    .find(|s| s.shard == shard)
                    .and_then(|s| s.holder.clone())
            });
            json!({
                "shard": shard,
                "account": id.account,
                "region": id.region,
                "state": state.as_str(),
                "error": error,
                "terminal": terminal,
                "holder": holder,
                "resources": tree.as_ref().and_then(|t| t.shards.get(&id)).map(|s| s.len()),
                "kinds": match state.engine() {
                    Some(e) => serde_json::to_value(e.status.snapshot()).unwrap_or_default(),
                    None => tree
                        .as_ref()
                        .and_then(|t| t.shards.get(&id))
                        .map(|set| unrun(set, &format!("shard {}: {}", state.as_str(), error.as_deref().unwrap_or("not running here"))))
                        .unwrap_or_default(),
                },
            })
        })
        .collect();
    let uptime = web.started.elapsed().unwrap_or_default().as_secs();
    let body = json!({
        "controller_id": fleet.settings.controller_id,
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": crate::engine::status::rfc3339(web.started),
        "uptime_seconds": uptime,
        "observe_only": fleet.settings.observe_only,
        "prune": fleet.settings.prune,
        "desired": {
            "valid": fleet.metrics.desired_valid.get() == 1,
            "generation": tree.as_ref().map(|d| d.generation),
            "revision": tree.as_ref().and_then(|d| d.revision.clone()),
            "resources": tree.as_ref().map(|d| d.len()),
            "last_load": &*web.loads.borrow(),
        },
        "shards": shards,
        "lease": lease,
        "activity": web.audit.recent(),
    });
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| format!("rendering /status failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::audit::AuditLog;
    use crate::engine::fleet::Fleet;
    use crate::engine::Settings;
    use crate::metrics::Metrics;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_readers_cost_one_rendering() {
        let (_tree_tx, tree) = tokio::sync::watch::channel(None);
        let (_load_tx, loads) = tokio::sync::watch::channel(Default::default());
        let metrics = Arc::new(Metrics::new().unwrap());
        let fleet = Arc::new(Fleet::new(Settings::default(), metrics, tree));
        let web = Arc::new(Web::new(fleet, Arc::new(AuditLog::default()), loads, None));
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let w = web.clone();
                tokio::spawn(async move { body(&w).await })
            })
            .collect();
        for r in readers {
            let doc: serde_json::Value =
                serde_json::from_slice(&r.await.unwrap().unwrap()).unwrap();
            assert_eq!(doc["controller_id"], "converge");
        }
        assert_eq!(web.status.renders.load(Ordering::Relaxed), 1);
        tokio::time::sleep(FRESH_FOR + Duration::from_millis(50)).await;
        body(&web).await.unwrap();
        assert_eq!(
            web.status.renders.load(Ordering::Relaxed),
            2,
            "a stale body is rendered again"
        );
    }
}
