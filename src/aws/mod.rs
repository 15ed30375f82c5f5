//! AWS plumbing shared by every kind: one `SdkConfig` per account, one set of clients per
//! shard (account and region), the interceptor that counts every API request, client-side
//! pacing ([`pacing`]), the lease fence on mutating requests ([`fence`]), reaching and checking accounts ([`accounts`]), and the classification
//! of SDK errors into converge's error classes ([`crate::core::ErrorClass`]).

pub mod accounts;
pub mod fence;
pub mod pacing;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::core::fence::Fence;
use crate::core::{ErrorClass, KindError};
use crate::metrics::Metrics;

/// How to reach AWS.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub max_attempts: u32,
    pub call_timeout: Duration,
    pub attempt_timeout: Duration,
    /// Requests per second per service (client-side token buckets).
    pub rate_limits: pacing::RateLimits,
    /// The SDK's adaptive retry mode (client-side rate limiting after throttling) rather than
    /// standard retries.
    pub adaptive_retry: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)")]
    NoRegion,
}

/// Every service client converge uses for one shard, built from one `SdkConfig`.
#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub sqs: aws_sdk_sqs::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub route53: aws_sdk_route53::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The Resource Groups Tagging API: many resources' tags a page.
    pub tagging: aws_sdk_resourcegroupstagging::Client,
}

/// The standard AWS configuration chain (environment, profile, SSO, IMDS) with our retry and
/// timeout settings: the process's own credentials, or those of `profile`.
pub async fn base_config(opts: &AwsOptions, profile: Option<&str>) -> SdkConfig {
    let retry = if opts.adaptive_retry {
        RetryConfig::adaptive()
    } else {
        RetryConfig::standard()
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry.with_max_attempts(opts.max_attempts.max(1)))
        // Upload stall protection would count the wait for a pacing token (inside the HTTP
        // client, see `pacing`) as a stalled request body and fail the call after its grace
        // period; converge's request bodies are a few hundred bytes. Downloads stay protected.
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
                .upload_enabled(false)
                .build(),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(opts.attempt_timeout)
                .operation_timeout(opts.call_timeout)
                .build(),
        );
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// The region of the process's AWS configuration (`--region`, `AWS_REGION`, the profile).
pub fn region_of(sdk: &SdkConfig) -> Option<String> {
    sdk.region().map(|r| r.to_string())
}

/// Every client of one shard: `sdk`'s credentials, in `region`, each service paced by its own
/// token bucket (AWS limits are per account and region, so each shard has its own), every
/// request counted under the shard's labels, and every mutating attempt sent only while the
/// shard's `fence` allows (checked after the pacing wait, right before sending).
pub fn clients(
    sdk: &SdkConfig,
    region: &str,
    opts: &AwsOptions,
    counter: CallCounter,
    fence: &Fence,
) -> Clients {
    // One connection pool for every service of the process.
    let http = sdk
        .http_client()
        .unwrap_or_else(pacing::default_http_client);
    let shard = format!("{}/{}", counter.account, counter.region);
    let http = fence::FencedClient::wrap(http, fence, &shard, counter.metrics.clone());
    tracing::debug!(rate_limits = %opts.rate_limits, adaptive_retry = opts.adaptive_retry, region, "AWS client pacing");
    macro_rules! client {
        ($sdk:ident, $service:literal) => {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(sdk)
                    .region(Region::new(region.to_string()))
                    .http_client(pacing::client_for($service, &opts.rate_limits, &http))
                    .interceptor(counter.clone())
                    .interceptor(fence::MarkMutations)
                    .build(),
            )
        };
    }
    Clients {
        region: region.to_string(),
        sqs: client!(aws_sdk_sqs, "sqs"),
        ec2: client!(aws_sdk_ec2, "ec2"),
        iam: client!(aws_sdk_iam, "iam"),
        elb: client!(aws_sdk_elasticloadbalancing, "elb"),
        route53: client!(aws_sdk_route53, "route53"),
        autoscaling: client!(aws_sdk_autoscaling, "autoscaling"),
        cloudwatch: client!(aws_sdk_cloudwatch, "cloudwatch"),
        tagging: client!(aws_sdk_resourcegroupstagging, "tagging"),
    }
}

