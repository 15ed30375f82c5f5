//! Tags in pages: the Resource Groups Tagging API (`tag:GetResources`, 100 resources a page)
//! for kinds whose own API reads tags one resource at a time (CloudWatch alarms, SQS queues).
//!
//! Only resources carrying converge's ownership tag key (any controller's value) are asked
//! for, so the pages are converge's own resources. A resource not in the answer is *unknown*,
//! never "untagged": the API is eventually consistent (a resource created a moment ago may not
//! show yet) and omits untagged resources. Callers read such a resource's tags with its own
//! API when they need them — every desired resource — and treat the others as carrying no
//! ownership tag, which can only ever keep them from being pruned. A failed or unusable listing
//! (no `tag:GetResources` permission, an error, a page cut short) is `None`: callers then read
//! every resource's tags one by one, as without this API.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_resourcegroupstagging::types::TagFilter;
use aws_sdk_resourcegroupstagging::Client;

use super::tags::{self, Tags};
use crate::core::MANAGED_BY_TAG;

/// Resources a page (the API's largest).
const PAGE: i32 = 100;
/// Pages read at most in one listing (100,000 resources): a listing longer than this is cut
/// short, so unknown.
const MAX_PAGES: usize = 1_000;

/// One kind's use of the pages: it remembers how many resources the last listing returned, so
/// a read of a few resources (a targeted sweep) stays per resource when the pages would cost
/// more calls than it saves.
#[derive(Debug)]
pub struct TagPages {
    client: Client,
    resource_type: &'static str,
    last_owned: AtomicUsize,
}

impl TagPages {
    /// Pages of `resource_type` (e.g. `cloudwatch:alarm`, `sqs:queue`) through `client`.
    pub fn new(client: Client, resource_type: &'static str) -> TagPages {
        TagPages {
            client,
            resource_type,
            last_owned: AtomicUsize::new(0),
        }
    }

    /// Tags by ARN of converge's resources, when that takes fewer calls than `reads`
    /// per-resource reads (and at most `bound` resources can be owned, when the caller knows);
    /// `None` when not worth it or when the listing cannot be trusted whole.
    pub async fn if_cheaper(
        &self,
        reads: usize,
        bound: Option<usize>,
    ) -> Option<BTreeMap<String, Tags>> {
        let expected = self.last_owned.load(Ordering::Relaxed);
        let expected = bound.map_or(expected, |b| expected.min(b));
        if reads <= expected.div_ceil(PAGE as usize).max(1) {
            return None;
        }
        let out = owned_by_arn(&self.client, self.resource_type).await?;
        self.last_owned.store(out.len(), Ordering::Relaxed);
        Some(out)
    }
}

/// Tags by ARN of every resource of `resource_type` (e.g. `cloudwatch:alarm`, `sqs:queue`) in
/// the client's region that carries converge's ownership tag key; `None` when the listing
/// cannot be trusted whole.
pub async fn owned_by_arn(client: &Client, resource_type: &str) -> Option<BTreeMap<String, Tags>> {
    let filter = TagFilter::builder().key(MANAGED_BY_TAG).build();
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .get_resources()
            .resource_type_filters(resource_type)
            .tag_filters(filter.clone())
            .resources_per_page(PAGE)
            .set_pagination_token(token.take())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                unusable(
                    resource_type,
                    &aws_sdk_resourcegroupstagging::error::DisplayErrorContext(&e).to_string(),
                );
                return None;
            }
        };
        for m in page.resource_tag_mapping_list() {
            let Some(arn) = m.resource_arn() else {
                continue;
            };
            let t = tags::collect(m.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
            out.insert(arn.to_string(), t);
        }
        match page.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Some(out),
        }
    }
    unusable(
        resource_type,
        "more pages than converge reads in one listing",
    );
    None
}

/// Says once per process why the Tagging API is not used (then at debug level: every sweep
/// would repeat it), e.g. a policy without `tag:GetResources`.
fn unusable(resource_type: &str, why: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if SAID.swap(true, Ordering::Relaxed) {
        tracing::debug!(
            resource_type,
            error = why,
            "tag:GetResources failed; reading tags per resource"
        );
    } else {
        tracing::warn!(
            resource_type,
            error = why,
            "tag:GetResources failed; reading tags per resource (one call each) until it works"
        );
    }
}
