//! Standard tags for resources rendered for a service instance, added to a typed spec (as
//! JSON) in the spelling the kind declares ([`TagStyle`]); the loader types the result again.
//!
//! - [`TagStyle::Map`]: `tags` is a map; missing keys are added (tags the user wrote win).
//! - [`TagStyle::List`]: `tags` is a list of `{key, value, propagate_at_launch}` (Auto Scaling
//!   groups); missing keys are appended with `propagate_at_launch: true`, since node bootstrap
//!   reads them.
//! - [`TagStyle::None`]: the kind has no tags (DnsRecord); the spec is left as it is.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::core::TagStyle;

/// `spec` with the standard `tags` added, in `style`. Tags already written win.
pub fn add_standard_tags(style: TagStyle, spec: Value, tags: &BTreeMap<String, String>) -> Value {
    let Value::Object(mut fields) = spec else {
        return spec;
    };
    if tags.is_empty() || style == TagStyle::None {
        return Value::Object(fields);
    }
    let merged = match (style, fields.remove("tags")) {
        (TagStyle::Map, Some(Value::Object(mut written))) => {
            for (k, v) in tags {
                written
                    .entry(k.clone())
                    .or_insert_with(|| Value::String(v.clone()));
            }
            Value::Object(written)
        }
        (TagStyle::Map, None | Some(Value::Null)) => Value::Object(
            tags.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<Map<_, _>>(),
        ),
        (TagStyle::List, Some(Value::Array(mut written))) => {
            let present: Vec<String> = written
                .iter()
                .filter_map(|t| t.get("key").and_then(Value::as_str).map(String::from))
                .collect();
            for (k, v) in tags {
                if !present.contains(k) {
                    written.push(list_entry(k, v));
                }
            }
            Value::Array(written)
        }
        (TagStyle::List, None | Some(Value::Null)) => {
            Value::Array(tags.iter().map(|(k, v)| list_entry(k, v)).collect())
        }
        // A shape the style does not expect: the kind's own typing decides.
        (_, Some(other)) => other,
        (_, None) => return Value::Object(fields),
    };
    fields.insert("tags".to_string(), merged);
    Value::Object(fields)
}

fn list_entry(k: &str, v: &str) -> Value {
    json!({"key": k, "value": v, "propagate_at_launch": true})
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
        let spec = json!({"tags": {"service_instance": "mine", "team": "ops"}});
        let out = add_standard_tags(TagStyle::Map, spec, &std_tags());
        assert_eq!(
            out["tags"],
            json!({"service_instance": "mine", "service_name": "myapp", "team": "ops"})
        );
    }

    #[test]
    fn absent_tags_are_added_in_the_kinds_spelling() {
        let out = add_standard_tags(TagStyle::Map, json!({}), &std_tags());
        assert_eq!(out["tags"]["service_name"], "myapp");
        let out = add_standard_tags(TagStyle::List, json!({"tags": null}), &std_tags());
        assert_eq!(
            out["tags"],
            json!([
                {"key": "service_instance", "value": "testing", "propagate_at_launch": true},
                {"key": "service_name", "value": "myapp", "propagate_at_launch": true},
            ])
        );
    }

    #[test]
    fn a_list_of_tags_gets_entries_that_propagate_at_launch() {
        let spec = json!({"tags": [
            {"key": "Name", "value": "x", "propagate_at_launch": false},
            {"key": "service_name", "value": "mine", "propagate_at_launch": false},
        ]});
        let out = add_standard_tags(TagStyle::List, spec, &std_tags());
        assert_eq!(
            out["tags"],
            json!([
                {"key": "Name", "value": "x", "propagate_at_launch": false},
                {"key": "service_name", "value": "mine", "propagate_at_launch": false},
                {"key": "service_instance", "value": "testing", "propagate_at_launch": true},
            ])
        );
    }

    #[test]
    fn a_kind_without_tags_is_left_alone() {
        let spec = json!({"type": "CNAME", "values": ["x.example.com."]});
        let out = add_standard_tags(TagStyle::None, spec.clone(), &std_tags());
        assert_eq!(out, spec);
    }
}
