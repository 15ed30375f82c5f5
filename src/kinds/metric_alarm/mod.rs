//! `kind: MetricAlarm` — a CloudWatch metric alarm.
//!
//! Spec fields follow Salt's `boto_cloudwatch_alarm` attributes:
//! - `metric`, `namespace`: the metric (`MetricName`, `Namespace`);
//! - `statistic` (one of SampleCount, Average, Sum, Minimum, Maximum) or `extended_statistic`
//!   (a percentile or trimmed statistic such as `p99`), exactly one of them;
//! - `comparison`: `>=`, `>`, `<=`, `<` (Salt's form) or an AWS operator name; `threshold`;
//! - `period` (10, 20, 30 or a multiple of 60 seconds), `evaluation_periods`,
//!   `datapoints_to_alarm` (compared only when written: AWS fills it in);
//! - `unit` (a CloudWatch unit; `None` is no unit), `description` (default empty);
//! - `dimensions`: name → value (a one-element list, as Salt writes it, is accepted);
//! - `alarm_actions`, `ok_actions`, `insufficient_data_actions`: at most 5 each, compared as
//!   sets; `actions_enabled` (default true); `treat_missing_data` (compared only when written);
//! - `tags`, checked by the rules every kind shares (`common::tags`).
//!
//! An action written `scaling_policy:<asg name>:<policy name>` resolves to that scaling
//! policy's ARN (published by the AutoScalingGroup kind); until it exists the alarm waits.
//! Other actions (ARNs) pass through.
//!
//! Reads: `DescribeAlarms` by name, 100 names per call (the API's limit), or every alarm when
//! pruning; then `ListTagsForResource` per alarm — CloudWatch returns no tags with the alarm, and
//! ownership lives in a tag, so this per-resource read is forced by the API.
//!
//! `PutMetricAlarm` replaces the whole alarm, so any difference is one update that sends the whole
//! desired configuration. Tags are authoritative (except AWS's own `aws:` tags).
//!
//! Sections: [`spec`] (the spec and its checks), [`diff`] (live state, changes, the pure diff),
//! `observe` (reading CloudWatch) and `apply` (writing it).

mod apply;
pub mod diff;
mod observe;
pub mod spec;

use crate::aws::Clients;
use crate::core::facts::Published;
use crate::core::{KindError, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};
use crate::kinds::common::errors::{ErrorCodes, NotFound};
use crate::kinds::common::tagging::TagPages;
use crate::kinds::common::{refs, tags};
use diff::{LiveMetricAlarm, MetricAlarmChange};
use spec::MetricAlarmSpec;

/// CloudWatch's codes: what retrying will not fix, and how it says an alarm does not exist.
const CODES: ErrorCodes = ErrorCodes::new(
    &[
        "LimitExceeded",
        "LimitExceededFault",
        "InvalidFormat",
        "InvalidFormatFault",
    ],
    NotFound::Codes(&["ResourceNotFound", "ResourceNotFoundException"]),
);

/// The CloudWatch metric alarm kind.
pub struct MetricAlarm {
    client: aws_sdk_cloudwatch::Client,
    pages: TagPages,
}

impl MetricAlarm {
    pub fn new(clients: &Clients) -> Self {
        MetricAlarm {
            client: clients.cloudwatch.clone(),
            pages: TagPages::new(clients.tagging.clone(), "cloudwatch:alarm"),
        }
    }
}

impl Schema for MetricAlarm {
    const NAME: &'static str = refs::metric_alarm::KIND;
    type Spec = MetricAlarmSpec;

    fn validate_name(name: &str) -> Result<(), String> {
        spec::validate_name(name)
    }

    fn validate(_name: &str, s: &MetricAlarmSpec) -> Vec<String> {
        spec::validate(s)
    }
}

impl Kind for MetricAlarm {
    type Live = LiveMetricAlarm;
    type Change = MetricAlarmChange;

    async fn observe(
        &self,
        scope: &Scope<'_, MetricAlarmSpec>,
    ) -> Result<Observed<LiveMetricAlarm>, KindError> {
        self.read(scope).await
    }

    fn owner(live: &LiveMetricAlarm) -> Option<&str> {
        tags::owner(&live.tags)
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
        diff::diff(ctx, desired, live)
    }

    async fn apply(
        &self,
        _ctx: &DiffCtx<'_>,
        name: &str,
        live: Option<&LiveMetricAlarm>,
        change: &MetricAlarmChange,
    ) -> Result<(), KindError> {
        self.change(name, live, change).await
    }

    async fn delete(&self, name: &str, _live: &LiveMetricAlarm) -> Result<(), KindError> {
        self.remove(name).await
    }
}

#[cfg(test)]
mod tests;
