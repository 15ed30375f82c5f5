//! Reliability under AWS faults: throttling, 5xx, a service down, hung connections, access
//! denied and expired credentials, lost responses; and secrets never leak. Every scenario puts
//! the fault proxy (tests/it/common/faults.rs) between the real `converge` binary and moto.
//!
//! The stack-wide scenarios take a function that writes a desired tree for a name prefix
//! ([`MakeTree`]), so they run on whatever stack is given: today [`local_stack`] (the kinds
//! that have landed: queues with a dead-letter queue and a FIFO queue, and alarms); point them at
//! the reference stack with a `MakeTree` that copies `desired/examples/myapp` with its names
//! prefixed, once that stack exists.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::faults::{identify_parts, Fault, FaultProxy, Rule};
use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// Writes a desired tree whose every resource name starts with the prefix.
type MakeTree = fn(&str) -> Desired;

fn alarm_doc(name: &str, threshold: u32) -> String {
    format!(
        "---\napiVersion: converge/v1\nkind: MetricAlarm\nmetadata:\n  name: {name}\nspec:\n  metric: CPUUtilization\n  namespace: AWS/EC2\n  statistic: Average\n  comparison: '>='\n  threshold: {threshold}\n  period: 300\n  evaluation_periods: 1\n  dimensions:\n    AutoScalingGroupName:\n      - {name}-asg\n  alarm_actions:\n    - 'arn:aws:sns:us-east-1:123456789012:hipchat-notify'\n  tags:\n    team: ops\n"
    )
}

/// The stack of the kinds that exist today: 6 queues (one a dead-letter queue named by the
/// others' redrive policies, one FIFO) and 4 alarms, in two files.
fn local_stack(prefix: &str) -> Desired {
    let d = Desired::new();
    let mut queues = queue_doc(
        &format!("{prefix}-dlq"),
        "attributes:\n  MessageRetentionPeriod: 1209600\n",
    );
    for i in 1..=4 {
        queues.push_str(&queue_doc(
            &format!("{prefix}-work-{i}"),
            &format!(
                "attributes:\n  VisibilityTimeout: {}\n  RedrivePolicy:\n    deadLetterTargetArn: arn:aws:sqs:us-east-1:123456789012:{prefix}-dlq\n    maxReceiveCount: 5\ntags:\n  team: ops\n",
                30 + i
            ),
        ));
    }
    queues.push_str(&queue_doc(
        &format!("{prefix}-events.fifo"),
        "attributes:\n  ContentBasedDeduplication: true\n",
    ));
    d.write("queues.yaml", &queues);
    let alarms: String = (1..=4)
        .map(|i| alarm_doc(&format!("{prefix}-alarm-{i}"), 50 + i))
        .collect();
    d.write("alarms.yaml", &alarms);
    d
}

