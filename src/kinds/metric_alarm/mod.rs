//! `kind: MetricAlarm` — a CloudWatch metric alarm.
//!
//! Spec fields follow Salt's `boto_cloudwatch_alarm` attributes (`metric`, `namespace`,
//! `statistic`, `comparison` in AWS or Salt form, `threshold`, `period`, ...). An action written
//! `scaling_policy:<asg name>:<policy name>` resolves to that scaling policy's ARN (published by
//! the AutoScalingGroup kind); until it exists the alarm waits. Other actions (ARNs) pass through.
//!
//! Reads: `DescribeAlarms` by name, 100 names per call (the API's limit), or every alarm when
//! pruning; then `ListTagsForResource` per alarm — CloudWatch returns no tags with the alarm, and
//! ownership lives in a tag, so this per-resource read is forced by the API.
//!
//! `PutMetricAlarm` replaces the whole alarm, so any difference is one update that sends the whole
//! desired configuration. Tags are authoritative (except AWS's own `aws:` tags).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, StandardUnit, Statistic, Tag as CwTag,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::common::refs;
use crate::aws::{classify, Clients};
use crate::core::facts::Published;
use crate::core::{Action, Change, ErrorClass, FieldChange, KindError, Schema, MANAGED_BY_TAG};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

const TERMINAL: &[&str] = &[
    "LimitExceeded",
    "LimitExceededFault",
    "InvalidFormat",
    "InvalidFormatFault",
];
const NOT_FOUND: &[&str] = &["ResourceNotFound", "ResourceNotFoundException"];
/// The prefix of an action that names a scaling policy of an Auto Scaling group.
pub const SCALING_POLICY_PREFIX: &str = "scaling_policy:";
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];
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
    pub tags: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// A comparison operator, stored by its AWS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison(pub String);

/// Salt's symbolic comparisons and AWS's names.
fn comparison_name(s: &str) -> Option<&'static str> {
    Some(match s {
        ">=" | "GreaterThanOrEqualToThreshold" => "GreaterThanOrEqualToThreshold",
        ">" | "GreaterThanThreshold" => "GreaterThanThreshold",
        "<=" | "LessThanOrEqualToThreshold" => "LessThanOrEqualToThreshold",
        "<" | "LessThanThreshold" => "LessThanThreshold",
        "LessThanLowerOrGreaterThanUpperThreshold" => "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold" => "LessThanLowerThreshold",
        "GreaterThanUpperThreshold" => "GreaterThanUpperThreshold",
        _ => return None,
    })
}

impl Serialize for Comparison {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        comparison_name(&s)
            .map(|n| Comparison(n.to_string()))
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "unknown comparison `{s}` (use >=, >, <=, < or an AWS operator name such as GreaterThanOrEqualToThreshold)"
                ))
            })
    }
}

/// A dimension value: a string, or a one-element list of one (Salt's form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionValue(pub String);

impl Serialize for DimensionValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

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

/// The alarm configuration, normalised for comparison (desired after resolving actions, or live).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    pub metric: String,
    pub namespace: String,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub comparison: String,
    pub threshold: f64,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub unit: Option<String>,
    pub description: String,
    pub dimensions: BTreeMap<String, String>,
    pub alarm_actions: BTreeSet<String>,
    pub ok_actions: BTreeSet<String>,
    pub insufficient_data_actions: BTreeSet<String>,
    pub actions_enabled: bool,
    pub treat_missing_data: Option<String>,
}

/// An alarm as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveMetricAlarm {
    pub arn: String,
    pub config: AlarmConfig,
    pub tags: BTreeMap<String, String>,
}

/// One alarm mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricAlarmChange {
    /// `PutMetricAlarm` of a new alarm, with its tags.
    Create {
        config: Box<AlarmConfig>,
        tags: BTreeMap<String, String>,
    },
    /// `PutMetricAlarm` of the whole desired configuration; `fields` says what differs.
    Update {
        config: Box<AlarmConfig>,
        fields: Vec<FieldChange>,
    },
    /// tag → (live, desired)
    Tag(BTreeMap<String, (Option<String>, String)>),
    /// tag → live value
    Untag(BTreeMap<String, String>),
}

