//! Hostile and broken desired state: every broken tree is reported with its file and line, the
//! last good state stays in force and nothing is deleted; resource bombs are bounded in time
//! and memory while the controller keeps serving; the loader never panics on random input
//! (a proptest run with a short budget, see `fuzz/` for long runs).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use proptest::prelude::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// One broken tree: files to write (relative path, content), and what `validate` must print:
/// (`file:line` prefix, text on the same line).
struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    expect: Vec<(&'static str, &'static str)>,
}

fn doc(kind: &str, name: &str, spec: &str) -> String {
    format!("apiVersion: converge/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

/// The corpus. Line numbers are those of the offending token in the file as written.
fn corpus(p: &str) -> Vec<Case> {
    vec![
        Case {
            name: "YAML syntax (unclosed flow mapping)",
            files: vec![(
                "a.yaml",
                format!(
                    "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {p}-q\nspec: {{attributes: {{DelaySeconds: 1}}\n"
                ),
            )],
            expect: vec![("a.yaml:5:", "unclosed bracket")],
        },
        Case {
            name: "YAML syntax (bad indentation)",
            files: vec![(
                "a.yaml",
                format!("apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {p}-q\n   bad: x\nspec: {{}}\n"),
            )],
            expect: vec![("a.yaml:5:", "mapping values are not allowed")],
        },
        Case {
            name: "wrong type",
            files: vec![(
                "a.yaml",
                doc("Queue", &format!("{p}-q"), "  attributes:\n    VisibilityTimeout: [1, 2]\n"),
            )],
            expect: vec![("a.yaml:7:", "invalid type: sequence")],
        },
        Case {
            name: "unknown field",
            files: vec![("a.yaml", doc("Queue", &format!("{p}-q"), "  atributes: {}\n"))],
            expect: vec![("a.yaml:6:3:", "unknown field `atributes`")],
        },
        Case {
            name: "duplicate key",
            files: vec![(
                "a.yaml",
                doc("Queue", &format!("{p}-q"), "  tags: {a: b}\n  tags: {c: d}\n"),
            )],
            expect: vec![("a.yaml:7:3:", "duplicate mapping key: tags")],
        },
        Case {
            name: "duplicate resource across files",
            files: vec![
                ("a.yaml", doc("Queue", &format!("{p}-q"), "  tags: {}\n")),
                (
                    "sub/b.yaml",
                    format!("---\n{}", doc("Queue", &format!("{p}-q"), "  tags: {}\n")),
                ),
            ],
            expect: vec![("sub/b.yaml:2:1:", "duplicate Queue")],
        },
        Case {
            name: "template error (undefined value)",
            files: vec![(
                "t.yaml",
                format!(
                    "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {p}-{{{{ values.no_such_value }}}}\nspec: {{}}\n"
                ),
            )],
            expect: vec![("t.yaml:4:", "`values.no_such_value` is undefined")],
        },
        Case {
            name: "invalid policy JSON",
            files: vec![(
                "a.yaml",
                doc("Queue", &format!("{p}-q"), "  attributes:\n    Policy: '{\"Version\": \"2012-10-17\", '\n"),
            )],
            expect: vec![("a.yaml:7:13:", "not valid JSON")],
        },
        Case {
            name: "invalid IAM policy JSON",
            files: vec![(
                "a.yaml",
                doc(
                    "IamRole",
                    &format!("{p}-role"),
                    "  policies:\n    inline: '{\"Statement\": [}'\n",
                ),
            )],
            expect: vec![("a.yaml:7:13:", "not valid JSON")],
        },
        Case {
            name: "name AWS would reject (characters)",
            files: vec![("a.yaml", doc("Queue", "bad name!", "  tags: {}\n"))],
            expect: vec![("a.yaml:4:9:", "queue name `bad name!` may contain only")],
        },
        Case {
            name: "name AWS would reject (length)",
            files: vec![("a.yaml", doc("Queue", &"q".repeat(81), "  tags: {}\n"))],
            expect: vec![("a.yaml:4:9:", "must be 1 to 80 characters long")],
        },
        Case {
            name: "port out of range",
            files: vec![(
                "sg.yaml",
                doc(
                    "SecurityGroup",
                    &format!("{p}-sg"),
                    "  description: web\n  rules:\n    - ip_protocol: tcp\n      from_port: 80\n      to_port: 70000\n      cidr_ip: 10.0.0.0/8\n",
                ),
            )],
            expect: vec![("sg.yaml:6:3:", "to_port: 70000 must be a port from 0 to 65535")],
        },
        Case {
            name: "CIDR garbage",
            files: vec![(
                "sg.yaml",
                doc(
                    "SecurityGroup",
                    &format!("{p}-sg"),
                    "  description: web\n  rules:\n    - ip_protocol: tcp\n      from_port: 80\n      to_port: 80\n      cidr_ip: 10.0.0.300/33\n",
                ),
            )],
            expect: vec![("sg.yaml:6:3:", "`10.0.0.300/33` is not an IPv4 CIDR block")],
        },
        Case {
            name: "unknown kind and wrong apiVersion",
            files: vec![(
                "a.yaml",
                format!("apiVersion: converge/v2\nkind: Bucket\nmetadata:\n  name: {p}-b\nspec: {{}}\n"),
            )],
            expect: vec![("a.yaml:2:", "unknown kind `Bucket`")],
        },
    ]
}

fn write_case(root: &Path, case: &Case) {
    for (rel, text) in &case.files {
        write_atomic(&root.join(rel), text);
    }
}

/// Moves the prepared directory `staged` into the tree as `<root>/<name>` in one rename, so
/// the controller never sees a half-written push.
fn push_dir(staged: &Path, root: &Path, name: &str) {
    std::fs::rename(staged, root.join(name)).expect("move into the tree");
}

/// Moves `<root>/<name>` out of the tree in one rename (into `trash`).
fn pull_dir(root: &Path, name: &str, trash: &Path) {
    let to = trash.join(format!("{name}-{}", unique("old")));
    std::fs::rename(root.join(name), to).expect("move out of the tree");
}

/// The line of `output` that reports `loc` (a `file:line:` suffix of the path), if any.
fn reported<'a>(output: &'a str, root: &Path, loc: &str) -> Option<&'a str> {
    let full = format!("{}/{loc}", root.display());
    output.lines().find(|l| l.contains(&full))
}

