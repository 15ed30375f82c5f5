//! `kind: IamRole` — PLACEHOLDER, being implemented (see the issue); replace this whole file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::engine::{
    Action, Change, DiffCtx, FieldChange, Kind, KindError, Observed, Pending, Scope, MANAGED_BY_TAG,
};

/// The `spec` of a `kind: IamRole`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRoleSpec {}

/// A IamRole as observed.
#[derive(Debug, Clone)]
pub struct LiveIamRole {
    pub tags: BTreeMap<String, String>,
}

/// One IamRole mutation.
#[derive(Debug, Clone)]
pub enum IamRoleChange {}

impl Change for IamRoleChange {
    fn action(&self) -> Action {
        match *self {}
    }
    fn fields(&self) -> Vec<FieldChange> {
        match *self {}
    }
}

/// The IamRole kind.
pub struct IamRole {
    #[allow(dead_code)]
    client: aws_sdk_iam::Client,
}

impl IamRole {
    pub fn new(clients: &Clients) -> Self {
        IamRole {
            client: clients.iam.clone(),
        }
    }
}

impl Kind for IamRole {
    const NAME: &'static str = "IamRole";
    type Spec = IamRoleSpec;
    type Live = LiveIamRole;
    type Change = IamRoleChange;

    fn validate_name(_name: &str) -> Result<(), String> {
        Ok(())
    }

    async fn observe(
        &self,
        _scope: &Scope<'_, Self::Spec>,
    ) -> Result<Observed<LiveIamRole>, KindError> {
        Ok(Observed::new())
    }

    fn owner(live: &LiveIamRole) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn diff(
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _desired: &IamRoleSpec,
        _live: Option<&LiveIamRole>,
    ) -> Result<Vec<IamRoleChange>, Pending> {
        Ok(Vec::new())
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _live: Option<&LiveIamRole>,
        change: &IamRoleChange,
    ) -> Result<(), KindError> {
        match *change {}
    }

    async fn delete(&self, _name: &str, _live: &LiveIamRole) -> Result<(), KindError> {
        Ok(())
    }
}
