use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::observe::decode_or_raw;
use super::spec::default_trust_policy;
use super::*;
use crate::core::{Action, Change, MANAGED_BY_TAG};
use crate::kinds::common::fixtures::{published, Fixture, CONTROLLER};
use crate::kinds::common::json::JsonDoc;

/// What an empty spec (`{}`) reads as.
impl Default for IamRoleSpec {
    fn default() -> Self {
        IamRoleSpec {
            policy_document: None,
            policies: BTreeMap::new(),
            managed_policies: Vec::new(),
            path: "/".to_string(),
            tags: BTreeMap::new(),
            instance_profile: true,
            description: None,
            max_session_duration: None,
        }
    }
}

fn spec(yaml: &str) -> IamRoleSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

/// The seed's role (myapp.sls), as a converge spec.
const SEED: &str = r#"
policies:
  myapp-testing-useast1:
    Version: '2012-10-17'
    Statement:
      - Action:
          - 'elasticloadbalancing:DeregisterInstancesFromLoadBalancer'
          - 'elasticloadbalancing:RegisterInstancesWithLoadBalancer'
        Effect: 'Allow'
        Resource: 'arn:aws:elasticloadbalancing:*:*:loadbalancer/myapp-testing-useast1'
      - Action: ['s3:Head*', 's3:Get*']
        Effect: 'Allow'
        Resource: ['arn:aws:s3:::bootstrap/deploy/myapp/*']
      - Action: ['s3:List*', 's3:Get*']
        Effect: 'Allow'
        Resource: ['arn:aws:s3:::bootstrap']
        Condition:
          StringLike:
            's3:prefix': ['deploy/myapp/*']
      - Action: ['ec2:DescribeTags']
        Effect: 'Allow'
        Resource: ['*']
  myapp-testing-sqs:
    Version: '2012-10-17'
    Statement:
      - Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage']
        Effect: 'Allow'
        Resource: ['arn:aws:sqs:*:*:myapp-testing-*']
        Sid: 'myapptestingsqs1'
"#;

/// The live role converge would have created from `s`, as IAM lists it back: policies
/// reordered and with scalars for one-element lists.
fn live_from(s: &IamRoleSpec, name: &str) -> LiveIamRole {
    LiveIamRole {
        arn: format!("arn:aws:iam::123456789012:role/{name}"),
        path: "/".into(),
        trust_policy: JsonDoc::from(
            json!({"Version": "2012-10-17", "Statement": {"Action": "sts:AssumeRole",
            "Principal": {"Service": ["ec2.amazonaws.com"]}, "Effect": "Allow"}}),
        ),
        policies: s
            .policies
            .iter()
            .map(|(k, v)| {
                let mut doc = v.value();
                if let Some(Value::Array(st)) = doc.get_mut("Statement") {
                    st.reverse();
                }
                (k.clone(), JsonDoc::from(doc))
            })
            .collect(),
        managed_policies: s.managed_policies.iter().cloned().collect(),
        instance_profiles: vec![LiveInstanceProfile {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:instance-profile/{name}"),
            roles: vec![name.into()],
        }],
        tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), CONTROLLER.to_string())]),
        description: None,
        max_session_duration: None,
    }
}

#[test]
fn a_missing_role_is_created_with_its_policies_and_instance_profile_in_order() {
    let f = Fixture::new();
    let mut s = spec(SEED);
    s.managed_policies = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
    s.tags.insert("team".into(), "ops".into());
    let changes = IamRole::diff(&f.ctx(), "r", &s, None).unwrap();
    let IamRoleChange::Create {
        path,
        trust_policy,
        tags,
        ..
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(path, "/");
    assert_eq!(trust_policy, &default_trust_policy());
    assert_eq!(tags[MANAGED_BY_TAG], CONTROLLER);
    assert_eq!(tags["team"], "ops");
    let kinds: Vec<String> = changes[1..]
        .iter()
        .map(|c| c.fields()[0].field.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "policies.myapp-testing-sqs",
            "policies.myapp-testing-useast1",
            "managed_policies",
            "instance_profile"
        ]
    );
    assert_eq!(changes[4].action(), Action::Create);
}

