//! Client-side pacing: one token bucket per AWS service, applied to every HTTP request.
//!
//! AWS throttles each account per service (and often per operation) with token buckets of its
//! own. converge stays below those limits by pacing itself: every request of a service, retries
//! included, first takes a token from that service's bucket. The bucket is wrapped around the
//! SDK's HTTP client, so it sees exactly what goes on the wire, whichever kind sent it. The SDK's
//! retries come on top (see [`super::clients`]): standard mode by default; adaptive mode, which
//! also slows a client down after AWS throttles it, on request (`--retry-mode adaptive`).
//!
//! Defaults ([`DEFAULT_LIMITS`]) sit below each service's published limits; `--rate-limit
//! route53=5,ec2=20` overrides some of them, `SERVICE=off` turns pacing off for one service.
//!
//! Two classes of requests share a bucket. Work someone waits for (a desired change, a retry, a
//! write) is *foreground* and served first, in arrival order. The listing of a periodic full
//! sweep (drift detection) runs inside [`background`] (the engine marks it; the mark is
//! [`crate::core::priority`]'s, so neither knows the other): its requests take a token only when no
//! foreground request is owed one, so a change never queues behind a 30-second drift listing,
//! and together both classes still stay within the service's rate.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::time::Instant;

#[cfg(doc)]
use crate::core::priority::background;
use crate::core::priority::in_background;

/// The services converge calls, by the name `--rate-limit` uses.
pub const SERVICES: &[&str] = &[
    "sqs",
    "ec2",
    "iam",
    "elb",
    "route53",
    "autoscaling",
    "cloudwatch",
    "tagging",
];

/// Default requests per second per service, below AWS's published limits:
/// - `route53`: 5 (Route 53's long-standing account-wide limit; raised to 10 in 2025).
/// - `ec2`: 15 (EC2 refills non-mutating actions at 20/s, mutating ones at 5/s with a 200 burst).
/// - `iam`: 10 (IAM publishes no rate; it throttles bursts of writes early).
/// - `elb`: 10 and `autoscaling`: 10 (conservative; both throttle per account and region).
/// - `cloudwatch`: 8 (`DescribeAlarms` is limited to 9/s; `PutMetricAlarm` to 3/s, which the
///   adaptive retry absorbs: a sweep writes few alarms).
/// - `sqs`: 50 (SQS control-plane calls are limited far above what converge needs).
/// - `tagging`: 5 (the Resource Groups Tagging API's `GetResources`, a page of 100 resources a
///   call: a sweep makes a few; AWS throttles it per account and region).
pub const DEFAULT_LIMITS: &[(&str, f64)] = &[
    ("sqs", 50.0),
    ("ec2", 15.0),
    ("iam", 10.0),
    ("elb", 10.0),
    ("route53", 5.0),
    ("autoscaling", 10.0),
    ("cloudwatch", 8.0),
    ("tagging", 5.0),
];

/// Requests per second per service; a service without an entry is not paced.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits(BTreeMap<String, f64>);

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits(
            DEFAULT_LIMITS
                .iter()
                .map(|(s, r)| (s.to_string(), *r))
                .collect(),
        )
    }
}

impl RateLimits {
    /// The rate for `service` (one of [`SERVICES`]), `None` when unpaced.
    pub fn get(&self, service: &str) -> Option<f64> {
        self.0.get(service).copied()
    }

    /// The defaults with `overrides` (as written after `--rate-limit`) applied.
    pub fn with_overrides(mut self, overrides: &RateOverrides) -> Self {
        for (service, rate) in &overrides.0 {
            match rate {
                Some(r) => {
                    self.0.insert(service.clone(), *r);
                }
                None => {
                    self.0.remove(service);
                }
            }
        }
        self
    }
}

