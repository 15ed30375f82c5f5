//! `kind: LoadBalancer` (classic ELB) end to end against moto (patched: see
//! scripts/moto_patches.py) and the real binary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_elasticloadbalancing::types::{LoadBalancerAttributes, LoadBalancerDescription};

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

const MUTATING: &[&str] = &[
    "CreateLoadBalancer",
    "CreateLoadBalancerListeners",
    "DeleteLoadBalancerListeners",
    "DeleteLoadBalancer",
    "ConfigureHealthCheck",
    "ModifyLoadBalancerAttributes",
    "ApplySecurityGroupsToLoadBalancer",
    "EnableAvailabilityZonesForLoadBalancer",
    "DisableAvailabilityZonesForLoadBalancer",
    "AttachLoadBalancerToSubnets",
    "DetachLoadBalancerFromSubnets",
    "AddTags",
    "RemoveTags",
];

const CERT: &str = "arn:aws:iam::123456789012:server-certificate/a-certificate";

/// The seed's load balancer (myapp-testing-useast1), without its cnames.
fn seed_spec(prefix: &str) -> String {
    format!(
        "availability_zones:
  - us-east-1a
  - us-east-1d
  - us-east-1e
listeners:
  - elb_port: 80
    instance_port: 80
    elb_protocol: HTTP
  - elb_port: 443
    instance_port: 80
    elb_protocol: HTTPS
    instance_protocol: HTTP
    certificate: '{CERT}'
health_check:
  target: 'HTTP:80/'
attributes:
  access_log:
    enabled: true
    s3_bucket_name: 'logs'
    s3_bucket_prefix: '{prefix}'
    emit_interval: '5'
"
    )
}

