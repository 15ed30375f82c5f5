//! Tags in pages: the Resource Groups Tagging API (`tag:GetResources`, 100 resources a page)
//! for kinds whose own API reads tags one resource at a time (CloudWatch alarms, SQS queues).
//!
//! Only resources carrying converge's ownership tag key (any controller's value) are asked
//! for, so the pages are converge's own resources. Once converge has read a resource's tags
//! itself, the pages are trusted for it only while they show those tags ([`TagPages::trusts`]):
//! the API may lag behind a change (converge's own re-tagging, or someone's), and acting on a
//! stale page could re-tag or report drift. A difference costs one per-resource read, which
//! then becomes what the pages must match. A resource that may be pruned is trusted only after
//! such a read. A resource not in the answer is *unknown*,
//! never "untagged": the API is eventually consistent (a resource created a moment ago may not
//! show yet) and omits untagged resources. Callers read such a resource's tags with its own
//! API when they need them — every desired resource — and treat the others as carrying no
//! ownership tag, which can only ever keep them from being pruned. A failed or unusable listing
//! (no `tag:GetResources` permission, an error, a page cut short) is `None`: callers then read
//! every resource's tags one by one, as without this API.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

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
    /// ARN → a hash of the tags last read from the resource itself.
    confirmed: Mutex<HashMap<String, u64>>,
}

impl TagPages {
    /// Pages of `resource_type` (e.g. `cloudwatch:alarm`, `sqs:queue`) through `client`.
    pub fn new(client: Client, resource_type: &'static str) -> TagPages {
        TagPages {
            client,
            resource_type,
            last_owned: AtomicUsize::new(0),
            confirmed: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the pages' `tags` for `arn` can stand for the resource's own: they are what
    /// converge last read from it, or (`first_sight_ok`) converge has not read it yet. A
    /// resource that may be pruned (not desired) is trusted only once read itself: a deletion
    /// is never decided on a page alone.
    pub fn trusts(&self, arn: &str, tags: &Tags, first_sight_ok: bool) -> bool {
        let h = digest(tags);
        self.confirmed.lock().is_ok_and(|c| match c.get(arn) {
            Some(seen) => *seen == h,
            None => first_sight_ok,
        })
    }

    /// Records the tags just read from the resource itself (by a per-resource read).
    pub fn confirm(&self, arn: &str, tags: &Tags) {
        if arn.is_empty() {
            return;
        }
        if let Ok(mut c) = self.confirmed.lock() {
            // Bounded: resources long gone are forgotten (they are read again if they return).
            let cap = 4 * self.last_owned.load(Ordering::Relaxed).max(1_000);
            if c.len() >= cap {
                c.clear();
            }
            c.insert(arn.to_string(), digest(tags));
        }
    }

    /// The tags of resource `arn`: from `paged` (the pages, when listed) where they can stand
    /// for the resource's own ([`TagPages::trusts`]); none for a resource the pages do not show
    /// and that is not `desired` (it carries no ownership tag converge can see, so it is never
    /// pruned on this reading); otherwise what `read_own` reads from the resource itself,
    /// remembered as what the pages must match ([`TagPages::confirm`]). `None`: it is gone.
    pub async fn resolve<E>(
        &self,
        paged: Option<&BTreeMap<String, Tags>>,
        arn: &str,
        desired: bool,
        read_own: impl std::future::Future<Output = Result<Option<Tags>, E>>,
    ) -> Result<Option<Tags>, E> {
        if let Some(paged) = paged {
            match paged.get(arn) {
                Some(t) if self.trusts(arn, t, desired) => return Ok(Some(t.clone())),
                None if !desired => return Ok(Some(Tags::new())),
                // Not shown yet, or not what the resource itself said last time.
                _ => {}
            }
        }
        let own = read_own.await?;
        if let Some(t) = &own {
            self.confirm(arn, t);
        }
        Ok(own)
    }

    /// Whether the pages take fewer calls than `reads` per-resource reads (at most `bound`
    /// resources can be owned, when the caller knows).
    pub fn worth_it(&self, reads: usize, bound: Option<usize>) -> bool {
        let expected = self.last_owned.load(Ordering::Relaxed);
        let expected = bound.map_or(expected, |b| expected.min(b));
        reads > expected.div_ceil(PAGE as usize).max(1)
    }

    /// Tags by ARN of converge's resources; `None` when the listing cannot be trusted whole.
    /// Callers start it beside their own listing when [`TagPages::worth_it`]: it needs none of
    /// what that listing returns.
    pub async fn list(&self) -> Option<BTreeMap<String, Tags>> {
        let out = owned_by_arn(&self.client, self.resource_type).await?;
        self.last_owned.store(out.len(), Ordering::Relaxed);
        Some(out)
    }
}

fn digest(tags: &Tags) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tags.hash(&mut h);
    h.finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> TagPages {
        let conf = aws_sdk_resourcegroupstagging::Config::builder()
            .behavior_version(aws_sdk_resourcegroupstagging::config::BehaviorVersion::latest())
            .region(aws_sdk_resourcegroupstagging::config::Region::new(
                "us-east-1",
            ))
            .build();
        TagPages::new(Client::from_conf(conf), "sqs:queue")
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_page_stands_for_a_resource_only_while_it_shows_what_the_resource_said() {
        let p = pages();
        let old = tags(&[("team", "ops")]);
        let new = tags(&[("team", "web")]);
        // Never read: trusted for a desired resource, not for one that may be pruned.
        assert!(p.trusts("arn:q", &old, true));
        assert!(!p.trusts("arn:q", &old, false));
        // Read itself (say, after converge re-tagged it): a stale page is not trusted.
        p.confirm("arn:q", &new);
        assert!(!p.trusts("arn:q", &old, true), "stale page");
        assert!(p.trusts("arn:q", &new, true));
        assert!(
            p.trusts("arn:q", &new, false),
            "confirmed: trusted for pruning too"
        );
    }

    #[test]
    fn a_read_of_a_few_resources_stays_per_resource() {
        let p = pages();
        p.last_owned.store(250, Ordering::Relaxed);
        // 250 owned → 3 pages: three reads or fewer are cheaper one by one.
        assert!(!p.worth_it(3, None));
        assert!(p.worth_it(4, None));
        // At most 2 can be owned: one page; one read is not worth a page.
        assert!(!p.worth_it(1, Some(2)));
        assert!(p.worth_it(2, Some(2)));
    }
}
