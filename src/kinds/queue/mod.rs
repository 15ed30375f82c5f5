//! `kind: Queue` — an SQS queue: attributes and tags.
//!
//! Reads: one paginated `ListQueues` for the whole region, then the two per-queue reads SQS
//! forces (`GetQueueAttributes`, `ListQueueTags`), only for desired queues (and, with
//! `--prune`, for every queue, to find the ones this controller owns).
//!
//! Only the attributes written in the spec are managed; the others keep whatever AWS has.
//! Tags are authoritative: tags not in the spec are removed (except AWS's own `aws:` tags).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use aws_sdk_sqs::types::QueueAttributeName;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::common::json::{same_json_text, JsonDoc};
use super::common::refs;
use crate::aws::{classify, Clients};
use crate::core::facts::Published;
use crate::core::{Action, Change, ErrorClass, FieldChange, KindError, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// SQS codes that retrying will not fix.
const TERMINAL: &[&str] = &[
    "QueueNameExists",
    "QueueAlreadyExists",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidSecurity",
    "KmsAccessDenied",
];
/// The queue vanished between the listing and the read.
const NOT_FOUND: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

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

/// How an attribute value compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Text,
    Json,
}

impl QueueAttributes {
    /// `(AWS name, value as sent to AWS, how to compare)` for every attribute written.
    fn pairs(&self) -> Vec<(&'static str, String, Compare)> {
        let mut out = Vec::new();
        let scalars: [(&'static str, &Option<Scalar>); 12] = [
            ("DelaySeconds", &self.delay_seconds),
            ("MaximumMessageSize", &self.maximum_message_size),
            ("MessageRetentionPeriod", &self.message_retention_period),
            (
                "ReceiveMessageWaitTimeSeconds",
                &self.receive_message_wait_time_seconds,
            ),
            ("VisibilityTimeout", &self.visibility_timeout),
            ("KmsMasterKeyId", &self.kms_master_key_id),
            (
                "KmsDataKeyReusePeriodSeconds",
                &self.kms_data_key_reuse_period_seconds,
            ),
            ("SqsManagedSseEnabled", &self.sqs_managed_sse_enabled),
            ("FifoQueue", &self.fifo_queue),
            (
                "ContentBasedDeduplication",
                &self.content_based_deduplication,
            ),
            ("DeduplicationScope", &self.deduplication_scope),
            ("FifoThroughputLimit", &self.fifo_throughput_limit),
        ];
        for (name, v) in scalars {
            if let Some(v) = v {
                out.push((name, v.0.clone(), Compare::Text));
            }
        }
        let docs: [(&'static str, &Option<JsonDoc>); 3] = [
            ("Policy", &self.policy),
            ("RedrivePolicy", &self.redrive_policy),
            ("RedriveAllowPolicy", &self.redrive_allow_policy),
        ];
        for (name, v) in docs {
            if let Some(v) = v {
                out.push((name, v.to_text(), Compare::Json));
            }
        }
        out
    }
}

/// An attribute value: a string, number or boolean in YAML, a string for AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A queue as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveQueue {
    pub url: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// One queue mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueChange {
    Create {
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    },
    /// attribute → (live, desired)
    SetAttributes(BTreeMap<String, (Option<String>, String)>),
    /// tag → (live, desired)
    Tag(BTreeMap<String, (Option<String>, String)>),
    /// tag → live value
    Untag(BTreeMap<String, String>),
    /// An immutable attribute differs.
    Replace {
        attribute: String,
        live: Option<String>,
        desired: String,
    },
}

/// Shows an attribute value in a plan; policy bodies are summarised, not dumped.
fn show(attr: &str, v: &str) -> String {
    if attr == "Policy" {
        format!("<policy document, {} bytes>", v.len())
    } else {
        v.to_string()
    }
}

impl Change for QueueChange {
    fn action(&self) -> Action {
        match self {
            QueueChange::Create { .. } => Action::Create,
            QueueChange::SetAttributes(_) => Action::Update,
            QueueChange::Tag(_) | QueueChange::Untag(_) => Action::Tag,
            QueueChange::Replace { .. } => Action::Replace,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            QueueChange::Create { attributes, tags } => attributes
                .iter()
                .map(|(k, v)| FieldChange::new(format!("attributes.{k}"), None, Some(show(k, v))))
                .chain(
                    tags.iter()
                        .map(|(k, v)| FieldChange::new(format!("tags.{k}"), None, Some(v.clone()))),
                )
                .collect(),
            QueueChange::SetAttributes(m) => m
                .iter()
                .map(|(k, (old, new))| {
                    FieldChange::new(
                        format!("attributes.{k}"),
                        old.as_deref().map(|o| show(k, o)),
                        Some(show(k, new)),
                    )
                })
                .collect(),
            QueueChange::Tag(m) => super::common::tags::set_fields(m),
            QueueChange::Untag(m) => super::common::tags::remove_fields(m),
            QueueChange::Replace {
                attribute,
                live,
                desired,
            } => vec![FieldChange::new(
                format!("attributes.{attribute} (immutable)"),
                live.clone(),
                Some(desired.clone()),
            )],
        }
    }
}

/// The SQS queue kind.
pub struct Queue {
    client: aws_sdk_sqs::Client,
}

impl Queue {
    pub fn new(clients: &Clients) -> Self {
        Queue {
            client: clients.sqs.clone(),
        }
    }

