//! The loader's tests: documents, templates, services and values. The loader knows no kind,
//! so these run against a registry of one test schema, `Queue` (attributes and tags, unknown
//! fields rejected), rather than the real kinds.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

use super::*;
use crate::core::model::{
    DesiredResource, DesiredSet, LABEL_INSTANCE, LABEL_REGION, LABEL_SERVICE,
};
use crate::core::schema::{self, unknown_kind, Derived, Schema, TagStyle};

/// The test schema's spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueSpec {
    #[serde(default)]
    attributes: BTreeMap<String, Text>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// A scalar of any type, kept as text (`DelaySeconds: 5` is `"5"`).
#[derive(Debug, Clone, Serialize)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Text(s)),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => {
                Ok(Text(v.to_string()))
            }
            other => Err(serde::de::Error::custom(format!(
                "expected a scalar, found {other}"
            ))),
        }
    }
}

struct Queue;

impl Schema for Queue {
    const NAME: &'static str = "Queue";
    type Spec = QueueSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("a queue name must not be empty".to_string());
        }
        Ok(())
    }
}

/// The registry of the test schema alone.
struct Only;

impl Registry for Only {
    fn names() -> &'static [&'static str] {
        &["Queue"]
    }
    fn tag_style(kind: &str) -> Option<TagStyle> {
        (kind == Queue::NAME).then_some(TagStyle::Map)
    }
    fn typed_spec<'de, D: Deserializer<'de>>(
        kind: &str,
        d: D,
    ) -> Result<Spanned<serde_json::Value>, D::Error> {
        if kind != Queue::NAME {
            return Err(serde::de::Error::custom(unknown_kind(kind)));
        }
        schema::typed_spec::<Queue, D>(d)
    }
    fn retype(kind: &str, spec: serde_json::Value) -> Result<serde_json::Value, String> {
        if kind != Queue::NAME {
            return Err(unknown_kind(kind));
        }
        schema::retype::<Queue>(spec)
    }
    fn validate_name(_kind: &str, name: &str) -> Result<(), String> {
        Queue::validate_name(name)
    }
    fn validate_spec(_kind: &str, name: &str, spec: &serde_json::Value) -> Vec<String> {
        schema::validate_spec::<Queue>(name, spec)
    }
    fn expand(_kind: &str, _name: &str, _spec: &serde_json::Value, _region: &str) -> Vec<Derived> {
        Vec::new()
    }
    fn is_global(_kind: &str) -> bool {
        false
    }
    fn references(_kind: &str, _spec: &serde_json::Value) -> Vec<crate::core::Reference> {
        Vec::new()
    }
}

