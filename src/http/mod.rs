//! converge's HTTP listener: `/metrics`, `/healthz`, `/readyz` for Prometheus and load
//! balancers; `/status` (the machine-readable state of everything) and the operator's console
//! on top of it (`/`, its assets under `/ui/`, and `/source`, the desired file a resource is
//! declared in).
//!
//! Everything here is read-only: no route changes AWS or the controller. The console is plain
//! HTML, CSS and JavaScript compiled into the binary (no CDN, no build step); its script builds
//! the page from `/status` with text nodes only, and every response carries a strict
//! Content-Security-Policy (scripts and styles from this origin only, no inline code, no
//! framing). With `--http-auth-file`, the console, `/status` and `/source` ask for a
//! credential; the probes and `/metrics` never do.

pub mod auth;
pub mod client;
mod source;
mod status;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::core::model::LoadReportRx;
use crate::engine::audit::AuditLog;
use crate::engine::fleet::Fleet;

pub use auth::Auth;

/// What the routes read: the shards, the audit records kept in memory, the last load of the
/// desired tree, and the credentials that protect the console.
pub struct Web {
    pub fleet: Arc<Fleet>,
    pub audit: Arc<AuditLog>,
    pub loads: LoadReportRx,
    pub auth: Option<Auth>,
    /// When the process started (uptime).
    pub started: std::time::SystemTime,
    status: status::Cache,
}

impl Web {
    pub fn new(
        fleet: Arc<Fleet>,
        audit: Arc<AuditLog>,
        loads: LoadReportRx,
        auth: Option<Auth>,
    ) -> Web {
        Web {
            fleet,
            audit,
            loads,
            auth,
            started: std::time::SystemTime::now(),
            status: status::Cache::default(),
        }
    }
}

/// The policy of every response: nothing from other origins, no inline script or style, no
/// plugins, no framing, no forms.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const APP_CSS: &str = include_str!("ui/app.css");

/// The HTTP routes, over every shard of the process.
pub fn router(web: Arc<Web>) -> Router {
    let open = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz));
    let console = Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/status", get(status::serve))
        .route("/source", get(source::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            web.clone(),
            require_auth,
        ));
    open.merge(console)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(web)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    web: Arc<Web>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(web))
        .with_graceful_shutdown(shutdown)
        .await
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// With `--http-auth-file`, a request without one of its credentials gets 401 (and a basic
/// auth challenge, so a browser asks).
async fn require_auth(State(web): State<Arc<Web>>, req: Request, next: Next) -> Response {
    if let Some(auth) = &web.auth {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !auth.allows(given) {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"converge\", charset=\"UTF-8\"",
                )],
                "a credential of --http-auth-file is needed\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

async fn metrics(State(web): State<Arc<Web>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        web.fleet.metrics.render(),
    )
        .into_response()
}

/// Ready once every shard running here has completed a sweep of each kind whose last listing
/// of AWS worked. With high availability, a standby that holds no shard is ready while it
/// reads the lease table (it can take over at once); the body says which shards it holds.
/// The body names the shards (and kinds) that are not ready, and why.
async fn readyz(State(web): State<Arc<Web>>) -> Response {
    let fleet = &web.fleet;
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