fn lb_doc(name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!("---\napiVersion: converge/v1\nkind: LoadBalancer\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

fn elb() -> aws_sdk_elasticloadbalancing::Client {
    aws_sdk_elasticloadbalancing::Client::new(&sdk_config(AREA))
}

async fn describe(
    elb: &aws_sdk_elasticloadbalancing::Client,
    name: &str,
) -> Option<LoadBalancerDescription> {
    elb.describe_load_balancers()
        .load_balancer_names(name)
        .send()
        .await
        .ok()?
        .load_balancer_descriptions()
        .first()
        .cloned()
}

async fn attributes(
    elb: &aws_sdk_elasticloadbalancing::Client,
    name: &str,
) -> LoadBalancerAttributes {
    elb.describe_load_balancer_attributes()
        .load_balancer_name(name)
        .send()
        .await
        .expect("describe attributes")
        .load_balancer_attributes()
        .cloned()
        .expect("attributes")
}

async fn tags(elb: &aws_sdk_elasticloadbalancing::Client, name: &str) -> BTreeMap<String, String> {
    elb.describe_tags()
        .load_balancer_names(name)
        .send()
        .await
        .expect("describe tags")
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Listeners as `port → "PROTO:port>PROTO:port cert"`.
fn listeners(d: &LoadBalancerDescription) -> BTreeMap<i32, String> {
    d.listener_descriptions()
        .iter()
        .filter_map(|l| l.listener())
        .map(|l| {
            (
                l.load_balancer_port(),
                format!(
                    "{}:{}>{}:{} {}",
                    l.protocol(),
                    l.load_balancer_port(),
                    l.instance_protocol().unwrap_or("-"),
                    l.instance_port(),
                    l.ssl_certificate_id().unwrap_or("-")
                ),
            )
        })
        .collect()
}

fn seed_listeners() -> BTreeMap<i32, String> {
    BTreeMap::from([
        (80, "HTTP:80>HTTP:80 -".to_string()),
        (443, format!("HTTPS:443>HTTP:80 {CERT}")),
    ])
}

fn health(d: &LoadBalancerDescription) -> Option<(String, i32, i32, i32, i32)> {
    d.health_check().map(|h| {
        (
            h.target().to_string(),
            h.interval(),
            h.timeout(),
            h.healthy_threshold(),
            h.unhealthy_threshold(),
        )
    })
}

fn calls_line(out: &std::process::Output) -> String {
    stderr(out)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string()
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
}

#[tokio::test]
async fn the_seed_load_balancer_converges_in_one_apply_and_a_second_apply_writes_nothing() {
    let elb = elb();
    let name = unique("seed");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("elb.yaml", &lb_doc(&name, &seed_spec(&name)));
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains(&format!("LoadBalancer {name}: create")),
        "{}",
        stdout(&plan)
    );
    assert!(
        describe(&elb, &name).await.is_none(),
        "plan must not create"
    );

    let first = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_ok(&first, "first apply");
    assert!(
        stdout(&first).contains("1 resource(s) converged, 0 not"),
        "{}",
        stdout(&first)
    );
    let lb = describe(&elb, &name).await.expect("load balancer created");
    assert_eq!(listeners(&lb), seed_listeners());
    assert_eq!(
        health(&lb),
        Some(("HTTP:80/".to_string(), 30, 5, 10, 2)),
        "the written target, AWS's defaults for the rest"
    );
    assert_eq!(
        lb.availability_zones(),
        ["us-east-1a", "us-east-1d", "us-east-1e"]
    );
    assert_eq!(lb.scheme(), Some("internet-facing"));
    let log = attributes(&elb, &name).await.access_log().cloned().unwrap();
    assert!(log.enabled());
    assert_eq!(log.s3_bucket_name(), Some("logs"));
    assert_eq!(log.s3_bucket_prefix(), Some(name.as_str()));
    assert_eq!(log.emit_interval(), Some(5));
    assert_eq!(
        tags(&elb, &name).await.get("converge:managed-by"),
        Some(&id)
    );

    let second = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_ok(&second, "second apply");
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let line = calls_line(&second);
    eprintln!("no-change apply: {line}");
    for op in MUTATING {
        assert!(
            !line.contains(&format!(".{op} ")),
            "no-change apply called {op}: {line}"
        );
    }
    for read in [
        "Elastic Load Balancing.DescribeLoadBalancers 1",
        "Elastic Load Balancing.DescribeTags 1",
        "Elastic Load Balancing.DescribeLoadBalancerAttributes 1",
    ] {
        assert!(line.contains(read), "expected `{read}` in {line}");
    }

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

/// Polls moto until `cond` holds for the load balancer, failing after `secs`.
async fn wait_lb(
    elb: &aws_sdk_elasticloadbalancing::Client,
    name: &str,
    what: &str,
    secs: u64,
    run: &Running,
    cond: impl Fn(&LoadBalancerDescription) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if describe(elb, name).await.as_ref().is_some_and(&cond) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; logs:\n{}",
            run.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_out_of_band_health_check_and_deleted_listener_are_corrected_on_resync() {
    let elb = elb();
    let name = unique("drift");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("elb.yaml", &lb_doc(&name, &seed_spec(&name)));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("the load balancer converged", 60, |r| {
        r.metric("converge_resources{kind=\"LoadBalancer\",state=\"converged\"}") == 1.0
    });

    // No-change resyncs write nothing.
    let before = calls(&run.metrics(), MUTATING);
    run.wait_sweeps("LoadBalancer", 2.0, 30);
    assert_eq!(
        calls(&run.metrics(), MUTATING),
        before,
        "a no-change sweep wrote to AWS"
    );
    assert_eq!(
        run.metric("converge_drift_detected_total{kind=\"LoadBalancer\"}"),
        0.0
    );

    // Someone changes the health check and deletes the HTTPS listener in the console.
    elb.configure_health_check()
        .load_balancer_name(&name)
        .health_check(
            aws_sdk_elasticloadbalancing::types::HealthCheck::builder()
                .target("TCP:8080")
                .interval(10)
                .timeout(3)
                .healthy_threshold(3)
                .unhealthy_threshold(3)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    elb.delete_load_balancer_listeners()
        .load_balancer_name(&name)
        .load_balancer_ports(443)
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe(&elb, &name).await.map(|d| listeners(&d).len()),
        Some(1)
    );

    wait_lb(
        &elb,
        &name,
        "health check and listener restored",
        30,
        &run,
        |d| {
            listeners(d) == seed_listeners()
                && health(d) == Some(("HTTP:80/".to_string(), 30, 5, 10, 2))
        },
    )
    .await;
    run.wait_for("drift counted", 10, |r| {
        r.metric("converge_drift_detected_total{kind=\"LoadBalancer\"}") >= 1.0
    });
    let m = run.metrics();
    assert_eq!(
        calls(&m, &["CreateLoadBalancerListeners"]),
        1.0,
        "only the deleted listener is created again"
    );
    assert_eq!(calls(&m, &["DeleteLoadBalancerListeners"]), 0.0);
    assert_eq!(calls(&m, &["CreateLoadBalancer"]), 1.0);
}

#[tokio::test]
async fn a_listener_port_change_replaces_only_that_listener() {
    let elb = elb();
    let name = unique("port");
    let id = unique("ctl");
    let d = Desired::new();
    let spec = seed_spec(&name);
    d.write("elb.yaml", &lb_doc(&name, &spec));
    let dir = d.path_str();
    assert_ok(
        &converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]),
        "first apply",
    );

    d.write(
        "elb.yaml",
        &lb_doc(&name, &spec.replace("elb_port: 443", "elb_port: 8443")),
    );
    let out = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_ok(&out, "apply with the new port");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "listeners.443: HTTPS:443 to HTTP:80 [{CERT}] → (none)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "listeners.8443: (none) → HTTPS:8443 to HTTP:80 [{CERT}]"
        )),
        "{text}"
    );
    assert!(
        !text.contains("listeners.80:"),
        "port 80 was touched: {text}"
    );
    let line = calls_line(&out);
    assert!(
        line.contains("Elastic Load Balancing.DeleteLoadBalancerListeners 1"),
        "{line}"
    );
    assert!(
        line.contains("Elastic Load Balancing.CreateLoadBalancerListeners 1"),
        "{line}"
    );
    let lb = describe(&elb, &name).await.unwrap();
    assert_eq!(
        listeners(&lb),
        BTreeMap::from([
            (80, "HTTP:80>HTTP:80 -".to_string()),
            (8443, format!("HTTPS:8443>HTTP:80 {CERT}")),
        ])
    );
}

