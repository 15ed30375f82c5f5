use std::collections::BTreeMap;

use super::*;
use crate::core::{Action, Change, MANAGED_BY_TAG};
use crate::kinds::common::fixtures::{map, Fixture};

fn spec(yaml: &str) -> QueueSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

fn live(attrs: &[(&str, &str)], tags: &[(&str, &str)]) -> LiveQueue {
    LiveQueue {
        url: "http://localhost/123456789012/q".into(),
        attributes: map(attrs),
        tags: map(tags),
    }
}

#[test]
fn a_missing_queue_is_created_with_attributes_tags_and_owner() {
    let f = Fixture::new();
    let s = spec("attributes:\n  DelaySeconds: 5\n  RedrivePolicy: {deadLetterTargetArn: 'arn:aws:sqs:us-east-1:1:dlq', maxReceiveCount: 3}\ntags: {team: ops}\n");
    let changes = Queue::diff(&f.ctx(), "q", &s, None).unwrap();
    let QueueChange::Create { attributes, tags } = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(attributes["DelaySeconds"], "5");
    assert!(attributes["RedrivePolicy"].contains("\"maxReceiveCount\":3"));
    assert_eq!(tags["team"], "ops");
    assert_eq!(tags[MANAGED_BY_TAG], "test");
}

#[test]
fn a_dead_letter_queue_in_the_desired_state_is_waited_for() {
    let desired = Fixture::new().desired(refs::queue::KIND, "dlq");
    let s = spec("attributes:\n  RedrivePolicy: {deadLetterTargetArn: 'arn:aws:sqs:us-east-1:1:dlq', maxReceiveCount: 3}\n");
    let pending = Queue::diff(&desired.ctx(), "q", &s, None).unwrap_err();
    assert_eq!(pending.waiting_for, "Queue/dlq");
    // Once it exists, the queue is created.
    let created = Fixture::new().desired(refs::queue::KIND, "dlq").fact(
        refs::queue::ARN,
        "dlq",
        "arn:aws:sqs:us-east-1:1:dlq",
    );
    assert_eq!(
        Queue::diff(&created.ctx(), "q", &s, None).unwrap()[0].action(),
        Action::Create
    );
    // A dead-letter queue managed elsewhere is passed through.
    assert_eq!(
        Queue::diff(&Fixture::new().ctx(), "q", &s, None).unwrap()[0].action(),
        Action::Create
    );
}

#[test]
fn a_fifo_name_creates_a_fifo_queue() {
    let f = Fixture::new();
    let changes = Queue::diff(&f.ctx(), "q.fifo", &QueueSpec::default(), None).unwrap();
    let QueueChange::Create { attributes, .. } = &changes[0] else {
        panic!()
    };
    assert_eq!(attributes["FifoQueue"], "true");
}

#[test]
fn an_equal_queue_needs_nothing() {
    let f = Fixture::new();
    let s = spec("attributes:\n  VisibilityTimeout: 60\n  RedrivePolicy: {deadLetterTargetArn: 'arn:x', maxReceiveCount: 3}\ntags: {team: ops}\n");
    let l = live(
        &[
            ("VisibilityTimeout", "60"),
            ("DelaySeconds", "0"),
            (
                "RedrivePolicy",
                r#"{"maxReceiveCount":"3","deadLetterTargetArn":"arn:x"}"#,
            ),
        ],
        &[
            ("team", "ops"),
            (MANAGED_BY_TAG, "test"),
            ("aws:cloudformation:stack", "x"),
        ],
    );
    assert_eq!(Queue::diff(&f.ctx(), "q", &s, Some(&l)).unwrap(), vec![]);
}