impl fmt::Display for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = SERVICES
            .iter()
            .map(|s| match self.get(s) {
                Some(r) => format!("{s}={r}"),
                None => format!("{s}=off"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// What `--rate-limit` says: `SERVICE=RATE` pairs, comma-separated; `RATE` is requests per
/// second (a positive number) or `off`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateOverrides(Vec<(String, Option<f64>)>);

impl FromStr for RateOverrides {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (service, rate) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not SERVICE=RATE (e.g. route53=5)"))?;
            let service = service.trim().to_ascii_lowercase();
            if !SERVICES.contains(&service.as_str()) {
                return Err(format!(
                    "unknown service `{service}` (services: {})",
                    SERVICES.join(", ")
                ));
            }
            let rate = rate.trim();
            let rate = if rate.eq_ignore_ascii_case("off") {
                None
            } else {
                match rate.parse::<f64>() {
                    Ok(r) if r.is_finite() && r > 0.0 => Some(r),
                    _ => {
                        return Err(format!(
                            "`{rate}` for {service} is not a rate: use requests per second \
                             greater than 0 (e.g. 5 or 0.5), or `off`"
                        ))
                    }
                }
            };
            out.push((service, rate));
        }
        if out.is_empty() {
            return Err("expected SERVICE=RATE pairs, e.g. route53=5,ec2=20".to_string());
        }
        Ok(RateOverrides(out))
    }
}

/// A token bucket: `rate` tokens per second, holding at most `burst`. Foreground waiters
/// reserve their token (the balance may go negative), so they are served in the order they
/// arrived and none can starve. Background waiters queue (first come, first served) behind a
/// lock and take a token only once the balance is back to one, i.e. after every token owed to
/// a foreground waiter.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
    background_turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `rate` requests per second with a burst of one second's worth.
    pub fn new(rate: f64) -> TokenBucket {
        let burst = rate.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
            }),
            background_turn: tokio::sync::Mutex::new(()),
        }
    }

    fn refill(&self, s: &mut BucketState) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now;
    }

    /// Takes one token (foreground); returns how long the caller must wait before using it.
    pub fn reserve(&self) -> Duration {
        let Ok(mut s) = self.state.lock() else {
            return Duration::ZERO;
        };
        self.refill(&mut s);
        s.tokens -= 1.0;
        if s.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / self.rate)
        }
    }

    /// Waits for a foreground token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits for a background token: one at a time, and only when no foreground waiter is
    /// owed one.
    pub async fn acquire_background(&self) {
        let _turn = self.background_turn.lock().await;
        loop {
            let wait = {
                let Ok(mut s) = self.state.lock() else {
                    return;
                };
                self.refill(&mut s);
                if s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.tokens) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits for a token of the class the calling task runs in.
    pub async fn acquire_here(&self) {
        if in_background() {
            self.acquire_background().await
        } else {
            self.acquire().await
        }
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy settings from the
/// environment), built once so every service shares its connection pool.
pub fn default_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    })
}

/// An HTTP client that paces every request through a [`TokenBucket`] before handing it to
/// `inner`.
#[derive(Clone)]
pub struct PacedClient {
    service: &'static str,
    inner: SharedHttpClient,
    bucket: Arc<TokenBucket>,
}

impl fmt::Debug for PacedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedClient")
            .field("service", &self.service)
            .field("rate", &self.bucket.rate)
            .finish()
    }
}

impl PacedClient {
    pub fn new(service: &'static str, rate: f64, inner: SharedHttpClient) -> PacedClient {
        PacedClient {
            service,
            inner,
            bucket: Arc::new(TokenBucket::new(rate)),
        }
    }
}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            service: self.service,
            inner: self.inner.http_connector(settings, components),
            bucket: self.bucket.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    service: &'static str,
    inner: SharedHttpConnector,
    bucket: Arc<TokenBucket>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let bucket = self.bucket.clone();
        let service = self.service;
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            bucket.acquire_here().await;
            let waited = started.elapsed();
            if !waited.is_zero() {
                tracing::trace!(service, waited = ?waited, "pacing: waited for a request token");
            }
            inner.call(request).await
        })
    }
}

