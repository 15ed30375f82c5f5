//! Changing IAM: create the role, its policies and instance profile, tag it, delete it all.

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;

use super::diff::{IamRoleChange as C, LiveIamRole};
use super::{IamRole, CODES};
use crate::core::{ErrorClass, KindError, Schema};
use crate::kinds::common::errors::{has_code, unbuildable, Sent};
use crate::kinds::common::policy::statement_difference;
use crate::kinds::common::tags::{self, Tags};

/// A create found the entity already there.
const ALREADY_EXISTS: &str = "EntityAlreadyExists";

impl IamRole {
    /// Applies one change (see [`crate::engine::Kind::apply`]).
    pub(super) async fn apply_change(
        &self,
        controller_id: &str,
        name: &str,
        change: &C,
    ) -> Result<(), KindError> {
        let c = &self.client;
        match change {
            C::Create {
                path,
                trust_policy,
                description,
                max_session_duration,
                tags,
            } => {
                let sent = c
                    .create_role()
                    .role_name(name)
                    .path(path)
                    .assume_role_policy_document(trust_policy.to_string())
                    .set_description(description.clone())
                    .set_max_session_duration(*max_session_duration)
                    .set_tags(Some(sdk_tags(tags, "CreateRole", name)?))
                    .send()
                    .await;
                // Created by an earlier attempt and not listed yet (IAM is eventually
                // consistent): the next sweep reconciles what it finds.
                if answered(&sent, ALREADY_EXISTS) {
                    tracing::info!(
                        kind = Self::NAME,
                        name,
                        "role already exists; the next sweep reconciles it"
                    );
                }
                sent.ok_if(&[ALREADY_EXISTS], &CODES, "CreateRole", name)?;
            }
            C::TrustPolicy { live, desired } => {
                let (removed, added) = statement_difference(live, desired);
                tracing::debug!(kind = Self::NAME, name, removed = ?removed, added = ?added, "trust policy statements that differ");
                c.update_assume_role_policy()
                    .role_name(name)
                    .policy_document(desired.to_string())
                    .send()
                    .await
                    .or_fail(&CODES, "UpdateAssumeRolePolicy", name)?;
            }
            C::Settings {
                description,
                max_session_duration,
            } => {
                c.update_role()
                    .role_name(name)
                    .set_description(description.as_ref().map(|d| d.1.clone()))
                    .set_max_session_duration(max_session_duration.map(|m| m.1))
                    .send()
                    .await
                    .or_fail(&CODES, "UpdateRole", name)?;
            }
            C::PutPolicy {
                policy,
                live,
                desired,
            } => {
                if let Some(live) = live {
                    let (removed, added) = statement_difference(live, desired);
                    tracing::debug!(kind = Self::NAME, name, policy = %policy, removed = ?removed, added = ?added, "inline policy statements that differ");
                }
                c.put_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .policy_document(desired.to_string())
                    .send()
                    .await
                    .or_fail(&CODES, "PutRolePolicy", &format!("{name} ({policy})"))?;
            }
            C::DeletePolicy { policy, .. } => self.delete_policy(name, policy).await?,
            C::AttachPolicy(arn) => {
                c.attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .or_fail(&CODES, "AttachRolePolicy", &format!("{name} ({arn})"))?;
            }
            C::DetachPolicy(arn) => self.detach_policy(name, arn).await?,
            C::InstanceProfile { name: profile } => {
                self.add_to_instance_profile(controller_id, profile).await?
            }
            C::Tag(m) => {
                let set: Tags = m.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
                c.tag_role()
                    .role_name(name)
                    .set_tags(Some(sdk_tags(&set, "TagRole", name)?))
                    .send()
                    .await
                    .or_fail(&CODES, "TagRole", name)?;
            }
            C::Untag(m) => {
                c.untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(m.keys().cloned().collect()))
                    .send()
                    .await
                    .or_fail(&CODES, "UntagRole", name)?;
            }
            C::Replace(r) => return Err(r.refused(Self::NAME, name)),
        }
        Ok(())
    }

    /// Deletes the inline policies, detaches the managed ones, takes the role out of its
    /// instance profiles (deleting the same-name profile when it held only this role), then
    /// deletes the role. Every step tolerates "already done".
    pub(super) async fn delete_role(
        &self,
        name: &str,
        live: &LiveIamRole,
    ) -> Result<(), KindError> {
        let c = &self.client;
        for policy in live.policies.keys() {
            self.delete_policy(name, policy).await?;
        }
        for arn in &live.managed_policies {
            self.detach_policy(name, arn).await?;
        }
        for profile in &live.instance_profiles {
            c.remove_role_from_instance_profile()
                .instance_profile_name(&profile.name)
                .role_name(name)
                .send()
                .await
                .gone_ok(
                    &CODES,
                    "RemoveRoleFromInstanceProfile",
                    &format!("{name} ({})", profile.name),
                )?;
            let only_this_role = profile.roles.iter().all(|r| r == name);
            if profile.name == name && only_this_role {
                c.delete_instance_profile()
                    .instance_profile_name(&profile.name)
                    .send()
                    .await
                    .gone_ok(&CODES, "DeleteInstanceProfile", &profile.name)?;
            }
        }
        c.delete_role()
            .role_name(name)
            .send()
            .await
            .gone_ok(&CODES, "DeleteRole", name)
    }

    /// `DeleteRolePolicy`; one already gone is done.
    async fn delete_policy(&self, name: &str, policy: &str) -> Result<(), KindError> {
        self.client
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .gone_ok(&CODES, "DeleteRolePolicy", &format!("{name} ({policy})"))
    }

    /// `DetachRolePolicy`; one already detached is done.
    async fn detach_policy(&self, name: &str, arn: &str) -> Result<(), KindError> {
        self.client
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .gone_ok(&CODES, "DetachRolePolicy", &format!("{name} ({arn})"))
    }

    /// The same-name instance profile (created if missing, tagged as ours) holding the role.
    async fn add_to_instance_profile(
        &self,
        controller_id: &str,
        name: &str,
    ) -> Result<(), KindError> {
        let owner = tags::with_owner(&Tags::new(), controller_id);
        let sent = self
            .client
            .create_instance_profile()
            .instance_profile_name(name)
            .path("/")
            .set_tags(Some(sdk_tags(&owner, "CreateInstanceProfile", name)?))
            .send()
            .await;
        if answered(&sent, ALREADY_EXISTS) {
            tracing::info!(
                kind = Self::NAME,
                name,
                "instance profile already exists; adding the role to it"
            );
        }
        sent.ok_if(&[ALREADY_EXISTS], &CODES, "CreateInstanceProfile", name)?;
        let sent = self
            .client
            .add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(name)
            .send()
            .await;
        let full = sent
            .as_ref()
            .is_err_and(|e| has_code(e, &["LimitExceeded"]));
        sent.done(&CODES, "AddRoleToInstanceProfile", name)
            .map_err(|mut err| {
                if full {
                    err.class = ErrorClass::Retryable;
                    err.message.push_str(
                        " (the instance profile already holds a role: this one, not listed yet, or another one)",
                    );
                }
                err
            })
    }
}

/// True when a call failed with AWS's `code`.
fn answered<T, E: ProvideErrorMetadata, R>(sent: &Result<T, SdkError<E, R>>, code: &str) -> bool {
    sent.as_ref().is_err_and(|e| has_code(e, &[code]))
}

/// Tags as IAM takes them.
fn sdk_tags(tags: &Tags, operation: &str, name: &str) -> Result<Vec<Tag>, KindError> {
    tags.iter()
        .map(|(k, v)| {
            (Tag::builder().key(k).value(v).build()).map_err(|e| unbuildable(operation, name, e))
        })
        .collect()
}
