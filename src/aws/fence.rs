//! Fencing at the HTTP layer: a shard's mutating AWS requests are sent only while its lease
//! allows ([`Fence::allows_mutation`]), checked for every attempt (retries included) at the
//! last moment before the request leaves, after any wait for a pacing token.
//!
//! Two parts, because the HTTP connector sees bytes, not operations: [`MarkMutations`], an
//! interceptor, tags each attempt of a mutating operation (anything that is not `Describe*`,
//! `List*` or `Get*`) with a request extension just before transmit; [`FencedClient`] wraps
//! the shard's HTTP client and refuses a tagged request whose fence is closed, counting it in
//! `converge_lease_fenced_calls_total{service,operation}`. Reads always pass: a standby or a
//! fenced holder may still look.

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::core::fence::Fence;
use crate::metrics::Metrics;

/// Whether an operation only reads (never fenced).
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// The request extension that marks an attempt of a mutating operation.
#[derive(Debug, Clone)]
struct Mutating {
    service: String,
    operation: String,
}

/// Marks every attempt of a mutating operation for [`FencedClient`].
#[derive(Debug, Clone, Default)]
pub struct MarkMutations;

impl Intercept for MarkMutations {
    fn name(&self) -> &'static str {
        "converge-mark-mutations"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // An operation the SDK does not name is fenced like a mutating one (fail closed).
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(md) if is_read_only(md.name()) => return Ok(()),
            Some(md) => (md.service().to_string(), md.name().to_string()),
            None => ("unknown".to_string(), "unknown".to_string()),
        };
        context
            .request_mut()
            .add_extension(Mutating { service, operation });
        Ok(())
    }
}

/// A mutating request refused because the shard's lease no longer allows it.
#[derive(Debug, thiserror::Error)]
#[error("fenced: this replica's lease on shard {shard} has passed its renew deadline; {service} {operation} not sent")]
pub struct Fenced {
    pub shard: String,
    pub service: String,
    pub operation: String,
}

/// The shard's HTTP client behind its fence.
#[derive(Clone)]
pub struct FencedClient {
    inner: SharedHttpClient,
    fence: Fence,
    shard: Arc<str>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for FencedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FencedClient")
            .field("shard", &self.shard)
            .finish()
    }
}

impl FencedClient {
    /// `inner` behind `fence` (an open fence is `inner` itself).
    pub fn wrap(
        inner: SharedHttpClient,
        fence: &Fence,
        shard: &str,
        metrics: Arc<Metrics>,
    ) -> SharedHttpClient {
        if fence.stamp().is_none() {
            return inner;
        }
        SharedHttpClient::new(FencedClient {
            inner,
            fence: fence.clone(),
            shard: shard.into(),
            metrics,
        })
    }
}

impl HttpClient for FencedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FencedConnector {
            inner: self.inner.http_connector(settings, components),
            client: self.clone(),
        })
    }
}

#[derive(Debug)]
struct FencedConnector {
    inner: SharedHttpConnector,
    client: FencedClient,
}

impl HttpConnector for FencedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(m) = request.extension::<Mutating>() {
            if !self.client.fence.allows_mutation() {
                self.client
                    .metrics
                    .lease_fenced_calls
                    .with_label_values(&[&m.service, &m.operation])
                    .inc();
                tracing::warn!(shard = %self.client.shard, service = %m.service, operation = %m.operation, "fenced: mutating request not sent (lease past its renew deadline)");
                let refused = Fenced {
                    shard: self.client.shard.to_string(),
                    service: m.service.clone(),
                    operation: m.operation.clone(),
                };
                return HttpConnectorFuture::ready(Err(ConnectorError::user(Box::new(refused))));
            }
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_the_describe_list_get_operations() {
        for op in [
            "DescribeAlarms",
            "ListQueueTags",
            "GetQueueAttributes",
            "GetCallerIdentity",
        ] {
            assert!(is_read_only(op), "{op}");
        }
        for op in [
            "CreateQueue",
            "PutMetricAlarm",
            "ChangeResourceRecordSets",
            "TagQueue",
            "SetQueueAttributes",
            "AuthorizeSecurityGroupIngress",
            "DeleteLoadBalancer",
        ] {
            assert!(!is_read_only(op), "{op}");
        }
    }
}
