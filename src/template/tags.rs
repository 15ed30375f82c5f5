//! Standard tags for resources rendered for a service instance, added generically at the JSON
//! level after a spec is typed, then typed again so the spec stays valid for its kind.
//!
//! - `tags` is a map: missing keys are added (tags the user wrote win).
//! - `tags` is a list of `{key, value, propagate_at_launch}` (Auto Scaling groups): missing keys
//!   are appended with `propagate_at_launch: true`, since node bootstrap reads them.
//! - `tags` is absent: the map form is tried, then the list form; the first one the kind
//!   accepts is kept. A kind without tags (DnsRecord) is left as it is.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::kinds;

/// `spec` (already typed for `kind`) with the standard `tags` added where the kind has tags.
/// An error means the kind has tags but rejected the standard ones.
pub fn add_standard_tags(
    kind: &str,
    spec: Value,
    tags: &BTreeMap<String, String>,
) -> Result<Value, String> {
    if tags.is_empty() {
        return Ok(spec);
    }
    let Value::Object(fields) = &spec else {
        return Ok(spec);
    };
    match fields.get("tags") {
        Some(Value::Object(written)) => {
            let mut merged = written.clone();
            for (k, v) in tags {
                merged
                    .entry(k.clone())
                    .or_insert_with(|| Value::String(v.clone()));
            }
            retype(kind, &spec, Value::Object(merged))
        }
        Some(Value::Array(written)) if !written.is_empty() => {
            let pascal = written.iter().any(|t| t.get("Key").is_some());
            let key_field = if pascal { "Key" } else { "key" };
            let present: Vec<&str> = written
                .iter()
                .filter_map(|t| t.get(key_field).and_then(Value::as_str))
                .collect();
            let mut merged = written.clone();
            for (k, v) in tags {
                if !present.contains(&k.as_str()) {
                    merged.push(list_entry(k, v, pascal));
                }
            }
            retype(kind, &spec, Value::Array(merged))
        }
        Some(Value::Array(_)) | Some(Value::Null) | None => {
            let map: Map<String, Value> = tags
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let candidates = [
                Value::Object(map),
                Value::Array(tags.iter().map(|(k, v)| list_entry(k, v, false)).collect()),
                Value::Array(tags.iter().map(|(k, v)| list_entry(k, v, true)).collect()),
            ];
            Ok(candidates
                .into_iter()
                .find_map(|c| retype(kind, &spec, c).ok())
                .unwrap_or(spec))
        }
        Some(_) => Ok(spec),
    }
}

fn list_entry(k: &str, v: &str, pascal: bool) -> Value {
    if pascal {
        json!({"Key": k, "Value": v, "PropagateAtLaunch": true})
    } else {
        json!({"key": k, "value": v, "propagate_at_launch": true})
    }
}

fn retype(kind: &str, spec: &Value, tags: Value) -> Result<Value, String> {
    let mut with = spec.clone();
    if let Value::Object(fields) = &mut with {
        fields.insert("tags".to_string(), tags);
    }
    kinds::spec_from_value(kind, with).map_err(|e| format!("standard tags: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_tags() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("service_name".to_string(), "myapp".to_string()),
            ("service_instance".to_string(), "testing".to_string()),
        ])
    }

    #[test]
    fn a_tag_map_gets_the_missing_standard_tags_and_user_tags_win() {
        let spec = kinds::spec_from_value(
            "Queue",
            json!({"tags": {"service_instance": "mine", "team": "ops"}}),
        )
        .unwrap();
        let out = add_standard_tags("Queue", spec, &std_tags()).unwrap();
        assert_eq!(
            out["tags"],
            json!({"service_instance": "mine", "service_name": "myapp", "team": "ops"})
        );
    }

    #[test]
    fn absent_tags_are_added_as_a_map_when_the_kind_takes_one() {
        let spec = kinds::spec_from_value("Queue", json!({})).unwrap();
        let out = add_standard_tags("Queue", spec, &std_tags()).unwrap();
        assert_eq!(out["tags"]["service_name"], "myapp");
    }

    fn asg(extra: serde_json::Value) -> Value {
        let mut spec = json!({
            "min_size": 1,
            "max_size": 1,
            "launch_config": {"image_id": "ami-1", "instance_type": "t3.micro"},
        });
        if let (Value::Object(s), Value::Object(e)) = (&mut spec, extra) {
            s.extend(e);
        }
        kinds::spec_from_value("AutoScalingGroup", spec).unwrap()
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
        let out = add_standard_tags("AutoScalingGroup", spec, &std_tags()).unwrap();
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
        let out = add_standard_tags("AutoScalingGroup", asg(json!({})), &std_tags()).unwrap();
        let tags = asg_tags(&out);
        assert_eq!(tags.len(), 2);
        assert!(tags.iter().all(|(_, _, p)| *p), "{tags:?}");
    }

    #[test]
    fn a_kind_that_rejects_the_tags_is_an_error() {
        let spec = json!({"tags": [{"key": "Name", "value": "x"}]});
        let e = add_standard_tags("NoSuchKind", spec, &std_tags()).unwrap_err();
        assert!(e.starts_with("standard tags:"), "{e}");
    }

    #[test]
    fn a_kind_without_tags_is_left_alone() {
        let spec = kinds::spec_from_value(
            "DnsRecord",
            json!({"type": "CNAME", "values": ["x.example.com."]}),
        )
        .unwrap();
        let out = add_standard_tags("DnsRecord", spec.clone(), &std_tags()).unwrap();
        assert_eq!(out, spec);
        assert!(out.get("tags").is_none());
    }
}
