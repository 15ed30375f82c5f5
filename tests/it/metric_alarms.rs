//! `kind: MetricAlarm` end to end against moto (through the CloudWatch CBOR shim).

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// A notification topic (moto does not check that it exists).
const SNS: &str = "arn:aws:sns:us-east-1:123456789012:hipchat-notify";

const MUTATING: &[&str] = &[
    "PutMetricAlarm",
    "DeleteAlarms",
    "TagResource",
    "UntagResource",
];

fn alarm_doc(name: &str, threshold: &str, actions: &[&str]) -> String {
    let actions: String = actions.iter().map(|a| format!("    - '{a}'\n")).collect();
    format!(
        "---\napiVersion: converge/v1\nkind: MetricAlarm\nmetadata:\n  name: {name}\nspec:\n  metric: CPUUtilization\n  namespace: AWS/EC2\n  statistic: Average\n  comparison: '>='\n  threshold: {threshold}\n  period: 300\n  evaluation_periods: 1\n  unit: null\n  description: ''\n  dimensions:\n    AutoScalingGroupName:\n      - {name}-asg\n  alarm_actions:\n{actions}  ok_actions: []\n  insufficient_data_actions: []\n  tags:\n    team: ops\n"
    )
}

async fn describe(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> Option<aws_sdk_cloudwatch::types::MetricAlarm> {
    cw.describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .expect("describe alarms")
        .metric_alarms()
        .first()
        .cloned()
}

#[tokio::test]
async fn alarms_converge_and_drift_is_corrected() {
    let cw = aws_sdk_cloudwatch::Client::new(&sdk_config(AREA));
    let name = unique("alarm");
    let id = unique("ctl");
    let sns = SNS;
    let d = Desired::new();
    d.write("alarms.yaml", &alarm_doc(&name, "50.0", &[sns]));

    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let a = describe(&cw, &name).await.expect("alarm created");
    assert_eq!(a.threshold(), Some(50.0));
    assert_eq!(
        a.comparison_operator().map(|c| c.as_str()),
        Some("GreaterThanOrEqualToThreshold")
    );
    assert_eq!(a.alarm_actions(), [sns.to_string()]);
    assert_eq!(
        a.dimensions()[0].value(),
        Some(format!("{name}-asg").as_str())
    );
    let tags = cw
        .list_tags_for_resource()
        .resource_arn(a.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some("converge:managed-by") && t.value() == Some(id.as_str())));

    let second = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--controller-id", &id],
    );
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let line = stderr(&second)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .to_string();
    for op in MUTATING {
        assert!(!line.contains(op), "no-change apply called {op}: {line}");
    }
    assert!(line.contains("CloudWatch.DescribeAlarms 1"), "{line}");

    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("converged", 20, |r| {
        r.metric("converge_resources{kind=\"MetricAlarm\",state=\"converged\"}") == 1.0
    });
    cw.put_metric_alarm()
        .alarm_name(&name)
        .metric_name("CPUUtilization")
        .namespace("AWS/EC2")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .threshold(99.0)
        .period(300)
        .evaluation_periods(1)
        .send()
        .await
        .expect("out-of-band edit");
    run.wait_for("drift counted", 15, |r| {
        r.metric("converge_drift_detected_total{kind=\"MetricAlarm\"}") >= 1.0
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let a = describe(&cw, &name).await.expect("alarm");
        if a.threshold() == Some(50.0) && a.alarm_actions() == [sns.to_string()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not corrected: {a:?}\n{}",
            run.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_alarm_naming_a_missing_scaling_policy_waits_and_says_for_what() {
    let cw = aws_sdk_cloudwatch::Client::new(&sdk_config(AREA));
    let name = unique("waiting");
    let d = Desired::new();
    d.write(
        "a.yaml",
        &alarm_doc(&name, "10", &["scaling_policy:no-such-group:ScaleUp"]),
    );
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &unique("ctl")],
    );
    run.wait_sweeps("MetricAlarm", 3.0, 20);
    let status = run.status();
    let r = &kind_status(&status, "MetricAlarm")["resources"][0];
    assert_eq!(r["state"], "pending", "{status}");
    assert_eq!(
        r["waiting_for"], "AutoScalingGroup/no-such-group scaling policy ScaleUp",
        "{status}"
    );
    assert!(
        describe(&cw, &name).await.is_none(),
        "created an alarm with an unresolved action"
    );
    assert_eq!(
        run.metric("converge_reconcile_errors_total{class=\"dependency\",kind=\"MetricAlarm\"}"),
        0.0
    );
    assert_eq!(
        run.metric("converge_reconcile_errors_total{class=\"retryable\",kind=\"MetricAlarm\"}"),
        0.0
    );
}

#[test]
fn tags_come_in_pages_and_an_alarm_the_pages_do_not_show_yet_is_read_not_rewritten() {
    use crate::common::tagging::{
        a_resource_the_pages_do_not_show_is_read_not_rewritten, TaggedKind,
    };
    let p = unique("paged");
    let (shown, hidden) = (format!("{p}-shown"), format!("{p}-hidden"));
    let d = Desired::new();
    d.write(
        "alarms.yaml",
        &format!(
            "{}{}",
            alarm_doc(&shown, "70", &[SNS]),
            alarm_doc(&hidden, "70", &[SNS])
        ),
    );
    let alarm = TaggedKind {
        kind: "MetricAlarm",
        service: "cloudwatch",
        read_tags: "ListTagsForResource",
        write: "PutMetricAlarm",
        tag: "TagResource",
    };
    a_resource_the_pages_do_not_show_is_read_not_rewritten(
        &d,
        &moto(AREA).endpoint,
        &hidden,
        &alarm,
    );
}