#[test]
fn instance_profile_false_creates_none() {
    let f = Fixture::new();
    let s = spec("instance_profile: false\n");
    let changes = IamRole::diff(&f.ctx(), "r", &s, None).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    // Salt's argument name is accepted too.
    let s = spec("create_instance_profile: false\n");
    let mut live = live_from(&s, "r");
    live.instance_profiles.clear();
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn a_role_as_iam_lists_it_back_needs_nothing() {
    let f = Fixture::new();
    let s = spec(SEED);
    let live = live_from(&s, "r");
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap(),
        vec![]
    );
    // The same, straight from IAM's URL-encoded text.
    let mut live = live;
    let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Sid%22%3A%20%22myapptestingsqs1%22%2C%20%22Effect%22%3A%20%22Allow%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3Asqs%3A%2A%3A%2A%3Amyapp-testing-%2A%22%2C%20%22Action%22%3A%20%5B%22sqs%3ADeleteMessage%22%2C%20%22sqs%3AReceiveMessage%22%5D%7D%5D%7D";
    live.policies
        .insert("myapp-testing-sqs".into(), decode_or_raw(encoded).into());
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn a_changed_inline_policy_is_put_again_and_summarised() {
    let f = Fixture::new();
    let s = spec(SEED);
    let mut live = live_from(&s, "r");
    let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]});
    live.policies
        .insert("myapp-testing-sqs".into(), other.clone().into());
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let IamRoleChange::PutPolicy {
        policy, live: old, ..
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(policy, "myapp-testing-sqs");
    assert_eq!(old.as_ref(), Some(&other));
    let shown = changes[0].fields()[0].to_string();
    assert!(
        shown.starts_with("policies.myapp-testing-sqs: <policy document, 1 statement, "),
        "{shown}"
    );
    assert!(
        !shown.contains("sqs:*") && !shown.contains("ReceiveMessage"),
        "policy body leaked: {shown}"
    );
}

#[test]
fn inline_policies_not_in_the_spec_are_deleted_after_the_puts() {
    let f = Fixture::new();
    let s = spec(SEED);
    let mut live = live_from(&s, "r");
    live.policies.remove("myapp-testing-sqs");
    live.policies
        .insert("stray".into(), json!({"Statement": []}).into());
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert!(
        matches!(&changes[0], IamRoleChange::PutPolicy { policy, live: None, .. } if policy == "myapp-testing-sqs"),
        "{changes:?}"
    );
    assert!(
        matches!(&changes[1], IamRoleChange::DeletePolicy { policy, .. } if policy == "stray"),
        "{changes:?}"
    );
    assert_eq!(changes[1].fields()[0].to, None);
}

#[test]
fn managed_policies_are_attached_and_detached() {
    let f = Fixture::new();
    let s = spec("managed_policies: ['arn:aws:iam::1:policy/a', 'arn:aws:iam::1:policy/b']\n");
    let mut live = live_from(&IamRoleSpec::default(), "r");
    live.managed_policies = BTreeSet::from([
        "arn:aws:iam::1:policy/b".to_string(),
        "arn:aws:iam::1:policy/old".to_string(),
    ]);
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert_eq!(
        changes,
        vec![
            IamRoleChange::AttachPolicy("arn:aws:iam::1:policy/a".into()),
            IamRoleChange::DetachPolicy("arn:aws:iam::1:policy/old".into()),
        ]
    );
    assert_eq!(
        changes[1].fields()[0].to_string(),
        "managed_policies: arn:aws:iam::1:policy/old → (none)"
    );
}

#[test]
fn a_changed_trust_policy_is_updated_and_an_equal_one_is_not() {
    let f = Fixture::new();
    let s = spec("policy_document:\n  Version: '2012-10-17'\n  Statement:\n    - Effect: Allow\n      Principal: {Service: [lambda.amazonaws.com]}\n      Action: [sts:AssumeRole]\n");
    let mut live = live_from(&s, "r");
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert!(
        matches!(&changes[..], [IamRoleChange::TrustPolicy { .. }]),
        "{changes:?}"
    );
    assert_eq!(changes[0].fields()[0].field, "policy_document");
    live.trust_policy = json!({"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}}], "Version": "2012-10-17"})
    .into();
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn a_missing_same_name_instance_profile_is_created() {
    let f = Fixture::new();
    let s = IamRoleSpec::default();
    let mut live = live_from(&s, "r");
    live.instance_profiles = vec![LiveInstanceProfile {
        name: "legacy".into(),
        arn: "arn:aws:iam::1:instance-profile/legacy".into(),
        roles: vec!["r".into()],
    }];
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap(),
        vec![IamRoleChange::InstanceProfile { name: "r".into() }]
    );
    // Its facts fall back to the profile it does have.
    let facts = published::<IamRole>("r", &live);
    assert_eq!(facts["instance_profile_name"], "legacy");
}

#[test]
fn an_unowned_role_is_adopted_first_and_stray_tags_removed() {
    let f = Fixture::new();
    let s = spec(SEED);
    let mut live = live_from(&s, "r");
    live.tags = BTreeMap::from([
        ("stray".to_string(), "1".to_string()),
        ("aws:cloudformation:stack-name".to_string(), "x".to_string()),
    ]);
    live.policies.clear();
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert!(matches!(&changes[0], IamRoleChange::Tag(m) if m.contains_key(MANAGED_BY_TAG)));
    assert!(
        matches!(&changes[1], IamRoleChange::Untag(m) if m.len() == 1 && m.contains_key("stray"))
    );
    assert_eq!(changes[2].action(), Action::Update);
}

#[test]
fn a_different_path_needs_replacement() {
    let f = Fixture::new();
    let s = spec("path: /app/\n");
    let live = live_from(&s, "r");
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].action(), Action::Replace);
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "path (immutable): / → /app/"
    );
}

