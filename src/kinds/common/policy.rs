//! Semantic comparison of IAM policy documents (trust policies, inline policies, resource
//! policies), so that the ways AWS hands a policy back never look like drift.
//!
//! [`decode`] reads a document as AWS returns it: IAM URL-encodes policy documents (RFC 3986)
//! in `GetAccountAuthorizationDetails`, `GetRolePolicy` and friends; other services return
//! plain JSON. [`normalise`] rewrites a document into one canonical form, and
//! [`same_policy`] compares two canonical forms. What is *not* a difference:
//!
//! - object key order, and the order of statements, of `Action`/`NotAction` and
//!   `Resource`/`NotResource` values, of principal values and of condition values (all sets);
//!   a repeated statement or value counts once;
//! - a single `Statement` (an object), `Action`, `NotAction`, `Resource`, `NotResource`,
//!   principal value or condition value written as a scalar instead of a one-element list;
//! - the case of action names (`s3:GetObject` = `S3:getobject`: IAM matches actions
//!   case-insensitively);
//! - `"Principal": "*"` and `"Principal": {"AWS": "*"}` (the same per the IAM reference), and an
//!   account principal written as `123456789012` or as `arn:<partition>:iam::123456789012:root`
//!   (IAM stores the former as the latter);
//! - a condition value written as a number or boolean instead of a string (`false` = `"false"`).
//!
//! `Version`: an absent `Version` is `2008-10-17`, as AWS defines it, and is therefore
//! *different* from `2012-10-17` (the two versions interpret `${...}` policy variables
//! differently, so this is a real difference, not a formatting one). There is no false drift
//! from this: IAM returns the `Version` exactly as it was stored and never adds one. Everything
//! else (`Effect`, `Sid`, ARNs, condition operators and keys) compares exactly.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The policy language version AWS assumes when a document has no `Version`.
pub const DEFAULT_VERSION: &str = "2008-10-17";

/// Reads a policy document as returned by AWS: plain JSON, or URL-encoded JSON (IAM).
pub fn decode(text: &str) -> Result<Value, String> {
    let t = text.trim();
    let json = if t.starts_with('{') || t.starts_with('[') {
        Cow::Borrowed(t)
    } else {
        Cow::Owned(percent_decode(t)?)
    };
    serde_json::from_str(&json).map_err(|e| format!("policy document is not valid JSON: {e}"))
}

/// Decodes `%XX` escapes (RFC 3986); every other character stands for itself.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("policy document has a bad URL escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "policy document is not UTF-8 once URL-decoded".to_string())
}

/// True when two policy documents mean the same (see the module documentation).
pub fn same_policy(a: &Value, b: &Value) -> bool {
    normalise(a) == normalise(b)
}

