//! Where a resource lives and how converge reaches it: accounts, shards and shard selection.
//!
//! A **shard** is one account and one region (`staging/us-east-1`); the global services of an
//! account (IAM, Route 53) are its shard `staging/global`. Each shard has its own AWS clients,
//! pacing, kind loops and failures; names are unique per shard. The accounts come from the
//! tree's `accounts.yaml` (see `desired::accounts`); a tree without one has a single account,
//! [`IMPLICIT_ACCOUNT`], reached with the process's own credentials.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::source::Origin;

/// The region of an account's global services (IAM, Route 53).
pub const GLOBAL: &str = "global";
/// The alias of the only account of a tree without `accounts.yaml`.
pub const IMPLICIT_ACCOUNT: &str = "default";

/// One account and one region (or [`GLOBAL`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ShardId {
    /// The account's alias in `accounts.yaml`.
    pub account: String,
    /// An AWS region, or [`GLOBAL`].
    pub region: String,
}

impl ShardId {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> ShardId {
        ShardId {
            account: account.into(),
            region: region.into(),
        }
    }

    /// The shard of an account's global services.
    pub fn global(account: impl Into<String>) -> ShardId {
        ShardId::new(account, GLOBAL)
    }

    pub fn is_global(&self) -> bool {
        self.region == GLOBAL
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// How converge obtains credentials for an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "via")]
pub enum Access {
    /// The process's own credentials (the standard chain).
    Own,
    /// A role assumed with STS from the process's own credentials.
    Role {
        role_arn: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
    },
    /// A named profile of the AWS config files.
    Profile { profile: String },
}

/// One account converge manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub alias: String,
    /// The 12-digit id the credentials must belong to (checked once with
    /// `sts:GetCallerIdentity`); `None` only for the implicit account, which is not checked.
    pub id: Option<String>,
    pub access: Access,
    /// Where it is declared (`None` for the implicit account).
    #[serde(skip)]
    pub origin: Option<Origin>,
}

impl Account {
    /// The same account reached the same way (where it is written does not matter: moving
    /// the entry in `accounts.yaml` restarts nothing).
    pub fn same_reach(&self, other: &Account) -> bool {
        self.id == other.id && self.access == other.access
    }
}

/// Every account of a tree, and the one resources use unless they name another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    pub default: String,
    pub by_alias: BTreeMap<String, Account>,
    /// False for a tree without `accounts.yaml` (one account, today's behaviour).
    pub declared: bool,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::implicit()
    }
}

impl Accounts {
    /// A tree without `accounts.yaml`: one account, the process's own credentials, unchecked.
    pub fn implicit() -> Accounts {
        Accounts {
            default: IMPLICIT_ACCOUNT.to_string(),
            by_alias: BTreeMap::from([(
                IMPLICIT_ACCOUNT.to_string(),
                Account {
                    alias: IMPLICIT_ACCOUNT.to_string(),
                    id: None,
                    access: Access::Own,
                    origin: None,
                },
            )]),
            declared: false,
        }
    }

    pub fn get(&self, alias: &str) -> Option<&Account> {
        self.by_alias.get(alias)
    }

    /// The aliases, for error messages.
    pub fn aliases(&self) -> String {
        self.by_alias.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Checks an account alias: it names shards (`<alias>/<region>`) and metric labels.
pub fn validate_alias(alias: &str) -> Result<(), String> {
    let ok = !alias.is_empty()
        && alias.len() <= 32
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "account alias `{alias}` must be 1 to 32 letters, digits, `-` or `_` (it names shards as <alias>/<region>)"
        ))
    }
}

// Region names. They live here (not with the naming convention, which uses them too) because
// shards are named by region and kinds check the regions written in references.

/// Partition infixes in region names (`us-gov-west-1`, `us-iso-east-1`, ...).
const PARTITIONS: &[&str] = &["gov", "isob", "isoe", "isof", "iso"];
/// The direction part of AWS region names, longest first (so `northeast` wins over `north`).
const DIRECTIONS: &[&str] = &[
    "northeast",
    "northwest",
    "southeast",
    "southwest",
    "central",
    "north",
    "south",
    "east",
    "west",
];

/// `us-east-1` → `useast1`.
pub fn region_short(region: &str) -> String {
    region.replace('-', "")
}