#[test]
fn description_and_session_duration_are_managed_only_when_written() {
    let f = Fixture::new();
    let s = spec("description: app role\nmax_session_duration: 7200\n");
    let mut live = live_from(&s, "r");
    live.max_session_duration = Some(3600);
    let changes = IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap();
    assert_eq!(
        changes,
        vec![IamRoleChange::Settings {
            description: Some((None, "app role".into())),
            max_session_duration: Some((Some(3600), 7200)),
        }]
    );
    live.description = Some("app role".into());
    live.max_session_duration = Some(7200);
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &s, Some(&live)).unwrap(),
        vec![]
    );
    live.description = Some("someone else's words".into());
    assert_eq!(
        IamRole::diff(&f.ctx(), "r", &IamRoleSpec::default(), Some(&live)).unwrap(),
        vec![]
    );
    assert!(!IamRoleSpec::default().reads_settings());
    assert!(s.reads_settings());
}

#[test]
fn facts_name_the_role_and_its_instance_profile() {
    let live = live_from(&IamRoleSpec::default(), "r");
    let f = published::<IamRole>("r", &live);
    assert_eq!(f["arn"], "arn:aws:iam::123456789012:role/r");
    assert_eq!(
        f["instance_profile_arn"],
        "arn:aws:iam::123456789012:instance-profile/r"
    );
    assert_eq!(f["instance_profile_name"], "r");
    let mut bare = live;
    bare.instance_profiles.clear();
    assert!(!published::<IamRole>("r", &bare).contains_key("instance_profile_arn"));
}

#[test]
fn validation_catches_bad_names_documents_and_limits() {
    assert!(IamRole::validate_name("myapp-testing-useast1").is_ok());
    assert!(IamRole::validate_name("a+b=c,d.e@f_g").is_ok());
    assert!(IamRole::validate_name("bad name")
        .unwrap_err()
        .contains("only letters"));
    assert!(IamRole::validate_name(&"x".repeat(65))
        .unwrap_err()
        .contains("1 to 64"));
    assert!(IamRole::validate("r", &spec(SEED)).is_empty());
    let p = IamRole::validate(
        "r",
        &spec(concat!(
            "policy_document: {Version: '2013-01-01', Statement: []}\n",
            "policies:\n  'bad name': {Statement: {Effect: Allow, Action: '*', Resource: '*'}}\n",
            "  ok: [1, 2]\n",
            "managed_policies: [ReadOnlyAccess, 'arn:aws:iam::1:policy/a', 'arn:aws:iam::1:policy/a']\n",
            "path: app\n",
            "max_session_duration: 60\n",
            "tags: {'aws:x': y, 'converge:managed-by': me}\n",
        )),
    );
    for want in [
        "policy_document.Version: `2013-01-01`",
        "policy_document.Statement: must be",
        "policies.bad name: a policy name",
        "policies.ok: a policy document must be a mapping",
        "managed_policies: `ReadOnlyAccess` must be a policy ARN",
        "is listed twice",
        "path: `app` must start and end with `/`",
        "max_session_duration: `60`",
        "tags.aws:x: the `aws:` prefix",
        "tags.converge:managed-by: converge sets this tag itself",
    ] {
        assert!(p.iter().any(|m| m.contains(want)), "{want} not in {p:?}");
    }
}

#[test]
fn unknown_fields_and_bad_json_are_schema_errors() {
    assert!(serde_saphyr::from_str::<IamRoleSpec>("policy: {}\n").is_err());
    let e = serde_saphyr::from_str::<IamRoleSpec>("policy_document: '{not json'\n").unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    // A JSON string is as good as a mapping.
    let s = spec("policies:\n  p: '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}}'\n");
    assert_eq!(s.policies["p"].value()["Statement"]["Action"], "s3:*");
}

#[test]
fn tags_are_checked_in_characters_and_at_most_49_besides_ours() {
    // 128 three-byte characters (384 bytes) are within AWS's 128 characters.
    let mut s = IamRoleSpec::default();
    s.tags.insert("é".repeat(128), "ü".repeat(256));
    assert_eq!(IamRole::validate("r", &s), Vec::<String>::new());
    s.tags.insert("k".repeat(129), "v".repeat(257));
    let p = IamRole::validate("r", &s);
    assert!(
        p.iter()
            .any(|m| m.ends_with("a tag key must be 1 to 128 characters long")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.ends_with("a tag value must be at most 256 characters")),
        "{p:?}"
    );
    // 49 tags and converge's own make IAM's 50; one more is refused.
    s.tags = (0..49)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    assert_eq!(IamRole::validate("r", &s), Vec::<String>::new());
    s.tags.insert("one-more".into(), "v".into());
    assert_eq!(
        IamRole::validate("r", &s),
        vec!["tags: at most 49 tags (AWS allows 50, one is converge's own `converge:managed-by`)"]
    );
}
