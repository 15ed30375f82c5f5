//! The spec of a queue as manifests write it, and the checks AWS would make of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds::common::json::JsonDoc;
use crate::kinds::common::scalar::Scalar;
use crate::kinds::common::tags;

/// The `spec` of a `kind: Queue`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// SQS attributes; only those written here are managed.
    #[serde(default)]
    pub attributes: QueueAttributes,
    /// The queue's complete tag set (plus `converge:managed-by`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The SQS attributes converge manages, by their AWS names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct QueueAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_message_size: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_period: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_message_wait_time_seconds: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_data_key_reuse_period_seconds: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_managed_sse_enabled: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo_queue: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_based_deduplication: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication_scope: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo_throughput_limit: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<JsonDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<JsonDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_allow_policy: Option<JsonDoc>,
}

/// What an attribute's value is: what validation asks of it and how it compares with AWS's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Text AWS takes as it is (and checks itself).
    Text,
    /// A whole number from the first to the second.
    Number(u64, u64),
    /// `true` or `false`.
    Bool,
    /// A JSON document: compared by meaning (AWS may reformat it).
    Json,
}

use Form::{Bool, Json, Number, Text};

/// Every attribute by its AWS name, as the spec spells it, in the order they are checked:
/// `(name, form, only FIFO queues have it)`.
const ATTRIBUTES: [(&str, Form, bool); 15] = [
    ("DelaySeconds", Number(0, 900), false),
    ("MaximumMessageSize", Number(1024, 1_048_576), false),
    ("MessageRetentionPeriod", Number(60, 1_209_600), false),
    ("ReceiveMessageWaitTimeSeconds", Number(0, 20), false),
    ("VisibilityTimeout", Number(0, 43_200), false),
    ("KmsMasterKeyId", Text, false),
    ("KmsDataKeyReusePeriodSeconds", Number(60, 86_400), false),
    ("SqsManagedSseEnabled", Bool, false),
    // Checked on its own: it must agree with the queue's name.
    ("FifoQueue", Text, false),
    ("ContentBasedDeduplication", Bool, true),
    ("DeduplicationScope", Text, true),
    ("FifoThroughputLimit", Text, true),
    ("Policy", Json, false),
    ("RedrivePolicy", Json, false),
    ("RedriveAllowPolicy", Json, false),
];

impl QueueAttributes {
    /// `(AWS name, value as sent to AWS, form, FIFO only)` for every attribute written, in the
    /// order of `ATTRIBUTES`. The spec's own serialisation gives the values by their AWS
    /// names: a scalar is its text, a document its compact JSON.
    pub fn written(&self) -> Vec<(&'static str, String, Form, bool)> {
        // A struct always serialises to an object.
        let Ok(Value::Object(written)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        ATTRIBUTES
            .iter()
            .filter_map(|&(name, form, fifo)| {
                let v = written.get(name)?;
                // A scalar serialises as its text.
                let text = match form {
                    Json => v.to_string(),
                    _ => v.as_str()?.to_string(),
                };
                Some((name, text, form, fifo))
            })
            .collect()
    }
}

/// Checks a queue name as SQS would.
pub fn validate_name(name: &str) -> Result<(), String> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    if name.is_empty() || name.len() > 80 {
        return Err(format!(
            "queue name `{name}` must be 1 to 80 characters long"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if base.is_empty() || !base.chars().all(allowed) {
        return Err(format!(
            "queue name `{name}` may contain only letters, digits, `-` and `_` (and end in `.fifo`)"
        ));
    }
    Ok(())
}

/// The checks beyond the schema; each message names its field.
pub fn validate(name: &str, spec: &QueueSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let fifo_name = name.ends_with(".fifo");
    let a = &spec.attributes;
    if let Some(f) = &a.fifo_queue {
        match (f.0.as_str(), fifo_name) {
            ("true", false) => problems.push("attributes.FifoQueue: a FIFO queue's name must end in `.fifo`".to_string()),
            ("false", true) => problems.push("attributes.FifoQueue: a queue named `*.fifo` is a FIFO queue; FifoQueue cannot be false".to_string()),
            ("true", true) | ("false", false) => {}
            (other, _) => problems.push(format!("attributes.FifoQueue: `{other}` must be true or false")),
        }
    }
    let written = a.written();
    for (attr, _, _, fifo_only) in &written {
        if *fifo_only && !fifo_name {
            problems.push(format!(
                "attributes.{attr}: only FIFO queues (`*.fifo`) have this attribute"
            ));
        }
    }
    // Number problems first, then the true-or-false ones.
    let mut not_bool = Vec::new();
    for (attr, v, form, _) in written {
        match form {
            Form::Number(lo, hi) if !v.parse::<u64>().is_ok_and(|n| (lo..=hi).contains(&n)) => {
                problems.push(format!(
                    "attributes.{attr}: `{v}` must be a whole number from {lo} to {hi}"
                ));
            }
            Form::Bool if v != "true" && v != "false" => {
                not_bool.push(format!("attributes.{attr}: `{v}` must be true or false"));
            }
            _ => {}
        }
    }
    problems.extend(not_bool);
    if let Some(rp) = a.redrive_policy.as_ref().map(JsonDoc::value) {
        if !(rp["deadLetterTargetArn"].is_string() && rp.get("maxReceiveCount").is_some()) {
            problems.push(
                "attributes.RedrivePolicy: needs deadLetterTargetArn (an ARN) and maxReceiveCount"
                    .to_string(),
            );
        }
    }
    tags::check_map(&spec.tags, &mut problems);
    problems
}
