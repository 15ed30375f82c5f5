//! `accounts.yaml` at the root of the tree: the accounts converge manages and how it reaches
//! each of them.
//!
//! ```yaml
//! accounts:
//!   shared:  {id: "123456789012"}                        # the process's own credentials
//!   staging: {id: "111111111111", role_arn: "arn:aws:iam::111111111111:role/converge",
//!             external_id: "..."}                        # assumed with STS; external_id optional
//!   prod:    {id: "222222222222", profile: prod}         # a profile of the AWS config files
//! default: shared                                        # optional with a single account
//! ```
//!
//! Every account's `id` is required: the controller checks it once with
//! `sts:GetCallerIdentity` before anything is written there. Without the file the tree has
//! one account, `default`, reached with the process's own credentials and not checked.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::core::shard::{validate_alias, Access, Account, Accounts};
use crate::core::source::{strip_location, yaml_options, Origin, Problem};

/// The file names, at the root of the tree only.
pub const ACCOUNTS_FILES: &[&str] = &["accounts.yaml", "accounts.yml"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    accounts: BTreeMap<String, Spanned<AccountFile>>,
    #[serde(default)]
    default: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    #[serde(default)]
    id: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    role_arn: Option<Spanned<String>>,
    #[serde(default)]
    external_id: Option<Spanned<String>>,
    #[serde(default)]
    profile: Option<Spanned<String>>,
}

/// True for `accounts.yaml` (or `.yml`) directly below `root`.
pub fn is_accounts_file(root: &Path, file: &Path) -> bool {
    file.parent() == Some(root)
        && file
            .file_name()
            .is_some_and(|n| ACCOUNTS_FILES.iter().any(|f| n == *f))
}