#[test]
fn validate_reports_every_broken_tree_with_file_and_line() {
    for case in corpus("v") {
        let d = Desired::new();
        write_case(d.path(), &case);
        let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", case.name);
        for (loc, text) in &case.expect {
            let line = reported(&err, d.path(), loc)
                .unwrap_or_else(|| panic!("{}: no problem reported at {loc}:\n{err}", case.name));
            assert!(
                line.contains(text),
                "{}: expected `{text}` at {loc}, got: {line}",
                case.name
            );
        }
    }
}

/// Under `converge run` with `--prune`: each broken push (which also drops a queue from the
/// tree) is reported with its location, the last good generation stays in force, nothing is
/// deleted, and a fixed tree is taken again.
#[tokio::test]
async fn a_broken_push_keeps_the_last_good_state_and_deletes_nothing() {
    let sqs = sqs(AREA).await;
    let p = unique("hostile");
    let id = unique("ctl");
    let d = Desired::new();
    let good = format!(
        "{}{}",
        queue_doc(&format!("{p}-keep"), ""),
        queue_doc(&format!("{p}-dropped"), "")
    );
    d.write("good.yaml", &good);
    let run = Running::start(
        AREA,
        &d.path_str(),
        &[
            "--resync",
            "1s",
            "--prune",
            "--controller-id",
            &id,
            "--debounce",
            "50ms",
        ],
    );
    run.wait_for("2 converged", 30, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 2.0
    });
    let generation = run.metric("converge_desired_generation");
    let scratch = tempfile::tempdir().unwrap();
    for case in corpus(&p) {
        // The push adds the broken files (in one rename) and drops a queue: were the tree
        // taken, prune would delete it.
        let staged = scratch.path().join(unique("case"));
        write_case(&staged, &case);
        push_dir(&staged, d.path(), "case");
        d.write("good.yaml", &queue_doc(&format!("{p}-keep"), ""));
        let (loc, text) = case.expect[0];
        let full = format!("{}/case/{loc}", d.path().display());
        run.wait_for(&format!("{}: reported", case.name), 15, |r| {
            r.metric("converge_desired_valid") == 0.0
                && r.logs()
                    .lines()
                    .any(|l| l.contains(&full) && l.contains(text))
        });
        assert_eq!(run.get("/healthz").0, 200, "{}", case.name);
        // Back to the good tree (the same content as the generation in force).
        d.write("good.yaml", &good);
        pull_dir(d.path(), "case", scratch.path());
        run.wait_for(&format!("{}: valid again", case.name), 15, |r| {
            r.metric("converge_desired_valid") == 1.0
        });
    }
    run.wait_sweeps("Queue", 2.0, 20);
    assert_eq!(
        run.metric("converge_desired_generation"),
        generation,
        "a broken tree became a generation"
    );
    assert_eq!(
        run.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}"),
        0.0,
        "something was deleted"
    );
    assert!(queue_url(&sqs, &format!("{p}-dropped")).await.is_some());
    assert!(queue_url(&sqs, &format!("{p}-keep")).await.is_some());
    assert!(
        queue_url(&sqs, &format!("{p}-q")).await.is_none(),
        "a resource from a broken tree was created"
    );
}

