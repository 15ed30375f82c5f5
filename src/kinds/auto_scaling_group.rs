//! `kind: AutoScalingGroup` — PLACEHOLDER, being implemented (see the issue); replace this whole file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::engine::{
    Action, Change, DiffCtx, FieldChange, Kind, KindError, Observed, Pending, Scope, MANAGED_BY_TAG,
};

/// The `spec` of a `kind: AutoScalingGroup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroupSpec {}

/// A AutoScalingGroup as observed.
#[derive(Debug, Clone)]
pub struct LiveAutoScalingGroup {
    pub tags: BTreeMap<String, String>,
}

/// One AutoScalingGroup mutation.
#[derive(Debug, Clone)]
pub enum AutoScalingGroupChange {}

impl Change for AutoScalingGroupChange {
    fn action(&self) -> Action {
        match *self {}
    }
    fn fields(&self) -> Vec<FieldChange> {
        match *self {}
    }
}

/// The AutoScalingGroup kind.
pub struct AutoScalingGroup {
    #[allow(dead_code)]
    client: aws_sdk_autoscaling::Client,
}

impl AutoScalingGroup {
    pub fn new(clients: &Clients) -> Self {
        AutoScalingGroup {
            client: clients.autoscaling.clone(),
        }
    }
}

impl Kind for AutoScalingGroup {
    const NAME: &'static str = "AutoScalingGroup";
    type Spec = AutoScalingGroupSpec;
    type Live = LiveAutoScalingGroup;
    type Change = AutoScalingGroupChange;

    fn validate_name(_name: &str) -> Result<(), String> {
        Ok(())
    }

    async fn observe(
        &self,
        _scope: &Scope<'_, Self::Spec>,
    ) -> Result<Observed<LiveAutoScalingGroup>, KindError> {
        Ok(Observed::new())
    }

    fn owner(live: &LiveAutoScalingGroup) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn diff(
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _desired: &AutoScalingGroupSpec,
        _live: Option<&LiveAutoScalingGroup>,
    ) -> Result<Vec<AutoScalingGroupChange>, Pending> {
        Ok(Vec::new())
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _live: Option<&LiveAutoScalingGroup>,
        change: &AutoScalingGroupChange,
    ) -> Result<(), KindError> {
        match *change {}
    }

    async fn delete(&self, _name: &str, _live: &LiveAutoScalingGroup) -> Result<(), KindError> {
        Ok(())
    }
}
