//! `/metrics`, `/healthz`, `/readyz` and `/status`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::engine::fleet::{Fleet, ShardState};

/// The HTTP routes, over every shard of the process.
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(fleet)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    fleet: Arc<Fleet>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(fleet))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(fleet): State<Arc<Fleet>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        fleet.metrics.render(),
    )
        .into_response()
}

/// Ready once every shard running here has completed a sweep of each kind whose last listing
/// of AWS worked. With high availability, a standby that holds no shard is ready while it
/// reads the lease table (it can take over at once); the body says which shards it holds.
/// The body names the shards (and kinds) that are not ready, and why.
async fn readyz(State(fleet): State<Arc<Fleet>>) -> Response {
    let desired_loaded = fleet.tree.borrow().is_some();
    let (ready, not_ready) = fleet.readiness();
    let mut body = json!({
        "ready": ready,
        "desired_loaded": desired_loaded,
        "not_ready": not_ready,
    });
    if let Some(lease) = fleet.lease_view() {
        body["lease"] = json!({
            "table_reachable": lease.table_reachable,
            "held": lease.shards.iter().filter(|s| s.held_here).map(|s| s.shard.clone()).collect::<Vec<_>>(),
        });
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Every shard: its state (and why it fails), then its kinds' status.
async fn status(State(fleet): State<Arc<Fleet>>) -> Response {
    let tree = fleet.tree.borrow().clone();
    let shards: Vec<_> = fleet
        .snapshot()
        .into_iter()
        .map(|(id, state)| {
            let (error, terminal) = match &state {
                ShardState::Failed { error, terminal } => (Some(error.clone()), *terminal),
                _ => (None, false),
            };
            json!({
                "shard": id.to_string(),
                "account": id.account,
                "region": id.region,
                "state": state.as_str(),
                "error": error,
                "terminal": terminal,
                "resources": tree.as_ref().and_then(|t| t.shards.get(&id)).map(|s| s.len()),
                "kinds": state.engine().map(|e| e.status.snapshot()),
            })
        })
        .collect();
    let body = json!({
        "controller_id": fleet.settings.controller_id,
        "observe_only": fleet.settings.observe_only,
        "prune": fleet.settings.prune,
        "desired": {
            "valid": fleet.metrics.desired_valid.get() == 1,
            "generation": tree.as_ref().map(|d| d.generation),
            "revision": tree.as_ref().and_then(|d| d.revision.clone()),
            "resources": tree.as_ref().map(|d| d.len()),
        },
        "shards": shards,
        "lease": fleet.lease_view(),
    });
    Json(body).into_response()
}
