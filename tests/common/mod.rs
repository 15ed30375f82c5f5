//! Test support: a real moto server per test binary, the real `converge` binary, and helpers
//! to read its metrics, status and logs. Every test uses its own names and controller id, so
//! tests share one moto safely.

#![allow(dead_code)]

pub mod faults;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

/// A moto server that lives as long as the test binary: a shell wrapper kills it when our
/// end of its stdin closes (when the test process exits, however it exits).
pub struct Moto {
    pub endpoint: String,
    _stdin: Mutex<ChildStdin>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared moto server, installed (pinned, into `.venv/`) and started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start_moto)
}

// The wrapper shell outlives every test on purpose; it exits (and is reaped by init) when the
// test process closes its stdin.
#[allow(clippy::zombie_processes)]
fn start_moto() -> Moto {
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
    let log = std::env::temp_dir().join(format!("converge-moto-{port}.log"));
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
            "moto_server did not start on port {port}; see {}",
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

/// A name unique to this test run: `t<pid>-<n>-<what>`.
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

/// `converge <args>` against moto (the endpoint is added for plan/apply/run).
pub fn converge(args: &[&str]) -> Output {
    let mut cmd = Command::new(converge_bin());
    aws_env(&mut cmd).args(args);
    if matches!(args.first(), Some(&"plan") | Some(&"apply") | Some(&"run")) {
        cmd.args(["--endpoint-url", &moto().endpoint]);
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
    /// Starts `converge run --desired DIR <extra>` on a free port and waits for it to serve.
    pub fn start(desired: &str, extra: &[&str]) -> Running {
        Running::start_with(desired, &moto().endpoint, &[], extra)
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
    /// `converge_resources{kind="Queue",state="converged"}` (labels as exposed, sorted).
    pub fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics(), series).unwrap_or(0.0)
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").1).expect("status is JSON")
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

pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
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

/// An SQS client on moto, for assertions and out-of-band changes.
pub async fn sqs() -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .endpoint_url(&moto().endpoint)
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

/// SDK configuration pointing at moto, for building any service client in tests:
/// `aws_sdk_ec2::Client::new(&sdk_config())`.
pub fn sdk_config() -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new(REGION))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"),
            ),
        )
        .build()
}
