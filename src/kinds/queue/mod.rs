//! `kind: Queue` — an SQS queue: attributes and tags.
//!
//! Reads per sweep: one paginated `ListQueues` for the whole region (for a sweep of one
//! queue, a `ListQueues` by its name as prefix), then the two per-queue reads SQS forces
//! (`GetQueueAttributes`, `ListQueueTags`), only for desired queues (and, with `--prune`, for
//! every queue, to find the ones this controller owns). Each queue publishes its
//! `url` and `arn` as facts.
//!
//! What is managed, field by field:
//! - `attributes`, by their AWS names: only those written are managed; the others keep whatever
//!   AWS has. Values are written as YAML strings, numbers or booleans and sent as text; the
//!   JSON documents (`Policy`, `RedrivePolicy`, `RedriveAllowPolicy`) may be written as
//!   mappings or JSON strings and are compared by meaning, so AWS's reformatting is no drift.
//!   Plans summarise a `Policy` body instead of showing it.
//! - `FifoQueue` follows the name (a `*.fifo` queue is created with `FifoQueue: true`) and
//!   cannot change: a difference is reported as needing replacement, never applied.
//! - A `RedrivePolicy` whose dead-letter queue is desired here waits for that queue to exist
//!   (`Queue/<dlq>`); one managed elsewhere is passed through.
//! - Tags are authoritative: tags not in the spec are removed (except AWS's own `aws:` tags).
//!
//! `spec` holds the spec and its validation (the load-time side); this module the run-time
//! side, small enough to read in one place: the live state and the changes, the pure diff, and
//! reading and changing SQS (a call or two each).

mod spec;

pub use spec::{QueueAttributes, QueueSpec};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::common::errors::{unobserved, ErrorCodes, NotFound, Sent};
use super::common::json::same_json_text;
use super::common::refs;
use super::common::tagging::TagPages;
use super::common::tags::{self, Tags, ToSet};
use crate::aws::Clients;
use crate::core::facts::Published;
use crate::core::{Action, Change, FieldChange, KindError, Replacement, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};
use spec::Form;

/// SQS codes that retrying will not fix, and the ones that say a queue vanished between the
/// listing and the read (or before a delete).
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "QueueNameExists",
        "QueueAlreadyExists",
        "InvalidAttributeName",
        "InvalidAttributeValue",
        "InvalidSecurity",
        "KmsAccessDenied",
    ],
    NotFound::Codes(&[
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    ]),
);

/// A queue as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveQueue {
    pub url: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: Tags,
}

/// One queue mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueChange {
    Create {
        attributes: BTreeMap<String, String>,
        tags: Tags,
    },
    /// attribute → (live, desired)
    SetAttributes(ToSet),
    /// tag → (live, desired)
    Tag(ToSet),
    /// tag → live value
    Untag(Tags),
    /// An immutable attribute (`attributes.FifoQueue`) differs.
    Replace(Replacement),
}

/// The plan row of one attribute; policy bodies are summarised, not dumped.
fn row(attr: &str, old: Option<&String>, new: &str) -> FieldChange {
    let show = |v: &str| match attr {
        "Policy" => format!("<policy document, {} bytes>", v.len()),
        _ => v.to_string(),
    };
    let field = format!("attributes.{attr}");
    FieldChange::changed(field, old.map(|o| show(o)), show(new))
}

impl Change for QueueChange {
    fn action(&self) -> Action {
        match self {
            QueueChange::Create { .. } => Action::Create,
            QueueChange::SetAttributes(_) => Action::Update,
            QueueChange::Tag(_) | QueueChange::Untag(_) => Action::Tag,
            QueueChange::Replace(_) => Action::Replace,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            QueueChange::Create { attributes, tags } => attributes
                .iter()
                .map(|(k, v)| row(k, None, v))
                .chain(tags::new_fields(tags))
                .collect(),
            QueueChange::SetAttributes(m) => m
                .iter()
                .map(|(k, (old, new))| row(k, old.as_ref(), new))
                .collect(),
            QueueChange::Tag(m) => tags::set_fields(m),
            QueueChange::Untag(m) => tags::remove_fields(m),
            QueueChange::Replace(r) => r.fields(),
        }
    }
}

/// The SQS queue kind.
pub struct Queue {
    client: Client,
    pages: TagPages,
}

impl Queue {
    pub fn new(clients: &Clients) -> Self {
        Queue {
            client: clients.sqs.clone(),
            pages: TagPages::new(clients.tagging.clone(), "sqs:queue"),
        }
    }

