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
//! deleted, detached or removed (AWS's own `aws:` tags excepted). Policy documents compare
//! semantically ([`super::policy`]), so IAM's URL-encoding and reordering are never drift.
//! `instance_profile: false` means converge neither creates nor removes an instance profile;
//! only pruning the whole role deletes its same-name profile.
//!
//! IAM is eventually consistent: a role created a moment ago may be missing from the listing,
//! so creating a role or instance profile that already exists counts as done and the next
//! sweep reconciles; `NoSuchEntity` or `LimitExceeded` right after a create are retried.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{EntityType, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::json::JsonDoc;
use super::common::policy::{decode, same_policy, statement_difference, summarise};
use super::common::refs;
use crate::aws::{classify, Clients};
use crate::core::facts::Published;
use crate::core::{Action, Change, ErrorClass, FieldChange, KindError, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// IAM codes that retrying will not fix. (`NoSuchEntity` and `LimitExceeded` stay retryable:
/// right after a create they are IAM's eventual consistency, not a mistake.)
const TERMINAL: &[&str] = &[
    "InvalidInput",
    "UnmodifiableEntity",
    "PolicyNotAttachable",
    "DeleteConflict",
];
/// The entity is already gone (deletes) or does not exist (yet).
const NOT_FOUND: &str = "NoSuchEntity";
/// A create found the entity already there.
const ALREADY_EXISTS: &str = "EntityAlreadyExists";

/// The trust policy used when the spec has none: EC2 may assume the role.
fn default_trust_policy() -> Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

fn default_path() -> String {
    "/".to_string()
}

fn yes() -> bool {
    true
}

/// The `spec` of a `kind: IamRole` (field names as Salt's `boto_iam_role.present`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRoleSpec {
    /// The trust policy (who may assume the role), a mapping or a JSON string. Default: EC2
    /// may assume the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_document: Option<JsonDoc>,
    /// Inline policies: policy name → document. Inline policies not listed are deleted.
    #[serde(default)]
    pub policies: BTreeMap<String, JsonDoc>,
    /// ARNs of the managed policies to attach. Others attached to the role are detached.
    #[serde(default)]
    pub managed_policies: Vec<String>,
    /// The role's path; cannot change on an existing role.
    #[serde(default = "default_path")]
    pub path: String,
    /// The role's complete tag set (plus `converge:managed-by`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Create an instance profile of the same name holding the role (Salt's
    /// `create_instance_profile`, also accepted). `false`: none is created.
    #[serde(default = "yes", alias = "create_instance_profile")]
    pub instance_profile: bool,
    /// Managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds, 3600 to 43200; managed only when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<i32>,
}

impl Default for IamRoleSpec {
    fn default() -> Self {
        IamRoleSpec {
            policy_document: None,
            policies: BTreeMap::new(),
            managed_policies: Vec::new(),
            path: default_path(),
            tags: BTreeMap::new(),
            instance_profile: true,
            description: None,
            max_session_duration: None,
        }
    }
}

impl IamRoleSpec {
    /// The trust policy to send: as written, or the default.
    fn trust_policy(&self) -> Value {
        self.policy_document
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or_else(default_trust_policy)
    }

    fn reads_settings(&self) -> bool {
        self.description.is_some() || self.max_session_duration.is_some()
    }
}

/// An instance profile holding the role, as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInstanceProfile {
    pub name: String,
    pub arn: String,
    /// Names of every role in the profile (IAM allows one).
    pub roles: Vec<String>,
}

/// A role as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveIamRole {
    pub arn: String,
    pub path: String,
    /// Decoded; a document that cannot be decoded is kept as its raw text (never equal to a
    /// desired document, so it is rewritten).
    pub trust_policy: Value,
    /// Inline policies, decoded: name → document.
    pub policies: BTreeMap<String, Value>,
    pub managed_policies: BTreeSet<String>,
    pub instance_profiles: Vec<LiveInstanceProfile>,
    pub tags: BTreeMap<String, String>,
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
        tags: BTreeMap<String, String>,
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
    Tag(BTreeMap<String, (Option<String>, String)>),
    /// tag → live value
    Untag(BTreeMap<String, String>),
    /// An immutable field differs.
    Replace {
        field: &'static str,
        live: String,
        desired: String,
    },
}