/// A reference to a resource that is neither desired nor existing is not a load error: the
/// resource waits, says for what, and `/status` gives its file and line; nothing is created.
#[tokio::test]
async fn a_reference_to_a_missing_resource_waits_and_says_where_it_was_written() {
    let d = Desired::new();
    let name = unique("dangling");
    d.write(
        "alarms.yaml",
        &format!(
            "---\napiVersion: converge/v1\nkind: MetricAlarm\nmetadata:\n  name: {name}\nspec:\n  metric: CPUUtilization\n  namespace: AWS/EC2\n  statistic: Average\n  comparison: '>='\n  threshold: 50\n  period: 300\n  evaluation_periods: 1\n  alarm_actions:\n    - 'scaling_policy:{name}-no-such-group:ScaleUp'\n"
        ),
    );
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &unique("ctl")],
    );
    run.wait_sweeps("MetricAlarm", 2.0, 20);
    let status = run.status();
    let r = &kind_status(&status, "MetricAlarm")["resources"][0];
    assert_eq!(r["state"], "pending", "{status}");
    assert!(
        r["waiting_for"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("AutoScalingGroup/{name}-no-such-group")),
        "{status}"
    );
    let source = r["source"].as_str().unwrap_or_default();
    assert!(
        source.starts_with(&format!("{}/alarms.yaml:2:1", d.path().display())),
        "{status}"
    );
    let cw = aws_sdk_cloudwatch::Client::new(&sdk_config(AREA));
    let found = cw
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
    assert!(
        found.metric_alarms().is_empty(),
        "created an alarm with a dangling action"
    );
}

/// A resource bomb file: name, what to write, the text its problem must contain.
struct Bomb {
    name: &'static str,
    make: fn(&Path),
    expect: &'static str,
}

