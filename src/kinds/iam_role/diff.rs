//! Live state, the changes and the pure diff between a spec and a live role.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::spec::IamRoleSpec;
use crate::core::{Action, Change, FieldChange, Replacement};
use crate::kinds::common::delta::Delta;
use crate::kinds::common::json::JsonDoc;
use crate::kinds::common::policy::{same_policy, summarise};
use crate::kinds::common::tags::{self, Tags, ToSet};

/// An instance profile holding the role, as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInstanceProfile {
    pub name: String,
    pub arn: String,
    /// Names of every role in the profile (IAM allows one).
    pub roles: Vec<String>,
}

/// A role as observed (the default: a role that does not exist, which has nothing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveIamRole {
    pub arn: String,
    pub path: String,
    /// Decoded; a document that cannot be decoded is kept as its raw text (never equal to a
    /// desired document, so it is rewritten).
    pub trust_policy: JsonDoc,
    /// Inline policies, decoded: name → document.
    pub policies: BTreeMap<String, JsonDoc>,
    pub managed_policies: BTreeSet<String>,
    pub instance_profiles: Vec<LiveInstanceProfile>,
    pub tags: Tags,
    /// Read (with `ListRoles`) only when a desired role manages it.
    pub description: Option<String>,
    /// Read (with `ListRoles`) only when a desired role manages it.
    pub max_session_duration: Option<i32>,
}

/// One role mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum IamRoleChange {
    Create {
        path: String,
        trust_policy: Value,
        description: Option<String>,
        max_session_duration: Option<i32>,
        tags: Tags,
    },
    /// `UpdateAssumeRolePolicy`.
    TrustPolicy { live: Value, desired: Value },
    /// `UpdateRole`: (live, desired) of what differs.
    Settings {
        description: Option<(Option<String>, String)>,
        max_session_duration: Option<(Option<i32>, i32)>,
    },
    /// `PutRolePolicy` (a new or changed inline policy).
    PutPolicy {
        policy: String,
        live: Option<Value>,
        desired: Value,
    },
    /// `DeleteRolePolicy` (an inline policy no longer in the spec).
    DeletePolicy { policy: String, live: Value },
    /// `AttachRolePolicy`.
    AttachPolicy(String),
    /// `DetachRolePolicy`.
    DetachPolicy(String),
    /// `CreateInstanceProfile` (same name) and `AddRoleToInstanceProfile`.
    InstanceProfile { name: String },
    /// tag → (live, desired)
    Tag(ToSet),
    /// tag → live value
    Untag(Tags),
    /// An immutable field differs.
    Replace(Replacement),
}

use IamRoleChange as C;