fn parse_file(file: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<DesiredResource> {
    super::parse_file::<Only>(file, text, problems)
}

/// The tree at `root` (default region us-east-1), every shard's resources in one set.
fn load(root: &Path) -> Result<DesiredSet, LoadError> {
    let tree = load_tree(root)?;
    let mut all = DesiredSet {
        revision: tree.revision.clone(),
        fingerprint: tree.fingerprint,
        ..DesiredSet::default()
    };
    for set in tree.shards.values() {
        for r in set.resources.values().flat_map(|m| m.values()) {
            all.insert(r.clone());
        }
    }
    Ok(all)
}

fn load_tree(root: &Path) -> Result<DesiredTree, LoadError> {
    let opts = LoadOptions {
        default_region: Some("us-east-1".into()),
    };
    super::load::<Only>(root, &opts)
}

/// The queue names of one shard.
fn names_in(tree: &DesiredTree, shard: &str) -> Vec<String> {
    let (a, r) = shard.split_once('/').unwrap();
    tree.shards
        .get(&crate::core::ShardId::new(a, r))
        .and_then(|s| s.of_kind("Queue"))
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn parse(text: &str) -> (Vec<DesiredResource>, Vec<String>) {
    let mut problems = Vec::new();
    let docs = parse_file(Path::new("t.yaml"), text, &mut problems);
    (docs, problems.iter().map(ToString::to_string).collect())
}

#[test]
fn a_valid_queue_document_parses() {
    let (docs, problems) = parse(
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  attributes:\n    DelaySeconds: 5\n",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].name, "q1");
    assert_eq!(docs[0].origin.line, 1);
}

#[test]
fn an_empty_name_reads_as_an_operator_would_say_it() {
    let (_, problems) =
        parse("apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name:\nspec: {}\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("t.yaml:4:")
            && problems[0].contains("expected text here, found nothing")
            && !problems[0].contains("Option<"),
        "{problems:?}"
    );
}

#[test]
fn unknown_spec_field_is_reported_at_its_line() {
    let (_, problems) = parse(
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  atributes: {}\n",
    );
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("t.yaml:6:3: unknown field `atributes`"),
        "{problems:?}"
    );
}

#[test]
fn unknown_kind_is_an_error_with_location() {
    let (_, problems) =
        parse("apiVersion: converge/v1\nkind: Bucket\nmetadata:\n  name: b\nspec: {}\n");
    assert!(
        problems[0].starts_with("t.yaml:2:") && problems[0].contains("unknown kind `Bucket`"),
        "{problems:?}"
    );
}

#[test]
fn wrong_api_version_and_missing_fields_are_reported() {
    let (_, problems) = parse("apiVersion: v2\nkind: Queue\nspec: {}\n");
    assert!(problems
        .iter()
        .any(|p| p.contains("unsupported apiVersion `v2`")));
    assert!(problems
        .iter()
        .any(|p| p.contains("missing field `metadata`")));
}

#[test]
fn duplicate_keys_are_rejected() {
    let (_, problems) = parse(
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n  tags: {a: b}\n  tags: {c: d}\n",
    );
    assert!(
        problems[0].contains("duplicate mapping key"),
        "{problems:?}"
    );
    assert!(problems[0].starts_with("t.yaml:7:"), "{problems:?}");
}

#[test]
fn spec_before_kind_is_still_typed() {
    let (docs, problems) =
        parse("spec:\n  bogus: 1\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\n");
    assert!(docs.is_empty());
    assert!(
        problems[0].starts_with("t.yaml:2:3:") && problems[0].contains("unknown field `bogus`"),
        "{problems:?}"
    );
}

#[test]
fn alias_bomb_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let (docs, problems) = parse(&text);
    assert!(docs.is_empty());
    assert_eq!(problems.len(), 1, "{problems:?}");
}

/// A desired tree in a temp dir: `(relative path, text)`.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn problems_of(dir: &tempfile::TempDir) -> Vec<String> {
    let root = dir.path().display().to_string();
    match load(dir.path()) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid(ps)) => ps
            .iter()
            .map(|p| p.to_string().replace(&format!("{root}/"), ""))
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

const SERVICE: &str =
    "instances:\n  testing: {region: us-east-1}\n  production: {region: us-west-2}\n";
const QUEUES: &str = "{% for q in values.queues %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ cluster_name }}-{{ q }}\nspec:\n  tags: {team: {{ values.team }}, service_instance: mine}\n{% endfor %}\n";

