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

use crate::engine::Engine;

/// The HTTP routes, over the shared engine.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(engine)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        engine.metrics.render(),
    )
        .into_response()
}

/// Ready once every kind has completed a sweep and its last listing of AWS worked; the body
/// names the kinds that are not.
async fn readyz(State(engine): State<Arc<Engine>>) -> Response {
    let kinds = engine.status.snapshot();
    let desired_loaded = engine.desired.borrow().is_some();
    let not_ready: Vec<_> = kinds
        .iter()
        .filter(|(_, s)| !(s.swept && s.ready))
        .map(|(k, s)| {
            json!({
                "kind": k,
                "swept": s.swept,
                "error": s.last_error,
            })
        })
        .collect();
    let ready = desired_loaded && not_ready.is_empty() && !kinds.is_empty();
    let body = json!({
        "ready": ready,
        "desired_loaded": desired_loaded,
        "not_ready": not_ready,
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn status(State(engine): State<Arc<Engine>>) -> Response {
    let desired = engine.desired.borrow().clone();
    let body = json!({
        "controller_id": engine.settings.controller_id,
        "observe_only": engine.settings.observe_only,
        "prune": engine.settings.prune,
        "desired": {
            "valid": engine.metrics.desired_valid.get() == 1,
            "generation": desired.as_ref().map(|d| d.generation),
            "revision": desired.as_ref().and_then(|d| d.revision.clone()),
            "resources": desired.as_ref().map(|d| d.len()),
        },
        "kinds": engine.status.snapshot(),
    });
    Json(body).into_response()
}
