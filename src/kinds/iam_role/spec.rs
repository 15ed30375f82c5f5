//! The spec as written (Salt's `boto_iam_role.present` names) and its checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds::common::json::JsonDoc;
use crate::kinds::common::{tags, validate};

/// The trust policy used when the spec has none: EC2 may assume the role.
pub(super) fn default_trust_policy() -> Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

fn default_path() -> String {
    "/".to_string()
}

fn yes() -> bool {
    true
}

/// The `spec` of a `kind: IamRole` (field names as Salt's `boto_iam_role.present`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRoleSpec {
    /// The trust policy (who may assume the role), a mapping or a JSON string. Default: EC2
    /// may assume the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_document: Option<JsonDoc>,
    /// Inline policies: policy name → document. Inline policies not listed are deleted.
    #[serde(default)]
    pub policies: BTreeMap<String, JsonDoc>,
    /// ARNs of the managed policies to attach. Others attached to the role are detached.
    #[serde(default)]
    pub managed_policies: Vec<String>,
    /// The role's path; cannot change on an existing role.
    #[serde(default = "default_path")]
    pub path: String,
    /// The role's complete tag set (plus `converge:managed-by`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Create an instance profile of the same name holding the role (Salt's
    /// `create_instance_profile`, also accepted). `false`: none is created.
    #[serde(default = "yes", alias = "create_instance_profile")]
    pub instance_profile: bool,
    /// Managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds, 3600 to 43200; managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<i32>,
}

impl IamRoleSpec {
    /// The trust policy to send: as written, or the default.
    pub(super) fn trust_policy(&self) -> Value {
        self.policy_document
            .as_ref()
            .map(JsonDoc::value)
            .unwrap_or_else(default_trust_policy)
    }

    /// True when the role's settings (not in the authorization details) must be read.
    pub(super) fn reads_settings(&self) -> bool {
        self.description.is_some() || self.max_session_duration.is_some()
    }
}

/// IAM names (roles, instance profiles, inline policies): letters, digits and `+=,.@_-`.
fn iam_name_ok(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// Checks a role name as IAM would.
pub(super) fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "role name `{name}` must be 1 to 64 characters long"
        ));
    }
    if !iam_name_ok(name) {
        return Err(format!(
            "role name `{name}` may contain only letters, digits and `+=,.@_-`"
        ));
    }
    Ok(())
}

/// Checks a policy document's shape (what IAM would reject with MalformedPolicyDocument).
fn check_document(field: &str, doc: &Value, problems: &mut Vec<String>) {
    let Some(map) = doc.as_object() else {
        problems.push(format!("{field}: a policy document must be a mapping"));
        return;
    };
    match map.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(v) => problems.push(format!(
            "{field}.Version: `{}` must be 2012-10-17 (or 2008-10-17)",
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        )),
    }
    match map.get("Statement") {
        Some(Value::Object(_)) => {}
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_object) => {}
        _ => problems.push(format!(
            "{field}.Statement: must be a statement mapping or a non-empty list of them"
        )),
    }
}

/// The checks beyond the schema; each message names its field.
pub(super) fn validate(spec: &IamRoleSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(doc) = &spec.policy_document {
        check_document("policy_document", &doc.value(), &mut problems);
    }
    for (policy, doc) in &spec.policies {
        if policy.is_empty() || policy.len() > 128 || !iam_name_ok(policy) {
            problems.push(format!(
                "policies.{policy}: a policy name is 1 to 128 letters, digits and `+=,.@_-`"
            ));
        }
        check_document(&format!("policies.{policy}"), &doc.value(), &mut problems);
    }
    for arn in &spec.managed_policies {
        if !arn.starts_with("arn:") || !arn.contains(":policy/") {
            problems.push(format!(
                "managed_policies: `{arn}` must be a policy ARN (arn:aws:iam::<account or aws>:policy/...)"
            ));
        }
    }
    validate::listed_once(&mut problems, "managed_policies", &spec.managed_policies);
    if spec.managed_policies.len() > 20 {
        problems.push(format!(
            "managed_policies: {} policies; IAM attaches at most 20 to a role",
            spec.managed_policies.len()
        ));
    }
    let p = &spec.path;
    if p.is_empty()
        || p.len() > 512
        || !p.starts_with('/')
        || !p.ends_with('/')
        || !p.chars().all(|c| ('!'..='~').contains(&c))
    {
        problems.push(format!(
            "path: `{p}` must start and end with `/`, be at most 512 characters and contain no spaces"
        ));
    }
    if let Some(d) = &spec.description {
        if d.chars().count() > 1000 {
            problems.push("description: at most 1000 characters".to_string());
        }
    }
    if let Some(m) = spec.max_session_duration {
        if !(3600..=43_200).contains(&m) {
            problems.push(format!(
                "max_session_duration: `{m}` must be from 3600 to 43200 seconds"
            ));
        }
    }
    tags::check_map(&spec.tags, &mut problems);
    problems
}
