//! `converge import-sls` on a whole Salt state tree (`tests/data/salt-tree`: a formula-like
//! `map.jinja`, relative includes, `names:` lists, `boto_lc` + `boto_asg`, `*_from_pillar`, a
//! pillar tree with a top file matched on the minion's grains), then `converge validate` and
//! `converge apply` of what it wrote: moto ends with the resources Salt would create.

use std::path::{Path, PathBuf};

use crate::common::*;

const AREA: Area = area!();

fn tree(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/salt-tree")
        .join(rel)
}

#[tokio::test]
async fn a_formula_like_tree_imports_validates_and_applies_as_salt_would() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().display().to_string();
    let import = converge(
        AREA,
        &[
            "import-sls",
            &tree("states").display().to_string(),
            "--pillar-root",
            &tree("pillar").display().to_string(),
            "--grains",
            "myapp-testing-useast1",
            "--out",
            &out_dir,
        ],
    );
    let err = stderr(&import);
    // Exactly one thing is not converted: the state whose value only a master can give.
    assert_eq!(import.status.code(), Some(2), "{err}");
    let not_converted: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("not converted: "))
        .collect();
    assert_eq!(not_converted.len(), 1, "{err}");
    assert!(
        not_converted[0]
            .contains("iam.sls:15: state \"needs-a-master\": uses salt['cp.get_file_str']"),
        "{err}"
    );
    assert!(err.contains("7 resource(s) converted"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("queues.sls") && l.contains("  3  ")),
        "the summary table has a row per file: {err}"
    );

    let validate = converge(AREA, &["validate", "--desired", &out_dir]);
    assert_eq!(validate.status.code(), Some(0), "{}", stderr(&validate));

    let apply = converge(AREA, &["apply", "--desired", &out_dir, "--timeout", "3m"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));

    let sdk = sdk_config(AREA);
    // Queues: `names:` with a per-name override; the formula's default under the pillar's
    // lookup (40); the service group's pillar over the service's (90).
    let sqs = sqs(AREA).await;
    let attr = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes()
                .cloned()
                .unwrap_or_default()
        }
    };
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let jobs = attr(
        queue_url(&sqs, "myapp-testing-jobs")
            .await
            .expect("jobs queue"),
    )
    .await;
    assert_eq!(
        jobs.get(&A::VisibilityTimeout).map(String::as_str),
        Some("40")
    );
    assert_eq!(
        jobs.get(&A::MessageRetentionPeriod).map(String::as_str),
        Some("86400")
    );
    let events = attr(
        queue_url(&sqs, "myapp-testing-events")
            .await
            .expect("events queue"),
    )
    .await;
    assert_eq!(
        events.get(&A::VisibilityTimeout).map(String::as_str),
        Some("90")
    );
    let audit = queue_url(&sqs, "myapp-testing-audit")
        .await
        .expect("audit queue (id as name)");
    let tags = sqs.list_queue_tags().queue_url(audit).send().await.unwrap();
    assert_eq!(
        tags.tags().and_then(|t| t.get("owner")).map(String::as_str),
        Some("ops")
    );
    assert!(queue_url(&sqs, "myapp-testing-from-master").await.is_none());

    // The group, with the launch configuration its boto_lc state made, and the pillar's
    // scaling policy.
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let group = &groups.auto_scaling_groups()[0];
    let lc_name = group
        .launch_configuration_name()
        .expect("a launch configuration");
    let lcs = asg
        .describe_launch_configurations()
        .launch_configuration_names(lc_name)
        .send()
        .await
        .unwrap();
    let lc = &lcs.launch_configurations()[0];
    assert_eq!(lc.image_id(), Some("ami-fakeami"));
    assert_eq!(lc.instance_type(), Some("t2.micro"));
    let policies = asg
        .describe_policies()
        .auto_scaling_group_name("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    assert!(
        policies
            .scaling_policies()
            .iter()
            .any(|p| p.policy_name() == Some("ScaleUp")),
        "{policies:?}"
    );

    // The load balancer's attributes: the pillar's `boto_elb_attributes` under the inline ones.
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk);
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_name("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let a = attrs.load_balancer_attributes().unwrap();
    assert_eq!(a.connection_settings().map(|c| c.idle_timeout()), Some(90));
    assert_eq!(
        a.cross_zone_load_balancing().map(|c| c.enabled()),
        Some(true)
    );

    // The role: `policies_from_pillars` under the inline policies.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let names = iam
        .list_role_policies()
        .role_name("myapp-testing-useast1")
        .send()
        .await
        .unwrap();
    let mut names = names.policy_names().to_vec();
    names.sort();
    assert_eq!(names, vec!["inline-extra", "read-queues"]);
}

/// Salt's `subnet_names` (a kind feature, usable in manifests): a load balancer and a group
/// whose subnets are named by their `Name` tag, resolved in AWS at run time.
#[tokio::test]
async fn subnet_names_resolve_at_run_time_for_load_balancers_and_groups() {
    let sdk = sdk_config(AREA);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let p = unique("sn");
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.7.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let mut subnet_ids = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.7.{i}.0/24"))
            .availability_zone(*zone)
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Subnet)
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key("Name")
                            .value(format!("{p}-web-{i}"))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        subnet_ids.push(s.subnet().and_then(|s| s.subnet_id()).unwrap().to_string());
    }
    let d = Desired::new();
    d.write(
        "lb.yaml",
        &format!(
            "apiVersion: converge/v1\nkind: LoadBalancer\nmetadata: {{name: {p}-lb}}\nspec:\n  subnet_names: [{p}-web-0, {p}-web-1]\n  listeners: [{{elb_port: 80, instance_port: 80, elb_protocol: HTTP}}]\n"
        ),
    );
    d.write(
        "asg.yaml",
        &format!(
            "apiVersion: converge/v1\nkind: AutoScalingGroup\nmetadata: {{name: {p}-asg}}\nspec:\n  launch_config: {{image_id: ami-fakeami, instance_type: t2.micro}}\n  subnet_names: [{p}-web-1]\n  min_size: 0\n  max_size: 1\n"
        ),
    );
    let id = unique("ctl");
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk);
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_names(format!("{p}-lb"))
        .send()
        .await
        .unwrap();
    let mut got = lbs.load_balancer_descriptions()[0].subnets().to_vec();
    got.sort();
    let mut want = subnet_ids.clone();
    want.sort();
    assert_eq!(got, want);
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{p}-asg"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.auto_scaling_groups()[0].vpc_zone_identifier(),
        Some(subnet_ids[1].as_str())
    );
    // In sync afterwards: nothing to do.
    let plan = converge(
        AREA,
        &["plan", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}
