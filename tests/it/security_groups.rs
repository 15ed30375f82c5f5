//! `kind: SecurityGroup` end to end, against a real moto server and the real binary.

use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, SecurityGroup, Tag, TagSpecification};

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

const MUTATING: &[&str] = &[
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateTags",
    "DeleteTags",
    "DeleteSecurityGroup",
];

/// A `kind: SecurityGroup` manifest.
fn sg_doc(name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!("---\napiVersion: converge/v1\nkind: SecurityGroup\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(AREA))
}

/// The group of that name (the test names are unique, so at most one).
async fn group(ec2: &aws_sdk_ec2::Client, name: &str) -> Option<SecurityGroup> {
    ec2.describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .expect("describe security groups")
        .security_groups()
        .first()
        .cloned()
}

/// Every permission of a group as `proto from-to source`, sorted, one per source.
fn perms(list: &[IpPermission]) -> Vec<String> {
    let mut out = Vec::new();
    for p in list {
        let head = format!(
            "{} {}-{}",
            p.ip_protocol().unwrap_or("?"),
            p.from_port().map(|v| v.to_string()).unwrap_or_default(),
            p.to_port().map(|v| v.to_string()).unwrap_or_default()
        );
        for r in p.ip_ranges() {
            out.push(format!("{head} {}", r.cidr_ip().unwrap_or("?")));
        }
        for r in p.ipv6_ranges() {
            out.push(format!("{head} {}", r.cidr_ipv6().unwrap_or("?")));
        }
        for g in p.user_id_group_pairs() {
            out.push(format!("{head} {}", g.group_id().unwrap_or("?")));
        }
    }
    out.sort();
    out
}

fn tags(g: &SecurityGroup) -> std::collections::BTreeMap<String, String> {
    g.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn calls_line(o: &std::process::Output) -> String {
    stderr(o)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string()
}

/// How often `EC2.<op>` appears in an `AWS API calls:` line.
fn count_in(line: &str, op: &str) -> u64 {
    line.split([',', '('])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(&format!("EC2.{op} ")))
        .and_then(|n| n.trim_end_matches(')').parse().ok())
        .unwrap_or(0)
}

/// Sum of `converge_reconcile_errors_total` for kind SecurityGroup, every class.
fn sg_errors(run: &Running) -> f64 {
    run.metrics()
        .lines()
        .filter(|l| {
            l.starts_with("converge_reconcile_errors_total{")
                && l.contains("kind=\"SecurityGroup\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn resource(run: &Running, name: &str) -> serde_json::Value {
    let status = run.status();
    kind_status(&status, "SecurityGroup")["resources"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name).cloned())
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn apply_converges_groups_that_refer_to_each_other_and_a_second_apply_changes_nothing() {
    let ec2 = ec2();
    let p = unique("sg");
    let id = unique("ctl");
    let (web, lb) = (format!("{p}-web"), format!("{p}-lb"));
    let d = Desired::new();
    // web (read first) names lb (read second) as a source; lb names web as an egress
    // destination: each file refers to a group of the other, in both reading orders.
    d.write(
        "a.yaml",
        &sg_doc(
            &web,
            &format!(
                "description: {web} security group\nrules:\n  - ip_protocol: '6'\n    from_port: 80\n    to_port: 80\n    source_group_name: {lb}\n  - ip_protocol: tcp\n    from_port: 22\n    to_port: 22\n    cidr_ip: [10.0.0.0/8, 192.168.0.0/16]\n  - ip_protocol: all\n    from_port: -1\n    to_port: -1\n    cidr_ip: 172.16.0.0/12\ntags:\n  team: web\n"
            ),
        ),
    );
    d.write(
        "b.yaml",
        &sg_doc(
            &lb,
            &format!(
                "description: {lb} security group\nrules:\n  - {{ip_protocol: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0}}\nrules_egress:\n  - {{ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: {web}}}\n"
            ),
        ),
    );
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(2), "plan: {}", stderr(&plan));
    let out = stdout(&plan);
    assert!(
        out.contains(&format!("SecurityGroup {web}: create")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "rules (after creation): (none) → tcp 80 from SecurityGroup/{lb} (once it exists)"
        )),
        "{out}"
    );
    assert!(
        out.contains("rules: (none) → tcp 22 from 10.0.0.0/8"),
        "{out}"
    );
    assert!(group(&ec2, &web).await.is_none(), "plan must not create");

    let first = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "apply: {}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("2 resource(s) converged, 0 not"),
        "{}",
        stdout(&first)
    );

    let w = group(&ec2, &web).await.expect("web exists");
    let l = group(&ec2, &lb).await.expect("lb exists");
    let (wid, lid) = (w.group_id().unwrap(), l.group_id().unwrap());
    assert_eq!(
        w.description(),
        Some(format!("{web} security group").as_str())
    );
    assert_eq!(tags(&w).get("converge:managed-by"), Some(&id));
    assert_eq!(tags(&w).get("team").map(String::as_str), Some("web"));
    assert_eq!(
        perms(w.ip_permissions()),
        vec![
            "-1 - 172.16.0.0/12".to_string(),
            "tcp 22-22 10.0.0.0/8".to_string(),
            "tcp 22-22 192.168.0.0/16".to_string(),
            format!("tcp 80-80 {lid}"),
        ]
    );
    // rules_egress not written: AWS's default allow-all egress stays.
    assert_eq!(perms(w.ip_permissions_egress()), vec!["-1 - 0.0.0.0/0"]);
    assert_eq!(perms(l.ip_permissions()), vec!["tcp 443-443 0.0.0.0/0"]);
    // rules_egress written: authoritative, the default rule is gone.
    assert_eq!(
        perms(l.ip_permissions_egress()),
        vec![format!("tcp 80-80 {wid}")]
    );

    let second = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let line = calls_line(&second);
    eprintln!("no-change apply: {line}");
    for op in MUTATING {
        assert!(!line.contains(op), "no-change apply called {op}: {line}");
    }
    assert_eq!(count_in(&line, "DescribeSecurityGroups"), 1, "{line}");
    assert!(count_in(&line, "DescribeVpcs") <= 1, "{line}");

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    assert!(
        stdout(&plan).contains("0 to change, 0 to delete, 2 in sync"),
        "{}",
        stdout(&plan)
    );
}

#[tokio::test]
async fn drift_in_rules_is_corrected_within_a_resync() {
    let ec2 = ec2();
    let p = unique("sgdrift");
    let id = unique("ctl");
    let name = format!("{p}-app");
    let d = Desired::new();
    d.write(
        "sg.yaml",
        &sg_doc(
            &name,
            "description: app\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: tcp, from_port: 443, to_port: 443, cidr_ip: 10.0.0.0/8}\n",
        ),
    );
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("the group converged", 30, |r| {
        r.metric("converge_resources{kind=\"SecurityGroup\",state=\"converged\"}") == 1.0
    });

    // No-change sweeps write nothing and read with one DescribeSecurityGroups each.
    let before = calls(&run.metrics(), MUTATING);
    run.wait_sweeps("SecurityGroup", 3.0, 20);
    let m = run.metrics();
    assert_eq!(
        calls(&m, MUTATING),
        before,
        "a no-change sweep wrote to AWS"
    );
    let sweeps = metric_value(
        &m,
        "converge_sweep_duration_seconds_count{kind=\"SecurityGroup\"}",
    )
    .unwrap_or(0.0);
    let lists = calls(&m, &["DescribeSecurityGroups"]);
    assert!(
        lists >= sweeps && lists <= sweeps + 1.0,
        "{lists} DescribeSecurityGroups calls for {sweeps} sweeps"
    );
    assert!(
        calls(&m, &["DescribeVpcs"]) <= 1.0,
        "the default VPC is cached"
    );

    // Someone revokes a rule and opens SSH to the world.
    let gid = group(&ec2, &name)
        .await
        .and_then(|g| g.group_id().map(String::from))
        .expect("group id");
    let rule = |port: i32, cidr: &str| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    };
    ec2.revoke_security_group_ingress()
        .group_id(&gid)
        .ip_permissions(rule(80, "10.0.0.0/8"))
        .send()
        .await
        .expect("revoke out of band");
    ec2.authorize_security_group_ingress()
        .group_id(&gid)
        .ip_permissions(rule(22, "0.0.0.0/0"))
        .send()
        .await
        .expect("authorize out of band");
    let want = vec![
        "tcp 443-443 10.0.0.0/8".to_string(),
        "tcp 80-80 10.0.0.0/8".to_string(),
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = perms(group(&ec2, &name).await.expect("group").ip_permissions());
        if now == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drift not corrected: {now:?}\n{}",
            run.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.wait_for("drift counted", 10, |r| {
        r.metric("converge_drift_detected_total{kind=\"SecurityGroup\"}") >= 1.0
    });
    // One authorize and one revoke (counted just after each call returns).
    run.wait_for("authorize and revoke counted", 10, |r| {
        r.metric("converge_changes_applied_total{action=\"update\",kind=\"SecurityGroup\"}") >= 2.0
    });
    assert!(calls(&run.metrics(), &["RevokeSecurityGroupIngress"]) >= 1.0);
    // The verifying sweep after the correction finds it converged.
    run.wait_for("converged again", 10, |r| {
        resource(r, &name)["state"] == "converged"
    });
}

#[tokio::test]
async fn a_source_group_that_exists_nowhere_is_waited_for_by_name_then_used() {
    let ec2 = ec2();
    let p = unique("sgghost");
    let id = unique("ctl");
    let (name, ghost) = (format!("{p}-app"), format!("{p}-ghost"));
    let d = Desired::new();
    d.write(
        "sg.yaml",
        &sg_doc(
            &name,
            &format!("description: app\nrules:\n  - {{ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: {ghost}}}\n  - {{ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}}\n"),
        ),
    );
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    let waiting = format!("SecurityGroup/{ghost}");
    run.wait_for("waiting for the ghost", 30, |r| {
        resource(r, &name)["waiting_for"] == waiting.as_str()
    });
    run.wait_sweeps("SecurityGroup", 3.0, 20);
    let r = resource(&run, &name);
    assert_eq!(r["state"], "pending", "{r}");
    assert_eq!(r["waiting_for"], waiting.as_str(), "{r}");
    assert!(r["last_error"].is_null(), "{r}");
    assert_eq!(sg_errors(&run), 0.0, "waiting is not an error");
    // The group itself exists with the rules that need no source group.
    let g = group(&ec2, &name).await.expect("created while waiting");
    assert_eq!(perms(g.ip_permissions()), vec!["tcp 22-22 10.0.0.0/8"]);

    // The source group appears (made elsewhere): the next sweep sees it and uses it.
    let gid = ec2
        .create_security_group()
        .group_name(&ghost)
        .description("made by hand")
        .send()
        .await
        .expect("create ghost")
        .group_id()
        .map(String::from)
        .expect("id");
    run.wait_for("converged", 20, |r| {
        resource(r, &name)["state"] == "converged"
    });
    let g = group(&ec2, &name).await.expect("group");
    assert_eq!(
        perms(g.ip_permissions()),
        vec![
            "tcp 22-22 10.0.0.0/8".to_string(),
            format!("tcp 80-80 {gid}")
        ]
    );
    let ghost_group = group(&ec2, &ghost).await.expect("ghost");
    assert!(
        !tags(&ghost_group).contains_key("converge:managed-by"),
        "a referenced group is not adopted"
    );
    assert_eq!(sg_errors(&run), 0.0);
}

#[tokio::test]
async fn the_seed_ec2_classic_source_fails_clearly_and_does_not_spin() {
    let ec2 = ec2();
    let p = unique("sgseed");
    let id = unique("ctl");
    let name = format!("{p}-myapp");
    let d = Desired::new();
    // As in the seed's myapp group, plus a rule that works.
    d.write(
        "sg.yaml",
        &sg_doc(
            &name,
            "description: myapp security group\nrules:\n  - ip_protocol: tcp\n    from_port: 80\n    to_port: 80\n    source_group_name: amazon-elb-sg\n    source_group_owner_id: amazon-elb\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n",
        ),
    );
    let valid = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert_eq!(valid.status.code(), Some(0), "{}", stderr(&valid));
    let started = Instant::now();
    let out = converge(
        AREA,
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
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a terminal error must end apply, not wait for the timeout: {:?}",
        started.elapsed()
    );
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("NOT CONVERGED SecurityGroup {name}")))
        .unwrap_or_else(|| panic!("{text}"));
    for want in [
        "AuthorizeSecurityGroupIngress",
        "tcp 80 from amazon-elb/amazon-elb-sg",
        "InvalidGroup.NotFound",
        "EC2-Classic",
        "source_group_id",
    ] {
        assert!(line.contains(want), "`{want}` missing from: {line}");
    }
    // The group and its other rule are in place; the bad rule was tried once, not in a loop.
    let g = group(&ec2, &name).await.expect("created");
    assert_eq!(perms(g.ip_permissions()), vec!["tcp 22-22 10.0.0.0/8"]);
    let calls = calls_line(&out);
    assert!(
        count_in(&calls, "AuthorizeSecurityGroupIngress") <= 2,
        "{calls}"
    );
    assert_eq!(count_in(&calls, "CreateSecurityGroup"), 1, "{calls}");
}