#[test]
fn a_service_template_renders_once_per_instance_with_labels_and_standard_tags() {
    let d = tree(&[
        ("values/base.yaml", "team: ops\nqueues: [a]\n"),
        ("myapp/service.yaml", SERVICE),
        ("myapp/values.yaml", "queues: [a, b]\n"),
        ("myapp/values/production.yaml", "team: prod-ops\n"),
        ("myapp/queues.yaml", QUEUES),
        (
            "plain.yaml",
            "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: plain, region: us-east-1}\nspec: {}\n",
        ),
    ]);
    let set = load(d.path()).unwrap();
    let queues = set.of_kind("Queue").unwrap();
    let names: Vec<&str> = queues.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "myapp-production-uswest2-a",
            "myapp-production-uswest2-b",
            "myapp-testing-useast1-a",
            "myapp-testing-useast1-b",
            "plain",
        ]
    );
    let q = &queues["myapp-production-uswest2-b"];
    let tags = &q.spec.value()["tags"];
    assert_eq!(tags["team"], "prod-ops");
    assert_eq!(tags["service_instance"], "mine", "user tags win");
    assert_eq!(tags["cluster_name"], "myapp-production-uswest2");
    assert_eq!(tags["service_group"], "myapp-production");
    assert_eq!(tags["region"], "us-west-2");
    assert_eq!(q.labels[LABEL_INSTANCE], "myapp/production");
    assert_eq!(q.labels[LABEL_REGION], "us-west-2");
    assert_eq!(q.origin.line, 3, "the template line of the document");
    let plain = &queues["plain"];
    assert_eq!(
        plain.labels.keys().collect::<Vec<_>>(),
        vec![LABEL_REGION],
        "only its metadata.region"
    );
    assert_eq!(
        plain.spec.value()["tags"],
        serde_json::json!({}),
        "no standard tags outside services"
    );

    let tree = load_tree(d.path()).unwrap();
    assert_eq!(
        names_in(&tree, "default/us-east-1"),
        vec![
            "myapp-testing-useast1-a",
            "myapp-testing-useast1-b",
            "plain"
        ]
    );
    assert_eq!(names_in(&tree, "default/us-west-2").len(), 2);
}

#[test]
fn a_yaml_error_in_rendered_output_points_at_the_template_line() {
    let d = tree(&[
        ("myapp/service.yaml", "instances:\n  testing: {region: us-east-1}\n"),
        (
            "myapp/q.yaml",
            "{% for q in ['a', 'b'] %}\n---\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ service_group }}-{{ q }}\nspec:\n  attributes: {DelaySeconds: 5}\n  atributes: {}\n{% endfor %}\n",
        ),
    ]);
    let problems = problems_of(&d);
    assert_eq!(
        problems.len(),
        1,
        "the first error ends the file: {problems:?}"
    );
    assert!(
        problems[0].starts_with(
            "myapp/q.yaml:9:3 (rendered for myapp/testing): unknown field `atributes`"
        ),
        "{problems:?}"
    );
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n",
        ),
        (
            "myapp/q.yaml",
            "# a queue\n{% set n = 'q' %}\napiVersion: converge/v1\nkind: [{{ n }}\n",
        ),
    ]);
    let problems = problems_of(&d);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("myapp/q.yaml:5:") || problems[0].starts_with("myapp/q.yaml:4:"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("(rendered for myapp/testing)"),
        "{problems:?}"
    );
}

#[test]
fn template_errors_name_the_file_and_line() {
    let d = tree(&[
        ("myapp/service.yaml", "instances:\n  testing: {region: us-east-1}\n"),
        ("myapp/a.yaml", "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: {{ service_nmae }}\nspec: {}\n"),
        ("myapp/b.yaml", "apiVersion: converge/v1\n{% if %}\n"),
    ]);
    let problems = problems_of(&d);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("myapp/a.yaml:4:1 (rendered for myapp/testing): template undefined value")
            && problems[0].contains("service_nmae"),
        "{problems:?}"
    );
    assert!(
        problems[1]
            .starts_with("myapp/b.yaml:2:1 (rendered for myapp/testing): template syntax error"),
        "{problems:?}"
    );
}

#[test]
fn bad_values_and_service_files_are_errors_with_their_location() {
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n  staging: {}\n",
        ),
        ("myapp/values.yaml", "- not\n- a map\n"),
        ("myapp/values/prodution.yaml", "x: 1\n"),
        ("myapp/q.yaml", QUEUES),
    ]);
    let problems = problems_of(&d);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("myapp/service.yaml:3:")
                && p.contains("instance `staging` has no `region`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("myapp/values.yaml:1:1: a values file must be a map")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 2, "each problem once: {problems:?}");
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  production: {region: us-east-1}\n",
        ),
        ("myapp/values/prodution.yaml", "x: 1\n"),
    ]);
    let problems = problems_of(&d);
    assert_eq!(
        problems,
        vec!["myapp/values/prodution.yaml:1:1: values file for instance `prodution`, which myapp/service.yaml does not declare (instances: production); it would never be read"]
    );
}