/// Reads `file`'s text; every problem is pushed with its line.
pub fn parse(file: &Path, text: &str, problems: &mut Vec<Problem>) -> Option<Accounts> {
    let at = |s: &serde_saphyr::Location| Origin::at(file, s.line(), s.column());
    let problem = |origin: Origin, message: String| Problem {
        origin,
        message,
        context: None,
    };
    let parsed: Option<AccountsFile> =
        match serde_saphyr::from_str_with_options(text, yaml_options()) {
            Ok(p) => p,
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
                problems.push(Problem::at(
                    file,
                    line,
                    column,
                    strip_location(&e.without_snippet().to_string()),
                ));
                return None;
            }
        };
    let Some(parsed) = parsed else {
        problems.push(Problem::at(
            file,
            1,
            1,
            "accounts.yaml is empty: it must list `accounts` (e.g. `accounts: {prod: {id: \"123456789012\"}}`), or be removed".into(),
        ));
        return None;
    };
    let before = problems.len();
    let mut by_alias = BTreeMap::new();
    for (alias, decl) in parsed.accounts {
        let origin = at(&decl.referenced);
        if let Err(e) = validate_alias(&alias) {
            problems.push(problem(origin.clone(), e));
            continue;
        }
        if let Some(account) = account(&alias, decl.value, origin, &at, problems) {
            // Two aliases of one account would be two shards over the same resources, each
            // seeing the other's as not desired (and pruning them).
            let twin = by_alias
                .values()
                .find(|a: &&Account| a.id.is_some() && a.id == account.id);
            if let Some(twin) = twin {
                problems.push(problem(
                    account
                        .origin
                        .clone()
                        .unwrap_or_else(|| Origin::at(file, 1, 1)),
                    format!(
                        "account `{alias}`: id {} is already account `{}`: one alias per account",
                        account.id.as_deref().unwrap_or_default(),
                        twin.alias
                    ),
                ));
                continue;
            }
            by_alias.insert(alias, account);
        }
    }
    let default = match parsed.default {
        Some(d) if by_alias.contains_key(&d.value) => Some(d.value),
        Some(d) => {
            problems.push(problem(
                at(&d.referenced),
                format!(
                    "default: `{}` is not an account of this file (accounts: {})",
                    d.value,
                    by_alias.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
            None
        }
        None if by_alias.len() == 1 => by_alias.keys().next().cloned(),
        None if by_alias.is_empty() && problems.len() == before => {
            problems.push(Problem::at(
                file,
                1,
                1,
                "accounts: no account is listed".into(),
            ));
            None
        }
        None => {
            if problems.len() == before {
                problems.push(Problem::at(
                    file,
                    1,
                    1,
                    "`default` is missing: with several accounts, name the one resources use unless they say otherwise (e.g. `default: shared`)".into(),
                ));
            }
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    Some(Accounts {
        default: default?,
        by_alias,
        declared: true,
    })
}

fn account(
    alias: &str,
    decl: AccountFile,
    origin: Origin,
    at: &impl Fn(&serde_saphyr::Location) -> Origin,
    problems: &mut Vec<Problem>,
) -> Option<Account> {
    let before = problems.len();
    let mut push = |origin: Origin, message: String| {
        problems.push(Problem {
            origin,
            message: format!("account `{alias}`: {message}"),
            context: None,
        })
    };
    let id = match &decl.id {
        None => {
            push(
                origin.clone(),
                "`id` is missing: the 12-digit account id converge checks before writing there"
                    .into(),
            );
            None
        }
        Some(v) => match &v.value {
            serde_json::Value::String(s)
                if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(s.clone())
            }
            serde_json::Value::Number(_) => {
                push(
                    at(&v.referenced),
                    "`id` must be quoted (`id: \"012345678901\"`): as a number YAML drops leading zeros".into(),
                );
                None
            }
            other => {
                push(
                    at(&v.referenced),
                    format!("`id` {other} is not a 12-digit account id"),
                );
                None
            }
        },
    };
    let access = match (&decl.role_arn, &decl.profile) {
        (Some(_), Some(p)) => {
            push(
                at(&p.referenced),
                "give `role_arn` or `profile`, not both".into(),
            );
            None
        }
        (Some(r), None) => {
            let arn_account = role_account(&r.value);
            match (arn_account, &id) {
                (None, _) => {
                    push(
                        at(&r.referenced),
                        format!(
                            "role_arn `{}` is not an IAM role ARN (arn:aws:iam::<account id>:role/<name>)",
                            r.value
                        ),
                    );
                    None
                }
                (Some(a), Some(id)) if a != id => {
                    push(
                        at(&r.referenced),
                        format!("role_arn is in account {a}, but the account's id is {id}"),
                    );
                    None
                }
                _ => Some(Access::Role {
                    role_arn: r.value.clone(),
                    external_id: decl.external_id.as_ref().map(|e| e.value.clone()),
                }),
            }
        }
        (None, Some(p)) if p.value.trim().is_empty() => {
            push(at(&p.referenced), "`profile` is empty".into());
            None
        }
        (None, Some(p)) => Some(Access::Profile {
            profile: p.value.clone(),
        }),
        (None, None) => Some(Access::Own),
    };
    if let (Some(e), None) = (&decl.external_id, &decl.role_arn) {
        push(
            at(&e.referenced),
            "`external_id` is only used with `role_arn`".into(),
        );
    }
    if problems.len() > before {
        return None;
    }
    Some(Account {
        alias: alias.to_string(),
        id,
        access: access?,
        origin: Some(origin),
    })
}

/// The account id of an IAM role ARN (`arn:<partition>:iam::<id>:role/<path/name>`).
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("iam"), Some(""), Some(id), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    (ok && res.starts_with("role/") && res.len() > 5).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Accounts, Vec<String>> {
        let mut problems = Vec::new();
        let file = Path::new("/t/accounts.yaml");
        match parse(file, text, &mut problems) {
            Some(a) if problems.is_empty() => Ok(a),
            _ => Err(problems.iter().map(|p| p.to_string()).collect()),
        }
    }

    #[test]
    fn three_ways_to_reach_an_account() {
        let a = load(
            "accounts:\n  shared: {id: \"123456789012\"}\n  staging: {id: \"111111111111\", role_arn: \"arn:aws:iam::111111111111:role/converge\", external_id: x}\n  prod: {id: \"222222222222\", profile: prod}\ndefault: shared\n",
        )
        .unwrap();
        assert_eq!(a.default, "shared");
        assert_eq!(a.get("shared").unwrap().access, Access::Own);
        assert_eq!(
            a.get("staging").unwrap().access,
            Access::Role {
                role_arn: "arn:aws:iam::111111111111:role/converge".into(),
                external_id: Some("x".into())
            }
        );
        assert_eq!(
            a.get("prod").unwrap().access,
            Access::Profile {
                profile: "prod".into()
            }
        );
        assert!(a.declared);
    }

    #[test]
    fn a_single_account_is_the_default() {
        let a = load("accounts:\n  only: {id: \"123456789012\"}\n").unwrap();
        assert_eq!(a.default, "only");
    }

    #[test]
    fn mistakes_are_reported_at_their_line() {
        let e = load("accounts:\n  a: {id: 123456789012}\n").unwrap_err();
        assert!(
            e[0].contains(":2:") && e[0].contains("must be quoted"),
            "{e:?}"
        );
        let e = load("accounts:\n  a: {id: \"1\"}\n").unwrap_err();
        assert!(e[0].contains("not a 12-digit account id"), "{e:?}");
        let e = load("accounts:\n  a: {}\n").unwrap_err();
        assert!(e[0].contains("`id` is missing"), "{e:?}");
        let e = load(
            "accounts:\n  a: {id: \"111111111111\",\n      role_arn: \"arn:aws:iam::222222222222:role/c\"}\n",
        )
        .unwrap_err();
        assert!(
            e[0].contains(":3:") && e[0].contains("role_arn is in account 222222222222"),
            "{e:?}"
        );
        let e = load("accounts:\n  a: {id: \"111111111111\"}\n  b: {id: \"222222222222\"}\n")
            .unwrap_err();
        assert!(e[0].contains("`default` is missing"), "{e:?}");
        let e = load("accounts:\n  a: {id: \"111111111111\"}\ndefault: b\n").unwrap_err();
        assert!(
            e[0].contains(":3:") && e[0].contains("`b` is not an account"),
            "{e:?}"
        );
        let e = load("accounts:\n  a/b: {id: \"111111111111\"}\n").unwrap_err();
        assert!(e[0].contains("account alias `a/b`"), "{e:?}");
        let e = load("accounts:\n  a: {id: \"111111111111\", profile: p, external_id: x}\n")
            .unwrap_err();
        assert!(e[0].contains("only used with `role_arn`"), "{e:?}");
        let e = load("accounts:\n  a: {id: \"111111111111\"}\n  b: {id: \"111111111111\", profile: p}\ndefault: a\n")
            .unwrap_err();
        assert!(
            e[0].contains(":3:") && e[0].contains("id 111111111111 is already account `a`"),
            "{e:?}"
        );
        let e = load("acounts: {}\n").unwrap_err();
        assert!(e[0].contains("acounts"), "{e:?}");
    }
}
