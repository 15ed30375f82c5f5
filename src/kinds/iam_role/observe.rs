//! Reading IAM: every role of the account in one listing (and their settings in a second
//! one, only when a desired role manages them).

use aws_sdk_iam::types::{EntityType, Role, RoleDetail};
use serde_json::Value;

use super::diff::{LiveIamRole, LiveInstanceProfile};
use super::spec::IamRoleSpec;
use super::{IamRole, CODES};
use crate::core::KindError;
use crate::engine::{Observed, Scope};
use crate::kinds::common::errors::Sent;
use crate::kinds::common::json::JsonDoc;
use crate::kinds::common::policy::decode;
use crate::kinds::common::tags;

impl IamRole {
    /// Every role in the account with its policies, tags and instance profiles: one paginated
    /// `GetAccountAuthorizationDetails`. When a desired role manages them, `description` and
    /// `max_session_duration` (not in the authorization details) are filled from one
    /// paginated `ListRoles`.
    pub(super) async fn observe_roles(
        &self,
        scope: &Scope<'_, IamRoleSpec>,
    ) -> Result<Observed<LiveIamRole>, KindError> {
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(1000)
            .into_paginator()
            .send();
        // Each page is read into live roles as it arrives and dropped: a page of 1,000 roles
        // with their policy documents is megabytes.
        let mut roles: Observed<LiveIamRole> = Observed::new();
        while let Some(page) = pages.next().await {
            let page = page.or_fail(&CODES, "GetAccountAuthorizationDetails", "(all roles)")?;
            roles.extend(
                (page.role_detail_list().iter())
                    .filter_map(|r| Some((r.role_name()?.to_string(), live_role(r)))),
            );
        }
        if !scope.desired.values().any(IamRoleSpec::reads_settings) {
            return Ok(roles);
        }
        let listed: Vec<Role> = self
            .client
            .list_roles()
            .max_items(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_fail(&CODES, "ListRoles", "(all roles)")?;
        for r in listed {
            if let Some(live) = roles.get_mut(r.role_name()) {
                live.description = r.description().map(str::to_string);
                live.max_session_duration = r.max_session_duration();
            }
        }
        Ok(roles)
    }
}

/// A role from `GetAccountAuthorizationDetails`.
fn live_role(r: &RoleDetail) -> LiveIamRole {
    LiveIamRole {
        arn: r.arn().unwrap_or_default().to_string(),
        path: r.path().unwrap_or("/").to_string(),
        trust_policy: JsonDoc::new(
            &r.assume_role_policy_document()
                .map(decode_or_raw)
                .unwrap_or(Value::Null),
        ),
        policies: r
            .role_policy_list()
            .iter()
            .filter_map(|p| {
                Some((
                    p.policy_name()?.to_string(),
                    JsonDoc::new(
                        &p.policy_document()
                            .map(decode_or_raw)
                            .unwrap_or(Value::Null),
                    ),
                ))
            })
            .collect(),
        managed_policies: r
            .attached_managed_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        instance_profiles: r
            .instance_profile_list()
            .iter()
            .map(|p| LiveInstanceProfile {
                name: p.instance_profile_name().to_string(),
                arn: p.arn().to_string(),
                roles: p
                    .roles()
                    .iter()
                    .map(|r| r.role_name().to_string())
                    .collect(),
            })
            .collect(),
        tags: tags::collect(r.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
        description: None,
        max_session_duration: None,
    }
}

/// A policy document as IAM returns it, decoded; its raw text when it cannot be.
pub(super) fn decode_or_raw(text: &str) -> Value {
    decode(text).unwrap_or_else(|_| Value::String(text.to_string()))
}
