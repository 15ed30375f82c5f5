//! `converge node`: the other half of the reference system, on each instance. CI publishes a
//! service's artifact to S3 (`converge node publish`); the node deploys what the service's
//! marker names (`converge node run`), as the reference article's deployer does, and joins
//! its load balancer only after its first good deployment.
//!
//! - [`artifact`]: the S3 layout and marker, the checked download and the safe unpacking.
//! - [`release`]: the release directories, hooks, the configuration step and the atomic
//!   switch of `current`.
//! - [`observe`]: the node's `converge_node_*` metrics and its `/status`.
//! - [`identity`]: the node's grains from its Auto Scaling group, when no flag or hostname
//!   gives them.
//!
//! A pass deploys `base` (when it has a marker) to `<root>/base`, then the service to
//! `<root>/<service>`. A service already on its marker's artifact costs one conditional
//! `GetObject` of the marker (a `304` with no body while it is unchanged) and nothing else. Restart-safe: staging files are dot-names that a new pass
//! replaces; `current` only ever moves by an atomic rename.

pub mod artifact;
pub mod identity;
pub mod observe;
pub mod release;

use std::path::{Path, PathBuf};
use std::time::Duration;

use artifact::Marker;
use release::ServiceDir;

/// Why a node step failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("marker: {0}")]
    Marker(String),
    #[error("S3: {0}")]
    S3(String),
    #[error("download: {0}")]
    Download(String),
    #[error("checksum mismatch: the marker says {expected}, the artifact is {got}")]
    Checksum { expected: String, got: String },
    #[error("refused: {0}")]
    Unsafe(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Step(String),
    #[error("load balancer: {0}")]
    LoadBalancer(String),
    #[error("identity: {0}")]
    Identity(String),
}

/// What a node deploys, and where.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub bucket: String,
    pub service: String,
    pub root: PathBuf,
    pub configure: String,
    /// Environment for hooks and the configuration step (the grains, as `CONVERGE_<GRAIN>`).
    pub env: Vec<(String, String)>,
    pub hook_timeout: Duration,
    pub keep: usize,
    /// Registered after the first good deployment (with `instance_id`).
    pub load_balancer: Option<String>,
    pub instance_id: Option<String>,
}

/// The AWS clients a node uses, the markers it has read, and what it reports.
pub struct NodeClients {
    pub s3: aws_sdk_s3::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub markers: Markers,
    pub state: std::sync::Arc<observe::NodeState>,
}

fn s3_error(what: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::S3(format!("{what}: {e}"))
}

/// `converge node publish`: uploads the artifact, then moves the marker to it; returns its id.
pub async fn publish(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    service: &str,
    file: &Path,
) -> Result<String, NodeError> {
    let bytes =
        std::fs::read(file).map_err(|e| NodeError::Io(format!("{}: {e}", file.display())))?;
    if bytes.len() as u64 > artifact::MAX_ARTIFACT_BYTES {
        return Err(NodeError::Io(format!(
            "{}: larger than the artifact bound",
            file.display()
        )));
    }
    let sha = artifact::sha256_hex(&bytes);
    let id = artifact::new_id(&sha);
    let marker = Marker {
        artifact: id.clone(),
        sha256: sha,
        size: bytes.len() as u64,
        published_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let artifact_key = artifact::artifact_key(service, &id);
    put(s3, bucket, &artifact_key, bytes, None, "the artifact").await?;
    // The marker moves only once the artifact is in place.
    let text = serde_json::to_vec(&marker).map_err(|e| NodeError::Io(e.to_string()))?;
    let marker_key = artifact::marker_key(service);
    put(
        s3,
        bucket,
        &marker_key,
        text,
        Some("application/json"),
        "the marker",
    )
    .await?;
    Ok(id)
}

/// `PutObject` of `body` at `key`.
async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
    what: &str,
) -> Result<(), NodeError> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_content_type(content_type.map(String::from))
        .body(body.into())
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            s3_error(
                &format!("PutObject s3://{bucket}/{key} ({what})"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })
}