    /// Every queue's URL in the region, or those whose name starts with `prefix`.
    async fn list_urls(&self, prefix: Option<&str>) -> Result<Vec<String>, KindError> {
        self.client
            .list_queues()
            .set_queue_name_prefix(prefix.map(str::to_string))
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_fail(&CODES, "ListQueues", prefix.unwrap_or("(all queues)"))
    }
}

impl Schema for Queue {
    const NAME: &'static str = refs::queue::KIND;
    type Spec = QueueSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        spec::validate_name(name)
    }

    fn validate(name: &str, spec: &QueueSpec) -> Vec<String> {
        spec::validate(name, spec)
    }
}

impl Kind for Queue {
    type Live = LiveQueue;
    type Change = QueueChange;

    async fn observe(
        &self,
        scope: &Scope<'_, QueueSpec>,
    ) -> Result<Observed<LiveQueue>, KindError> {
        // A sweep of one queue (a desired change, a retry, or any sweep of a shard that desires
        // one queue, without --prune) lists it by its name as a prefix: one short page, where
        // the region's listing takes a page per 1,000 queues before the first read can start.
        // It is never more calls than the region's listing.
        let only = match scope.desired.keys().next() {
            Some(name) if !scope.all && scope.desired.len() == 1 => Some(name.as_str()),
            _ => None,
        };
        let urls = self.list_urls(only).await?;
        let in_region = only.is_none().then_some(urls.len());
        let wanted: Vec<String> = urls
            .into_iter()
            .filter(|u| scope.all || scope.desired.contains_key(queue_name(u)))
            .collect();
        // When it takes fewer calls: converge's own queues' tags in pages (see
        // `kinds::common::tagging`; no more can be owned than the region has queues), listed
        // beside the attribute reads, and `ListQueueTags` only for desired queues the pages do
        // not show.
        let paged: Option<Paged<'_>> = self
            .pages
            .worth_it(wanted.len(), in_region)
            .then(|| self.pages.list().map(Arc::new).boxed().shared());
        let paged = &paged;
        let reads = stream::iter(wanted)
            .map(|url| async move {
                let desired = scope.desired.contains_key(queue_name(&url));
                read(&self.client, &self.pages, url, paged.as_ref(), desired).await
            })
            .buffer_unordered(8)
            .try_collect::<Vec<Option<LiveQueue>>>();
        let listing = async {
            if let Some(p) = paged {
                p.clone().await;
            }
        };
        let ((), read) = tokio::join!(listing, reads);
        let read = read?;
        Ok(read
            .into_iter()
            .flatten()
            .map(|q| (queue_name(&q.url).to_string(), q))
            .collect())
    }

    fn owner(live: &LiveQueue) -> Option<&str> {
        tags::owner(&live.tags)
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
            if ctx.is_desired(refs::queue::KIND, &dlq) && ctx.fact(refs::queue::ARN, &dlq).is_none()
            {
                return Err(Waiting::on(refs::queue::KIND, &dlq));
            }
        }
        // Everything to set at creation (the name decides FIFO).
        let mut attrs = desired.attributes.written();
        if name.ends_with(".fifo") && desired.attributes.fifo_queue.is_none() {
            attrs.push(("FifoQueue", "true".to_string(), Form::Text, false));
        }
        let want_tags = tags::with_owner(&desired.tags, ctx.controller_id);
        let Some(live) = live else {
            return Ok(vec![QueueChange::Create {
                attributes: attrs
                    .into_iter()
                    .map(|(k, v, _, _)| (k.to_string(), v))
                    .collect(),
                tags: want_tags,
            }]);
        };
        let mut changes = Vec::new();
        let mut set = BTreeMap::new();
        for (attr, want, form, _) in attrs {
            let have = live.attributes.get(attr);
            if have.is_some_and(|h| *h == want || form == Form::Json && same_json_text(h, &want)) {
                continue;
            }
            if attr == "FifoQueue" {
                changes.push(QueueChange::Replace(Replacement::new(
                    format!("attributes.{attr}"),
                    have.cloned(),
                    want,
                )));
            } else {
                set.insert(attr.to_string(), (have.cloned(), want));
            }
        }
        if !set.is_empty() {
            changes.push(QueueChange::SetAttributes(set));
        }
        changes.extend(tags::changes(
            &want_tags,
            &live.tags,
            QueueChange::Tag,
            QueueChange::Untag,
        ));
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
            live.map(|l| l.url.clone())
                .ok_or_else(|| unobserved("queue", name))
        };
        match change {
            QueueChange::Create { attributes, tags } => {
                self.client
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(sdk_attributes(attributes)))
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .or_fail(&CODES, "CreateQueue", name)?;
            }
            QueueChange::SetAttributes(m) => {
                self.client
                    .set_queue_attributes()
                    .queue_url(url()?)
                    .set_attributes(Some(sdk_attributes(m.iter().map(|(k, (_, v))| (k, v)))))
                    .send()
                    .await
                    .or_fail(&CODES, "SetQueueAttributes", name)?;
            }
            QueueChange::Tag(m) => {
                self.client
                    .tag_queue()
                    .queue_url(url()?)
                    .set_tags(Some(
                        m.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect(),
                    ))
                    .send()
                    .await
                    .or_fail(&CODES, "TagQueue", name)?;
            }
            QueueChange::Untag(m) => {
                self.client
                    .untag_queue()
                    .queue_url(url()?)
                    .set_tag_keys(Some(m.keys().cloned().collect()))
                    .send()
                    .await
                    .or_fail(&CODES, "UntagQueue", name)?;
            }
            QueueChange::Replace(r) => return Err(r.refused(Queue::NAME, name)),
        }
        Ok(())
    }

    async fn delete(&self, name: &str, live: &LiveQueue) -> Result<(), KindError> {
        self.client
            .delete_queue()
            .queue_url(&live.url)
            .send()
            .await
            .gone_ok(&CODES, "DeleteQueue", name)
    }
}

