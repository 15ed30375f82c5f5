//! Reaching an account: its credentials (the process's own, a named profile, or a role
//! assumed with STS) and the check, once per account and process, that they belong to the
//! account id `accounts.yaml` declares — so a mistake there is an error, never a write to the
//! wrong account.

use std::error::Error as StdError;
use std::sync::Arc;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::{base_config, chain, classify, AwsOptions, CallCounter, TERMINAL_CODES};
use crate::core::shard::{Access, Account, GLOBAL};
use crate::core::ErrorClass;
use crate::metrics::Metrics;

/// Why an account cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountError {
    /// The credentials could not be obtained or used (`terminal` when AWS refused them).
    #[error("cannot obtain working credentials: {message}")]
    Credentials { message: String, terminal: bool },
    /// The credentials work, in another account.
    #[error("the credentials belong to account {actual}, not {expected} as accounts.yaml says: nothing is read or written there")]
    Mismatch { expected: String, actual: String },
}

impl AccountError {
    /// Retrying cannot help (until the tree changes).
    pub fn terminal(&self) -> bool {
        match self {
            AccountError::Credentials { terminal, .. } => *terminal,
            AccountError::Mismatch { .. } => true,
        }
    }
}

/// The STS session name of a controller: `converge-<controller id>`, in the characters and
/// length STS accepts.
pub fn session_name(controller_id: &str) -> String {
    let id: String = controller_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("converge-{id}");
    name.truncate(64);
    name
}

/// The configuration whose credentials reach `account`, checked against its id (when it has
/// one: the implicit account of a tree without `accounts.yaml` is not checked, exactly as
/// before). Assumed-role credentials are refreshed by the SDK before they expire.
pub async fn reach(
    base: &SdkConfig,
    opts: &AwsOptions,
    account: &Account,
    controller_id: &str,
    metrics: Arc<Metrics>,
) -> Result<SdkConfig, AccountError> {
    let sdk = match &account.access {
        Access::Own => base.clone(),
        Access::Profile { profile } => {
            // The profile's credentials only: the default chain would take the environment's
            // (`AWS_ACCESS_KEY_ID`) first.
            let provider = ProfileFileCredentialsProvider::builder()
                .profile_name(profile.clone())
                .build();
            base_config(opts, Some(profile))
                .await
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build()
        }
        Access::Role {
            role_arn,
            external_id,
        } => {
            let mut builder = AssumeRoleProvider::builder(role_arn.clone())
                .session_name(session_name(controller_id))
                .configure(base);
            if let Some(e) = external_id {
                builder = builder.external_id(e.clone());
            }
            let provider = builder.build().await;
            base.to_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build()
        }
    };
    let Some(expected) = &account.id else {
        return Ok(sdk);
    };
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(CallCounter::new(metrics, &account.alias, GLOBAL))
            .build(),
    );
    let identity = sts.get_caller_identity().send().await.map_err(|e| {
        let err = classify("GetCallerIdentity", &account.alias, &e, &[]);
        // A refused AssumeRole or profile reaches us as a request that could not be sent; the
        // code AWS gave is in its message.
        let text = chain(Some(&e as &(dyn StdError + 'static)));
        let refused = TERMINAL_CODES.iter().any(|c| text.contains(c));
        AccountError::Credentials {
            message: if err.class == ErrorClass::Terminal || !refused {
                err.message
            } else {
                format!("GetCallerIdentity {}: {text}", account.alias)
            },
            terminal: err.class == ErrorClass::Terminal || refused,
        }
    })?;
    let actual = identity.account().unwrap_or_default();
    if actual != expected {
        return Err(AccountError::Mismatch {
            expected: expected.clone(),
            actual: actual.to_string(),
        });
    }
    Ok(sdk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_keep_to_what_sts_accepts() {
        assert_eq!(session_name("ops-1"), "converge-ops-1");
        assert_eq!(session_name("host name/x"), "converge-host-name-x");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }
}
