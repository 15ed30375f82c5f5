//! `kind: DnsRecord` end to end: the real binary against moto's Route 53.
//!
//! Every test creates its own hosted zones, named `<unique>.example.com.` (the tests of this
//! file share one moto, so a bare `example.com.` would be one zone name held by several
//! zones), and uses its own controller id.

use crate::common::*;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

const MUTATING: &[&str] = &["ChangeResourceRecordSets"];

fn route53() -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sdk_config(AREA))
}

/// Every record set of a zone.
async fn records(r53: &aws_sdk_route53::Client, zone: &str) -> Vec<ResourceRecordSet> {
    let mut out = Vec::new();
    let mut start: Option<(String, RrType)> = None;
    loop {
        let mut req = r53.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((n, t)) = &start {
            req = req.start_record_name(n).start_record_type(t.clone());
        }
        let page = req.send().await.expect("list record sets");
        out.extend(page.resource_record_sets().iter().cloned());
        match (page.next_record_name(), page.next_record_type()) {
            (Some(n), Some(t)) if page.is_truncated() => start = Some((n.into(), t.clone())),
            _ => return out,
        }
    }
}

/// The record set at `name`/`rtype`, if any.
async fn record(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    rtype: &str,
) -> Option<ResourceRecordSet> {
    records(r53, zone).await.into_iter().find(|r| {
        r.name().trim_end_matches('.') == name.trim_end_matches('.') && r.r#type().as_str() == rtype
    })
}

