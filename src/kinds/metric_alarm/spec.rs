//! The spec of a `kind: MetricAlarm` as manifests write it, and its checks.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StandardUnit};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::kinds::common::tags;

/// The prefix of an action that names a scaling policy of an Auto Scaling group.
pub const SCALING_POLICY_PREFIX: &str = "scaling_policy:";
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
/// How an extended statistic starts: a percentile (`p99`) or a trimmed, windsorized, trimmed
/// count, trimmed sum or percentile rank statistic, in either case.
const EXTENDED_PREFIXES: &[&str] = &["p", "tm", "wm", "tc", "ts", "TM", "WM", "TC", "TS", "PR"];
const TREAT_MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

/// The `spec` of a `kind: MetricAlarm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricAlarmSpec {
    /// The metric name (`MetricName`).
    pub metric: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    /// `>=`, `>`, `<=`, `<` or the AWS operator name.
    pub comparison: Comparison,
    pub threshold: f64,
    pub period: i32,
    pub evaluation_periods: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Dimension name → value (a one-element list, as Salt writes it, is accepted).
    #[serde(default)]
    pub dimensions: BTreeMap<String, DimensionValue>,
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    #[serde(default)]
    pub ok_actions: Vec<String>,
    #[serde(default)]
    pub insufficient_data_actions: Vec<String>,
    #[serde(default = "yes")]
    pub actions_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    #[serde(default)]
    pub tags: tags::Tags,
}

fn yes() -> bool {
    true
}

/// A comparison operator, stored by its AWS name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Comparison(#[serde(deserialize_with = "comparison")] pub String);

/// Salt's symbolic comparisons, by the AWS name each stands for.
const SYMBOLS: &[(&str, &str)] = &[
    (">=", "GreaterThanOrEqualToThreshold"),
    (">", "GreaterThanThreshold"),
    ("<=", "LessThanOrEqualToThreshold"),
    ("<", "LessThanThreshold"),
];

/// A comparison in Salt's or AWS's form (the SDK's list of operators is CloudWatch's), as its
/// AWS name.
fn comparison<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let symbol = SYMBOLS.iter().find(|(sym, _)| *sym == s).map(|(_, n)| *n);
    symbol
        .or_else(|| ComparisonOperator::values().iter().copied().find(|n| *n == s))
        .map(String::from)
        .ok_or_else(|| {
            de::Error::custom(format!(
                "unknown comparison `{s}` (use >=, >, <=, < or an AWS operator name such as GreaterThanOrEqualToThreshold)"
            ))
        })
}

/// A dimension value: a string, or a one-element list of one (Salt's form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DimensionValue(pub String);

impl<'de> Deserialize<'de> for DimensionValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DimensionValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dimension value: a string, or a list of exactly one string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DimensionValue, E> {
                Ok(DimensionValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DimensionValue, E> {
                Ok(DimensionValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DimensionValue, E> {
                Ok(DimensionValue(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<DimensionValue, A::Error> {
                let first: String = seq.next_element()?.ok_or_else(|| {
                    de::Error::custom("a dimension value list must hold exactly one value")
                })?;
                if seq.next_element::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a dimension value list must hold exactly one value (CloudWatch dimensions have one value each)",
                    ));
                }
                Ok(DimensionValue(first))
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks an alarm name as CloudWatch does.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(format!(
            "alarm name `{name}` must be 1 to 255 characters long"
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(format!(
            "alarm name `{}` must not contain control characters",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// The checks beyond the schema; each message names its field.
pub fn validate(s: &MetricAlarmSpec) -> Vec<String> {
    let mut p = Vec::new();
    match (&s.statistic, &s.extended_statistic) {
        (Some(_), Some(_)) | (None, None) => {
            p.push("exactly one of `statistic` and `extended_statistic` is needed".to_string())
        }
        (Some(st), None) if !STATISTICS.contains(&st.as_str()) => p.push(format!(
            "statistic: `{st}` is not one of {}",
            STATISTICS.join(", ")
        )),
        (None, Some(ext)) if !EXTENDED_PREFIXES.iter().any(|x| ext.starts_with(x)) => {
            p.push(format!(
                "extended_statistic: `{ext}` is not a percentile or trimmed statistic (e.g. p99, tm90)"
            ))
        }
        _ => {}
    }
    if !s.threshold.is_finite() {
        p.push("threshold: must be a finite number".to_string());
    }
    if !([10, 20, 30].contains(&s.period) || (s.period > 0 && s.period % 60 == 0)) {
        p.push(format!(
            "period: `{}` must be 10, 20, 30 or a multiple of 60 seconds",
            s.period
        ));
    }
    if s.evaluation_periods < 1 {
        p.push("evaluation_periods: must be at least 1".to_string());
    }
    if let Some(d) = s.datapoints_to_alarm {
        if d < 1 || d > s.evaluation_periods {
            p.push(format!(
                "datapoints_to_alarm: `{d}` must be from 1 to evaluation_periods ({})",
                s.evaluation_periods
            ));
        }
    }
    // The SDK's list of units is CloudWatch's.
    if let Some(u) = s.unit.as_deref() {
        if !StandardUnit::values().contains(&u) {
            p.push(format!(
                "unit: `{u}` is not a CloudWatch unit (e.g. Percent, Count, Seconds)"
            ));
        }
    }
    if let Some(t) = &s.treat_missing_data {
        if !TREAT_MISSING.contains(&t.as_str()) {
            p.push(format!(
                "treat_missing_data: `{t}` is not one of {}",
                TREAT_MISSING.join(", ")
            ));
        }
    }
    if s.dimensions.len() > 30 {
        p.push("dimensions: at most 30".to_string());
    }
    for (field, actions) in [
        ("alarm_actions", &s.alarm_actions),
        ("ok_actions", &s.ok_actions),
        ("insufficient_data_actions", &s.insufficient_data_actions),
    ] {
        if actions.len() > 5 {
            p.push(format!("{field}: at most 5 actions"));
        }
        for a in actions {
            let well_formed = |rest: &str| {
                rest.split_once(':')
                    .is_some_and(|(g, pol)| !g.is_empty() && !pol.is_empty())
            };
            match a.strip_prefix(SCALING_POLICY_PREFIX) {
                Some(rest) if !well_formed(rest) => {
                    p.push(format!("{field}: `{a}` must be `scaling_policy:<auto scaling group>:<policy name>`"));
                }
                Some(_) => {}
                None if !a.starts_with("arn:") => p.push(format!(
                    "{field}: `{a}` is neither an ARN nor `scaling_policy:<group>:<policy>`"
                )),
                None => {}
            }
        }
    }
    tags::check_map(&s.tags, &mut p);
    p
}
