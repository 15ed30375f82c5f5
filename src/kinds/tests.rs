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