/// Sorted values of the record set at `name`/`rtype` (empty when it does not exist).
async fn values(r53: &aws_sdk_route53::Client, zone: &str, name: &str, rtype: &str) -> Vec<String> {
    let mut v: Vec<String> = record(r53, zone, name, rtype)
        .await
        .map(|r| {
            r.resource_records()
                .iter()
                .map(|v| v.value().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// UPSERTs record sets out of band (as an operator in the console would).
async fn upsert(r53: &aws_sdk_route53::Client, zone: &str, sets: &[(&str, &str, &[&str])]) {
    let mut batch = ChangeBatch::builder();
    for (name, rtype, vals) in sets {
        let mut rs = ResourceRecordSet::builder()
            .name(*name)
            .r#type(RrType::from(*rtype))
            .ttl(300);
        for v in *vals {
            rs = rs.resource_records(ResourceRecord::builder().value(*v).build().unwrap());
        }
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(rs.build().unwrap())
                .build()
                .unwrap(),
        );
    }
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .expect("out-of-band upsert");
}

/// A `kind: DnsRecord` manifest.
fn dns_doc(name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "---\napiVersion: converge/v1\nkind: DnsRecord\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// The ownership record's value for `resource` owned by `owner`.
fn ownership(owner: &str, resource: &str) -> String {
    format!("\"heritage=converge,owner={owner},resource={resource}\"")
}

/// How often the `AWS API calls:` line names `operation` (`Route 53.<operation> N`).
fn call_count(line: &str, operation: &str) -> u64 {
    let key = format!("Route 53.{operation} ");
    line.split(['(', ',', ')'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(&key)?.parse().ok())
        .unwrap_or(0)
}

/// The `AWS API calls:` line `apply` prints on stderr.
fn calls_line(o: &std::process::Output) -> String {
    stderr(o)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn apply_converges_from_empty_and_a_second_apply_changes_nothing() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("apply"));
    let zone = create_zone(&r53, &zname).await;
    let id = unique("ctl");
    let www = format!("www.{zname}");
    let api = format!("api.{zname}");
    let d = Desired::new();
    d.write(
        "dns.yaml",
        &format!(
            "{}{}",
            dns_doc(
                &www,
                &format!("zone: {zname}\ntype: CNAME\nvalues: [Target.Example.org]\n")
            ),
            // Zone omitted: the longest matching zone; values compare as a set.
            dns_doc(
                "api",
                &format!("name: {api}\ntype: A\nttl: 60\nvalues: [192.0.2.11, 192.0.2.10]\n")
            ),
        ),
    );
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains(&format!("DnsRecord {www}: create")),
        "{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("values: (none) → 192.0.2.10, 192.0.2.11"),
        "{}",
        stdout(&plan)
    );
    assert!(
        values(&r53, &zone, &www, "CNAME").await.is_empty(),
        "plan must not create"
    );

    let first = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("2 resource(s) converged, 0 not"),
        "{}",
        stdout(&first)
    );
    assert_eq!(
        values(&r53, &zone, &www, "CNAME").await,
        vec!["target.example.org.".to_string()]
    );
    assert_eq!(
        values(&r53, &zone, &api, "A").await,
        vec!["192.0.2.10".to_string(), "192.0.2.11".to_string()]
    );
    assert_eq!(
        record(&r53, &zone, &api, "A").await.unwrap().ttl(),
        Some(60)
    );
    assert_eq!(
        values(&r53, &zone, &format!("_converge-owner.cname.{www}"), "TXT").await,
        vec![ownership(&id, &www)]
    );
    assert_eq!(
        values(&r53, &zone, &format!("_converge-owner.a.{api}"), "TXT").await,
        vec![ownership(&id, "api")]
    );
    // One batch per record (record and ownership together), nothing else.
    assert_eq!(
        call_count(&calls_line(&first), "ChangeResourceRecordSets"),
        2,
        "{}",
        calls_line(&first)
    );

    let second = converge(AREA, &["apply", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let calls = calls_line(&second);
    for op in MUTATING {
        assert!(!calls.contains(op), "no-change apply called {op}: {calls}");
    }
    // One zone listing and one walk of the one zone both records live in.
    assert_eq!(call_count(&calls, "ListHostedZones"), 1, "{calls}");
    assert_eq!(call_count(&calls, "ListResourceRecordSets"), 1, "{calls}");

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    assert!(
        stdout(&plan).contains("0 to change, 0 to delete, 2 in sync"),
        "{}",
        stdout(&plan)
    );
}

#[tokio::test]
async fn a_repointed_cname_is_corrected_on_resync_and_counted_as_drift() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("drift"));
    let zone = create_zone(&r53, &zname).await;
    let id = unique("ctl");
    let www = format!("www.{zname}");
    let d = Desired::new();
    d.write(
        "dns.yaml",
        &dns_doc(&www, "type: CNAME\nvalues: [good.example.org.]\n"),
    );
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("1 converged record", 30, |r| {
        r.metric("converge_resources{kind=\"DnsRecord\",state=\"converged\"}") == 1.0
    });

    // A no-change resync writes nothing.
    let before = calls(&run.metrics(), MUTATING);
    assert!(before >= 1.0, "one batch created the record and its owner");
    run.wait_sweeps("DnsRecord", 2.0, 20);
    assert_eq!(
        calls(&run.metrics(), MUTATING),
        before,
        "a no-change sweep wrote"
    );

    // Someone repoints the CNAME in the console.
    upsert(&r53, &zone, &[(&www, "CNAME", &["evil.example.org."])]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let v = values(&r53, &zone, &www, "CNAME").await;
        if v == ["good.example.org."] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "drift not corrected: {v:?}\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // AWS shows the fix before converge has recorded it: wait for the record of it.
    run.wait_for("the correction counted as drift", 10, |r| {
        r.metric("converge_drift_detected_total{kind=\"DnsRecord\"}") >= 1.0
            && r.metric("converge_changes_applied_total{action=\"update\",kind=\"DnsRecord\"}")
                >= 1.0
    });
    run.wait_for("the correction in /status", 10, |r| {
        let status = r.status();
        let x = &kind_status(&status, "DnsRecord")["resources"][0];
        x["name"] == www.as_str() && x["state"] == "converged" && x["last_change"].is_string()
    });
}

#[tokio::test]
async fn prune_deletes_only_records_with_our_ownership_record() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("prune"));
    let zone = create_zone(&r53, &zname).await;
    let id = unique("ctl");
    let keep = format!("keep.{zname}");
    let old = format!("old.{zname}");
    let stray = format!("stray.{zname}");
    let foreign = format!("foreign.{zname}");
    let d = Desired::new();
    d.write(
        "dns.yaml",
        &format!(
            "{}{}",
            dns_doc(&keep, "type: A\nvalues: [192.0.2.1]\n"),
            dns_doc(&old, "type: A\nvalues: [192.0.2.2]\n")
        ),
    );
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Out of band: a record without ownership, and one another controller owns.
    let foreign_owner = format!("_converge-owner.a.{foreign}");
    let foreign_txt = ownership("someone-else", &foreign);
    upsert(
        &r53,
        &zone,
        &[
            (&stray, "A", &["192.0.2.3"]),
            (&foreign, "A", &["192.0.2.4"]),
            (&foreign_owner, "TXT", &[&foreign_txt]),
        ],
    )
    .await;

    d.write(
        "dns.yaml",
        &dns_doc(&keep, "type: A\nvalues: [192.0.2.1]\n"),
    );
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
        stdout(&out).contains(&format!("DnsRecord {old}: delete")),
        "{}",
        stdout(&out)
    );
    assert!(
        values(&r53, &zone, &old, "A").await.is_empty(),
        "old not pruned"
    );
    assert!(
        values(&r53, &zone, &format!("_converge-owner.a.{old}"), "TXT")
            .await
            .is_empty(),
        "old's ownership record left behind"
    );
    assert_eq!(values(&r53, &zone, &keep, "A").await, vec!["192.0.2.1"]);
    assert_eq!(
        values(&r53, &zone, &stray, "A").await,
        vec!["192.0.2.3"],
        "pruned an unowned record"
    );
    assert_eq!(
        values(&r53, &zone, &foreign, "A").await,
        vec!["192.0.2.4"],
        "pruned another controller's record"
    );
    assert_eq!(
        values(&r53, &zone, &foreign_owner, "TXT").await,
        vec![foreign_txt]
    );
}

