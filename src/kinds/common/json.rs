//! JSON documents embedded in specs and live state (policies, redrive policies), kept
//! compact, and their semantic comparison: AWS may reformat them, and a number may come back
//! as a string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A JSON document written in YAML either as a mapping (preferred) or as a JSON string.
///
/// Kept as compact JSON text and parsed when compared or sent: a parsed document takes about
/// eight times its text in memory (maps of maps), and a fleet holds thousands of policies
/// between sweeps (at 1,000 services, IAM's alone were 17 MiB parsed).
#[derive(Clone)]
pub struct JsonDoc(Box<str>);

impl JsonDoc {
    /// The document of `value`.
    pub fn new(value: &Value) -> JsonDoc {
        JsonDoc(value.to_string().into_boxed_str())
    }

    /// The document, parsed.
    pub fn value(&self) -> Value {
        // The text was written from a `Value`: it always parses back.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// Compact JSON text, as sent to AWS.
    pub fn to_text(&self) -> String {
        self.0.to_string()
    }
}

/// `null`, as a missing document reads.
impl Default for JsonDoc {
    fn default() -> JsonDoc {
        JsonDoc("null".into())
    }
}

impl From<Value> for JsonDoc {
    fn from(value: Value) -> JsonDoc {
        JsonDoc::new(&value)
    }
}

/// Equal when they parse to the same JSON (as the parsed documents compared before).
impl PartialEq for JsonDoc {
    fn eq(&self, other: &JsonDoc) -> bool {
        self.0 == other.0 || self.value() == other.value()
    }
}

impl fmt::Debug for JsonDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::String(s) => serde_json::from_str::<Value>(&s)
                .map(JsonDoc::from)
                .map_err(|e| serde::de::Error::custom(format!("not valid JSON: {e}"))),
            Value::Object(_) | Value::Array(_) => Ok(JsonDoc::from(v)),
            other => Err(serde::de::Error::custom(format!(
                "expected a mapping or a JSON string, found {other}"
            ))),
        }
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