#[tokio::test]
async fn a_changed_description_is_planned_as_replace_and_never_applied() {
    let ec2 = ec2();
    let p = unique("sgdesc");
    let id = unique("ctl");
    let name = format!("{p}-app");
    let d = Desired::new();
    d.write("sg.yaml", &sg_doc(&name, "description: first words\n"));
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    d.write(
        "sg.yaml",
        &sg_doc(
            &name,
            "description: second words\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n",
        ),
    );
    let plan = converge(
        AREA,
        &["plan", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(plan.status.code(), Some(2), "{}", stdout(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("SecurityGroup {name}: replace")),
        "{text}"
    );
    assert!(
        text.contains("description (immutable): first words → second words"),
        "{text}"
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
            "30s",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("needs replacement"),
        "{}",
        stdout(&out)
    );
    let g = group(&ec2, &name).await.expect("group");
    assert_eq!(g.description(), Some("first words"), "replaced or changed");
    assert_eq!(
        count_in(&calls_line(&out), "CreateSecurityGroup"),
        0,
        "{}",
        calls_line(&out)
    );
    assert_eq!(count_in(&calls_line(&out), "DeleteSecurityGroup"), 0);
    // The mutable part (the new rule) was applied.
    assert_eq!(perms(g.ip_permissions()), vec!["tcp 80-80 10.0.0.0/8"]);
}

#[tokio::test]
async fn an_existing_unowned_group_is_adopted_then_its_rules_and_tags_corrected() {
    let ec2 = ec2();
    let p = unique("sgadopt");
    let id = unique("ctl");
    let name = format!("{p}-legacy");
    let gid = ec2
        .create_security_group()
        .group_name(&name)
        .description("legacy")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(Tag::builder().key("old").value("1").build())
                .build(),
        )
        .send()
        .await
        .expect("create out of band")
        .group_id()
        .map(String::from)
        .expect("id");
    ec2.authorize_security_group_ingress()
        .group_id(&gid)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3389)
                .to_port(3389)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("stray rule");
    let d = Desired::new();
    d.write(
        "sg.yaml",
        &sg_doc(
            &name,
            "description: legacy\nrules:\n  - {ip_protocol: udp, from_port: 53, to_port: 53, cidr_ipv6: '2001:DB8::/32'}\ntags: {team: ops}\n",
        ),
    );
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let tag_at = text
        .find(&format!("SecurityGroup {name}: tag"))
        .unwrap_or(usize::MAX);
    let update_at = text
        .find(&format!("SecurityGroup {name}: update"))
        .unwrap_or(0);
    assert!(
        tag_at < update_at,
        "adopt (tag) before changing rules:\n{text}"
    );
    let g = group(&ec2, &name).await.expect("group");
    assert_eq!(g.group_id(), Some(gid.as_str()), "adopted, not recreated");
    let t = tags(&g);
    assert_eq!(t.get("converge:managed-by"), Some(&id));
    assert_eq!(t.get("team").map(String::as_str), Some("ops"));
    assert!(!t.contains_key("old"), "{t:?}");
    assert_eq!(perms(g.ip_permissions()), vec!["udp 53-53 2001:db8::/32"]);
}

