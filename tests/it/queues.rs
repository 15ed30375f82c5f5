//! The engine end to end on SQS queues, against a real moto server and the real binary.

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

const MUTATING: &[&str] = &[
    "CreateQueue",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
    "DeleteQueue",
];

fn stack(prefix: &str) -> String {
    let mut out = String::new();
    out.push_str(&queue_doc(
        &format!("{prefix}-work"),
        &format!(
            "attributes:\n  VisibilityTimeout: 60\n  MessageRetentionPeriod: '345600'\n  RedrivePolicy:\n    deadLetterTargetArn: arn:aws:sqs:us-east-1:123456789012:{prefix}-dlq\n    maxReceiveCount: 5\ntags:\n  team: ops\n"
        ),
    ));
    out.push_str(&queue_doc(
        &format!("{prefix}-dlq"),
        "attributes:\n  MessageRetentionPeriod: 1209600\n",
    ));
    out.push_str(&queue_doc(
        &format!("{prefix}-events.fifo"),
        "attributes:\n  ContentBasedDeduplication: true\n",
    ));
    out
}

#[tokio::test]
async fn apply_converges_from_empty_and_a_second_apply_changes_nothing() {
    let sqs = sqs(AREA).await;
    let p = unique("apply");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("queues.yaml", &stack(&p));
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "plan before apply: {}",
        stderr(&plan)
    );
    assert!(
        stdout(&plan).contains(&format!("Queue {p}-dlq: create")),
        "{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("attributes.FifoQueue: (none) → true"),
        "{}",
        stdout(&plan)
    );
    // The work queue names its dead-letter queue, which is still to be created.
    assert!(
        stdout(&plan).contains(&format!("Queue {p}-work: waiting for Queue/{p}-dlq")),
        "{}",
        stdout(&plan)
    );
    assert!(
        queue_url(&sqs, &format!("{p}-dlq")).await.is_none(),
        "plan must not create"
    );

    let first = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "apply: {}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("3 resource(s) converged, 0 not"),
        "{}",
        stdout(&first)
    );

    let work = format!("{p}-work");
    assert_eq!(
        queue_attr(&sqs, &work, "VisibilityTimeout")
            .await
            .as_deref(),
        Some("60")
    );
    assert_eq!(
        queue_attr(&sqs, &work, "MessageRetentionPeriod")
            .await
            .as_deref(),
        Some("345600")
    );
    let redrive: serde_json::Value = serde_json::from_str(
        &queue_attr(&sqs, &work, "RedrivePolicy")
            .await
            .expect("redrive"),
    )
    .expect("json");
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    assert!(redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{p}-dlq")));
    let fifo = format!("{p}-events.fifo");
    assert_eq!(
        queue_attr(&sqs, &fifo, "FifoQueue").await.as_deref(),
        Some("true")
    );
    assert_eq!(
        queue_attr(&sqs, &fifo, "ContentBasedDeduplication")
            .await
            .as_deref(),
        Some("true")
    );
    let tags = queue_tags(&sqs, &work).await;
    assert_eq!(tags.get("team").map(String::as_str), Some("ops"));
    assert_eq!(tags.get("converge:managed-by"), Some(&id));

    let second = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let calls_line = stderr(&second)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string();
    for op in MUTATING {
        assert!(
            !calls_line.contains(op),
            "no-change apply called {op}: {calls_line}"
        );
    }
    assert!(calls_line.contains("SQS.ListQueues 1"), "{calls_line}");

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "plan after apply: {}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("0 to change, 0 to delete, 3 in sync"),
        "{}",
        stdout(&plan)
    );
}