impl Change for IamRoleChange {
    fn action(&self) -> Action {
        match self {
            C::Create { .. } | C::InstanceProfile { .. } => Action::Create,
            C::TrustPolicy { .. }
            | C::Settings { .. }
            | C::PutPolicy { .. }
            | C::DeletePolicy { .. }
            | C::AttachPolicy(_)
            | C::DetachPolicy(_) => Action::Update,
            C::Tag(_) | C::Untag(_) => Action::Tag,
            C::Replace(_) => Action::Replace,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        let duration = |m: Option<i32>, to: i32| {
            FieldChange::changed(
                "max_session_duration",
                m.map(|m| m.to_string()),
                to.to_string(),
            )
        };
        match self {
            C::Create {
                path,
                trust_policy,
                description: d,
                max_session_duration: m,
                tags,
            } => {
                let mut f = vec![
                    FieldChange::added("path", path),
                    FieldChange::added("policy_document", summarise(trust_policy)),
                ];
                f.extend(d.iter().map(|d| FieldChange::added("description", d)));
                f.extend(m.map(|m| duration(None, m)));
                f.extend(tags::new_fields(tags));
                f
            }
            C::TrustPolicy { live, desired } => vec![FieldChange::changed(
                "policy_document",
                Some(summarise(live)),
                summarise(desired),
            )],
            C::Settings {
                description: d,
                max_session_duration: m,
            } => {
                let mut f: Vec<FieldChange> = (d.iter())
                    .map(|(old, new)| FieldChange::changed("description", old.clone(), new))
                    .collect();
                f.extend(m.map(|(old, new)| duration(old, new)));
                f
            }
            C::PutPolicy {
                policy,
                live,
                desired,
            } => vec![FieldChange::changed(
                format!("policies.{policy}"),
                live.as_ref().map(summarise),
                summarise(desired),
            )],
            C::DeletePolicy { policy, live } => vec![FieldChange::removed(
                format!("policies.{policy}"),
                summarise(live),
            )],
            C::AttachPolicy(arn) => vec![FieldChange::added("managed_policies", arn)],
            C::DetachPolicy(arn) => vec![FieldChange::removed("managed_policies", arn)],
            C::InstanceProfile { name } => vec![FieldChange::added("instance_profile", name)],
            C::Tag(m) => tags::set_fields(m),
            C::Untag(m) => tags::remove_fields(m),
            C::Replace(r) => r.fields(),
        }
    }
}

/// The changes that make `live` (`None`: no such role) match `desired`, in the order to apply
/// them.
pub(super) fn diff(
    controller_id: &str,
    name: &str,
    desired: &IamRoleSpec,
    live: Option<&LiveIamRole>,
) -> Vec<C> {
    let trust = desired.trust_policy();
    let tags = tags::with_owner(&desired.tags, controller_id);
    let mut changes = Vec::new();
    let Some(live) = live else {
        // A new role, then what it holds: as for a role that has none of it.
        changes.push(C::Create {
            path: desired.path.clone(),
            trust_policy: trust,
            description: desired.description.clone().filter(|d| !d.is_empty()),
            max_session_duration: desired.max_session_duration,
            tags,
        });
        changes.extend(contents(name, desired, &LiveIamRole::default()));
        return changes;
    };

    // Ownership first: adopt (tag) before changing anything else.
    changes.extend(tags::changes(&tags, &live.tags, C::Tag, C::Untag));
    if live.path != desired.path {
        changes.push(C::Replace(Replacement::new(
            "path",
            Some(live.path.clone()),
            &desired.path,
        )));
    }
    let live_trust = live.trust_policy.value();
    if !same_policy(&live_trust, &trust) {
        changes.push(C::TrustPolicy {
            live: live_trust,
            desired: trust,
        });
    }
    let description = desired
        .description
        .as_ref()
        .filter(|d| live.description.as_deref().unwrap_or("") != d.as_str())
        .map(|d| (live.description.clone(), d.clone()));
    let max_session_duration = desired
        .max_session_duration
        .filter(|m| live.max_session_duration != Some(*m))
        .map(|m| (live.max_session_duration, m));
    if description.is_some() || max_session_duration.is_some() {
        changes.push(C::Settings {
            description,
            max_session_duration,
        });
    }
    changes.extend(contents(name, desired, live));
    changes
}

/// The changes to what the role holds: its policies and its instance profile. Grant before
/// revoking: new and changed inline policies, attachments, then removals.
fn contents(name: &str, desired: &IamRoleSpec, live: &LiveIamRole) -> Vec<C> {
    let want: BTreeSet<String> = desired.managed_policies.iter().cloned().collect();
    let managed = Delta::between(&want, &live.managed_policies);
    let mut changes: Vec<C> = desired
        .policies
        .iter()
        .filter(|(policy, doc)| {
            !live
                .policies
                .get(*policy)
                .is_some_and(|h| same_policy(&h.value(), &doc.value()))
        })
        .map(|(policy, doc)| C::PutPolicy {
            policy: policy.clone(),
            live: live.policies.get(policy).map(JsonDoc::value),
            desired: doc.value(),
        })
        .collect();
    changes.extend(managed.add.into_iter().map(C::AttachPolicy));
    changes.extend(
        (live.policies.iter())
            .filter(|(policy, _)| !desired.policies.contains_key(*policy))
            .map(|(policy, doc)| C::DeletePolicy {
                policy: policy.clone(),
                live: doc.value(),
            }),
    );
    changes.extend(managed.remove.into_iter().map(C::DetachPolicy));
    if desired.instance_profile && !live.instance_profiles.iter().any(|p| p.name == name) {
        changes.push(C::InstanceProfile {
            name: name.to_string(),
        });
    }
    changes
}