#[test]
fn a_template_outside_services_renders_once_with_values() {
    let d = tree(&[
        ("values/base.yaml", "delay: 7\n"),
        ("svc/service.yaml", "instances: {}\n"),
        ("q.yaml", "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: q}\nspec:\n  attributes: {DelaySeconds: {{ values.delay }}}\n"),
    ]);
    let set = load(d.path()).unwrap();
    assert_eq!(
        set.of_kind("Queue").unwrap()["q"].spec.value()["attributes"]["DelaySeconds"],
        "7"
    );
}

#[test]
fn the_same_name_from_two_instances_is_a_duplicate_naming_both() {
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n  production: {region: us-east-1}\n",
        ),
        (
            "myapp/q.yaml",
            "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: shared}\nspec: {}\n",
        ),
    ]);
    let problems = problems_of(&d);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .contains("(rendered for myapp/testing): duplicate Queue `shared` in default/us-east-1: also defined at")
            && problems[0].ends_with("myapp/q.yaml:1:1 (rendered for myapp/production)"),
        "{problems:?}"
    );
}

#[test]
fn a_changed_values_file_changes_the_fingerprint() {
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n",
        ),
        ("myapp/values.yaml", "queues: [a]\nteam: x\n"),
        ("myapp/q.yaml", QUEUES),
    ]);
    let before = load(d.path()).unwrap().fingerprint;
    std::fs::write(
        d.path().join("myapp/values.yaml"),
        "queues: [a, b]\nteam: x\n",
    )
    .unwrap();
    let after = load(d.path()).unwrap();
    assert_ne!(before, after.fingerprint);
    assert_eq!(after.len(), 2);
}

#[test]
fn a_shared_template_renders_once_for_the_service() {
    let d = tree(&[
        ("myapp/service.yaml", SERVICE),
        ("myapp/values.yaml", "queues: [a]\nteam: ops\n"),
        ("myapp/queues.yaml", QUEUES),
        (
            "myapp/shared/q.yaml",
            "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: '{{ service_name }}-shared'}\nspec: {tags: {team: '{{ values.team }}'}}\n",
        ),
    ]);
    let set = load(d.path()).unwrap();
    let q = &set.of_kind("Queue").unwrap()["myapp-shared"];
    assert_eq!(
        q.spec.value()["tags"],
        serde_json::json!({"service_name": "myapp", "team": "ops"})
    );
    assert_eq!(q.labels[LABEL_SERVICE], "myapp");
    assert_eq!(q.context().as_deref(), Some("rendered for myapp (shared)"));
    let testing = to_manifests(&[&set], Some("myapp/testing"));
    assert!(testing.contains("name: myapp-shared"), "{testing}");
    assert!(
        testing.contains("name: myapp-testing-useast1-a"),
        "{testing}"
    );
    assert!(!testing.contains("myapp-production"), "{testing}");
    let t = load_tree(d.path()).unwrap();
    for shard in ["default/us-east-1", "default/us-west-2"] {
        assert!(
            names_in(&t, shard).contains(&"myapp-shared".to_string()),
            "shared resources exist in every region of the service's instances: {shard}"
        );
    }
    let d = tree(&[
        ("myapp/service.yaml", SERVICE),
        ("myapp/shared/q.yaml", "name: {{ service_instance }}\n"),
    ]);
    let problems = problems_of(&d);
    assert!(
        problems[0].starts_with(
            "myapp/shared/q.yaml:1:1 (rendered for myapp (shared)): template undefined value"
        ),
        "{problems:?}"
    );
}

#[test]
fn rendered_manifests_load_back_as_the_same_set() {
    let d = tree(&[
        ("myapp/service.yaml", SERVICE),
        ("myapp/values.yaml", "queues: [a, b]\nteam: ops\n"),
        ("myapp/queues.yaml", QUEUES),
    ]);
    let set = load(d.path()).unwrap();
    let text = to_manifests(&[&set], None);
    assert!(text.contains("# "), "{text}");
    let mut problems = Vec::new();
    let docs = parse_file(Path::new("rendered.yaml"), &text, &mut problems);
    assert!(problems.is_empty(), "{problems:?}\n{text}");
    assert_eq!(docs.len(), set.len());
    for doc in docs {
        let original = &set.of_kind(&doc.kind).unwrap()[&doc.name];
        assert_eq!(doc.spec, original.spec, "{}", doc.name);
    }
}

