//! `kind: IamRole` — an IAM role: its trust policy, inline policies, attached managed
//! policies, tags, and (as Salt's `boto_iam_role.present` does) the instance profile of the
//! same name that lets EC2 instances assume it.
//!
//! Reads: one paginated `GetAccountAuthorizationDetails` (`Filter=Role`, 1,000 per page) for
//! the whole account, which carries every role with its trust policy, inline policies
//! (URL-encoded), attached managed policies, tags and instance profiles. That listing has no
//! `Description` or `MaxSessionDuration`: only when a desired role sets one of them is a
//! paginated `ListRoles` walked as well.
//!
//! Inline policies, managed policies and tags are authoritative: what is not in the spec is
//! deleted, detached or removed (AWS's own `aws:` tags excepted). Tags are checked by the
//! rules every kind shares ([`super::common::tags`]). Policy documents compare semantically
//! ([`super::common::policy`]), so IAM's URL-encoding and reordering are never drift.
//! `instance_profile: false` means converge neither creates nor removes an instance profile;
//! only pruning the whole role deletes its same-name profile.
//!
//! IAM is eventually consistent: a role created a moment ago may be missing from the listing,
//! so creating a role or instance profile that already exists counts as done and the next
//! sweep reconciles; `NoSuchEntity` or `LimitExceeded` right after a create are retried.
//!
//! Its files: `spec.rs` (the spec and its checks), `diff.rs` (live state, changes and the pure
//! diff), `observe.rs` (reading IAM), `apply.rs` (changing it) and `tests.rs`.

mod apply;
mod diff;
mod observe;
mod spec;

pub use diff::{IamRoleChange, LiveIamRole, LiveInstanceProfile};
pub use spec::IamRoleSpec;

use super::common::errors::{ErrorCodes, NotFound};
use super::common::{refs, tags};
use crate::aws::Clients;
use crate::core::facts::Published;
use crate::core::{KindError, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// IAM's codes that retrying will not fix (`NoSuchEntity` and `LimitExceeded` stay retryable:
/// right after a create they are IAM's eventual consistency, not a mistake), and how it says
/// an entity does not exist (for deletes: it is already gone).
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "InvalidInput",
        "UnmodifiableEntity",
        "PolicyNotAttachable",
        "DeleteConflict",
    ],
    NotFound::Codes(&["NoSuchEntity"]),
);

/// The IAM role kind.
pub struct IamRole {
    client: aws_sdk_iam::Client,
}

impl IamRole {
    pub fn new(clients: &Clients) -> Self {
        IamRole {
            client: clients.iam.clone(),
        }
    }
}

impl Schema for IamRole {
    const NAME: &'static str = refs::iam_role::KIND;
    const GLOBAL: bool = true;
    type Spec = IamRoleSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        spec::validate_name(name)
    }

    fn validate(_name: &str, spec: &IamRoleSpec) -> Vec<String> {
        spec::validate(spec)
    }
}

impl Kind for IamRole {
    type Live = LiveIamRole;
    type Change = IamRoleChange;

    async fn observe(
        &self,
        scope: &Scope<'_, IamRoleSpec>,
    ) -> Result<Observed<LiveIamRole>, KindError> {
        self.observe_roles(scope).await
    }

    fn owner(live: &LiveIamRole) -> Option<&str> {
        tags::owner(&live.tags)
    }

    fn facts(name: &str, live: &LiveIamRole, out: &mut Published) {
        out.set(refs::iam_role::ARN, &live.arn);
        let profile = live
            .instance_profiles
            .iter()
            .find(|p| p.name == name)
            .or_else(|| live.instance_profiles.first());
        if let Some(p) = profile {
            out.set(refs::iam_role::INSTANCE_PROFILE_ARN, &p.arn);
            out.set(refs::iam_role::INSTANCE_PROFILE_NAME, &p.name);
        }
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        name: &str,
        desired: &IamRoleSpec,
        live: Option<&LiveIamRole>,
    ) -> Result<Vec<IamRoleChange>, Waiting> {
        Ok(diff::diff(ctx.controller_id, name, desired, live))
    }

    async fn apply(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveIamRole>,
        change: &IamRoleChange,
    ) -> Result<(), KindError> {
        self.apply_change(ctx.controller_id, name, change).await
    }

    async fn delete(&self, name: &str, live: &LiveIamRole) -> Result<(), KindError> {
        self.delete_role(name, live).await
    }
}

#[cfg(test)]
mod tests;
