//! `kind: SecurityGroup` — an EC2 security group: description, VPC, ingress and egress rules,
//! tags.
//!
//! Spec fields follow Salt's `boto_secgroup.present` (`description`, `vpc_id`, `rules`,
//! `rules_egress`, `tags`; a rule has `ip_protocol`, `from_port`, `to_port` and one source:
//! `cidr_ip`, `cidr_ipv6`, `source_group_id` (Salt's `source_group_group_id` is accepted too) or
//! `source_group_name` with an optional `source_group_owner_id`).
//!
//! Reads per sweep: ONE paginated `DescribeSecurityGroups` for the whole region (1,000 per page),
//! never one call per group. The default VPC is found once per process with `DescribeVpcs`
//! (`is-default=true`), and only when a desired group has no `vpc_id` or a group name exists in
//! more than one VPC; the answer is cached (a default VPC created later needs a restart).
//!
//! - Groups are keyed by `GroupName`. Names are unique per VPC, not per region: when a name exists
//!   in several VPCs, the group managed is the one in the VPC the spec asks for (`vpc_id`, else
//!   the default VPC); for a group that is not desired, the one in the default VPC (else the
//!   lowest group id) is the one whose facts (`id`, `vpc_id`, `owner_id`) are published.
//! - `description` is required (AWS requires one; Salt's state requires it too). It and `vpc_id`
//!   cannot change on an existing group: a difference is reported as needing replacement and
//!   never applied. A group of the desired name found only in another VPC is reported the same
//!   way and otherwise left alone.
//! - Rules compare as sets of single permissions after normalisation: `tcp` = `6`, `udp` = `17`,
//!   `icmp` = `1`, `icmpv6` = `58`, `all` = `-1`; a rule with two CIDRs is two permissions; ports
//!   count only for tcp, udp, icmp and icmpv6 (type and code, `-1` when not written). What is
//!   missing is authorized, what is extra is revoked, nothing else is touched. Rule descriptions
//!   are not managed.
//! - `rules` (ingress) is authoritative: ingress rules that are not written are revoked (no
//!   `rules` means no ingress rules). `rules_egress` is authoritative only when written: without
//!   it egress is not managed at all (a new group keeps AWS's default allow-all egress rule).
//! - A source group by name resolves through the SecurityGroup facts (every group the listing
//!   returned). One that is in the desired state and does not exist yet is waited for
//!   (`waiting for SecurityGroup/<name>`); so is one that exists nowhere. A group is created at
//!   once without such rules (so a group may refer to itself or two groups to each other), and
//!   they are added as soon as their source exists. A name with a `source_group_owner_id` that
//!   does not resolve to a group of this account is passed to AWS by name (an EC2-Classic style
//!   reference, like the seed's `amazon-elb/amazon-elb-sg`); when AWS rejects it, the resource
//!   fails with a terminal error naming the rule and why.
//! - Tags are authoritative (AWS's own `aws:` tags excepted). An existing untagged group is
//!   adopted by tagging it first, before any rule is revoked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::OnceCell;

use super::common::refs;
use crate::aws::{classify, Clients};
use crate::core::facts::Published;
use crate::core::{Action, Change, ErrorClass, FieldChange, KindError, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// EC2 codes that retrying will not fix.
const TERMINAL: &[&str] = &[
    "InvalidGroup.Reserved",
    "InvalidGroupId.Malformed",
    "InvalidGroup.Malformed",
    "InvalidPermission.Malformed",
    "InvalidVpcID.NotFound",
    "InvalidVpcId.Malformed",
    "VPCIdNotSpecified",
    "RulesPerSecurityGroupLimitExceeded",
    "SecurityGroupLimitExceeded",
    "SecurityGroupsPerInstanceLimitExceeded",
    "CannotDelete",
    "InvalidTagKey.Malformed",
    "TagLimitExceeded",
];
/// The group (or a group a rule names) does not exist.
const GROUP_NOT_FOUND: &str = "InvalidGroup.NotFound";
/// Authorizing a rule that is already there.
const DUPLICATE_RULE: &str = "InvalidPermission.Duplicate";
/// Revoking a rule that is not there.
const MISSING_RULE: &str = "InvalidPermission.NotFound";
/// Shown for a group without `vpc_id`.
const DEFAULT_VPC: &str = "(default VPC)";

/// The `spec` of a `kind: SecurityGroup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {
    /// Required; cannot change once the group exists.
    pub description: String,
    /// The VPC; the region's default VPC when absent. Cannot change once the group exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Ingress rules: the complete set (absent = none).
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Egress rules: the complete set when written; egress is not managed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_egress: Option<Vec<RuleSpec>>,
    /// The group's complete tag set (plus `converge:managed-by`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One rule as written, in Salt's `boto_secgroup` form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `all` / `-1`, or a protocol number.
    #[serde(deserialize_with = "string_or_number")]
    pub ip_protocol: String,
    /// First port (tcp, udp) or ICMP type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// Last port (tcp, udp) or ICMP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// IPv4 CIDR blocks: one string or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cidr_ip: Vec<String>,
    /// IPv6 CIDR blocks: one string or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cidr_ipv6: Vec<String>,
    /// A source (or, for egress, destination) group by id.
    #[serde(
        default,
        alias = "source_group_group_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_group_id: Option<String>,
    /// A source (or destination) group by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group_name: Option<String>,
    /// The account that owns the source group (a number or, in EC2-Classic, e.g. `amazon-elb`).
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_group_owner_id: Option<String>,
}

/// A YAML string or number, as a string (`ip_protocol: -1`, `ip_protocol: tcp`).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_number(d).map(Some)
}

/// One string or a list of strings (`cidr_ip: 10.0.0.0/8` or `cidr_ip: [a, b]`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Where a permission lets traffic come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Cidr(String),
    CidrV6(String),
    /// A security group by id (ids are unique across accounts, so the id alone identifies it).
    Group(String),
    /// A group by name and owner, passed to AWS as written (EC2-Classic style).
    GroupName {
        name: String,
        owner: String,
    },
    /// A managed prefix list (only ever observed: specs cannot write one).
    PrefixList(String),
}

/// One normalised permission: the unit rules are compared in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `-1` or a protocol number.
    pub protocol: String,
    /// Only for tcp, udp (ports) and icmp, icmpv6 (type, code); `None` otherwise.
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
}

impl Permission {
    fn new(protocol: &str, from: Option<i32>, to: Option<i32>, source: Source) -> Permission {
        let protocol = canonical_protocol(protocol).unwrap_or_else(|| protocol.to_string());
        let (from_port, to_port) = match protocol.as_str() {
            "tcp" | "udp" => (from, to),
            "icmp" | "icmpv6" => (Some(from.unwrap_or(-1)), Some(to.unwrap_or(-1))),
            _ => (None, None),
        };
        Permission {
            protocol,
            from_port,
            to_port,
            source,
        }
    }

    fn same_traffic(&self, other: &Permission) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
    }

    /// The traffic part, for plans: `tcp 80`, `tcp 8000-8090`, `icmp type 8 code -1`, `all`.
    fn traffic(&self) -> String {
        match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1", _, _) => "all traffic".to_string(),
            ("tcp" | "udp", Some(f), Some(t)) if f == t => format!("{} {f}", self.protocol),
            ("tcp" | "udp", Some(f), Some(t)) => format!("{} {f}-{t}", self.protocol),
            ("icmp" | "icmpv6", Some(f), Some(t)) => {
                format!("{} type {f} code {t}", self.protocol)
            }
            (p, _, _) if p.parse::<u8>().is_ok() => format!("protocol {p}"),
            (p, _, _) => p.to_string(),
        }
    }

    /// The permission as the EC2 API takes it.
    fn to_sdk(&self) -> IpPermission {
        let mut b = IpPermission::builder().ip_protocol(&self.protocol);
        if let (Some(f), Some(t)) = (self.from_port, self.to_port) {
            b = b.from_port(f).to_port(t);
        }
        b = match &self.source {
            Source::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).build()),
            Source::CidrV6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
            Source::Group(id) => {
                b.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
            }
            Source::GroupName { name, owner } => b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_name(name)
                    .user_id(owner)
                    .build(),
            ),
            Source::PrefixList(id) => {
                b.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build())
            }
        };
        b.build()
    }
}