#[tokio::test]
async fn security_groups_by_name_wait_for_the_group_and_ids_pass_through() {
    let elb = elb();
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(AREA));
    let id = unique("ctl");

    // By id: a group made out of band.
    let by_id = unique("sgid");
    let sg = ec2
        .create_security_group()
        .group_name(unique("oob-group"))
        .description("made out of band")
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    // By name: a group defined in the same desired tree.
    let by_name = unique("sgname");
    let group = unique("web");
    let d = Desired::new();
    d.write(
        "elb.yaml",
        &format!(
            "{}{}---\napiVersion: converge/v1\nkind: SecurityGroup\nmetadata:\n  name: {group}\nspec:\n  description: web tier\n",
            lb_doc(&by_id, &format!("{}security_groups: [{sg}]\n", seed_spec(&by_id))),
            lb_doc(&by_name, &format!("{}security_groups: {group}\n", seed_spec(&by_name))),
        ),
    );
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert!(
        stdout(&plan).contains(&format!(
            "LoadBalancer {by_name}: waiting for SecurityGroup/{group}"
        )),
        "{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains(&format!("LoadBalancer {by_id}: create")),
        "{}",
        stdout(&plan)
    );

    let out = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_ok(&out, "apply");
    assert_eq!(
        describe(&elb, &by_id).await.unwrap().security_groups(),
        [sg]
    );
    let group_id = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values(&group)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_groups()
        .first()
        .and_then(|g| g.group_id().map(String::from))
        .expect("the desired group was created");
    assert_eq!(
        describe(&elb, &by_name).await.unwrap().security_groups(),
        [group_id]
    );
}