/// The canonical form of a policy document: `Version` always present, `Statement` a sorted
/// list of canonical statements, every set-valued element a sorted list without repeats.
/// Anything that is not a policy-shaped object is returned unchanged.
pub fn normalise(doc: &Value) -> Value {
    let Value::Object(map) = doc else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let v = match k.as_str() {
            "Statement" => statements(v),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    if !out.contains_key("Version") {
        out.insert("Version".into(), Value::String(DEFAULT_VERSION.into()));
    }
    Value::Object(out)
}

/// The statements of a document, canonical and sorted (a single statement object is a list
/// of one).
fn statements(v: &Value) -> Value {
    let list: Vec<Value> = match v {
        Value::Array(items) => items.iter().map(statement).collect(),
        Value::Object(_) => vec![statement(v)],
        other => return other.clone(),
    };
    sorted_set(list)
}

fn statement(v: &Value) -> Value {
    let Value::Object(map) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let v = match k.as_str() {
            "Action" | "NotAction" => string_set(v, |s| s.to_ascii_lowercase()),
            "Resource" | "NotResource" => string_set(v, str::to_string),
            "Principal" | "NotPrincipal" => principal(v),
            "Condition" => condition(v),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// A scalar or a list of strings as a sorted list without repeats; `map` rewrites each string.
fn string_set(v: &Value, map: impl Fn(&str) -> String) -> Value {
    let items: Vec<Value> = match v {
        Value::String(s) => vec![Value::String(map(s))],
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Value::String(map(s)),
                other => other.clone(),
            })
            .collect(),
        other => return other.clone(),
    };
    sorted_set(items)
}

/// `"*"` is `{"AWS": "*"}`; each principal type's values are a set; an account id and its
/// `:root` ARN are the same principal.
fn principal(v: &Value) -> Value {
    match v {
        Value::String(s) if s == "*" => {
            let mut m = Map::new();
            m.insert("AWS".into(), Value::Array(vec![Value::String("*".into())]));
            Value::Object(m)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = if k == "AWS" {
                    string_set(v, account_root)
                } else {
                    string_set(v, str::to_string)
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// `arn:<partition>:iam::<12 digits>:root` → the bare account id (IAM's two spellings of one
/// principal).
fn account_root(s: &str) -> String {
    let parts: Vec<&str> = s.split(':').collect();
    if let [arn, _partition, iam, region, account, root] = parts.as_slice() {
        if *arn == "arn"
            && *iam == "iam"
            && region.is_empty()
            && *root == "root"
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
        {
            return (*account).to_string();
        }
    }
    s.to_string()
}

/// `{operator: {key: value or [values]}}`: values are sets of strings (numbers and booleans as
/// their text).
fn condition(v: &Value) -> Value {
    let Value::Object(ops) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (op, keys) in ops {
        let keys = match keys {
            Value::Object(keys) => {
                let mut m = Map::new();
                for (k, values) in keys {
                    let list: Vec<Value> = match values {
                        Value::Array(items) => items.iter().map(scalar_text).collect(),
                        other => vec![scalar_text(other)],
                    };
                    m.insert(k.clone(), sorted_set(list));
                }
                Value::Object(m)
            }
            other => other.clone(),
        };
        out.insert(op.clone(), keys);
    }
    Value::Object(out)
}

fn scalar_text(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// Sorts by canonical text and drops repeats.
fn sorted_set(items: Vec<Value>) -> Value {
    let by_key: BTreeMap<String, Value> = items.into_iter().map(|v| (key(&v), v)).collect();
    Value::Array(by_key.into_values().collect())
}

/// Canonical JSON text with object keys sorted, independent of serde_json's map ordering.
fn key(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), key(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(key).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// How many statements a document has (a single statement object counts as one).
pub fn statement_count(doc: &Value) -> usize {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(_)) => 1,
        _ => 0,
    }
}

/// A document as shown in plans, `/status` and the audit log: never the body, only its size.
pub fn summarise(doc: &Value) -> String {
    let n = statement_count(doc);
    format!(
        "<policy document, {n} statement{}, {} bytes>",
        if n == 1 { "" } else { "s" },
        doc.to_string().len()
    )
}

/// The canonical statements only in `a` and only in `b` (for debug logs of a policy change).
pub fn statement_difference(a: &Value, b: &Value) -> (Vec<Value>, Vec<Value>) {
    let list = |doc: &Value| -> Vec<Value> {
        match normalise(doc).get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        }
    };
    let (la, lb) = (list(a), list(b));
    let only_a = la.iter().filter(|s| !lb.contains(s)).cloned().collect();
    let only_b = lb.iter().filter(|s| !la.contains(s)).cloned().collect();
    (only_a, only_b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `(why, a, b, same)`: every row is checked both ways round.
    fn table() -> Vec<(&'static str, Value, Value, bool)> {
        let ec2 = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        vec![
            ("identical documents", ec2.clone(), ec2.clone(), true),
            (
                "key order within objects",
                json!({"Statement": [{"Resource": "*", "Action": "s3:Get*", "Effect": "Allow"}], "Version": "2012-10-17"}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                true,
            ),
            (
                "a single Statement object equals a list of one",
                json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                true,
            ),
            (
                "scalar Action, Resource, NotAction, NotResource equal lists of one",
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
                    {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:iam::1:role/x"}]}),
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::b/*"]},
                    {"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": ["arn:aws:iam::1:role/x"]}]}),
                true,
            ),
            (
                "order of statements, actions and resources",
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:List*", "s3:Get*"], "Resource": ["arn:b", "arn:a"]},
                    {"Effect": "Allow", "Action": "ec2:DescribeTags", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "ec2:DescribeTags", "Resource": "*"},
                    {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": ["arn:a", "arn:b"]}]}),
                true,
            ),
            (
                "a repeated action counts once",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:Get*"], "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                true,
            ),
            (
                "action names are case-insensitive",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "S3:getObject", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
                true,
            ),
            (
                "an absent Version is 2008-10-17",
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                true,
            ),
            (
                "an absent Version is not 2012-10-17",
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                false,
            ),
            (
                "a scalar service principal equals a list of one",
                ec2.clone(),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]}),
                true,
            ),
            (
                "principal values are a set",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}}]}),
                true,
            ),
            (
                "Principal * is {AWS: *}",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}]}),
                true,
            ),
            (
                "an account id is its :root ARN",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "123456789012"}}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]}}]}),
                true,
            ),
            (
                "another account is another principal",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "123456789012"}}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}}]}),
                false,
            ),
            (
                "a different service principal",
                ec2.clone(),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
                false,
            ),
            (
                "a single condition value equals a list of one, in any order, numbers as text",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "arn:aws:s3:::b",
                    "Condition": {"StringLike": {"s3:prefix": "deploy/myapp/*"}, "Bool": {"aws:SecureTransport": true},
                                  "NumericLessThan": {"s3:max-keys": ["10", 5]}}}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:List*"], "Resource": ["arn:aws:s3:::b"],
                    "Condition": {"StringLike": {"s3:prefix": ["deploy/myapp/*"]}, "Bool": {"aws:SecureTransport": "true"},
                                  "NumericLessThan": {"s3:max-keys": [5, 10]}}}]}),
                true,
            ),
            (
                "a different condition value",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*",
                    "Condition": {"StringLike": {"s3:prefix": "deploy/myapp/*"}}}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*",
                    "Condition": {"StringLike": {"s3:prefix": ["deploy/other/*"]}}}]}),
                false,
            ),
            (
                "a different condition operator",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*",
                    "Condition": {"StringLike": {"s3:prefix": "deploy/*"}}}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*",
                    "Condition": {"StringEquals": {"s3:prefix": "deploy/*"}}}]}),
                false,
            ),
            (
                "an added action",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:Put*"], "Resource": "*"}]}),
                false,
            ),
            (
                "Allow is not Deny",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:Get*", "Resource": "*"}]}),
                false,
            ),
            (
                "resource ARNs are case-sensitive",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::Bucket"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::bucket"}]}),
                false,
            ),
            (
                "Action is not NotAction",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "s3:Get*", "Resource": "*"}]}),
                false,
            ),
            (
                "a changed Sid",
                json!({"Version": "2012-10-17", "Statement": [{"Sid": "a", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Sid": "b", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                false,
            ),
            (
                "a removed statement",
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
                    {"Effect": "Allow", "Action": "ec2:DescribeTags", "Resource": "*"}]}),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}),
                false,
            ),
        ]
    }

    #[test]
    fn policy_documents_compare_semantically() {
        let rows = table();
        assert!(rows.len() >= 10);
        for (why, a, b, same) in rows {
            assert_eq!(same_policy(&a, &b), same, "{why}: a vs b");
            assert_eq!(same_policy(&b, &a), same, "{why}: b vs a");
        }
    }

    #[test]
    fn url_encoded_documents_decode_to_the_same_policy() {
        // As IAM returns an inline policy (Python's urllib quote of json.dumps).
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3AGet%2A%22%2C%20%22Resource%22%3A%20%22%2A%22%7D%7D";
        let live = decode(encoded).unwrap();
        let desired = serde_json::json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["*"]}]});
        assert!(same_policy(&live, &desired));
        assert_eq!(decode(r#" {"a": "50%"} "#).unwrap()["a"], "50%");
        assert_eq!(decode("%7B%22a%22%3A%2250%25%22%7D").unwrap()["a"], "50%");
        // Lower-case escapes and characters outside the reserved set are fine too.
        assert_eq!(decode("%7b%22a%22:%22b c%22%7d").unwrap()["a"], "b c");
    }

    #[test]
    fn bad_documents_are_errors_not_panics() {
        assert!(decode("%7B%2").unwrap_err().contains("bad URL escape"));
        assert!(decode("%ZZ").unwrap_err().contains("bad URL escape"));
        assert!(decode("%FF%FE").unwrap_err().contains("not UTF-8"));
        assert!(decode("{not json").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn normalise_is_idempotent_and_fills_the_version() {
        let doc = serde_json::json!({"Statement": {"Effect": "Allow", "Action": ["b", "A"], "Resource": "*"}});
        let once = normalise(&doc);
        assert_eq!(normalise(&once), once);
        assert_eq!(once["Version"], DEFAULT_VERSION);
        assert_eq!(
            once["Statement"][0]["Action"],
            serde_json::json!(["a", "b"])
        );
    }

    #[test]
    fn summaries_never_show_the_body() {
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secret:thing", "Resource": "*"}]});
        let s = summarise(&doc);
        assert_eq!(
            s,
            format!(
                "<policy document, 1 statement, {} bytes>",
                doc.to_string().len()
            )
        );
        assert!(!s.contains("secret"));
    }

    #[test]
    fn the_statement_difference_names_only_what_changed() {
        let a = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "a", "Resource": "*"},
                                                 {"Effect": "Allow", "Action": "b", "Resource": "*"}]});
        let b = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": ["b"], "Resource": "*"},
                                                 {"Effect": "Allow", "Action": "c", "Resource": "*"}]});
        let (only_a, only_b) = statement_difference(&a, &b);
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0]["Action"], serde_json::json!(["a"]));
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0]["Action"], serde_json::json!(["c"]));
    }
}
