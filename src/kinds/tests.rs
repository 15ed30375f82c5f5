//! The registry as the loader sees it: every kind is known, and the standard tags of a
//! service instance land in each kind's own spelling of tags.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::desired::instances::with_standard_tags;

fn std_tags() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("service_name".to_string(), "myapp".to_string()),
        ("service_instance".to_string(), "testing".to_string()),
    ])
}

fn typed(kind: &str, spec: Value) -> Value {
    Kinds::retype(kind, spec).unwrap()
}

#[test]
fn every_registered_kind_has_a_schema_and_a_tag_style() {
    for kind in Kinds::names() {
        assert!(Kinds::tag_style(kind).is_some(), "{kind}");
    }
    assert_eq!(Kinds::tag_style("Bucket"), None);
    assert!(Kinds::retype("Bucket", json!({}))
        .unwrap_err()
        .contains("unknown kind `Bucket`"));
}

#[test]
fn a_tag_map_gets_the_missing_standard_tags_and_user_tags_win() {
    let spec = typed(
        "Queue",
        json!({"tags": {"service_instance": "mine", "team": "ops"}}),
    );
    let out = with_standard_tags::<Kinds>("Queue", spec, &std_tags()).unwrap();
    assert_eq!(
        out["tags"],
        json!({"service_instance": "mine", "service_name": "myapp", "team": "ops"})
    );
}

#[test]
fn absent_tags_are_added_as_a_map_when_the_kind_takes_one() {
    let spec = typed("Queue", json!({}));
    let out = with_standard_tags::<Kinds>("Queue", spec, &std_tags()).unwrap();
    assert_eq!(out["tags"]["service_name"], "myapp");
}

fn asg(extra: Value) -> Value {
    let mut spec = json!({
        "min_size": 1,
        "max_size": 1,
        "launch_config": {"image_id": "ami-1", "instance_type": "t3.micro"},
    });
    if let (Value::Object(s), Value::Object(e)) = (&mut spec, extra) {
        s.extend(e);
    }
    typed("AutoScalingGroup", spec)
}

