//! Running converge in production: the git deploy hooks with real git, the audit log, the
//! alert rules with the real promtool, the dashboard's and rules' metric names against a real
//! scrape, a real Prometheus scraping converge and firing an alert, and the systemd unit with
//! the real `systemd-analyze verify`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Held by every test that may run `apt-get` (through a script that installs what it misses):
/// two tests that ran `apt-get` together failed on apt's lock.
static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Installs promtool and prometheus (Debian's `prometheus` package) if missing, via the same
/// script CI uses; fails loudly if that is impossible.
fn ensure_prometheus() {
    let _one_at_a_time = APT.lock().unwrap_or_else(|e| e.into_inner());
    if Path::new("/usr/bin/promtool").exists() && Path::new("/usr/bin/prometheus").exists() {
        return;
    }
    let out = Command::new(repo_file("scripts/check-alerts"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/check-alerts");
    assert!(
        Path::new("/usr/bin/prometheus").exists(),
        "prometheus/promtool are not installed and scripts/check-alerts could not install them \
         (apt-get install prometheus):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git")
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    ensure_prometheus();
    let out = Command::new(repo_file("scripts/check-alerts"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/check-alerts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 13 rules found"), "{text}");
}

/// The shipped unit passes `systemd-analyze verify` on the systemd CI runs (Debian 12: 252)
/// with no setting ignored: systemd only warns about a key it does not know ("Unknown key
/// ..., ignoring.") and verify still exits 0, which is how RestartSteps= (systemd 254) went
/// unnoticed. `scripts/systemd-verify` installs systemd-analyze if it is missing (as
/// scripts/check-alerts does promtool) and checks a copy whose ExecStart= runs the built binary
/// (verify requires the command to exist).
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_with_no_unknown_keys() {
    for unit in ["converge.service", "converge-node.service"] {
        verify_unit(unit);
    }
}

fn verify_unit(unit: &str) {
    let out = {
        let _one_at_a_time = APT.lock().unwrap_or_else(|e| e.into_inner());
        Command::new(repo_file("scripts/systemd-verify"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg(repo_file(&format!("deploy/systemd/{unit}")))
            .arg(env!("CARGO_BIN_EXE_converge"))
            .output()
            .expect("run scripts/systemd-verify")
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "systemd-analyze verify failed:\n{stdout}{stderr}"
    );
    for ignored in ["Unknown key", "Unknown section", "Unknown lvalue"] {
        assert!(
            !stderr.contains(ignored),
            "systemd ignores part of the unit:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("systemd-analyze verify") && stdout.contains("verified"),
        "{stdout}{stderr}"
    );
    // The settings the unit relies on are there (and, by the check above, known to systemd).
    let unit = std::fs::read_to_string(repo_file("deploy/systemd/converge.service")).unwrap();
    for line in ["Restart=always", "RestartSec=5s", "StartLimitIntervalSec=0"] {
        assert!(
            unit.lines().any(|l| l.trim() == line),
            "the unit lacks `{line}`"
        );
    }
}

#[tokio::test]
async fn the_audit_log_records_every_mutating_change_with_the_revision() {
    let d = Desired::new();
    let p = unique("audit");
    d.write(
        "q.yaml",
        &queue_doc(
            &format!("{p}-q"),
            "attributes: {VisibilityTimeout: 45}\ntags: {team: ops}",
        ),
    );
    std::fs::write(d.path().join(".converge-revision"), "feedc0de\n").unwrap();
    let log = d.path().join("audit.jsonl");
    let id = unique("ctl");
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--controller-id",
            &id,
            "--audit-log",
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).expect("audit log written");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(records.len(), 1, "{text}");
    let r = &records[0];
    assert_eq!(r["kind"], "Queue");
    assert_eq!(r["name"], format!("{p}-q"));
    assert_eq!(r["action"], "create");
    assert_eq!(r["outcome"], "ok");
    assert_eq!(r["revision"], "feedc0de");
    assert_eq!(r["controller_id"], id.as_str());
    assert!(r["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        r["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "attributes.VisibilityTimeout" && f["to"] == "45"),
        "{r}"
    );
    // Also in the log at info.
    assert!(stderr(&out).contains("applied"), "{}", stderr(&out));
    // An unwritable audit log is a usage error, before anything is done.
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--audit-log",
            "/nonexistent/dir/audit.jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn the_git_hooks_deploy_valid_pushes_and_reject_invalid_ones() {
    let base = tempfile::tempdir().unwrap();
    let bare = base.path().join("desired.git");
    let deploy = base.path().join("srv");
    let work = base.path().join("work");
    assert!(git(
        base.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()]
    )
    .status
    .success());
    for hook in ["pre-receive", "post-receive"] {
        std::fs::copy(
            repo_file(&format!("deploy/git/{hook}")),
            bare.join("hooks").join(hook),
        )
        .unwrap();
    }
    git(
        &bare,
        &["config", "converge.deployDir", deploy.to_str().unwrap()],
    );
    git(&bare, &["config", "converge.binary", converge_bin()]);
    git(&bare, &["config", "converge.path", "desired"]);
    assert!(git(
        base.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap()
        ]
    )
    .status
    .success());
    git(&work, &["checkout", "-q", "-b", "main"]);

    // Push 1: valid.
    let p = unique("hook");
    write_atomic(
        &work.join("desired/q.yaml"),
        &queue_doc(&format!("{p}-one"), ""),
    );
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "one queue"]);
    let push = git(&work, &["push", "-q", "origin", "main"]);
    assert!(
        push.status.success(),
        "valid push rejected: {}",
        String::from_utf8_lossy(&push.stderr)
    );
    let first = String::from_utf8_lossy(&git(&work, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    let current = deploy.join("current");
    assert_eq!(
        std::fs::read_to_string(current.join(".converge-revision"))
            .unwrap()
            .trim(),
        first
    );

    // converge runs on `current` and reports the revision.
    let run = Running::start(
        AREA,
        current.to_str().unwrap(),
        &["--controller-id", &unique("ctl"), "--resync", "30s"],
    );
    run.wait_for("first revision", 20, |r| {
        r.metric(&format!("converge_desired_info{{revision=\"{first}\"}}")) == 1.0
    });

    // Push 2: invalid — rejected with the error and its location; nothing changes.
    write_atomic(
        &work.join("desired/q.yaml"),
        &format!(
            "{}  bogus: true\n",
            queue_doc(&format!("{p}-one"), "tags: {a: b}")
        ),
    );
    git(&work, &["commit", "-q", "-am", "broken"]);
    let push = git(&work, &["push", "origin", "main"]);
    let err = String::from_utf8_lossy(&push.stderr).to_string();
    assert!(!push.status.success(), "invalid push accepted: {err}");
    assert!(
        err.contains("push rejected") && err.contains("desired/q.yaml:8:3: unknown field `bogus`"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(current.join(".converge-revision"))
            .unwrap()
            .trim(),
        first
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        run.metric(&format!("converge_desired_info{{revision=\"{first}\"}}")),
        1.0
    );
    assert_eq!(run.metric("converge_desired_valid"), 1.0);

    // Push 3: fixed — deployed and picked up.
    write_atomic(
        &work.join("desired/q.yaml"),
        &format!(
            "{}{}",
            queue_doc(&format!("{p}-one"), ""),
            queue_doc(&format!("{p}-two"), "")
        ),
    );
    git(&work, &["commit", "-q", "-am", "two queues"]);
    let push = git(&work, &["push", "-q", "origin", "main"]);
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    let third = String::from_utf8_lossy(&git(&work, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    run.wait_for("new revision", 20, |r| {
        r.metric(&format!("converge_desired_info{{revision=\"{third}\"}}")) == 1.0
    });
    assert_eq!(
        run.metric(&format!("converge_desired_info{{revision=\"{first}\"}}")),
        0.0,
        "two revision series"
    );
    assert_eq!(run.status()["desired"]["revision"], third.as_str());
    run.wait_for("two queues converged", 20, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 2.0
    });
}

/// Metric names used in a PromQL-bearing text (rules, dashboard).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if (rest.starts_with("converge_") || rest.starts_with("process_"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.insert(rest[..end].to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    out
}

/// The metric names registered in `src/metrics.rs`: the string literals that are whole names
/// (`"converge_lease_held"`), not the mentions in its comments.
fn registered_names() -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(repo_file("src/metrics.rs")).unwrap();
    text.match_indices("\"converge_")
        .filter_map(|(at, _)| {
            let rest = &text[at + 1..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            rest[end..]
                .starts_with('"')
                .then(|| rest[..end].to_string())
        })
        .collect()
}

/// Lease metrics exist only with high availability (`run --lease-table`), and some only after
/// an event (`converge_lease_fenced_calls_total` appears at the first fenced call).
const HA_ONLY: &str = "converge_lease_";

#[test]
fn the_dashboard_and_alert_rules_use_only_exported_metrics() {
    let d = Desired::new();
    d.write("q.yaml", &queue_doc(&unique("names"), ""));
    let run = Running::start(AREA, &d.path_str(), &["--controller-id", &unique("ctl")]);
    run.wait_for("ready", 20, |r| r.get("/readyz").0 == 200);
    let scrape = run.metrics();
    let exported: std::collections::BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(String::from))
        .collect();
    // This process runs without --lease-table, so no lease series: their names are checked
    // against what src/metrics.rs registers instead. Every other name must be in the scrape.
    let registered = registered_names();
    let lease_names: Vec<&String> = registered
        .iter()
        .filter(|n| n.starts_with(HA_ONLY))
        .collect();
    assert!(
        lease_names.len() >= 5,
        "src/metrics.rs registers too few lease metrics: {lease_names:?}"
    );
    assert!(
        !exported.iter().any(|n| n.starts_with(HA_ONLY)),
        "a converge without --lease-table exports lease series; check them against the scrape"
    );
    let mut lease_used = std::collections::BTreeSet::new();
    for file in ["dashboards/converge.json", "deploy/prometheus/alerts.yml"] {
        let text =
            std::fs::read_to_string(repo_file(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let used = metric_names(&text);
        assert!(used.len() >= 5, "{file} names too few metrics: {used:?}");
        for name in used {
            if name.starts_with(HA_ONLY) {
                assert!(
                    registered.contains(&name),
                    "{file} uses `{name}`, which src/metrics.rs does not register"
                );
                lease_used.insert(name);
            } else {
                assert!(
                    exported.contains(&name),
                    "{file} uses `{name}`, which converge does not export"
                );
            }
        }
    }
    // The dashboard and the rules between them show every lease metric.
    for name in lease_names {
        assert!(
            lease_used.contains(name),
            "neither the dashboard nor the rules use `{name}`"
        );
    }
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("dashboards/converge.json")).unwrap(),
    )
    .unwrap();
    assert!(
        dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["type"] == "datasource"),
        "no datasource variable"
    );
}

#[test]
fn a_real_prometheus_scrapes_converge_and_fires_desired_invalid() {
    ensure_prometheus();
    let d = Desired::new();
    d.write("q.yaml", &queue_doc(&unique("prom"), ""));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--controller-id", &unique("ctl"), "--resync", "2s"],
    );
    run.wait_for("ready", 20, |r| r.get("/readyz").0 == 200);

    let dir = tempfile::tempdir().unwrap();
    // The shipped rules, with `for:` shortened so the test is quick.
    let rules = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).unwrap();
    let mut fast = String::new();
    for line in rules.lines() {
        match line.trim_start().strip_prefix("for:") {
            Some(_) => fast.push_str(&format!(
                "{}for: 2s\n",
                &line[..line.len() - line.trim_start().len()]
            )),
            None => {
                fast.push_str(line);
                fast.push('\n');
            }
        }
    }
    std::fs::write(dir.path().join("alerts.yml"), fast).unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: converge\n    static_configs:\n      - targets: ['{}']\n",
            run.addr
        ),
    )
    .unwrap();
    let mut prom = Command::new("/usr/bin/prometheus")
        .current_dir(dir.path())
        .args([
            "--config.file=prometheus.yml".to_string(),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus");
    let addr = format!("127.0.0.1:{port}");
    let query = |q: &str| -> serde_json::Value {
        let path = format!(
            "/api/v1/query?query={}",
            q.replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
                .replace('=', "%3D")
                .replace(' ', "%20")
        );
        match std::net::TcpStream::connect(&addr) {
            Ok(_) => {
                serde_json::from_str(&http_get(&addr, &path).1).unwrap_or(serde_json::Value::Null)
            }
            Err(_) => serde_json::Value::Null,
        }
    };
    let wait = |what: &str, secs: u64, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait("converge_resources in Prometheus", 60, &|| {
            query("converge_resources")["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        });
        d.write(
            "q.yaml",
            "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: x}\nspec: {nope: 1}\n",
        );
        run.wait_for("desired invalid", 15, |r| {
            r.metric("converge_desired_valid") == 0.0
        });
        wait("ConvergeDesiredInvalid firing", 60, &|| {
            query("ALERTS{alertname=\"ConvergeDesiredInvalid\",alertstate=\"firing\"}")["data"]
                ["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        });
    }));
    let _ = prom.kill();
    let _ = prom.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
