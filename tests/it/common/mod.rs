//! Test support shared by every area of the `it` binary: a real moto server per area, the
//! real `converge` binary, and helpers to read its metrics, status and logs.
//!
//! # One moto server per area
//!
//! An area is one module under `tests/it/` (`queues`, `faults`, `import_sls`, ...); each was a
//! test binary of its own, with a moto server of its own, and its tests still rely on that:
//! `import_sls` resets the whole server between two applies, `reference_stack` and
//! `import_sls` use fixed stack names, some tests count API calls made by listings that span
//! the whole region, and `--prune` tests list everything in the region. So [`moto`] keeps one
//! server per area, started on the area's first use and stopped when the test process exits:
//! tests within an area share their server as before (every test uses its own names and
//! controller id), tests of different areas never see each other's resources.
//!
//! The area is a value, [`Area`], and every helper that talks to moto on behalf of a test
//! ([`moto`], [`converge`], [`Running::start`], [`sqs`], [`sdk_config`]) takes it explicitly;
//! helpers given an endpoint ([`converge_with`], [`Running::start_with`]) use that endpoint
//! only. Only [`area!`] makes an `Area`: from the `module_path!()` of the code that invokes it,
//! the area being that path's first module under the crate root, computed at compile time. It
//! is a compile error to invoke it inside `common`, so a helper here cannot silently put a
//! test's calls on a server of its own (as a `#[track_caller]` location or a default area
//! would: `#[track_caller]` does nothing on `async fn`, and a helper that forgot it would
//! report common's file). Each area file names its area once: `const AREA: Area = area!();`.
//!
//! # Other process-wide state
//!
//! The areas now share one process (one pid, and tests of different areas run concurrently),
//! so nothing here is per area except the moto server: [`unique`] names come from one counter
//! for the whole process (unique across areas although they share the pid), moto servers start
//! one at a time (`scripts/moto install` writes one `.venv/`, and a port from [`free_port`] is
//! only held once its server listens), and nothing here sets environment variables of the test
//! process (every child gets its environment through [`aws_env`] and `Command::env`).

pub mod faults;
pub mod tagging;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

/// A moto server that lives as long as the test process: a shell wrapper kills it when our
/// end of its stdin closes (when the test process exits, however it exits).
pub struct Moto {
    pub endpoint: String,
    _stdin: Mutex<ChildStdin>,
}

/// One area of the `it` binary (a former test binary): see the module doc. Made by [`area!`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Area(&'static str);

impl Area {
    /// The area of the code at `module_path` (`it::queues`, `it::queues::inner` → `queues`).
    /// Panics (at compile time, as [`area!`] evaluates it) for the crate root and for `common`.
    #[doc(hidden)]
    pub const fn of_module(module_path: &'static str) -> Area {
        let path = module_path.as_bytes();
        let mut start = 0;
        while start + 1 < path.len() && !(path[start] == b':' && path[start + 1] == b':') {
            start += 1;
        }
        assert!(
            start + 1 < path.len(),
            "area!() outside an area module (at the crate root)"
        );
        let (_, rest) = path.split_at(start + 2);
        let mut end = 0;
        while end < rest.len() && rest[end] != b':' {
            end += 1;
        }
        let (name, _) = rest.split_at(end);
        let common = b"common";
        let mut is_common = name.len() == common.len();
        let mut i = 0;
        while is_common && i < name.len() {
            is_common = name[i] == common[i];
            i += 1;
        }
        assert!(
            !is_common,
            "area!() inside common: a helper must take the area of the test it acts for"
        );
        match std::str::from_utf8(name) {
            Ok(name) => Area(name),
            Err(_) => panic!("module path is not UTF-8"),
        }
    }

    /// The area's name: its module under `tests/it/`.
    pub fn name(self) -> &'static str {
        self.0
    }
}

/// The [`Area`] of the module this is invoked in. Inside `common` it is a compile error, even
/// in a function that nothing calls and under `cargo check`: a const item is always evaluated
/// (an inline `const { }` block in a function body is not, by `cargo check`).
macro_rules! area {
    () => {{
        const CALLER: $crate::common::Area = $crate::common::Area::of_module(module_path!());
        CALLER
    }};
}
pub(crate) use area;

/// Each area's moto server, by area name.
static MOTOS: Mutex<BTreeMap<&'static str, &'static OnceLock<Moto>>> = Mutex::new(BTreeMap::new());

/// Held while a moto server is installed and started: one start at a time.
static STARTING: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The moto server of `area`, installed (pinned, into `.venv/`) and started on the area's
/// first use; every test of the area shares it, no other area sees it.
pub fn moto(area: Area) -> &'static Moto {
    let server: &'static OnceLock<Moto> = MOTOS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(area.name())
        .or_insert_with(|| Box::leak(Box::default()));
    server.get_or_init(|| start_moto(area))
}

