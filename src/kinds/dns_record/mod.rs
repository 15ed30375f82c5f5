//! `kind: DnsRecord` — a Route 53 record set (simple routing) and its ownership record.
//!
//! Spec fields follow Salt's `boto_route53.present` where they exist (`name`, `zone`, `ttl`,
//! `type`); `values` is a list and `alias` an alias target. The DNS name is `name`, or the
//! resource's metadata name, normalised to a lower-case FQDN with its trailing dot. The hosted
//! zone is `zone` (a zone name such as `example.com.` or a zone id such as `Z123...`), or, when
//! omitted, the hosted zone with the longest name that contains the record name.
//!
//! A value (or an alias target) written `loadbalancer:<name>` is the DNS name of that classic
//! load balancer, read from the facts the `LoadBalancer` kind publishes (`dns_name`, and
//! `hosted_zone_id` for an alias); until it is known the record waits for
//! `LoadBalancer/<name>`.
//!
//! **Ownership.** Record sets carry no tags, so ownership is recorded the way external-dns does
//! it: in a TXT record, whose value is
//! `"heritage=converge,owner=<controller id>,resource=<metadata name>"`. It lives at
//! `_converge-owner.<type in lower case>.<record name>`:
//! - a name of its own, never the record's: a CNAME cannot share its name with a TXT record;
//! - one per type, so an `A` and an `MX` record at the same name have separate owners;
//! - a child of the record name, so it is inside the same hosted zone (the apex included);
//! - the prefix is reserved: record names starting with `_converge-owner.` are refused, and
//!   the record name must leave room for the prefix within DNS's 255 characters.
//!
//! The record and its ownership TXT are always written (UPSERT) in one
//! `ChangeResourceRecordSets` batch and deleted in one batch (with their exact current values,
//! as Route 53 requires), so they cannot diverge. An existing record without an ownership
//! record is adopted (the TXT is added); one whose TXT names another controller is left alone.
//! Records this resource owns elsewhere (after a change of `name`, `type` or `zone`) are
//! deleted, in the same batch as the new record when they are in the same zone.
//!
//! **Reads.** One paginated `ListHostedZones` per sweep, then one paginated whole-zone
//! `ListResourceRecordSets` walk per hosted zone holding desired records (every hosted zone
//! with `--prune`, to find owned records), shared by all records of that zone. Route 53 allows
//! about five requests per second per account: the client-side pacing in `src/aws/pacing.rs`
//! (default `route53=5`, `--rate-limit`) keeps every Route 53 request below that.
//!
//! Only simple-routing record sets (without a set identifier) are managed; weighted, latency,
//! failover and geolocation record sets are ignored.
//!
//! Sections: [`spec`] (the spec and its checks), [`values`] (names and values as compared),
//! [`records`] (record sets and their SDK form), [`ownership`] (ownership records), [`zones`]
//! (hosted zones and which one a record is in), `observe` (the record walks, assembled per
//! resource), [`diff`] (live state, changes, the pure diff) and [`batch`] (one
//! `ChangeResourceRecordSets` call, sent).

pub mod batch;
pub mod diff;
mod observe;
pub mod ownership;
pub mod records;
pub mod spec;
pub mod values;
pub mod zones;

use crate::aws::Clients;
use crate::core::schema::{Reference, TagStyle};
use crate::core::{KindError, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};
use crate::kinds::common::errors::{ErrorCodes, NotFound};
use crate::kinds::common::refs;
use diff::{DnsRecordChange, LiveDnsRecord};
use spec::DnsRecordSpec;

/// Route 53's codes: what retrying will not fix, and how it says a hosted zone does not
/// exist (no call here reads one zone: a zone that disappears mid-sweep is retried).
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "InvalidChangeBatch",
        "InvalidInput",
        "InvalidDomainName",
        "InvalidArgument",
        "NoSuchHealthCheck",
    ],
    NotFound::Codes(&["NoSuchHostedZone"]),
);

/// The Route 53 record kind.
pub struct DnsRecord {
    client: aws_sdk_route53::Client,
}

impl DnsRecord {
    pub fn new(clients: &Clients) -> Self {
        DnsRecord {
            client: clients.route53.clone(),
        }
    }
}

impl Schema for DnsRecord {
    const NAME: &'static str = refs::dns_record::KIND;
    const TAGS: TagStyle = TagStyle::None;
    const GLOBAL: bool = true;
    type Spec = DnsRecordSpec;

    fn references(spec: &DnsRecordSpec) -> Vec<Reference> {
        spec::references(spec)
    }

    /// The metadata name: by default also the DNS name, and written into the ownership record.
    fn validate_name(name: &str) -> Result<(), String> {
        spec::validate_name(name)
    }

    fn validate(name: &str, spec: &DnsRecordSpec) -> Vec<String> {
        spec::validate(name, spec)
    }
}

impl Kind for DnsRecord {
    type Live = LiveDnsRecord;
    type Change = DnsRecordChange;

    async fn observe(
        &self,
        scope: &Scope<'_, DnsRecordSpec>,
    ) -> Result<Observed<LiveDnsRecord>, KindError> {
        self.read(scope).await
    }

    fn owner(live: &LiveDnsRecord) -> Option<&str> {
        live.ownership.as_ref().map(|o| o.owner.as_str())
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &DnsRecordSpec,
        live: Option<&LiveDnsRecord>,
    ) -> Result<Vec<DnsRecordChange>, Waiting> {
        diff::diff(ctx, name, desired, live)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveDnsRecord>,
        change: &DnsRecordChange,
    ) -> Result<(), KindError> {
        self.send(name, change.batch()).await
    }

    async fn delete(&self, name: &str, live: &LiveDnsRecord) -> Result<(), KindError> {
        self.remove(name, live).await
    }
}

#[cfg(test)]
mod tests;