impl Change for MetricAlarmChange {
    fn action(&self) -> Action {
        match self {
            MetricAlarmChange::Create { .. } => Action::Create,
            MetricAlarmChange::Update { .. } => Action::Update,
            MetricAlarmChange::Tag(_) | MetricAlarmChange::Untag(_) => Action::Tag,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            MetricAlarmChange::Create { config, tags } => {
                let mut f = config_fields(None, config);
                f.extend(
                    tags.iter()
                        .map(|(k, v)| FieldChange::new(format!("tags.{k}"), None, Some(v.clone()))),
                );
                f
            }
            MetricAlarmChange::Update { fields, .. } => fields.clone(),
            MetricAlarmChange::Tag(m) => super::common::tags::set_fields(m),
            MetricAlarmChange::Untag(m) => super::common::tags::remove_fields(m),
        }
    }
}

fn show_set(s: &BTreeSet<String>) -> String {
    format!("[{}]", s.iter().cloned().collect::<Vec<_>>().join(", "))
}

fn show_map(m: &BTreeMap<String, String>) -> String {
    format!(
        "{{{}}}",
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The fields in which `live` (None: absent) and `want` differ, for plans and the audit log.
/// Optional desired fields that are not written (`datapoints_to_alarm`, `treat_missing_data`)
/// are not compared.
fn config_fields(live: Option<&AlarmConfig>, want: &AlarmConfig) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut cmp = |field: &str, l: Option<String>, w: Option<String>| {
        if live.is_none() || l != w {
            out.push(FieldChange::new(
                field,
                if live.is_some() { l } else { None },
                w,
            ));
        }
    };
    let l = live;
    cmp(
        "metric",
        l.map(|c| c.metric.clone()),
        Some(want.metric.clone()),
    );
    cmp(
        "namespace",
        l.map(|c| c.namespace.clone()),
        Some(want.namespace.clone()),
    );
    cmp(
        "statistic",
        l.and_then(|c| c.statistic.clone()),
        want.statistic.clone(),
    );
    cmp(
        "extended_statistic",
        l.and_then(|c| c.extended_statistic.clone()),
        want.extended_statistic.clone(),
    );
    cmp(
        "comparison",
        l.map(|c| c.comparison.clone()),
        Some(want.comparison.clone()),
    );
    cmp(
        "threshold",
        l.map(|c| c.threshold.to_string()),
        Some(want.threshold.to_string()),
    );
    cmp(
        "period",
        l.map(|c| c.period.to_string()),
        Some(want.period.to_string()),
    );
    cmp(
        "evaluation_periods",
        l.map(|c| c.evaluation_periods.to_string()),
        Some(want.evaluation_periods.to_string()),
    );
    if want.datapoints_to_alarm.is_some() {
        cmp(
            "datapoints_to_alarm",
            l.and_then(|c| c.datapoints_to_alarm.map(|d| d.to_string())),
            want.datapoints_to_alarm.map(|d| d.to_string()),
        );
    }
    cmp("unit", l.and_then(|c| c.unit.clone()), want.unit.clone());
    cmp(
        "description",
        l.map(|c| c.description.clone()),
        Some(want.description.clone()),
    );
    cmp(
        "dimensions",
        l.map(|c| show_map(&c.dimensions)),
        Some(show_map(&want.dimensions)),
    );
    cmp(
        "alarm_actions",
        l.map(|c| show_set(&c.alarm_actions)),
        Some(show_set(&want.alarm_actions)),
    );
    cmp(
        "ok_actions",
        l.map(|c| show_set(&c.ok_actions)),
        Some(show_set(&want.ok_actions)),
    );
    cmp(
        "insufficient_data_actions",
        l.map(|c| show_set(&c.insufficient_data_actions)),
        Some(show_set(&want.insufficient_data_actions)),
    );
    cmp(
        "actions_enabled",
        l.map(|c| c.actions_enabled.to_string()),
        Some(want.actions_enabled.to_string()),
    );
    if want.treat_missing_data.is_some() {
        cmp(
            "treat_missing_data",
            l.and_then(|c| c.treat_missing_data.clone()),
            want.treat_missing_data.clone(),
        );
    }
    out
}

/// Resolves `scaling_policy:<asg>:<policy>` actions to ARNs.
fn resolve_actions(ctx: &DiffCtx<'_>, actions: &[String]) -> Result<BTreeSet<String>, Waiting> {
    let mut out = BTreeSet::new();
    for a in actions {
        match a.strip_prefix(SCALING_POLICY_PREFIX) {
            Some(rest) => {
                let (asg, policy) = rest.split_once(':').unwrap_or((rest, ""));
                match ctx.fact_in(refs::auto_scaling_group::POLICY_ARN, asg, policy) {
                    Some(arn) => {
                        out.insert(arn.to_string());
                    }
                    None => {
                        return Err(Waiting {
                            waiting_for: format!("AutoScalingGroup/{asg} scaling policy {policy}"),
                        })
                    }
                }
            }
            None => {
                out.insert(a.clone());
            }
        }
    }
    Ok(out)
}

fn desired_config(ctx: &DiffCtx<'_>, spec: &MetricAlarmSpec) -> Result<AlarmConfig, Waiting> {
    Ok(AlarmConfig {
        metric: spec.metric.clone(),
        namespace: spec.namespace.clone(),
        statistic: spec.statistic.clone(),
        extended_statistic: spec.extended_statistic.clone(),
        comparison: spec.comparison.0.clone(),
        threshold: spec.threshold,
        period: spec.period,
        evaluation_periods: spec.evaluation_periods,
        datapoints_to_alarm: spec.datapoints_to_alarm,
        unit: spec.unit.clone().filter(|u| u != "None"),
        description: spec.description.clone().unwrap_or_default(),
        dimensions: spec
            .dimensions
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        alarm_actions: resolve_actions(ctx, &spec.alarm_actions)?,
        ok_actions: resolve_actions(ctx, &spec.ok_actions)?,
        insufficient_data_actions: resolve_actions(ctx, &spec.insufficient_data_actions)?,
        actions_enabled: spec.actions_enabled,
        treat_missing_data: spec.treat_missing_data.clone(),
    })
}

fn live_config(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> AlarmConfig {
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    AlarmConfig {
        metric: a.metric_name().unwrap_or_default().to_string(),
        namespace: a.namespace().unwrap_or_default().to_string(),
        statistic: a.statistic().map(|s| s.as_str().to_string()),
        extended_statistic: a.extended_statistic().map(String::from),
        comparison: a
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        threshold: a.threshold().unwrap_or_default(),
        period: a.period().unwrap_or_default(),
        evaluation_periods: a.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: a.datapoints_to_alarm(),
        unit: a
            .unit()
            .map(|u| u.as_str().to_string())
            .filter(|u| u != "None"),
        description: a.alarm_description().unwrap_or_default().to_string(),
        dimensions: a
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        alarm_actions: set(a.alarm_actions()),
        ok_actions: set(a.ok_actions()),
        insufficient_data_actions: set(a.insufficient_data_actions()),
        actions_enabled: a.actions_enabled().unwrap_or(true),
        treat_missing_data: a.treat_missing_data().map(String::from),
    }
}

fn desired_tags(ctx: &DiffCtx<'_>, spec: &MetricAlarmSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), ctx.controller_id.to_string());
    tags
}

fn not_found<E: aws_sdk_cloudwatch::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_cloudwatch::error::SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| NOT_FOUND.contains(&c))
}

