//! The group's simple scaling policies: what the spec says, what `DescribePolicies` read, the
//! diff (the spec's set, nothing else) and the calls that put and delete them. Policies are not
//! a kind of their own: they are named within their group and live and die with it.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_autoscaling::types as asg;
use serde::{Deserialize, Serialize};

use super::diff::AutoScalingGroupChange;
use super::spec::one_of;
use super::CODES;
use crate::core::KindError;
use crate::kinds::common::errors::Sent;

/// Simple scaling adjustment types.
pub const ADJUSTMENT_TYPES: &[&str] = &[
    "ChangeInCapacity",
    "ExactCapacity",
    "PercentChangeInCapacity",
];

/// One simple scaling policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicySpec {
    pub name: String,
    pub adjustment_type: String,
    pub scaling_adjustment: i32,
    /// Seconds; when omitted the group's default cooldown applies (not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<i32>,
    /// `PercentChangeInCapacity` only (Salt's older name `min_adjustment_step` also works).
    #[serde(
        default,
        alias = "min_adjustment_step",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_adjustment_magnitude: Option<i32>,
}

/// A scaling policy as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePolicy {
    pub arn: String,
    pub policy_type: Option<String>,
    pub adjustment_type: Option<String>,
    pub scaling_adjustment: Option<i32>,
    pub cooldown: Option<i32>,
    pub min_adjustment_magnitude: Option<i32>,
}

impl LivePolicy {
    pub fn of(p: &asg::ScalingPolicy) -> LivePolicy {
        LivePolicy {
            arn: p.policy_arn().unwrap_or_default().to_string(),
            policy_type: p.policy_type().map(String::from),
            adjustment_type: p.adjustment_type().map(String::from),
            scaling_adjustment: p.scaling_adjustment(),
            cooldown: p.cooldown(),
            min_adjustment_magnitude: p.min_adjustment_magnitude(),
        }
    }

    /// For plans: `ChangeInCapacity 5, cooldown 1800` (and the type when it is not simple).
    pub fn describe(&self) -> String {
        let mut s = describe(
            self.adjustment_type.as_deref().unwrap_or("?"),
            self.scaling_adjustment
                .map_or_else(|| "?".into(), |a| a.to_string()),
            self.cooldown,
            self.min_adjustment_magnitude,
        );
        if let Some(t) = self
            .policy_type
            .as_deref()
            .filter(|t| *t != "SimpleScaling")
        {
            s.push_str(&format!(" ({t})"));
        }
        s
    }
}

impl ScalingPolicySpec {
    /// For plans: `ChangeInCapacity 5, cooldown 1800, min adjustment 2`.
    pub fn describe(&self) -> String {
        describe(
            &self.adjustment_type,
            self.scaling_adjustment.to_string(),
            self.cooldown,
            self.min_adjustment_magnitude,
        )
    }

    /// True when `have` is this policy (a cooldown or minimum left out is not compared).
    fn matches(&self, have: &LivePolicy) -> bool {
        have.policy_type.as_deref().unwrap_or("SimpleScaling") == "SimpleScaling"
            && have.adjustment_type.as_deref() == Some(self.adjustment_type.as_str())
            && have.scaling_adjustment == Some(self.scaling_adjustment)
            && (self.cooldown.is_none() || have.cooldown == self.cooldown)
            && (self.min_adjustment_magnitude.is_none()
                || have.min_adjustment_magnitude == self.min_adjustment_magnitude)
    }
}

fn describe(kind: &str, adjustment: String, cooldown: Option<i32>, min: Option<i32>) -> String {
    let mut s = format!("{kind} {adjustment}");
    if let Some(c) = cooldown {
        s.push_str(&format!(", cooldown {c}"));
    }
    if let Some(m) = min {
        s.push_str(&format!(", min adjustment {m}"));
    }
    s
}

/// Checks the spec's policies, each message naming `scaling_policies.<name>`.
pub fn check(policies: &[ScalingPolicySpec], p: &mut Vec<String>) {
    let mut names = BTreeSet::new();
    for pol in policies {
        let at = format!("scaling_policies.{}", pol.name);
        if pol.name.is_empty() || pol.name.chars().count() > 255 {
            p.push(format!("{at}: the name must be 1 to 255 characters"));
        }
        if pol.name.contains(':') {
            p.push(format!(
                "{at}: the name may not contain `:` (alarms refer to `scaling_policy:<group>:<policy>`)"
            ));
        }
        if !names.insert(pol.name.as_str()) {
            p.push(format!("{at}: the policy is given twice"));
        }
        one_of(
            p,
            &format!("{at}.adjustment_type"),
            &pol.adjustment_type,
            ADJUSTMENT_TYPES,
        );
        if pol.cooldown.is_some_and(|c| c < 0) {
            p.push(format!("{at}.cooldown: must not be negative"));
        }
        if let Some(m) = pol.min_adjustment_magnitude {
            if pol.adjustment_type != "PercentChangeInCapacity" {
                p.push(format!(
                    "{at}.min_adjustment_magnitude: only for adjustment_type PercentChangeInCapacity"
                ));
            }
            if m < 1 {
                p.push(format!("{at}.min_adjustment_magnitude: must be at least 1"));
            }
        }
    }
}

/// Puts the policies missing or different, then deletes the ones not in the spec.
pub fn diff(
    desired: &[ScalingPolicySpec],
    live: &BTreeMap<String, LivePolicy>,
) -> Vec<AutoScalingGroupChange> {
    let put = desired
        .iter()
        .filter(|p| !live.get(&p.name).is_some_and(|h| p.matches(h)))
        .map(|p| AutoScalingGroupChange::PutScalingPolicy {
            policy: p.clone(),
            live: live.get(&p.name).cloned(),
        });
    let delete = live
        .iter()
        .filter(|(name, _)| !desired.iter().any(|d| &d.name == *name))
        .map(|(name, p)| AutoScalingGroupChange::DeleteScalingPolicy {
            name: name.clone(),
            live: p.clone(),
        });
    put.chain(delete).collect()
}

/// `PutScalingPolicy` (simple scaling).
pub async fn put(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    policy: &ScalingPolicySpec,
) -> Result<(), KindError> {
    // moto answers `PolicyArn` where AWS says `PolicyARN`: the ARN is read back from
    // DescribePolicies on the next sweep either way.
    client
        .put_scaling_policy()
        .auto_scaling_group_name(group)
        .policy_name(&policy.name)
        .policy_type("SimpleScaling")
        .adjustment_type(&policy.adjustment_type)
        .scaling_adjustment(policy.scaling_adjustment)
        .set_cooldown(policy.cooldown)
        .set_min_adjustment_magnitude(policy.min_adjustment_magnitude)
        .send()
        .await
        .or_fail(
            &CODES,
            "PutScalingPolicy",
            &format!("{group} policy {}", policy.name),
        )?;
    Ok(())
}

/// `DeletePolicy`; a policy already gone is done.
pub async fn delete(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    policy: &str,
) -> Result<(), KindError> {
    client
        .delete_policy()
        .auto_scaling_group_name(group)
        .policy_name(policy)
        .send()
        .await
        .gone_ok(&CODES, "DeletePolicy", &format!("{group} policy {policy}"))
}
