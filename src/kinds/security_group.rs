//! `kind: SecurityGroup` — PLACEHOLDER, being implemented (see the issue); replace this whole file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::engine::{
    Action, Change, DiffCtx, FieldChange, Kind, KindError, Observed, Pending, Scope, MANAGED_BY_TAG,
};

/// The `spec` of a `kind: SecurityGroup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {}

/// A SecurityGroup as observed.
#[derive(Debug, Clone)]
pub struct LiveSecurityGroup {
    pub tags: BTreeMap<String, String>,
}

/// One SecurityGroup mutation.
#[derive(Debug, Clone)]
pub enum SecurityGroupChange {}

impl Change for SecurityGroupChange {
    fn action(&self) -> Action {
        match *self {}
    }
    fn fields(&self) -> Vec<FieldChange> {
        match *self {}
    }
}

/// The SecurityGroup kind.
pub struct SecurityGroup {
    #[allow(dead_code)]
    client: aws_sdk_ec2::Client,
}

impl SecurityGroup {
    pub fn new(clients: &Clients) -> Self {
        SecurityGroup {
            client: clients.ec2.clone(),
        }
    }
}

impl Kind for SecurityGroup {
    const NAME: &'static str = "SecurityGroup";
    type Spec = SecurityGroupSpec;
    type Live = LiveSecurityGroup;
    type Change = SecurityGroupChange;

    fn validate_name(_name: &str) -> Result<(), String> {
        Ok(())
    }

    async fn observe(
        &self,
        _scope: &Scope<'_, Self::Spec>,
    ) -> Result<Observed<LiveSecurityGroup>, KindError> {
        Ok(Observed::new())
    }

    fn owner(live: &LiveSecurityGroup) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn diff(
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _desired: &SecurityGroupSpec,
        _live: Option<&LiveSecurityGroup>,
    ) -> Result<Vec<SecurityGroupChange>, Pending> {
        Ok(Vec::new())
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _live: Option<&LiveSecurityGroup>,
        change: &SecurityGroupChange,
    ) -> Result<(), KindError> {
        match *change {}
    }

    async fn delete(&self, _name: &str, _live: &LiveSecurityGroup) -> Result<(), KindError> {
        Ok(())
    }
}