impl Change for IamRoleChange {
    fn action(&self) -> Action {
        match self {
            IamRoleChange::Create { .. } | IamRoleChange::InstanceProfile { .. } => Action::Create,
            IamRoleChange::TrustPolicy { .. }
            | IamRoleChange::Settings { .. }
            | IamRoleChange::PutPolicy { .. }
            | IamRoleChange::DeletePolicy { .. }
            | IamRoleChange::AttachPolicy(_)
            | IamRoleChange::DetachPolicy(_) => Action::Update,
            IamRoleChange::Tag(_) | IamRoleChange::Untag(_) => Action::Tag,
            IamRoleChange::Replace { .. } => Action::Replace,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            IamRoleChange::Create {
                path,
                trust_policy,
                description,
                max_session_duration,
                tags,
            } => {
                let mut f = vec![
                    FieldChange::new("path", None, Some(path.clone())),
                    FieldChange::new("policy_document", None, Some(summarise(trust_policy))),
                ];
                if let Some(d) = description {
                    f.push(FieldChange::new("description", None, Some(d.clone())));
                }
                if let Some(m) = max_session_duration {
                    f.push(FieldChange::new(
                        "max_session_duration",
                        None,
                        Some(m.to_string()),
                    ));
                }
                f.extend(
                    tags.iter()
                        .map(|(k, v)| FieldChange::new(format!("tags.{k}"), None, Some(v.clone()))),
                );
                f
            }
            IamRoleChange::TrustPolicy { live, desired } => vec![FieldChange::new(
                "policy_document",
                Some(summarise(live)),
                Some(summarise(desired)),
            )],
            IamRoleChange::Settings {
                description,
                max_session_duration,
            } => {
                let mut f = Vec::new();
                if let Some((old, new)) = description {
                    f.push(FieldChange::new(
                        "description",
                        old.clone(),
                        Some(new.clone()),
                    ));
                }
                if let Some((old, new)) = max_session_duration {
                    f.push(FieldChange::new(
                        "max_session_duration",
                        old.map(|o| o.to_string()),
                        Some(new.to_string()),
                    ));
                }
                f
            }
            IamRoleChange::PutPolicy {
                policy,
                live,
                desired,
            } => vec![FieldChange::new(
                format!("policies.{policy}"),
                live.as_ref().map(summarise),
                Some(summarise(desired)),
            )],
            IamRoleChange::DeletePolicy { policy, live } => vec![FieldChange::new(
                format!("policies.{policy}"),
                Some(summarise(live)),
                None,
            )],
            IamRoleChange::AttachPolicy(arn) => {
                vec![FieldChange::new(
                    "managed_policies",
                    None,
                    Some(arn.clone()),
                )]
            }
            IamRoleChange::DetachPolicy(arn) => {
                vec![FieldChange::new(
                    "managed_policies",
                    Some(arn.clone()),
                    None,
                )]
            }
            IamRoleChange::InstanceProfile { name } => {
                vec![FieldChange::new(
                    "instance_profile",
                    None,
                    Some(name.clone()),
                )]
            }
            IamRoleChange::Tag(m) => super::common::tags::set_fields(m),
            IamRoleChange::Untag(m) => super::common::tags::remove_fields(m),
            IamRoleChange::Replace {
                field,
                live,
                desired,
            } => vec![FieldChange::new(
                format!("{field} (immutable)"),
                Some(live.clone()),
                Some(desired.clone()),
            )],
        }
    }
}

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

    /// Every role in the account with its policies, tags and instance profiles: one paginated
    /// `GetAccountAuthorizationDetails`.
    async fn list_roles(&self) -> Result<Observed<LiveIamRole>, KindError> {
        let pages: Vec<_> = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(1000)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                classify(
                    "GetAccountAuthorizationDetails",
                    "(all roles)",
                    &e,
                    TERMINAL,
                )
            })?;
        let mut roles = Observed::new();
        for page in pages {
            for r in page.role_detail_list() {
                let Some(name) = r.role_name() else { continue };
                roles.insert(name.to_string(), live_role(r));
            }
        }
        Ok(roles)
    }

    /// Fills `description` and `max_session_duration` (not in the authorization details) from
    /// one paginated `ListRoles`.
    async fn read_settings(&self, roles: &mut Observed<LiveIamRole>) -> Result<(), KindError> {
        let listed: Vec<aws_sdk_iam::types::Role> = self
            .client
            .list_roles()
            .max_items(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListRoles", "(all roles)", &e, TERMINAL))?;
        for r in listed {
            if let Some(live) = roles.get_mut(r.role_name()) {
                live.description = r.description().map(str::to_string);
                live.max_session_duration = r.max_session_duration();
            }
        }
        Ok(())
    }

    async fn add_to_instance_profile(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
    ) -> Result<(), KindError> {
        let owner = tag(MANAGED_BY_TAG, ctx.controller_id)?;
        match self
            .client
            .create_instance_profile()
            .instance_profile_name(name)
            .path("/")
            .tags(owner)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if has_code(&e, ALREADY_EXISTS) => {
                tracing::info!(
                    kind = "IamRole",
                    name,
                    "instance profile already exists; adding the role to it"
                );
            }
            Err(e) => return Err(classify("CreateInstanceProfile", name, &e, TERMINAL)),
        }
        match self
            .client
            .add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, "LimitExceeded") => {
                let mut err = classify("AddRoleToInstanceProfile", name, &e, TERMINAL);
                err.class = ErrorClass::Retryable;
                err.message.push_str(
                    " (the instance profile already holds a role: this one, not listed yet, or another one)",
                );
                Err(err)
            }
            Err(e) => Err(classify("AddRoleToInstanceProfile", name, &e, TERMINAL)),
        }
    }
}