/// The reference stack (desired/examples: the seed's `myapp` service with the shared base
/// group and values), its `testing` instance, renamed so every resource name starts with
/// `prefix` (the service is renamed to `prefix`: letters and digits only). Its DNS records need
/// the hosted zone `example.com.` ([`ensure_zone`]).
fn myapp_stack(prefix: &str) -> Desired {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("desired/examples");
    let d = Desired::new();
    copy_dir(&examples.join("values"), &d.path().join("values"));
    copy_dir(&examples.join("myapp"), &d.path().join(prefix));
    let base = std::fs::read_to_string(examples.join("base/security_group.yaml")).unwrap();
    d.write(
        "base/security_group.yaml",
        &base.replace("  name: base\n", &format!("  name: {prefix}-base\n")),
    );
    let values = std::fs::read_to_string(d.path().join("values/base.yaml")).unwrap();
    d.write(
        "values/base.yaml",
        &values.replace(
            "base_security_group: base\n",
            &format!("base_security_group: {prefix}-base\n"),
        ),
    );
    let service = d.path().join(prefix).join("service.yaml");
    let text = std::fs::read_to_string(&service).unwrap();
    let only_testing: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("production:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&service, only_testing).unwrap();
    let _ = std::fs::remove_file(d.path().join(prefix).join("values/production.yaml"));
    d
}

/// The hosted zone the reference stack's DNS records live in.
async fn ensure_zone() {
    let r53 = aws_sdk_route53::Client::new(&sdk_config(AREA));
    let zones = r53.list_hosted_zones().send().await.expect("list zones");
    if !zones
        .hosted_zones()
        .iter()
        .any(|z| z.name() == "example.com.")
    {
        create_zone(&r53, "example.com.").await;
    }
}

/// A short name prefix of letters and digits (a valid service name for [`myapp_stack`], short
/// enough for a load balancer's 32 characters with `-testing-useast1`).
fn stack_prefix(what: &str) -> String {
    let tag: String = what
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(2)
        .collect();
    format!("{}{tag}", unique("").replace('-', ""))
}

/// Desired resources by kind → names, as converge loads them.
fn desired_names(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let opts = converge::desired::LoadOptions {
        default_region: Some("us-east-1".into()),
    };
    let tree = converge::kinds::load(dir, &opts).expect("the test tree is valid");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for set in tree.shards.values() {
        for (k, m) in &set.resources {
            out.entry(k.clone()).or_default().extend(m.keys().cloned());
        }
    }
    out
}

/// Every resource in moto whose name starts with `prefix`, by kind → name → how many exist
/// with that name (more than one is a duplicate). Covers every service converge manages.
async fn inventory(prefix: &str) -> BTreeMap<String, BTreeMap<String, usize>> {
    let conf = sdk_config(AREA);
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut add = |kind: &str, name: String| {
        if name.starts_with(prefix) {
            *out.entry(kind.to_string())
                .or_default()
                .entry(name)
                .or_default() += 1;
        }
    };
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queues = sqs
        .list_queues()
        .queue_name_prefix(prefix)
        .max_results(1000)
        .send()
        .await
        .expect("list queues");
    for url in queues.queue_urls() {
        add("Queue", url.rsplit('/').next().unwrap_or("").to_string());
    }
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await
        .expect("describe alarms");
    for a in alarms.metric_alarms() {
        add("MetricAlarm", a.alarm_name().unwrap_or("").to_string());
    }
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    if let Ok(sgs) = ec2.describe_security_groups().send().await {
        for g in sgs.security_groups() {
            add("SecurityGroup", g.group_name().unwrap_or("").to_string());
        }
    }
    if let Ok(lts) = ec2.describe_launch_templates().send().await {
        for t in lts.launch_templates() {
            add(
                "LaunchTemplate",
                t.launch_template_name().unwrap_or("").to_string(),
            );
        }
    }
    let iam = aws_sdk_iam::Client::new(&conf);
    if let Ok(roles) = iam.list_roles().send().await {
        for r in roles.roles() {
            add("IamRole", r.role_name().to_string());
        }
    }
    if let Ok(profiles) = iam.list_instance_profiles().send().await {
        for p in profiles.instance_profiles() {
            add("InstanceProfile", p.instance_profile_name().to_string());
        }
    }
    let elb = aws_sdk_elasticloadbalancing::Client::new(&conf);
    if let Ok(lbs) = elb.describe_load_balancers().send().await {
        for lb in lbs.load_balancer_descriptions() {
            add(
                "LoadBalancer",
                lb.load_balancer_name().unwrap_or("").to_string(),
            );
        }
    }
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    if let Ok(groups) = asg.describe_auto_scaling_groups().send().await {
        for g in groups.auto_scaling_groups() {
            add(
                "AutoScalingGroup",
                g.auto_scaling_group_name().unwrap_or("").to_string(),
            );
        }
    }
    if let Ok(lcs) = asg.describe_launch_configurations().send().await {
        for lc in lcs.launch_configurations() {
            add(
                "LaunchConfiguration",
                lc.launch_configuration_name().unwrap_or("").to_string(),
            );
        }
    }
    out
}

/// Asserts every desired resource exists exactly once in moto and nothing with the prefix
/// exists twice. Returns how many resources were counted.
async fn assert_no_duplicates(prefix: &str, desired: &BTreeMap<String, Vec<String>>) -> usize {
    let inv = inventory(prefix).await;
    let dups: Vec<String> = inv
        .iter()
        .flat_map(|(k, m)| {
            m.iter()
                .filter(|(_, n)| **n > 1)
                .map(move |(name, n)| format!("{k} {name} ×{n}"))
        })
        .collect();
    assert!(dups.is_empty(), "duplicates in moto: {dups:?}");
    let mut counted = 0;
    for (kind, names) in desired {
        let Some(found) = inv.get(kind) else {
            // A kind this inventory cannot list (derived kinds such as DNS records).
            continue;
        };
        for name in names {
            assert_eq!(
                found.get(name),
                Some(&1),
                "{kind} {name} should exist exactly once; found {found:?}"
            );
            counted += 1;
        }
    }
    counted
}

/// Sum of a metric over every series whose labels contain `labels`.
fn metric_sum(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn converged(run: &Running) -> f64 {
    metric_sum(&run.metrics(), "converge_resources", "state=\"converged\"")
}

/// Runs `converge run` on the tree behind `proxy` until every desired resource is converged;
/// returns the time it took.
fn run_until_converged(run: &Running, total: usize, secs: u64) -> Duration {
    let started = Instant::now();
    run.wait_for(&format!("{total} converged resources"), secs, |r| {
        converged(r) == total as f64
    });
    started.elapsed()
}

const FAST: &[&str] = &[
    "--resync",
    "60s",
    "--backoff-min",
    "200ms",
    "--backoff-max",
    "2s",
];

/// 30% of calls throttled and 5% answered 5xx: the stack converges, nothing is duplicated,
/// throttles show in the metrics, and total calls stay within a small multiple of a
/// fault-free run's.
async fn throttling_scenario(make: MakeTree) {
    // Fault-free baseline.
    let clean_proxy = FaultProxy::start(&moto(AREA).endpoint);
    let clean_prefix = stack_prefix("clean");
    let clean = make(&clean_prefix);
    let names = desired_names(clean.path());
    let total: usize = names.values().map(Vec::len).sum();
    let id = unique("ctl");
    let run = Running::start_with(
        &clean.path_str(),
        &clean_proxy.endpoint,
        &[],
        &[&["--controller-id", &id][..], FAST].concat(),
    );
    let clean_time = run_until_converged(&run, total, 60);
    let clean_calls = clean_proxy.total();
    drop(run);

    // The same stack, under fault.
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    proxy.set_rules(vec![
        Rule::new(Fault::Throttle, 0.30),
        Rule::new(Fault::ServerError(500), 0.025),
        Rule::new(Fault::ServerError(503), 0.025),
    ]);
    let prefix = stack_prefix("throttled");
    let tree = make(&prefix);
    let faulty_names = desired_names(tree.path());
    let id = unique("ctl");
    let run = Running::start_with(
        &tree.path_str(),
        &proxy.endpoint,
        &[],
        &[&["--controller-id", &id][..], FAST].concat(),
    );
    let faulty_time = run_until_converged(&run, total, 90);
    let faulty_calls = proxy.total();
    let metrics = run.metrics();
    let sdk_calls = metric_sum(&metrics, "converge_aws_api_calls_total", "");
    let throttled_errors = metric_sum(
        &metrics,
        "converge_reconcile_errors_total",
        "class=\"throttled\"",
    );
    let retryable_errors = metric_sum(
        &metrics,
        "converge_reconcile_errors_total",
        "class=\"retryable\"",
    );
    let throttles = proxy.injected("throttle");
    let server_errors = proxy.injected("5xx");
    eprintln!(
        "throttling scenario: {total} resources; fault-free {clean_calls} calls in {clean_time:?}; \
         under fault {faulty_calls} calls in {faulty_time:?} ({throttles} throttled, \
         {server_errors} 5xx injected; converge counted {sdk_calls} attempts, \
         {throttled_errors} throttled and {retryable_errors} retryable reconcile errors)"
    );
    assert!(throttles > 0 && server_errors > 0, "{}", proxy.summary());
    // Every attempt, faulted or not, is visible in converge's own call counter.
    assert!(
        sdk_calls >= faulty_calls as f64,
        "converge counted {sdk_calls} calls, the proxy saw {faulty_calls}"
    );
    assert!(
        sdk_calls > clean_calls as f64,
        "throttled retries do not show in converge_aws_api_calls_total"
    );
    // Backoff, no hot loop.
    assert!(
        faulty_calls <= 3 * clean_calls + 20,
        "{faulty_calls} calls under fault vs {clean_calls} fault-free: retry storm?\n{}",
        run.logs()
    );
    drop(run);
    let counted = assert_no_duplicates(&prefix, &faulty_names).await;
    assert!(counted >= total.min(1), "nothing counted in moto");
    assert_no_duplicates(&clean_prefix, &names).await;
}

#[tokio::test]
async fn throttling_and_5xx_converge_without_duplicates_or_a_retry_storm() {
    throttling_scenario(local_stack).await;
}

#[tokio::test]
async fn the_reference_stack_converges_under_throttling_and_5xx_without_duplicates() {
    ensure_zone().await;
    throttling_scenario(myapp_stack).await;
}

/// Every CloudWatch call answered 503: every other kind converges, /readyz names the failing
/// kind; when the fault clears the kind converges within one backoff cap, without a restart.
#[tokio::test]
async fn a_service_down_fails_only_its_kind_and_recovers_within_one_backoff_cap() {
    ensure_zone().await;
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    proxy.set_rules(vec![
        Rule::new(Fault::ServerError(503), 1.0).service("cloudwatch")
    ]);
    let prefix = stack_prefix("down");
    let tree = myapp_stack(&prefix);
    let names = desired_names(tree.path());
    let alarms = names["MetricAlarm"].len() as f64;
    let others = names
        .iter()
        .filter(|(k, _)| k.as_str() != "MetricAlarm")
        .map(|(_, v)| v.len())
        .sum::<usize>() as f64;
    let id = unique("ctl");
    let run = Running::start_with(
        &tree.path_str(),
        &proxy.endpoint,
        &[],
        &[
            "--controller-id",
            &id,
            "--resync",
            "60s",
            "--backoff-min",
            "500ms",
            "--backoff-max",
            "5s",
            "--max-attempts",
            "2",
        ],
    );
    run.wait_for(
        "every other kind converged while CloudWatch is down",
        30,
        |r| converged(r) == others,
    );
    run.wait_for("MetricAlarm reported not ready", 20, |r| {
        let (code, body) = r.get("/readyz");
        code == 503 && body.contains("\"kind\":\"MetricAlarm\"")
    });
    let (_, body) = run.get("/readyz");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let not_ready = ready["not_ready"].as_array().unwrap();
    assert_eq!(not_ready.len(), 1, "only one shard is not ready: {body}");
    assert_eq!(not_ready[0]["shard"], "default/us-east-1", "{body}");
    let kinds = not_ready[0]["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 1, "only MetricAlarm is failing: {body}");
    let err = kinds[0]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("DescribeAlarms") && err.contains("ServiceUnavailable"),
        "the reason names the call and AWS's error: {body}"
    );
    assert!(proxy.injected_into("cloudwatch", "5xx") > 0);
    assert_eq!(
        proxy.injected_into("sqs", "5xx"),
        0,
        "only CloudWatch was faulted"
    );
    // The failing kind keeps trying, but backs off: no hot loop while it is down.
    let before = proxy.seen("cloudwatch");
    std::thread::sleep(Duration::from_secs(6));
    let during = proxy.seen("cloudwatch") - before;
    assert!(
        during <= 8,
        "{during} CloudWatch calls in 6 s while down, with a 5 s backoff cap"
    );

    // The fault clears.
    proxy.clear();
    let cleared = Instant::now();
    run.wait_for("alarms converged after the fault cleared", 20, |r| {
        r.metric("converge_resources{kind=\"MetricAlarm\",state=\"converged\"}") == alarms
    });
    let recovery = cleared.elapsed();
    eprintln!("service down: MetricAlarm converged {recovery:?} after CloudWatch came back");
    // One backoff cap (5 s), plus the sweep itself.
    assert!(
        recovery <= Duration::from_secs(8),
        "took {recovery:?} after the fault cleared (backoff cap 5 s)"
    );
    run.wait_for("ready", 10, |r| r.get("/readyz").0 == 200);
    assert_no_duplicates(&prefix, &names).await;
}

/// A hung connection: every call is bounded by the operation timeouts, the kind keeps
/// sweeping (and reports the timeout), other kinds are unaffected, and it converges once the
/// connection answers again.
#[tokio::test]
async fn a_hung_connection_is_bounded_by_timeouts_and_never_stalls_the_kind() {
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    proxy.set_rules(vec![Rule::new(Fault::Hang, 1.0)
        .service("cloudwatch")
        .operation("DescribeAlarms")]);
    let prefix = unique("hung");
    let tree = local_stack(&prefix);
    let names = desired_names(tree.path());
    let alarms = names["MetricAlarm"].len() as f64;
    let id = unique("ctl");
    let run = Running::start_with(
        &tree.path_str(),
        &proxy.endpoint,
        &[],
        &[
            "--controller-id",
            &id,
            "--resync",
            "60s",
            "--backoff-min",
            "500ms",
            "--backoff-max",
            "2s",
            "--attempt-timeout",
            "1s",
            "--call-timeout",
            "3s",
        ],
    );
    run.wait_for("queues converged", 30, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}")
            == names["Queue"].len() as f64
    });
    // Several bounded attempts at the hung listing, not one that waits forever.
    let started = Instant::now();
    run.wait_for("three timed-out MetricAlarm listings", 30, |r| {
        r.sweeps("MetricAlarm") >= 3.0
    });
    let three = started.elapsed();
    assert!(proxy.injected("hang") >= 3, "{}", proxy.summary());
    let status = run.status();
    let err = kind_status(&status, "MetricAlarm")["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.contains("DescribeAlarms") && err.contains("timed out"),
        "{status}"
    );
    eprintln!("hung connection: 3 bounded MetricAlarm sweeps in {three:?}; last error: {err}");

    proxy.clear();
    run.wait_for("alarms converged once the connection answers", 20, |r| {
        r.metric("converge_resources{kind=\"MetricAlarm\",state=\"converged\"}") == alarms
    });
    assert_no_duplicates(&prefix, &names).await;
}

