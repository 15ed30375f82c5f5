//! Writing CloudWatch: `PutMetricAlarm` (the whole configuration, tags only on create),
//! `TagResource`/`UntagResource` and `DeleteAlarms`.

use std::collections::BTreeSet;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StandardUnit, Statistic, Tag};

use super::diff::{AlarmConfig, LiveMetricAlarm, MetricAlarmChange};
use super::{MetricAlarm, CODES};
use crate::core::KindError;
use crate::kinds::common::errors::{unobserved, Sent};
use crate::kinds::common::tags::Tags;

/// CloudWatch's tag list from `(key, value)` pairs.
fn sdk_tags<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl MetricAlarm {
    pub(super) async fn change(
        &self,
        name: &str,
        live: Option<&LiveMetricAlarm>,
        change: &MetricAlarmChange,
    ) -> Result<(), KindError> {
        let arn = || {
            live.map(|l| l.arn.clone())
                .ok_or_else(|| unobserved("alarm", name))
        };
        match change {
            MetricAlarmChange::Create { config, tags } => self.put(name, config, Some(tags)).await,
            MetricAlarmChange::Update { config, .. } => self.put(name, config, None).await,
            MetricAlarmChange::Tag(m) => self
                .client
                .tag_resource()
                .resource_arn(arn()?)
                .set_tags(Some(sdk_tags(m.iter().map(|(k, (_, v))| (k, v)))))
                .send()
                .await
                .done(&CODES, "TagResource", name),
            MetricAlarmChange::Untag(m) => self
                .client
                .untag_resource()
                .resource_arn(arn()?)
                .set_tag_keys(Some(m.keys().cloned().collect()))
                .send()
                .await
                .done(&CODES, "UntagResource", name),
        }
    }

    pub(super) async fn remove(&self, name: &str) -> Result<(), KindError> {
        self.client
            .delete_alarms()
            .alarm_names(name)
            .send()
            .await
            .gone_ok(&CODES, "DeleteAlarms", name)
    }

    async fn put(&self, name: &str, c: &AlarmConfig, tags: Option<&Tags>) -> Result<(), KindError> {
        let list = |s: &BTreeSet<String>| Some(s.iter().cloned().collect::<Vec<_>>());
        self.client
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
            .set_tags(tags.map(sdk_tags))
            .send()
            .await
            .done(&CODES, "PutMetricAlarm", name)
    }
}