    async fn read(&self, url: String) -> Result<Option<LiveQueue>, KindError> {
        let name = queue_name(&url).to_string();
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send();
        let tags = self.client.list_queue_tags().queue_url(&url).send();
        let (attrs, tags) = tokio::join!(attrs, tags);
        let attrs = match attrs {
            Ok(a) => a,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify("GetQueueAttributes", &name, &e, TERMINAL)),
        };
        let tags = match tags {
            Ok(t) => t,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify("ListQueueTags", &name, &e, TERMINAL)),
        };
        Ok(Some(LiveQueue {
            url,
            attributes: attrs
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect(),
            tags: tags
                .tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }))
    }
}

fn is_not_found<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_sqs::error::SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| NOT_FOUND.contains(&c))
}

/// The queue name is the last segment of its URL.
pub fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Everything `diff` would set at creation (the name decides FIFO).
fn desired_attributes(name: &str, spec: &QueueSpec) -> Vec<(&'static str, String, Compare)> {
    let mut attrs = spec.attributes.pairs();
    if name.ends_with(".fifo") && spec.attributes.fifo_queue.is_none() {
        attrs.push(("FifoQueue", "true".to_string(), Compare::Text));
    }
    attrs
}

/// The name of the dead-letter queue a redrive policy points at.
fn dead_letter_queue(spec: &QueueSpec) -> Option<&str> {
    let arn = spec
        .attributes
        .redrive_policy
        .as_ref()?
        .0
        .get("deadLetterTargetArn")?
        .as_str()?;
    arn.rsplit(':').next()
}

fn desired_tags(ctx: &DiffCtx<'_>, spec: &QueueSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), ctx.controller_id.to_string());
    tags
}

fn number_in(attr: &str, v: &str, lo: u64, hi: u64) -> Option<String> {
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => None,
        _ => Some(format!(
            "attributes.{attr}: `{v}` must be a whole number from {lo} to {hi}"
        )),
    }
}