/// `useast1` → `us-east-1`; `None` if it does not look like a short AWS region name.
pub fn region_from_short(short: &str) -> Option<String> {
    let digits_at = short.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = short.split_at(digits_at);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || letters.len() < 3 {
        return None;
    }
    if !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let (country, rest) = letters.split_at(2);
    let (partition, direction) = match PARTITIONS.iter().find(|p| {
        rest.strip_prefix(*p)
            .is_some_and(|d| DIRECTIONS.contains(&d))
    }) {
        Some(p) => (Some(*p), &rest[p.len()..]),
        None => (None, rest),
    };
    if !DIRECTIONS.contains(&direction) {
        return None;
    }
    Some(match partition {
        Some(p) => format!("{country}-{p}-{direction}-{digits}"),
        None => format!("{country}-{direction}-{digits}"),
    })
}

/// Checks an AWS region name: `xx-[partition-]direction-N` (`us-east-1`, `us-gov-west-1`).
pub fn validate_region(region: &str) -> Result<(), String> {
    let ok = region_from_short(&region_short(region)).as_deref() == Some(region);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{region}` is not an AWS region name (like us-east-1 or eu-central-1)"
        ))
    }
}

/// One `--shard` pattern: `ALIAS/REGION`, either part `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPattern {
    account: Option<String>,
    region: Option<String>,
}

impl std::str::FromStr for ShardPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (account, region) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not ALIAS/REGION (e.g. staging/us-east-1, staging/*, */global)")
        })?;
        let part = |p: &str, what: &str| -> Result<Option<String>, String> {
            match p.trim() {
                "" => Err(format!("`{s}`: the {what} is empty (use `*` for any)")),
                "*" => Ok(None),
                p if p.contains(['/', '*']) => Err(format!("`{s}`: `{p}` is not a valid {what}")),
                p => Ok(Some(p.to_string())),
            }
        };
        Ok(ShardPattern {
            account: part(account, "account alias")?,
            region: part(region, "region")?,
        })
    }
}

impl ShardPattern {
    pub fn matches(&self, shard: &ShardId) -> bool {
        self.account.as_deref().is_none_or(|a| a == shard.account)
            && self.region.as_deref().is_none_or(|r| r == shard.region)
    }
}

/// Which shards a process reconciles: every shard, unless `--shard` patterns or `--region`
/// (a region and the global services) limit them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub patterns: Vec<ShardPattern>,
    /// `--region`: only this region's shards and the accounts' global services.
    pub region: Option<String>,
}

impl Selection {
    pub fn selects(&self, shard: &ShardId) -> bool {
        let by_pattern = self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(shard));
        let by_region = self
            .region
            .as_deref()
            .is_none_or(|r| shard.is_global() || shard.region == r);
        by_pattern && by_region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(s: &str) -> ShardId {
        let (a, r) = s.split_once('/').unwrap();
        ShardId::new(a, r)
    }

    #[test]
    fn patterns_match_either_part_as_a_wildcard() {
        let p: ShardPattern = "staging/*".parse().unwrap();
        assert!(p.matches(&shard("staging/us-east-1")));
        assert!(p.matches(&shard("staging/global")));
        assert!(!p.matches(&shard("prod/us-east-1")));
        let p: ShardPattern = "*/global".parse().unwrap();
        assert!(p.matches(&shard("prod/global")));
        assert!(!p.matches(&shard("prod/eu-west-1")));
    }

    #[test]
    fn bad_patterns_say_what_is_expected() {
        let e = "staging".parse::<ShardPattern>().unwrap_err();
        assert!(e.contains("ALIAS/REGION"), "{e}");
        let e = "staging/".parse::<ShardPattern>().unwrap_err();
        assert!(e.contains("region is empty"), "{e}");
        let e = "a/b/c".parse::<ShardPattern>().unwrap_err();
        assert!(e.contains("not a valid region"), "{e}");
    }

    #[test]
    fn region_selection_keeps_the_global_services() {
        let sel = Selection {
            patterns: Vec::new(),
            region: Some("us-east-1".into()),
        };
        assert!(sel.selects(&shard("default/us-east-1")));
        assert!(sel.selects(&shard("default/global")));
        assert!(!sel.selects(&shard("default/eu-west-1")));
        assert!(Selection::default().selects(&shard("x/eu-west-1")));
    }
}
