//! `kind: AutoScalingGroup` end to end: the reference stack's group against a real moto server
//! and the real binary — converge from empty, no-change sweeps, launch-configuration rolls,
//! drift in suspended processes and scaling policies, the launch-template variant, prune.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use aws_sdk_autoscaling::types::AutoScalingGroup as Group;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// Every mutating call the kind can make.
const MUTATING: &[&str] = &[
    "CreateLaunchConfiguration",
    "DeleteLaunchConfiguration",
    "CreateAutoScalingGroup",
    "UpdateAutoScalingGroup",
    "DeleteAutoScalingGroup",
    "SuspendProcesses",
    "ResumeProcesses",
    "AttachLoadBalancers",
    "DetachLoadBalancers",
    "CreateOrUpdateTags",
    "DeleteTags",
    "PutScalingPolicy",
    "DeletePolicy",
    "CreateLaunchTemplate",
    "CreateLaunchTemplateVersion",
    "DeleteLaunchTemplate",
];

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn asg_doc(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: converge/v1\nkind: AutoScalingGroup\nmetadata:\n  name: {name}\nspec:\n{}",
        indent(spec, 2)
    )
}

/// The names a test's resources get.
struct Names {
    group: String,
    elb: String,
    base: String,
    myapp: String,
    myapp_testing: String,
}

impl Names {
    fn new(what: &str) -> Names {
        let p = unique(what);
        Names {
            group: format!("{p}-useast1"),
            elb: format!("{p}-elb"),
            base: format!("{p}-base"),
            myapp: format!("{p}-myapp"),
            myapp_testing: format!("{p}-myapp-testing"),
        }
    }
}

/// The seed's `boto_asg.present` (myapp.sls) as a manifest: two instances instead of thirty.
/// `groups` are the three security groups, by name (as in the seed) or by id.
fn seed_group(n: &Names, instance_type: &str, groups: &[String]) -> String {
    asg_doc(
        &n.group,
        &format!(
            r#"launch_config_name: {group}
launch_config:
  - image_id: ami-fakeami
  - key_name: example-key
  - security_groups:
    - {g0}
    - {g1}
    - {g2}
  - instance_type: {instance_type}
  - instance_monitoring: true
  - cloud_init:
      scripts:
        salt: |
          #!/bin/bash
          apt-get -y update
          apt-get install -y python-m2crypto python-crypto python-zmq python-pip python-virtualenv python-apt git-core
          wget https://example.com/bootstrap.tar.gz
          tar -xzvPf bootstrap.tar.gz
          time /srv/pulldeploy/venv/bin/python /srv/pulldeploy/pulldeploy.py myapp testing -v && salt-call state.sls elb.register
availability_zones:
  - us-east-1a
  - us-east-1d
  - us-east-1e
suspended_processes:
  - AddToLoadBalancer
min_size: 2
max_size: 2
load_balancers:
  - {elb}
instance_profile_name: {group}
scaling_policies:
  - name: ScaleDown
    adjustment_type: ChangeInCapacity
    scaling_adjustment: -1
    cooldown: 1800
  - name: ScaleUp
    adjustment_type: ChangeInCapacity
    scaling_adjustment: 5
    cooldown: 1800
tags:
  - key: 'Name'
    value: '{group}'
    propagate_at_launch: true
"#,
            group = n.group,
            g0 = groups[0],
            g1 = groups[1],
            g2 = groups[2],
            elb = n.elb,
        ),
    )
}

fn autoscaling() -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(&sdk_config(AREA))
}

fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(AREA))
}

/// The security groups and the classic load balancer the seed's group names, made out of band
/// (as if managed elsewhere: not desired). Returns the groups' ids.
async fn prerequisites(n: &Names) -> Vec<String> {
    let ec2 = ec2();
    let mut ids = Vec::new();
    for g in [&n.base, &n.myapp, &n.myapp_testing] {
        let out = ec2
            .create_security_group()
            .group_name(g)
            .description("test")
            .send()
            .await
            .expect("create security group");
        ids.push(out.group_id().expect("group id").to_string());
    }
    aws_sdk_elasticloadbalancing::Client::new(&sdk_config(AREA))
        .create_load_balancer()
        .load_balancer_name(&n.elb)
        .availability_zones("us-east-1a")
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_port(80)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create load balancer");
    ids
}

async fn group(name: &str) -> Option<Group> {
    autoscaling()
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("describe groups")
        .auto_scaling_groups()
        .first()
        .cloned()
}

async fn launch_configuration_names() -> BTreeSet<String> {
    autoscaling()
        .describe_launch_configurations()
        .max_records(100)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("describe launch configurations")
        .iter()
        .filter_map(|l| l.launch_configuration_name().map(String::from))
        .collect()
}