/// A permission as observed, with the name and owner AWS reported for a source group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub permission: Permission,
    /// `(owner, name)` of the source group, when AWS reported a name.
    pub group: Option<(String, String)>,
}

impl LiveRule {
    /// True when this live permission is what `want` asks for.
    fn satisfies(&self, want: &Permission) -> bool {
        if self.permission == *want {
            return true;
        }
        match &want.source {
            Source::GroupName { name, owner } => {
                want.same_traffic(&self.permission)
                    && self
                        .group
                        .as_ref()
                        .is_some_and(|(o, n)| o == owner && n == name)
            }
            _ => false,
        }
    }
}

/// A security group as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSecurityGroup {
    pub id: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub owner_id: String,
    /// True when the group is in the region's default VPC (known only when a desired group has
    /// no `vpc_id` or the name is in several VPCs; false otherwise).
    pub in_default_vpc: bool,
    pub ingress: Vec<LiveRule>,
    pub egress: Vec<LiveRule>,
    pub tags: BTreeMap<String, String>,
}

/// A permission with how plans show it (source groups with their names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub permission: Permission,
    pub text: String,
}

/// One security group mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum SecurityGroupChange {
    /// `CreateSecurityGroup` (with its tags), then the rules that can be authorized at once.
    Create {
        description: String,
        vpc_id: Option<String>,
        tags: BTreeMap<String, String>,
        ingress: Vec<Rule>,
        egress: Vec<Rule>,
        /// Rules added on a later sweep (their source group does not exist yet, or is named
        /// by owner and name), as plans show them.
        deferred: Vec<String>,
    },
    Authorize {
        egress: bool,
        rules: Vec<Rule>,
    },
    Revoke {
        egress: bool,
        rules: Vec<Rule>,
    },
    /// tag → (live, desired)
    Tag(BTreeMap<String, (Option<String>, String)>),
    /// tag → live value
    Untag(BTreeMap<String, String>),
    /// An immutable field differs.
    Replace {
        field: &'static str,
        live: Option<String>,
        desired: String,
    },
}

fn rules_field(egress: bool) -> &'static str {
    if egress {
        "rules_egress"
    } else {
        "rules"
    }
}

impl Change for SecurityGroupChange {
    fn action(&self) -> Action {
        match self {
            SecurityGroupChange::Create { .. } => Action::Create,
            SecurityGroupChange::Authorize { .. } | SecurityGroupChange::Revoke { .. } => {
                Action::Update
            }
            SecurityGroupChange::Tag(_) | SecurityGroupChange::Untag(_) => Action::Tag,
            SecurityGroupChange::Replace { .. } => Action::Replace,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            SecurityGroupChange::Create {
                description,
                vpc_id,
                tags,
                ingress,
                egress,
                deferred,
            } => {
                let mut f = vec![
                    FieldChange::new("description", None, Some(description.clone())),
                    FieldChange::new(
                        "vpc_id",
                        None,
                        Some(vpc_id.clone().unwrap_or_else(|| DEFAULT_VPC.to_string())),
                    ),
                ];
                f.extend(
                    tags.iter()
                        .map(|(k, v)| FieldChange::new(format!("tags.{k}"), None, Some(v.clone()))),
                );
                for (egress, rules) in [(false, ingress), (true, egress)] {
                    f.extend(rules.iter().map(|r| {
                        FieldChange::new(rules_field(egress), None, Some(r.text.clone()))
                    }));
                }
                f.extend(
                    deferred
                        .iter()
                        .map(|t| FieldChange::new("rules (after creation)", None, Some(t.clone()))),
                );
                f
            }
            SecurityGroupChange::Authorize { egress, rules } => rules
                .iter()
                .map(|r| FieldChange::new(rules_field(*egress), None, Some(r.text.clone())))
                .collect(),
            SecurityGroupChange::Revoke { egress, rules } => rules
                .iter()
                .map(|r| FieldChange::new(rules_field(*egress), Some(r.text.clone()), None))
                .collect(),
            SecurityGroupChange::Tag(m) => super::common::tags::set_fields(m),
            SecurityGroupChange::Untag(m) => super::common::tags::remove_fields(m),
            SecurityGroupChange::Replace {
                field,
                live,
                desired,
            } => vec![FieldChange::new(
                format!("{field} (immutable)"),
                live.clone(),
                Some(desired.clone()),
            )],
        }
    }
}

/// The EC2 security group kind.
pub struct SecurityGroup {
    client: aws_sdk_ec2::Client,
    /// The region's default VPC id (`None`: the region has none), looked up once.
    default_vpc: OnceCell<Option<String>>,
}

impl SecurityGroup {
    pub fn new(clients: &Clients) -> Self {
        SecurityGroup {
            client: clients.ec2.clone(),
            default_vpc: OnceCell::new(),
        }
    }

    async fn default_vpc(&self) -> Result<Option<String>, KindError> {
        self.default_vpc
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .describe_vpcs()
                    .filters(Filter::builder().name("is-default").values("true").build())
                    .send()
                    .await
                    .map_err(|e| classify("DescribeVpcs", "(the default VPC)", &e, TERMINAL))?;
                Ok(out
                    .vpcs()
                    .iter()
                    .find(|v| v.is_default() != Some(false))
                    .and_then(|v| v.vpc_id().map(String::from)))
            })
            .await
            .cloned()
    }

    async fn create(
        &self,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: &BTreeMap<String, String>,
        ingress: &[Rule],
        egress: &[Rule],
    ) -> Result<(), KindError> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroup)
            .set_tags(Some(sdk_tags(tags)))
            .build();
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(description)
            .set_vpc_id(vpc_id.map(String::from))
            .tag_specifications(tags)
            .send()
            .await;
        let id = match out {
            Ok(o) => o.group_id().map(String::from).ok_or_else(|| {
                KindError::new(
                    ErrorClass::Retryable,
                    format!("CreateSecurityGroup {name}: the answer carries no group id"),
                )
            })?,
            // Created by an earlier attempt whose answer was lost, or by someone else just now:
            // never create twice; the next sweep observes it (and adopts it if it is untagged).
            Err(e) if code_of(&e) == Some("InvalidGroup.Duplicate") => {
                return Err(KindError::new(
                    ErrorClass::Retryable,
                    format!("CreateSecurityGroup {name}: the group already exists; it is taken over on the next sweep"),
                ))
            }
            Err(e) => return Err(classify("CreateSecurityGroup", name, &e, TERMINAL)),
        };
        self.change_rules(RuleOp::Authorize, false, name, &id, ingress)
            .await?;
        self.change_rules(RuleOp::Authorize, true, name, &id, egress)
            .await
    }

    /// Authorizes or revokes `rules` on one group. Safe to repeat: a rule already there (or
    /// already gone) is not an error. Rules naming a source group by owner and name go one at a
    /// time, so the one AWS rejects is named in the error.
    async fn change_rules(
        &self,
        op: RuleOp,
        egress: bool,
        name: &str,
        group_id: &str,
        rules: &[Rule],
    ) -> Result<(), KindError> {
        let benign = op.benign_code();
        let (by_name, direct): (Vec<&Rule>, Vec<&Rule>) = rules
            .iter()
            .partition(|r| matches!(r.permission.source, Source::GroupName { .. }));
        if !direct.is_empty() {
            let all = direct.iter().map(|r| r.permission.to_sdk()).collect();
            match self.send_rules(op, egress, name, group_id, all).await {
                Ok(()) => {}
                // Some were already in place (or gone): one at a time, skipping those.
                Err(e) if e.code.as_deref() == Some(benign) => {
                    for r in &direct {
                        match self
                            .send_rules(op, egress, name, group_id, vec![r.permission.to_sdk()])
                            .await
                        {
                            Ok(()) => {}
                            Err(e) if e.code.as_deref() == Some(benign) => {}
                            Err(e) => return Err(e.into_kind(group_id)),
                        }
                    }
                }
                Err(e) => return Err(e.into_kind(group_id)),
            }
        }
        for r in by_name {
            match self
                .send_rules(op, egress, name, group_id, vec![r.permission.to_sdk()])
                .await
            {
                Ok(()) => {}
                Err(e) if e.code.as_deref() == Some(benign) => {}
                Err(e) => return Err(e.by_name(op, egress, name, &r.text)),
            }
        }
        Ok(())
    }

    async fn send_rules(
        &self,
        op: RuleOp,
        egress: bool,
        name: &str,
        group_id: &str,
        perms: Vec<IpPermission>,
    ) -> Result<(), CallError> {
        let operation = op.operation(egress);
        let perms = Some(perms);
        let c = &self.client;
        match (op, egress) {
            (RuleOp::Authorize, false) => c
                .authorize_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| CallError::new(operation, name, &e)),
            (RuleOp::Authorize, true) => c
                .authorize_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| CallError::new(operation, name, &e)),
            (RuleOp::Revoke, false) => c
                .revoke_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| CallError::new(operation, name, &e)),
            (RuleOp::Revoke, true) => c
                .revoke_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| CallError::new(operation, name, &e)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleOp {
    Authorize,
    Revoke,
}

