//! High availability on DynamoDB leases, with real replicas: every replica is a `converge run`
//! behind its own fault proxy in front of one moto, with short timings (lease 4 s, renew
//! deadline 2 s, retry 0.5 s, attempt timeout 1 s). Whose proxy forwards mutating requests
//! tells which replica really wrote to AWS, independently of what the replicas report.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::faults::{Fault, FaultProxy, Rule};
use crate::common::*;

const AREA: Area = area!();

const LEASE: Duration = Duration::from_secs(4);
/// The longest pass of the lease loop: the retry period (0.5 s) + 20 % jitter.
const PASS: Duration = Duration::from_millis(600);
/// What polling and a loaded 2-core machine (every test area runs at once) may add to a
/// measured time.
const SLACK: Duration = Duration::from_millis(1000);

const TIMINGS: [&str; 8] = [
    "--lease-duration",
    "4s",
    "--lease-renew-deadline",
    "2s",
    "--lease-retry",
    "500ms",
    "--attempt-timeout",
    "1s",
];

/// A fresh lease table in moto.
fn lease_table() -> String {
    let name = unique("leases");
    let out = converge(
        AREA,
        &[
            "lease-table",
            "create",
            "--table",
            &name,
            "--endpoint-url",
            &moto(AREA).endpoint,
        ],
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("created lease table"),
        "{}",
        stdout(&out)
    );
    name
}

/// One replica and its own proxy.
struct Replica {
    id: String,
    run: Running,
    proxy: FaultProxy,
    /// Its `--audit-log`.
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn start(
        desired: &Desired,
        table: &str,
        controller: &str,
        id: &str,
        extra: &[&str],
    ) -> Replica {
        let proxy = FaultProxy::start(&moto(AREA).endpoint);
        let dir = tempfile::tempdir().expect("temp dir");
        let audit = dir.path().join("audit.jsonl");
        let audit_arg = audit.to_string_lossy().to_string();
        let mut args = vec![
            "--audit-log",
            &audit_arg,
            "--lease-table",
            table,
            "--controller-id",
            controller,
            "--replica-id",
            id,
            "--backoff-min",
            "200ms",
        ];
        args.extend(TIMINGS);
        args.extend(extra);
        let run = Running::start_with(&desired.path_str(), &proxy.endpoint, &[], &args);
        Replica {
            id: id.to_string(),
            run,
            proxy,
            audit,
            _dir: dir,
        }
    }