const ACCOUNTS: &str = "accounts:\n  shared: {id: \"123456789012\"}\n  staging: {id: \"111111111111\", role_arn: \"arn:aws:iam::111111111111:role/converge\"}\ndefault: shared\n";

fn queue(name: &str, metadata: &str) -> String {
    format!("---\napiVersion: converge/v1\nkind: Queue\nmetadata: {{name: {name}{metadata}}}\nspec: {{}}\n")
}

#[test]
fn resources_are_placed_in_the_shard_of_their_instance_or_metadata() {
    let d = tree(&[
        ("accounts.yaml", ACCOUNTS),
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1, account: staging}\n  production: {region: eu-west-1}\n",
        ),
        ("myapp/q.yaml", &queue("'{{ cluster_name }}'", "")),
        ("plain.yaml", &(queue("p1", ", region: us-east-1") + &queue("p2", ", region: eu-west-1, account: staging"))),
    ]);
    let t = load_tree(d.path()).unwrap();
    assert_eq!(
        names_in(&t, "staging/us-east-1"),
        vec!["myapp-testing-useast1"]
    );
    assert_eq!(
        names_in(&t, "shared/eu-west-1"),
        vec!["myapp-production-euwest1"]
    );
    assert_eq!(
        names_in(&t, "shared/us-east-1"),
        vec!["p1"],
        "the default account"
    );
    assert_eq!(names_in(&t, "staging/eu-west-1"), vec!["p2"]);
    assert_eq!(t.shards.len(), 4);
    assert_eq!(t.accounts.default, "shared");
    // Every shard of an account sees what the account's other shards desire.
    let set = &t.shards[&crate::core::ShardId::new("staging", "us-east-1")];
    assert!(set.contains_in("eu-west-1", "Queue", "p2"));
    assert!(
        !set.contains_in("eu-west-1", "Queue", "p1"),
        "another account's"
    );
}

#[test]
fn the_same_name_in_two_regions_is_fine_but_not_twice_in_one() {
    let d = tree(&[(
        "q.yaml",
        &(queue("q", ", region: us-east-1") + &queue("q", ", region: eu-west-1")),
    )]);
    assert_eq!(load_tree(d.path()).unwrap().len(), 2);
    let d = tree(&[
        ("a.yaml", &queue("q", ", region: us-east-1")),
        ("b.yaml", &queue("q", "")),
    ]);
    let problems = problems_of(&d);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("b.yaml:2:")
            && problems[0].contains("duplicate Queue `q` in default/us-east-1: also defined at")
            && problems[0].contains("a.yaml:2:"),
        "{problems:?}"
    );
}

#[test]
fn accounts_and_regions_that_do_not_exist_are_reported_where_written() {
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1, account: nope}\n",
        ),
        ("myapp/q.yaml", &queue("'{{ cluster_name }}'", "")),
        ("plain.yaml", &queue("p", ", account: other")),
    ]);
    let problems = problems_of(&d);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("service.yaml:2:")
            && p.contains("instance `testing`: account `nope`")
            && p.contains("no accounts.yaml")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("plain.yaml:2:") && p.contains("account `other`")),
        "{problems:?}"
    );
    let d = tree(&[
        ("accounts.yaml", ACCOUNTS),
        ("plain.yaml", &queue("p", ", region: mars-1")),
    ]);
    let problems = problems_of(&d);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("metadata.region") && p.contains("`mars-1` is not an AWS region")),
        "{problems:?}"
    );
}

#[test]
fn an_instance_template_cannot_move_its_resources() {
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n",
        ),
        (
            "myapp/q.yaml",
            &queue("'{{ cluster_name }}'", ", region: eu-west-1"),
        ),
    ]);
    let problems = problems_of(&d);
    assert!(
        problems.iter().any(|p| p.contains(
            "metadata.region: a service instance's resources are placed in the instance's region"
        )),
        "{problems:?}"
    );
}