/// A role from `GetAccountAuthorizationDetails`.
fn live_role(r: &aws_sdk_iam::types::RoleDetail) -> LiveIamRole {
    LiveIamRole {
        arn: r.arn().unwrap_or_default().to_string(),
        path: r.path().unwrap_or("/").to_string(),
        trust_policy: r
            .assume_role_policy_document()
            .map(decode_or_raw)
            .unwrap_or(Value::Null),
        policies: r
            .role_policy_list()
            .iter()
            .filter_map(|p| {
                Some((
                    p.policy_name()?.to_string(),
                    p.policy_document()
                        .map(decode_or_raw)
                        .unwrap_or(Value::Null),
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
        tags: r
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        description: None,
        max_session_duration: None,
    }
}

fn decode_or_raw(text: &str) -> Value {
    decode(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn has_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, code: &str) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some(code)
}

fn tag(key: &str, value: &str) -> Result<Tag, KindError> {
    Tag::builder().key(key).value(value).build().map_err(|e| {
        KindError::new(
            ErrorClass::Terminal,
            format!("tag {key}: cannot build the request: {e}"),
        )
    })
}

fn tags(m: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Tag>, KindError> {
    m.into_iter().map(|(k, v)| tag(&k, &v)).collect()
}

fn desired_tags(ctx: &DiffCtx<'_>, spec: &IamRoleSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), ctx.controller_id.to_string());
    tags
}

/// IAM names (roles, instance profiles, inline policies): letters, digits and `+=,.@_-`.
fn iam_name_ok(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// Checks a policy document's shape (what IAM would reject with MalformedPolicyDocument).
fn check_document(field: &str, doc: &Value, problems: &mut Vec<String>) {
    let Some(map) = doc.as_object() else {
        problems.push(format!("{field}: a policy document must be a mapping"));
        return;
    };
    match map.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(v) => problems.push(format!(
            "{field}.Version: `{}` must be 2012-10-17 (or 2008-10-17)",
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        )),
    }
    match map.get("Statement") {
        Some(Value::Object(_)) => {}
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_object) => {}
        _ => problems.push(format!(
            "{field}.Statement: must be a statement mapping or a non-empty list of them"
        )),
    }
}

impl Schema for IamRole {
    const NAME: &'static str = refs::iam_role::KIND;
    type Spec = IamRoleSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        if name.is_empty() || name.len() > 64 {
            return Err(format!(
                "role name `{name}` must be 1 to 64 characters long"
            ));
        }
        if !iam_name_ok(name) {
            return Err(format!(
                "role name `{name}` may contain only letters, digits and `+=,.@_-`"
            ));
        }
        Ok(())
    }

    fn validate(_name: &str, spec: &IamRoleSpec) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(doc) = &spec.policy_document {
            check_document("policy_document", &doc.0, &mut problems);
        }
        for (policy, doc) in &spec.policies {
            if policy.is_empty() || policy.len() > 128 || !iam_name_ok(policy) {
                problems.push(format!(
                    "policies.{policy}: a policy name is 1 to 128 letters, digits and `+=,.@_-`"
                ));
            }
            check_document(&format!("policies.{policy}"), &doc.0, &mut problems);
        }
        let mut seen = BTreeSet::new();
        for arn in &spec.managed_policies {
            if !arn.starts_with("arn:") || !arn.contains(":policy/") {
                problems.push(format!(
                    "managed_policies: `{arn}` must be a policy ARN (arn:aws:iam::<account or aws>:policy/...)"
                ));
            }
            if !seen.insert(arn) {
                problems.push(format!("managed_policies: `{arn}` is listed twice"));
            }
        }
        if spec.managed_policies.len() > 20 {
            problems.push(format!(
                "managed_policies: {} policies; IAM attaches at most 20 to a role",
                spec.managed_policies.len()
            ));
        }
        let p = &spec.path;
        if p.is_empty()
            || p.len() > 512
            || !p.starts_with('/')
            || !p.ends_with('/')
            || !p.chars().all(|c| ('!'..='~').contains(&c))
        {
            problems.push(format!(
                "path: `{p}` must start and end with `/`, be at most 512 characters and contain no spaces"
            ));
        }
        if let Some(d) = &spec.description {
            if d.chars().count() > 1000 {
                problems.push("description: at most 1000 characters".to_string());
            }
        }
        if let Some(m) = spec.max_session_duration {
            if !(3600..=43_200).contains(&m) {
                problems.push(format!(
                    "max_session_duration: `{m}` must be from 3600 to 43200 seconds"
                ));
            }
        }
        if spec.tags.len() > 49 {
            problems.push(format!(
                "tags: {} tags; IAM allows 50 per role, one of them converge's own",
                spec.tags.len()
            ));
        }
        for (k, v) in &spec.tags {
            if k.starts_with("aws:") {
                problems.push(format!("tags.{k}: the `aws:` prefix is reserved by AWS"));
            }
            if k.is_empty() || k.len() > 128 || v.len() > 256 {
                problems.push(format!(
                    "tags.{k}: keys are 1 to 128 characters, values at most 256"
                ));
            }
            if k == MANAGED_BY_TAG {
                problems.push(format!(
                    "tags.{k}: converge sets this tag itself (from --controller-id)"
                ));
            }
        }
        problems
    }
}

impl Kind for IamRole {
    type Live = LiveIamRole;
    type Change = IamRoleChange;

    async fn observe(
        &self,
        scope: &Scope<'_, IamRoleSpec>,
    ) -> Result<Observed<LiveIamRole>, KindError> {
        let mut roles = self.list_roles().await?;
        if scope.desired.values().any(IamRoleSpec::reads_settings) {
            self.read_settings(&mut roles).await?;
        }
        Ok(roles)
    }

    fn owner(live: &LiveIamRole) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
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
        let trust = desired.trust_policy();
        let tags = desired_tags(ctx, desired);
        let managed: BTreeSet<&String> = desired.managed_policies.iter().collect();
        let Some(live) = live else {
            let mut changes = vec![IamRoleChange::Create {
                path: desired.path.clone(),
                trust_policy: trust,
                description: desired.description.clone().filter(|d| !d.is_empty()),
                max_session_duration: desired.max_session_duration,
                tags,
            }];
            changes.extend(
                desired
                    .policies
                    .iter()
                    .map(|(p, doc)| IamRoleChange::PutPolicy {
                        policy: p.clone(),
                        live: None,
                        desired: doc.0.clone(),
                    }),
            );
            changes.extend(
                managed
                    .into_iter()
                    .map(|arn| IamRoleChange::AttachPolicy(arn.clone())),
            );
            if desired.instance_profile {
                changes.push(IamRoleChange::InstanceProfile {
                    name: name.to_string(),
                });
            }
            return Ok(changes);
        };

        let mut changes = Vec::new();
        // Ownership first: adopt (tag) before changing anything else.
        let tag = super::common::tags::to_set(&tags, &live.tags);
        if !tag.is_empty() {
            changes.push(IamRoleChange::Tag(tag));
        }
        let untag = super::common::tags::to_remove(&tags, &live.tags);
        if !untag.is_empty() {
            changes.push(IamRoleChange::Untag(untag));
        }
        if live.path != desired.path {
            changes.push(IamRoleChange::Replace {
                field: "path",
                live: live.path.clone(),
                desired: desired.path.clone(),
            });
        }
        if !same_policy(&live.trust_policy, &trust) {
            changes.push(IamRoleChange::TrustPolicy {
                live: live.trust_policy.clone(),
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
            changes.push(IamRoleChange::Settings {
                description,
                max_session_duration,
            });
        }
        // Grant before revoking: new and changed policies, attachments, then removals.
        for (policy, doc) in &desired.policies {
            let have = live.policies.get(policy);
            if have.is_some_and(|h| same_policy(h, &doc.0)) {
                continue;
            }
            changes.push(IamRoleChange::PutPolicy {
                policy: policy.clone(),
                live: have.cloned(),
                desired: doc.0.clone(),
            });
        }
        for arn in &managed {
            if !live.managed_policies.contains(*arn) {
                changes.push(IamRoleChange::AttachPolicy((*arn).clone()));
            }
        }
        for (policy, doc) in &live.policies {
            if !desired.policies.contains_key(policy) {
                changes.push(IamRoleChange::DeletePolicy {
                    policy: policy.clone(),
                    live: doc.clone(),
                });
            }
        }
        for arn in &live.managed_policies {
            if !managed.contains(arn) {
                changes.push(IamRoleChange::DetachPolicy(arn.clone()));
            }
        }
        if desired.instance_profile && !live.instance_profiles.iter().any(|p| p.name == name) {
            changes.push(IamRoleChange::InstanceProfile {
                name: name.to_string(),
            });
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&LiveIamRole>,
        change: &IamRoleChange,
    ) -> Result<(), KindError> {
        let c = &self.client;
        match change {
            IamRoleChange::Create {
                path,
                trust_policy,
                description,
                max_session_duration,
                tags: t,
            } => {
                let res = c
                    .create_role()
                    .role_name(name)
                    .path(path)
                    .assume_role_policy_document(trust_policy.to_string())
                    .set_description(description.clone())
                    .set_max_session_duration(*max_session_duration)
                    .set_tags(Some(tags(t.clone())?))
                    .send()
                    .await;
                match res {
                    Ok(_) => {}
                    Err(e) if has_code(&e, ALREADY_EXISTS) => {
                        // Created by an earlier attempt and not listed yet (IAM is eventually
                        // consistent): the next sweep reconciles what it finds.
                        tracing::info!(
                            kind = Self::NAME,
                            name,
                            "role already exists; the next sweep reconciles it"
                        );
                    }
                    Err(e) => return Err(classify("CreateRole", name, &e, TERMINAL)),
                }
            }
            IamRoleChange::TrustPolicy { live, desired } => {
                let (removed, added) = statement_difference(live, desired);
                tracing::debug!(kind = Self::NAME, name, removed = ?removed, added = ?added, "trust policy statements that differ");
                c.update_assume_role_policy()
                    .role_name(name)
                    .policy_document(desired.to_string())
                    .send()
                    .await
                    .map_err(|e| classify("UpdateAssumeRolePolicy", name, &e, TERMINAL))?;
            }
            IamRoleChange::Settings {
                description,
                max_session_duration,
            } => {
                c.update_role()
                    .role_name(name)
                    .set_description(description.as_ref().map(|d| d.1.clone()))
                    .set_max_session_duration(max_session_duration.map(|m| m.1))
                    .send()
                    .await
                    .map_err(|e| classify("UpdateRole", name, &e, TERMINAL))?;
            }
            IamRoleChange::PutPolicy {
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
                    .map_err(|e| {
                        classify("PutRolePolicy", &format!("{name} ({policy})"), &e, TERMINAL)
                    })?;
            }
            IamRoleChange::DeletePolicy { policy, .. } => {
                match c
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if has_code(&e, NOT_FOUND) => {}
                    Err(e) => {
                        return Err(classify(
                            "DeleteRolePolicy",
                            &format!("{name} ({policy})"),
                            &e,
                            TERMINAL,
                        ))
                    }
                }
            }
            IamRoleChange::AttachPolicy(arn) => {
                c.attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        classify("AttachRolePolicy", &format!("{name} ({arn})"), &e, TERMINAL)
                    })?;
            }
            IamRoleChange::DetachPolicy(arn) => {
                match c
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if has_code(&e, NOT_FOUND) => {}
                    Err(e) => {
                        return Err(classify(
                            "DetachRolePolicy",
                            &format!("{name} ({arn})"),
                            &e,
                            TERMINAL,
                        ))
                    }
                }
            }
            IamRoleChange::InstanceProfile { name: profile } => {
                self.add_to_instance_profile(ctx, profile).await?;
            }
            IamRoleChange::Tag(m) => {
                c.tag_role()
                    .role_name(name)
                    .set_tags(Some(tags(
                        m.iter().map(|(k, (_, v))| (k.clone(), v.clone())),
                    )?))
                    .send()
                    .await
                    .map_err(|e| classify("TagRole", name, &e, TERMINAL))?;
            }
            IamRoleChange::Untag(m) => {
                c.untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(m.keys().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| classify("UntagRole", name, &e, TERMINAL))?;
            }
            IamRoleChange::Replace { field, .. } => {
                return Err(KindError::new(
                    ErrorClass::Terminal,
                    format!(
                        "role {name}: {field} is immutable; the role would have to be replaced"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Deletes the inline policies, detaches the managed ones, takes the role out of its
    /// instance profiles (deleting the same-name profile when it held only this role), then
    /// deletes the role. Every step tolerates "already done".
    async fn delete(&self, name: &str, live: &LiveIamRole) -> Result<(), KindError> {
        let c = &self.client;
        for policy in live.policies.keys() {
            match c
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if has_code(&e, NOT_FOUND) => {}
                Err(e) => {
                    return Err(classify(
                        "DeleteRolePolicy",
                        &format!("{name} ({policy})"),
                        &e,
                        TERMINAL,
                    ))
                }
            }
        }
        for arn in &live.managed_policies {
            match c
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if has_code(&e, NOT_FOUND) => {}
                Err(e) => {
                    return Err(classify(
                        "DetachRolePolicy",
                        &format!("{name} ({arn})"),
                        &e,
                        TERMINAL,
                    ))
                }
            }
        }
        for profile in &live.instance_profiles {
            match c
                .remove_role_from_instance_profile()
                .instance_profile_name(&profile.name)
                .role_name(name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if has_code(&e, NOT_FOUND) => {}
                Err(e) => {
                    return Err(classify(
                        "RemoveRoleFromInstanceProfile",
                        &format!("{name} ({})", profile.name),
                        &e,
                        TERMINAL,
                    ))
                }
            }
            let only_this_role = profile.roles.iter().all(|r| r == name);
            if profile.name == name && only_this_role {
                match c
                    .delete_instance_profile()
                    .instance_profile_name(&profile.name)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if has_code(&e, NOT_FOUND) => {}
                    Err(e) => {
                        return Err(classify(
                            "DeleteInstanceProfile",
                            &profile.name,
                            &e,
                            TERMINAL,
                        ))
                    }
                }
            }
        }
        match c.delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(classify("DeleteRole", name, &e, TERMINAL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DesiredSet;
    use crate::engine::facts::Snapshot;
    use serde_json::json;

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    fn ctx(facts: &Snapshot) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: "test",
            facts,
            desired: &EMPTY,
        }
    }

    fn spec(yaml: &str) -> IamRoleSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// The seed's role (myapp.sls), as a converge spec.
    const SEED: &str = r#"
policies:
  myapp-testing-useast1:
    Version: '2012-10-17'
    Statement:
      - Action:
          - 'elasticloadbalancing:DeregisterInstancesFromLoadBalancer'
          - 'elasticloadbalancing:RegisterInstancesWithLoadBalancer'
        Effect: 'Allow'
        Resource: 'arn:aws:elasticloadbalancing:*:*:loadbalancer/myapp-testing-useast1'
      - Action: ['s3:Head*', 's3:Get*']
        Effect: 'Allow'
        Resource: ['arn:aws:s3:::bootstrap/deploy/myapp/*']
      - Action: ['s3:List*', 's3:Get*']
        Effect: 'Allow'
        Resource: ['arn:aws:s3:::bootstrap']
        Condition:
          StringLike:
            's3:prefix': ['deploy/myapp/*']
      - Action: ['ec2:DescribeTags']
        Effect: 'Allow'
        Resource: ['*']
  myapp-testing-sqs:
    Version: '2012-10-17'
    Statement:
      - Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage']
        Effect: 'Allow'
        Resource: ['arn:aws:sqs:*:*:myapp-testing-*']
        Sid: 'myapptestingsqs1'
"#;

    /// The live role converge would have created from `s`, as IAM lists it back: policies
    /// reordered and with scalars for one-element lists.
    fn live_from(s: &IamRoleSpec, name: &str) -> LiveIamRole {
        LiveIamRole {
            arn: format!("arn:aws:iam::123456789012:role/{name}"),
            path: "/".into(),
            trust_policy: json!({"Version": "2012-10-17", "Statement": {"Action": "sts:AssumeRole",
                "Principal": {"Service": ["ec2.amazonaws.com"]}, "Effect": "Allow"}}),
            policies: s
                .policies
                .iter()
                .map(|(k, v)| {
                    let mut doc = v.0.clone();
                    if let Some(Value::Array(st)) = doc.get_mut("Statement") {
                        st.reverse();
                    }
                    (k.clone(), doc)
                })
                .collect(),
            managed_policies: s.managed_policies.iter().cloned().collect(),
            instance_profiles: vec![LiveInstanceProfile {
                name: name.into(),
                arn: format!("arn:aws:iam::123456789012:instance-profile/{name}"),
                roles: vec![name.into()],
            }],
            tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), "test".to_string())]),
            description: None,
            max_session_duration: None,
        }
    }

    #[test]
    fn a_missing_role_is_created_with_its_policies_and_instance_profile_in_order() {
        let f = Snapshot::new();
        let mut s = spec(SEED);
        s.managed_policies = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
        s.tags.insert("team".into(), "ops".into());
        let changes = IamRole::diff(&ctx(&f), "r", &s, None).unwrap();
        let IamRoleChange::Create {
            path,
            trust_policy,
            tags,
            ..
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(path, "/");
        assert_eq!(trust_policy, &default_trust_policy());
        assert_eq!(tags[MANAGED_BY_TAG], "test");
        assert_eq!(tags["team"], "ops");
        let kinds: Vec<String> = changes[1..]
            .iter()
            .map(|c| c.fields()[0].field.clone())
            .collect();
        assert_eq!(
            kinds,
            vec![
                "policies.myapp-testing-sqs",
                "policies.myapp-testing-useast1",
                "managed_policies",
                "instance_profile"
            ]
        );
        assert_eq!(changes[4].action(), Action::Create);
    }

    #[test]
    fn instance_profile_false_creates_none() {
        let f = Snapshot::new();
        let s = spec("instance_profile: false\n");
        let changes = IamRole::diff(&ctx(&f), "r", &s, None).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        // Salt's argument name is accepted too.
        let s = spec("create_instance_profile: false\n");
        let mut live = live_from(&s, "r");
        live.instance_profiles.clear();
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_role_as_iam_lists_it_back_needs_nothing() {
        let f = Snapshot::new();
        let s = spec(SEED);
        let live = live_from(&s, "r");
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap(),
            vec![]
        );
        // The same, straight from IAM's URL-encoded text.
        let mut live = live;
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Sid%22%3A%20%22myapptestingsqs1%22%2C%20%22Effect%22%3A%20%22Allow%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3Asqs%3A%2A%3A%2A%3Amyapp-testing-%2A%22%2C%20%22Action%22%3A%20%5B%22sqs%3ADeleteMessage%22%2C%20%22sqs%3AReceiveMessage%22%5D%7D%5D%7D";
        live.policies
            .insert("myapp-testing-sqs".into(), decode_or_raw(encoded));
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_changed_inline_policy_is_put_again_and_summarised() {
        let f = Snapshot::new();
        let s = spec(SEED);
        let mut live = live_from(&s, "r");
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]});
        live.policies
            .insert("myapp-testing-sqs".into(), other.clone());
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        let IamRoleChange::PutPolicy {
            policy, live: old, ..
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(policy, "myapp-testing-sqs");
        assert_eq!(old.as_ref(), Some(&other));
        let shown = changes[0].fields()[0].to_string();
        assert!(
            shown.starts_with("policies.myapp-testing-sqs: <policy document, 1 statement, "),
            "{shown}"
        );
        assert!(
            !shown.contains("sqs:*") && !shown.contains("ReceiveMessage"),
            "policy body leaked: {shown}"
        );
    }

    #[test]
    fn inline_policies_not_in_the_spec_are_deleted_after_the_puts() {
        let f = Snapshot::new();
        let s = spec(SEED);
        let mut live = live_from(&s, "r");
        live.policies.remove("myapp-testing-sqs");
        live.policies
            .insert("stray".into(), json!({"Statement": []}));
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert!(
            matches!(&changes[0], IamRoleChange::PutPolicy { policy, live: None, .. } if policy == "myapp-testing-sqs"),
            "{changes:?}"
        );
        assert!(
            matches!(&changes[1], IamRoleChange::DeletePolicy { policy, .. } if policy == "stray"),
            "{changes:?}"
        );
        assert_eq!(changes[1].fields()[0].to, None);
    }

    #[test]
    fn managed_policies_are_attached_and_detached() {
        let f = Snapshot::new();
        let s = spec("managed_policies: ['arn:aws:iam::1:policy/a', 'arn:aws:iam::1:policy/b']\n");
        let mut live = live_from(&IamRoleSpec::default(), "r");
        live.managed_policies = BTreeSet::from([
            "arn:aws:iam::1:policy/b".to_string(),
            "arn:aws:iam::1:policy/old".to_string(),
        ]);
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert_eq!(
            changes,
            vec![
                IamRoleChange::AttachPolicy("arn:aws:iam::1:policy/a".into()),
                IamRoleChange::DetachPolicy("arn:aws:iam::1:policy/old".into()),
            ]
        );
        assert_eq!(
            changes[1].fields()[0].to_string(),
            "managed_policies: arn:aws:iam::1:policy/old → (none)"
        );
    }

    #[test]
    fn a_changed_trust_policy_is_updated_and_an_equal_one_is_not() {
        let f = Snapshot::new();
        let s = spec("policy_document:\n  Version: '2012-10-17'\n  Statement:\n    - Effect: Allow\n      Principal: {Service: [lambda.amazonaws.com]}\n      Action: [sts:AssumeRole]\n");
        let mut live = live_from(&s, "r");
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert!(
            matches!(&changes[..], [IamRoleChange::TrustPolicy { .. }]),
            "{changes:?}"
        );
        assert_eq!(changes[0].fields()[0].field, "policy_document");
        live.trust_policy = json!({"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}}], "Version": "2012-10-17"});
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_missing_same_name_instance_profile_is_created() {
        let f = Snapshot::new();
        let s = IamRoleSpec::default();
        let mut live = live_from(&s, "r");
        live.instance_profiles = vec![LiveInstanceProfile {
            name: "legacy".into(),
            arn: "arn:aws:iam::1:instance-profile/legacy".into(),
            roles: vec!["r".into()],
        }];
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap(),
            vec![IamRoleChange::InstanceProfile { name: "r".into() }]
        );
        // Its facts fall back to the profile it does have.
        let facts = crate::kinds::common::fixtures::published::<IamRole>("r", &live);
        assert_eq!(facts["instance_profile_name"], "legacy");
    }

    #[test]
    fn an_unowned_role_is_adopted_first_and_stray_tags_removed() {
        let f = Snapshot::new();
        let s = spec(SEED);
        let mut live = live_from(&s, "r");
        live.tags = BTreeMap::from([
            ("stray".to_string(), "1".to_string()),
            ("aws:cloudformation:stack-name".to_string(), "x".to_string()),
        ]);
        live.policies.clear();
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert!(matches!(&changes[0], IamRoleChange::Tag(m) if m.contains_key(MANAGED_BY_TAG)));
        assert!(
            matches!(&changes[1], IamRoleChange::Untag(m) if m.len() == 1 && m.contains_key("stray"))
        );
        assert_eq!(changes[2].action(), Action::Update);
    }

    #[test]
    fn a_different_path_needs_replacement() {
        let f = Snapshot::new();
        let s = spec("path: /app/\n");
        let live = live_from(&s, "r");
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action(), Action::Replace);
        assert_eq!(
            changes[0].fields()[0].to_string(),
            "path (immutable): / → /app/"
        );
    }

    #[test]
    fn description_and_session_duration_are_managed_only_when_written() {
        let f = Snapshot::new();
        let s = spec("description: app role\nmax_session_duration: 7200\n");
        let mut live = live_from(&s, "r");
        live.max_session_duration = Some(3600);
        let changes = IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap();
        assert_eq!(
            changes,
            vec![IamRoleChange::Settings {
                description: Some((None, "app role".into())),
                max_session_duration: Some((Some(3600), 7200)),
            }]
        );
        live.description = Some("app role".into());
        live.max_session_duration = Some(7200);
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &s, Some(&live)).unwrap(),
            vec![]
        );
        live.description = Some("someone else's words".into());
        assert_eq!(
            IamRole::diff(&ctx(&f), "r", &IamRoleSpec::default(), Some(&live)).unwrap(),
            vec![]
        );
        assert!(!IamRoleSpec::default().reads_settings());
        assert!(s.reads_settings());
    }

    #[test]
    fn facts_name_the_role_and_its_instance_profile() {
        let live = live_from(&IamRoleSpec::default(), "r");
        let f = crate::kinds::common::fixtures::published::<IamRole>("r", &live);
        assert_eq!(f["arn"], "arn:aws:iam::123456789012:role/r");
        assert_eq!(
            f["instance_profile_arn"],
            "arn:aws:iam::123456789012:instance-profile/r"
        );
        assert_eq!(f["instance_profile_name"], "r");
        let mut bare = live;
        bare.instance_profiles.clear();
        assert!(
            !crate::kinds::common::fixtures::published::<IamRole>("r", &bare)
                .contains_key("instance_profile_arn")
        );
    }

    #[test]
    fn validation_catches_bad_names_documents_and_limits() {
        assert!(IamRole::validate_name("myapp-testing-useast1").is_ok());
        assert!(IamRole::validate_name("a+b=c,d.e@f_g").is_ok());
        assert!(IamRole::validate_name("bad name")
            .unwrap_err()
            .contains("only letters"));
        assert!(IamRole::validate_name(&"x".repeat(65))
            .unwrap_err()
            .contains("1 to 64"));
        assert!(IamRole::validate("r", &spec(SEED)).is_empty());
        let p = IamRole::validate(
            "r",
            &spec(concat!(
                "policy_document: {Version: '2013-01-01', Statement: []}\n",
                "policies:\n  'bad name': {Statement: {Effect: Allow, Action: '*', Resource: '*'}}\n",
                "  ok: [1, 2]\n",
                "managed_policies: [ReadOnlyAccess, 'arn:aws:iam::1:policy/a', 'arn:aws:iam::1:policy/a']\n",
                "path: app\n",
                "max_session_duration: 60\n",
                "tags: {'aws:x': y, 'converge:managed-by': me}\n",
            )),
        );
        for want in [
            "policy_document.Version: `2013-01-01`",
            "policy_document.Statement: must be",
            "policies.bad name: a policy name",
            "policies.ok: a policy document must be a mapping",
            "managed_policies: `ReadOnlyAccess` must be a policy ARN",
            "is listed twice",
            "path: `app` must start and end with `/`",
            "max_session_duration: `60`",
            "tags.aws:x: the `aws:` prefix",
            "tags.converge:managed-by: converge sets this tag itself",
        ] {
            assert!(p.iter().any(|m| m.contains(want)), "{want} not in {p:?}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_json_are_schema_errors() {
        assert!(serde_saphyr::from_str::<IamRoleSpec>("policy: {}\n").is_err());
        let e =
            serde_saphyr::from_str::<IamRoleSpec>("policy_document: '{not json'\n").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        // A JSON string is as good as a mapping.
        let s = spec("policies:\n  p: '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}}'\n");
        assert_eq!(s.policies["p"].0["Statement"]["Action"], "s3:*");
    }
}