impl RuleOp {
    fn operation(self, egress: bool) -> &'static str {
        match (self, egress) {
            (RuleOp::Authorize, false) => "AuthorizeSecurityGroupIngress",
            (RuleOp::Authorize, true) => "AuthorizeSecurityGroupEgress",
            (RuleOp::Revoke, false) => "RevokeSecurityGroupIngress",
            (RuleOp::Revoke, true) => "RevokeSecurityGroupEgress",
        }
    }

    /// The code that means "already done".
    fn benign_code(self) -> &'static str {
        match self {
            RuleOp::Authorize => DUPLICATE_RULE,
            RuleOp::Revoke => MISSING_RULE,
        }
    }
}

/// A failed rule call: the classified error and AWS's code and message.
struct CallError {
    code: Option<String>,
    message: String,
    error: KindError,
}

impl CallError {
    fn new<E, R>(operation: &str, name: &str, e: &SdkError<E, R>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
    {
        CallError {
            code: code_of(e).map(String::from),
            message: e
                .as_service_error()
                .and_then(|s| s.message())
                .unwrap_or_default()
                .to_string(),
            error: classify(operation, name, e, TERMINAL),
        }
    }

    /// "Group not found" about a group other than the one changed means a source group a rule
    /// names does not exist: retrying will not help. About the group itself, it vanished since
    /// the listing: the next sweep sees that.
    fn into_kind(self, group_id: &str) -> KindError {
        if self.code.as_deref() == Some(GROUP_NOT_FOUND) && !self.message.contains(group_id) {
            return KindError::new(
                ErrorClass::Terminal,
                format!(
                    "{}; a source group named in the rules does not exist",
                    self.error.message
                ),
            );
        }
        self.error
    }

    /// A rule naming its source group by owner and name that AWS rejected.
    fn by_name(self, op: RuleOp, egress: bool, name: &str, rule: &str) -> KindError {
        if self.error.class == ErrorClass::Throttled || self.code.is_none() {
            return self.error;
        }
        KindError::new(
            ErrorClass::Terminal,
            format!(
                "{} {name}: rule `{rule}` in {}: {}: {} — a source group given by \
                 source_group_name with source_group_owner_id is an EC2-Classic reference \
                 (like amazon-elb/amazon-elb-sg) and cannot be used by a group in a VPC; give \
                 the group's id as source_group_id (for a load balancer, its security group)",
                op.operation(egress),
                rules_field(egress),
                self.code.as_deref().unwrap_or("Unknown"),
                self.message,
            ),
        )
    }
}

fn code_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `tcp`/`6` → `tcp`, `all`/`-1` → `-1`, `50` → `50`; `None` when not a protocol.
pub fn canonical_protocol(p: &str) -> Option<String> {
    let p = p.trim().to_ascii_lowercase();
    let name = match p.as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "icmpv6" | "58" => "icmpv6",
        "all" | "-1" => "-1",
        n => return n.parse::<u8>().ok().map(|v| v.to_string()),
    };
    Some(name.to_string())
}

/// Splits `addr/len`.
fn split_cidr(s: &str) -> Option<(&str, u32)> {
    let (addr, len) = s.trim().split_once('/')?;
    Some((addr, len.parse().ok()?))
}

/// The network of an IPv4 CIDR block (host bits cleared), `None` when not a CIDR block.
fn ipv4_network(s: &str) -> Option<String> {
    let (addr, len) = split_cidr(s)?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    if len > 32 {
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    Some(format!("{}/{len}", Ipv4Addr::from(u32::from(addr) & mask)))
}

/// The network of an IPv6 CIDR block in canonical text (RFC 5952), `None` when not one.
fn ipv6_network(s: &str) -> Option<String> {
    let (addr, len) = split_cidr(s)?;
    let addr: Ipv6Addr = addr.parse().ok()?;
    if len > 128 {
        return None;
    }
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    Some(format!("{}/{len}", Ipv6Addr::from(u128::from(addr) & mask)))
}

/// An IPv6 block as written, in canonical text (case and zero compression do not matter).
fn ipv6_text(s: &str) -> String {
    split_cidr(s)
        .and_then(|(a, len)| a.parse::<Ipv6Addr>().ok().map(|a| format!("{a}/{len}")))
        .unwrap_or_else(|| s.trim().to_string())
}

/// Characters AWS allows in a VPC security group's name and description.
fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// The normalised permissions of an observed group's rules.
fn live_rules(perms: &[IpPermission]) -> Vec<LiveRule> {
    let mut out = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let (from, to) = (p.from_port(), p.to_port());
        let rule = |source: Source| LiveRule {
            permission: Permission::new(proto, from, to, source),
            group: None,
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(rule(Source::Cidr(
                    ipv4_network(c).unwrap_or_else(|| c.to_string()),
                )));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push(rule(Source::CidrV6(ipv6_text(c))));
            }
        }
        for g in p.user_id_group_pairs() {
            let owner = g.user_id().unwrap_or_default().to_string();
            let named = g.group_name().map(|n| (owner.clone(), n.to_string()));
            let source = match (g.group_id(), g.group_name()) {
                (Some(id), _) => Source::Group(id.to_string()),
                (None, Some(n)) => Source::GroupName {
                    name: n.to_string(),
                    owner,
                },
                (None, None) => continue,
            };
            out.push(LiveRule {
                group: named,
                ..rule(source)
            });
        }
        for pl in p.prefix_list_ids() {
            if let Some(id) = pl.prefix_list_id() {
                out.push(rule(Source::PrefixList(id.to_string())));
            }
        }
    }
    out
}

/// An observed group, normalised.
fn live_group(
    g: &aws_sdk_ec2::types::SecurityGroup,
    default_vpc: Option<&str>,
) -> LiveSecurityGroup {
    LiveSecurityGroup {
        id: g.group_id().unwrap_or_default().to_string(),
        description: g.description().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().map(String::from),
        owner_id: g.owner_id().unwrap_or_default().to_string(),
        in_default_vpc: default_vpc.is_some() && g.vpc_id() == default_vpc,
        ingress: live_rules(g.ip_permissions()),
        egress: live_rules(g.ip_permissions_egress()),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }
}

/// Of several groups with one name (in different VPCs), the one in `prefer` (the VPC the spec
/// asks for, or the default VPC), else the lowest group id.
fn pick<'a>(
    candidates: &[&'a aws_sdk_ec2::types::SecurityGroup],
    prefer: Option<&str>,
) -> Option<&'a aws_sdk_ec2::types::SecurityGroup> {
    let preferred = prefer.and_then(|v| candidates.iter().find(|g| g.vpc_id() == Some(v)));
    preferred
        .or_else(|| candidates.iter().min_by_key(|g| g.group_id()))
        .copied()
}

/// What a spec's rules resolve to.
#[derive(Debug, Default)]
struct Resolved {
    /// Permissions that can be authorized now.
    now: BTreeSet<Permission>,
    /// Permissions passed to AWS by owner and name (a subset of `now`).
    by_name: BTreeSet<Permission>,
    /// `SecurityGroup/<name>` for each source group that does not exist (yet).
    waiting: Vec<String>,
    /// The rules that wait, as plans show them.
    waiting_rules: Vec<String>,
}