#[test]
fn a_resource_without_region_must_name_it_when_the_tree_names_several() {
    let d = tree(&[
        (
            "a.yaml",
            &(queue("a", ", region: us-east-1") + &queue("b", ", region: eu-west-1")),
        ),
        ("c.yaml", &queue("c", "")),
    ]);
    // Not even with the controller's region: where it goes must not depend on where the
    // controller runs, nor move when an instance in another region is added.
    let e = load_tree(d.path()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("c.yaml:2:")
            && text.contains("Queue `c` has no region")
            && text.contains("eu-west-1, us-east-1"),
        "{text}"
    );
    // With one region in the tree, that region is the default.
    let d = tree(&[(
        "a.yaml",
        &(queue("a", ", region: eu-west-1") + &queue("c", "")),
    )]);
    let t = super::load::<Only>(d.path(), &LoadOptions::default()).unwrap();
    assert_eq!(names_in(&t, "default/eu-west-1"), vec!["a", "c"]);
    // ... even when the process runs in another region.
    let t = load_tree(d.path()).unwrap();
    assert_eq!(names_in(&t, "default/eu-west-1"), vec!["a", "c"]);
    // A tree that names none is in the controller's region.
    let d = tree(&[("c.yaml", &queue("c", ""))]);
    assert_eq!(
        names_in(&load_tree(d.path()).unwrap(), "default/us-east-1"),
        vec!["c"]
    );
}

#[test]
fn shared_templates_go_where_the_service_says() {
    let d = tree(&[
        ("accounts.yaml", ACCOUNTS),
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n  production: {region: eu-west-1}\nshared: {account: staging, region: eu-west-1}\n",
        ),
        ("myapp/shared/q.yaml", &queue("'{{ service_name }}-shared'", "")),
    ]);
    let t = load_tree(d.path()).unwrap();
    assert_eq!(names_in(&t, "staging/eu-west-1"), vec!["myapp-shared"]);
    // Without `shared`, instances that agree on one account and region take it.
    let d = tree(&[
        ("accounts.yaml", ACCOUNTS),
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: eu-west-1, account: staging}\n",
        ),
        (
            "myapp/shared/q.yaml",
            &queue("'{{ service_name }}-shared'", ""),
        ),
    ]);
    let t = load_tree(d.path()).unwrap();
    assert_eq!(names_in(&t, "staging/eu-west-1"), vec!["myapp-shared"]);
}

#[test]
fn placement_labels_written_by_hand_are_checked() {
    let d = tree(&[(
        "a.yaml",
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\n  labels: {converge/region: mars}\nspec: {}\n",
    )]);
    let problems = problems_of(&d);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("metadata.labels.converge/region: `mars` is not an AWS region")),
        "{problems:?}"
    );
}

#[test]
fn bad_instance_accounts_and_shared_placements_are_errors_at_their_line() {
    let d = tree(&[
        (
            "myapp/service.yaml",
            "instances:\n  testing: {region: us-east-1, account: 'a b'}\nshared: {account: ok, region: nowhere}\n",
        ),
        ("myapp/q.yaml", &queue("'{{ cluster_name }}'", "")),
    ]);
    let problems = problems_of(&d);
    assert!(
        problems.iter().any(|p| p.contains("service.yaml:2:")
            && p.contains("instance `testing`: account alias `a b` must be 1 to 32 letters")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("service.yaml:3:")
            && p.contains("shared.region: `nowhere` is not an AWS region")),
        "{problems:?}"
    );
}

/// Loads `d` reusing `cache`: the tree, or the problems (paths relative to the tree).
fn load_reusing(
    d: &tempfile::TempDir,
    cache: &reuse::RenderCache,
) -> Result<DesiredTree, Vec<String>> {
    let opts = LoadOptions {
        default_region: Some("us-east-1".into()),
    };
    let root = format!("{}/", d.path().display());
    super::load_reusing::<Only>(d.path(), &opts, cache).map_err(|e| match e {
        LoadError::Invalid(ps) => ps
            .iter()
            .map(|p| p.to_string().replace(&root, ""))
            .collect(),
        e => vec![e.to_string()],
    })
}