    /// This replica's view of every shard's lease (`/status`'s `lease.shards`).
    fn leases(&self) -> Vec<serde_json::Value> {
        self.run.status()["lease"]["shards"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The shards it holds.
    fn held(&self) -> BTreeSet<String> {
        self.leases()
            .iter()
            .filter(|l| l["held_here"] == true)
            .filter_map(|l| l["shard"].as_str().map(String::from))
            .collect()
    }

    /// The token of `shard` as this replica sees it.
    fn token(&self, shard: &str) -> u64 {
        self.leases()
            .iter()
            .find(|l| l["shard"] == shard)
            .and_then(|l| l["token"].as_u64())
            .unwrap_or(0)
    }

    fn metric(&self, series: &str) -> f64 {
        self.run.metric(series)
    }
}

const SHARD: &str = "default/us-east-1";

/// Polls until `cond`, returning how long it took; panics after `limit`.
fn within(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two replicas on one queue tree; returns them once one holds the shard and converged.
fn pair(desired: &Desired, extra: &[&str]) -> (Replica, Replica) {
    let table = lease_table();
    let ctl = unique("ctl");
    let a = Replica::start(desired, &table, &ctl, "replica-a", extra);
    let b = Replica::start(desired, &table, &ctl, "replica-b", extra);
    within("a holder", Duration::from_secs(10), || {
        a.held().len() + b.held().len() == 1
    });
    (a, b)
}

/// Holder first.
fn by_holder(a: Replica, b: Replica) -> (Replica, Replica) {
    if a.held().contains(SHARD) {
        (a, b)
    } else {
        (b, a)
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn visibility(name: &str) -> Option<String> {
    rt().block_on(async {
        let sqs = sqs(AREA).await;
        queue_attr(&sqs, name, "VisibilityTimeout").await
    })
}

fn queue_exists(name: &str) -> bool {
    rt().block_on(async {
        let sqs = sqs(AREA).await;
        queue_url(&sqs, name).await.is_some()
    })
}

#[test]
fn exactly_one_of_two_replicas_holds_the_shard_and_only_its_proxy_writes() {
    let d = Desired::new();
    let q = unique("ha-one");
    d.write("q.yaml", &queue_doc(&q, ""));
    let (a, b) = pair(&d, &[]);
    let (holder, standby) = by_holder(a, b);
    within("the queue", Duration::from_secs(15), || queue_exists(&q));
    // A desired change, so the holder writes while we watch.
    let q2 = unique("ha-one-more");
    d.write("q2.yaml", &queue_doc(&q2, ""));
    for _ in 0..40 {
        let held = (holder.held().len(), standby.held().len());
        assert_eq!(held, (1, 0), "exactly one holder at every poll");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(queue_exists(&q2));
    assert!(
        holder.proxy.forwarded_mutations() >= 2,
        "the holder created both queues"
    );
    assert_eq!(
        standby.proxy.forwarded_mutations(),
        0,
        "the standby never wrote"
    );
    assert_eq!(standby.metric("converge_lease_held"), 0.0);
    assert_eq!(holder.metric("converge_lease_held"), 1.0);
    // The standby serves: ready, its lease section naming the holder.
    assert_eq!(
        standby.run.get("/readyz").0,
        200,
        "{}",
        standby.run.get("/readyz").1
    );
    let seen = standby.leases();
    assert_eq!(seen[0]["state"], "standby");
    assert!(
        seen[0]["holder"]
            .as_str()
            .unwrap_or("")
            .starts_with(&holder.id),
        "{seen:?}"
    );
    assert_eq!(standby.run.status()["shards"][0]["state"], "standby");
}

#[test]
fn a_killed_holder_is_replaced_within_a_lease_and_a_retry() {
    let d = Desired::new();
    let q = unique("ha-kill");
    d.write(
        "q.yaml",
        &queue_doc(&q, "attributes: {VisibilityTimeout: 30}"),
    );
    let (a, b) = pair(&d, &[]);
    let (holder, standby) = by_holder(a, b);
    within("the queue", Duration::from_secs(15), || {
        visibility(&q).as_deref() == Some("30")
    });
    within(
        "the standby sees the holder",
        Duration::from_secs(5),
        || standby.token(SHARD) >= 1,
    );
    let token = standby.token(SHARD);
    let holder_name = holder.leases()[0]["holder"]
        .as_str()
        .unwrap_or("")
        .to_string();
    holder.run.signal("KILL");
    let took = within(
        "the standby takes over",
        LEASE + PASS * 2 + SLACK * 2,
        || standby.held().contains(SHARD),
    );
    eprintln!("failover after SIGKILL: {took:?}");
    assert!(took <= LEASE + PASS + SLACK, "took {took:?}");
    assert_eq!(
        standby.token(SHARD),
        token + 1,
        "one acquisition, token + 1"
    );
    // The new holder applies a change made after the takeover.
    d.write(
        "q.yaml",
        &queue_doc(&q, "attributes: {VisibilityTimeout: 45}"),
    );
    within("the change", Duration::from_secs(10), || {
        visibility(&q).as_deref() == Some("45")
    });
    assert!(standby.proxy.forwarded("sqs", "SetQueueAttributes") >= 1);
    // Its audit record names its tenure: holder and fencing token.
    let audit = std::fs::read_to_string(&standby.audit).expect("audit log");
    let line = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["name"] == q.as_str() && r["action"] == "update")
        .unwrap_or_else(|| panic!("no update of {q} in\n{audit}"));
    assert_eq!(line["lease_token"], token + 1, "{line}");
    let by = line["lease_holder"].as_str().unwrap_or("");
    assert!(by.starts_with(&standby.id) && by != holder_name, "{line}");
}

#[test]
fn a_paused_holder_sends_nothing_after_the_takeover() {
    // Each replica its own copy of the tree: the paused one keeps the old desired state, so
    // after it wakes it would revert the new holder's change if anything let it write.
    let (da, db) = (Desired::new(), Desired::new());
    let q = unique("ha-stop");
    for d in [&da, &db] {
        d.write(
            "q.yaml",
            &queue_doc(&q, "attributes: {VisibilityTimeout: 30}"),
        );
    }
    let table = lease_table();
    let ctl = unique("ctl");
    // A quick resync: the woken replica tries to correct "drift" at once.
    let extra = ["--resync", "1s"];
    let a = Replica::start(&da, &table, &ctl, "replica-a", &extra);
    within("a holds", Duration::from_secs(10), || {
        a.held().contains(SHARD)
    });
    let b = Replica::start(&db, &table, &ctl, "replica-b", &extra);
    within("the queue", Duration::from_secs(15), || {
        visibility(&q).as_deref() == Some("30")
    });
    within("b stands by", Duration::from_secs(5), || {
        b.leases().len() == 1
    });
    a.run.signal("STOP");
    let paused = Instant::now();
    within("b takes over", LEASE + PASS * 2 + SLACK * 2, || {
        b.held().contains(SHARD)
    });
    eprintln!("failover after SIGSTOP: {:?}", paused.elapsed());
    let a_writes = a.proxy.forwarded_mutations();
    db.write(
        "q.yaml",
        &queue_doc(&q, "attributes: {VisibilityTimeout: 45}"),
    );
    within("b's change", Duration::from_secs(10), || {
        visibility(&q).as_deref() == Some("45")
    });
    // Paused for two leases in all, then woken.
    if let Some(rest) = (LEASE * 2).checked_sub(paused.elapsed()) {
        std::thread::sleep(rest);
    }
    a.run.signal("CONT");
    within("a stands by again", Duration::from_secs(5), || {
        a.leases().first().is_some_and(|l| l["state"] == "standby")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        a.proxy.forwarded_mutations(),
        a_writes,
        "the woken replica sent mutating requests after the takeover"
    );
    assert_eq!(
        visibility(&q).as_deref(),
        Some("45"),
        "the new holder's result stays"
    );
    assert!(b.held().contains(SHARD) && a.held().is_empty());
    assert!(
        a.metric("converge_lease_transitions_total") >= 2.0,
        "acquired, then lost"
    );
}

#[test]
fn a_holder_cut_off_from_dynamodb_stops_writing_at_its_deadline_and_keeps_its_lease_until_it_runs_out(
) {
    let d = Desired::new();
    let q = unique("ha-part");
    d.write("q.yaml", &queue_doc(&q, ""));
    let (a, b) = pair(&d, &[]);
    let (holder, standby) = by_holder(a, b);
    within("the queue", Duration::from_secs(15), || queue_exists(&q));
    // The send time of the holder's last renewal that landed, from its renew age: no other
    // replica may take over before that + a lease, however loaded the machine is.
    let asked = Instant::now();
    let age = holder.leases()[0]["renew_age_seconds"]
        .as_f64()
        .expect("the holder's renew age");
    let renewed = asked - Duration::from_secs_f64(age);
    holder
        .proxy
        .set_rules(vec![Rule::new(Fault::Reset, 1.0).service("dynamodb")]);
    let cut = Instant::now();
    // Past the renew deadline: a change now must be fenced, not sent.
    std::thread::sleep(Duration::from_millis(2300));
    let before = holder.proxy.forwarded("sqs", "CreateQueue");
    let q2 = unique("ha-part-new");
    d.write("q2.yaml", &queue_doc(&q2, ""));
    within("a fenced call", Duration::from_secs(3), || {
        holder.metric("converge_lease_fenced_calls_total") >= 1.0
    });
    // The standby waits for the holder's lease to run out, counted from the holder's last
    // renewal that landed. The takeover came after the last poll that did not see it began.
    let mut last_miss = Instant::now();
    within("the standby takes over", LEASE * 3, || {
        let started = Instant::now();
        let held = standby.held().contains(SHARD);
        if !held {
            last_miss = started;
        }
        held
    });
    eprintln!(
        "takeover after a DynamoDB partition: {:?} after the cut",
        cut.elapsed()
    );
    // The renew age in /status is as of the holder's last pass (published at its end), so
    // `renewed` may be up to one pass late; plus 150 ms: one poll interval, and the rounding.
    // (Taking over after half a lease, 2 s early, still fails this.)
    let earliest = last_miss.duration_since(renewed);
    assert!(
        earliest + PASS + Duration::from_millis(150) >= LEASE,
        "acquired by {earliest:?} after the holder's last renewal, before its lease ran out"
    );
    within(
        "the new holder creates the queue",
        Duration::from_secs(10),
        || queue_exists(&q2),
    );
    assert_eq!(
        holder.proxy.forwarded("sqs", "CreateQueue"),
        before,
        "the cut-off holder sent CreateQueue after its deadline"
    );
    assert!(standby.proxy.forwarded("sqs", "CreateQueue") >= 1);
}

#[test]
fn a_renewal_whose_response_is_lost_is_recognised_not_a_transition() {
    let d = Desired::new();
    d.write("q.yaml", &queue_doc(&unique("ha-lost"), ""));
    let (a, b) = pair(&d, &[]);
    let (holder, standby) = by_holder(a, b);
    let token = holder.token(SHARD);
    let transitions = holder.metric("converge_lease_transitions_total");
    holder
        .proxy
        .set_rules(vec![Rule::new(Fault::LoseResponse, 1.0)
            .service("dynamodb")
            .operation("UpdateItem")
            .times(1)]);
    within("the lost response", Duration::from_secs(5), || {
        holder.proxy.injected("lose_response") == 1
    });
    within("the recovered renewal", Duration::from_secs(5), || {
        holder.metric("converge_lease_renewals_total{result=\"recovered\"}") >= 1.0
    });
    std::thread::sleep(LEASE);
    assert_eq!(
        holder.metric("converge_lease_transitions_total"),
        transitions
    );
    assert_eq!(holder.token(SHARD), token);
    assert!(holder.held().contains(SHARD) && standby.held().is_empty());
    assert_eq!(
        holder.metric("converge_lease_renewals_total{result=\"lost\"}"),
        0.0
    );
}

#[test]
fn sigterm_hands_the_shard_over_within_two_retry_periods() {
    let d = Desired::new();
    let q = unique("ha-term");
    d.write("q.yaml", &queue_doc(&q, ""));
    let (a, b) = pair(&d, &[]);
    let (mut holder, standby) = by_holder(a, b);
    within("the queue", Duration::from_secs(15), || queue_exists(&q));
    within(
        "the standby sees the holder",
        Duration::from_secs(5),
        || standby.token(SHARD) >= 1,
    );
    let token = standby.token(SHARD);
    holder.run.signal("TERM");
    let took = within("the standby takes over", Duration::from_secs(5), || {
        standby.held().contains(SHARD)
    });
    eprintln!("failover after SIGTERM: {took:?}");
    assert!(took <= PASS * 2 + SLACK, "took {took:?}");
    assert!(holder.run.wait_exit(5).is_some_and(|s| s.success()));
    assert!(
        holder.run.logs().contains("lease released"),
        "{}",
        holder.run.logs()
    );
    assert_eq!(standby.token(SHARD), token + 1);
}

#[test]
fn three_replicas_share_six_shards_two_each_and_a_dead_ones_move() {
    let d = Desired::new();
    d.write(
        "accounts.yaml",
        "accounts:\n  shared: {id: \"123456789012\"}\n  staging: {id: \"111111111111\", role_arn: \"arn:aws:iam::111111111111:role/converge\"}\ndefault: shared\n",
    );
    let p = unique("ha-six");
    let mut all = String::new();
    for account in ["shared", "staging"] {
        for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
            all.push_str(&format!(
                "---\napiVersion: converge/v1\nkind: Queue\nmetadata: {{name: {p}-{account}-{region}, account: {account}, region: {region}}}\nspec: {{}}\n"
            ));
        }
    }
    d.write("queues.yaml", &all);
    let table = lease_table();
    let ctl = unique("ctl");
    let replicas: Vec<Replica> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| Replica::start(&d, &table, &ctl, id, &[]))
        .collect();
    let shards =
        |rs: &[&Replica]| -> Vec<BTreeSet<String>> { rs.iter().map(|r| r.held()).collect() };
    let all_refs: Vec<&Replica> = replicas.iter().collect();
    within("two shards per replica", Duration::from_secs(30), || {
        let held = shards(&all_refs);
        held.iter().all(|h| h.len() == 2)
            && held.iter().flatten().collect::<BTreeSet<_>>().len() == 6
    });
    let mut it = replicas.into_iter();
    let (dead, r2, r3) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let orphaned = dead.held();
    dead.run.signal("KILL");
    let live = [&r2, &r3];
    let took = within("the dead replica's shards move", LEASE * 3, || {
        let held = shards(&live);
        held.iter().map(|h| h.len()).sum::<usize>() == 6
            && held[0].intersection(&held[1]).count() == 0
    });
    eprintln!("shards of a killed replica moved in {took:?}");
    assert!(took <= LEASE + PASS * 2 + SLACK, "took {took:?}");
    for _ in 0..10 {
        let held = shards(&live);
        assert_eq!(held[0].intersection(&held[1]).count(), 0, "single-held");
        assert_eq!(held[0].len() + held[1].len(), 6);
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = shards(&live);
    assert_eq!((held[0].len(), held[1].len()), (3, 3), "{held:?}");
    assert!(orphaned
        .iter()
        .all(|s| held[0].contains(s) || held[1].contains(s)));
}

#[test]
fn lease_settings_that_could_let_two_replicas_write_are_refused_at_start() {
    let d = Desired::new();
    d.write("q.yaml", &queue_doc(&unique("ha-bad"), ""));
    let out = converge(
        AREA,
        &[
            "run",
            "--desired",
            &d.path_str(),
            "--lease-table",
            "whatever",
            "--lease-duration",
            "15s",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    assert_exit(&out, 64);
    assert!(
        stderr(&out).contains("Raise --lease-duration to at least 30s"),
        "{}",
        stderr(&out)
    );
    let missing = unique("no-such-table");
    let out = converge(
        AREA,
        &[
            "run",
            "--desired",
            &d.path_str(),
            "--lease-table",
            &missing,
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("converge lease-table create --table {missing}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_reference_across_shards_held_by_different_replicas_resolves_through_shared_facts() {
    // An Auto Scaling group (default/us-east-1) launches with the instance profile of a role
    // of the account's global shard: with two replicas and two shards each holds one, so the
    // group's replica learns the profile from the facts the role's replica shares.
    let d = Desired::new();
    let p = unique("ha-xref");
    d.write(
        "role.yaml",
        &format!("---\napiVersion: converge/v1\nkind: IamRole\nmetadata:\n  name: {p}-role\nspec: {{}}\n"),
    );
    d.write(
        "asg.yaml",
        &format!(
            "---\napiVersion: converge/v1\nkind: AutoScalingGroup\nmetadata:\n  name: {p}-asg\nspec:\n  launch_config:\n    - image_id: ami-fakeami\n    - instance_type: t3.micro\n  availability_zones: [us-east-1a]\n  min_size: 0\n  max_size: 0\n  instance_profile_name: {p}-role\n"
        ),
    );
    let table = lease_table();
    let ctl = unique("ctl");
    let a = Replica::start(&d, &table, &ctl, "replica-a", &[]);
    let b = Replica::start(&d, &table, &ctl, "replica-b", &[]);
    within("one shard each", Duration::from_secs(20), || {
        a.held().len() == 1 && b.held().len() == 1
    });
    let profile = || {
        rt().block_on(async {
            let asg = aws_sdk_autoscaling::Client::new(&sdk_config(AREA));
            let out = asg.describe_launch_configurations().send().await.ok()?;
            out.launch_configurations()
                .iter()
                .find(|lc| {
                    lc.launch_configuration_name()
                        .is_some_and(|n| n.starts_with(&p))
                })
                .and_then(|lc| lc.iam_instance_profile().map(String::from))
        })
    };
    within(
        "the group's launch configuration",
        Duration::from_secs(30),
        || profile().is_some(),
    );
    assert_eq!(profile().as_deref(), Some(format!("{p}-role").as_str()));
    // Written by the replica that holds default/us-east-1, which never listed IAM.
    let (regional, global) = if a.held().contains(SHARD) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(
        regional
            .proxy
            .forwarded("autoscaling", "CreateLaunchConfiguration")
            >= 1
    );
    assert_eq!(
        regional.proxy.seen("iam"),
        0,
        "the regional replica read IAM itself"
    );
    assert!(global.proxy.forwarded("iam", "CreateRole") >= 1);
}

#[test]
fn a_replica_whose_tree_is_invalid_is_given_no_shard_and_the_holder_keeps_it() {
    // One host got a broken tree: it serves and waits, competes for nothing, and is never
    // handed a shard (which would then sit unheld until someone took it back, again and
    // again). Two shards: were the broken replica counted, one would be assigned to it.
    let (good, broken) = (Desired::new(), Desired::new());
    let q = unique("ha-invalid");
    let mut docs = String::new();
    for region in ["us-east-1", "eu-west-1"] {
        docs.push_str(&format!(
            "---\napiVersion: converge/v1\nkind: Queue\nmetadata: {{name: {q}-{region}, region: {region}}}\nspec: {{}}\n"
        ));
    }
    good.write("q.yaml", &docs);
    broken.write(
        "q.yaml",
        "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: [\n",
    );
    let table = lease_table();
    let ctl = unique("ctl");
    let a = Replica::start(&broken, &table, &ctl, "replica-a", &[]);
    let b = Replica::start(&good, &table, &ctl, "replica-b", &[]);
    within("b holds both", Duration::from_secs(15), || {
        b.held().len() == 2
    });
    // Over three leases: no hand-over to the broken replica, no gap.
    let until = Instant::now() + LEASE * 3;
    while Instant::now() < until {
        assert_eq!(b.held().len(), 2, "the holder gave a shard up");
        assert!(a.held().is_empty());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        b.metric("converge_lease_transitions_total"),
        2.0,
        "one acquisition per shard"
    );
    assert_eq!(a.metric("converge_desired_valid"), 0.0);
    assert_eq!(a.proxy.forwarded_mutations(), 0);
}

#[test]
fn lease_table_create_without_a_region_or_a_reachable_endpoint_says_why() {
    let mut cmd = std::process::Command::new(converge_bin());
    aws_env(&mut cmd)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args(["lease-table", "create", "--table", "t", "--endpoint-url"])
        .arg(&moto(AREA).endpoint);
    let out = cmd.output().expect("run converge");
    assert_exit(&out, 64);
    assert!(stderr(&out).contains("no AWS region"), "{}", stderr(&out));
    // Nothing listening: exit 1, naming the table and the failed call.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = converge(
        AREA,
        &[
            "lease-table",
            "create",
            "--table",
            "t",
            "--endpoint-url",
            &closed,
        ],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("cannot create lease table t")
            && stderr(&out).contains("CreateTable"),
        "{}",
        stderr(&out)
    );
}