#[tokio::test]
async fn prune_deletes_only_owned_groups() {
    let ec2 = ec2();
    let p = unique("sgprune");
    let id = unique("ctl");
    let (keep, old, unowned) = (
        format!("{p}-keep"),
        format!("{p}-old"),
        format!("{p}-unowned"),
    );
    let d = Desired::new();
    d.write(
        "sg.yaml",
        &format!(
            "{}{}",
            sg_doc(&keep, "description: keep\n"),
            sg_doc(&old, "description: old\n")
        ),
    );
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    ec2.create_security_group()
        .group_name(&unowned)
        .description("not ours")
        .send()
        .await
        .expect("create unowned");

    d.write("sg.yaml", &sg_doc(&keep, "description: keep\n"));
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--controller-id",
            &id,
            "--prune",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains(&format!("SecurityGroup {old}: delete")),
        "{}",
        stdout(&out)
    );
    assert!(group(&ec2, &old).await.is_none(), "owned group not pruned");
    assert!(group(&ec2, &keep).await.is_some());
    assert!(
        group(&ec2, &unowned).await.is_some(),
        "pruned an unowned group"
    );
}

#[tokio::test]
async fn vpc_name_finds_the_vpc_by_its_name_tag_at_run_time() {
    let ec2 = ec2();
    let name = unique("sg-named-vpc");
    let vpc_name = unique("vpc");
    let id = unique("ctl");
    let d = Desired::new();
    d.write(
        "g.yaml",
        &sg_doc(
            &name,
            &format!("description: in a named VPC\nvpc_name: {vpc_name}\n"),
        ),
    );
    // No VPC of that name yet: the group waits (retried), nothing is created elsewhere.
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--controller-id",
            &id,
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("no VPC named `{vpc_name}`")),
        "{}",
        stderr(&out)
    );
    assert!(group(&ec2, &name).await.is_none());
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Name")
                        .value(&vpc_name)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let g = group(&ec2, &name).await.expect("created");
    assert_eq!(g.vpc_id(), Some(vpc_id.as_str()));
    // In sync: the next plan has nothing to do.
    let plan = converge(
        AREA,
        &["plan", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}