#[tokio::test]
async fn drift_is_corrected_within_one_resync_and_no_change_sweeps_write_nothing() {
    let sqs = sqs(AREA).await;
    let p = unique("drift");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("queues.yaml", &stack(&p));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("3 converged queues", 30, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 3.0
    });
    let (code, _) = run.get("/readyz");
    assert_eq!(code, 200, "ready after the first full sweep");

    // A no-change resync makes zero mutating calls.
    let before = calls(&run.metrics(), MUTATING);
    run.wait_sweeps("Queue", 2.0, 20);
    assert_eq!(
        calls(&run.metrics(), MUTATING),
        before,
        "a no-change sweep wrote to AWS"
    );

    // Someone edits the queue in the console.
    let work = format!("{p}-work");
    let url = queue_url(&sqs, &work).await.unwrap();
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "5",
        )
        .send()
        .await
        .unwrap();
    sqs.tag_queue()
        .queue_url(&url)
        .tags("stray", "x")
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let vt = queue_attr(&sqs, &work, "VisibilityTimeout").await;
        let tags = queue_tags(&sqs, &work).await;
        if vt.as_deref() == Some("60") && !tags.contains_key("stray") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "drift not corrected: {vt:?} {tags:?}\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    run.wait_for("drift counted", 10, |r| {
        r.metric("converge_drift_detected_total{kind=\"Queue\"}") >= 1.0
    });
    assert!(run.metric("converge_changes_applied_total{action=\"update\",kind=\"Queue\"}") >= 1.0);
    assert!(run.metric("converge_changes_applied_total{action=\"tag\",kind=\"Queue\"}") >= 1.0);
    assert!(
        run.metric("converge_aws_api_calls_total{operation=\"ListQueues\",service=\"SQS\"}") >= 3.0
    );
    // AWS shows the correction a moment before converge's verifying sweep records it.
    let work_status = |r: &Running| {
        r.kind_status("Queue")["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == work.as_str())
            .cloned()
            .unwrap()
    };
    run.wait_for("the corrected queue converged", 10, |r| {
        work_status(r)["state"] == "converged"
    });
    let w = work_status(&run);
    assert!(w["last_change"].is_string(), "{w}");
    assert_eq!(w["state"], "converged");
}

#[tokio::test]
async fn an_invalid_tree_keeps_the_last_good_state() {
    let sqs = sqs(AREA).await;
    let p = unique("invalid");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("a.yaml", &queue_doc(&format!("{p}-a"), ""));
    d.write("b.yaml", &queue_doc(&format!("{p}-b"), ""));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--prune", "--controller-id", &id],
    );
    run.wait_for("2 converged", 30, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 2.0
    });
    assert_eq!(run.metric("converge_desired_valid"), 1.0);
    let generation = run.metric("converge_desired_generation");

    // Remove b from the tree and break a, in one push: nothing may be deleted.
    d.remove("b.yaml");
    d.write(
        "a.yaml",
        &format!(
            "{}  bogus: 1\n",
            queue_doc(&format!("{p}-a"), "tags: {x: y}")
        ),
    );
    run.wait_for("desired_valid 0", 15, |r| {
        r.metric("converge_desired_valid") == 0.0
    });
    run.wait_sweeps("Queue", 2.0, 20);
    assert!(
        run.logs().contains("a.yaml:8:3: unknown field `bogus`"),
        "{}",
        run.logs()
    );
    assert!(
        queue_url(&sqs, &format!("{p}-b")).await.is_some(),
        "invalid tree pruned a queue"
    );
    assert_eq!(run.metric("converge_desired_generation"), generation);
    assert_eq!(
        run.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}"),
        0.0
    );

    // Fixed: the new tree is taken, and b (owned, no longer desired) is pruned.
    d.write("a.yaml", &queue_doc(&format!("{p}-a"), "tags: {x: y}"));
    run.wait_for("desired_valid 1", 15, |r| {
        r.metric("converge_desired_valid") == 1.0
    });
    run.wait_for("b pruned", 15, |r| {
        r.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}") == 1.0
    });
    assert!(queue_url(&sqs, &format!("{p}-b")).await.is_none());
    assert_eq!(
        queue_tags(&sqs, &format!("{p}-a"))
            .await
            .get("x")
            .map(String::as_str),
        Some("y")
    );
}