// The wrapper shell outlives every test on purpose; it exits (and is reaped by init) when the
// test process closes its stdin.
#[allow(clippy::zombie_processes)]
fn start_moto(area: Area) -> Moto {
    let _one_at_a_time = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
    let install = Command::new(repo().join("scripts/moto"))
        .arg("install")
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/moto: {e}"));
    assert!(
        install.status.success(),
        "moto is not installed and `scripts/moto install` failed (it needs python3 with venv and \
         access to PyPI).\nHint: run `scripts/moto install` by hand.\n{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let bin = repo().join("scripts/moto").display().to_string();
    let port = free_port();
    let log = std::env::temp_dir().join(format!("converge-moto-{}-{port}.log", area.name()));
    let mut child = Command::new("sh")
        .arg("-c")
        // moto (patched) behind the CloudWatch CBOR shim; both stop when this shell's stdin closes.
        .arg(r#""$0" serve-with-shim "$1" >"$2" 2>&1 & pid=$!; read _line; kill $pid 2>/dev/null; wait $pid 2>/dev/null"#)
        .arg(&bin)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto_server ({bin}): {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server (area {}) did not start on port {port}; see {}",
            area.name(),
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _stdin: Mutex::new(stdin),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A name unique to this test run: `t<pid>-<n>-<what>`, `n` from one counter for the whole
/// process (all areas).
pub fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}-{what}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Environment that points the SDK at moto and away from any real credentials.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/converge-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/converge-test-credentials",
        )
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RUST_LOG")
}

pub fn converge_bin() -> &'static str {
    env!("CARGO_BIN_EXE_converge")
}

/// `converge <args>` against the moto of `area` (the endpoint is added for plan/apply/run;
/// other commands start no moto).
pub fn converge(area: Area, args: &[&str]) -> Output {
    let mut cmd = Command::new(converge_bin());
    aws_env(&mut cmd).args(args);
    if matches!(args.first(), Some(&"plan") | Some(&"apply") | Some(&"run")) {
        cmd.args(["--endpoint-url", &moto(area).endpoint]);
    }
    cmd.output().expect("run converge")
}

/// `converge <args>` with another endpoint (e.g. a fault proxy in front of moto) and extra
/// environment variables; the endpoint is added for plan/apply/run.
pub fn converge_with(endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(converge_bin());
    aws_env(&mut cmd).envs(env.iter().copied()).args(args);
    if matches!(args.first(), Some(&"plan") | Some(&"apply") | Some(&"run")) {
        cmd.args(["--endpoint-url", endpoint]);
    }
    cmd.output().expect("run converge")
}

/// Asserts the exit code, printing both streams when it differs.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}\n{}", stdout(o), stderr(o));
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A desired-state directory in a temp dir.
pub struct Desired {
    pub dir: tempfile::TempDir,
}