#[test]
fn a_changed_attribute_is_set_and_only_it() {
    let f = Fixture::new();
    let s = spec("attributes:\n  VisibilityTimeout: 60\n  DelaySeconds: '0'\n");
    let l = live(
        &[("VisibilityTimeout", "30"), ("DelaySeconds", "0")],
        &[(MANAGED_BY_TAG, "test")],
    );
    let changes = Queue::diff(&f.ctx(), "q", &s, Some(&l)).unwrap();
    assert_eq!(
        changes,
        vec![QueueChange::SetAttributes(BTreeMap::from([(
            "VisibilityTimeout".to_string(),
            (Some("30".to_string()), "60".to_string())
        )]))]
    );
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "attributes.VisibilityTimeout: 30 → 60"
    );
}

#[test]
fn an_unowned_queue_is_adopted_by_tagging_and_stray_tags_removed() {
    let f = Fixture::new();
    let l = live(&[], &[("stray", "1")]);
    let changes = Queue::diff(&f.ctx(), "q", &QueueSpec::default(), Some(&l)).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].action(), Action::Tag);
    assert!(matches!(&changes[0], QueueChange::Tag(m) if m.contains_key(MANAGED_BY_TAG)));
    assert!(matches!(&changes[1], QueueChange::Untag(m) if m.contains_key("stray")));
}

#[test]
fn fifo_mismatch_needs_replacement_not_an_update() {
    let f = Fixture::new();
    let l = live(&[("FifoQueue", "false")], &[(MANAGED_BY_TAG, "test")]);
    let s = spec("attributes: {FifoQueue: true}\n");
    let changes = Queue::diff(&f.ctx(), "q.fifo", &s, Some(&l)).unwrap();
    assert_eq!(changes[0].action(), Action::Replace);
    // The plan row names the attribute, as before the shared `Replacement`.
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "attributes.FifoQueue (immutable): false → true"
    );
}