#[tokio::test]
async fn an_existing_load_balancer_is_adopted_and_pruned_once_no_longer_desired() {
    let elb = elb();
    let keep = unique("keep");
    let adopt = unique("adopt");
    let id = unique("ctl");
    // Made in the console: untagged but for a stray tag, and with the default health check.
    elb.create_load_balancer()
        .load_balancer_name(&adopt)
        .availability_zones("us-east-1a")
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_port(80)
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_elasticloadbalancing::types::Tag::builder()
                .key("stray")
                .value("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Owned by another controller, and not desired here.
    let other = unique("other");
    elb.create_load_balancer()
        .load_balancer_name(&other)
        .availability_zones("us-east-1a")
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("TCP")
                .load_balancer_port(25)
                .instance_port(25)
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_elasticloadbalancing::types::Tag::builder()
                .key("converge:managed-by")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let small = "availability_zones: [us-east-1a]\nlisteners:\n  - {elb_port: 80, instance_port: 80, elb_protocol: HTTP}\ntags: {team: ops}\n";
    let d = Desired::new();
    d.write("keep.yaml", &lb_doc(&keep, small));
    d.write("adopt.yaml", &lb_doc(&adopt, small));
    let dir = d.path_str();
    assert_ok(
        &converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]),
        "apply",
    );
    let t = tags(&elb, &adopt).await;
    assert_eq!(
        t,
        BTreeMap::from([
            ("converge:managed-by".to_string(), id.clone()),
            ("team".to_string(), "ops".to_string()),
        ])
    );

    d.remove("adopt.yaml");
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &dir,
            "--controller-id",
            &id,
            "--prune",
        ],
    );
    assert_ok(&out, "apply --prune");
    assert!(describe(&elb, &adopt).await.is_none(), "{}", stdout(&out));
    assert!(describe(&elb, &keep).await.is_some());
    // Another controller's load balancer, not desired here, is left alone.
    assert!(describe(&elb, &other).await.is_some());
    assert!(
        calls_line(&out).contains("Elastic Load Balancing.DeleteLoadBalancer 1"),
        "{}",
        calls_line(&out)
    );
}

#[tokio::test]
async fn cnames_become_dns_records_pointing_at_the_load_balancer() {
    let elb = elb();
    let r53 = aws_sdk_route53::Client::new(&sdk_config(AREA));
    let name = unique("cname");
    let id = unique("ctl");
    let zone = format!("{}.example.com.", unique("zone"));
    let zone_id = create_zone(&r53, &zone).await;
    let record = format!("myapp-testing.{zone}");
    let d = Desired::new();
    d.write(
        "elb.yaml",
        &lb_doc(
            &name,
            &format!(
                "{}cnames:\n  - name: {record}\n    zone: {zone}\n",
                seed_spec(&name)
            ),
        ),
    );
    let dir = d.path_str();

    // The record waits for the load balancer's DNS name.
    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert!(
        stdout(&plan).contains(&format!(
            "DnsRecord {record}: waiting for LoadBalancer/us-east-1/{name}"
        )),
        "{}",
        stdout(&plan)
    );

    let out = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_ok(&out, "apply");
    assert!(
        stdout(&out).contains("2 resource(s) converged, 0 not"),
        "{}",
        stdout(&out)
    );
    let dns = describe(&elb, &name)
        .await
        .unwrap()
        .dns_name()
        .unwrap()
        .to_string();
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let cname = sets
        .resource_record_sets()
        .iter()
        .find(|s| s.name() == record && s.r#type().as_str() == "CNAME")
        .unwrap_or_else(|| panic!("no CNAME {record} in {sets:?}"));
    assert_eq!(cname.ttl(), Some(300));
    assert_eq!(
        cname
            .resource_records()
            .iter()
            .map(|r| r.value().trim_end_matches('.'))
            .collect::<Vec<_>>(),
        [dns.as_str()],
        "the value is the load balancer's DNS name (a trailing dot is the DnsRecord kind's choice)"
    );

    let again = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_ok(&again, "second apply");
    assert!(
        stdout(&again).contains("0 change(s) applied"),
        "{}",
        stdout(&again)
    );
}