/// name → (adjustment type, adjustment, cooldown, ARN)
async fn policies(group: &str) -> BTreeMap<String, (String, i32, i32, String)> {
    autoscaling()
        .describe_policies()
        .auto_scaling_group_name(group)
        .send()
        .await
        .expect("describe policies")
        .scaling_policies()
        .iter()
        .map(|p| {
            (
                p.policy_name().unwrap().to_string(),
                (
                    p.adjustment_type().unwrap_or_default().to_string(),
                    p.scaling_adjustment().unwrap_or_default(),
                    p.cooldown().unwrap_or_default(),
                    p.policy_arn().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// A launch configuration's user data as text. AWS returns it base64-encoded once; moto 5.2.5
/// (as measured here) encodes it twice, so a second layer is peeled off when the first is not
/// the MIME text yet.
fn user_data_text(encoded: &str) -> String {
    let mut text = encoded.to_string();
    for _ in 0..2 {
        let bytes = aws_smithy_types::base64::decode(&text)
            .unwrap_or_else(|e| panic!("user data is not base64 ({e}): {text}"));
        text = String::from_utf8(bytes).expect("user data is UTF-8");
        if text.starts_with("Content-Type:") {
            break;
        }
    }
    text
}

fn suspended(g: &Group) -> BTreeSet<String> {
    g.suspended_processes()
        .iter()
        .filter_map(|p| p.process_name().map(String::from))
        .collect()
}

/// `<prefix>-<8 hex>`
fn is_hashed_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn calls_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string()
}

/// How many calls of `service.operation` an `AWS API calls:` line counts.
fn count(line: &str, op: &str) -> u32 {
    line.split([',', '(', ')'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(op)?.trim().parse().ok())
        .unwrap_or(0)
}

fn apply(dir: &str, id: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--desired", dir, "--controller-id", id];
    args.extend_from_slice(extra);
    converge(AREA, &args)
}

#[tokio::test]
async fn the_seed_group_converges_from_empty_in_one_apply_and_a_second_apply_writes_nothing() {
    let n = Names::new("seed");
    let id = unique("ctl");
    prerequisites(&n).await;
    let names = [n.base.clone(), n.myapp.clone(), n.myapp_testing.clone()];
    let d = Desired::new();
    d.write("asg.yaml", &seed_group(&n, "c3.large", &names));
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert!(group(&n.group).await.is_none(), "plan must not create");

    let first = apply(&dir, &id, &[]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "apply: {}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("1 resource(s) converged, 0 not"),
        "{}",
        stdout(&first)
    );

    let g = group(&n.group).await.expect("group created");
    let lc = g
        .launch_configuration_name()
        .expect("on a launch configuration");
    assert!(is_hashed_name(lc, &n.group), "{lc}");
    assert_eq!((g.min_size(), g.max_size()), (Some(2), Some(2)));
    assert_eq!(g.instances().len(), 2);
    let zones: BTreeSet<&str> = g.availability_zones().iter().map(String::as_str).collect();
    assert_eq!(
        zones,
        BTreeSet::from(["us-east-1a", "us-east-1d", "us-east-1e"])
    );
    assert_eq!(g.load_balancer_names(), std::slice::from_ref(&n.elb));
    assert_eq!(
        suspended(&g),
        BTreeSet::from(["AddToLoadBalancer".to_string()])
    );
    let tags: BTreeMap<&str, (&str, bool)> = g
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap(),
                (t.value().unwrap(), t.propagate_at_launch().unwrap()),
            )
        })
        .collect();
    assert_eq!(tags["Name"], (n.group.as_str(), true));
    assert_eq!(tags["converge:managed-by"], (id.as_str(), false));

    let pol = policies(&n.group).await;
    assert_eq!(pol.len(), 2, "{pol:?}");
    assert_eq!(
        (
            &pol["ScaleDown"].0[..],
            pol["ScaleDown"].1,
            pol["ScaleDown"].2
        ),
        ("ChangeInCapacity", -1, 1800)
    );
    assert_eq!(
        (&pol["ScaleUp"].0[..], pol["ScaleUp"].1, pol["ScaleUp"].2),
        ("ChangeInCapacity", 5, 1800)
    );
    assert!(pol["ScaleUp"].3.contains(&n.group), "{:?}", pol["ScaleUp"]);

    let lcs = autoscaling()
        .describe_launch_configurations()
        .launch_configuration_names(lc)
        .send()
        .await
        .unwrap();
    let l = &lcs.launch_configurations()[0];
    assert_eq!(l.image_id(), Some("ami-fakeami"));
    assert_eq!(l.instance_type(), Some("c3.large"));
    assert_eq!(l.key_name(), Some("example-key"));
    assert_eq!(l.iam_instance_profile(), Some(n.group.as_str()));
    assert_eq!(
        l.instance_monitoring().and_then(|m| m.enabled()),
        Some(true)
    );
    let groups: BTreeSet<&str> = l.security_groups().iter().map(String::as_str).collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    // moto 5.2.5 returns a launch configuration's UserData base64-encoded twice (AWS: once).
    let user_data = user_data_text(l.user_data().unwrap());
    assert!(
        user_data.starts_with("Content-Type: multipart/mixed; boundary="),
        "{user_data}"
    );
    assert!(user_data.contains("Content-Type: text/x-shellscript"));
    assert!(user_data.contains("salt-call state.sls elb.register"));

    let second = apply(&dir, &id, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let line = calls_line(&stderr(&second));
    eprintln!("no-change apply: {line}");
    for op in MUTATING {
        assert!(
            !line.contains(&format!(".{op} ")),
            "no-change apply called {op}: {line}"
        );
    }
    // One fleet-wide listing of each per sweep, never a call per group. (The first sweep of a
    // fresh process may wait for the SecurityGroup kind's first listing to resolve the group
    // names, and sweep again when it arrives: hence 1 or 2.)
    let sweeps = count(&line, "Auto Scaling.DescribeAutoScalingGroups");
    assert!((1..=2).contains(&sweeps), "{line}");
    assert_eq!(
        count(&line, "Auto Scaling.DescribeLaunchConfigurations"),
        sweeps,
        "{line}"
    );
    assert_eq!(
        count(&line, "Auto Scaling.DescribePolicies"),
        sweeps,
        "{line}"
    );
    assert_eq!(
        group(&n.group).await.unwrap().launch_configuration_name(),
        Some(lc),
        "an unchanged spec never makes a new launch configuration"
    );

    // Nothing to change. (A one-sweep plan can catch the group waiting for the SecurityGroup
    // kind's first listing; that is reported as waiting, never as a change.)
    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    let out = stdout(&plan);
    let ours: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(&format!("AutoScalingGroup {}:", n.group)))
        .collect();
    assert!(
        ours.iter()
            .all(|l| l.contains(": waiting for SecurityGroup/")),
        "{out}"
    );
    assert_eq!(
        plan.status.code(),
        Some(if ours.is_empty() { 0 } else { 2 }),
        "{out}"
    );
}

#[tokio::test]
async fn a_new_instance_type_rolls_the_group_onto_a_new_launch_configuration_and_deletes_the_old() {
    let n = Names::new("roll");
    let id = unique("ctl");
    // By id: no wait for the SecurityGroup kind's listing, so the one-sweep plan below always
    // sees the roll.
    let ids = prerequisites(&n).await;
    let d = Desired::new();
    d.write("asg.yaml", &seed_group(&n, "c3.large", &ids));
    let dir = d.path_str();
    let first = apply(&dir, &id, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let old = group(&n.group)
        .await
        .unwrap()
        .launch_configuration_name()
        .unwrap()
        .to_string();

    d.write("asg.yaml", &seed_group(&n, "c3.xlarge", &ids));
    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(2));
    assert!(
        stdout(&plan).contains("launch_config.instance_type: (none) → c3.xlarge"),
        "{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains(&format!(
            "launch: launch configuration {old} → launch configuration {}-",
            n.group
        )),
        "{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("<user data, "),
        "user data is summarised: {}",
        stdout(&plan)
    );
    assert!(!stdout(&plan).contains("apt-get"), "{}", stdout(&plan));

    let second = apply(&dir, &id, &[]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&second),
        stderr(&second)
    );
    let new = group(&n.group)
        .await
        .unwrap()
        .launch_configuration_name()
        .unwrap()
        .to_string();
    assert!(is_hashed_name(&new, &n.group), "{new}");
    assert_ne!(new, old);
    let lcs = launch_configuration_names().await;
    assert!(lcs.contains(&new));
    assert!(
        !lcs.contains(&old),
        "the old launch configuration is deleted"
    );
    let l = autoscaling()
        .describe_launch_configurations()
        .launch_configuration_names(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(
        l.launch_configurations()[0].instance_type(),
        Some("c3.xlarge")
    );

    let third = apply(&dir, &id, &[]);
    assert!(
        stdout(&third).contains("0 change(s) applied"),
        "{}",
        stdout(&third)
    );
}