#[test]
fn policies_are_summarised_in_plans() {
    let c = QueueChange::SetAttributes(BTreeMap::from([(
        "Policy".to_string(),
        (None, r#"{"Statement":[]}"#.to_string()),
    )]));
    assert!(c.fields()[0]
        .to_string()
        .contains("<policy document, 16 bytes>"));
}

#[test]
fn validation_catches_bad_names_ranges_and_fifo_rules() {
    assert!(Queue::validate_name("ok-name_1.fifo").is_ok());
    assert!(Queue::validate_name("bad name")
        .unwrap_err()
        .contains("only letters"));
    assert!(Queue::validate_name(&"x".repeat(81))
        .unwrap_err()
        .contains("1 to 80"));
    let p = Queue::validate(
        "q",
        &spec(
            "attributes: {DelaySeconds: 901, FifoQueue: true, ContentBasedDeduplication: true}\n",
        ),
    );
    assert!(
        p.iter()
            .any(|m| m.contains("DelaySeconds") && m.contains("0 to 900")),
        "{p:?}"
    );
    assert!(p.iter().any(|m| m.contains("must end in `.fifo`")), "{p:?}");
    assert!(
        p.iter().any(|m| m.contains("ContentBasedDeduplication")),
        "{p:?}"
    );
    let p = Queue::validate(
        "q",
        &spec("attributes:\n  RedrivePolicy: {maxReceiveCount: 3}\n"),
    );
    assert!(p[0].contains("deadLetterTargetArn"), "{p:?}");
}

#[test]
fn validation_messages_keep_their_order() {
    // FIFO rules, then ranges, then true-or-false values, then the redrive policy.
    let p = Queue::validate(
        "q",
        &spec("attributes: {SqsManagedSseEnabled: 'yes', VisibilityTimeout: -1, DeduplicationScope: queue, DelaySeconds: x, RedrivePolicy: {}}\n"),
    );
    assert_eq!(
        p,
        vec![
            "attributes.DeduplicationScope: only FIFO queues (`*.fifo`) have this attribute",
            "attributes.DelaySeconds: `x` must be a whole number from 0 to 900",
            "attributes.VisibilityTimeout: `-1` must be a whole number from 0 to 43200",
            "attributes.SqsManagedSseEnabled: `yes` must be true or false",
            "attributes.RedrivePolicy: needs deadLetterTargetArn (an ARN) and maxReceiveCount",
        ]
    );
}

#[test]
fn tags_are_checked_by_the_shared_rules_counting_characters_and_the_limit() {
    // Lengths are characters, as AWS counts them (this kind used to count bytes).
    let key = "é".repeat(128);
    let value = "ü".repeat(256);
    let s = QueueSpec {
        tags: BTreeMap::from([(key, value)]),
        ..Default::default()
    };
    assert_eq!(Queue::validate("q", &s), Vec::<String>::new());
    // 49 user tags and converge's own make AWS's 50; one more is refused (it used not to be).
    let mut s = QueueSpec {
        tags: (0..49)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect(),
        ..Default::default()
    };
    assert_eq!(Queue::validate("q", &s), Vec::<String>::new());
    s.tags.insert("one-more".into(), "v".into());
    assert_eq!(
        Queue::validate("q", &s),
        vec!["tags: at most 49 tags (AWS allows 50, one is converge's own `converge:managed-by`)"]
    );
    let s = spec("tags: {'aws:x': y, 'converge:managed-by': me}\n");
    let p = Queue::validate("q", &s);
    assert!(
        p.iter()
            .any(|m| m.starts_with("tags.aws:x: the `aws:` prefix is reserved by AWS")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("tags.converge:managed-by: converge sets this tag itself")),
        "{p:?}"
    );
}

#[test]
fn unknown_attributes_and_bad_json_are_schema_errors() {
    assert!(serde_saphyr::from_str::<QueueSpec>("attributes: {Delay: 1}\n").is_err());
    let e = serde_saphyr::from_str::<QueueSpec>("attributes: {RedrivePolicy: '{not json'}\n")
        .unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
}

#[test]
fn facts_are_the_url_and_the_arn() {
    let mut l = live(&[("QueueArn", "arn:aws:sqs:us-east-1:1:q")], &[]);
    let f = crate::kinds::common::fixtures::published::<Queue>("q", &l);
    assert_eq!(f["url"], "http://localhost/123456789012/q");
    assert_eq!(f["arn"], "arn:aws:sqs:us-east-1:1:q");
    l.attributes.clear();
    assert_eq!(
        crate::kinds::common::fixtures::published::<Queue>("q", &l).len(),
        1
    );
    assert_eq!(queue_name(&l.url), "q");
}

#[test]
fn every_attribute_the_spec_takes_is_sent_as_written() {
    let s = spec("attributes: {DelaySeconds: 1, MaximumMessageSize: 1024, MessageRetentionPeriod: 60, ReceiveMessageWaitTimeSeconds: 0, VisibilityTimeout: 0, KmsMasterKeyId: k, KmsDataKeyReusePeriodSeconds: 60, SqsManagedSseEnabled: true, FifoQueue: true, ContentBasedDeduplication: true, DeduplicationScope: queue, FifoThroughputLimit: perQueue, Policy: {a: 1}, RedrivePolicy: {deadLetterTargetArn: x, maxReceiveCount: 1}, RedriveAllowPolicy: '{\"b\": 2}'}\n");
    let serialised = serde_json::to_value(&s.attributes).unwrap();
    let written = s.attributes.written();
    assert_eq!(written.len(), serialised.as_object().unwrap().len());
    assert_eq!(written.len(), 15);
    let text = |name: &str| {
        written
            .iter()
            .find(|w| w.0 == name)
            .map(|w| w.1.clone())
            .unwrap()
    };
    assert_eq!(text("DelaySeconds"), "1");
    assert_eq!(text("SqsManagedSseEnabled"), "true");
    assert_eq!(text("RedriveAllowPolicy"), r#"{"b":2}"#);
    assert_eq!(Queue::validate("q.fifo", &s), Vec::<String>::new());
}