fn bombs() -> Vec<Bomb> {
    vec![
        Bomb {
            name: "YAML alias bomb (billion laughs)",
            make: |root| {
                // The spec comes before `kind`, so it is read as untyped YAML: the aliases would
                // be expanded if the budget did not stop them.
                let mut t = String::from("spec:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                for i in 1..12 {
                    let p = i - 1;
                    t.push_str(&format!(
                        "  a{i}: &a{i} [{}]\n",
                        vec![format!("*a{p}"); 10].join(", ")
                    ));
                }
                t.push_str("apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: laughs\n");
                write_atomic(&root.join("bomb.yaml"), &t);
            },
            expect: "500,000 YAML nodes",
        },
        Bomb {
            name: "a 50 MB file",
            make: |root| {
                use std::io::Write;
                let path = root.join("big.yaml");
                let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
                write!(f, "{}", doc("Queue", "big", "  tags:\n")).unwrap();
                let mut n = 0u64;
                while n * 100 < 50 * 1024 * 1024 {
                    writeln!(f, "    k{n:09}: {}", "x".repeat(84)).unwrap();
                    n += 1;
                }
            },
            expect: "more than the 8388608 allowed",
        },
        Bomb {
            name: "10,000 documents in one file",
            make: |root| {
                let mut t = String::new();
                for i in 0..10_000 {
                    t.push_str(&format!(
                        "---\n{}",
                        doc("Queue", &format!("many-{i}"), "  tags: {}\n")
                    ));
                }
                write_atomic(&root.join("many.yaml"), &t);
            },
            expect: "more than 5000 documents in one file",
        },
        Bomb {
            name: "deep nesting",
            make: |root| {
                let t = format!(
                    "spec:\n  x: {}{}\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: deep\n",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                );
                write_atomic(&root.join("deep.yaml"), &t);
            },
            expect: "recursion limit",
        },
        Bomb {
            name: "symlink loop",
            make: |root| {
                std::fs::create_dir_all(root.join("loop")).unwrap();
                std::os::unix::fs::symlink("..", root.join("loop/up")).unwrap();
            },
            expect: "symlink loop",
        },
        Bomb {
            name: "non-UTF-8 file",
            make: |root| {
                std::fs::write(
                    root.join("latin1.yaml"),
                    b"apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: caf\xe9\nspec: {}\n",
                )
                .unwrap();
            },
            expect: "not valid UTF-8",
        },
        Bomb {
            // Tests run as root, for whom `chmod 000` does not make a file unreadable: a dangling
            // symlink is a manifest that cannot be read.
            name: "unreadable file (dangling symlink)",
            make: |root| {
                std::os::unix::fs::symlink("/nonexistent/converge/x.yaml", root.join("gone.yaml"))
                    .unwrap();
            },
            expect: "cannot read",
        },
        Bomb {
            // A FIFO would block a reader until a writer appears.
            name: "unreadable file (a FIFO named like a manifest)",
            make: |root| {
                let c =
                    std::ffi::CString::new(root.join("pipe.yaml").display().to_string()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            },
            expect: "not a regular file",
        },
    ]
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Each bomb, pushed into a running controller's tree: reported within a bounded time, peak
/// memory stays bounded, `/healthz` answers, the last good state stays, nothing is deleted.
#[tokio::test]
async fn resource_bombs_are_bounded_and_the_controller_keeps_serving() {
    let sqs = sqs(AREA).await;
    let p = unique("bombs");
    let id = unique("ctl");
    let root_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path();
    let good = format!(
        "{}{}",
        queue_doc(&format!("{p}-keep"), ""),
        queue_doc(&format!("{p}-dropped"), "")
    );
    write_atomic(&root.join("good.yaml"), &good);
    let run = Running::start(
        AREA,
        &root.display().to_string(),
        &[
            "--resync",
            "2s",
            "--prune",
            "--controller-id",
            &id,
            "--debounce",
            "50ms",
            "--poll-interval",
            "2s",
        ],
    );
    run.wait_for("2 converged", 30, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 2.0
    });
    let generation = run.metric("converge_desired_generation");
    let baseline_kib = vm_hwm_kib(run.pid());
    let scratch = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    for bomb in bombs() {
        // Built outside the tree, pushed in one rename; the push also drops a queue.
        let staged = scratch.path().join(unique("bomb"));
        std::fs::create_dir_all(&staged).unwrap();
        (bomb.make)(&staged);
        let started = Instant::now();
        push_dir(&staged, root, "bomb");
        write_atomic(
            &root.join("good.yaml"),
            &queue_doc(&format!("{p}-keep"), ""),
        );
        run.wait_for(&format!("{}: reported", bomb.name), 30, |r| {
            r.metric("converge_desired_valid") == 0.0
                && r.logs().lines().any(|l| l.contains(bomb.expect))
        });
        let took = started.elapsed();
        let (code, _) = run.get("/healthz");
        assert_eq!(code, 200, "{}: /healthz", bomb.name);
        let hwm = vm_hwm_kib(run.pid());
        report.push(format!("{}: {took:?}, VmHWM {} MiB", bomb.name, hwm / 1024));
        assert!(
            took < Duration::from_secs(20),
            "{}: took {took:?} to report",
            bomb.name
        );
        assert!(
            hwm < 256 * 1024,
            "{}: peak RSS {} MiB (baseline {} MiB)",
            bomb.name,
            hwm / 1024,
            baseline_kib / 1024
        );
        // Back to the good tree.
        write_atomic(&root.join("good.yaml"), &good);
        pull_dir(root, "bomb", scratch.path());
        run.wait_for(&format!("{}: valid again", bomb.name), 20, |r| {
            r.metric("converge_desired_valid") == 1.0
        });
    }
    eprintln!(
        "resource bombs (baseline VmHWM {} MiB):\n  {}",
        baseline_kib / 1024,
        report.join("\n  ")
    );
    assert_eq!(run.metric("converge_desired_generation"), generation);
    assert_eq!(
        run.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}"),
        0.0
    );
    assert!(queue_url(&sqs, &format!("{p}-dropped")).await.is_some());
}