impl Desired {
    pub fn new() -> Desired {
        Desired {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Writes `rel` atomically (write to a temp name, rename), as editors and git do.
    pub fn write(&self, rel: &str, text: &str) {
        write_atomic(&self.dir.path().join(rel), text);
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join(rel)).expect("remove file");
    }
}

pub fn write_atomic(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A `kind: Queue` manifest.
pub fn queue_doc(name: &str, spec: &str) -> String {
    let spec = if spec.trim().is_empty() {
        "spec: {}\n".to_string()
    } else {
        format!("spec:\n{}", indent(spec, 2))
    };
    format!("---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {name}\n{spec}")
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// A running `converge run`, its stderr (JSON logs) captured.
pub struct Running {
    child: Child,
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Starts `converge run --desired DIR <extra>` against the moto of `area`, on a free
    /// port, and waits for it to serve.
    pub fn start(area: Area, desired: &str, extra: &[&str]) -> Running {
        Running::start_with(desired, &moto(area).endpoint, &[], extra)
    }

    /// Like [`Running::start`], with another endpoint (e.g. a fault proxy in front of moto)
    /// and extra environment variables.
    pub fn start_with(
        desired: &str,
        endpoint: &str,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Running {
        let mut cmd = Command::new(converge_bin());
        aws_env(&mut cmd)
            .envs(env.iter().copied())
            .args(["run", "--desired", desired, "--endpoint-url", endpoint])
            .args(["--metrics-addr", "127.0.0.1:0", "--log-format", "json"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn converge run");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|v| v.get("addr").and_then(|a| a.as_str()).map(String::from))
                    {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "converge run did not report its address; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Running { child, addr, logs }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
    }

    /// The converge process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").1
    }

    /// The value of one series, e.g. `converge_desired_valid` or
    /// `converge_resources{kind="Queue",state="converged"}` (the sum over every series with
    /// these labels: see [`metric_value`]).
    pub fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics(), series).unwrap_or(0.0)
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").1).expect("status is JSON")
    }

    /// One kind's status in the first shard that runs it (one-shard trees have one).
    pub fn kind_status(&self, kind: &str) -> serde_json::Value {
        kind_status(&self.status(), kind)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Polls `cond` until it holds, failing with the logs after `secs`.
    pub fn wait_for(&self, what: &str, secs: u64, mut cond: impl FnMut(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond(self) {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {secs}s waiting for {what}\nmetrics:\n{}\nlogs:\n{}",
                    self.metrics()
                        .lines()
                        .filter(|l| l.starts_with("converge_"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Number of completed sweeps of `kind` (the sweep histogram's count).
    pub fn sweeps(&self, kind: &str) -> f64 {
        self.metric(&format!(
            "converge_sweep_duration_seconds_count{{kind=\"{kind}\"}}"
        ))
    }

    /// Waits for two more completed sweeps of `kind` after now (one full resync at least).
    pub fn wait_sweeps(&self, kind: &str, n: f64, secs: u64) {
        let start = self.sweeps(kind);
        self.wait_for(&format!("{n} more {kind} sweeps"), secs, |r| {
            r.sweeps(kind) >= start + n
        });
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit, up to `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `AWS API calls: N (Service.Operation n, ...)` line `plan` and `apply` print on stderr,
/// as `("Service.Operation", n)` pairs (every shard together).
pub fn api_calls(stderr: &str) -> Vec<(String, u64)> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default();
    let inner = line
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or_default();
    inner
        .split(", ")
        .filter_map(|p| {
            let (op, n) = p.rsplit_once(' ')?;
            Some((op.to_string(), n.parse().ok()?))
        })
        .collect()
}

/// Sum of every AWS call counted for the given operations.
pub fn calls(metrics: &str, operations: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("converge_aws_api_calls_total{"))
        .filter(|l| {
            operations
                .iter()
                .any(|op| l.contains(&format!("operation=\"{op}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of `series` in a Prometheus text exposition: `name` or `name{k="v",...}`. The
/// labels given select every series that has them (others may differ: a series per shard
/// gains `account` and `region`), and the values of all selected series are added up; `None`
/// when none matches.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    let (name, wanted) = match series.split_once('{') {
        Some((n, rest)) => (n, labels_of(rest.trim_end_matches('}'))),
        None => (series, Vec::new()),
    };
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, labels_of(rest.trim_end_matches('}'))),
            None => (head, Vec::new()),
        };
        if n != name || !wanted.iter().all(|w| labels.contains(w)) {
            continue;
        }
        if let Ok(v) = value.parse::<f64>() {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// `k="v",k2="v2"` as pairs (values hold no `",` in converge's series).
fn labels_of(text: &str) -> Vec<(String, String)> {
    text.split("\",")
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.to_string(), v.trim_matches('"').to_string()))
        })
        .collect()
}

/// One kind's status in `/status` (the first shard that runs it).
pub fn kind_status(status: &serde_json::Value, kind: &str) -> serde_json::Value {
    status["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|s| s["kinds"].get(kind).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// Copies the tree `from` to `to`, following symlinks (desired/estate links to
/// desired/examples).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if std::fs::metadata(e.path()).unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A tiny HTTP/1.0 GET, enough for our own endpoints.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to converge");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let code = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (code, body)
}

/// Creates the hosted zone `name` out of band (the reference stack's `example.com.` is
/// pre-existing, not managed); returns its id without `/hostedzone/`.
pub async fn create_zone(r53: &aws_sdk_route53::Client, name: &str) -> String {
    let out = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(unique("zone"))
        .send()
        .await
        .expect("create hosted zone");
    let id = out.hosted_zone().expect("hosted zone").id();
    id.trim_start_matches("/hostedzone/").to_string()
}

/// An SQS client on the moto of `area`, for assertions and out-of-band changes.
pub async fn sqs(area: Area) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .endpoint_url(&moto(area).endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// Queue URL by name, if it exists.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Option<String> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.queue_url().map(String::from))
}

pub async fn queue_attr(sqs: &aws_sdk_sqs::Client, name: &str, attr: &str) -> Option<String> {
    let url = queue_url(sqs, name).await?;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .ok()?;
    out.attributes()?
        .get(&aws_sdk_sqs::types::QueueAttributeName::from(attr))
        .cloned()
}

pub async fn queue_tags(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> std::collections::HashMap<String, String> {
    let url = queue_url(sqs, name).await.expect("queue exists");
    sqs.list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .expect("list tags")
        .tags()
        .cloned()
        .unwrap_or_default()
}

/// Creates a queue out of band (as an operator in the console would).
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, tags: &[(&str, &str)]) {
    sqs.create_queue()
        .queue_name(name)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
        .send()
        .await
        .expect("create queue out of band");
}

/// SDK configuration pointing at the moto of `area`, for building any service client in
/// tests: `aws_sdk_ec2::Client::new(&sdk_config(AREA))`.
pub fn sdk_config(area: Area) -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new(REGION))
        .endpoint_url(&moto(area).endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"),
            ),
        )
        .build()
}
