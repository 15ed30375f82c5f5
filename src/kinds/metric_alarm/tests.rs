use std::collections::BTreeMap;

use super::diff::{desired_config, AlarmConfig};
use super::*;
use crate::core::{Action, Change, MANAGED_BY_TAG};
use crate::kinds::common::fixtures::{Fixture, CONTROLLER};

fn spec(yaml: &str) -> MetricAlarmSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

const SEED_UP: &str = "metric: CPUUtilization\nnamespace: AWS/EC2\nstatistic: Average\ncomparison: '>='\nthreshold: 50.0\nperiod: 300\nevaluation_periods: 1\nunit: null\ndescription: ''\ndimensions:\n  AutoScalingGroupName:\n    - myapp-testing-useast1\nalarm_actions:\n  - 'scaling_policy:myapp-testing-useast1:ScaleUp'\n  - 'arn:aws:sns:us-east-1:123456789012:hipchat-notify'\ninsufficient_data_actions: []\nok_actions: []\n";

fn with_policy() -> Fixture {
    Fixture::new().fact_in(
        refs::auto_scaling_group::POLICY_ARN,
        "myapp-testing-useast1",
        "ScaleUp",
        "arn:aws:autoscaling:us-east-1:1:scalingPolicy:x:autoScalingGroupName/myapp-testing-useast1:policyName/ScaleUp",
    )
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
    let e =
        serde_saphyr::from_str::<MetricAlarmSpec>(&SEED_UP.replace("'>='", "'=>'")).unwrap_err();
    assert!(e.to_string().contains("unknown comparison `=>`"), "{e}");
    let e = serde_saphyr::from_str::<MetricAlarmSpec>(
        &SEED_UP.replace("    - myapp-testing-useast1\n", "    - a\n    - b\n"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("exactly one value"), "{e}");
}

#[test]
fn a_scaling_policy_action_waits_for_the_policy_then_resolves() {
    let f = Fixture::new();
    let p = MetricAlarm::diff(&f.ctx(), "a", &spec(SEED_UP), None).unwrap_err();
    assert_eq!(
        p.waiting_for,
        "AutoScalingGroup/myapp-testing-useast1 scaling policy ScaleUp"
    );
    let f = with_policy();
    let c = MetricAlarm::diff(&f.ctx(), "a", &spec(SEED_UP), None).unwrap();
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
    assert_eq!(tags[MANAGED_BY_TAG], CONTROLLER);
}

#[test]
fn an_equal_alarm_needs_nothing_whatever_the_action_order() {
    let f = with_policy();
    let want = desired_config(&f.ctx(), &spec(SEED_UP)).unwrap();
    let live = live_from(want.clone(), CONTROLLER);
    assert_eq!(
        MetricAlarm::diff(&f.ctx(), "a", &spec(SEED_UP), Some(&live)).unwrap(),
        vec![]
    );
    // AWS-filled fields the spec does not write are not differences.
    let mut filled = want;
    filled.datapoints_to_alarm = Some(1);
    filled.treat_missing_data = Some("missing".into());
    let live = live_from(filled, CONTROLLER);
    assert_eq!(
        MetricAlarm::diff(&f.ctx(), "a", &spec(SEED_UP), Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn a_changed_threshold_is_one_update_naming_the_field() {
    let f = with_policy();
    let mut live_cfg = desired_config(&f.ctx(), &spec(SEED_UP)).unwrap();
    live_cfg.threshold = 80.0;
    let live = live_from(live_cfg, CONTROLLER);
    let c = MetricAlarm::diff(&f.ctx(), "a", &spec(SEED_UP), Some(&live)).unwrap();
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
fn a_new_alarm_plans_every_field_then_its_tags() {
    let f = with_policy();
    let s = spec(&format!("{SEED_UP}tags:\n  team: ops\n"));
    let c = MetricAlarm::diff(&f.ctx(), "a", &s, None).unwrap();
    let shown: Vec<String> = c[0].fields().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "metric: (none) → CPUUtilization",
            "namespace: (none) → AWS/EC2",
            "statistic: (none) → Average",
            "extended_statistic: (none) → (none)",
            "comparison: (none) → GreaterThanOrEqualToThreshold",
            "threshold: (none) → 50",
            "period: (none) → 300",
            "evaluation_periods: (none) → 1",
            "unit: (none) → (none)",
            "description: (none) → ",
            "dimensions: (none) → {AutoScalingGroupName: myapp-testing-useast1}",
            "alarm_actions: (none) → [arn:aws:autoscaling:us-east-1:1:scalingPolicy:x:autoScalingGroupName/myapp-testing-useast1:policyName/ScaleUp, arn:aws:sns:us-east-1:123456789012:hipchat-notify]",
            "ok_actions: (none) → []",
            "insufficient_data_actions: (none) → []",
            "actions_enabled: (none) → true",
            "tags.converge:managed-by: (none) → test",
            "tags.team: (none) → ops",
        ]
    );
    // Written optional fields are compared, and planned, like the others.
    let s = spec(&SEED_UP.replace(
        "unit: null",
        "unit: Percent\ndatapoints_to_alarm: 1\ntreat_missing_data: ignore",
    ));
    let mut live_cfg = desired_config(&f.ctx(), &s).unwrap();
    live_cfg.datapoints_to_alarm = None;
    live_cfg.treat_missing_data = Some("missing".into());
    let live = live_from(live_cfg, CONTROLLER);
    let c = MetricAlarm::diff(&f.ctx(), "a", &s, Some(&live)).unwrap();
    let shown: Vec<String> = c[0].fields().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "datapoints_to_alarm: (none) → 1",
            "treat_missing_data: missing → ignore"
        ]
    );
}

#[test]
fn tags_are_set_then_strays_removed() {
    let f = with_policy();
    let s = spec(&format!("{SEED_UP}tags:\n  team: ops\n"));
    let mut live = live_from(desired_config(&f.ctx(), &s).unwrap(), "other");
    live.tags.insert("stray".into(), "x".into());
    live.tags
        .insert("aws:cloudformation:stack-id".into(), "y".into());
    let c = MetricAlarm::diff(&f.ctx(), "a", &s, Some(&live)).unwrap();
    let shown: Vec<Vec<String>> = c
        .iter()
        .map(|c| c.fields().iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        shown,
        vec![
            vec![
                "tags.converge:managed-by: other → test",
                "tags.team: (none) → ops"
            ],
            vec!["tags.stray: x → (none)"],
        ]
    );
    assert_eq!(MetricAlarm::owner(&live), Some("other"));
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

#[test]
fn units_and_extended_statistics_are_checked() {
    let with_unit = |u: &str| MetricAlarm::validate("a", &spec(&SEED_UP.replace("null", u)));
    for ok in ["Percent", "Bytes/Second", "Count/Second", "None"] {
        assert!(with_unit(ok).is_empty(), "{ok}: {:?}", with_unit(ok));
    }
    assert_eq!(
        with_unit("Percents"),
        vec!["unit: `Percents` is not a CloudWatch unit (e.g. Percent, Count, Seconds)"]
    );
    let ext = |e: &str| {
        MetricAlarm::validate(
            "a",
            &spec(&SEED_UP.replace("statistic: Average", &format!("extended_statistic: {e}"))),
        )
    };
    for ok in ["p99", "tm90", "TM(10%:90%)", "PR(:300)", "wm99"] {
        assert!(ext(ok).is_empty(), "{ok}: {:?}", ext(ok));
    }
    assert_eq!(
        ext("q99"),
        vec!["extended_statistic: `q99` is not a percentile or trimmed statistic (e.g. p99, tm90)"]
    );
}

#[test]
fn tags_follow_the_shared_rules() {
    let with_tags =
        |tags: &str| MetricAlarm::validate("a", &spec(&format!("{SEED_UP}tags:\n{tags}")));
    assert_eq!(
        with_tags("  aws:x: y\n"),
        vec!["tags.aws:x: the `aws:` prefix is reserved by AWS"]
    );
    assert_eq!(
        with_tags("  converge:managed-by: me\n"),
        vec!["tags.converge:managed-by: converge sets this tag itself (from --controller-id)"]
    );
    // Lengths count characters, as AWS does: 256 two-byte characters are a valid value.
    assert!(with_tags(&format!("  k: {}\n", "é".repeat(256))).is_empty());
    let p = with_tags(&format!(
        "  {}: v\n  k: {}\n",
        "x".repeat(129),
        "v".repeat(257)
    ));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].ends_with("a tag value must be at most 256 characters"),
        "{p:?}"
    );
    assert!(
        p[1].ends_with("a tag key must be 1 to 128 characters long"),
        "{p:?}"
    );
    // 49 tags and converge's own make AWS's 50; one more is too many.
    let many: String = (0..49).map(|i| format!("  k{i}: v\n")).collect();
    assert!(with_tags(&many).is_empty());
    assert_eq!(
        with_tags(&format!("{many}  one-more: v\n")),
        vec!["tags: at most 49 tags (AWS allows 50, one is converge's own `converge:managed-by`)"]
    );
}