/// The DynamoDB client of the lease table: the process's own credentials and region, never
/// paced or fenced, with short timeouts (`attempt` per attempt, `call` in all) so a slow
/// table cannot hold a renewal past the renew deadline unnoticed. Counted under the account
/// label `(lease-table)`.
pub fn lease_client(
    sdk: &SdkConfig,
    counter: CallCounter,
    attempt: Duration,
    call: Duration,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(attempt)
                    .operation_attempt_timeout(attempt)
                    .operation_timeout(call)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .interceptor(counter)
            .build(),
    )
}

/// The account label of the lease table's API calls.
pub const LEASE_TABLE_ACCOUNT: &str = "(lease-table)";

/// Counts every HTTP attempt (retries included) as
/// `converge_aws_api_calls_total{account,region,service,operation}`.
#[derive(Clone)]
pub struct CallCounter {
    metrics: Arc<Metrics>,
    account: String,
    region: String,
}

impl CallCounter {
    /// Counts under the labels of shard `account`/`region`.
    pub fn new(metrics: Arc<Metrics>, account: &str, region: &str) -> CallCounter {
        CallCounter {
            metrics,
            account: account.to_string(),
            region: region.to_string(),
        }
    }
}

impl std::fmt::Debug for CallCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallCounter")
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "converge-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(md) = cfg.load::<Metadata>() {
            trace_call(md, "AWS request sent");
            self.metrics
                .aws_calls
                .with_label_values(&[&self.account, &self.region, md.service(), md.name()])
                .inc();
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(md) = cfg.load::<Metadata>() {
            trace_call(md, "AWS response received");
        }
        Ok(())
    }
}

/// One line per request and per response at trace level: the timeline of a sweep's calls.
fn trace_call(md: &Metadata, what: &'static str) {
    tracing::trace!(service = md.service(), operation = md.name(), "{what}");
}

/// Error codes that mean "slow down", across services.
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestLimitExceededException",
];

/// Error codes that retrying will not fix: credentials, permissions, invalid requests.
pub const TERMINAL_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "OptInRequired",
    "ValidationError",
    "ValidationException",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidParameterException",
    "MissingParameter",
    "MalformedPolicyDocument",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "UnsupportedOperation",
];

/// Classifies an SDK error and writes a message naming the operation, the resource and AWS's
/// own code and message. `terminal` adds kind-specific terminal codes.
pub fn classify<E, R>(
    operation: &str,
    resource: &str,
    err: &SdkError<E, R>,
    terminal: &[&str],
) -> KindError
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    let (class, detail) = match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let msg = e.message().unwrap_or("");
            let class = if THROTTLING_CODES.contains(&code) {
                ErrorClass::Throttled
            } else if TERMINAL_CODES.contains(&code) || terminal.contains(&code) {
                ErrorClass::Terminal
            } else {
                ErrorClass::Retryable
            };
            (class, format!("{code}: {msg}"))
        }
        SdkError::TimeoutError(_) => (ErrorClass::Retryable, "timed out".to_string()),
        SdkError::DispatchFailure(df) => (
            ErrorClass::Retryable,
            format!(
                "request not sent: {}",
                chain(
                    df.as_connector_error()
                        .map(|c| c as &(dyn StdError + 'static))
                )
            ),
        ),
        SdkError::ResponseError(_) => (
            ErrorClass::Retryable,
            format!("unreadable response: {}", chain(err.source())),
        ),
        SdkError::ConstructionFailure(_) => (
            ErrorClass::Terminal,
            format!("request could not be built: {}", chain(err.source())),
        ),
        _ => (ErrorClass::Retryable, chain(Some(err))),
    };
    KindError::new(class, format!("{operation} {resource}: {detail}"))
}

/// The error and its sources on one line.
fn chain(err: Option<&(dyn StdError + 'static)>) -> String {
    let mut parts = Vec::new();
    let mut cur = err;
    while let Some(e) = cur {
        let s = e.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    if parts.is_empty() {
        "unknown error".to_string()
    } else {
        parts.join(": ")
    }
}