/// A FIFO named like a manifest must be reported, not opened: opening a FIFO for reading
/// blocks until a writer appears, which would stall every later reload of the tree.
#[test]
fn a_fifo_named_like_a_manifest_is_reported_not_opened() {
    let d = Desired::new();
    let fifo = d.path().join("pipe.yaml");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut child = std::process::Command::new(converge_bin())
        .args(["validate", "--desired", &d.path_str()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = status.expect("validate blocked on a FIFO named pipe.yaml");
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("pipe.yaml:1:1: not a regular file"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Fuzzing the loader (short budget here; `cargo +nightly fuzz run loader` for long runs).

/// Valid manifests to mutate.
const SEEDS: &[&str] = &[
    "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\n  labels: {team: ops}\nspec:\n  attributes:\n    VisibilityTimeout: 60\n    RedrivePolicy:\n      deadLetterTargetArn: arn:aws:sqs:us-east-1:123456789012:dlq\n      maxReceiveCount: 5\n  tags:\n    service_name: myapp\n",
    "---\napiVersion: converge/v1\nkind: MetricAlarm\nmetadata:\n  name: a1\nspec:\n  metric: CPUUtilization\n  namespace: AWS/EC2\n  statistic: Average\n  comparison: '>='\n  threshold: 50\n  period: 300\n  evaluation_periods: 1\n  dimensions:\n    AutoScalingGroupName: [asg]\n  alarm_actions: ['arn:aws:sns:us-east-1:1:t']\n---\napiVersion: converge/v1\nkind: Queue\nmetadata: {name: q2}\nspec: {}\n",
    "apiVersion: converge/v1\nkind: SecurityGroup\nmetadata:\n  name: web\nspec:\n  description: web\n  rules:\n    - ip_protocol: tcp\n      from_port: 80\n      to_port: 80\n      cidr_ip: [10.0.0.0/8]\n",
    "apiVersion: converge/v1\nkind: IamRole\nmetadata:\n  name: r1\nspec:\n  policies:\n    p1:\n      Version: '2012-10-17'\n      Statement:\n        - {Action: ['sqs:*'], Effect: Allow, Resource: '*'}\n",
];

/// YAML-ish fragments for random text.
const TOKENS: &[&str] = &[
    "apiVersion",
    "converge/v1",
    "kind",
    "Queue",
    "MetricAlarm",
    "SecurityGroup",
    "IamRole",
    "LoadBalancer",
    "metadata",
    "name",
    "spec",
    "tags",
    "attributes",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\n    ",
    "---\n",
    "...\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a",
    "*a",
    "!!str ",
    "!!binary ",
    "'",
    "\"",
    "|\n",
    ">-\n",
    "#",
    "? ",
    "%YAML 1.2\n",
    "<<: *a",
    "\t",
    "null",
    "~",
    "1e400",
    "-0",
    "0x1F",
    "true",
    "é",
    "\r",
    "\r\n",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "\\u0000",
    "{{ values.x }}",
    "{%",
    "%}",
];

fn check_parse(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("fuzz/input.yaml");
    let mut problems = Vec::new();
    let started = Instant::now();
    let docs = converge::desired::parse_file::<converge::kinds::Kinds>(file, text, &mut problems);
    prop_assert!(
        started.elapsed() < Duration::from_secs(5),
        "parse took {:?}",
        started.elapsed()
    );
    // YAML breaks lines at LF, CR LF and a lone CR.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .count() as u64
        + 1;
    for p in &problems {
        prop_assert_eq!(&p.origin.file, file);
        prop_assert!(
            p.origin.line >= 1 && p.origin.line <= lines,
            "line {} of {lines}: {p}",
            p.origin.line
        );
        prop_assert!(p.origin.column >= 1);
        let shown = p.to_string();
        prop_assert!(shown.starts_with("fuzz/input.yaml:"), "{}", shown);
        prop_assert!(!p.message.trim().is_empty(), "empty message: {}", shown);
    }
    for d in &docs {
        prop_assert_eq!(&d.origin.file, file);
        prop_assert!(!d.name.is_empty());
    }
    Ok(())
}

/// A mutation of a valid manifest.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Indent(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = proptest::sample::select(TOKENS).prop_map(str::to_string);
    prop_oneof![
        (any::<usize>(), prop_oneof![token, "\\PC{0,8}"]).prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 0usize..6).prop_map(|(i, n)| Mutation::Indent(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn char_boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    let n = lines.len();
    match m {
        Mutation::Insert(i, s) => {
            let i = char_boundary(text, *i);
            format!("{}{s}{}", &text[..i], &text[i..])
        }
        Mutation::Delete(i, len) => {
            let a = char_boundary(text, *i);
            let b = char_boundary(text, (a + len).min(text.len()));
            format!("{}{}", &text[..a], &text[b.max(a)..])
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
        Mutation::Indent(i, k) => {
            lines[i % n] = format!("{}{}", " ".repeat(*k), lines[i % n].trim_start());
            lines.join("\n")
        }
        Mutation::Truncate(i) => text[..char_boundary(text, *i)].to_string(),
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Random mutations of valid manifests: never a panic; every problem has a file:line.
    #[test]
    fn the_loader_survives_mutated_manifests(
        seed in proptest::sample::select(SEEDS),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut text = seed.to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        check_parse(&text)?;
    }

    /// Random YAML-ish token soup and random text: never a panic; every problem has a
    /// file:line.
    #[test]
    fn the_loader_survives_random_text(
        tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..80),
        noise in "\\PC{0,200}",
    ) {
        check_parse(&tokens.concat())?;
        check_parse(&noise)?;
    }
}

/// The whole loader (directory walk included) on a few random trees.
#[test]
fn the_loader_survives_random_trees() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(
        (
            "[a-z]{1,6}(/[a-z]{1,6})?\\.(yaml|yml|txt)",
            proptest::sample::select(SEEDS),
            proptest::collection::vec(mutation(), 0..3),
        ),
        1..5,
    );
    runner
        .run(&strategy, |files| {
            let dir = tempfile::tempdir().unwrap();
            for (rel, seed, mutations) in &files {
                let mut text = seed.to_string();
                for m in mutations {
                    text = apply(&text, m);
                }
                write_atomic(&dir.path().join(rel), &text);
            }
            match converge::kinds::load(dir.path(), &converge::desired::LoadOptions::default()) {
                Ok(_) => {}
                Err(converge::desired::LoadError::Invalid(problems)) => {
                    prop_assert!(!problems.is_empty());
                    for p in problems {
                        prop_assert!(p.origin.file.starts_with(dir.path()), "{}", p);
                        prop_assert!(p.origin.line >= 1);
                    }
                }
                Err(e) => prop_assert!(false, "unexpected: {e}"),
            }
            Ok(())
        })
        .unwrap();
}
