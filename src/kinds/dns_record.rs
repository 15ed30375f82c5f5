//! `kind: DnsRecord` — PLACEHOLDER, being implemented (see the issue); replace this whole file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::engine::{
    Action, Change, DiffCtx, FieldChange, Kind, KindError, Observed, Pending, Scope, MANAGED_BY_TAG,
};

/// The `spec` of a `kind: DnsRecord`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordSpec {}

/// A DnsRecord as observed.
#[derive(Debug, Clone)]
pub struct LiveDnsRecord {
    pub tags: BTreeMap<String, String>,
}

/// One DnsRecord mutation.
#[derive(Debug, Clone)]
pub enum DnsRecordChange {}

impl Change for DnsRecordChange {
    fn action(&self) -> Action {
        match *self {}
    }
    fn fields(&self) -> Vec<FieldChange> {
        match *self {}
    }
}

/// The DnsRecord kind.
pub struct DnsRecord {
    #[allow(dead_code)]
    client: aws_sdk_route53::Client,
}

impl DnsRecord {
    pub fn new(clients: &Clients) -> Self {
        DnsRecord {
            client: clients.route53.clone(),
        }
    }
}

impl Kind for DnsRecord {
    const NAME: &'static str = "DnsRecord";
    type Spec = DnsRecordSpec;
    type Live = LiveDnsRecord;
    type Change = DnsRecordChange;

    fn validate_name(_name: &str) -> Result<(), String> {
        Ok(())
    }

    async fn observe(
        &self,
        _scope: &Scope<'_, Self::Spec>,
    ) -> Result<Observed<LiveDnsRecord>, KindError> {
        Ok(Observed::new())
    }

    fn owner(live: &LiveDnsRecord) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn diff(
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _desired: &DnsRecordSpec,
        _live: Option<&LiveDnsRecord>,
    ) -> Result<Vec<DnsRecordChange>, Pending> {
        Ok(Vec::new())
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _live: Option<&LiveDnsRecord>,
        change: &DnsRecordChange,
    ) -> Result<(), KindError> {
        match *change {}
    }

    async fn delete(&self, _name: &str, _live: &LiveDnsRecord) -> Result<(), KindError> {
        Ok(())
    }
}
