//! Templates, layered values, naming and grains, through the real binary: `values`, `render`,
//! `grains`, template errors in `validate`, per-instance rendering with standard tags applied
//! against moto (only the controller's region), and the last good state kept under `run` when
//! a template breaks.

use std::collections::BTreeMap;

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

fn examples() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/desired/examples").to_string()
}

#[test]
fn values_prints_each_key_with_the_file_that_set_it() {
    let out = converge(
        AREA,
        &["values", "--desired", &examples(), "myapp", "production"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let root = examples();
    // Most generic first, the merged value, and per key the file (and line) that set it.
    assert!(
        text.contains(&format!("#   {root}/values/base.yaml\n#   {root}/myapp/values.yaml\n#   {root}/myapp/values/production.yaml\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  max_size: 60  # {root}/myapp/values/production.yaml:"
        )),
        "production overrides max_size: {text}"
    );
    assert!(
        text.contains(&format!("  min_size: 30  # {root}/myapp/values.yaml:")),
        "maps merge, so min_size stays the service's: {text}"
    );
    assert!(
        text.contains(&format!(
            "instance_type: \"c3.xlarge\"  # {root}/myapp/values/production.yaml:"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "zones: [\"a\",\"d\",\"e\"]  # {root}/values/base.yaml:"
        )),
        "{text}"
    );

    let out = converge(
        AREA,
        &[
            "values",
            "--desired",
            &examples(),
            "myapp",
            "testing",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["values"]["asg"]["max_size"], 30);
    assert_eq!(v["values"]["instance_type"], "c3.large");
    assert!(v["sources"]["asg.max_size"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{root}/myapp/values.yaml:")));
    assert_eq!(
        v["files"][2]["present"], false,
        "testing has no own values file"
    );

    let out = converge(
        AREA,
        &["values", "--desired", &examples(), "myapp", "staging"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("declares no instance `staging` (instances: production, testing)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn render_prints_what_plan_sees_and_it_loads_back() {
    let out = converge(
        AREA,
        &[
            "render",
            "--desired",
            &examples(),
            "--instance",
            "myapp/production",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("name: myapp-production-useast1\n"), "{text}");
    assert!(text.contains("instance_type: c3.xlarge"), "{text}");
    assert!(text.contains("max_size: 60"), "{text}");
    assert!(
        text.contains("name: myapp-production-example-queue-2\n"),
        "{text}"
    );
    assert!(!text.contains("myapp-testing"), "only production: {text}");
    assert!(
        text.contains("name: myapp\n"),
        "the shared group is included: {text}"
    );
    assert!(
        text.contains("(rendered for myapp/production)"),
        "each document names its template and instance: {text}"
    );
    // Standard tags, with the user's Name tag kept, all propagated at launch on the group.
    assert!(
        text.contains("  - key: cluster_name\n    propagate_at_launch: true\n    value: myapp-production-useast1\n"),
        "{text}"
    );
    assert!(
        text.contains("    service_group: myapp-production\n"),
        "{text}"
    );

    // What render prints is a valid tree on its own (the implied DNS record is commented out,
    // the load balancer implies it again).
    let d = Desired::new();
    d.write("rendered.yaml", &text);
    let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = converge(AREA, &["render", "--desired", &examples()]);
    let count = |t: &str| t.matches("\napiVersion: converge/v1\n").count();
    assert!(
        count(&stdout(&all)) > count(&text),
        "every instance without --instance"
    );

    let out = converge(
        AREA,
        &["render", "--desired", &examples(), "--region", "eu-west-1"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("shard default/us-east-1 left out (--region): "),
        "{}",
        stderr(&out)
    );
    assert!(
        !stdout(&out).contains("kind: LoadBalancer") && stdout(&out).contains("kind: IamRole"),
        "the region's shards and the global services (IAM, Route 53): {}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("name: base\n"),
        "a plain file goes to the tree's only region, left out too: {}",
        stdout(&out)
    );
}

#[test]
fn grains_parses_a_group_name_or_a_hostname() {
    let out = converge(AREA, &["grains", "myapp-testing-useast1-898900"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let g: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(
        g,
        serde_json::json!({
            "service_name": "myapp",
            "service_instance": "testing",
            "service_node": "898900",
            "region": "useast1",
            "cluster_name": "myapp-testing-useast1",
            "service_group": "myapp-testing",
            "aws_region": "us-east-1",
        })
    );
    let out = converge(
        AREA,
        &["grains", "--format", "yaml", "web-api-production-euwest1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("service_name: web-api\n"), "{text}");
    assert!(text.contains("region: euwest1\n"), "{text}");
    assert!(text.contains("aws_region: eu-west-1\n"), "{text}");
    assert!(!text.contains("service_node"), "{text}");
    let out = converge(AREA, &["grains", "myapp-testing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not follow the naming convention"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn template_errors_point_at_the_template_file_and_line() {
    let d = Desired::new();
    d.write(
        "svc/service.yaml",
        "instances:\n  testing: {region: us-east-1}\n  broken: {}\n",
    );
    d.write("svc/values.yaml", "- a list\n");
    d.write(
        "other/service.yaml",
        "instances:\n  testing: {region: us-east-1}\n",
    );
    d.write(
        "other/undefined.yaml",
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_nmae }}\nspec: {}\n",
    );
    d.write("other/syntax.yaml", "# a comment\n{% for q in %}\n");
    d.write(
        "other/yaml.yaml",
        "{% for q in ['a', 'b'] %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_name }}-{{ q }}\nspec:\n  attributes: {DelaySeconds: 5}\n  atributes: {}\n{% endfor %}\n",
    );
    let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let root = d.path_str();
    for want in [
        format!("{root}/other/undefined.yaml:4:1 (rendered for other/testing): template undefined value"),
        format!("{root}/other/syntax.yaml:2:1 (rendered for other/testing): template syntax error"),
        // The YAML error of the rendered output, at the template line that produced it.
        format!("{root}/other/yaml.yaml:9:3 (rendered for other/testing): unknown field `atributes`"),
        format!("{root}/svc/values.yaml:1:1: a values file must be a map"),
        format!("{root}/svc/service.yaml:3:11: instance `broken` has no `region`"),
    ] {
        assert!(err.contains(&want), "missing `{want}` in:\n{err}");
    }
    assert!(err.contains("cluster_nmae"), "{err}");
    assert!(err.contains("5 problem(s)"), "{err}");
}

/// A service with instances in us-east-1 (the tests' region) and us-west-2; each instance
/// renders a queue per `values.queues` and an Auto Scaling group with a Name tag.
fn service_tree(service: &str) -> Desired {
    let d = Desired::new();
    d.write(
        &format!("{service}/service.yaml"),
        "instances:\n  testing: {region: us-east-1}\n  production: {region: us-west-2}\n",
    );
    d.write(
        &format!("{service}/values.yaml"),
        "queues: [work]\nteam: ops\n",
    );
    d.write(
        &format!("{service}/stack.yaml"),
        "{% for q in values.queues %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_name }}-{{ q }}\nspec:\n  tags: {team: {{ values.team }}, service_instance: overridden}\n{% endfor %}\n---\napiVersion: converge/v1\nkind: AutoScalingGroup\nmetadata:\n  name: {{ cluster_name }}\nspec:\n  launch_config:\n    image_id: ami-fakeami\n    instance_type: t3.micro\n  availability_zones: [{{ region }}a]\n  min_size: 0\n  max_size: 0\n  tags:\n    - {key: Name, value: '{{ cluster_name }}', propagate_at_launch: false}\n",
    );
    d
}

#[tokio::test]
async fn apply_renders_every_instance_in_its_own_region_with_standard_tags() {
    let sqs = sqs(AREA).await;
    let service = unique("svc");
    let id = unique("ctl");
    let d = service_tree(&service);
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
    assert!(
        stdout(&out).contains("== default/us-west-2 ==")
            && stdout(&out).contains("== default/us-east-1 =="),
        "one controller applies every region's instances: {}",
        stdout(&out)
    );
    let cluster = format!("{service}-testing-useast1");
    let tags = queue_tags(&sqs, &format!("{cluster}-work")).await;
    let tags: BTreeMap<_, _> = tags.into_iter().collect();
    assert_eq!(tags["team"], "ops");
    assert_eq!(tags["service_instance"], "overridden", "user tags win");
    assert_eq!(tags["service_name"], service);
    assert_eq!(tags["cluster_name"], cluster);
    assert_eq!(tags["service_group"], format!("{service}-testing"));
    assert_eq!(tags["region"], "us-east-1");
    assert_eq!(tags["converge:managed-by"], id);
    let production = format!("{service}-production-uswest2-work");
    assert!(
        queue_url(&sqs, &production).await.is_none(),
        "the other region's instance is not created in this one"
    );
    let west = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config(AREA))
            .region(aws_sdk_sqs::config::Region::new("us-west-2"))
            .build(),
    );
    assert!(
        queue_url(&west, &production).await.is_some(),
        "but in its own"
    );

    let asg = aws_sdk_autoscaling::Client::new(&sdk_config(AREA));
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&cluster)
        .send()
        .await
        .expect("describe groups");
    let group = groups
        .auto_scaling_groups()
        .first()
        .expect("the group exists");
    let tags: BTreeMap<String, (String, bool)> = group
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                (
                    t.value().unwrap_or_default().to_string(),
                    t.propagate_at_launch().unwrap_or(false),
                ),
            )
        })
        .collect();
    assert_eq!(
        tags["Name"],
        (cluster.clone(), false),
        "the user's tag as written"
    );
    for (k, v) in [
        ("service_name", service.as_str()),
        ("service_instance", "testing"),
        ("region", "us-east-1"),
        ("cluster_name", cluster.as_str()),
        ("service_group", &format!("{service}-testing")),
    ] {
        assert_eq!(tags[k], (v.to_string(), true), "{k} propagates at launch");
    }

    // A second apply changes nothing.
    let again = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("0 change(s) applied"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn a_broken_template_keeps_the_last_good_state_under_run() {
    let sqs = sqs(AREA).await;
    let service = unique("run");
    let id = unique("ctl");
    let d = service_tree(&service);
    let work = format!("{service}-testing-useast1-work");
    let run = Running::start(
        AREA,
        &d.path_str(),
        &[
            "--controller-id",
            &id,
            "--resync",
            "1s",
            "--prune",
            "--debounce",
            "50ms",
        ],
    );
    run.wait_for("the queue", 30, |r| {
        r.metric("converge_resources{kind=\"Queue\",state=\"converged\"}") >= 1.0
    });
    assert!(queue_url(&sqs, &work).await.is_some());

    // An undefined variable: the tree is invalid, the error names the template line and the
    // instance, and nothing is deleted although --prune is on.
    d.write(
        &format!("{service}/stack.yaml"),
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_name }}-{{ values.nope }}\nspec: {}\n",
    );
    run.wait_for("the invalid tree", 30, |r| {
        r.metric("converge_desired_valid") == 0.0
    });
    run.wait_sweeps("Queue", 2.0, 30);
    assert!(
        run.logs().contains(&format!(
            "{service}/stack.yaml:4:1 (rendered for {service}/testing): template undefined value"
        )),
        "{}",
        run.logs()
    );
    assert!(
        queue_url(&sqs, &work).await.is_some(),
        "kept while the tree is invalid"
    );

    // A values file that is not a map: still invalid, still nothing deleted.
    d.write(
        &format!("{service}/stack.yaml"),
        "{% for q in values.queues %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_name }}-{{ q }}\nspec: {}\n{% endfor %}\n",
    );
    d.write(&format!("{service}/values.yaml"), "just text\n");
    run.wait_for("the values error", 30, |r| {
        r.logs()
            .contains("a values file must be a map of names to values, not a single value")
    });
    assert_eq!(run.metric("converge_desired_valid"), 0.0);
    assert!(queue_url(&sqs, &work).await.is_some());

    // Fixed, with one more queue: valid again, the new queue is created.
    d.write(&format!("{service}/values.yaml"), "queues: [work, more]\n");
    let more = format!("{service}-testing-useast1-more");
    run.wait_for("the new queue", 30, |r| {
        r.metric("converge_desired_valid") == 1.0
            && r.metric(
                "converge_resources{kind=\"Queue\",region=\"us-east-1\",state=\"converged\"}",
            ) >= 2.0
    });
    assert!(queue_url(&sqs, &more).await.is_some());
    assert!(queue_url(&sqs, &work).await.is_some());
}