impl Schema for Queue {
    const NAME: &'static str = refs::queue::KIND;
    type Spec = QueueSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        if name.is_empty() || name.len() > 80 {
            return Err(format!(
                "queue name `{name}` must be 1 to 80 characters long"
            ));
        }
        if !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || base.is_empty()
        {
            return Err(format!(
                "queue name `{name}` may contain only letters, digits, `-` and `_` (and end in `.fifo`)"
            ));
        }
        Ok(())
    }

    fn validate(name: &str, spec: &QueueSpec) -> Vec<String> {
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
        if !fifo_name {
            for (attr, v) in [
                ("ContentBasedDeduplication", &a.content_based_deduplication),
                ("DeduplicationScope", &a.deduplication_scope),
                ("FifoThroughputLimit", &a.fifo_throughput_limit),
            ] {
                if v.is_some() {
                    problems.push(format!(
                        "attributes.{attr}: only FIFO queues (`*.fifo`) have this attribute"
                    ));
                }
            }
        }
        let ranges: [(&str, &Option<Scalar>, u64, u64); 6] = [
            ("DelaySeconds", &a.delay_seconds, 0, 900),
            (
                "MaximumMessageSize",
                &a.maximum_message_size,
                1024,
                1_048_576,
            ),
            (
                "MessageRetentionPeriod",
                &a.message_retention_period,
                60,
                1_209_600,
            ),
            (
                "ReceiveMessageWaitTimeSeconds",
                &a.receive_message_wait_time_seconds,
                0,
                20,
            ),
            ("VisibilityTimeout", &a.visibility_timeout, 0, 43_200),
            (
                "KmsDataKeyReusePeriodSeconds",
                &a.kms_data_key_reuse_period_seconds,
                60,
                86_400,
            ),
        ];
        for (attr, v, lo, hi) in ranges {
            if let Some(p) = v.as_ref().and_then(|v| number_in(attr, &v.0, lo, hi)) {
                problems.push(p);
            }
        }
        for (attr, v) in [
            ("SqsManagedSseEnabled", &a.sqs_managed_sse_enabled),
            ("ContentBasedDeduplication", &a.content_based_deduplication),
        ] {
            if let Some(v) = v {
                if v.0 != "true" && v.0 != "false" {
                    problems.push(format!(
                        "attributes.{attr}: `{}` must be true or false",
                        v.0
                    ));
                }
            }
        }
        if let Some(rp) = &a.redrive_policy {
            let ok =
                rp.0.get("deadLetterTargetArn")
                    .is_some_and(|v| v.is_string())
                    && rp.0.get("maxReceiveCount").is_some();
            if !ok {
                problems.push("attributes.RedrivePolicy: needs deadLetterTargetArn (an ARN) and maxReceiveCount".to_string());
            }
        }
        for (k, v) in &spec.tags {
            if k.starts_with("aws:") {
                problems.push(format!("tags.{k}: the `aws:` prefix is reserved by AWS"));
            }
            if k.is_empty() || k.len() > 128 || v.len() > 256 {
                problems.push(format!(
                    "tags.{k}: keys are 1 to 128 characters, values at most 256"
                ));
            }
            if k == MANAGED_BY_TAG {
                problems.push(format!(
                    "tags.{k}: converge sets this tag itself (from --controller-id)"
                ));
            }
        }
        problems
    }
}

impl Kind for Queue {
    type Live = LiveQueue;
    type Change = QueueChange;

    async fn observe(
        &self,
        scope: &Scope<'_, QueueSpec>,
    ) -> Result<Observed<LiveQueue>, KindError> {
        let urls: Vec<String> = self
            .client
            .list_queues()
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListQueues", "(all queues)", &e, TERMINAL))?;
        let wanted: Vec<String> = urls
            .into_iter()
            .filter(|u| scope.all || scope.desired.contains_key(queue_name(u)))
            .collect();
        let read: Vec<Option<LiveQueue>> = stream::iter(wanted)
            .map(|url| self.read(url))
            .buffer_unordered(8)
            .try_collect()
            .await?;
        Ok(read
            .into_iter()
            .flatten()
            .map(|q| (queue_name(&q.url).to_string(), q))
            .collect())
    }