/// The markers read so far and their ETags: a marker is read again conditionally
/// (`If-None-Match`), so an unchanged one costs a `304 Not Modified` with no body.
#[derive(Default)]
pub struct Markers {
    seen: std::sync::Mutex<std::collections::HashMap<String, (String, Marker)>>,
}

impl Markers {
    fn get(&self, service: &str) -> Option<(String, Marker)> {
        self.seen.lock().ok()?.get(service).cloned()
    }

    fn put(&self, service: &str, seen: Option<(String, Marker)>) {
        if let Ok(mut m) = self.seen.lock() {
            match seen {
                Some(s) => m.insert(service.to_string(), s),
                None => m.remove(service),
            };
        }
    }
}

/// The marker of `service`; `None` when it has none.
async fn read_marker(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    service: &str,
    markers: &Markers,
) -> Result<Option<Marker>, NodeError> {
    let key = artifact::marker_key(service);
    let known = markers.get(service);
    let sent = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .set_if_none_match(known.as_ref().map(|(etag, _)| etag.clone()))
        .send()
        .await;
    match sent {
        Ok(out) => {
            let etag = out.e_tag.clone();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| s3_error(&format!("reading s3://{bucket}/{key}"), e))?;
            let marker = Marker::parse(&body.into_bytes())?;
            markers.put(service, etag.map(|t| (t, marker.clone())));
            Ok(Some(marker))
        }
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(304) => {
            tracing::debug!(service, "marker not modified (304)");
            Ok(known.map(|(_, m)| m))
        }
        Err(e) => {
            if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                markers.put(service, None);
                Ok(None)
            } else {
                Err(s3_error(
                    &format!("GetObject s3://{bucket}/{key}"),
                    aws_sdk_s3::error::DisplayErrorContext(e),
                ))
            }
        }
    }
}

/// What a pass did to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It has no marker (only `base` may have none).
    NoMarker,
    /// `current` already is the marker's artifact.
    UpToDate(String),
    Deployed(String),
}

/// Deploys `service` to what its marker names, if it is not there yet; the metrics and status
/// say how it went.
pub async fn deploy_service(
    clients: &NodeClients,
    opts: &NodeOptions,
    service: &str,
) -> Result<Outcome, NodeError> {
    let done = deploy_steps(clients, opts, service).await;
    match &done {
        Ok(Outcome::Deployed(id)) => clients.state.converged(service, id, true),
        Ok(Outcome::UpToDate(id)) => clients.state.converged(service, id, false),
        Ok(Outcome::NoMarker) => {}
        Err(e) => clients.state.failed(service, &e.to_string()),
    }
    done
}

/// Runs `step`, recording how long it took.
async fn timed<T>(
    clients: &NodeClients,
    step: &str,
    f: impl std::future::Future<Output = Result<T, NodeError>>,
) -> Result<T, NodeError> {
    let started = std::time::Instant::now();
    let out = f.await;
    clients.state.step(step, started.elapsed());
    out
}

