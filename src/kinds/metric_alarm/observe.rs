//! Reading CloudWatch: `DescribeAlarms` (100 names a call, or every alarm), then the tags. When
//! it takes fewer calls, the tags of converge's own alarms come from the Tagging API in pages
//! ([`crate::kinds::common::tagging`]) and `ListTagsForResource` is read only for desired
//! alarms the pages do not show (not tagged yet, or not visible yet); otherwise, or when a page
//! fails, every alarm's tags are read one by one.

use std::collections::BTreeSet;

use aws_sdk_cloudwatch::types::MetricAlarm as SdkAlarm;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::diff::{AlarmConfig, LiveMetricAlarm};
use super::spec::MetricAlarmSpec;
use super::{MetricAlarm, CODES};
use crate::core::KindError;
use crate::engine::{Observed, Scope};
use crate::kinds::common::errors::Sent;
use crate::kinds::common::tags;

/// Names one `DescribeAlarms` call takes (the API's limit), and its largest page.
const PAGE: usize = 100;
/// `ListTagsForResource` calls in flight at once.
const TAG_READS: usize = 8;

impl MetricAlarm {
    pub(super) async fn read(
        &self,
        scope: &Scope<'_, MetricAlarmSpec>,
    ) -> Result<Observed<LiveMetricAlarm>, KindError> {
        let batches: Vec<Option<Vec<String>>> = if scope.all {
            vec![None]
        } else {
            let names: Vec<String> = scope.desired.keys().cloned().collect();
            names.chunks(PAGE).map(|c| Some(c.to_vec())).collect()
        };
        // The pages need nothing from the alarms' listing: both at once, when the pages are
        // worth it for the alarms in scope (at least the desired ones).
        let describe = async {
            let mut alarms = Vec::new();
            for names in batches {
                alarms.extend(self.describe(names).await?);
            }
            Ok::<_, KindError>(alarms)
        };
        let listing = async {
            // A prune listing reads every alarm of the region, desired or not.
            let reads = if scope.all {
                usize::MAX
            } else {
                scope.desired.len()
            };
            if self.pages.worth_it(reads, None) {
                self.pages.list().await
            } else {
                None
            }
        };
        let (alarms, paged) = tokio::join!(describe, listing);
        let alarms = alarms?;
        let paged = &paged;
        let read: Vec<Option<(String, LiveMetricAlarm)>> = stream::iter(alarms)
            .map(|a| async move {
                let Described { name, arn, config } = a;
                let desired = scope.desired.contains_key(&name);
                let own = self.tags(&name, &arn);
                // Gone since the listing: not observed.
                let Some(tags) = self
                    .pages
                    .resolve(paged.as_ref(), &arn, desired, own)
                    .await?
                else {
                    return Ok(None);
                };
                Ok::<_, KindError>(Some((name, LiveMetricAlarm { arn, config, tags })))
            })
            .buffer_unordered(TAG_READS)
            .try_collect()
            .await?;
        Ok(read.into_iter().flatten().collect())
    }

    /// Name, ARN and configuration of the alarms listed, each page read as it arrives and
    /// dropped (the SDK's alarms are several times their configuration in memory).
    async fn describe(&self, names: Option<Vec<String>>) -> Result<Vec<Described>, KindError> {
        let mut pages = self
            .client
            .describe_alarms()
            .set_alarm_names(names)
            .max_records(PAGE as i32)
            .into_paginator()
            .send();
        let mut alarms = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.or_fail(&CODES, "DescribeAlarms", "(alarms)")?;
            alarms.extend(page.metric_alarms().iter().map(|a| Described {
                name: a.alarm_name().unwrap_or_default().to_string(),
                arn: a.alarm_arn().unwrap_or_default().to_string(),
                config: live_config(a),
            }));
        }
        Ok(alarms)
    }

    /// The alarm's tags; `None` when it no longer exists.
    async fn tags(&self, name: &str, arn: &str) -> Result<Option<tags::Tags>, KindError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .or_missing(&CODES, "ListTagsForResource", name)?;
        Ok(out.map(|o| tags::collect(o.tags().iter().map(|t| (t.key(), t.value())))))
    }
}

/// An alarm as `DescribeAlarms` lists it (its tags come from elsewhere).
struct Described {
    name: String,
    arn: String,
    config: AlarmConfig,
}

fn live_config(a: &SdkAlarm) -> AlarmConfig {
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
                let name = d.name().unwrap_or_default().to_string();
                (name, d.value().unwrap_or_default().to_string())
            })
            .collect(),
        alarm_actions: set(a.alarm_actions()),
        ok_actions: set(a.ok_actions()),
        insufficient_data_actions: set(a.insufficient_data_actions()),
        actions_enabled: a.actions_enabled().unwrap_or(true),
        treat_missing_data: a.treat_missing_data().map(String::from),
    }
}
