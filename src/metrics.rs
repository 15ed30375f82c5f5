//! Every metric converge exports, registered on one `prometheus::Registry`.
//!
//! Labels stay bounded: the shard (`account` alias and `region`, `global` for IAM and Route
//! 53), kind, state, action, error class, AWS service and operation. Never a resource name, an
//! ARN or error text.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// All of converge's metrics.
pub struct Metrics {
    pub registry: Registry,
    /// `converge_resources{kind,state}`: state ∈ converged, pending, failed.
    pub resources: IntGaugeVec,
    /// `converge_drift_detected_total{kind}`: a converged resource found changed out of band.
    pub drift_detected: IntCounterVec,
    /// `converge_changes_applied_total{kind,action}`: action ∈ create, update, delete, tag.
    pub changes_applied: IntCounterVec,
    /// `converge_reconcile_errors_total{kind,class}`.
    pub reconcile_errors: IntCounterVec,
    /// `converge_sweep_duration_seconds{kind}`.
    pub sweep_duration: HistogramVec,
    /// `converge_last_sweep_timestamp_seconds{kind}`: end of the last complete sweep.
    pub last_sweep: IntGaugeVec,
    /// `converge_aws_api_calls_total{service,operation}`: every HTTP attempt the SDK makes.
    pub aws_calls: IntCounterVec,
    /// `converge_desired_valid`: 1 when the last load of the desired tree succeeded.
    pub desired_valid: IntGauge,
    /// `converge_desired_loads_total`: reads of the desired tree (events, polls), valid or not.
    pub desired_loads: IntCounter,
    /// `converge_desired_generation`: increases with each changed valid tree.
    pub desired_generation: IntGauge,
    /// `converge_desired_info{revision}`: the revision served (one series at a time).
    pub desired_info: IntGaugeVec,
    /// `converge_deletions_refused_total`: prune deletions refused by a safety guard.
    pub deletions_refused: IntCounter,
    /// `converge_kind_ready{kind}`: 1 once the kind completed a sweep and its last listing worked.
    pub kind_ready: IntGaugeVec,
    /// `converge_apply_duration_seconds`: wall time of one AWS mutation (any kind).
    pub apply_duration: Histogram,
    /// `converge_shard_up{account,region}`: 1 while the shard runs, 0 while its credentials
    /// or its account id check fail.
    pub shard_up: IntGaugeVec,
    /// `converge_lease_held{shard}`: 1 while this replica holds the shard's lease (high
    /// availability), 0 while another replica (or none) does.
    pub lease_held: IntGaugeVec,
    /// `converge_lease_transitions_total{shard}`: this replica acquired or lost the lease.
    pub lease_transitions: IntCounterVec,
    /// `converge_lease_renewals_total{shard,result}`: result ∈ ok, recovered (the response was
    /// lost but the write had landed), lost, error.
    pub lease_renewals: IntCounterVec,
    /// `converge_lease_renew_age_seconds{shard}`: time since the last renewal that landed, on
    /// the replica holding the shard.
    pub lease_renew_age: GaugeVec,
    /// `converge_lease_fenced_calls_total{service,operation}`: mutating requests refused
    /// because the shard's lease had passed its renew deadline.
    pub lease_fenced_calls: IntCounterVec,
    revision: Mutex<Option<String>>,
}

/// The states of `converge_resources`.
const STATES: [&str; 3] = ["converged", "pending", "failed"];
/// The actions of `converge_changes_applied_total`.
const ACTIONS: [&str; 4] = ["create", "update", "delete", "tag"];
/// The classes of `converge_reconcile_errors_total`. `dependency` is never counted (waiting
/// for another resource is the pending state, not an error); its series stays at 0 so rules
/// and dashboards written against it (`class!="dependency"`) keep their meaning.
const ERROR_CLASSES: [&str; 5] = [
    "throttled",
    "retryable",
    "terminal",
    "dependency",
    "conflict",
];