    fn owner(live: &LiveQueue) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn facts(_name: &str, live: &LiveQueue, out: &mut Published) {
        out.set(refs::queue::URL, &live.url);
        if let Some(arn) = live.attributes.get("QueueArn") {
            out.set(refs::queue::ARN, arn);
        }
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &QueueSpec,
        live: Option<&LiveQueue>,
    ) -> Result<Vec<QueueChange>, Waiting> {
        if let Some(dlq) = dead_letter_queue(desired) {
            if ctx.is_desired(Self::NAME, dlq) && ctx.fact(refs::queue::ARN, dlq).is_none() {
                return Err(Waiting {
                    waiting_for: format!("Queue/{dlq}"),
                });
            }
        }
        let attrs = desired_attributes(name, desired);
        let tags = desired_tags(ctx, desired);
        let Some(live) = live else {
            return Ok(vec![QueueChange::Create {
                attributes: attrs
                    .into_iter()
                    .map(|(k, v, _)| (k.to_string(), v))
                    .collect(),
                tags,
            }]);
        };
        let mut changes = Vec::new();
        let mut set = BTreeMap::new();
        for (attr, want, how) in attrs {
            let have = live.attributes.get(attr);
            let same = match (have, how) {
                (Some(h), Compare::Json) => same_json_text(h, &want),
                (Some(h), Compare::Text) => *h == want,
                (None, _) => false,
            };
            if same {
                continue;
            }
            if attr == "FifoQueue" {
                changes.push(QueueChange::Replace {
                    attribute: attr.to_string(),
                    live: have.cloned(),
                    desired: want,
                });
            } else {
                set.insert(attr.to_string(), (have.cloned(), want));
            }
        }
        if !set.is_empty() {
            changes.push(QueueChange::SetAttributes(set));
        }
        let tag = super::common::tags::to_set(&tags, &live.tags);
        if !tag.is_empty() {
            changes.push(QueueChange::Tag(tag));
        }
        let untag = super::common::tags::to_remove(&tags, &live.tags);
        if !untag.is_empty() {
            changes.push(QueueChange::Untag(untag));
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        live: Option<&LiveQueue>,
        change: &QueueChange,
    ) -> Result<(), KindError> {
        let url = || {
            live.map(|l| l.url.clone()).ok_or_else(|| {
                KindError::new(
                    ErrorClass::Retryable,
                    format!("queue {name} is not observed yet"),
                )
            })
        };
        match change {
            QueueChange::Create { attributes, tags } => {
                let attributes: HashMap<QueueAttributeName, String> = attributes
                    .iter()
                    .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
                    .collect();
                let tags: HashMap<String, String> = tags.clone().into_iter().collect();
                self.client
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(attributes))
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| classify("CreateQueue", name, &e, TERMINAL))?;
            }
            QueueChange::SetAttributes(m) => {
                let attributes: HashMap<QueueAttributeName, String> = m
                    .iter()
                    .map(|(k, (_, v))| (QueueAttributeName::from(k.as_str()), v.clone()))
                    .collect();
                self.client
                    .set_queue_attributes()
                    .queue_url(url()?)
                    .set_attributes(Some(attributes))
                    .send()
                    .await
                    .map_err(|e| classify("SetQueueAttributes", name, &e, TERMINAL))?;
            }
            QueueChange::Tag(m) => {
                let tags: HashMap<String, String> =
                    m.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
                self.client
                    .tag_queue()
                    .queue_url(url()?)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| classify("TagQueue", name, &e, TERMINAL))?;
            }
            QueueChange::Untag(m) => {
                self.client
                    .untag_queue()
                    .queue_url(url()?)
                    .set_tag_keys(Some(m.keys().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| classify("UntagQueue", name, &e, TERMINAL))?;
            }
            QueueChange::Replace { attribute, .. } => {
                return Err(KindError::new(
                    ErrorClass::Terminal,
                    format!("queue {name}: {attribute} is immutable; the queue would have to be replaced"),
                ));
            }
        }
        Ok(())
    }

    async fn delete(&self, name: &str, live: &LiveQueue) -> Result<(), KindError> {
        match self.client.delete_queue().queue_url(&live.url).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(classify("DeleteQueue", name, &e, TERMINAL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DesiredSet;
    use crate::engine::facts::Snapshot;

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    fn ctx(facts: &Snapshot) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: "test",
            facts,
            desired: &EMPTY,
        }
    }

    fn spec(yaml: &str) -> QueueSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn live(attrs: &[(&str, &str)], tags: &[(&str, &str)]) -> LiveQueue {
        LiveQueue {
            url: "http://localhost/123456789012/q".into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_missing_queue_is_created_with_attributes_tags_and_owner() {
        let f = Snapshot::new();
        let s = spec("attributes:\n  DelaySeconds: 5\n  RedrivePolicy: {deadLetterTargetArn: 'arn:aws:sqs:us-east-1:1:dlq', maxReceiveCount: 3}\ntags: {team: ops}\n");
        let changes = Queue::diff(&ctx(&f), "q", &s, None).unwrap();
        let QueueChange::Create { attributes, tags } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(attributes["DelaySeconds"], "5");
        assert!(attributes["RedrivePolicy"].contains("\"maxReceiveCount\":3"));
        assert_eq!(tags["team"], "ops");
        assert_eq!(tags[MANAGED_BY_TAG], "test");
    }

    #[test]
    fn a_dead_letter_queue_in_the_desired_state_is_waited_for() {
        let f = Snapshot::new();
        let mut desired = DesiredSet::default();
        let res = crate::core::DesiredResource {
            kind: "Queue".into(),
            name: "dlq".into(),
            labels: BTreeMap::new(),
            spec: serde_json::json!({}),
            origin: crate::core::Origin {
                file: "x".into(),
                line: 1,
                column: 1,
            },
            hash: 0,
        };
        desired
            .resources
            .entry("Queue".into())
            .or_default()
            .insert("dlq".into(), res);
        let ctx = DiffCtx {
            controller_id: "test",
            facts: &f,
            desired: &desired,
        };
        let s = spec("attributes:\n  RedrivePolicy: {deadLetterTargetArn: 'arn:aws:sqs:us-east-1:1:dlq', maxReceiveCount: 3}\n");
        let pending = Queue::diff(&ctx, "q", &s, None).unwrap_err();
        assert_eq!(pending.waiting_for, "Queue/dlq");
        // Once it exists, the queue is created.
        let mut f2 = Snapshot::new();
        f2.entry("Queue".into()).or_default().insert(
            "dlq".into(),
            BTreeMap::from([("arn".to_string(), "arn:aws:sqs:us-east-1:1:dlq".to_string())]),
        );
        let ctx = DiffCtx {
            controller_id: "test",
            facts: &f2,
            desired: &desired,
        };
        assert_eq!(
            Queue::diff(&ctx, "q", &s, None).unwrap()[0].action(),
            Action::Create
        );
        // A dead-letter queue managed elsewhere is passed through.
        let ctx = DiffCtx {
            controller_id: "test",
            facts: &f,
            desired: &EMPTY,
        };
        assert_eq!(
            Queue::diff(&ctx, "q", &s, None).unwrap()[0].action(),
            Action::Create
        );
    }

    #[test]
    fn a_fifo_name_creates_a_fifo_queue() {
        let f = Snapshot::new();
        let changes = Queue::diff(&ctx(&f), "q.fifo", &QueueSpec::default(), None).unwrap();
        let QueueChange::Create { attributes, .. } = &changes[0] else {
            panic!()
        };
        assert_eq!(attributes["FifoQueue"], "true");
    }

    #[test]
    fn an_equal_queue_needs_nothing() {
        let f = Snapshot::new();
        let s = spec("attributes:\n  VisibilityTimeout: 60\n  RedrivePolicy: {deadLetterTargetArn: 'arn:x', maxReceiveCount: 3}\ntags: {team: ops}\n");
        let l = live(
            &[
                ("VisibilityTimeout", "60"),
                ("DelaySeconds", "0"),
                (
                    "RedrivePolicy",
                    r#"{"maxReceiveCount":"3","deadLetterTargetArn":"arn:x"}"#,
                ),
            ],
            &[
                ("team", "ops"),
                (MANAGED_BY_TAG, "test"),
                ("aws:cloudformation:stack", "x"),
            ],
        );
        assert_eq!(Queue::diff(&ctx(&f), "q", &s, Some(&l)).unwrap(), vec![]);
    }

    #[test]
    fn a_changed_attribute_is_set_and_only_it() {
        let f = Snapshot::new();
        let s = spec("attributes:\n  VisibilityTimeout: 60\n  DelaySeconds: '0'\n");
        let l = live(
            &[("VisibilityTimeout", "30"), ("DelaySeconds", "0")],
            &[(MANAGED_BY_TAG, "test")],
        );
        let changes = Queue::diff(&ctx(&f), "q", &s, Some(&l)).unwrap();
        assert_eq!(
            changes,
            vec![QueueChange::SetAttributes(BTreeMap::from([(
                "VisibilityTimeout".to_string(),
                (Some("30".to_string()), "60".to_string())
            )]))]
        );
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "attributes.VisibilityTimeout: 30 → 60"
        );
    }

    #[test]
    fn an_unowned_queue_is_adopted_by_tagging_and_stray_tags_removed() {
        let f = Snapshot::new();
        let l = live(&[], &[("stray", "1")]);
        let changes = Queue::diff(&ctx(&f), "q", &QueueSpec::default(), Some(&l)).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].action(), Action::Tag);
        assert!(matches!(&changes[0], QueueChange::Tag(m) if m.contains_key(MANAGED_BY_TAG)));
        assert!(matches!(&changes[1], QueueChange::Untag(m) if m.contains_key("stray")));
    }

    #[test]
    fn fifo_mismatch_needs_replacement_not_an_update() {
        let f = Snapshot::new();
        let l = live(&[("FifoQueue", "false")], &[(MANAGED_BY_TAG, "test")]);
        let s = spec("attributes: {FifoQueue: true}\n");
        let changes = Queue::diff(&ctx(&f), "q.fifo", &s, Some(&l)).unwrap();
        assert_eq!(changes[0].action(), Action::Replace);
    }

    #[test]
    fn policies_are_summarised_in_plans() {
        let c = QueueChange::SetAttributes(BTreeMap::from([(
            "Policy".to_string(),
            (None, r#"{"Statement":[]}"#.to_string()),
        )]));
        assert!(c.fields()[0]
            .to_string()
            .contains("<policy document, 16 bytes>"));
    }

    #[test]
    fn validation_catches_bad_names_ranges_and_fifo_rules() {
        assert!(Queue::validate_name("ok-name_1.fifo").is_ok());
        assert!(Queue::validate_name("bad name")
            .unwrap_err()
            .contains("only letters"));
        assert!(Queue::validate_name(&"x".repeat(81))
            .unwrap_err()
            .contains("1 to 80"));
        let p = Queue::validate("q", &spec("attributes: {DelaySeconds: 901, FifoQueue: true, ContentBasedDeduplication: true}\n"));
        assert!(
            p.iter()
                .any(|m| m.contains("DelaySeconds") && m.contains("0 to 900")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.contains("must end in `.fifo`")), "{p:?}");
        assert!(
            p.iter().any(|m| m.contains("ContentBasedDeduplication")),
            "{p:?}"
        );
        let p = Queue::validate(
            "q",
            &spec("attributes:\n  RedrivePolicy: {maxReceiveCount: 3}\n"),
        );
        assert!(p[0].contains("deadLetterTargetArn"), "{p:?}");
    }

    #[test]
    fn unknown_attributes_and_bad_json_are_schema_errors() {
        assert!(serde_saphyr::from_str::<QueueSpec>("attributes: {Delay: 1}\n").is_err());
        let e = serde_saphyr::from_str::<QueueSpec>("attributes: {RedrivePolicy: '{not json'}\n")
            .unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }
}