/// The name of the dead-letter queue a redrive policy points at.
fn dead_letter_queue(spec: &QueueSpec) -> Option<String> {
    let policy = spec.attributes.redrive_policy.as_ref()?.value();
    let arn = policy.get("deadLetterTargetArn")?.as_str()?;
    arn.rsplit(':').next().map(str::to_string)
}

/// The Tagging API's listing of converge's queues, shared by every queue's read.
type Paged<'a> = Shared<BoxFuture<'a, Arc<Option<BTreeMap<String, Tags>>>>>;

/// The attributes and tags of one queue; `None` if it vanished since the listing. With
/// `paged`, the tags come from the Tagging API's pages where they can stand for the queue's
/// own ([`TagPages::resolve`]), else from `ListQueueTags`, remembered in `pages` as what the
/// pages must match.
async fn read(
    client: &Client,
    pages: &TagPages,
    url: String,
    paged: Option<&Paged<'_>>,
    desired: bool,
) -> Result<Option<LiveQueue>, KindError> {
    let name = queue_name(&url).to_string();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send();
    let own_tags = list_tags(client, &url, &name);
    let arn_of = |attrs: &GetQueueAttributesOutput| {
        attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default()
    };
    let (attrs, tags) = match paged {
        // The attributes (they hold the ARN the pages go by) beside the listing.
        Some(listing) => {
            let (attrs, listed) = tokio::join!(attrs, listing.clone());
            let Some(attrs) = attrs.or_missing(&CODES, "GetQueueAttributes", &name)? else {
                return Ok(None);
            };
            let arn = arn_of(&attrs);
            let tags = pages
                .resolve((*listed).as_ref(), &arn, desired, own_tags)
                .await?;
            (attrs, tags)
        }
        // No pages: the queue's own tags beside its attributes.
        None => {
            let (attrs, tags) = tokio::join!(attrs, own_tags);
            let Some(attrs) = attrs.or_missing(&CODES, "GetQueueAttributes", &name)? else {
                return Ok(None);
            };
            let tags = tags?;
            if let Some(t) = &tags {
                pages.confirm(&arn_of(&attrs), t);
            }
            (attrs, tags)
        }
    };
    let Some(tags) = tags else {
        return Ok(None);
    };
    Ok(Some(LiveQueue {
        url,
        attributes: attrs
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect(),
        tags,
    }))
}

/// One queue's tags (`ListQueueTags`); `None` if it vanished.
async fn list_tags(client: &Client, url: &str, name: &str) -> Result<Option<Tags>, KindError> {
    let out = client
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .or_missing(&CODES, "ListQueueTags", name)?;
    Ok(out.map(|o| o.tags.unwrap_or_default().into_iter().collect()))
}

/// Attributes as SQS takes them.
fn sdk_attributes<'a>(
    m: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HashMap<QueueAttributeName, String> {
    m.into_iter()
        .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
        .collect()
}

/// The queue name is the last segment of its URL.
pub fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests;
