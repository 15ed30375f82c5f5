//! `converge import-sls`: the seed's Salt state file imports, what cannot be converted is
//! reported, and `converge apply` of the import produces the same AWS state as the template in
//! `desired/examples/myapp` rendered for `testing`.
//!
//! The equivalence test resets this area's own moto between the two applies (the stack's names
//! are fixed), so it is the only test here that uses moto.
//!
//! The seed's EC2-Classic rule source (`source_group_name: amazon-elb-sg`,
//! `source_group_owner_id: amazon-elb`) does not exist in a VPC, and moto rejects it as AWS
//! would. The template renders the seed's exact form with `ec2_classic: true`, so both sides
//! write the same rule and both applies end the same way: exit 1 with exactly one resource not
//! converged, SecurityGroup `myapp`, whose error names that rule. The comparison then covers
//! every resource, `myapp` included (it exists on both sides, without that rule).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// The restored Salt state file of the seed (a copy of ../shared/seed/myapp.sls, kept in the
/// repository so the test does not depend on what lies beside the checkout).
fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/myapp.sls")
}

fn import(args: &[&str]) -> std::process::Output {
    let mut all = vec!["import-sls"];
    all.extend_from_slice(args);
    converge(AREA, &all)
}

#[test]
fn the_seed_imports_completely_and_the_result_validates() {
    assert!(seed().is_file(), "the seed is at {}", seed().display());
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("manifests");
    let seed = seed().display().to_string();
    let res = import(&[&seed, "--out", &out.display().to_string()]);
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&res),
        stderr(&res)
    );
    let err = stderr(&res);
    assert!(
        err.contains("9 resource(s) converted, 0 thing(s) not converted"),
        "{err}"
    );
    // `profile` is reported as what it maps to, once, with the states using it.
    assert!(
        err.contains("note: `profile: aws_profile` (a Salt credentials profile) → run converge with AWS credentials for it, e.g. AWS_PROFILE=aws_profile"),
        "{err}"
    );
    for file in [
        "security_group",
        "iam_role",
        "load_balancer",
        "queue",
        "auto_scaling_group",
        "metric_alarm",
    ] {
        assert!(
            out.join(format!("myapp/{file}.yaml")).is_file(),
            "{file}.yaml missing; wrote: {}",
            stdout(&res)
        );
    }
    let alarms = std::fs::read_to_string(out.join("myapp/metric_alarm.yaml")).unwrap();
    assert!(
        alarms.contains("comparison: \">=\"") || alarms.contains("comparison: '>='"),
        "written as the Salt user wrote it: {alarms}"
    );
    assert!(
        alarms.contains(&format!(
            "# from {seed}:159: state \"autoscale up alarm\" (boto_cloudwatch_alarm.present)"
        )),
        "each document names its state, file and line: {alarms}"
    );
    let sgs = std::fs::read_to_string(out.join("myapp/security_group.yaml")).unwrap();
    assert!(sgs.contains("source_group_owner_id: amazon-elb"), "{sgs}");
    let asg = std::fs::read_to_string(out.join("myapp/auto_scaling_group.yaml")).unwrap();
    assert!(
        asg.contains("pulldeploy.py myapp testing -v"),
        "the Jinja was rendered: {asg}"
    );

    // The 9 states and the CNAME the load balancer implies.
    let res = converge(AREA, &["validate", "--desired", &out.display().to_string()]);
    assert_eq!(res.status.code(), Some(0), "{}", stderr(&res));
    assert!(
        stdout(&res).contains("ok: 10 resource(s)"),
        "{}",
        stdout(&res)
    );
}