/// The client for `service`: paced when `limits` has a rate for it, else `inner` itself.
pub fn client_for(
    service: &'static str,
    limits: &RateLimits,
    inner: &SharedHttpClient,
) -> SharedHttpClient {
    match limits.get(service) {
        Some(rate) => SharedHttpClient::new(PacedClient::new(service, rate, inner.clone())),
        None => inner.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::priority::background;

    #[test]
    fn overrides_parse_and_replace_defaults() {
        let o: RateOverrides = "route53=2, ec2=20,iam=off".parse().unwrap();
        let l = RateLimits::default().with_overrides(&o);
        assert_eq!(l.get("route53"), Some(2.0));
        assert_eq!(l.get("ec2"), Some(20.0));
        assert_eq!(l.get("iam"), None);
        assert_eq!(l.get("sqs"), Some(50.0));
        assert!(l.to_string().contains("iam=off"), "{l}");
    }

    #[test]
    fn bad_overrides_name_the_problem() {
        let e = "s3=5".parse::<RateOverrides>().unwrap_err();
        assert!(e.contains("unknown service `s3`"), "{e}");
        let e = "route53=0".parse::<RateOverrides>().unwrap_err();
        assert!(e.contains("not a rate"), "{e}");
        let e = "route53".parse::<RateOverrides>().unwrap_err();
        assert!(e.contains("SERVICE=RATE"), "{e}");
        assert!("".parse::<RateOverrides>().is_err());
    }

    #[test]
    fn every_default_is_a_known_service_below_published_limits() {
        for (s, r) in DEFAULT_LIMITS {
            assert!(SERVICES.contains(s), "{s}");
            assert!(*r > 0.0);
        }
        assert!(RateLimits::default().get("route53").unwrap() <= 5.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_a_burst_then_paces_at_its_rate() {
        let b = TokenBucket::new(5.0);
        let start = Instant::now();
        for _ in 0..5 {
            b.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..10 {
            b.acquire().await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2010),
            "10 more requests at 5/s take 2 s, took {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_spread_out_not_released_together() {
        let b = Arc::new(TokenBucket::new(2.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    b.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort();
        // Burst of 2, then one every 500 ms.
        assert_eq!(done[1], Duration::ZERO);
        assert_eq!(done[2], Duration::from_millis(500));
        assert_eq!(done[5], Duration::from_millis(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn foreground_requests_overtake_a_background_backlog_within_the_rate() {
        let b = Arc::new(TokenBucket::new(2.0));
        let start = Instant::now();
        // A drift listing of 20 requests queues up at once...
        let listing: Vec<_> = (0..20)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(background(async move {
                    b.acquire_here().await;
                    start.elapsed()
                }))
            })
            .collect();
        // ...and a change arrives 3 s later, needing two requests.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let change = {
            let b = b.clone();
            tokio::spawn(async move {
                b.acquire_here().await;
                b.acquire_here().await;
                start.elapsed()
            })
        };
        let change_done = change.await.unwrap();
        assert!(
            change_done <= Duration::from_millis(4100),
            "the change waited behind the listing: done at {change_done:?}"
        );
        let mut times = Vec::new();
        for t in listing {
            times.push(t.await.unwrap());
        }
        times.push(change_done);
        times.sort();
        // Together they never exceed the rate: burst of 2, then 2 per second (22 tokens).
        for (i, t) in times.iter().enumerate() {
            let floor = Duration::from_millis(500 * (i as u64).saturating_sub(1));
            assert!(
                *t + Duration::from_millis(1) >= floor,
                "token {i} at {t:?} < {floor:?}"
            );
        }
        assert!(
            times[20] <= Duration::from_millis(10_100),
            "the listing still finishes at the rate: {:?}",
            times[20]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_refills_only_up_to_its_burst() {
        let b = TokenBucket::new(1.0);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.reserve(), Duration::ZERO);
        assert_eq!(b.reserve(), Duration::from_secs(1));
    }
}
