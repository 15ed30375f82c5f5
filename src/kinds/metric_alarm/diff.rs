//! Live state, changes and the pure diff: the desired configuration (actions resolved) against
//! the live one, and the tags.

use std::collections::{BTreeMap, BTreeSet};

use super::spec::{MetricAlarmSpec, SCALING_POLICY_PREFIX};
use crate::core::{Action, Change, FieldChange};
use crate::engine::{DiffCtx, Waiting};
use crate::kinds::common::{refs, tags};

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
    pub tags: tags::Tags,
}

/// One alarm mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricAlarmChange {
    /// `PutMetricAlarm` of a new alarm, with its tags.
    Create {
        config: Box<AlarmConfig>,
        tags: tags::Tags,
    },
    /// `PutMetricAlarm` of the whole desired configuration; `fields` says what differs.
    Update {
        config: Box<AlarmConfig>,
        fields: Vec<FieldChange>,
    },
    /// tag → (live, desired)
    Tag(tags::ToSet),
    /// tag → live value
    Untag(tags::Tags),
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
                f.extend(tags::new_fields(tags));
                f
            }
            MetricAlarmChange::Update { fields, .. } => fields.clone(),
            MetricAlarmChange::Tag(m) => tags::set_fields(m),
            MetricAlarmChange::Untag(m) => tags::remove_fields(m),
        }
    }
}

/// A value as plans show it.
fn text(v: &impl ToString) -> Option<String> {
    Some(v.to_string())
}

fn show_set(s: &BTreeSet<String>) -> Option<String> {
    text(&format!(
        "[{}]",
        s.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

fn show_map(m: &BTreeMap<String, String>) -> Option<String> {
    let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    text(&format!("{{{}}}", pairs.join(", ")))
}

/// A field's value as plans show it (`None`: absent).
type Show = fn(&AlarmConfig) -> Option<String>;

/// Every field of a configuration, in plan order, with its value as plans show it.
const FIELDS: &[(&str, Show)] = &[
    ("metric", |c| text(&c.metric)),
    ("namespace", |c| text(&c.namespace)),
    ("statistic", |c| c.statistic.clone()),
    ("extended_statistic", |c| c.extended_statistic.clone()),
    ("comparison", |c| text(&c.comparison)),
    ("threshold", |c| text(&c.threshold)),
    ("period", |c| text(&c.period)),
    ("evaluation_periods", |c| text(&c.evaluation_periods)),
    ("datapoints_to_alarm", |c| {
        c.datapoints_to_alarm.map(|d| d.to_string())
    }),
    ("unit", |c| c.unit.clone()),
    ("description", |c| text(&c.description)),
    ("dimensions", |c| show_map(&c.dimensions)),
    ("alarm_actions", |c| show_set(&c.alarm_actions)),
    ("ok_actions", |c| show_set(&c.ok_actions)),
    ("insufficient_data_actions", |c| {
        show_set(&c.insufficient_data_actions)
    }),
    ("actions_enabled", |c| text(&c.actions_enabled)),
    ("treat_missing_data", |c| c.treat_missing_data.clone()),
];

/// Fields compared only when the spec writes them: AWS fills in a value otherwise.
const WRITTEN_ONLY: &[&str] = &["datapoints_to_alarm", "treat_missing_data"];

/// The fields in which `live` (None: absent) and `want` differ, for plans and the audit log.
/// Optional desired fields that are not written (`datapoints_to_alarm`, `treat_missing_data`)
/// are not compared.
fn config_fields(live: Option<&AlarmConfig>, want: &AlarmConfig) -> Vec<FieldChange> {
    FIELDS
        .iter()
        .filter_map(|(field, show)| {
            let w = show(want);
            if w.is_none() && WRITTEN_ONLY.contains(field) {
                return None;
            }
            match live.map(show) {
                None => Some(FieldChange::new(*field, None, w)),
                Some(l) => (l != w).then(|| FieldChange::new(*field, l, w)),
            }
        })
        .collect()
}

/// Resolves `scaling_policy:<asg>:<policy>` actions to ARNs.
fn resolve_actions(ctx: &DiffCtx<'_>, actions: &[String]) -> Result<BTreeSet<String>, Waiting> {
    let mut out = BTreeSet::new();
    for a in actions {
        let Some(rest) = a.strip_prefix(SCALING_POLICY_PREFIX) else {
            out.insert(a.clone());
            continue;
        };
        let (asg, policy) = rest.split_once(':').unwrap_or((rest, ""));
        let arn = ctx
            .fact_in(refs::auto_scaling_group::POLICY_ARN, asg, policy)
            .ok_or_else(|| {
                let kind = refs::auto_scaling_group::KIND;
                Waiting::new(format!("{kind}/{asg} scaling policy {policy}"))
            })?;
        out.insert(arn.to_string());
    }
    Ok(out)
}

pub(super) fn desired_config(
    ctx: &DiffCtx<'_>,
    spec: &MetricAlarmSpec,
) -> Result<AlarmConfig, Waiting> {
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

/// The changes that make `live` match `desired`: the whole configuration when anything
/// differs, then tags to set, then tags to remove.
pub(super) fn diff(
    ctx: &DiffCtx<'_>,
    desired: &MetricAlarmSpec,
    live: Option<&LiveMetricAlarm>,
) -> Result<Vec<MetricAlarmChange>, Waiting> {
    let want = desired_config(ctx, desired)?;
    let tags = tags::with_owner(&desired.tags, ctx.controller_id);
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
    changes.extend(tags::changes(
        &tags,
        &live.tags,
        MetricAlarmChange::Tag,
        MetricAlarmChange::Untag,
    ));
    Ok(changes)
}