#[tokio::test]
async fn resumed_processes_are_suspended_again_and_a_deleted_policy_recreated_under_run() {
    let n = Names::new("drift");
    let id = unique("ctl");
    prerequisites(&n).await;
    let names = [n.base.clone(), n.myapp.clone(), n.myapp_testing.clone()];
    let d = Desired::new();
    d.write("asg.yaml", &seed_group(&n, "c3.large", &names));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    let converged = "converge_resources{kind=\"AutoScalingGroup\",state=\"converged\"}";
    run.wait_for("the group converged", 60, |r| r.metric(converged) == 1.0);

    // No-change resyncs write nothing.
    let before = calls(&run.metrics(), MUTATING);
    run.wait_sweeps("AutoScalingGroup", 2.0, 30);
    assert_eq!(
        calls(&run.metrics(), MUTATING),
        before,
        "a no-change sweep wrote to AWS"
    );
    let drift = "converge_drift_detected_total{kind=\"AutoScalingGroup\"}";
    assert_eq!(run.metric(drift), 0.0);

    // Someone resumes the suspended process and suspends another.
    autoscaling()
        .resume_processes()
        .auto_scaling_group_name(&n.group)
        .scaling_processes("AddToLoadBalancer")
        .send()
        .await
        .unwrap();
    autoscaling()
        .suspend_processes()
        .auto_scaling_group_name(&n.group)
        .scaling_processes("AZRebalance")
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = suspended(&group(&n.group).await.unwrap());
        if s == BTreeSet::from(["AddToLoadBalancer".to_string()]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes not corrected: {s:?}\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    run.wait_for("drift counted", 10, |r| r.metric(drift) >= 1.0);
    assert!(
        calls(&run.metrics(), &["SuspendProcesses"]) >= 2.0
            && calls(&run.metrics(), &["ResumeProcesses"]) >= 1.0,
        "only the difference is suspended and resumed"
    );

    // Drift is counted only against a resource that was verified converged again.
    run.wait_sweeps("AutoScalingGroup", 2.0, 30);
    assert_eq!(run.metric(converged), 1.0);

    // Someone deletes a scaling policy: it comes back.
    let arn_before = policies(&n.group).await["ScaleUp"].3.clone();
    autoscaling()
        .delete_policy()
        .auto_scaling_group_name(&n.group)
        .policy_name("ScaleUp")
        .send()
        .await
        .unwrap();
    assert!(!policies(&n.group).await.contains_key("ScaleUp"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let p = policies(&n.group).await;
        if let Some(up) = p.get("ScaleUp") {
            assert_eq!((up.0.as_str(), up.1, up.2), ("ChangeInCapacity", 5, 1800));
            assert_eq!(up.3, arn_before);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "policy not recreated\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    run.wait_for("second drift counted", 10, |r| r.metric(drift) >= 2.0);
    run.wait_for("converged again", 10, |r| r.metric(converged) == 1.0);
}

fn template_group(name: &str, instance_type: &str) -> String {
    asg_doc(
        name,
        &format!(
            r#"launch_template:
  image_id: ami-fakeami
  instance_type: {instance_type}
  instance_monitoring: true
  cloud_init:
    scripts:
      boot: |
        #!/bin/bash
        echo hello
availability_zones: [us-east-1a, us-east-1b]
min_size: 1
max_size: 3
suspended_processes: [AZRebalance]
scaling_policies:
  - {{name: ScaleUp, adjustment_type: ChangeInCapacity, scaling_adjustment: 1, cooldown: 60}}
tags: {{team: ops}}
"#
        ),
    )
}

async fn template_versions(name: &str) -> Vec<(i64, String)> {
    ec2()
        .describe_launch_template_versions()
        .launch_template_name(name)
        .send()
        .await
        .expect("describe versions")
        .launch_template_versions()
        .iter()
        .map(|v| {
            (
                v.version_number().unwrap(),
                v.version_description().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_launch_template_variant_converges_and_an_unchanged_spec_makes_no_version() {
    let name = unique("tmpl");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("asg.yaml", &template_group(&name, "t3.micro"));
    let dir = d.path_str();
    let first = apply(&dir, &id, &[]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    let g = group(&name).await.unwrap();
    let lt = g.launch_template().expect("on a launch template");
    assert_eq!(lt.launch_template_name(), Some(name.as_str()));
    assert_eq!(lt.version(), Some("1"));
    let versions = template_versions(&name).await;
    assert_eq!(versions.len(), 1);
    assert!(
        versions[0].1.starts_with("converge:content-hash="),
        "{versions:?}"
    );
    let tags: BTreeMap<String, bool> = g
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap().to_string(),
                t.propagate_at_launch().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tags.get("team"),
        Some(&true),
        "a tag map propagates at launch"
    );
    assert_eq!(suspended(&g), BTreeSet::from(["AZRebalance".to_string()]));
    assert!(policies(&name).await.contains_key("ScaleUp"));
    let lt_tags = ec2()
        .describe_launch_templates()
        .launch_template_names(&name)
        .send()
        .await
        .unwrap();
    assert!(lt_tags.launch_templates()[0]
        .tags()
        .iter()
        .any(|t| t.key() == Some("converge:managed-by") && t.value() == Some(id.as_str())));

    let second = apply(&dir, &id, &[]);
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let line = calls_line(&stderr(&second));
    eprintln!("no-change apply (launch template): {line}");
    for op in MUTATING {
        assert!(
            !line.contains(&format!(".{op} ")),
            "no-change apply called {op}: {line}"
        );
    }
    assert!(line.contains("EC2.DescribeLaunchTemplates 1"), "{line}");
    assert_eq!(template_versions(&name).await.len(), 1, "no new version");

    // A change makes version 2 and pins the group to it.
    d.write("asg.yaml", &template_group(&name, "t3.small"));
    let third = apply(&dir, &id, &[]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    let versions = template_versions(&name).await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_ne!(versions[0].1, versions[1].1);
    assert_eq!(
        group(&name)
            .await
            .unwrap()
            .launch_template()
            .and_then(|t| t.version()),
        Some("2")
    );

    // A version made just before a crash (here: by hand, with the hash converge would record)
    // is found and used instead of making another.
    d.write("asg.yaml", &template_group(&name, "t3.micro"));
    let back = versions[0].1.clone();
    ec2()
        .create_launch_template_version()
        .launch_template_name(&name)
        .version_description(&back)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-fakeami")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let fourth = apply(&dir, &id, &[]);
    assert_eq!(fourth.status.code(), Some(0), "{}", stderr(&fourth));
    assert!(
        !calls_line(&stderr(&fourth)).contains("CreateLaunchTemplateVersion"),
        "{}",
        calls_line(&stderr(&fourth))
    );
    assert_eq!(template_versions(&name).await.len(), 3);
    assert_eq!(
        group(&name)
            .await
            .unwrap()
            .launch_template()
            .and_then(|t| t.version()),
        Some("3")
    );
}

#[tokio::test]
async fn two_groups_cost_one_listing_and_prune_deletes_the_one_no_longer_desired() {
    let keep = unique("keep");
    let gone = unique("gone");
    let id = unique("ctl");
    let lc = |name: &str| {
        asg_doc(
            name,
            "launch_config: {image_id: ami-fakeami, instance_type: t3.micro}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 1\n",
        )
    };
    let d = Desired::new();
    d.write("a.yaml", &lc(&keep));
    d.write("b.yaml", &lc(&gone));
    let dir = d.path_str();
    let first = apply(&dir, &id, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // Two groups, still one listing of each: reads do not grow with the number of groups.
    let again = apply(&dir, &id, &[]);
    let line = calls_line(&stderr(&again));
    eprintln!("no-change apply (two groups): {line}");
    assert!(
        stdout(&again).contains("0 change(s) applied"),
        "{}",
        stdout(&again)
    );
    for op in MUTATING {
        assert!(
            !line.contains(&format!(".{op} ")),
            "no-change apply called {op}: {line}"
        );
    }
    for read in [
        "Auto Scaling.DescribeAutoScalingGroups",
        "Auto Scaling.DescribeLaunchConfigurations",
        "Auto Scaling.DescribePolicies",
    ] {
        assert_eq!(count(&line, read), 1, "{read}: {line}");
    }
    assert_eq!(count(&line, "EC2.DescribeLaunchTemplates"), 0, "{line}");

    let gone_lc = group(&gone)
        .await
        .unwrap()
        .launch_configuration_name()
        .unwrap()
        .to_string();

    d.remove("b.yaml");
    let without = apply(&dir, &id, &[]);
    assert_eq!(without.status.code(), Some(0), "{}", stderr(&without));
    assert!(group(&gone).await.is_some(), "no deletion without --prune");

    let pruned = apply(&dir, &id, &["--prune"]);
    assert_eq!(pruned.status.code(), Some(0), "{}", stderr(&pruned));
    assert!(group(&gone).await.is_none(), "{}", stdout(&pruned));
    assert!(group(&keep).await.is_some());
    let lcs = launch_configuration_names().await;
    assert!(!lcs.contains(&gone_lc), "its launch configuration went too");
    assert!(
        lcs.iter().any(|l| is_hashed_name(l, &keep)),
        "the kept group's stays"
    );
}