#[tokio::test]
async fn an_omitted_zone_is_the_longest_matching_one() {
    let r53 = route53();
    let parent = format!("{}.example.com.", unique("longest"));
    let sub = format!("sub.{parent}");
    let parent_id = create_zone(&r53, &parent).await;
    let sub_id = create_zone(&r53, &sub).await;
    let id = unique("ctl");
    let a = format!("a.{sub}");
    let b = format!("b.{parent}");
    let d = Desired::new();
    d.write(
        "dns.yaml",
        &format!(
            "{}{}",
            dns_doc(&a, "type: A\nvalues: [192.0.2.1]\n"),
            dns_doc(&b, "type: A\nvalues: [192.0.2.2]\n")
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
    assert_eq!(values(&r53, &sub_id, &a, "A").await, vec!["192.0.2.1"]);
    assert!(
        values(&r53, &parent_id, &a, "A").await.is_empty(),
        "a.sub went to the parent zone"
    );
    assert_eq!(values(&r53, &parent_id, &b, "A").await, vec!["192.0.2.2"]);
    assert!(
        stdout(&out).contains(&format!("zone: (none) → {sub} ({sub_id})")),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn an_existing_record_without_ownership_is_adopted_and_corrected() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("adopt"));
    let zone = create_zone(&r53, &zname).await;
    let id = unique("ctl");
    let legacy = format!("legacy.{zname}");
    upsert(&r53, &zone, &[(&legacy, "A", &["192.0.2.9"])]).await;
    let d = Desired::new();
    d.write(
        "dns.yaml",
        &dns_doc(&legacy, "type: A\nvalues: [192.0.2.1]\n"),
    );
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("DnsRecord {legacy}: tag")), "{text}");
    assert!(
        text.contains(&format!("DnsRecord {legacy}: update")),
        "{text}"
    );
    assert!(text.contains("values: 192.0.2.9 → 192.0.2.1"), "{text}");
    assert_eq!(values(&r53, &zone, &legacy, "A").await, vec!["192.0.2.1"]);
    assert_eq!(
        values(&r53, &zone, &format!("_converge-owner.a.{legacy}"), "TXT").await,
        vec![ownership(&id, &legacy)]
    );
}

#[tokio::test]
async fn a_record_owned_by_another_controller_is_left_alone() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("conflict"));
    let zone = create_zone(&r53, &zname).await;
    let id = unique("ctl");
    let taken = format!("taken.{zname}");
    let owner_name = format!("_converge-owner.a.{taken}");
    let txt = ownership("another-controller", &taken);
    upsert(
        &r53,
        &zone,
        &[(&taken, "A", &["192.0.2.9"]), (&owner_name, "TXT", &[&txt])],
    )
    .await;
    let d = Desired::new();
    d.write(
        "dns.yaml",
        &dns_doc(&taken, "type: A\nvalues: [192.0.2.1]\n"),
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
    assert_eq!(values(&r53, &zone, &taken, "A").await, vec!["192.0.2.9"]);
    assert!(!calls_line(&out).contains("ChangeResourceRecordSets"));
}