/// Normalises rules into permissions, resolving source groups by name through the facts.
fn resolve(ctx: &DiffCtx<'_>, rules: &[RuleSpec], egress: bool) -> Resolved {
    let kind = refs::security_group::KIND;
    let mut out = Resolved::default();
    for r in rules {
        let (from, to) = (r.from_port, r.to_port);
        let perm = |source: Source| Permission::new(&r.ip_protocol, from, to, source);
        for c in &r.cidr_ip {
            out.now.insert(perm(Source::Cidr(
                ipv4_network(c).unwrap_or_else(|| c.trim().to_string()),
            )));
        }
        for c in &r.cidr_ipv6 {
            out.now.insert(perm(Source::CidrV6(ipv6_text(c))));
        }
        if let Some(id) = &r.source_group_id {
            out.now.insert(perm(Source::Group(id.clone())));
        }
        let Some(name) = &r.source_group_name else {
            continue;
        };
        let owner = r.source_group_owner_id.as_deref();
        let id = ctx.fact(refs::security_group::ID, name);
        let fact_owner = ctx.fact(refs::security_group::OWNER_ID, name);
        match (id, owner) {
            (Some(id), None) => {
                out.now.insert(perm(Source::Group(id.to_string())));
            }
            (Some(id), Some(o)) if fact_owner == Some(o) => {
                out.now.insert(perm(Source::Group(id.to_string())));
            }
            // Named with an owner, and not a group of ours (or not one to wait for): AWS decides.
            (found, Some(o)) if found.is_some() || !ctx.is_desired(kind, name) => {
                let p = perm(Source::GroupName {
                    name: name.clone(),
                    owner: o.to_string(),
                });
                out.by_name.insert(p.clone());
                out.now.insert(p);
            }
            _ => {
                let p = perm(Source::Group(String::new()));
                let dir = if egress { "to" } else { "from" };
                out.waiting.push(format!("{kind}/{name}"));
                out.waiting_rules.push(format!(
                    "{} {dir} SecurityGroup/{name} (once it exists)",
                    p.traffic()
                ));
            }
        }
    }
    out
}

/// A permission as plans show it: `tcp 80 from 10.0.0.0/8`, `all traffic to sg-1 (web)`.
fn show(ctx: &DiffCtx<'_>, p: &Permission, egress: bool) -> String {
    let dir = if egress { "to" } else { "from" };
    let source = match &p.source {
        Source::Cidr(c) | Source::CidrV6(c) => c.clone(),
        Source::Group(id) => match ctx.named_by(refs::security_group::ID, id) {
            Some(n) => format!("{id} ({n})"),
            None => id.clone(),
        },
        Source::GroupName { name, owner } => format!("{owner}/{name}"),
        Source::PrefixList(id) => id.clone(),
    };
    format!("{} {dir} {source}", p.traffic())
}

fn shown(
    ctx: &DiffCtx<'_>,
    perms: impl IntoIterator<Item = Permission>,
    egress: bool,
) -> Vec<Rule> {
    perms
        .into_iter()
        .map(|p| Rule {
            text: show(ctx, &p, egress),
            permission: p,
        })
        .collect()
}

/// The changes that make `live` rules equal `want`: authorize what is missing, then revoke
/// what is extra.
fn rule_changes(
    ctx: &DiffCtx<'_>,
    want: &BTreeSet<Permission>,
    live: &[LiveRule],
    egress: bool,
) -> Vec<SecurityGroupChange> {
    let missing: Vec<Permission> = want
        .iter()
        .filter(|w| !live.iter().any(|l| l.satisfies(w)))
        .cloned()
        .collect();
    let mut extra: Vec<Permission> = live
        .iter()
        .filter(|l| !want.iter().any(|w| l.satisfies(w)))
        .map(|l| l.permission.clone())
        .collect();
    extra.sort();
    extra.dedup();
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(SecurityGroupChange::Authorize {
            egress,
            rules: shown(ctx, missing, egress),
        });
    }
    if !extra.is_empty() {
        out.push(SecurityGroupChange::Revoke {
            egress,
            rules: shown(ctx, extra, egress),
        });
    }
    out
}

fn desired_tags(ctx: &DiffCtx<'_>, spec: &SecurityGroupSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), ctx.controller_id.to_string());
    tags
}

fn validate_group_name(field: &str, name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 255 {
        return Some(format!("{field}`{name}` must be 1 to 255 characters long"));
    }
    if name.to_ascii_lowercase().starts_with("sg-") {
        return Some(format!(
            "{field}`{name}` must not start with `sg-` (AWS keeps that prefix for group ids)"
        ));
    }
    if !name.chars().all(allowed_char) {
        return Some(format!(
            "{field}`{name}` may contain only letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$*"
        ));
    }
    None
}

fn validate_rule(path: &str, r: &RuleSpec, problems: &mut Vec<String>) {
    match canonical_protocol(&r.ip_protocol).as_deref() {
        None => problems.push(format!(
            "{path}.ip_protocol: `{}` must be tcp, udp, icmp, icmpv6, all (or -1) or a protocol number from 0 to 255",
            r.ip_protocol
        )),
        Some(p @ ("tcp" | "udp")) => match (r.from_port, r.to_port) {
            (Some(f), Some(t)) => {
                for (field, v) in [("from_port", f), ("to_port", t)] {
                    if !(0..=65535).contains(&v) {
                        problems.push(format!(
                            "{path}.{field}: {v} must be a port from 0 to 65535"
                        ));
                    }
                }
                if f > t {
                    problems.push(format!(
                        "{path}.from_port: {f} is greater than to_port {t}"
                    ));
                }
            }
            _ => problems.push(format!(
                "{path}: a {p} rule needs from_port and to_port"
            )),
        },
        Some("icmp" | "icmpv6") => {
            for (field, v) in [("from_port", r.from_port), ("to_port", r.to_port)] {
                if let Some(v) = v {
                    if !(-1..=255).contains(&v) {
                        problems.push(format!(
                            "{path}.{field}: {v} must be an ICMP type or code from 0 to 255, or -1 for all"
                        ));
                    }
                }
            }
        }
        Some(_) => {}
    }
    let sources = [
        !r.cidr_ip.is_empty(),
        !r.cidr_ipv6.is_empty(),
        r.source_group_id.is_some(),
        r.source_group_name.is_some(),
    ]
    .into_iter()
    .filter(|s| *s)
    .count();
    if sources != 1 {
        problems.push(format!(
            "{path}: give exactly one source: cidr_ip, cidr_ipv6, source_group_id or source_group_name"
        ));
    }
    for c in &r.cidr_ip {
        match ipv4_network(c) {
            None => problems.push(format!(
                "{path}.cidr_ip: `{c}` is not an IPv4 CIDR block such as 10.0.0.0/8"
            )),
            Some(n) if n != c.trim() => problems.push(format!(
                "{path}.cidr_ip: `{c}` has bits set beyond its prefix; AWS stores it as {n}, write that"
            )),
            Some(_) => {}
        }
    }
    for c in &r.cidr_ipv6 {
        match ipv6_network(c) {
            None => problems.push(format!(
                "{path}.cidr_ipv6: `{c}` is not an IPv6 CIDR block such as 2001:db8::/32"
            )),
            Some(n) if n != ipv6_text(c) => problems.push(format!(
                "{path}.cidr_ipv6: `{c}` has bits set beyond its prefix; AWS stores it as {n}, write that"
            )),
            Some(_) => {}
        }
    }
    if let Some(id) = &r.source_group_id {
        if !id.starts_with("sg-") || id.len() < 4 {
            problems.push(format!(
                "{path}.source_group_id: `{id}` is not a security group id (sg-...); use source_group_name for a name"
            ));
        }
    }
    if let Some(n) = &r.source_group_name {
        if let Some(p) = validate_group_name(&format!("{path}.source_group_name: "), n) {
            problems.push(p);
        }
    }
    if let Some(o) = &r.source_group_owner_id {
        if r.source_group_name.is_none() && r.source_group_id.is_none() {
            problems.push(format!(
                "{path}.source_group_owner_id: only with source_group_name or source_group_id"
            ));
        }
        if o.chars().all(|c| c.is_ascii_digit()) && o.len() != 12 {
            problems.push(format!(
                "{path}.source_group_owner_id: `{o}` is not a 12-digit account id (quote account ids in YAML so leading zeros are kept)"
            ));
        }
        if o.is_empty() {
            problems.push(format!("{path}.source_group_owner_id: must not be empty"));
        }
    }
}

