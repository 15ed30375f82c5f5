//! Changing EC2: create a group, authorize and revoke its rules, tag and untag it, delete it.

use aws_sdk_ec2::error::SdkError;
use aws_sdk_ec2::types::{IpPermission, ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::diff::{rules_field, LiveSecurityGroup, Rule, SecurityGroupChange as C};
use super::rules::Source;
use super::{SecurityGroup, CODES, GROUP_NOT_FOUND};
use crate::core::{ErrorClass, KindError, Schema};
use crate::kinds::common::errors::{code_of, has_code, message_of, unobserved, Sent};
use crate::kinds::common::names::{self, Named};
use crate::kinds::common::tags::Tags;

/// A create that found the group already there.
const DUPLICATE_GROUP: &str = "InvalidGroup.Duplicate";
/// Authorizing a rule that is already there.
const DUPLICATE_RULE: &str = "InvalidPermission.Duplicate";
/// Revoking a rule that is not there.
const MISSING_RULE: &str = "InvalidPermission.NotFound";

impl SecurityGroup {
    /// Applies one change (see [`crate::engine::Kind::apply`]).
    pub(super) async fn apply_change(
        &self,
        name: &str,
        live: Option<&LiveSecurityGroup>,
        change: &C,
    ) -> Result<(), KindError> {
        let id = || {
            live.map(|l| l.id.as_str())
                .ok_or_else(|| unobserved("security group", name))
        };
        let call = |op, egress, group_id| RuleCall {
            op,
            egress,
            name,
            group_id,
        };
        match change {
            C::Create {
                description,
                vpc_id,
                vpc_name,
                tags,
                ingress,
                egress,
                deferred: _,
            } => {
                let vpc_id = match vpc_name {
                    Some(n) => {
                        names::resolve_all(&self.client, Named::Vpc, std::slice::from_ref(n))
                            .await?
                            .pop()
                    }
                    None => vpc_id.clone(),
                };
                let id = self.create(name, description, &vpc_id, tags).await?;
                for (eg, rules) in [(false, ingress), (true, egress)] {
                    self.change_rules(call(RuleOp::Authorize, eg, &id), rules)
                        .await?;
                }
                Ok(())
            }
            C::Authorize { egress, rules } => {
                self.change_rules(call(RuleOp::Authorize, *egress, id()?), rules)
                    .await
            }
            C::Revoke { egress, rules } => {
                self.change_rules(call(RuleOp::Revoke, *egress, id()?), rules)
                    .await
            }
            C::Tag(m) => self
                .client
                .create_tags()
                .resources(id()?)
                .set_tags(Some(sdk_tags(m.iter().map(|(k, (_, v))| (k, v)))))
                .send()
                .await
                .done(&CODES, "CreateTags", name),
            C::Untag(m) => {
                // A key alone deletes the tag whatever its value.
                let keys = m.keys().map(|k| Tag::builder().key(k).build()).collect();
                self.client
                    .delete_tags()
                    .resources(id()?)
                    .set_tags(Some(keys))
                    .send()
                    .await
                    .done(&CODES, "DeleteTags", name)
            }
            C::Replace(r) => Err(r.refused(Self::NAME, name)),
        }
    }

    /// Deletes the group; one already gone is done.
    pub(super) async fn delete_group(
        &self,
        name: &str,
        live: &LiveSecurityGroup,
    ) -> Result<(), KindError> {
        // DependencyViolation (still used by an instance, a load balancer or another group's
        // rule) is not terminal: it clears when the user goes.
        self.client
            .delete_security_group()
            .group_id(&live.id)
            .send()
            .await
            .gone_ok(&CODES, "DeleteSecurityGroup", name)
    }

    /// `CreateSecurityGroup` with its tags: the new group's id.
    async fn create(
        &self,
        name: &str,
        description: &str,
        vpc_id: &Option<String>,
        tags: &Tags,
    ) -> Result<String, KindError> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroup)
            .set_tags(Some(sdk_tags(tags)))
            .build();
        let sent = self
            .client
            .create_security_group()
            .group_name(name)
            .description(description)
            .set_vpc_id(vpc_id.clone())
            .tag_specifications(tags)
            .send()
            .await;
        let out = match sent {
            // Created by an earlier attempt whose answer was lost, or by someone else just now:
            // never create twice; the next sweep observes it (and adopts it if it is untagged).
            Err(e) if has_code(&e, &[DUPLICATE_GROUP]) => {
                return Err(KindError::retryable(format!(
                    "CreateSecurityGroup {name}: the group already exists; it is taken over on the next sweep"
                )))
            }
            sent => sent.or_fail(&CODES, "CreateSecurityGroup", name)?,
        };
        out.group_id().map(String::from).ok_or_else(|| {
            KindError::retryable(format!(
                "CreateSecurityGroup {name}: the answer carries no group id"
            ))
        })
    }

    /// Authorizes or revokes `rules` on one group. Safe to repeat: a rule already there (or
    /// already gone) is not an error. Rules naming a source group by owner and name go one at a
    /// time, so the one AWS rejects is named in the error.
    async fn change_rules(&self, call: RuleCall<'_>, rules: &[Rule]) -> Result<(), KindError> {
        let named = |r: &&Rule| matches!(r.permission.source, Source::GroupName { .. });
        let (by_name, direct): (Vec<&Rule>, Vec<&Rule>) = rules.iter().partition(named);
        let mut one_by_one = Vec::new();
        if !direct.is_empty() {
            let all = direct.iter().map(|r| r.permission.to_sdk()).collect();
            let sent = self.send_rules(call, all).await;
            // Some were already in place (or gone): one at a time, skipping those.
            if answered(&sent, call.done()) {
                one_by_one = direct;
            } else {
                call.result(sent, None)?;
            }
        }
        for r in one_by_one.into_iter().chain(by_name) {
            let sent = self.send_rules(call, vec![r.permission.to_sdk()]).await;
            if !answered(&sent, call.done()) {
                call.result(sent, Some(r).filter(named))?;
            }
        }
        Ok(())
    }

    async fn send_rules(
        &self,
        call: RuleCall<'_>,
        perms: Vec<IpPermission>,
    ) -> Result<(), RuleError> {
        let c = &self.client;
        // The four calls take the same input; only the operation differs.
        macro_rules! send {
            ($operation:ident) => {
                c.$operation()
                    .group_id(call.group_id)
                    .set_ip_permissions(Some(perms))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| e.map_service_error(Into::into))
            };
        }
        match (call.op, call.egress) {
            (RuleOp::Authorize, false) => send!(authorize_security_group_ingress),
            (RuleOp::Authorize, true) => send!(authorize_security_group_egress),
            (RuleOp::Revoke, false) => send!(revoke_security_group_ingress),
            (RuleOp::Revoke, true) => send!(revoke_security_group_egress),
        }
    }
}