#[tokio::test]
async fn changing_the_type_replaces_the_record_in_one_batch() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("retype"));
    let zone = create_zone(&r53, &zname).await;
    let id = unique("ctl");
    let www = format!("www.{zname}");
    let d = Desired::new();
    d.write("dns.yaml", &dns_doc(&www, "type: A\nvalues: [192.0.2.1]\n"));
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(values(&r53, &zone, &www, "A").await, vec!["192.0.2.1"]);

    // A CNAME cannot live beside the A record: the A record and its owner go in the same batch.
    d.write(
        "dns.yaml",
        &dns_doc(&www, "type: CNAME\nvalues: [lb.example.org]\n"),
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
    assert_eq!(
        call_count(&calls_line(&out), "ChangeResourceRecordSets"),
        1,
        "{}",
        calls_line(&out)
    );
    assert!(
        stdout(&out).contains(&format!("A {www}: 192.0.2.1 → (none)")),
        "{}",
        stdout(&out)
    );
    assert!(values(&r53, &zone, &www, "A").await.is_empty());
    assert!(
        values(&r53, &zone, &format!("_converge-owner.a.{www}"), "TXT")
            .await
            .is_empty()
    );
    assert_eq!(
        values(&r53, &zone, &www, "CNAME").await,
        vec!["lb.example.org."]
    );
    assert_eq!(
        values(&r53, &zone, &format!("_converge-owner.cname.{www}"), "TXT").await,
        vec![ownership(&id, &www)]
    );
}

/// A load balancer the LoadBalancer kind accepts (Salt's `boto_elb` arguments).
fn lb_doc(name: &str, cnames: &str) -> String {
    format!(
        "---\napiVersion: converge/v1\nkind: LoadBalancer\nmetadata:\n  name: {name}\nspec:\n  availability_zones: [us-east-1a]\n  listeners:\n    - elb_port: 80\n      instance_port: 80\n      elb_protocol: HTTP\n{cnames}"
    )
}

#[tokio::test]
async fn a_value_naming_a_desired_but_missing_load_balancer_waits_for_it() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("wait"));
    create_zone(&r53, &zname).await;
    let lb = unique("lb");
    let www = format!("www.{zname}");
    let d = Desired::new();
    d.write(
        "stack.yaml",
        &format!(
            "{}{}",
            lb_doc(&lb, ""),
            dns_doc(
                &www,
                &format!("zone: {zname}\ntype: CNAME\nvalues: ['loadbalancer:{lb}']\n")
            )
        ),
    );
    // Observe-only: the load balancer is never created, so the record keeps waiting.
    let run = Running::start(
        AREA,
        &d.path_str(),
        &[
            "--resync",
            "1s",
            "--observe-only",
            "--controller-id",
            &unique("ctl"),
        ],
    );
    let want = format!("LoadBalancer/{lb}");
    run.wait_for("the record waiting for its load balancer", 30, |r| {
        r.kind_status("DnsRecord")["resources"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == www.as_str()))
            .is_some_and(|x| x["waiting_for"] == want.as_str() && x["state"] == "pending")
    });
    assert_eq!(
        run.metric("converge_resources{kind=\"DnsRecord\",state=\"pending\"}"),
        1.0
    );
    assert_eq!(calls(&run.metrics(), MUTATING), 0.0);
}

#[tokio::test]
async fn a_load_balancer_cname_points_at_its_dns_name() {
    let r53 = route53();
    let zname = format!("{}.example.com.", unique("cname"));
    let zone = create_zone(&r53, &zname).await;
    let lb = unique("lb");
    let id = unique("ctl");
    let name = format!("myapp.{zname}");
    let d = Desired::new();
    d.write(
        "stack.yaml",
        &lb_doc(
            &lb,
            &format!("  cnames:\n    - name: {name}\n      zone: {zname}\n"),
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
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk_config(AREA));
    let described = elb
        .describe_load_balancers()
        .load_balancer_names(&lb)
        .send()
        .await
        .expect("describe load balancer");
    let dns = described.load_balancer_descriptions()[0]
        .dns_name()
        .expect("dns name")
        .to_ascii_lowercase();
    assert_eq!(
        values(&r53, &zone, &name, "CNAME").await,
        vec![format!("{dns}.")]
    );
    assert_eq!(
        values(&r53, &zone, &format!("_converge-owner.cname.{name}"), "TXT").await,
        vec![ownership(&id, &name)]
    );
}