fn asg_tags(spec: &Value) -> Vec<(String, String, bool)> {
    spec["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
                t["propagate_at_launch"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_list_of_tags_gets_entries_that_propagate_at_launch() {
    let spec = asg(json!({"tags": [
        {"key": "Name", "value": "x", "propagate_at_launch": false},
        {"key": "service_name", "value": "mine"},
    ]}));
    let out = with_standard_tags::<Kinds>("AutoScalingGroup", spec, &std_tags()).unwrap();
    assert_eq!(
        asg_tags(&out),
        vec![
            ("Name".into(), "x".into(), false),
            ("service_name".into(), "mine".into(), false),
            ("service_instance".into(), "testing".into(), true),
        ]
    );
}

#[test]
fn an_untagged_group_gets_standard_tags_that_propagate_at_launch() {
    let out = with_standard_tags::<Kinds>("AutoScalingGroup", asg(json!({})), &std_tags()).unwrap();
    let tags = asg_tags(&out);
    assert_eq!(tags.len(), 2);
    assert!(tags.iter().all(|(_, _, p)| *p), "{tags:?}");
}

#[test]
fn a_kind_that_rejects_the_tags_is_an_error() {
    let spec = json!({"tags": [{"key": "Name", "value": "x"}]});
    let e = with_standard_tags::<Kinds>("NoSuchKind", spec, &std_tags()).unwrap_err();
    assert!(e.starts_with("standard tags:"), "{e}");
}

#[test]
fn a_kind_without_tags_is_left_alone() {
    let spec = typed(
        "DnsRecord",
        json!({"type": "CNAME", "values": ["x.example.com."]}),
    );
    let out = with_standard_tags::<Kinds>("DnsRecord", spec.clone(), &std_tags()).unwrap();
    assert_eq!(out, spec);
    assert!(out.get("tags").is_none());
}

mod shards {
    use crate::desired::{LoadError, LoadOptions};

    fn load(files: &[(&str, &str)]) -> Result<crate::core::DesiredTree, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            std::fs::write(dir.path().join(rel), text).unwrap();
        }
        let opts = LoadOptions {
            default_region: Some("us-east-1".into()),
        };
        super::load(dir.path(), &opts).map_err(|e| match e {
            LoadError::Invalid(ps) => ps.iter().map(|p| p.to_string()).collect(),
            e => vec![e.to_string()],
        })
    }

    fn doc(kind: &str, name: &str, metadata: &str, spec: &str) -> String {
        format!("---\napiVersion: converge/v1\nkind: {kind}\nmetadata: {{name: {name}{metadata}}}\nspec: {spec}\n")
    }

    const LB: &str = "{listeners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP}], availability_zones: [us-east-1a], security_groups: [web]}";

    #[test]
    fn global_kinds_go_to_the_accounts_global_shard() {
        let t = load(&[(
            "a.yaml",
            &(doc("IamRole", "r", ", region: eu-west-1", "{}")
                + &doc("Queue", "q", ", region: eu-west-1", "{}")),
        )])
        .unwrap();
        let shards: Vec<String> = t.shards.keys().map(|s| s.to_string()).collect();
        assert_eq!(shards, vec!["default/eu-west-1", "default/global"]);
    }

    #[test]
    fn a_shared_global_resource_exists_once_per_account_and_a_regional_one_per_region() {
        let dir = tempfile::tempdir().unwrap();
        let svc = dir.path().join("svc");
        std::fs::create_dir_all(svc.join("shared")).unwrap();
        std::fs::write(
            svc.join("service.yaml"),
            "instances:\n  a: {region: us-east-1}\n  b: {region: eu-west-1}\n",
        )
        .unwrap();
        std::fs::write(
            svc.join("shared/all.yaml"),
            doc("IamRole", "svc-role", "", "{}")
                + &doc("SecurityGroup", "svc", "", "{description: s}"),
        )
        .unwrap();
        let t = super::load(dir.path(), &LoadOptions::default()).unwrap();
        let names = |shard: &str, kind: &str| -> Vec<String> {
            let (a, r) = shard.split_once('/').unwrap();
            t.shards[&crate::core::ShardId::new(a, r)]
                .of_kind(kind)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(names("default/global", "IamRole"), vec!["svc-role"]);
        assert_eq!(names("default/us-east-1", "SecurityGroup"), vec!["svc"]);
        assert_eq!(names("default/eu-west-1", "SecurityGroup"), vec!["svc"]);
    }

    #[test]
    fn a_security_group_of_another_region_cannot_be_used() {
        let e = load(&[(
            "a.yaml",
            &(doc(
                "SecurityGroup",
                "web",
                ", region: eu-west-1",
                "{description: w}",
            ) + &doc("LoadBalancer", "lb", ", region: us-east-1", LB)),
        )])
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("security_groups: SecurityGroup `web` is desired in eu-west-1 (")
                && e[0].contains("not in us-east-1"),
            "{e:?}"
        );
        // In its own region it is fine.
        load(&[(
            "a.yaml",
            &(doc("SecurityGroup", "web", "", "{description: w}")
                + &doc("LoadBalancer", "lb", "", LB)),
        )])
        .unwrap();
    }

    #[test]
    fn a_record_names_the_region_when_the_load_balancer_name_is_in_several() {
        let both = doc(
            "SecurityGroup",
            "web",
            ", region: us-east-1",
            "{description: w}",
        ) + &doc(
            "SecurityGroup",
            "web",
            ", region: eu-west-1",
            "{description: w}",
        ) + &doc("LoadBalancer", "lb", ", region: us-east-1", LB)
            + &doc(
                "LoadBalancer",
                "lb",
                ", region: eu-west-1",
                &LB.replace("us-east-1a", "eu-west-1a"),
            );
        let record = |v: &str| {
            doc(
                "DnsRecord",
                "www.example.com.",
                "",
                &format!("{{type: CNAME, values: ['{v}']}}"),
            )
        };
        let e = load(&[("a.yaml", &(both.clone() + &record("loadbalancer:lb")))]).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("LoadBalancer `lb` is desired in several regions of account `default`")
                && e[0].contains("loadbalancer:<region>/lb"),
            "{e:?}"
        );
        load(&[(
            "a.yaml",
            &(both.clone() + &record("loadbalancer:eu-west-1/lb")),
        )])
        .unwrap();
        // A region where the name is not desired (a typo) is an error, not a wait forever.
        let e = load(&[("a.yaml", &(both + &record("loadbalancer:eu-west-2/lb")))]).unwrap_err();
        assert!(
            e[0].contains(
                "LoadBalancer `lb` is named in eu-west-2, but it is desired in eu-west-1 ("
            ),
            "{e:?}"
        );
    }
}