/// Every resource of a tree with its shard (all it carries, as text), for comparing two loads.
fn everything(t: &DesiredTree) -> Vec<String> {
    t.shards
        .iter()
        .flat_map(|(id, s)| {
            s.resources.values().flat_map(|m| m.values()).map(move |r| {
                format!(
                    "{id} {} {} {:?} {} {} {}",
                    r.kind, r.name, r.labels, r.spec, r.origin, r.hash
                )
            })
        })
        .collect()
}

#[test]
fn a_reload_reads_only_files_whose_stamp_changed_or_that_changed_just_before_they_were_read() {
    let plain = |delay: u8| {
        format!("apiVersion: converge/v1\nkind: Queue\nmetadata: {{name: plain, region: us-east-1}}\nspec: {{attributes: {{DelaySeconds: {delay}}}}}\n")
    };
    let d = tree(&[
        ("values/base.yaml", "team: ops\nqueues: [a]\n"),
        ("one/service.yaml", SERVICE),
        ("one/queues.yaml", QUEUES),
        ("plain.yaml", &plain(1)),
    ]);
    let cache = reuse::RenderCache::default();
    let same_as_full = |why: &str| {
        let reused = load_reusing(&d, &cache).unwrap();
        assert_eq!(
            everything(&reused),
            everything(&load_tree(d.path()).unwrap()),
            "{why}"
        );
        cache.last_reads()
    };
    assert_eq!(same_as_full("first load"), 4);
    // Written a moment ago: a file's times are coarse, so a stamp is not trusted until the
    // file had been left alone for a while before it was read.
    assert_eq!(
        same_as_full("just written"),
        4,
        "read again within the racy window"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        same_as_full("settled"),
        4,
        "the last reads were within the window"
    );
    assert_eq!(same_as_full("unchanged"), 0, "every stamp trusted");
    // The same size, another content: the stamp (change time, inode) differs.
    std::fs::write(d.path().join("plain.yaml"), plain(2)).unwrap();
    assert_eq!(same_as_full("one file rewritten"), 1);
    let t = load_reusing(&d, &cache).unwrap();
    let spec = t
        .shards
        .values()
        .find_map(|s| s.of_kind("Queue")?.get("plain"))
        .unwrap()
        .spec
        .value();
    assert_eq!(
        spec["attributes"]["DelaySeconds"], "2",
        "the new content, not the old"
    );
    // A file known unchanged but rendered again (its service's values changed) is read then.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        same_as_full("settled again"),
        1,
        "its last read was within the window"
    );
    assert_eq!(same_as_full("unchanged again"), 0);
    std::fs::write(d.path().join("one/values.yaml"), "queues: [z]\n").unwrap();
    assert_eq!(
        same_as_full("values added"),
        1,
        "only the new file is read by the walk"
    );
    let t = load_reusing(&d, &cache).unwrap();
    assert!(
        t.shards
            .values()
            .any(|s| s.contains("Queue", "one-testing-useast1-z")),
        "{:?}",
        everything(&t)
    );
}