/// Access denied on a create and expired credentials on a listing: classified terminal, a
/// message naming the action and the resource, retried only at the backoff cap.
#[tokio::test]
async fn access_denied_and_expired_credentials_are_terminal_with_no_retry_storm() {
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    let prefix = unique("denied");
    let denied_queue = format!("{prefix}-work-1");
    proxy.set_rules(vec![
        Rule::new(Fault::AccessDenied, 1.0)
            .service("sqs")
            .operation("CreateQueue"),
        Rule::new(Fault::ExpiredToken, 1.0)
            .service("cloudwatch")
            .operation("DescribeAlarms"),
    ]);
    let d = Desired::new();
    d.write(
        "q.yaml",
        &format!(
            "{}{}",
            queue_doc(&denied_queue, ""),
            alarm_doc(&format!("{prefix}-alarm"), 10)
        ),
    );
    let id = unique("ctl");
    let run = Running::start_with(
        &d.path_str(),
        &proxy.endpoint,
        &[],
        &[
            "--controller-id",
            &id,
            "--resync",
            "60s",
            "--backoff-min",
            "100ms",
            "--backoff-max",
            "5s",
        ],
    );
    run.wait_for("the queue failed", 20, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"failed\"}") == 1.0
    });
    let status = run.status();
    let q = &kind_status(&status, "Queue")["resources"][0];
    assert_eq!(q["error_class"], "terminal", "{status}");
    let msg = q["last_error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("CreateQueue") && msg.contains(&denied_queue) && msg.contains("AccessDenied"),
        "the message names the action, the resource and AWS's code: {msg}"
    );
    run.wait_for("MetricAlarm not ready", 20, |r| {
        r.get("/readyz").1.contains("ExpiredToken")
    });
    let (_, body) = run.get("/readyz");
    assert!(body.contains("DescribeAlarms"), "{body}");
    assert!(
        run.metric("converge_reconcile_errors_total{class=\"terminal\",kind=\"Queue\"}") >= 1.0
    );
    assert!(
        run.metric("converge_reconcile_errors_total{class=\"terminal\",kind=\"MetricAlarm\"}")
            >= 1.0
    );
    // No retry storm: within 6 s (backoff cap 5 s, min 100 ms) each is tried at most twice more,
    // and the SDK does not retry a terminal error.
    let (creates, lists) = (
        proxy.seen_op("sqs", "CreateQueue"),
        proxy.seen_op("cloudwatch", "DescribeAlarms"),
    );
    std::thread::sleep(Duration::from_secs(6));
    let creates = proxy.seen_op("sqs", "CreateQueue") - creates;
    let lists = proxy.seen_op("cloudwatch", "DescribeAlarms") - lists;
    eprintln!("terminal errors: {creates} CreateQueue and {lists} DescribeAlarms calls in 6 s");
    assert!(creates <= 2, "{creates} CreateQueue calls in 6 s");
    assert!(lists <= 2, "{lists} DescribeAlarms calls in 6 s");
    assert!(
        queue_url(&sqs(AREA).await, &denied_queue).await.is_none(),
        "a denied create happened"
    );

    // `apply` reports the same, and exits promptly (terminal errors do not keep it waiting).
    let started = Instant::now();
    let out = converge_with(
        &proxy.endpoint,
        &[],
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--controller-id",
            &id,
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "apply took {:?}",
        started.elapsed()
    );
    assert!(
        stdout(&out).contains("CreateQueue") && stdout(&out).contains("AccessDenied"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// Every create of the reference stack has its response lost once (the call reached AWS, the
/// client never heard back), and some response bodies are cut short or connections reset:
/// converge retries without creating anything twice (for a create that is not idempotent by
/// name, it looks before it creates again).
#[tokio::test]
async fn lost_responses_and_truncated_bodies_create_nothing_twice() {
    ensure_zone().await;
    const CREATES: &[(&str, &str)] = &[
        ("sqs", "CreateQueue"),
        ("cloudwatch", "PutMetricAlarm"),
        ("ec2", "CreateSecurityGroup"),
        ("ec2", "AuthorizeSecurityGroupIngress"),
        ("iam", "CreateRole"),
        ("iam", "CreateInstanceProfile"),
        ("iam", "PutRolePolicy"),
        ("elb", "CreateLoadBalancer"),
        ("autoscaling", "CreateLaunchConfiguration"),
        ("autoscaling", "CreateAutoScalingGroup"),
        ("autoscaling", "PutScalingPolicy"),
        ("route53", "ChangeResourceRecordSets"),
    ];
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    let mut rules: Vec<Rule> = CREATES
        .iter()
        .map(|(svc, op)| {
            Rule::new(Fault::LoseResponse, 1.0)
                .service(svc)
                .operation(op)
                .times(1)
        })
        .collect();
    rules.push(Rule::new(Fault::Truncate, 0.1));
    rules.push(Rule::new(Fault::Reset, 0.05));
    rules.push(Rule::new(Fault::Latency(Duration::from_millis(50)), 0.2));
    proxy.set_rules(rules);
    let prefix = stack_prefix("lost");
    let tree = myapp_stack(&prefix);
    let names = desired_names(tree.path());
    let total: usize = names.values().map(Vec::len).sum();
    let id = unique("ctl");
    let run = Running::start_with(
        &tree.path_str(),
        &proxy.endpoint,
        &[],
        &[&["--controller-id", &id][..], FAST].concat(),
    );
    let took = run_until_converged(&run, total, 60);
    let lost: Vec<String> = CREATES
        .iter()
        .filter(|(svc, op)| proxy.forwarded(svc, op) > 0)
        .map(|(svc, op)| format!("{svc}.{op}"))
        .collect();
    eprintln!(
        "lost responses: converged in {took:?}; {}; lost the response of {lost:?}",
        proxy.summary()
    );
    assert!(proxy.injected("lose_response") >= 8, "{}", proxy.summary());
    assert!(proxy.injected("truncate") > 0, "{}", proxy.summary());
    drop(run);
    assert_no_duplicates(&prefix, &names).await;
    let plan = converge(
        AREA,
        &[
            "plan",
            "--desired",
            &tree.path_str(),
            "--controller-id",
            &id,
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

/// Credentials and session tokens never appear in logs (even at trace level), `/status` or
/// `/metrics`, including when calls fail.
#[tokio::test]
async fn credentials_never_appear_in_logs_status_or_metrics() {
    const SECRET: &str = "cnvSECRETk3y/9f8e7d6c5b4a39281706f5e4d3c2b1a0zz";
    const TOKEN: &str = "cnvSESSIONt0ken//IQoJb3JpZ2luX2VjEJr+ZZZdistinctive==";
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    // Some failures too, so error paths are logged.
    proxy.set_rules(vec![
        Rule::new(Fault::AccessDenied, 1.0)
            .service("sqs")
            .operation("CreateQueue")
            .times(1),
        Rule::new(Fault::Throttle, 0.2),
    ]);
    let prefix = unique("secret");
    let tree = local_stack(&prefix);
    let names = desired_names(tree.path());
    let total: usize = names.values().map(Vec::len).sum();
    let id = unique("ctl");
    let env = [
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ];
    let run = Running::start_with(
        &tree.path_str(),
        &proxy.endpoint,
        &env,
        &[&["--controller-id", &id, "--log-level", "trace"][..], FAST].concat(),
    );
    run_until_converged(&run, total, 90);
    let logs = run.logs();
    let status = run.get("/status").1;
    let metrics = run.metrics();
    let readyz = run.get("/readyz").1;
    assert!(
        logs.lines().count() > 100,
        "trace logging produced too little to be a real test"
    );
    // The token was in use (sent as X-Amz-Security-Token): its absence below means something.
    assert_eq!(proxy.session_tokens(), vec![TOKEN.to_string()]);
    for (what, text) in [
        ("logs", &logs),
        ("/status", &status),
        ("/metrics", &metrics),
        ("/readyz", &readyz),
    ] {
        for (name, secret) in [("secret key", SECRET), ("session token", TOKEN)] {
            // Also the parts of each a log might cut out (e.g. around a `/`).
            for part in secret.split('/').filter(|p| p.len() >= 12) {
                assert!(
                    !text.contains(part),
                    "the {name} appears in {what}: …{}…",
                    text.find(part)
                        .map(|i| &text[i.saturating_sub(200)..(i + 60).min(text.len())])
                        .unwrap_or("")
                );
            }
        }
    }
    // And `apply`/`plan` output, which prints to the terminal.
    let out = converge_with(
        &proxy.endpoint,
        &env,
        &[
            "plan",
            "--desired",
            &tree.path_str(),
            "--controller-id",
            &id,
            "--log-level",
            "trace",
        ],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.len() > 1000, "plan printed too little: {all}");
    for secret in [SECRET, TOKEN] {
        for part in secret.split('/').filter(|p| p.len() >= 12) {
            assert!(!all.contains(part), "a credential appears in plan output");
        }
    }
}

/// The proxy identifies every protocol converge speaks (the scenarios' rules rely on it).
#[test]
fn the_proxy_identifies_every_protocol() {
    let auth = |svc: &str| {
        format!("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=x")
    };
    let h = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    let cases = [
        (
            identify_parts(
                "POST",
                "/",
                &h(&[
                    ("Authorization", auth("sqs")),
                    ("X-Amz-Target", "AmazonSQS.ListQueues".into()),
                ]),
                b"{}",
            ),
            ("sqs", "ListQueues"),
        ),
        (
            identify_parts(
                "POST",
                "/",
                &h(&[("Authorization", auth("elasticloadbalancing"))]),
                b"Action=DescribeLoadBalancers&Version=2012-06-01",
            ),
            ("elb", "DescribeLoadBalancers"),
        ),
        (
            identify_parts(
                "POST",
                "/",
                &h(&[("Authorization", auth("ec2"))]),
                b"Action=DescribeSecurityGroups&Version=2016-11-15",
            ),
            ("ec2", "DescribeSecurityGroups"),
        ),
        (
            identify_parts(
                "POST",
                "/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
                &h(&[("Authorization", auth("monitoring"))]),
                b"",
            ),
            ("cloudwatch", "DescribeAlarms"),
        ),
        (
            identify_parts(
                "GET",
                "/2013-04-01/hostedzone/Z123/rrset?maxitems=300",
                &h(&[("Authorization", auth("route53"))]),
                b"",
            ),
            ("route53", "ListResourceRecordSets"),
        ),
        (
            identify_parts(
                "POST",
                "/2013-04-01/hostedzone/Z123/rrset/",
                &h(&[("Authorization", auth("route53"))]),
                b"<x/>",
            ),
            ("route53", "ChangeResourceRecordSets"),
        ),
    ];
    for (got, (service, operation)) in cases {
        assert_eq!(
            (got.service.as_str(), got.operation.as_str()),
            (service, operation)
        );
    }
}

/// Each injected error reaches converge as the error code AWS would send, in every protocol.
#[tokio::test]
async fn injected_errors_have_each_protocols_real_shape() {
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    let conf = aws_types::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new(REGION))
        .endpoint_url(&proxy.endpoint)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"),
            ),
        )
        .build();
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    for (fault, sqs_code, ec2_code, cw_code, iam_code) in [
        (
            Fault::Throttle,
            "RequestThrottled",
            "RequestLimitExceeded",
            "Throttling",
            "Throttling",
        ),
        (
            Fault::AccessDenied,
            "AccessDenied",
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDenied",
        ),
        (
            Fault::ExpiredToken,
            "ExpiredToken",
            "ExpiredToken",
            "ExpiredToken",
            "ExpiredToken",
        ),
        (
            Fault::ServerError(503),
            "ServiceUnavailable",
            "ServiceUnavailable",
            "ServiceUnavailable",
            "ServiceUnavailable",
        ),
    ] {
        proxy.set_rules(vec![Rule::new(fault.clone(), 1.0)]);
        let e = aws_sdk_sqs::Client::new(&conf)
            .list_queues()
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(sqs_code), "SQS {fault:?}: {e:?}");
        let e = aws_sdk_ec2::Client::new(&conf)
            .describe_security_groups()
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ec2_code), "EC2 {fault:?}: {e:?}");
        let e = aws_sdk_cloudwatch::Client::new(&conf)
            .describe_alarms()
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(cw_code), "CloudWatch {fault:?}: {e:?}");
        let e = aws_sdk_iam::Client::new(&conf)
            .list_roles()
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(iam_code), "IAM {fault:?}: {e:?}");
        let e = aws_sdk_route53::Client::new(&conf)
            .list_hosted_zones()
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(iam_code), "Route 53 {fault:?}: {e:?}");
    }
    // The SDK's own retry classifier treats the throttles as throttling errors: with retries
    // on, a throttled call is retried (the proxy sees it more than once).
    proxy.set_rules(vec![Rule::new(Fault::Throttle, 1.0).service("sqs")]);
    let before = proxy.seen("sqs");
    let retrying = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&conf)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .build(),
    );
    assert!(retrying.list_queues().send().await.is_err());
    assert_eq!(proxy.seen("sqs") - before, 3, "a throttled call is retried");
    proxy.clear();
    assert!(aws_sdk_sqs::Client::new(&conf)
        .list_queues()
        .send()
        .await
        .is_ok());
}

