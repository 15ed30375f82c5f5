//! `kind: LoadBalancer` — PLACEHOLDER, being implemented (see the issue); replace this whole file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::engine::{
    Action, Change, DiffCtx, FieldChange, Kind, KindError, Observed, Pending, Scope, MANAGED_BY_TAG,
};

/// The `spec` of a `kind: LoadBalancer`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {}

/// A LoadBalancer as observed.
#[derive(Debug, Clone)]
pub struct LiveLoadBalancer {
    pub tags: BTreeMap<String, String>,
}

/// One LoadBalancer mutation.
#[derive(Debug, Clone)]
pub enum LoadBalancerChange {}

impl Change for LoadBalancerChange {
    fn action(&self) -> Action {
        match *self {}
    }
    fn fields(&self) -> Vec<FieldChange> {
        match *self {}
    }
}

/// The LoadBalancer kind.
pub struct LoadBalancer {
    #[allow(dead_code)]
    client: aws_sdk_elasticloadbalancing::Client,
}

impl LoadBalancer {
    pub fn new(clients: &Clients) -> Self {
        LoadBalancer {
            client: clients.elb.clone(),
        }
    }
}

impl Kind for LoadBalancer {
    const NAME: &'static str = "LoadBalancer";
    type Spec = LoadBalancerSpec;
    type Live = LiveLoadBalancer;
    type Change = LoadBalancerChange;

    fn validate_name(_name: &str) -> Result<(), String> {
        Ok(())
    }

    async fn observe(
        &self,
        _scope: &Scope<'_, Self::Spec>,
    ) -> Result<Observed<LiveLoadBalancer>, KindError> {
        Ok(Observed::new())
    }

    fn owner(live: &LiveLoadBalancer) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn diff(
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _desired: &LoadBalancerSpec,
        _live: Option<&LiveLoadBalancer>,
    ) -> Result<Vec<LoadBalancerChange>, Pending> {
        Ok(Vec::new())
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        _name: &str,
        _live: Option<&LiveLoadBalancer>,
        change: &LoadBalancerChange,
    ) -> Result<(), KindError> {
        match *change {}
    }

    async fn delete(&self, _name: &str, _live: &LiveLoadBalancer) -> Result<(), KindError> {
        Ok(())
    }
}