async fn deploy_steps(
    clients: &NodeClients,
    opts: &NodeOptions,
    service: &str,
) -> Result<Outcome, NodeError> {
    let Some(marker) = read_marker(&clients.s3, &opts.bucket, service, &clients.markers).await?
    else {
        return Ok(Outcome::NoMarker);
    };
    clients.state.desired(service, &marker.artifact);
    let dir = ServiceDir::new(&opts.root, service);
    if dir.current().as_deref() == Some(marker.artifact.as_str()) {
        return Ok(Outcome::UpToDate(marker.artifact));
    }
    let io = |p: &Path, e: std::io::Error| NodeError::Io(format!("{}: {e}", p.display()));
    let releases = dir.releases();
    std::fs::create_dir_all(&releases).map_err(|e| io(&releases, e))?;
    let release = dir.release(&marker.artifact);
    if !release.is_dir() {
        let (part, unpacking) = artifact::staging(&releases, &marker.artifact);
        // Whatever a crashed pass left is started over.
        let _ = std::fs::remove_file(&part);
        let _ = std::fs::remove_dir_all(&unpacking);
        let key = artifact::artifact_key(service, &marker.artifact);
        timed(clients, "download", async {
            let out = clients
                .s3
                .get_object()
                .bucket(&opts.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        &format!(
                            "GetObject s3://{}/{key} (the artifact the marker names)",
                            opts.bucket
                        ),
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            artifact::download(out.body, &marker, &part).await
        })
        .await?;
        let unpacked = timed(clients, "unpack", async {
            artifact::unpack(&part, &unpacking)
        })
        .await;
        let _ = std::fs::remove_file(&part);
        unpacked?;
        std::fs::rename(&unpacking, &release).map_err(|e| io(&release, e))?;
    }
    let mut env = opts.env.clone();
    env.push(("CONVERGE_RELEASE".into(), release.display().to_string()));
    env.push(("CONVERGE_ARTIFACT".into(), marker.artifact.clone()));
    release::switch_link(&dir.dir.join("next"), &release)?;
    timed(
        clients,
        "pre_release",
        release::run_hooks(&release, "pre-release", &env, opts.hook_timeout),
    )
    .await?;
    // The configuration step belongs to the service (the article runs it once base is linked).
    if service != "base" {
        timed(
            clients,
            "configure",
            release::configure(&release, &opts.configure, &env, opts.hook_timeout),
        )
        .await?;
    }
    timed(clients, "switch", async {
        release::switch_link(&dir.dir.join("current"), &release)
    })
    .await?;
    let _ = std::fs::remove_file(dir.dir.join("next"));
    timed(
        clients,
        "post_release",
        release::run_hooks(&release, "post-release", &env, opts.hook_timeout),
    )
    .await?;
    let removed = release::prune(&dir, opts.keep);
    tracing::info!(service, artifact = %marker.artifact, pruned = removed.len(), "deployed");
    Ok(Outcome::Deployed(marker.artifact))
}

/// One pass: base, then the service. `Ok` only when the service's `current` is its marker's
/// artifact; the load balancer registration follows the first such pass.
pub async fn pass(clients: &NodeClients, opts: &NodeOptions) -> Result<Outcome, NodeError> {
    match deploy_service(clients, opts, "base").await? {
        Outcome::Deployed(id) => {
            // The article's `/srv/base/current`: the base release, for the service's steps.
            tracing::info!(artifact = %id, "base deployed");
        }
        Outcome::NoMarker | Outcome::UpToDate(_) => {}
    }
    let outcome = deploy_service(clients, opts, &opts.service).await?;
    if outcome == Outcome::NoMarker {
        return Err(NodeError::Marker(format!(
            "s3://{}/{} does not exist: nothing to deploy yet",
            opts.bucket,
            artifact::marker_key(&opts.service)
        )));
    }
    Ok(outcome)
}

/// Registers the instance with its load balancer (`join`: after a good deployment) or
/// deregisters it (on SIGTERM, before the node stops).
pub async fn membership(
    clients: &NodeClients,
    lb: &str,
    instance: &str,
    join: bool,
) -> Result<(), NodeError> {
    let it = aws_sdk_elasticloadbalancing::types::Instance::builder()
        .instance_id(instance)
        .build();
    let sent = if join {
        clients
            .elb
            .register_instances_with_load_balancer()
            .load_balancer_name(lb)
            .instances(it)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_sdk_elasticloadbalancing::error::DisplayErrorContext(e).to_string())
    } else {
        clients
            .elb
            .deregister_instances_from_load_balancer()
            .load_balancer_name(lb)
            .instances(it)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_sdk_elasticloadbalancing::error::DisplayErrorContext(e).to_string())
    };
    sent.map_err(|e| {
        NodeError::LoadBalancer(format!(
            "{} {instance} {} {lb}: {}",
            if join { "registering" } else { "deregistering" },
            if join { "with" } else { "from" },
            e
        ))
    })
}