#[test]
fn a_reload_renders_only_the_files_whose_inputs_changed_and_equals_a_full_load() {
    let d = tree(&[
        ("values/base.yaml", "team: ops\nqueues: [a]\n"),
        ("one/service.yaml", SERVICE),
        ("one/queues.yaml", QUEUES),
        ("two/service.yaml", SERVICE),
        ("two/queues.yaml", QUEUES),
        ("two/values/production.yaml", "team: prod-ops\n"),
        (
            "plain.yaml",
            "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: plain, region: us-east-1}\nspec: {}\n",
        ),
    ]);
    let cache = reuse::RenderCache::default();
    let check = |expect_rendered: usize, why: &str| {
        let reused = load_reusing(&d, &cache).unwrap();
        assert_eq!(cache.last_load().0, expect_rendered, "{why}");
        let full = load_tree(d.path()).unwrap();
        assert_eq!(
            everything(&reused),
            everything(&full),
            "{why}: same as a full load"
        );
        assert_eq!(reused.fingerprint, full.fingerprint, "{why}");
    };
    check(3, "the first load renders everything");
    check(0, "nothing changed");
    let write = |rel: &str, text: &str| std::fs::write(d.path().join(rel), text).unwrap();
    write(
        "two/queues.yaml",
        &QUEUES.replace("team:", "owner: x, team:"),
    );
    check(1, "one service's template");
    write("two/values/production.yaml", "team: other\n");
    check(1, "one service's instance values");
    write(
        "one/service.yaml",
        "instances:\n  testing: {region: us-east-1}\n",
    );
    check(1, "one service's instances");
    write("values/base.yaml", "team: ops\nqueues: [a, c]\n");
    check(
        3,
        "the base values feed every template (and the plain file's key: its directory)",
    );
    std::fs::remove_file(d.path().join("one/queues.yaml")).unwrap();
    let before = everything(&load_tree(d.path()).unwrap()).len();
    std::fs::remove_file(d.path().join("two/queues.yaml")).unwrap();
    check(0, "a file removed");
    let after = everything(&load_tree(d.path()).unwrap()).len();
    assert!(after < before, "its resources are gone: {before} → {after}");
}

#[test]
fn an_invalid_file_is_rendered_and_reported_afresh_each_time_exactly_as_a_full_load() {
    let d = tree(&[
        ("one/service.yaml", SERVICE),
        ("one/queues.yaml", QUEUES),
        ("values/base.yaml", "team: ops\nqueues: [a]\n"),
    ]);
    let cache = reuse::RenderCache::default();
    load_reusing(&d, &cache).unwrap();
    std::fs::write(
        d.path().join("one/queues.yaml"),
        QUEUES.replace("values.team", "values.nope"),
    )
    .unwrap();
    for _ in 0..2 {
        let problems = load_reusing(&d, &cache).unwrap_err();
        assert_eq!(
            problems,
            problems_of(&d),
            "the same problems as a full load"
        );
        assert!(!problems.is_empty());
        assert_eq!(cache.last_load().0, 1, "never kept, so rendered again");
    }
    std::fs::write(d.path().join("one/queues.yaml"), QUEUES).unwrap();
    let back = load_reusing(&d, &cache).unwrap();
    assert_eq!(everything(&back), everything(&load_tree(d.path()).unwrap()));
}

#[test]
fn an_instance_naming_an_unknown_account_stays_an_error_on_every_reload() {
    let d = tree(&[
        (
            "accounts.yaml",
            "accounts:\n  shared: {id: \"123456789012\"}\ndefault: shared\n",
        ),
        (
            "one/service.yaml",
            "instances:\n  testing: {region: us-east-1}\n",
        ),
        ("one/queues.yaml", QUEUES),
        ("values/base.yaml", "team: ops\nqueues: [a]\n"),
    ]);
    let cache = reuse::RenderCache::default();
    load_reusing(&d, &cache).unwrap();
    let write = |rel: &str, text: &str| std::fs::write(d.path().join(rel), text).unwrap();
    write(
        "one/service.yaml",
        "instances:\n  testing: {region: us-east-1, account: prod}\n",
    );
    for _ in 0..2 {
        let problems = load_reusing(&d, &cache).unwrap_err();
        assert_eq!(problems, problems_of(&d));
        assert!(problems.iter().any(|p| p.contains("prod")), "{problems:?}");
    }
    // The account is declared: the same service file is now valid.
    write(
        "accounts.yaml",
        "accounts:\n  shared: {id: \"123456789012\"}\n  prod: {id: \"111111111111\"}\ndefault: shared\n",
    );
    load_reusing(&d, &cache).unwrap();
    // And undeclared again: the service file, unchanged, is checked again.
    write(
        "accounts.yaml",
        "accounts:\n  shared: {id: \"123456789012\"}\ndefault: shared\n",
    );
    assert_eq!(load_reusing(&d, &cache).unwrap_err(), problems_of(&d));
}