/// A failed rule call, whichever of the four: EC2's error, with AWS's code and message.
type RuleError = SdkError<aws_sdk_ec2::Error, HttpResponse>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleOp {
    Authorize,
    Revoke,
}

/// One rule operation on one group: `name` for messages, `group_id` for EC2.
#[derive(Debug, Clone, Copy)]
struct RuleCall<'a> {
    op: RuleOp,
    egress: bool,
    name: &'a str,
    group_id: &'a str,
}

impl RuleCall<'_> {
    fn operation(&self) -> &'static str {
        match (self.op, self.egress) {
            (RuleOp::Authorize, false) => "AuthorizeSecurityGroupIngress",
            (RuleOp::Authorize, true) => "AuthorizeSecurityGroupEgress",
            (RuleOp::Revoke, false) => "RevokeSecurityGroupIngress",
            (RuleOp::Revoke, true) => "RevokeSecurityGroupEgress",
        }
    }

    /// The code that means "already done": the rule is already there (authorize) or already
    /// gone (revoke).
    fn done(&self) -> &'static str {
        match self.op {
            RuleOp::Authorize => DUPLICATE_RULE,
            RuleOp::Revoke => MISSING_RULE,
        }
    }

    /// A call's result, a failure classified as [`Sent::or_fail`] does and then said more
    /// precisely where AWS's answer allows:
    /// - "group not found" about a group other than the one changed means a source group a
    ///   rule names does not exist: retrying will not help. About the group itself, it
    ///   vanished since the listing: the next sweep sees that.
    /// - `by_name`, a rule naming its source group by owner and name, that AWS rejected: why
    ///   such a rule cannot work in a VPC.
    fn result(&self, sent: Result<(), RuleError>, by_name: Option<&Rule>) -> Result<(), KindError> {
        let (code, message) = match &sent {
            Ok(()) => return Ok(()),
            Err(e) => (
                code_of(e).map(String::from),
                message_of(e).unwrap_or_default(),
            ),
        };
        let message = message.to_string();
        sent.or_fail(&CODES, self.operation(), self.name)
            .map_err(|error| match by_name {
                None if code.as_deref() == Some(GROUP_NOT_FOUND)
                    && !message.contains(self.group_id) =>
                {
                    KindError::terminal(format!(
                        "{}; a source group named in the rules does not exist",
                        error.message
                    ))
                }
                Some(rule) if error.class != ErrorClass::Throttled && code.is_some() => {
                    KindError::terminal(format!(
                        "{} {}: rule `{}` in {}: {}: {message} — a source group given by \
                     source_group_name with source_group_owner_id is an EC2-Classic reference \
                     (like amazon-elb/amazon-elb-sg) and cannot be used by a group in a VPC; give \
                     the group's id as source_group_id (for a load balancer, its security group)",
                        self.operation(),
                        self.name,
                        rule.text,
                        rules_field(self.egress),
                        code.as_deref().unwrap_or("Unknown"),
                    ))
                }
                _ => error,
            })
    }
}

/// True when a call failed with AWS's `code`.
fn answered<T>(sent: &Result<T, RuleError>, code: &str) -> bool {
    sent.as_ref().is_err_and(|e| has_code(e, &[code]))
}

/// Tags as EC2 takes them.
fn sdk_tags<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}