impl Schema for SecurityGroup {
    const NAME: &'static str = refs::security_group::KIND;
    type Spec = SecurityGroupSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        match validate_group_name("security group name ", name) {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    fn validate(_name: &str, spec: &SecurityGroupSpec) -> Vec<String> {
        let mut problems = Vec::new();
        let d = &spec.description;
        if d.trim().is_empty() || d.len() > 255 {
            problems.push("description: must be 1 to 255 characters long".to_string());
        } else if !d.chars().all(allowed_char) {
            problems.push(format!(
                "description: `{d}` may contain only letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$*"
            ));
        }
        if let Some(v) = &spec.vpc_id {
            if !v.starts_with("vpc-") || v.len() < 5 {
                problems.push(format!("vpc_id: `{v}` is not a VPC id (vpc-...)"));
            }
        }
        for (i, r) in spec.rules.iter().enumerate() {
            validate_rule(&format!("rules[{i}]"), r, &mut problems);
        }
        for (i, r) in spec.rules_egress.iter().flatten().enumerate() {
            validate_rule(&format!("rules_egress[{i}]"), r, &mut problems);
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

impl Kind for SecurityGroup {
    type Live = LiveSecurityGroup;
    type Change = SecurityGroupChange;

    async fn observe(
        &self,
        scope: &Scope<'_, SecurityGroupSpec>,
    ) -> Result<Observed<LiveSecurityGroup>, KindError> {
        let groups: Vec<aws_sdk_ec2::types::SecurityGroup> = self
            .client
            .describe_security_groups()
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                classify(
                    "DescribeSecurityGroups",
                    "(all security groups)",
                    &e,
                    TERMINAL,
                )
            })?;
        let mut by_name: BTreeMap<&str, Vec<&aws_sdk_ec2::types::SecurityGroup>> = BTreeMap::new();
        for g in &groups {
            if let (Some(name), Some(_)) = (g.group_name(), g.group_id()) {
                by_name.entry(name).or_default().push(g);
            }
        }
        let need_default = scope.desired.values().any(|s| s.vpc_id.is_none())
            || by_name.values().any(|c| c.len() > 1);
        let default_vpc = if need_default {
            self.default_vpc().await?
        } else {
            None
        };
        let mut out = Observed::new();
        for (name, candidates) in by_name {
            let prefer = scope
                .desired
                .get(name)
                .and_then(|s| s.vpc_id.as_deref())
                .or(default_vpc.as_deref());
            if let Some(g) = pick(&candidates, prefer) {
                out.insert(name.to_string(), live_group(g, default_vpc.as_deref()));
            }
        }
        Ok(out)
    }

    fn owner(live: &LiveSecurityGroup) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn facts(_name: &str, live: &LiveSecurityGroup, out: &mut Published) {
        out.set(refs::security_group::ID, &live.id);
        out.set(refs::security_group::OWNER_ID, &live.owner_id);
        if let Some(v) = &live.vpc_id {
            out.set(refs::security_group::VPC_ID, v);
        }
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        _name: &str,
        desired: &SecurityGroupSpec,
        live: Option<&LiveSecurityGroup>,
    ) -> Result<Vec<SecurityGroupChange>, Waiting> {
        let ingress = resolve(ctx, &desired.rules, false);
        let egress = desired.rules_egress.as_ref().map(|r| resolve(ctx, r, true));
        let tags = desired_tags(ctx, desired);

        let Some(live) = live else {
            // Created at once with what can be authorized now; the rest follows on a later
            // sweep (a rule may name this very group, or a group that names this one).
            let immediate = |r: &Resolved| -> Vec<Permission> {
                r.now.difference(&r.by_name).cloned().collect()
            };
            let mut deferred = Vec::new();
            for (r, eg) in [(Some(&ingress), false), (egress.as_ref(), true)] {
                let Some(r) = r else { continue };
                deferred.extend(r.by_name.iter().map(|p| show(ctx, p, eg)));
                deferred.extend(r.waiting_rules.iter().cloned());
            }
            return Ok(vec![SecurityGroupChange::Create {
                description: desired.description.clone(),
                vpc_id: desired.vpc_id.clone(),
                tags,
                ingress: shown(ctx, immediate(&ingress), false),
                egress: egress
                    .as_ref()
                    .map(|r| shown(ctx, immediate(r), true))
                    .unwrap_or_default(),
                deferred,
            }]);
        };

        // Another VPC's group of the same name is not this one: report, touch nothing.
        let vpc_differs = match &desired.vpc_id {
            Some(v) => live.vpc_id.as_deref() != Some(v.as_str()),
            None => !live.in_default_vpc,
        };
        if vpc_differs {
            return Ok(vec![SecurityGroupChange::Replace {
                field: "vpc_id",
                live: live.vpc_id.clone(),
                desired: desired
                    .vpc_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_VPC.to_string()),
            }]);
        }
        if let Some(w) = ingress
            .waiting
            .first()
            .or_else(|| egress.as_ref().and_then(|e| e.waiting.first()))
        {
            return Err(Waiting {
                waiting_for: w.clone(),
            });
        }

        let mut changes = Vec::new();
        if live.description != desired.description {
            changes.push(SecurityGroupChange::Replace {
                field: "description",
                live: Some(live.description.clone()),
                desired: desired.description.clone(),
            });
        }
        // Tag first: an unowned group is adopted before any of its rules is revoked.
        let tag = super::common::tags::to_set(&tags, &live.tags);
        if !tag.is_empty() {
            changes.push(SecurityGroupChange::Tag(tag));
        }
        changes.extend(rule_changes(ctx, &ingress.now, &live.ingress, false));
        if let Some(e) = &egress {
            changes.extend(rule_changes(ctx, &e.now, &live.egress, true));
        }
        let untag = super::common::tags::to_remove(&tags, &live.tags);
        if !untag.is_empty() {
            changes.push(SecurityGroupChange::Untag(untag));
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        live: Option<&LiveSecurityGroup>,
        change: &SecurityGroupChange,
    ) -> Result<(), KindError> {
        let id = || {
            live.map(|l| l.id.clone()).ok_or_else(|| {
                KindError::new(
                    ErrorClass::Retryable,
                    format!("security group {name} is not observed yet"),
                )
            })
        };
        match change {
            SecurityGroupChange::Create {
                description,
                vpc_id,
                tags,
                ingress,
                egress,
                deferred: _,
            } => {
                self.create(name, description, vpc_id.as_deref(), tags, ingress, egress)
                    .await
            }
            SecurityGroupChange::Authorize { egress, rules } => {
                self.change_rules(RuleOp::Authorize, *egress, name, &id()?, rules)
                    .await
            }
            SecurityGroupChange::Revoke { egress, rules } => {
                self.change_rules(RuleOp::Revoke, *egress, name, &id()?, rules)
                    .await
            }
            SecurityGroupChange::Tag(m) => {
                let tags: BTreeMap<String, String> =
                    m.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
                self.client
                    .create_tags()
                    .resources(id()?)
                    .set_tags(Some(sdk_tags(&tags)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("CreateTags", name, &e, TERMINAL))
            }
            SecurityGroupChange::Untag(m) => {
                // A key alone deletes the tag whatever its value.
                let keys = m.keys().map(|k| Tag::builder().key(k).build()).collect();
                self.client
                    .delete_tags()
                    .resources(id()?)
                    .set_tags(Some(keys))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("DeleteTags", name, &e, TERMINAL))
            }
            SecurityGroupChange::Replace { field, .. } => Err(KindError::new(
                ErrorClass::Terminal,
                format!(
                    "security group {name}: {field} is immutable; the group would have to be replaced"
                ),
            )),
        }
    }

    async fn delete(&self, name: &str, live: &LiveSecurityGroup) -> Result<(), KindError> {
        match self
            .client
            .delete_security_group()
            .group_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some(GROUP_NOT_FOUND) => Ok(()),
            // DependencyViolation (still used by an instance, a load balancer or another
            // group's rule) is not terminal: it clears when the user goes.
            Err(e) => Err(classify("DeleteSecurityGroup", name, &e, TERMINAL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DesiredResource, DesiredSet, Origin};
    use crate::engine::facts::Snapshot;

    const ID: &str = "test";

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    fn ctx<'a>(facts: &'a Snapshot, desired: &'a DesiredSet) -> DiffCtx<'a> {
        DiffCtx {
            controller_id: ID,
            facts,
            desired,
        }
    }

    fn spec(yaml: &str) -> SecurityGroupSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// Facts for groups `(name, id)`, owned by account 123456789012.
    fn facts(groups: &[(&str, &str)]) -> Snapshot {
        let mut s = Snapshot::new();
        for (name, id) in groups {
            s.entry("SecurityGroup".into()).or_default().insert(
                name.to_string(),
                BTreeMap::from([
                    ("id".to_string(), id.to_string()),
                    ("owner_id".to_string(), "123456789012".to_string()),
                    ("vpc_id".to_string(), "vpc-1".to_string()),
                ]),
            );
        }
        s
    }

    fn desired(names: &[&str]) -> DesiredSet {
        let mut d = DesiredSet::default();
        for n in names {
            d.resources
                .entry("SecurityGroup".into())
                .or_default()
                .insert(
                    n.to_string(),
                    DesiredResource {
                        kind: "SecurityGroup".into(),
                        name: n.to_string(),
                        labels: BTreeMap::new(),
                        spec: serde_json::json!({"description": "x"}),
                        origin: Origin {
                            file: "x.yaml".into(),
                            line: 1,
                            column: 1,
                        },
                        hash: 0,
                    },
                );
        }
        d
    }

    fn perm(proto: &str, from: i32, to: i32, source: Source) -> IpPermission {
        let p = Permission {
            protocol: proto.to_string(),
            from_port: Some(from),
            to_port: Some(to),
            source,
        };
        p.to_sdk()
    }

    fn cidr(c: &str) -> Source {
        Source::Cidr(c.to_string())
    }

    /// An owned group in the default VPC with these ingress permissions (as AWS returns them).
    fn live(ingress: Vec<IpPermission>) -> LiveSecurityGroup {
        LiveSecurityGroup {
            id: "sg-self".into(),
            description: "web".into(),
            vpc_id: Some("vpc-1".into()),
            owner_id: "123456789012".into(),
            in_default_vpc: true,
            ingress: live_rules(&ingress),
            egress: live_rules(&[IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build()]),
            tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), ID.to_string())]),
        }
    }