/// SIGKILL `converge apply` at a random point of a fresh stack's apply, restart it, let it
/// finish; `runs` times. Each final state equals a clean run's (as many resources of every
/// kind, `plan` has nothing to do), with no duplicates and no orphans.
async fn crash_scenario(make: MakeTree, runs: usize) {
    let clean_prefix = stack_prefix("crashclean");
    let clean = make(&clean_prefix);
    let id = unique("ctl");
    let _ = moto(AREA); // started before the clock runs
    let started = Instant::now();
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &clean.path_str(),
            "--controller-id",
            &id,
        ],
    );
    let clean_time = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "clean apply: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let shape = |inv: BTreeMap<String, BTreeMap<String, usize>>| -> BTreeMap<String, usize> {
        inv.into_iter()
            .map(|(k, m)| (k, m.values().sum()))
            .collect()
    };
    let clean_shape = shape(inventory(&clean_prefix).await);

    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    let mut delays = Vec::new();
    let mut finished_early = Vec::new();
    for run in 0..runs {
        let prefix = stack_prefix(&format!("crash{run}"));
        let tree = make(&prefix);
        let names = desired_names(tree.path());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let window = clean_time.as_millis().max(50) as u64;
        let delay = Duration::from_millis(rng % window);
        delays.push(delay.as_millis());
        let mut cmd = std::process::Command::new(converge_bin());
        aws_env(&mut cmd)
            .args([
                "apply",
                "--desired",
                &tree.path_str(),
                "--controller-id",
                &id,
            ])
            .args(["--endpoint-url", &moto(AREA).endpoint])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().expect("spawn converge apply");
        std::thread::sleep(delay);
        match child.try_wait().expect("try_wait") {
            None => {
                child.kill().expect("SIGKILL");
                killed += 1;
            }
            Some(status) => finished_early.push(format!("{delay:?}: {status}")),
        }
        child.wait().expect("reap");
        let out = converge(
            AREA,
            &[
                "apply",
                "--desired",
                &tree.path_str(),
                "--controller-id",
                &id,
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {run}: apply after SIGKILL at {delay:?}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        // `apply` exits 0 only when everything converged; `plan` (every fifth run, to keep
        // the test short) confirms there is nothing left to do.
        if run % 5 == 4 {
            let plan = converge(
                AREA,
                &[
                    "plan",
                    "--desired",
                    &tree.path_str(),
                    "--controller-id",
                    &id,
                ],
            );
            assert_eq!(plan.status.code(), Some(0), "run {run}: {}", stdout(&plan));
        }
        assert_no_duplicates(&prefix, &names).await;
        // The same shape as the clean run: every kind (launch configurations, instance
        // profiles … included) has as many resources, so nothing was orphaned.
        assert_eq!(
            shape(inventory(&prefix).await),
            clean_shape,
            "run {run}: SIGKILL at {delay:?} left a stack unlike a clean run's"
        );
    }
    eprintln!(
        "crash scenario: {runs} runs, {killed} killed mid-apply (clean apply {clean_time:?}; \
         kill delays {delays:?} ms); every final state: {clean_shape:?}, 0 duplicates"
    );
    assert!(
        killed >= runs / 2,
        "only {killed} of {runs} runs were killed mid-apply; the others finished: {finished_early:?}"
    );
}

#[tokio::test]
async fn sigkill_during_apply_then_restart_leaves_no_duplicates_or_orphans() {
    ensure_zone().await;
    crash_scenario(myapp_stack, 20).await;
}

/// Regression (found by the fault-free baseline above): a queue waiting for its dead-letter
/// queue, which the same sweep creates, converges at once, not at the next resync.
#[test]
fn a_resource_waiting_for_one_of_its_own_kind_converges_without_waiting_for_a_resync() {
    let p = unique("samekind");
    let d = Desired::new();
    d.write(
        "q.yaml",
        &format!(
            "{}{}",
            queue_doc(
                &format!("{p}-work"),
                &format!("attributes:\n  RedrivePolicy:\n    deadLetterTargetArn: arn:aws:sqs:us-east-1:123456789012:{p}-dlq\n    maxReceiveCount: 5\n"),
            ),
            queue_doc(&format!("{p}-dlq"), "")
        ),
    );
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1h", "--controller-id", &unique("ctl")],
    );
    run.wait_for("both queues converged, long before the resync", 15, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") == 2.0
    });
}