#[test]
fn what_cannot_be_converted_is_listed_and_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let sls = dir.path().join("web.sls");
    std::fs::write(
        &sls,
        "include:\n  - base\n\nnginx:\n  pkg.installed: []\n\n{% for q in salt['pillar.get']('web:queues') %}\nweb {{ q }} queue:\n  boto_sqs.present:\n    - name: web-{{ q }}\n    - attributes:\n        VisibilityTimeout: {{ pillar['web']['timeout'] }}\n    - region: eu-west-1\n    - keyid: AKIAEXAMPLE\n{% endfor %}\n\nold queue:\n  boto_sqs.absent:\n    - name: web-old\n\nweb elb:\n  boto_elb.present:\n    - name: web\n    - availability_zones: [eu-west-1a]\n    - listeners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP}]\n    - alarms: {}\n",
    )
    .unwrap();
    let pillar = dir.path().join("pillar.yaml");
    std::fs::write(&pillar, "web:\n  queues: [jobs, mail]\n  timeout: 45\n").unwrap();
    let out = dir.path().join("out");
    let res = import(&[
        &sls.display().to_string(),
        "--pillar",
        &pillar.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(
        res.status.code(),
        Some(2),
        "{}\n{}",
        stdout(&res),
        stderr(&res)
    );
    let err = stderr(&res);
    let file = sls.display().to_string();
    for want in [
        format!("not converted: {file}:1: include `base`: no base.sls or base/init.sls under "),
        format!("not converted: {file}:4: state \"nginx\" (pkg.installed): `pkg` is not a state module converge converts"),
        format!("not converted: {file}:17: state \"old queue\" (boto_sqs.absent): only `boto_sqs.present` is converted"),
        format!("not converted: {file}:21: state \"web elb\" (boto_elb.present): argument `alarms` is not converted"),
        format!("not converted: {file}:21: state \"web elb\" (boto_elb.present): LoadBalancer `web` is not written"),
        "note: `keyid` (inline credentials) → the AWS configuration chain".to_string(),
        "2 resource(s) converted, 5 thing(s) not converted".to_string(),
    ] {
        assert!(err.contains(&want), "missing `{want}` in:\n{err}");
    }
    let queues = std::fs::read_to_string(out.join("web/queue.yaml")).unwrap();
    assert!(
        queues.contains("name: web-jobs") && queues.contains("name: web-mail"),
        "{queues}"
    );
    assert!(queues.contains("VisibilityTimeout: 45"), "{queues}");
    assert!(
        queues.contains("  region: eu-west-1\n"),
        "a state's region is its resource's shard: {queues}"
    );
    assert!(!out.join("web/load_balancer.yaml").exists());

    // A template error: the file and line, nothing written for it, exit 2.
    std::fs::write(
        &sls,
        "a:\n  boto_sqs.present:\n    - name: {{ pillar['nope'] }}\n",
    )
    .unwrap();
    let res = import(&[
        &sls.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(
        stderr(&res).contains(&format!(
            "{file}:3: template undefined value: `pillar['nope']` is undefined"
        )) && stderr(&res).contains("nothing written for this file"),
        "{}",
        stderr(&res)
    );
}

/// Empties moto (every service, every region): `POST /moto-api/reset`.
fn reset_moto() {
    let addr = moto(AREA)
        .endpoint
        .trim_start_matches("http://")
        .to_string();
    let mut s = TcpStream::connect(&addr).expect("connect to moto");
    write!(
        s,
        "POST /moto-api/reset HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
}

/// What exists before either stack: the hosted zone and the `base` group (the base states').
async fn prerequisites() {
    let sdk = sdk_config(AREA);
    create_zone(&aws_sdk_route53::Client::new(&sdk), "example.com.").await;
    aws_sdk_ec2::Client::new(&sdk)
        .create_security_group()
        .group_name("base")
        .description("base")
        .send()
        .await
        .expect("base group");
}

const STANDARD_TAGS: &[&str] = &[
    "service_name",
    "service_instance",
    "region",
    "cluster_name",
    "service_group",
    "converge:managed-by",
];

/// Tags without the ownership tag and the standard tags (which only the template adds).
fn user_tags<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let m: BTreeMap<&str, &str> = tags.filter(|(k, _)| !STANDARD_TAGS.contains(k)).collect();
    json!(m)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn policy_json(raw: &str) -> Value {
    serde_json::from_str(raw)
        .or_else(|_| serde_json::from_str(&percent_decode(raw)))
        .unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// The key facts of every resource of the reference stack's `testing` instance, by
/// `Kind/name`, with generated ids replaced by names.
async fn snapshot() -> BTreeMap<String, Value> {
    let sdk = sdk_config(AREA);
    let mut out = BTreeMap::new();

    // Security groups, rules by source group *name*.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let groups = ec2.describe_security_groups().send().await.unwrap();
    let names: BTreeMap<String, String> = groups
        .security_groups()
        .iter()
        .map(|g| {
            (
                g.group_id().unwrap_or_default().to_string(),
                g.group_name().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for g in groups.security_groups() {
        let name = g.group_name().unwrap_or_default();
        if !["myapp", "myapp-testing", "myapp-elb"].contains(&name) {
            continue;
        }
        let mut rules = BTreeSet::new();
        for p in g.ip_permissions() {
            let head = format!(
                "{} {}-{}",
                p.ip_protocol().unwrap_or_default(),
                p.from_port().unwrap_or(-1),
                p.to_port().unwrap_or(-1)
            );
            for r in p.ip_ranges() {
                rules.insert(format!("{head} from {}", r.cidr_ip().unwrap_or_default()));
            }
            for u in p.user_id_group_pairs() {
                let src = u.group_id().and_then(|id| names.get(id)).cloned();
                rules.insert(format!("{head} from group {}", src.unwrap_or_default()));
            }
        }
        out.insert(
            format!("SecurityGroup/{name}"),
            json!({
                "description": g.description(),
                "ingress": rules,
                "tags": user_tags(g.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
            }),
        );
    }

    // The IAM role, its inline policies and instance profile.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let role_name = "myapp-testing-useast1";
    if let Ok(role) = iam.get_role().role_name(role_name).send().await {
        let role = role.role().unwrap();
        let mut policies = BTreeMap::new();
        let listed = iam
            .list_role_policies()
            .role_name(role_name)
            .send()
            .await
            .unwrap();
        for p in listed.policy_names() {
            let doc = iam
                .get_role_policy()
                .role_name(role_name)
                .policy_name(p)
                .send()
                .await
                .unwrap();
            policies.insert(p.to_string(), policy_json(doc.policy_document()));
        }
        let managed = iam
            .list_attached_role_policies()
            .role_name(role_name)
            .send()
            .await
            .unwrap();
        let profile = iam
            .get_instance_profile()
            .instance_profile_name(role_name)
            .send()
            .await
            .ok()
            .map(|p| {
                p.instance_profile()
                    .map(|ip| {
                        ip.roles()
                            .iter()
                            .map(|r| r.role_name().to_string())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            });
        out.insert(
            format!("IamRole/{role_name}"),
            json!({
                "path": role.path(),
                "trust": policy_json(role.assume_role_policy_document().unwrap_or_default()),
                "policies": policies,
                "managed": managed.attached_policies().iter().map(|p| p.policy_arn().unwrap_or_default().to_string()).collect::<Vec<_>>(),
                "instance_profile_roles": profile,
            }),
        );
    }

    // The load balancer and the CNAME to it.
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk);
    let lb_name = "myapp-testing-useast1";
    let mut lb_dns = String::new();
    if let Ok(lbs) = elb
        .describe_load_balancers()
        .load_balancer_names(lb_name)
        .send()
        .await
    {
        let lb = &lbs.load_balancer_descriptions()[0];
        lb_dns = lb.dns_name().unwrap_or_default().to_string();
        let mut zones: Vec<_> = lb.availability_zones().to_vec();
        zones.sort();
        let listeners: BTreeSet<String> = lb
            .listener_descriptions()
            .iter()
            .filter_map(|d| d.listener())
            .map(|l| {
                format!(
                    "{}:{} -> {}:{} {}",
                    l.protocol(),
                    l.load_balancer_port(),
                    l.instance_protocol().unwrap_or_default(),
                    l.instance_port(),
                    l.ssl_certificate_id().unwrap_or_default()
                )
            })
            .collect();
        let attrs = elb
            .describe_load_balancer_attributes()
            .load_balancer_name(lb_name)
            .send()
            .await
            .unwrap();
        let log = attrs
            .load_balancer_attributes()
            .and_then(|a| a.access_log())
            .map(|l| {
                json!({
                    "enabled": l.enabled(),
                    "bucket": l.s3_bucket_name(),
                    "prefix": l.s3_bucket_prefix(),
                    "interval": l.emit_interval(),
                })
            });
        let tags = elb
            .describe_tags()
            .load_balancer_names(lb_name)
            .send()
            .await
            .unwrap();
        let tags: Vec<(String, String)> = tags
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        out.insert(
            format!("LoadBalancer/{lb_name}"),
            json!({
                "zones": zones,
                "scheme": lb.scheme(),
                "listeners": listeners,
                "health_check": lb.health_check().map(|h| h.target().to_string()),
                "access_log": log,
                "tags": user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            }),
        );
    }
    let r53 = aws_sdk_route53::Client::new(&sdk);
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
    for r in records.resource_record_sets() {
        // The zone's own records, and the DnsRecord kind's ownership record (its value is the
        // controller id, which differs between the two applies by design).
        if matches!(r.r#type().as_str(), "SOA" | "NS") || r.name().starts_with("_converge-owner.") {
            continue;
        }
        let values: Vec<String> = r
            .resource_records()
            .iter()
            .map(|v| {
                if !lb_dns.is_empty()
                    && v.value().trim_end_matches('.') == lb_dns.trim_end_matches('.')
                {
                    "<the load balancer's DNS name>".to_string()
                } else {
                    v.value().to_string()
                }
            })
            .collect();
        out.insert(
            format!("DnsRecord/{}", r.name()),
            json!({"type": r.r#type().as_str(), "ttl": r.ttl(), "values": values}),
        );
    }

    // Queues.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for q in [
        "myapp-testing-example-queue-1",
        "myapp-testing-example-queue-2",
    ] {
        let Some(url) = queue_url(&sqs, q).await else {
            continue;
        };
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attrs: BTreeMap<String, String> = attrs
            .attributes()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "QueueArn"
                                | "CreatedTimestamp"
                                | "LastModifiedTimestamp"
                                | "ApproximateNumberOfMessages"
                                | "ApproximateNumberOfMessagesNotVisible"
                                | "ApproximateNumberOfMessagesDelayed"
                        )
                    })
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let tags = queue_tags(&sqs, q).await;
        out.insert(
            format!("Queue/{q}"),
            json!({
                "attributes": attrs,
                "tags": user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            }),
        );
    }

    // The Auto Scaling group, its launch configuration and scaling policies.
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let group_name = "myapp-testing-useast1";
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group_name)
        .send()
        .await
        .unwrap();
    let mut policy_names = BTreeMap::new();
    if let Some(g) = groups.auto_scaling_groups().first() {
        let policies = asg
            .describe_policies()
            .auto_scaling_group_name(group_name)
            .send()
            .await
            .unwrap();
        let mut pol = BTreeMap::new();
        for p in policies.scaling_policies() {
            let name = p.policy_name().unwrap_or_default().to_string();
            if let Some(arn) = p.policy_arn() {
                policy_names.insert(arn.to_string(), format!("scaling policy {name}"));
            }
            pol.insert(
                name,
                json!([p.adjustment_type(), p.scaling_adjustment(), p.cooldown()]),
            );
        }
        let lc_name = g.launch_configuration_name().unwrap_or_default();
        let lcs = asg
            .describe_launch_configurations()
            .launch_configuration_names(lc_name)
            .send()
            .await
            .unwrap();
        let lc = lcs.launch_configurations().first().map(|lc| {
            let mut sgs: Vec<String> = lc
                .security_groups()
                .iter()
                .map(|s| names.get(s).cloned().unwrap_or_else(|| s.clone()))
                .collect();
            sgs.sort();
            json!({
                "name_prefix": lc_name.starts_with("myapp-testing-useast1"),
                "image": lc.image_id(),
                "type": lc.instance_type(),
                "key": lc.key_name(),
                "security_groups": sgs,
                "monitoring": lc.instance_monitoring().and_then(|m| m.enabled()),
                "profile": lc.iam_instance_profile(),
                "user_data": lc.user_data(),
            })
        });
        let mut zones = g.availability_zones().to_vec();
        zones.sort();
        let suspended: BTreeSet<String> = g
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(String::from))
            .collect();
        let tags: Vec<(String, String, bool)> = g
            .tags()
            .iter()
            .filter(|t| !STANDARD_TAGS.contains(&t.key().unwrap_or_default()))
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                    t.propagate_at_launch().unwrap_or(false),
                )
            })
            .collect();
        out.insert(
            format!("AutoScalingGroup/{group_name}"),
            json!({
                "min": g.min_size(),
                "max": g.max_size(),
                "desired": g.desired_capacity(),
                "zones": zones,
                "load_balancers": g.load_balancer_names(),
                "suspended": suspended,
                "tags": tags,
                "launch_config": lc,
                "policies": pol,
            }),
        );
    }

    // Alarms, scaling policy actions by policy name.
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix("myapp-testing-useast1-asg-")
        .send()
        .await
        .unwrap();
    for a in alarms.metric_alarms() {
        let actions: Vec<String> = a
            .alarm_actions()
            .iter()
            .map(|x| policy_names.get(x).cloned().unwrap_or_else(|| x.clone()))
            .collect();
        let dims: BTreeMap<String, String> = a
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        out.insert(
            format!("MetricAlarm/{}", a.alarm_name().unwrap_or_default()),
            json!({
                "metric": a.metric_name(),
                "namespace": a.namespace(),
                "statistic": a.statistic().map(|s| s.as_str().to_string()),
                "comparison": a.comparison_operator().map(|c| c.as_str().to_string()),
                "threshold": a.threshold(),
                "period": a.period(),
                "evaluation_periods": a.evaluation_periods(),
                "dimensions": dims,
                "alarm_actions": actions,
                "ok_actions": a.ok_actions(),
                "insufficient_data_actions": a.insufficient_data_actions(),
                "description": a.alarm_description(),
            }),
        );
    }
    out
}

/// `NOT CONVERGED ...` lines of an apply.
fn not_converged(out: &std::process::Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with("NOT CONVERGED"))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn applying_the_import_gives_the_same_aws_state_as_the_template_for_testing() {
    let work = tempfile::tempdir().unwrap();

    // The seed, imported verbatim.
    let imported = work.path().join("imported");
    let res = import(&[
        &seed().display().to_string(),
        "--out",
        &imported.display().to_string(),
    ]);
    assert_eq!(res.status.code(), Some(0), "{}", stderr(&res));

    // The template, in the seed's EC2-Classic form, rendered for testing (plus the service's
    // shared resources), as `plan` and `apply` would see it.
    let examples = work.path().join("examples");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("desired/examples"),
        &examples,
    );
    let values = examples.join("myapp/values.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    assert!(text.contains("ec2_classic: false"), "{text}");
    assert!(text.contains("deployer: converge"), "{text}");
    // The seed's form: EC2-Classic rules, and the article's pulldeploy in the user data.
    std::fs::write(
        &values,
        text.replace("ec2_classic: false", "ec2_classic: true")
            .replace("deployer: converge", "deployer: pulldeploy"),
    )
    .unwrap();
    let rendered = converge(
        AREA,
        &[
            "render",
            "--desired",
            &examples.display().to_string(),
            "--instance",
            "myapp/testing",
        ],
    );
    assert_eq!(rendered.status.code(), Some(0), "{}", stderr(&rendered));
    let templated = work.path().join("templated");
    std::fs::create_dir_all(&templated).unwrap();
    std::fs::write(templated.join("myapp-testing.yaml"), stdout(&rendered)).unwrap();

    let apply = |dir: &Path, id: &str| {
        converge(
            AREA,
            &[
                "apply",
                "--desired",
                &dir.display().to_string(),
                "--controller-id",
                id,
                "--timeout",
                "120s",
                "--backoff-max",
                "2s",
            ],
        )
    };

    reset_moto();
    prerequisites().await;
    let from_import = apply(&imported, &unique("import"));
    let import_state = snapshot().await;

    reset_moto();
    prerequisites().await;
    let from_template = apply(&templated, &unique("template"));
    let template_state = snapshot().await;

    // Both end the same way: the seed's EC2-Classic rule is the one thing not converged.
    for (what, out) in [("import", &from_import), ("template", &from_template)] {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}:\n{}\n{}",
            stdout(out),
            stderr(out)
        );
        let failed = not_converged(out);
        assert_eq!(failed.len(), 1, "{what}: {failed:?}\n{}", stdout(out));
        assert!(
            failed[0].starts_with("NOT CONVERGED SecurityGroup myapp")
                && failed[0].contains("amazon-elb/amazon-elb-sg"),
            "{what}: {failed:?}"
        );
    }

    // Every kind of the stack is there, and the two states are the same.
    let kinds: BTreeSet<&str> = import_state
        .keys()
        .filter_map(|k| k.split('/').next())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "AutoScalingGroup",
            "DnsRecord",
            "IamRole",
            "LoadBalancer",
            "MetricAlarm",
            "Queue",
            "SecurityGroup",
        ]),
        "{import_state:#?}"
    );
    assert_eq!(import_state.len(), 10, "{:#?}", import_state.keys());
    assert_eq!(
        import_state.keys().collect::<Vec<_>>(),
        template_state.keys().collect::<Vec<_>>()
    );
    for (key, imported) in &import_state {
        assert_eq!(
            Some(imported),
            template_state.get(key),
            "{key} differs between the import and the template"
        );
    }
    // Spot checks that the comparison compares something real.
    let asg = &import_state["AutoScalingGroup/myapp-testing-useast1"];
    assert_eq!(asg["min"], 30);
    assert_eq!(
        asg["launch_config"]["security_groups"],
        json!(["base", "myapp", "myapp-testing"])
    );
    assert_eq!(
        import_state["MetricAlarm/myapp-testing-useast1-asg-up-CPU-Utilization"]["alarm_actions"]
            [0],
        "scaling policy ScaleUp"
    );
    assert_eq!(
        import_state["DnsRecord/myapp-testing.example.com."]["values"],
        json!(["<the load balancer's DNS name>"])
    );
    assert_eq!(
        import_state["SecurityGroup/myapp"]["ingress"],
        json!([]),
        "the EC2-Classic rule was rejected on both sides"
    );
}