/// The CloudWatch metric alarm kind.
pub struct MetricAlarm {
    client: aws_sdk_cloudwatch::Client,
}

impl MetricAlarm {
    pub fn new(clients: &Clients) -> Self {
        MetricAlarm {
            client: clients.cloudwatch.clone(),
        }
    }

    async fn describe(
        &self,
        names: Option<Vec<String>>,
    ) -> Result<Vec<aws_sdk_cloudwatch::types::MetricAlarm>, KindError> {
        let pages: Vec<_> = self
            .client
            .describe_alarms()
            .set_alarm_names(names)
            .max_records(100)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeAlarms", "(alarms)", &e, TERMINAL))?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.metric_alarms.unwrap_or_default())
            .collect())
    }

    async fn tags(
        &self,
        name: &str,
        arn: &str,
    ) -> Result<Option<BTreeMap<String, String>>, KindError> {
        match self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            )),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(classify("ListTagsForResource", name, &e, TERMINAL)),
        }
    }

    async fn put(
        &self,
        name: &str,
        c: &AlarmConfig,
        tags: Option<&BTreeMap<String, String>>,
    ) -> Result<(), KindError> {
        let list = |s: &BTreeSet<String>| Some(s.iter().cloned().collect::<Vec<_>>());
        let req = self
            .client
            .put_metric_alarm()
            .alarm_name(name)
            .metric_name(&c.metric)
            .namespace(&c.namespace)
            .set_statistic(c.statistic.as_deref().map(Statistic::from))
            .set_extended_statistic(c.extended_statistic.clone())
            .comparison_operator(ComparisonOperator::from(c.comparison.as_str()))
            .threshold(c.threshold)
            .period(c.period)
            .evaluation_periods(c.evaluation_periods)
            .set_datapoints_to_alarm(c.datapoints_to_alarm)
            .set_unit(c.unit.as_deref().map(StandardUnit::from))
            .alarm_description(&c.description)
            .set_dimensions(Some(
                c.dimensions
                    .iter()
                    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                    .collect(),
            ))
            .set_alarm_actions(list(&c.alarm_actions))
            .set_ok_actions(list(&c.ok_actions))
            .set_insufficient_data_actions(list(&c.insufficient_data_actions))
            .actions_enabled(c.actions_enabled)
            .set_treat_missing_data(c.treat_missing_data.clone())
            .set_tags(tags.map(|t| {
                t.iter()
                    .map(|(k, v)| CwTag::builder().key(k).value(v).build())
                    .collect()
            }));
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutMetricAlarm", name, &e, TERMINAL))
    }
}

