//! Semantic comparison of JSON documents embedded in attributes (queue policies, redrive
//! policies): AWS may reformat them, and a number may come back as a string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A JSON document written in YAML either as a mapping (preferred) or as a JSON string.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonDoc(pub Value);

impl Serialize for JsonDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::String(s) => serde_json::from_str(&s)
                .map(JsonDoc)
                .map_err(|e| serde::de::Error::custom(format!("not valid JSON: {e}"))),
            Value::Object(_) | Value::Array(_) => Ok(JsonDoc(v)),
            other => Err(serde::de::Error::custom(format!(
                "expected a mapping or a JSON string, found {other}"
            ))),
        }
    }
}

impl JsonDoc {
    /// Compact JSON text, as sent to AWS.
    pub fn to_text(&self) -> String {
        self.0.to_string()
    }
}

/// True when two JSON texts mean the same: object key order is ignored, and a number equals
/// the same number written as a string.
pub fn same_json_text(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => same_json(&x, &y),
        _ => a == b,
    }
}

/// See [`same_json_text`].
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_number_strings_are_not_differences() {
        assert!(same_json_text(
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#,
            r#"{"maxReceiveCount":"5","deadLetterTargetArn":"arn:x"}"#
        ));
    }

    #[test]
    fn a_real_change_is_a_difference() {
        assert!(!same_json_text(
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#,
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":6}"#
        ));
        assert!(!same_json_text(r#"{"a":1}"#, r#"{"a":1,"b":2}"#));
    }
}