#[tokio::test]
async fn prune_deletes_only_owned_queues_and_respects_max_deletions() {
    let sqs = sqs(AREA).await;
    let p = unique("prune");
    let id = unique("ctl");
    let d = Desired::new();
    let mut all = String::new();
    for q in ["keep", "old1", "old2"] {
        all.push_str(&queue_doc(&format!("{p}-{q}"), ""));
    }
    d.write("q.yaml", &all);
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    create_queue(&sqs, &format!("{p}-unowned"), &[]).await;
    create_queue(
        &sqs,
        &format!("{p}-foreign"),
        &[("converge:managed-by", "someone-else")],
    )
    .await;

    d.write("q.yaml", &queue_doc(&format!("{p}-keep"), ""));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &[
            "--resync",
            "1s",
            "--prune",
            "--max-deletions",
            "1",
            "--controller-id",
            &id,
        ],
    );
    run.wait_for("one deletion", 20, |r| {
        r.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}") == 1.0
    });
    run.wait_for("a refused deletion", 20, |r| {
        r.metric("converge_deletions_refused_total") >= 1.0
    });
    run.wait_sweeps("Queue", 2.0, 20);
    assert_eq!(
        run.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}"),
        1.0,
        "max-deletions exceeded"
    );
    let remaining = [
        queue_url(&sqs, &format!("{p}-old1")).await,
        queue_url(&sqs, &format!("{p}-old2")).await,
    ];
    assert_eq!(remaining.iter().filter(|u| u.is_some()).count(), 1);
    assert!(
        run.logs().contains("--max-deletions 1 reached"),
        "{}",
        run.logs()
    );
    assert!(
        queue_url(&sqs, &format!("{p}-unowned")).await.is_some(),
        "deleted an unowned queue"
    );
    assert!(
        queue_url(&sqs, &format!("{p}-foreign")).await.is_some(),
        "deleted another controller's queue"
    );

    // An emptied tree deletes nothing.
    d.remove("q.yaml");
    run.wait_for("empty generation", 15, |r| {
        r.logs().contains("the desired state is empty")
    });
    run.wait_sweeps("Queue", 2.0, 20);
    assert!(
        queue_url(&sqs, &format!("{p}-keep")).await.is_some(),
        "an empty tree pruned"
    );
    assert!(
        run.logs().contains("an empty tree never prunes"),
        "{}",
        run.logs()
    );
    assert_eq!(
        run.metric("converge_changes_applied_total{action=\"delete\",kind=\"Queue\"}"),
        1.0
    );
}

#[tokio::test]
async fn observe_only_reports_the_plan_and_changes_nothing() {
    let sqs = sqs(AREA).await;
    let p = unique("observe");
    let d = Desired::new();
    d.write(
        "q.yaml",
        &queue_doc(&format!("{p}-q"), "attributes: {DelaySeconds: 5}"),
    );
    let run = Running::start(AREA, &d.path_str(), &["--resync", "1s", "--observe-only"]);
    run.wait_sweeps("Queue", 2.0, 20);
    assert!(
        queue_url(&sqs, &format!("{p}-q")).await.is_none(),
        "observe-only created a queue"
    );
    assert_eq!(calls(&run.metrics(), MUTATING), 0.0);
    assert_eq!(
        run.metric("converge_resources{kind=\"Queue\",state=\"pending\"}"),
        1.0
    );
    let status = run.status();
    let r = &kind_status(&status, "Queue")["resources"][0];
    assert_eq!(r["pending_changes"][0]["action"], "create", "{status}");
    assert_eq!(status["observe_only"], true);
}

#[tokio::test]
async fn a_failing_resource_does_not_block_the_others() {
    let sqs = sqs(AREA).await;
    let p = unique("isolate");
    let id = unique("ctl");
    create_queue(
        &sqs,
        &format!("{p}-taken"),
        &[("converge:managed-by", "another-controller")],
    )
    .await;
    let d = Desired::new();
    d.write(
        "q.yaml",
        &format!(
            "{}{}",
            queue_doc(&format!("{p}-taken"), "attributes: {DelaySeconds: 7}"),
            queue_doc(&format!("{p}-fine"), "")
        ),
    );
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--controller-id",
            &id,
            "--timeout",
            "20s",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("managed by controller `another-controller`"),
        "{}",
        stdout(&out)
    );
    assert!(queue_url(&sqs, &format!("{p}-fine")).await.is_some());
    assert_eq!(
        queue_attr(&sqs, &format!("{p}-taken"), "DelaySeconds")
            .await
            .as_deref(),
        Some("0"),
        "touched a foreign queue"
    );
}