/// The labels of one kind in one shard, as every per-kind series carries them.
#[derive(Debug, Clone, Copy)]
pub struct KindLabels<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub kind: &'a str,
}

impl Metrics {
    /// Builds and registers every metric. Fails only on a programming error (a duplicate name).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let resources = IntGaugeVec::new(
            Opts::new(
                "converge_resources",
                "Desired resources by kind and state (converged, pending, failed).",
            ),
            &["account", "region", "kind", "state"],
        )?;
        let drift_detected = IntCounterVec::new(
            Opts::new(
                "converge_drift_detected_total",
                "Converged resources found changed out of band.",
            ),
            &["account", "region", "kind"],
        )?;
        let changes_applied = IntCounterVec::new(
            Opts::new(
                "converge_changes_applied_total",
                "Mutating changes applied, by action (create, update, delete, tag).",
            ),
            &["account", "region", "kind", "action"],
        )?;
        let reconcile_errors = IntCounterVec::new(
            Opts::new(
                "converge_reconcile_errors_total",
                "Reconcile errors by class (throttled, retryable, terminal, dependency, conflict).",
            ),
            &["account", "region", "kind", "class"],
        )?;
        let sweep_duration = HistogramVec::new(
            HistogramOpts::new(
                "converge_sweep_duration_seconds",
                "Duration of one sweep of a kind (observe, diff, apply).",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ]),
            &["account", "region", "kind"],
        )?;
        let last_sweep = IntGaugeVec::new(
            Opts::new(
                "converge_last_sweep_timestamp_seconds",
                "Unix time at which the last sweep of a kind completed.",
            ),
            &["account", "region", "kind"],
        )?;
        let aws_calls = IntCounterVec::new(
            Opts::new(
                "converge_aws_api_calls_total",
                "AWS API requests sent (every attempt, retries included).",
            ),
            &["account", "region", "service", "operation"],
        )?;
        let desired_valid = IntGauge::new(
            "converge_desired_valid",
            "1 if the last load of the desired tree succeeded, else 0.",
        )?;
        let desired_loads = IntCounter::new(
            "converge_desired_loads_total",
            "Reads of the desired tree (on filesystem events and polls), valid or not.",
        )?;
        let desired_generation = IntGauge::new(
            "converge_desired_generation",
            "Generation of the desired state in force.",
        )?;
        let desired_info = IntGaugeVec::new(
            Opts::new(
                "converge_desired_info",
                "The revision of the desired state in force (value always 1).",
            ),
            &["revision"],
        )?;
        let deletions_refused = IntCounter::new(
            "converge_deletions_refused_total",
            "Prune deletions refused by a safety guard (max deletions, empty desired state).",
        )?;
        let kind_ready = IntGaugeVec::new(
            Opts::new(
                "converge_kind_ready",
                "1 once a kind completed a sweep and its last listing of AWS succeeded.",
            ),
            &["account", "region", "kind"],
        )?;
        let apply_duration = Histogram::with_opts(
            HistogramOpts::new(
                "converge_apply_duration_seconds",
                "Duration of one mutating change (all its AWS calls).",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let shard_up = IntGaugeVec::new(
            Opts::new(
                "converge_shard_up",
                "1 while a shard (account/region) runs; 0 while its credentials or account id check fail.",
            ),
            &["account", "region"],
        )?;
        let lease_held = IntGaugeVec::new(
            Opts::new(
                "converge_lease_held",
                "1 while this replica holds the shard's lease; 0 while another replica or none does.",
            ),
            &["shard"],
        )?;
        let lease_transitions = IntCounterVec::new(
            Opts::new(
                "converge_lease_transitions_total",
                "Times this replica acquired or lost a shard's lease.",
            ),
            &["shard"],
        )?;
        let lease_renewals = IntCounterVec::new(
            Opts::new(
                "converge_lease_renewals_total",
                "Lease renewals by result (ok, recovered, lost, error).",
            ),
            &["shard", "result"],
        )?;
        let lease_renew_age = GaugeVec::new(
            Opts::new(
                "converge_lease_renew_age_seconds",
                "Seconds since the last renewal of a held lease that landed.",
            ),
            &["shard"],
        )?;
        let lease_fenced_calls = IntCounterVec::new(
            Opts::new(
                "converge_lease_fenced_calls_total",
                "Mutating AWS requests refused because the shard's lease had passed its renew deadline.",
            ),
            &["service", "operation"],
        )?;
        registry.register(Box::new(lease_held.clone()))?;
        registry.register(Box::new(lease_transitions.clone()))?;
        registry.register(Box::new(lease_renewals.clone()))?;
        registry.register(Box::new(lease_renew_age.clone()))?;
        registry.register(Box::new(lease_fenced_calls.clone()))?;
        registry.register(Box::new(shard_up.clone()))?;
        registry.register(Box::new(resources.clone()))?;
        registry.register(Box::new(drift_detected.clone()))?;
        registry.register(Box::new(changes_applied.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        registry.register(Box::new(sweep_duration.clone()))?;
        registry.register(Box::new(last_sweep.clone()))?;
        registry.register(Box::new(aws_calls.clone()))?;
        registry.register(Box::new(desired_valid.clone()))?;
        registry.register(Box::new(desired_generation.clone()))?;
        registry.register(Box::new(desired_loads.clone()))?;
        registry.register(Box::new(desired_info.clone()))?;
        registry.register(Box::new(deletions_refused.clone()))?;
        registry.register(Box::new(kind_ready.clone()))?;
        registry.register(Box::new(apply_duration.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            resources,
            drift_detected,
            changes_applied,
            reconcile_errors,
            sweep_duration,
            last_sweep,
            aws_calls,
            desired_valid,
            desired_generation,
            desired_loads,
            desired_info,
            deletions_refused,
            kind_ready,
            apply_duration,
            shard_up,
            lease_held,
            lease_transitions,
            lease_renewals,
            lease_renew_age,
            lease_fenced_calls,
            revision: Mutex::new(None),
        })
    }

    /// Makes every per-kind series exist (at 0) from the start, so alerts and dashboards see
    /// them before the first event.
    pub fn init_kind(&self, l: KindLabels<'_>) {
        for state in STATES {
            self.resources(l, state).set(0);
        }
        self.drift(l);
        for action in ACTIONS {
            self.changes(l, action);
        }
        for class in ERROR_CLASSES {
            self.errors(l, class);
        }
        self.kind_ready(l).set(0);
    }

    /// Removes every per-kind series of a kind whose loop stopped here (its shard's lease went
    /// to another replica, or its account left the tree), so this process stops reporting
    /// a shard it no longer reconciles (its last-sweep time would only grow old).
    pub fn forget_kind(&self, l: KindLabels<'_>) {
        let kind = [l.account, l.region, l.kind];
        for state in STATES {
            let _ = self
                .resources
                .remove_label_values(&[l.account, l.region, l.kind, state]);
        }
        for action in ACTIONS {
            let _ = self
                .changes_applied
                .remove_label_values(&[l.account, l.region, l.kind, action]);
        }
        for class in ERROR_CLASSES {
            let _ = self
                .reconcile_errors
                .remove_label_values(&[l.account, l.region, l.kind, class]);
        }
        let _ = self.drift_detected.remove_label_values(&kind);
        let _ = self.sweep_duration.remove_label_values(&kind);
        let _ = self.last_sweep.remove_label_values(&kind);
        let _ = self.kind_ready.remove_label_values(&kind);
    }

    /// `converge_resources` of one kind in one state.
    pub fn resources(&self, l: KindLabels<'_>, state: &str) -> IntGauge {
        self.resources
            .with_label_values(&[l.account, l.region, l.kind, state])
    }

    /// `converge_drift_detected_total` of one kind.
    pub fn drift(&self, l: KindLabels<'_>) -> IntCounter {
        self.drift_detected
            .with_label_values(&[l.account, l.region, l.kind])
    }

    /// `converge_changes_applied_total` of one kind and action.
    pub fn changes(&self, l: KindLabels<'_>, action: &str) -> IntCounter {
        self.changes_applied
            .with_label_values(&[l.account, l.region, l.kind, action])
    }

    /// `converge_reconcile_errors_total` of one kind and class.
    pub fn errors(&self, l: KindLabels<'_>, class: &str) -> IntCounter {
        self.reconcile_errors
            .with_label_values(&[l.account, l.region, l.kind, class])
    }

    /// `converge_sweep_duration_seconds` of one kind.
    pub fn sweep_duration(&self, l: KindLabels<'_>) -> Histogram {
        self.sweep_duration
            .with_label_values(&[l.account, l.region, l.kind])
    }

    /// `converge_last_sweep_timestamp_seconds` of one kind.
    pub fn last_sweep(&self, l: KindLabels<'_>) -> IntGauge {
        self.last_sweep
            .with_label_values(&[l.account, l.region, l.kind])
    }

    /// `converge_kind_ready` of one kind.
    pub fn kind_ready(&self, l: KindLabels<'_>) -> IntGauge {
        self.kind_ready
            .with_label_values(&[l.account, l.region, l.kind])
    }

    /// Replaces the `converge_desired_info` series with the new revision (one series at a time).
    pub fn set_revision(&self, revision: Option<&str>) {
        let Ok(mut cur) = self.revision.lock() else {
            return;
        };
        let new = revision.unwrap_or("unknown").to_string();
        if let Some(old) = cur.as_ref() {
            if *old == new {
                return;
            }
            let _ = self.desired_info.remove_label_values(&[old]);
        }
        self.desired_info.with_label_values(&[&new]).set(1);
        *cur = Some(new);
    }

    /// `("Service.Operation", count)` for every AWS operation called so far, every shard
    /// together, sorted.
    pub fn aws_calls_families(&self) -> Vec<(String, u64)> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for (labels, n) in self.aws_calls_series() {
            *out.entry(format!("{}.{}", labels[2], labels[3]))
                .or_default() += n;
        }
        out.into_iter().collect()
    }

    /// `("<account>/<region>", count)`: AWS API calls per shard, sorted.
    pub fn aws_calls_by_shard(&self) -> Vec<(String, u64)> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for (labels, n) in self.aws_calls_series() {
            *out.entry(format!("{}/{}", labels[0], labels[1]))
                .or_default() += n;
        }
        out.into_iter().collect()
    }

    /// Every `converge_aws_api_calls_total` series: [account, region, service, operation].
    fn aws_calls_series(&self) -> Vec<([String; 4], u64)> {
        let mut out = Vec::new();
        for mf in self.registry.gather() {
            if mf.name() != "converge_aws_api_calls_total" {
                continue;
            }
            for m in mf.get_metric() {
                let label = |n: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == n)
                        .map(|l| l.value().to_string())
                        .unwrap_or_default()
                };
                out.push((
                    ["account", "region", "service", "operation"].map(label),
                    m.get_counter().get_value() as u64,
                ));
            }
        }
        out
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        if let Err(e) = enc.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_info_keeps_one_series() {
        let m = Metrics::new().unwrap();
        m.set_revision(Some("abc"));
        m.set_revision(Some("def"));
        let text = m.render();
        assert!(text.contains("converge_desired_info{revision=\"def\"} 1"));
        assert!(!text.contains("revision=\"abc\""));
    }

    #[test]
    fn kind_series_exist_at_zero() {
        let m = Metrics::new().unwrap();
        m.init_kind(KindLabels {
            account: "staging",
            region: "us-east-1",
            kind: "Queue",
        });
        let text = m.render();
        assert!(text.contains("converge_resources{account=\"staging\",kind=\"Queue\",region=\"us-east-1\",state=\"failed\"} 0"), "{text}");
        assert!(text.contains("converge_changes_applied_total{account=\"staging\",action=\"tag\",kind=\"Queue\",region=\"us-east-1\"} 0"));
    }
}