    fn diff(
        f: &Snapshot,
        d: &DesiredSet,
        s: &SecurityGroupSpec,
        l: Option<&LiveSecurityGroup>,
    ) -> Result<Vec<SecurityGroupChange>, Waiting> {
        SecurityGroup::diff(&ctx(f, d), "web", s, l)
    }

    fn texts(c: &SecurityGroupChange) -> Vec<String> {
        c.fields().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_missing_group_is_created_with_description_tags_owner_and_rules() {
        let f = Snapshot::new();
        let s = spec("description: web tier\nrules:\n  - {ip_protocol: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0}\ntags: {team: ops}\n");
        let changes = diff(&f, &EMPTY, &s, None).unwrap();
        assert_eq!(changes.len(), 1);
        let SecurityGroupChange::Create {
            description,
            vpc_id,
            tags,
            ingress,
            egress,
            deferred,
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(description, "web tier");
        assert_eq!(vpc_id, &None);
        assert_eq!(tags["team"], "ops");
        assert_eq!(tags[MANAGED_BY_TAG], ID);
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0].text, "tcp 443 from 0.0.0.0/0");
        assert!(egress.is_empty() && deferred.is_empty());
        let t = texts(&changes[0]);
        assert!(
            t.contains(&"vpc_id: (none) → (default VPC)".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(&"rules: (none) → tcp 443 from 0.0.0.0/0".to_string()),
            "{t:?}"
        );
    }

    #[test]
    fn tcp_and_6_are_the_same_protocol_and_all_and_minus_one_ignore_ports() {
        let f = Snapshot::new();
        let s = spec("description: web\nrules:\n  - {ip_protocol: '6', from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: all, from_port: 0, to_port: 65535, cidr_ip: 10.1.0.0/16}\n  - {ip_protocol: UDP, from_port: 53, to_port: 53, cidr_ip: 10.2.0.0/16}\n");
        let l = live(vec![
            perm("tcp", 80, 80, cidr("10.0.0.0/8")),
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build())
                .build(),
            perm("17", 53, 53, cidr("10.2.0.0/16")),
        ]);
        assert_eq!(diff(&f, &EMPTY, &s, Some(&l)).unwrap(), vec![]);
    }