#[tokio::test]
async fn an_existing_unowned_queue_is_adopted() {
    let sqs = sqs(AREA).await;
    let p = unique("adopt");
    let id = unique("ctl");
    create_queue(&sqs, &format!("{p}-legacy"), &[]).await;
    let d = Desired::new();
    d.write(
        "q.yaml",
        &queue_doc(&format!("{p}-legacy"), "attributes: {DelaySeconds: 3}"),
    );
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Queue {p}-legacy: tag")),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        queue_tags(&sqs, &format!("{p}-legacy"))
            .await
            .get("converge:managed-by"),
        Some(&id)
    );
    assert_eq!(
        queue_attr(&sqs, &format!("{p}-legacy"), "DelaySeconds")
            .await
            .as_deref(),
        Some("3")
    );
}

#[tokio::test]
async fn an_atomic_symlink_swap_is_picked_up_with_its_revision() {
    let sqs = sqs(AREA).await;
    let p = unique("swap");
    let id = unique("ctl");
    let base = tempfile::tempdir().unwrap();
    let r1 = base.path().join("releases/r1");
    let r2 = base.path().join("releases/r2");
    write_atomic(&r1.join("q.yaml"), &queue_doc(&format!("{p}-one"), ""));
    write_atomic(
        &r2.join("q.yaml"),
        &format!(
            "{}{}",
            queue_doc(&format!("{p}-one"), ""),
            queue_doc(&format!("{p}-two"), "")
        ),
    );
    std::fs::write(r2.join(".converge-revision"), "abc123def\n").unwrap();
    let current = base.path().join("current");
    std::os::unix::fs::symlink(&r1, &current).unwrap();
    let run = Running::start(
        AREA,
        &current.display().to_string(),
        &[
            "--resync",
            "30s",
            "--controller-id",
            &id,
            "--poll-interval",
            "1h",
        ],
    );
    run.wait_for("one converged", 20, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 1.0
    });

    let tmp = base.path().join("current.tmp");
    std::os::unix::fs::symlink(&r2, &tmp).unwrap();
    std::fs::rename(&tmp, &current).unwrap();
    run.wait_for("two converged", 20, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 2.0
    });
    assert!(queue_url(&sqs, &format!("{p}-two")).await.is_some());
    assert_eq!(
        run.metric("converge_desired_info{revision=\"abc123def\"}"),
        1.0
    );
    assert_eq!(run.status()["desired"]["revision"], "abc123def");

    // And an edit inside the new target is seen too (the watch moved with the swap).
    write_atomic(
        &r2.join("q.yaml"),
        &format!(
            "{}{}",
            queue_doc(&format!("{p}-one"), "tags: {edited: 'yes'}"),
            queue_doc(&format!("{p}-two"), "")
        ),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !queue_tags(&sqs, &format!("{p}-one"))
        .await
        .contains_key("edited")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "edit after the swap not picked up\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn files_changing_beside_the_desired_tree_do_not_reload_it() {
    let base = tempfile::tempdir().unwrap();
    let tree = base.path().join("desired");
    write_atomic(&tree.join("q.yaml"), &queue_doc(&unique("quiet"), ""));
    let run = Running::start(
        AREA,
        &tree.display().to_string(),
        &["--controller-id", &unique("ctl"), "--poll-interval", "1h"],
    );
    run.wait_for("ready", 20, |r| r.get("/readyz").0 == 200);
    let loads = run.metric("converge_desired_loads_total");
    // A busy neighbour (logs, other releases) in the watched parent directory.
    for i in 0..20 {
        std::fs::write(base.path().join("moto.log"), format!("line {i}\n")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        run.metric("converge_desired_loads_total"),
        loads,
        "the tree was reloaded for a neighbour's writes"
    );
    // An edit inside the tree is still seen.
    write_atomic(&tree.join("q2.yaml"), &queue_doc(&unique("quiet"), ""));
    run.wait_for("a reload", 10, |r| {
        r.metric("converge_desired_loads_total") > loads
    });
}

#[tokio::test]
async fn sigterm_exits_zero_promptly() {
    let d = Desired::new();
    d.write("q.yaml", &queue_doc(&unique("term"), ""));
    let mut run = Running::start(AREA, &d.path_str(), &["--controller-id", &unique("ctl")]);
    run.wait_for("ready", 20, |r| r.get("/readyz").0 == 200);
    let started = std::time::Instant::now();
    run.signal("TERM");
    let status = run
        .wait_exit(10)
        .expect("converge did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// At fleet scale a full sweep's listing takes many seconds (it is paced). A desired change
/// that arrives meanwhile is reconciled at once by a targeted sweep, and the full sweep, when
/// its older listing comes in, neither reverts nor repeats that change.
#[tokio::test]
async fn a_change_during_a_long_full_sweep_is_applied_at_once_and_kept() {
    const QUEUES: usize = 16;
    let sqs = sqs(AREA).await;
    let p = unique("preempt");
    let id = unique("ctl");
    let d = Desired::new();
    let manifests = |delay: u32| -> String {
        (0..QUEUES)
            .map(|i| {
                let spec = if i == 7 {
                    format!("attributes:\n  DelaySeconds: {delay}\n")
                } else {
                    String::new()
                };
                queue_doc(&format!("{p}-{i:02}"), &spec)
            })
            .collect()
    };
    d.write("queues.yaml", &manifests(0));
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // At 2 SQS requests per second a full sweep lists for ~16 s (ListQueues, then attributes
    // and tags of each queue, 8 queues at a time). Each listing reads every queue's attributes
    // once: the count of GetQueueAttributes tells how far the listings got.
    let run = Running::start(
        AREA,
        &d.path_str(),
        &[
            "--controller-id",
            &id,
            "--rate-limit",
            "sqs=2",
            "--resync",
            "1s",
        ],
    );
    let reads = |r: &Running| {
        r.metric(r#"converge_aws_api_calls_total{operation="GetQueueAttributes",service="SQS"}"#)
    };
    let converged = r#"converge_resources{kind="Queue",state="converged"}"#;
    run.wait_for("the first full sweep", 90, |r| {
        r.metric(converged) == QUEUES as f64
    });
    run.wait_for("the second full sweep's listing to start", 30, |r| {
        reads(r) > QUEUES as f64
    });

    let changed = std::time::Instant::now();
    d.write("queues.yaml", &manifests(5));
    let target = format!("{p}-07");
    loop {
        if queue_attr(&sqs, &target, "DelaySeconds").await.as_deref() == Some("5") {
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(30),
            "the change was never applied\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Had the change waited for the listing, all of its reads (2 x QUEUES) and the change's
    // own would be done by now; at most 8 of the second listing's are issued ahead of its
    // tokens, and the change goes first.
    let done = reads(&run);
    assert!(
        done < (2 * QUEUES) as f64,
        "the change waited for the full sweep: {done} attribute reads after {:.1} s",
        changed.elapsed().as_secs_f64()
    );

    // The full sweep completes on its older listing: the change stays, made once.
    run.wait_for("the second full sweep", 90, |r| {
        reads(r) >= (2 * QUEUES) as f64 + 1.0
    });
    run.wait_sweeps("Queue", 1.0, 60);
    assert_eq!(
        queue_attr(&sqs, &target, "DelaySeconds").await.as_deref(),
        Some("5")
    );
    assert_eq!(
        run.metric(r#"converge_changes_applied_total{action="update",kind="Queue"}"#),
        1.0,
        "{}",
        run.logs()
    );
}

#[test]
fn tags_come_in_pages_and_a_queue_the_pages_do_not_show_yet_is_read_not_recreated() {
    use crate::common::tagging::{
        a_resource_the_pages_do_not_show_is_read_not_rewritten, TaggedKind,
    };
    let p = unique("paged");
    let (shown, hidden) = (format!("{p}-shown"), format!("{p}-hidden"));
    let d = Desired::new();
    d.write(
        "q.yaml",
        &format!(
            "{}{}",
            queue_doc(&shown, "tags: {team: ops}"),
            queue_doc(&hidden, "tags: {team: ops}")
        ),
    );
    let queue = TaggedKind {
        kind: "Queue",
        service: "sqs",
        read_tags: "ListQueueTags",
        write: "CreateQueue",
        tag: "TagQueue",
    };
    a_resource_the_pages_do_not_show_is_read_not_rewritten(
        &d,
        &moto(AREA).endpoint,
        &hidden,
        &queue,
    );
}