impl Schema for MetricAlarm {
    const NAME: &'static str = refs::metric_alarm::KIND;
    type Spec = MetricAlarmSpec;

    fn validate_name(name: &str) -> Result<(), String> {
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

    fn validate(_name: &str, s: &MetricAlarmSpec) -> Vec<String> {
        let mut p = Vec::new();
        match (&s.statistic, &s.extended_statistic) {
            (Some(_), Some(_)) | (None, None) => p.push("exactly one of `statistic` and `extended_statistic` is needed".to_string()),
            (Some(st), None) if !STATISTICS.contains(&st.as_str()) => {
                p.push(format!("statistic: `{st}` is not one of {}", STATISTICS.join(", ")))
            }
            (None, Some(ext)) if !(ext.starts_with('p') || ext.starts_with("tm") || ext.starts_with("wm") || ext.starts_with("tc") || ext.starts_with("ts") || ext.starts_with("TM") || ext.starts_with("WM") || ext.starts_with("TC") || ext.starts_with("TS") || ext.starts_with("PR")) => {
                p.push(format!("extended_statistic: `{ext}` is not a percentile or trimmed statistic (e.g. p99, tm90)"))
            }
            _ => {}
        }
        if !s.threshold.is_finite() {
            p.push("threshold: must be a finite number".to_string());
        }
        if s.period < 10
            || (s.period > 30 && s.period % 60 != 0)
            || (s.period < 60 && ![10, 20, 30].contains(&s.period) && s.period % 60 != 0)
        {
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
        if let Some(u) = &s.unit {
            if !UNITS.contains(&u.as_str()) {
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
        for k in s.tags.keys() {
            if k.starts_with("aws:") || k == MANAGED_BY_TAG {
                p.push(format!(
                    "tags.{k}: reserved (AWS's `aws:` prefix, or converge's own owner tag)"
                ));
            }
        }
        p
    }
}

impl Kind for MetricAlarm {
    type Live = LiveMetricAlarm;
    type Change = MetricAlarmChange;

    async fn observe(
        &self,
        scope: &Scope<'_, MetricAlarmSpec>,
    ) -> Result<Observed<LiveMetricAlarm>, KindError> {
        let alarms = if scope.all {
            self.describe(None).await?
        } else {
            let names: Vec<String> = scope.desired.keys().cloned().collect();
            let mut all = Vec::new();
            for chunk in names.chunks(100) {
                all.extend(self.describe(Some(chunk.to_vec())).await?);
            }
            all
        };
        let read: Vec<Option<(String, LiveMetricAlarm)>> = stream::iter(alarms)
            .map(|a| async move {
                let name = a.alarm_name().unwrap_or_default().to_string();
                let arn = a.alarm_arn().unwrap_or_default().to_string();
                let Some(tags) = self.tags(&name, &arn).await? else {
                    return Ok(None);
                };
                Ok::<_, KindError>(Some((
                    name,
                    LiveMetricAlarm {
                        arn,
                        config: live_config(&a),
                        tags,
                    },
                )))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        Ok(read.into_iter().flatten().collect())
    }

    fn owner(live: &LiveMetricAlarm) -> Option<&str> {
        live.tags.get(MANAGED_BY_TAG).map(String::as_str)
    }

    fn facts(_name: &str, live: &LiveMetricAlarm, out: &mut Published) {
        out.set(refs::metric_alarm::ARN, &live.arn);
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        _name: &str,
        desired: &MetricAlarmSpec,
        live: Option<&LiveMetricAlarm>,
    ) -> Result<Vec<MetricAlarmChange>, Waiting> {
        let want = desired_config(ctx, desired)?;
        let tags = desired_tags(ctx, desired);
        let Some(live) = live else {
            return Ok(vec![MetricAlarmChange::Create {
                config: Box::new(want),
                tags,
            }]);
        };
        let mut changes = Vec::new();
        let fields = config_fields(Some(&live.config), &want);
        if !fields.is_empty() {
            changes.push(MetricAlarmChange::Update {
                config: Box::new(want),
                fields,
            });
        }
        let tag = super::common::tags::to_set(&tags, &live.tags);
        if !tag.is_empty() {
            changes.push(MetricAlarmChange::Tag(tag));
        }
        let untag = super::common::tags::to_remove(&tags, &live.tags);
        if !untag.is_empty() {
            changes.push(MetricAlarmChange::Untag(untag));
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        live: Option<&LiveMetricAlarm>,
        change: &MetricAlarmChange,
    ) -> Result<(), KindError> {
        let arn = || {
            live.map(|l| l.arn.clone()).ok_or_else(|| {
                KindError::new(
                    ErrorClass::Retryable,
                    format!("alarm {name} is not observed yet"),
                )
            })
        };
        match change {
            MetricAlarmChange::Create { config, tags } => self.put(name, config, Some(tags)).await,
            MetricAlarmChange::Update { config, .. } => self.put(name, config, None).await,
            MetricAlarmChange::Tag(m) => self
                .client
                .tag_resource()
                .resource_arn(arn()?)
                .set_tags(Some(
                    m.iter()
                        .map(|(k, (_, v))| CwTag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("TagResource", name, &e, TERMINAL)),
            MetricAlarmChange::Untag(m) => self
                .client
                .untag_resource()
                .resource_arn(arn()?)
                .set_tag_keys(Some(m.keys().cloned().collect()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("UntagResource", name, &e, TERMINAL)),
        }
    }

    async fn delete(&self, name: &str, _live: &LiveMetricAlarm) -> Result<(), KindError> {
        match self.client.delete_alarms().alarm_names(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(classify("DeleteAlarms", name, &e, TERMINAL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DesiredSet;
    use crate::engine::facts::Snapshot;

    static EMPTY: std::sync::LazyLock<DesiredSet> = std::sync::LazyLock::new(DesiredSet::default);

    fn ctx(facts: &Snapshot) -> DiffCtx<'_> {
        DiffCtx {
            controller_id: "test",
            facts,
            desired: &EMPTY,
        }
    }

    fn spec(yaml: &str) -> MetricAlarmSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const SEED_UP: &str = "metric: CPUUtilization\nnamespace: AWS/EC2\nstatistic: Average\ncomparison: '>='\nthreshold: 50.0\nperiod: 300\nevaluation_periods: 1\nunit: null\ndescription: ''\ndimensions:\n  AutoScalingGroupName:\n    - myapp-testing-useast1\nalarm_actions:\n  - 'scaling_policy:myapp-testing-useast1:ScaleUp'\n  - 'arn:aws:sns:us-east-1:123456789012:hipchat-notify'\ninsufficient_data_actions: []\nok_actions: []\n";

    fn facts_with_policy() -> Snapshot {
        let mut f = Snapshot::new();
        f.entry("AutoScalingGroup".into()).or_default().insert(
            "myapp-testing-useast1".into(),
            BTreeMap::from([("policy:ScaleUp".to_string(), "arn:aws:autoscaling:us-east-1:1:scalingPolicy:x:autoScalingGroupName/myapp-testing-useast1:policyName/ScaleUp".to_string())]),
        );
        f
    }

    fn live_from(config: AlarmConfig, owner: &str) -> LiveMetricAlarm {
        LiveMetricAlarm {
            arn: "arn:aws:cloudwatch:us-east-1:1:alarm:a".into(),
            config,
            tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), owner.to_string())]),
        }
    }

    #[test]
    fn the_seeds_salt_form_parses_comparisons_and_list_dimensions() {
        let s = spec(SEED_UP);
        assert_eq!(s.comparison.0, "GreaterThanOrEqualToThreshold");
        assert_eq!(
            s.dimensions["AutoScalingGroupName"].0,
            "myapp-testing-useast1"
        );
        assert!(
            MetricAlarm::validate("a", &s).is_empty(),
            "{:?}",
            MetricAlarm::validate("a", &s)
        );
        assert_eq!(spec("metric: m\nnamespace: n\nstatistic: Sum\ncomparison: '<'\nthreshold: 1\nperiod: 60\nevaluation_periods: 1\n").comparison.0, "LessThanThreshold");
    }

    #[test]
    fn bad_forms_are_schema_errors() {
        let e = serde_saphyr::from_str::<MetricAlarmSpec>(&SEED_UP.replace("'>='", "'=>'"))
            .unwrap_err();
        assert!(e.to_string().contains("unknown comparison `=>`"), "{e}");
        let e = serde_saphyr::from_str::<MetricAlarmSpec>(
            &SEED_UP.replace("    - myapp-testing-useast1\n", "    - a\n    - b\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("exactly one value"), "{e}");
    }

    #[test]
    fn a_scaling_policy_action_waits_for_the_policy_then_resolves() {
        let f = Snapshot::new();
        let p = MetricAlarm::diff(&ctx(&f), "a", &spec(SEED_UP), None).unwrap_err();
        assert_eq!(
            p.waiting_for,
            "AutoScalingGroup/myapp-testing-useast1 scaling policy ScaleUp"
        );
        let f = facts_with_policy();
        let c = MetricAlarm::diff(&ctx(&f), "a", &spec(SEED_UP), None).unwrap();
        let MetricAlarmChange::Create { config, tags } = &c[0] else {
            panic!("{c:?}")
        };
        assert!(config
            .alarm_actions
            .iter()
            .any(|a| a.ends_with("policyName/ScaleUp")));
        assert!(config
            .alarm_actions
            .contains("arn:aws:sns:us-east-1:123456789012:hipchat-notify"));
        assert_eq!(tags[MANAGED_BY_TAG], "test");
    }

    #[test]
    fn an_equal_alarm_needs_nothing_whatever_the_action_order() {
        let f = facts_with_policy();
        let want = desired_config(&ctx(&f), &spec(SEED_UP)).unwrap();
        let live = live_from(want.clone(), "test");
        assert_eq!(
            MetricAlarm::diff(&ctx(&f), "a", &spec(SEED_UP), Some(&live)).unwrap(),
            vec![]
        );
        // AWS-filled fields the spec does not write are not differences.
        let mut filled = want;
        filled.datapoints_to_alarm = Some(1);
        filled.treat_missing_data = Some("missing".into());
        let live = live_from(filled, "test");
        assert_eq!(
            MetricAlarm::diff(&ctx(&f), "a", &spec(SEED_UP), Some(&live)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_changed_threshold_is_one_update_naming_the_field() {
        let f = facts_with_policy();
        let mut live_cfg = desired_config(&ctx(&f), &spec(SEED_UP)).unwrap();
        live_cfg.threshold = 80.0;
        let live = live_from(live_cfg, "test");
        let c = MetricAlarm::diff(&ctx(&f), "a", &spec(SEED_UP), Some(&live)).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].action(), Action::Update);
        assert_eq!(
            c[0].fields()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["threshold: 80 → 50"]
        );
    }

    #[test]
    fn validation_names_the_field() {
        let p = MetricAlarm::validate(
            "a",
            &spec(
                &SEED_UP
                    .replace("period: 300", "period: 45")
                    .replace("statistic: Average", "statistic: Mean"),
            ),
        );
        assert!(p.iter().any(|m| m.starts_with("period: `45`")), "{p:?}");
        assert!(
            p.iter().any(|m| m.starts_with("statistic: `Mean`")),
            "{p:?}"
        );
        let p = MetricAlarm::validate(
            "a",
            &spec(&SEED_UP.replace(
                "'scaling_policy:myapp-testing-useast1:ScaleUp'",
                "'scaling_policy:nogroup'",
            )),
        );
        assert!(
            p.iter()
                .any(|m| m.contains("scaling_policy:<auto scaling group>:<policy name>")),
            "{p:?}"
        );
        assert!(MetricAlarm::validate_name(&"x".repeat(256)).is_err());
    }
}