    #[test]
    fn a_rule_with_two_cidrs_is_two_permissions_and_only_the_missing_one_is_authorized() {
        let f = Snapshot::new();
        let s = spec("description: web\nrules:\n  - ip_protocol: tcp\n    from_port: 80\n    to_port: 80\n    cidr_ip: [10.0.0.0/8, 192.168.0.0/16]\n");
        // AWS groups both CIDRs of one port range in one IpPermission.
        let both = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("192.168.0.0/16").build())
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .build();
        assert_eq!(
            diff(&f, &EMPTY, &s, Some(&live(vec![both]))).unwrap(),
            vec![]
        );
        let one = live(vec![perm("tcp", 80, 80, cidr("10.0.0.0/8"))]);
        let changes = diff(&f, &EMPTY, &s, Some(&one)).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            texts(&changes[0]),
            vec!["rules: (none) → tcp 80 from 192.168.0.0/16"]
        );
    }

    #[test]
    fn rule_order_does_not_matter() {
        let f = Snapshot::new();
        let a = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: udp, from_port: 53, to_port: 53, cidr_ipv6: '2001:DB8::/32'}\n");
        let b = spec("description: web\nrules:\n  - {ip_protocol: udp, from_port: 53, to_port: 53, cidr_ipv6: '2001:db8:0::/32'}\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n");
        let l = live(vec![
            perm("udp", 53, 53, Source::CidrV6("2001:db8::/32".into())),
            perm("tcp", 22, 22, cidr("10.0.0.0/8")),
        ]);
        assert_eq!(diff(&f, &EMPTY, &a, Some(&l)).unwrap(), vec![]);
        assert_eq!(diff(&f, &EMPTY, &b, Some(&l)).unwrap(), vec![]);
    }

    #[test]
    fn a_stray_rule_is_revoked_and_a_missing_one_authorized_first() {
        let f = Snapshot::new();
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n");
        let l = live(vec![perm("tcp", 22, 22, cidr("0.0.0.0/0"))]);
        let changes = diff(&f, &EMPTY, &s, Some(&l)).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(matches!(
            &changes[0],
            SecurityGroupChange::Authorize { egress: false, .. }
        ));
        assert_eq!(
            texts(&changes[1]),
            vec!["rules: tcp 22 from 0.0.0.0/0 → (none)"]
        );
        assert_eq!(changes[1].action(), Action::Update);
    }

    #[test]
    fn no_rules_written_means_no_ingress_and_egress_is_left_alone() {
        let f = Snapshot::new();
        let s = spec("description: web\n");
        let l = live(vec![perm("tcp", 22, 22, cidr("0.0.0.0/0"))]);
        let changes = diff(&f, &EMPTY, &s, Some(&l)).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(matches!(
            &changes[0],
            SecurityGroupChange::Revoke { egress: false, .. }
        ));
        // The default allow-all egress rule of `live` is not touched.
    }

    #[test]
    fn written_egress_rules_are_authoritative() {
        let f = Snapshot::new();
        let s = spec("description: web\nrules_egress:\n  - {ip_protocol: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0}\n");
        let changes = diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(
            texts(&changes[0]),
            vec!["rules_egress: (none) → tcp 443 to 0.0.0.0/0"]
        );
        assert_eq!(
            texts(&changes[1]),
            vec!["rules_egress: all traffic to 0.0.0.0/0 → (none)"]
        );
        // Writing the default rule keeps it.
        let s =
            spec("description: web\nrules_egress:\n  - {ip_protocol: -1, cidr_ip: 0.0.0.0/0}\n");
        assert_eq!(diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap(), vec![]);
    }

    #[test]
    fn a_source_group_by_name_resolves_through_the_facts() {
        let f = facts(&[("lb", "sg-lb")]);
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: lb}\n");
        let in_sync = live(vec![perm("tcp", 80, 80, Source::Group("sg-lb".into()))]);
        assert_eq!(diff(&f, &EMPTY, &s, Some(&in_sync)).unwrap(), vec![]);
        let changes = diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap();
        assert_eq!(
            texts(&changes[0]),
            vec!["rules: (none) → tcp 80 from sg-lb (lb)"]
        );
        // And by id, with Salt's spelling of the field.
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_group_id: sg-lb}\n");
        assert_eq!(diff(&f, &EMPTY, &s, Some(&in_sync)).unwrap(), vec![]);
    }

    #[test]
    fn a_desired_source_group_that_does_not_exist_yet_is_waited_for() {
        let f = Snapshot::new();
        let d = desired(&["web", "lb"]);
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: lb}\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n");
        // An existing group waits.
        let pending = diff(&f, &d, &s, Some(&live(vec![]))).unwrap_err();
        assert_eq!(pending.waiting_for, "SecurityGroup/lb");
        // A missing group is created at once with the rules that can be, the others later.
        let changes = diff(&f, &d, &s, None).unwrap();
        let SecurityGroupChange::Create {
            ingress, deferred, ..
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(ingress.len(), 1);
        assert_eq!(
            deferred,
            &vec!["tcp 80 from SecurityGroup/lb (once it exists)".to_string()]
        );
        // Once it exists, the rule is authorized.
        let f = facts(&[("lb", "sg-lb")]);
        let l = live(vec![perm("tcp", 22, 22, cidr("10.0.0.0/8"))]);
        let changes = diff(&f, &d, &s, Some(&l)).unwrap();
        assert!(
            matches!(&changes[..], [SecurityGroupChange::Authorize { rules, .. }] if rules[0].permission.source == Source::Group("sg-lb".into())),
            "{changes:?}"
        );
    }

    #[test]
    fn a_group_that_refers_to_itself_is_created_then_its_rule_added() {
        let f = Snapshot::new();
        let d = desired(&["web"]);
        let s = spec("description: web\nrules:\n  - {ip_protocol: icmp, source_group_name: web}\n");
        let changes = diff(&f, &d, &s, None).unwrap();
        assert_eq!(changes[0].action(), Action::Create);
        let f = facts(&[("web", "sg-self")]);
        let changes = diff(&f, &d, &s, Some(&live(vec![]))).unwrap();
        assert_eq!(
            texts(&changes[0]),
            vec!["rules: (none) → icmp type -1 code -1 from sg-self (web)"]
        );
    }

    #[test]
    fn an_unknown_source_group_that_is_not_desired_is_waited_for_by_name() {
        let f = Snapshot::new();
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: ghost}\n");
        let pending = diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap_err();
        assert_eq!(pending.waiting_for, "SecurityGroup/ghost");
    }

    #[test]
    fn an_owner_qualified_name_that_is_not_ours_is_passed_to_aws_by_name() {
        // The seed's EC2-Classic source: amazon-elb/amazon-elb-sg.
        let f = facts(&[("amazon-elb-sg", "sg-mine")]); // same name, our account: not it
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: amazon-elb-sg, source_group_owner_id: amazon-elb}\n");
        let want = Permission::new(
            "tcp",
            Some(80),
            Some(80),
            Source::GroupName {
                name: "amazon-elb-sg".into(),
                owner: "amazon-elb".into(),
            },
        );
        let changes = diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap();
        let [SecurityGroupChange::Authorize { rules, .. }] = &changes[..] else {
            panic!("{changes:?}")
        };
        assert_eq!(rules[0].permission, want);
        assert_eq!(rules[0].text, "tcp 80 from amazon-elb/amazon-elb-sg");
        // On creation it waits for the next sweep (so the group exists whatever AWS says).
        let changes = diff(&f, &EMPTY, &s, None).unwrap();
        let SecurityGroupChange::Create {
            ingress, deferred, ..
        } = &changes[0]
        else {
            panic!()
        };
        assert!(ingress.is_empty());
        assert_eq!(
            deferred,
            &vec!["tcp 80 from amazon-elb/amazon-elb-sg".to_string()]
        );
        // Were AWS to accept it, a live pair reporting that owner and name satisfies it.
        let pair = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id("sg-elb")
                    .group_name("amazon-elb-sg")
                    .user_id("amazon-elb")
                    .build(),
            )
            .build();
        assert_eq!(
            diff(&f, &EMPTY, &s, Some(&live(vec![pair]))).unwrap(),
            vec![]
        );
        // With our own account as owner, the fact resolves it.
        let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: amazon-elb-sg, source_group_owner_id: '123456789012'}\n");
        let in_sync = live(vec![perm("tcp", 80, 80, Source::Group("sg-mine".into()))]);
        assert_eq!(diff(&f, &EMPTY, &s, Some(&in_sync)).unwrap(), vec![]);
    }

    #[test]
    fn an_unowned_group_is_adopted_by_tagging_before_any_rule_is_revoked() {
        let f = Snapshot::new();
        let s = spec("description: web\ntags: {team: ops}\n");
        let mut l = live(vec![perm("tcp", 22, 22, cidr("0.0.0.0/0"))]);
        l.tags = BTreeMap::from([("stray".to_string(), "1".to_string())]);
        let changes = diff(&f, &EMPTY, &s, Some(&l)).unwrap();
        let actions: Vec<Action> = changes.iter().map(Change::action).collect();
        assert_eq!(actions, vec![Action::Tag, Action::Update, Action::Tag]);
        assert!(
            matches!(&changes[0], SecurityGroupChange::Tag(m) if m[MANAGED_BY_TAG].1 == ID && m.contains_key("team"))
        );
        assert!(matches!(&changes[1], SecurityGroupChange::Revoke { .. }));
        assert!(matches!(&changes[2], SecurityGroupChange::Untag(m) if m.contains_key("stray")));
        // AWS's own tags stay.
        let mut l = live(vec![]);
        l.tags
            .insert("aws:cloudformation:stack-name".into(), "x".into());
        let s = spec("description: web\n");
        assert_eq!(diff(&f, &EMPTY, &s, Some(&l)).unwrap(), vec![]);
    }

    #[test]
    fn a_changed_description_needs_replacement_and_other_changes_still_apply() {
        let f = Snapshot::new();
        let s = spec("description: new words\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n");
        let changes = diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap();
        assert_eq!(changes[0].action(), Action::Replace);
        assert_eq!(
            texts(&changes[0]),
            vec!["description (immutable): web → new words"]
        );
        assert_eq!(changes[1].action(), Action::Update);
    }

    #[test]
    fn a_group_in_another_vpc_needs_replacement_and_is_not_touched() {
        let f = Snapshot::new();
        let s = spec("description: web\nvpc_id: vpc-2\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n");
        let changes = diff(&f, &EMPTY, &s, Some(&live(vec![]))).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            texts(&changes[0]),
            vec!["vpc_id (immutable): vpc-1 → vpc-2"]
        );
        // Without vpc_id the default VPC is meant.
        let s = spec("description: web\n");
        let mut l = live(vec![]);
        l.in_default_vpc = false;
        let changes = diff(&f, &EMPTY, &s, Some(&l)).unwrap();
        assert_eq!(
            texts(&changes[0]),
            vec!["vpc_id (immutable): vpc-1 → (default VPC)"]
        );
        let s = spec("description: web\nvpc_id: vpc-1\n");
        assert_eq!(diff(&f, &EMPTY, &s, Some(&l)).unwrap(), vec![]);
    }

    #[test]
    fn permissions_are_sent_as_the_api_takes_them() {
        let all = Permission::new("all", Some(0), Some(65535), cidr("0.0.0.0/0")).to_sdk();
        assert_eq!(all.ip_protocol(), Some("-1"));
        assert_eq!((all.from_port(), all.to_port()), (None, None));
        let tcp = Permission::new("6", Some(80), Some(90), Source::Group("sg-1".into())).to_sdk();
        assert_eq!(tcp.ip_protocol(), Some("tcp"));
        assert_eq!((tcp.from_port(), tcp.to_port()), (Some(80), Some(90)));
        assert_eq!(tcp.user_id_group_pairs()[0].group_id(), Some("sg-1"));
        let named = Permission::new(
            "tcp",
            Some(80),
            Some(80),
            Source::GroupName {
                name: "amazon-elb-sg".into(),
                owner: "amazon-elb".into(),
            },
        )
        .to_sdk();
        let pair = &named.user_id_group_pairs()[0];
        assert_eq!(
            (pair.group_name(), pair.user_id(), pair.group_id()),
            (Some("amazon-elb-sg"), Some("amazon-elb"), None)
        );
        let icmp = Permission::new("icmp", None, None, cidr("10.0.0.0/8")).to_sdk();
        assert_eq!((icmp.from_port(), icmp.to_port()), (Some(-1), Some(-1)));
    }

    #[test]
    fn the_group_in_the_preferred_vpc_wins_a_shared_name() {
        let g = |id: &str, vpc: &str| {
            aws_sdk_ec2::types::SecurityGroup::builder()
                .group_id(id)
                .group_name("web")
                .vpc_id(vpc)
                .build()
        };
        let (a, b) = (g("sg-b", "vpc-2"), g("sg-a", "vpc-1"));
        let c = [&a, &b];
        assert_eq!(
            pick(&c, Some("vpc-2")).and_then(|g| g.group_id()),
            Some("sg-b")
        );
        assert_eq!(
            pick(&c, Some("vpc-1")).and_then(|g| g.group_id()),
            Some("sg-a")
        );
        // No preference, or nothing there: the lowest id.
        assert_eq!(pick(&c, None).and_then(|g| g.group_id()), Some("sg-a"));
        assert_eq!(
            pick(&c, Some("vpc-9")).and_then(|g| g.group_id()),
            Some("sg-a")
        );
        let live = live_group(&a, Some("vpc-2"));
        assert!(live.in_default_vpc);
        assert!(!live_group(&a, None).in_default_vpc);
    }

    #[test]
    fn facts_are_id_vpc_and_owner() {
        let f = crate::kinds::common::fixtures::published::<SecurityGroup>("web", &live(vec![]));
        assert_eq!(f["id"], "sg-self");
        assert_eq!(f["vpc_id"], "vpc-1");
        assert_eq!(f["owner_id"], "123456789012");
    }

    #[test]
    fn specs_take_salt_forms_and_reject_unknown_fields() {
        let s = spec("description: d\nrules:\n  - {ip_protocol: -1, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: tcp, from_port: 1, to_port: 2, cidr_ip: [10.0.0.0/8, 10.1.0.0/16]}\n  - {ip_protocol: 6, from_port: 1, to_port: 2, source_group_name: x, source_group_owner_id: 123456789012}\n");
        assert_eq!(s.rules[0].ip_protocol, "-1");
        assert_eq!(s.rules[0].cidr_ip, vec!["10.0.0.0/8"]);
        assert_eq!(s.rules[1].cidr_ip.len(), 2);
        assert_eq!(s.rules[2].ip_protocol, "6");
        assert_eq!(
            s.rules[2].source_group_owner_id.as_deref(),
            Some("123456789012")
        );
        // The spec survives the loader's JSON round trip.
        let back: SecurityGroupSpec =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back.rules, s.rules);
        assert!(back.rules_egress.is_none());
        let e = serde_saphyr::from_str::<SecurityGroupSpec>("description: d\nvpc_name: x\n")
            .unwrap_err();
        assert!(e.to_string().contains("vpc_name"), "{e}");
        let e = serde_saphyr::from_str::<SecurityGroupSpec>("rules: []\n").unwrap_err();
        assert!(e.to_string().contains("description"), "{e}");
        assert!(serde_saphyr::from_str::<SecurityGroupSpec>(
            "description: d\nrules:\n  - {ip_protocol: tcp, port: 1}\n"
        )
        .is_err());
    }

    #[test]
    fn validation_names_the_field_and_the_problem() {
        assert!(SecurityGroup::validate_name("myapp-testing").is_ok());
        assert!(SecurityGroup::validate_name("sg-web")
            .unwrap_err()
            .contains("sg-"));
        assert!(SecurityGroup::validate_name(&"x".repeat(256))
            .unwrap_err()
            .contains("1 to 255"));
        assert!(SecurityGroup::validate_name("wéb")
            .unwrap_err()
            .contains("may contain only"));
        let p = SecurityGroup::validate(
            "web",
            &spec(concat!(
                "description: ''\nvpc_id: default\n",
                "rules:\n",
                "  - {ip_protocol: tcpp, cidr_ip: 10.0.0.0/8}\n",
                "  - {ip_protocol: tcp, from_port: 90, to_port: 80, cidr_ip: 10.0.0.1/8}\n",
                "  - {ip_protocol: udp, cidr_ip: 10.0.0.0/8}\n",
                "  - {ip_protocol: tcp, from_port: 1, to_port: 70000, cidr_ip: 10.0.0.0/8, source_group_name: x}\n",
                "  - {ip_protocol: icmp, from_port: 300, cidr_ipv6: 'nope'}\n",
                "  - {ip_protocol: all, source_group_id: web, source_group_owner_id: 1234}\n",
                "rules_egress:\n",
                "  - {ip_protocol: all}\n",
                "tags: {'aws:x': y, 'converge:managed-by': me}\n",
            )),
        );
        let has = |s: &str| p.iter().any(|m| m.contains(s));
        for want in [
            "description: must be 1 to 255",
            "vpc_id: `default` is not a VPC id",
            "rules[0].ip_protocol: `tcpp`",
            "rules[1].from_port: 90 is greater than to_port 80",
            "rules[1].cidr_ip: `10.0.0.1/8` has bits set beyond its prefix; AWS stores it as 10.0.0.0/8",
            "rules[2]: a udp rule needs from_port and to_port",
            "rules[3].to_port: 70000 must be a port",
            "rules[3]: give exactly one source",
            "rules[4].from_port: 300 must be an ICMP type",
            "rules[4].cidr_ipv6: `nope` is not an IPv6 CIDR block",
            "rules[5].source_group_id: `web` is not a security group id",
            "rules[5].source_group_owner_id: `1234` is not a 12-digit account id",
            "rules_egress[0]: give exactly one source",
            "tags.aws:x: the `aws:` prefix is reserved",
            "tags.converge:managed-by: converge sets this tag itself",
        ] {
            assert!(has(want), "missing `{want}` in {p:#?}");
        }
        let ok = spec("description: myapp security group\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: amazon-elb-sg, source_group_owner_id: amazon-elb}\n");
        assert_eq!(SecurityGroup::validate("myapp", &ok), Vec::<String>::new());
    }

    #[test]
    fn cidr_blocks_normalise() {
        assert_eq!(ipv4_network("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(ipv4_network("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(ipv4_network("10.0.0.0/33"), None);
        assert_eq!(ipv4_network("10.0.0.0"), None);
        assert_eq!(
            ipv6_network("2001:DB8::1/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(ipv6_network("::/0").as_deref(), Some("::/0"));
        assert_eq!(ipv6_text("2001:0DB8:0000::/32"), "2001:db8::/32");
        assert_eq!(canonical_protocol("ALL").as_deref(), Some("-1"));
        assert_eq!(canonical_protocol("58").as_deref(), Some("icmpv6"));
        assert_eq!(canonical_protocol("50").as_deref(), Some("50"));
        assert_eq!(canonical_protocol("256"), None);
    }
}
