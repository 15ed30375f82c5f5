//! What a node tells its operators: `converge_node_*` metrics and a `/status` with the deployed
//! and the desired artifact of each service, on the node's own listener (`--metrics-addr`,
//! loopback by default), in the controller's style.
//!
//! Metrics:
//! - `converge_node_deployed_info{service,artifact}`: 1 for the artifact `current` points at;
//! - `converge_node_deploys_total{service,outcome}`: `deployed` or `failed`;
//! - `converge_node_step_duration_seconds{step}`: download, unpack, pre_release, configure,
//!   switch, post_release;
//! - `converge_node_last_success_timestamp_seconds{service}`: the last pass that left
//!   `current` on the marker's artifact;
//! - `converge_node_registered`: 1 while the instance is registered with its load balancer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use serde::Serialize;

/// One service as the node sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceStatus {
    /// The artifact `current` points at.
    pub deployed: Option<String>,
    /// The artifact the marker names (as last read).
    pub desired: Option<String>,
    /// Why the last pass did not converge, if it did not.
    pub last_error: Option<String>,
    /// When `current` was last seen on the marker's artifact (RFC 3339).
    pub last_success_at: Option<String>,
}

/// The node's metrics and status.
pub struct NodeState {
    registry: Registry,
    deployed: IntGaugeVec,
    deploys: IntCounterVec,
    steps: HistogramVec,
    last_success: GaugeVec,
    registered: IntGauge,
    services: Mutex<BTreeMap<String, ServiceStatus>>,
    load_balancer: Option<String>,
}

impl NodeState {
    pub fn new(load_balancer: Option<String>) -> Result<NodeState, prometheus::Error> {
        let registry = Registry::new();
        let deployed = IntGaugeVec::new(
            Opts::new(
                "converge_node_deployed_info",
                "1 for the artifact the service's current release is",
            ),
            &["service", "artifact"],
        )?;
        let deploys = IntCounterVec::new(
            Opts::new(
                "converge_node_deploys_total",
                "Deployments attempted, by outcome (deployed, failed)",
            ),
            &["service", "outcome"],
        )?;
        let steps = HistogramVec::new(
            HistogramOpts::new(
                "converge_node_step_duration_seconds",
                "How long each deployment step took",
            )
            .buckets(vec![0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0]),
            &["step"],
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "converge_node_last_success_timestamp_seconds",
                "When current was last seen on the marker's artifact (Unix time)",
            ),
            &["service"],
        )?;
        let registered = IntGauge::new(
            "converge_node_registered",
            "1 while the instance is registered with its load balancer",
        )?;
        registry.register(Box::new(deployed.clone()))?;
        registry.register(Box::new(deploys.clone()))?;
        registry.register(Box::new(steps.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(registered.clone()))?;
        Ok(NodeState {
            registry,
            deployed,
            deploys,
            steps,
            last_success,
            registered,
            services: Mutex::new(BTreeMap::new()),
            load_balancer,
        })
    }

    fn update(&self, service: &str, f: impl FnOnce(&mut ServiceStatus)) {
        if let Ok(mut s) = self.services.lock() {
            f(s.entry(service.to_string()).or_default());
        }
    }

    /// The marker of `service` names `artifact`.
    pub fn desired(&self, service: &str, artifact: &str) {
        self.update(service, |s| s.desired = Some(artifact.to_string()));
    }

    /// A step of a deployment took `took`.
    pub fn step(&self, step: &str, took: Duration) {
        self.steps
            .with_label_values(&[step])
            .observe(took.as_secs_f64());
    }

    /// `current` of `service` is `artifact`, the marker's: the service is converged.
    pub fn converged(&self, service: &str, artifact: &str, deployed_now: bool) {
        if deployed_now {
            self.deploys.with_label_values(&[service, "deployed"]).inc();
        }
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.with_label_values(&[service]).set(secs);
        let mut before = None;
        self.update(service, |s| {
            before = s.deployed.replace(artifact.to_string());
            s.last_error = None;
            s.last_success_at = Some(humantime::format_rfc3339_seconds(now).to_string());
        });
        if let Some(old) = before.filter(|o| o != artifact) {
            let _ = self.deployed.remove_label_values(&[service, &old]);
        }
        self.deployed.with_label_values(&[service, artifact]).set(1);
    }

    /// A deployment of `service` failed; `current` stayed where it was.
    pub fn failed(&self, service: &str, error: &str) {
        self.deploys.with_label_values(&[service, "failed"]).inc();
        self.update(service, |s| s.last_error = Some(error.to_string()));
    }

    pub fn set_registered(&self, registered: bool) {
        self.registered.set(i64::from(registered));
    }

    fn status(&self) -> serde_json::Value {
        let services = self.services.lock().map(|s| s.clone()).unwrap_or_default();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "load_balancer": self.load_balancer,
            "registered": self.registered.get() == 1,
            "services": services,
        })
    }

    fn metrics_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into memory fails only on a malformed family, which registration forbids.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// Serves `/metrics`, `/status` and `/healthz` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<NodeState>) {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<Arc<NodeState>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    s.metrics_text(),
                )
            }),
        )
        .route(
            "/status",
            get(|State(s): State<Arc<NodeState>>| async move { Json(s.status()) }),
        )
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app.into_make_service()).await {
        tracing::error!(error = %e, "node listener stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_release_replaces_the_deployed_series_and_a_failure_is_kept_until_a_success() {
        let s = NodeState::new(Some("lb".into())).unwrap();
        s.converged("myapp", "a1", true);
        s.failed("myapp", "pre-release hook 10-check exited with 1");
        let text = String::from_utf8(s.metrics_text()).unwrap();
        assert!(text.contains(r#"converge_node_deployed_info{artifact="a1",service="myapp"} 1"#));
        assert!(text.contains(r#"converge_node_deploys_total{outcome="failed",service="myapp"} 1"#));
        assert_eq!(
            s.status()["services"]["myapp"]["last_error"],
            "pre-release hook 10-check exited with 1"
        );
        s.converged("myapp", "a2", true);
        let text = String::from_utf8(s.metrics_text()).unwrap();
        assert!(!text.contains(r#"artifact="a1""#), "{text}");
        assert!(text.contains(r#"converge_node_deployed_info{artifact="a2",service="myapp"} 1"#));
        assert!(
            text.contains(r#"converge_node_deploys_total{outcome="deployed",service="myapp"} 2"#)
        );
        assert_eq!(
            s.status()["services"]["myapp"]["last_error"],
            serde_json::Value::Null
        );
        assert_eq!(s.status()["services"]["myapp"]["deployed"], "a2");
    }
}