/// `--rate-limit`: the requests of a paced service never exceed its bucket (a burst of one
/// second's worth, then the rate), whatever the concurrency; a bad value is a usage error.
#[test]
fn rate_limits_pace_every_request_of_a_service() {
    let proxy = FaultProxy::start(&moto(AREA).endpoint);
    let prefix = unique("paced");
    let d = Desired::new();
    let queues: String = (0..12)
        .map(|i| queue_doc(&format!("{prefix}-{i}"), "tags: {team: ops}"))
        .collect();
    d.write("q.yaml", &queues);
    let started = Instant::now();
    let out = converge_with(
        &proxy.endpoint,
        &[],
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--controller-id",
            &unique("ctl"),
            "--rate-limit",
            "sqs=4",
            "--concurrency",
            "12",
        ],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = proxy.seen("sqs") as usize;
    // Burst 4, then 4/s: at most 4 + 4 sent in any second, 4 + 8 in any two (one more for
    // jitter between sending and arrival at the proxy).
    let (one, two) = (
        proxy.peak("sqs", Duration::from_secs(1)),
        proxy.peak("sqs", Duration::from_secs(2)),
    );
    eprintln!("pacing: {calls} SQS calls at sqs=4 in {took:?}; peak {one}/1 s, {two}/2 s");
    assert!(calls >= 20, "{calls} calls: too few to measure pacing");
    assert!(one <= 9, "{one} SQS requests within one second at sqs=4");
    assert!(two <= 13, "{two} SQS requests within two seconds at sqs=4");
    assert!(
        took >= Duration::from_secs_f64((calls as f64 - 4.0) / 4.0 * 0.9),
        "{calls} calls in {took:?}: not paced"
    );

    let bad = converge_with(
        &proxy.endpoint,
        &[],
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--rate-limit",
            "route53=fast",
        ],
    );
    assert_eq!(bad.status.code(), Some(64), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("`fast` for route53 is not a rate"),
        "{}",
        stderr(&bad)
    );
}
