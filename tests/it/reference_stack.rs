//! The whole reference stack (desired/examples: the seed's myapp service, rendered for its
//! instances) against one fresh moto: converge from empty in one `apply`, a no-change `apply`
//! with zero writes, `plan` exit 0, recovery of a deleted resource of every kind within one
//! resync, a launch-configuration roll, and (issue 6) the controller's IAM policy covering
//! every operation converge called.
//!
//! Everything runs in ONE test: the stack's names are fixed, and this area's moto is its own.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// `("Service.Operation")` from every `AWS API calls:` line in `text`.
fn operations(text: &str) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("AWS API calls:")) {
        if let Some(inner) = line.split_once('(').and_then(|(_, r)| r.strip_suffix(')')) {
            for part in inner.split(", ").filter(|p| !p.is_empty()) {
                if let Some((op, _n)) = part.rsplit_once(' ') {
                    ops.insert(op.to_string());
                }
            }
        }
    }
    ops
}

fn calls_line(out: &std::process::Output) -> String {
    stderr(out)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string()
}

const READ_PREFIXES: &[&str] = &["Describe", "List", "Get"];

fn is_read(op: &str) -> bool {
    let name = op.rsplit('.').next().unwrap_or(op);
    READ_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The SDK's service name → the IAM action prefix.
fn iam_prefix(service: &str) -> String {
    match service.to_ascii_lowercase().replace(' ', "").as_str() {
        "elasticloadbalancing" => "elasticloadbalancing".into(),
        "autoscaling" => "autoscaling".into(),
        "route53" => "route53".into(),
        "cloudwatch" => "cloudwatch".into(),
        "resourcegroupstaggingapi" => "tag".into(),
        other => other.into(),
    }
}

#[tokio::test]
async fn the_reference_stack_converges_recovers_and_rolls() {
    let sdk = sdk_config(AREA);
    let r53 = aws_sdk_route53::Client::new(&sdk);
    create_zone(&r53, "example.com.").await;
    let tree = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("desired/examples"),
        &tree.path().join("examples"),
    );
    let dir = tree.path().join("examples").display().to_string();
    let id = "reference";
    let mut all_output = String::new();

    // 1. From empty, one apply.
    let started = Instant::now();
    let first = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &dir,
            "--controller-id",
            id,
            "--timeout",
            "120s",
        ],
    );
    let first_time = started.elapsed();
    all_output.push_str(&stderr(&first));
    assert_eq!(
        first.status.code(),
        Some(0),
        "first apply:\n{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(stdout(&first).contains(", 0 not."), "{}", stdout(&first));

    // Key facts of the stack in moto.
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let g = groups
        .auto_scaling_groups()
        .first()
        .expect("the group exists");
    let lc_name = g
        .launch_configuration_name()
        .expect("a launch configuration")
        .to_string();
    assert!(
        lc_name.starts_with("myapp-testing-useast1-")
            && lc_name.len() == "myapp-testing-useast1-".len() + 8,
        "{lc_name}"
    );
    assert!(g
        .suspended_processes()
        .iter()
        .any(|p| p.process_name() == Some("AddToLoadBalancer")));
    assert_eq!(
        g.load_balancer_names(),
        ["myapp-testing-useast1".to_string()]
    );
    let policies = asg
        .describe_policies()
        .auto_scaling_group_name("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let up_arn = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_name() == Some("ScaleUp"))
        .and_then(|p| p.policy_arn())
        .expect("ScaleUp")
        .to_string();
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let alarms = cw
        .describe_alarms()
        .alarm_names("myapp-testing-useast1-asg-up-CPU-Utilization")
        .send()
        .await
        .unwrap();
    assert!(
        alarms.metric_alarms()[0].alarm_actions().contains(&up_arn),
        "alarm action is the policy ARN"
    );
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk);
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_names("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let dns_name = lbs.load_balancer_descriptions()[0]
        .dns_name()
        .unwrap()
        .to_string();
    let zones = r53
        .list_hosted_zones_by_name()
        .dns_name("example.com.")
        .send()
        .await
        .unwrap();
    let zone_id = zones.hosted_zones()[0].id().to_string();
    let records = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let cname = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "myapp-testing.example.com." && r.r#type().as_str() == "CNAME")
        .expect("the CNAME");
    assert_eq!(
        cname.resource_records()[0].value().trim_end_matches('.'),
        dns_name.trim_end_matches('.')
    );
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.get_instance_profile()
        .instance_profile_name("myapp-testing-useast1")
        .send()
        .await
        .expect("instance profile");

    // 2. No change: zero writes.
    let started = Instant::now();
    let second = converge(AREA, &["apply", "--desired", &dir, "--controller-id", id]);
    let nochange_time = started.elapsed();
    all_output.push_str(&stderr(&second));
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&second),
        stderr(&second)
    );
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let line = calls_line(&second);
    for op in operations(&line) {
        assert!(is_read(&op), "a no-change apply called {op}: {line}");
    }
    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", id]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    eprintln!("first converge {first_time:?}; no-change apply {nochange_time:?}; {line}");

    // 3. One resource of each kind deleted out of band; one resync brings all back.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let q = queue_url(&sqs, "myapp-testing-example-queue-1")
        .await
        .unwrap();
    sqs.delete_queue().queue_url(q).send().await.unwrap();
    cw.delete_alarms()
        .alarm_names("myapp-testing-useast1-asg-down-CPU-Utilization")
        .send()
        .await
        .unwrap();
    asg.delete_policy()
        .auto_scaling_group_name("myapp-testing-useast1")
        .policy_name("ScaleDown")
        .send()
        .await
        .unwrap();
    elb.delete_load_balancer()
        .load_balancer_name("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    iam.delete_role_policy()
        .role_name("myapp-testing-useast1")
        .policy_name("myapp-testing-sqs")
        .send()
        .await
        .unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let sgs = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("myapp-testing")
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.delete_security_group()
        .group_id(sgs.security_groups()[0].group_id().unwrap())
        .send()
        .await
        .unwrap();
    let change = aws_sdk_route53::types::Change::builder()
        .action(aws_sdk_route53::types::ChangeAction::Delete)
        .resource_record_set(cname.clone())
        .build()
        .unwrap();
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(change)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let run = Running::start(
        AREA,
        &dir,
        &[
            "--resync",
            "2s",
            "--controller-id",
            id,
            "--backoff-max",
            "2s",
        ],
    );
    run.wait_for("every resource converged again", 60, |r| {
        let s = r.status();
        let kinds: Vec<serde_json::Value> = s["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|sh| {
                sh["kinds"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                    .into_values()
            })
            .collect();
        !kinds.is_empty()
            && kinds
                .iter()
                .all(|k| k["swept"] == true && k["pending"] == 0 && k["failed"] == 0)
            && r.metric("converge_changes_applied_total{action=\"create\",kind=\"Queue\"}") >= 1.0
            && r.metric("converge_changes_applied_total{action=\"create\",kind=\"LoadBalancer\"}")
                >= 1.0
    });
    assert!(queue_url(&sqs, "myapp-testing-example-queue-1")
        .await
        .is_some());
    assert_eq!(
        cw.describe_alarms()
            .alarm_names("myapp-testing-useast1-asg-down-CPU-Utilization")
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .len(),
        1
    );
    let policies = asg
        .describe_policies()
        .auto_scaling_group_name("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    assert!(policies
        .scaling_policies()
        .iter()
        .any(|p| p.policy_name() == Some("ScaleDown")));
    iam.get_role_policy()
        .role_name("myapp-testing-useast1")
        .policy_name("myapp-testing-sqs")
        .send()
        .await
        .expect("inline policy restored");
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_names("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let new_dns = lbs.load_balancer_descriptions()[0]
        .dns_name()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .send()
            .await
            .unwrap();
        let ok = records.resource_record_sets().iter().any(|r| {
            r.name() == "myapp-testing.example.com."
                && r.resource_records()
                    .first()
                    .map(|v| v.value().trim_end_matches('.'))
                    == Some(new_dns.trim_end_matches('.'))
        });
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CNAME not restored\n{}",
            run.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let sgs = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("myapp-testing")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sgs.security_groups().len(), 1, "security group restored");
    all_output.push_str(&format!(
        "AWS API calls: ({})\n",
        run_operations(&run.metrics())
    ));
    drop(run);

    // 4. A new instance type rolls the group onto a new launch configuration; the old one goes.
    let values = tree.path().join("examples/myapp/values.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    assert!(text.contains("instance_type: c3.large"), "{text}");
    std::fs::write(
        &values,
        text.replace("instance_type: c3.large", "instance_type: c4.large"),
    )
    .unwrap();
    let roll = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &dir,
            "--controller-id",
            id,
            "--timeout",
            "60s",
        ],
    );
    all_output.push_str(&stderr(&roll));
    assert_eq!(
        roll.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&roll),
        stderr(&roll)
    );
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let new_lc = groups.auto_scaling_groups()[0]
        .launch_configuration_name()
        .unwrap()
        .to_string();
    assert_ne!(
        new_lc, lc_name,
        "the group did not move to a new launch configuration"
    );
    let lcs = asg
        .describe_launch_configurations()
        .launch_configuration_names(&new_lc)
        .launch_configuration_names(&lc_name)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = lcs
        .launch_configurations()
        .iter()
        .filter_map(|l| l.launch_configuration_name())
        .collect();
    assert_eq!(
        names,
        [new_lc.as_str()],
        "the old launch configuration is still there"
    );
    assert_eq!(
        lcs.launch_configurations()[0].instance_type(),
        Some("c4.large")
    );

    // 5. (issue 6) The shipped IAM policy allows every operation converge called above.
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/iam/converge-policy.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let allowed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_ascii_lowercase))
        .collect();
    let called = operations(&all_output);
    assert!(called.len() >= 20, "too few operations seen: {called:?}");
    for op in &called {
        let (service, name) = op.rsplit_once('.').unwrap();
        let action = format!("{}:{}", iam_prefix(service), name).to_ascii_lowercase();
        assert!(
            allowed.contains(&action),
            "deploy/iam/converge-policy.json does not allow {action} (called as {op})"
        );
    }
}

/// `Service.Operation N` pairs from a /metrics scrape, as an `AWS API calls:` line would list them.
fn run_operations(metrics: &str) -> String {
    metrics
        .lines()
        .filter(|l| l.starts_with("converge_aws_api_calls_total{"))
        .filter_map(|l| {
            let op = l.split("operation=\"").nth(1)?.split('"').next()?;
            let svc = l.split("service=\"").nth(1)?.split('"').next()?;
            Some(format!("{svc}.{op} 1"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
