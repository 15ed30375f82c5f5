//! `kind: IamRole` end to end against moto: the seed's role with its inline policies and
//! instance profile, no-change sweeps, drift (and the semantic policy comparison that keeps
//! IAM's reformatting from looking like drift), authoritative policy lists, pruning.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::*;
use converge::kinds::common::policy::{decode, same_policy};
use serde_json::{json, Value};

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// Every IAM call that changes something.
const MUTATING: &[&str] = &[
    "CreateRole",
    "DeleteRole",
    "UpdateRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "TagRole",
    "UntagRole",
    "CreateInstanceProfile",
    "DeleteInstanceProfile",
    "AddRoleToInstanceProfile",
    "RemoveRoleFromInstanceProfile",
];

/// A `kind: IamRole` manifest; `spec` is YAML at column 0.
fn role_doc(name: &str, spec: &str) -> String {
    let spec = if spec.trim().is_empty() {
        "spec: {}\n".to_string()
    } else {
        let body: String = spec.lines().map(|l| format!("  {l}\n")).collect();
        format!("spec:\n{body}")
    };
    format!("---\napiVersion: converge/v1\nkind: IamRole\nmetadata:\n  name: {name}\n{spec}")
}

/// The seed's role (`/work/shared/seed/myapp.sls`, service_instance `testing`), with `inst` in
/// place of `testing` so every test has its own names.
fn seed_spec(inst: &str) -> String {
    format!(
        r#"policies:
  'myapp-{inst}-useast1':
    Version: '2012-10-17'
    Statement:
      - Action:
          - 'elasticloadbalancing:DeregisterInstancesFromLoadBalancer'
          - 'elasticloadbalancing:RegisterInstancesWithLoadBalancer'
        Effect: 'Allow'
        Resource: 'arn:aws:elasticloadbalancing:*:*:loadbalancer/myapp-{inst}-useast1'
      - Action:
          - 's3:Head*'
          - 's3:Get*'
        Effect: 'Allow'
        Resource:
          - 'arn:aws:s3:::bootstrap/deploy/myapp/*'
      - Action:
          - 's3:List*'
          - 's3:Get*'
        Effect: 'Allow'
        Resource:
          - 'arn:aws:s3:::bootstrap'
        Condition:
          StringLike:
            's3:prefix':
              - 'deploy/myapp/*'
      - Action:
          - 'ec2:DescribeTags'
        Effect: 'Allow'
        Resource:
          - '*'
  'myapp-{inst}-sqs':
    Version: '2012-10-17'
    Statement:
      - Action:
          - 'sqs:ChangeMessageVisibility'
          - 'sqs:DeleteMessage'
          - 'sqs:GetQueueAttributes'
          - 'sqs:GetQueueUrl'
          - 'sqs:ListQueues'
          - 'sqs:ReceiveMessage'
          - 'sqs:SendMessage'
        Effect: 'Allow'
        Resource:
          - 'arn:aws:sqs:*:*:myapp-{inst}-*'
        Sid: 'myapp{inst}sqs1'
"#
    )
}

/// The seed's SQS policy as written in the spec.
fn seed_sqs_policy(inst: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:GetQueueUrl", "sqs:ListQueues", "sqs:ReceiveMessage", "sqs:SendMessage"],
        "Effect": "Allow",
        "Resource": [format!("arn:aws:sqs:*:*:myapp-{inst}-*")],
        "Sid": format!("myapp{inst}sqs1")}]})
}

fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(AREA))
}

/// An inline policy of a role, decoded; None when it does not exist.
async fn role_policy(iam: &aws_sdk_iam::Client, role: &str, policy: &str) -> Option<Value> {
    match iam
        .get_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
    {
        Ok(o) => Some(decode(o.policy_document()).expect("IAM returns a policy document")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => panic!("GetRolePolicy {role} {policy}: {e:?}"),
    }
}

async fn role_policy_names(iam: &aws_sdk_iam::Client, role: &str) -> BTreeSet<String> {
    iam.list_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list role policies")
        .policy_names()
        .iter()
        .cloned()
        .collect()
}

async fn attached(iam: &aws_sdk_iam::Client, role: &str) -> BTreeSet<String> {
    iam.list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list attached role policies")
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

async fn role_exists(iam: &aws_sdk_iam::Client, role: &str) -> bool {
    match iam.get_role().role_name(role).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            false
        }
        Err(e) => panic!("GetRole {role}: {e:?}"),
    }
}

/// The instance profile's roles; None when the profile does not exist.
async fn profile_roles(iam: &aws_sdk_iam::Client, profile: &str) -> Option<Vec<String>> {
    match iam
        .get_instance_profile()
        .instance_profile_name(profile)
        .send()
        .await
    {
        Ok(o) => Some(
            o.instance_profile()
                .map(|p| {
                    p.roles()
                        .iter()
                        .map(|r| r.role_name().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => panic!("GetInstanceProfile {profile}: {e:?}"),
    }
}

async fn role_tags(iam: &aws_sdk_iam::Client, role: &str) -> Vec<(String, String)> {
    iam.list_role_tags()
        .role_name(role)
        .send()
        .await
        .expect("list role tags")
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// A customer managed policy (moto has no AWS managed policies unless asked to load them).
async fn managed_policy(iam: &aws_sdk_iam::Client, name: &str) -> String {
    iam.create_policy()
        .policy_name(name)
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("create policy")
        .policy()
        .and_then(|p| p.arn())
        .expect("policy ARN")
        .to_string()
}

/// The `AWS API calls:` line of an `apply`, IAM calls only.
fn iam_calls(out: &std::process::Output) -> String {
    stderr(out)
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default()
        .split([',', '(', ')'])
        .map(str::trim)
        .filter(|p| p.starts_with("IAM."))
        .collect::<Vec<_>>()
        .join(", ")
}

fn apply(dir: &str, id: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--desired", dir, "--controller-id", id];
    args.extend_from_slice(extra);
    let out = converge(AREA, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "apply failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Polls an async condition until it holds, failing with `what` after `secs`.
async fn eventually<F, Fut>(what: &str, secs: u64, run: &Running, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}\n{}",
            run.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_seed_role_converges_from_empty_in_one_apply_and_a_second_apply_changes_nothing() {
    let iam = iam();
    let inst = unique("seed");
    let role = format!("myapp-{inst}-useast1");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("role.yaml", &role_doc(&role, &seed_spec(&inst)));
    let dir = d.path_str();

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let shown = stdout(&plan);
    assert!(
        shown.contains(&format!("IamRole {role}: create")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "policies.myapp-{inst}-useast1: (none) → <policy document, 4 statements, "
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("instance_profile: (none) → {role}")),
        "{shown}"
    );
    assert!(
        !shown.contains("elasticloadbalancing:") && !shown.contains("sts:AssumeRole"),
        "a plan must summarise policy documents, not print them:\n{shown}"
    );
    assert!(!role_exists(&iam, &role).await, "plan must not create");

    let first = apply(&dir, &id, &[]);
    assert!(
        stdout(&first).contains("1 resource(s) converged, 0 not"),
        "{}",
        stdout(&first)
    );
    assert!(role_exists(&iam, &role).await);
    assert_eq!(
        role_policy_names(&iam, &role).await,
        BTreeSet::from([format!("myapp-{inst}-useast1"), format!("myapp-{inst}-sqs")])
    );
    let sqs_policy = role_policy(&iam, &role, &format!("myapp-{inst}-sqs"))
        .await
        .expect("sqs policy");
    assert!(
        same_policy(&sqs_policy, &seed_sqs_policy(&inst)),
        "{sqs_policy}"
    );
    let elb_policy = role_policy(&iam, &role, &format!("myapp-{inst}-useast1"))
        .await
        .expect("elb policy");
    assert_eq!(elb_policy["Statement"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        elb_policy["Statement"][2]["Condition"]["StringLike"]["s3:prefix"],
        json!(["deploy/myapp/*"])
    );
    let trust = iam
        .get_role()
        .role_name(&role)
        .send()
        .await
        .unwrap()
        .role()
        .and_then(|r| r.assume_role_policy_document().map(str::to_string))
        .expect("trust policy");
    assert!(
        same_policy(
            &decode(&trust).unwrap(),
            &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        ),
        "{trust}"
    );
    assert_eq!(profile_roles(&iam, &role).await, Some(vec![role.clone()]));
    assert!(role_tags(&iam, &role)
        .await
        .contains(&("converge:managed-by".to_string(), id.clone())));

    let second = apply(&dir, &id, &[]);
    assert!(
        stdout(&second).contains("0 change(s) applied"),
        "{}",
        stdout(&second)
    );
    let calls = iam_calls(&second);
    for op in MUTATING {
        assert!(
            !calls.contains(&format!("IAM.{op} ")),
            "no-change apply called {op}: {calls}"
        );
    }
    assert_eq!(calls, "IAM.GetAccountAuthorizationDetails 1", "{calls}");

    let plan = converge(AREA, &["plan", "--desired", &dir, "--controller-id", &id]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    assert!(
        stdout(&plan).contains("0 to change, 0 to delete, 1 in sync"),
        "{}",
        stdout(&plan)
    );
}

#[tokio::test]
async fn an_out_of_band_policy_edit_is_corrected_within_one_resync_and_counted_as_drift() {
    let iam = iam();
    let inst = unique("drift");
    let role = format!("myapp-{inst}-useast1");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("role.yaml", &role_doc(&role, &seed_spec(&inst)));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("the role converged", 30, |r| {
        r.metric("converge_resources{kind=\"IamRole\",state=\"converged\"}") == 1.0
    });

    // No-change resyncs write nothing.
    let before = calls(&run.metrics(), MUTATING);
    run.wait_sweeps("IamRole", 2.0, 20);
    assert_eq!(
        calls(&run.metrics(), MUTATING),
        before,
        "a no-change sweep wrote to IAM"
    );

    // Someone widens the SQS policy by hand.
    let policy = format!("myapp-{inst}-sqs");
    iam.put_role_policy()
        .role_name(&role)
        .policy_name(&policy)
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("put role policy out of band");
    // And adds a policy of their own.
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("hand-made")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("put a stray policy");
    let want = seed_sqs_policy(&inst);
    eventually("the policy edit corrected", 15, &run, || async {
        let now = role_policy(&iam, &role, &policy).await;
        let names = role_policy_names(&iam, &role).await;
        now.is_some_and(|p| same_policy(&p, &want)) && !names.contains("hand-made")
    })
    .await;
    run.wait_for("drift counted", 10, |r| {
        r.metric("converge_drift_detected_total{kind=\"IamRole\"}") >= 1.0
    });
    assert!(calls(&run.metrics(), &["PutRolePolicy"]) >= 3.0);
    assert!(calls(&run.metrics(), &["DeleteRolePolicy"]) >= 1.0);
    run.wait_for("converged again", 10, |r| {
        r.metric("converge_resources{kind=\"IamRole\",state=\"converged\"}") == 1.0
    });
    let logs = run.logs();
    assert!(
        !logs.contains("sqs:ChangeMessageVisibility") && !logs.contains("\"sqs:*\""),
        "a policy document was logged:\n{logs}"
    );
}

#[tokio::test]
async fn a_semantically_equal_policy_put_out_of_band_is_not_drift() {
    let iam = iam();
    let inst = unique("equal");
    let role = format!("myapp-{inst}-useast1");
    let id = unique("ctl");
    let d = Desired::new();
    d.write("role.yaml", &role_doc(&role, &seed_spec(&inst)));
    let run = Running::start(
        AREA,
        &d.path_str(),
        &["--resync", "1s", "--controller-id", &id],
    );
    run.wait_for("the role converged", 30, |r| {
        r.metric("converge_resources{kind=\"IamRole\",state=\"converged\"}") == 1.0
    });
    let writes = calls(&run.metrics(), MUTATING);

    // The same policy in another order, scalars for one-element lists, a single Statement
    // object, and one action in another case.
    let policy = format!("myapp-{inst}-useast1");
    let equal = json!({
        "Statement": [
            {"Resource": "*", "Effect": "Allow", "Action": "ec2:describetags"},
            {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::bootstrap",
             "Condition": {"StringLike": {"s3:prefix": "deploy/myapp/*"}}},
            {"Effect": "Allow", "Action": ["s3:Get*", "s3:Head*"], "Resource": "arn:aws:s3:::bootstrap/deploy/myapp/*"},
            {"Effect": "Allow",
             "Action": ["elasticloadbalancing:RegisterInstancesWithLoadBalancer",
                        "elasticloadbalancing:DeregisterInstancesFromLoadBalancer"],
             "Resource": [format!("arn:aws:elasticloadbalancing:*:*:loadbalancer/myapp-{inst}-useast1")]}
        ],
        "Version": "2012-10-17"
    });
    let sqs_policy = format!("myapp-{inst}-sqs");
    let mut sqs_equal = seed_sqs_policy(&inst);
    sqs_equal["Statement"] = sqs_equal["Statement"][0].clone();
    sqs_equal["Statement"]["Resource"] = json!(format!("arn:aws:sqs:*:*:myapp-{inst}-*"));
    for (name, doc) in [(&policy, &equal), (&sqs_policy, &sqs_equal)] {
        iam.put_role_policy()
            .role_name(&role)
            .policy_name(name)
            .policy_document(doc.to_string())
            .send()
            .await
            .expect("put an equivalent policy");
    }
    run.wait_sweeps("IamRole", 3.0, 20);
    assert_eq!(
        run.metric("converge_drift_detected_total{kind=\"IamRole\"}"),
        0.0,
        "an equivalent policy counted as drift\n{}",
        run.logs()
    );
    assert_eq!(
        calls(&run.metrics(), MUTATING),
        writes,
        "an equivalent policy was rewritten"
    );
    assert_eq!(
        run.metric("converge_resources{kind=\"IamRole\",state=\"converged\"}"),
        1.0
    );
    // IAM still holds the hand-written form, untouched.
    assert_eq!(role_policy(&iam, &role, &policy).await, Some(equal));
    assert_eq!(role_policy(&iam, &role, &sqs_policy).await, Some(sqs_equal));
}

#[tokio::test]
async fn policies_follow_the_spec_inline_managed_and_trust() {
    let iam = iam();
    let role = unique("lists");
    let id = unique("ctl");
    let m1 = managed_policy(&iam, &unique("m1")).await;
    let m2 = managed_policy(&iam, &unique("m2")).await;
    let doc = |action: &str| {
        format!("{{Version: '2012-10-17', Statement: [{{Effect: Allow, Action: '{action}', Resource: '*'}}]}}")
    };
    let d = Desired::new();
    d.write(
        "role.yaml",
        &role_doc(
            &role,
            &format!(
                "policies:\n  keep: {}\n  drop: {}\nmanaged_policies: ['{m1}']\n",
                doc("s3:Get*"),
                doc("sqs:*")
            ),
        ),
    );
    let dir = d.path_str();
    apply(&dir, &id, &[]);
    assert_eq!(
        role_policy_names(&iam, &role).await,
        BTreeSet::from(["keep".to_string(), "drop".to_string()])
    );
    assert_eq!(attached(&iam, &role).await, BTreeSet::from([m1.clone()]));

    // Drop one inline policy, swap the managed policy, let Lambda assume the role.
    d.write(
        "role.yaml",
        &role_doc(
            &role,
            &format!(
                "policy_document:\n  Version: '2012-10-17'\n  Statement:\n    - {{Effect: Allow, Principal: {{Service: lambda.amazonaws.com}}, Action: 'sts:AssumeRole'}}\npolicies:\n  keep: {}\nmanaged_policies: ['{m2}']\n",
                doc("s3:Get*")
            ),
        ),
    );
    let out = apply(&dir, &id, &[]);
    let shown = stdout(&out);
    assert!(
        shown.contains("policies.drop: <policy document, 1 statement, "),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("managed_policies: {m1} → (none)")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("managed_policies: (none) → {m2}")),
        "{shown}"
    );
    assert_eq!(
        role_policy_names(&iam, &role).await,
        BTreeSet::from(["keep".to_string()])
    );
    assert_eq!(attached(&iam, &role).await, BTreeSet::from([m2.clone()]));
    let trust = iam
        .get_role()
        .role_name(&role)
        .send()
        .await
        .unwrap()
        .role()
        .and_then(|r| r.assume_role_policy_document().map(str::to_string))
        .expect("trust policy");
    assert_eq!(
        decode(&trust).unwrap()["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );
    let calls = iam_calls(&out);
    for op in [
        "DeleteRolePolicy 1",
        "DetachRolePolicy 1",
        "AttachRolePolicy 1",
        "UpdateAssumeRolePolicy 1",
    ] {
        assert!(calls.contains(&format!("IAM.{op}")), "{op} not in {calls}");
    }
    assert!(!calls.contains("IAM.PutRolePolicy"), "{calls}");

    // And it stays put.
    let again = apply(&dir, &id, &[]);
    assert!(
        stdout(&again).contains("0 change(s) applied"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn instance_profile_false_creates_none() {
    let iam = iam();
    let role = unique("noprofile");
    let id = unique("ctl");
    let d = Desired::new();
    d.write(
        "role.yaml",
        &role_doc(&role, "instance_profile: false\ntags: {team: ops}\n"),
    );
    let out = apply(&d.path_str(), &id, &[]);
    assert!(role_exists(&iam, &role).await);
    assert_eq!(profile_roles(&iam, &role).await, None);
    let profiles = iam
        .list_instance_profiles_for_role()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert!(profiles.instance_profiles().is_empty());
    assert!(
        !iam_calls(&out).contains("InstanceProfile"),
        "{}",
        iam_calls(&out)
    );
    assert!(role_tags(&iam, &role)
        .await
        .contains(&("team".to_string(), "ops".to_string())));
}

#[tokio::test]
async fn an_unowned_role_is_adopted_and_an_owned_one_pruned_with_its_instance_profile() {
    let iam = iam();
    let legacy = unique("legacy");
    let old = unique("old");
    let id = unique("ctl");
    // A role made by hand, in the console: no owner tag, no policies.
    iam.create_role()
        .role_name(&legacy)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("create legacy role");
    let d = Desired::new();
    d.write(
        "roles.yaml",
        &format!(
            "{}{}",
            role_doc(
                &legacy,
                "policies:\n  p: {Version: '2012-10-17', Statement: {Effect: Allow, Action: 's3:Get*', Resource: '*'}}\n"
            ),
            role_doc(
                &old,
                "policies:\n  p: {Version: '2012-10-17', Statement: {Effect: Allow, Action: 's3:Get*', Resource: '*'}}\n"
            )
        ),
    );
    let out = apply(&d.path_str(), &id, &[]);
    assert!(
        stdout(&out).contains(&format!("IamRole {legacy}: tag")),
        "{}",
        stdout(&out)
    );
    assert!(role_tags(&iam, &legacy)
        .await
        .contains(&("converge:managed-by".to_string(), id.clone())));
    assert!(role_policy(&iam, &legacy, "p").await.is_some());
    assert_eq!(profile_roles(&iam, &old).await, Some(vec![old.clone()]));

    // `old` leaves the desired state: pruned with its policies and instance profile.
    d.write(
        "roles.yaml",
        &role_doc(
            &legacy,
            "policies:\n  p: {Version: '2012-10-17', Statement: {Effect: Allow, Action: 's3:Get*', Resource: '*'}}\n",
        ),
    );
    let out = apply(&d.path_str(), &id, &["--prune"]);
    assert!(
        stdout(&out).contains(&format!("IamRole {old}: delete")),
        "{}",
        stdout(&out)
    );
    assert!(!role_exists(&iam, &old).await, "owned role not pruned");
    assert_eq!(profile_roles(&iam, &old).await, None, "its profile remains");
    assert!(role_exists(&iam, &legacy).await);
    let calls = iam_calls(&out);
    for op in [
        "DeleteRolePolicy 1",
        "RemoveRoleFromInstanceProfile 1",
        "DeleteInstanceProfile 1",
        "DeleteRole 1",
    ] {
        assert!(calls.contains(&format!("IAM.{op}")), "{op} not in {calls}");
    }
}

#[tokio::test]
async fn an_empty_instance_profile_left_by_an_interrupted_create_is_reused() {
    let iam = iam();
    let role = unique("reuse");
    let id = unique("ctl");
    // As if converge crashed between CreateInstanceProfile and AddRoleToInstanceProfile.
    iam.create_instance_profile()
        .instance_profile_name(&role)
        .send()
        .await
        .expect("create instance profile");
    let d = Desired::new();
    d.write("role.yaml", &role_doc(&role, ""));
    let out = apply(&d.path_str(), &id, &[]);
    assert_eq!(profile_roles(&iam, &role).await, Some(vec![role.clone()]));
    let calls = iam_calls(&out);
    assert!(
        calls.contains("IAM.CreateInstanceProfile 1")
            && calls.contains("IAM.AddRoleToInstanceProfile 1"),
        "{calls}"
    );
}

#[tokio::test]
async fn description_and_max_session_duration_are_set_and_kept() {
    let iam = iam();
    let role = unique("settings");
    let id = unique("ctl");
    let d = Desired::new();
    d.write(
        "role.yaml",
        &role_doc(
            &role,
            "description: myapp instances\nmax_session_duration: 7200\ninstance_profile: false\n",
        ),
    );
    let dir = d.path_str();
    apply(&dir, &id, &[]);
    let get = |iam: aws_sdk_iam::Client, role: String| async move {
        let r = iam
            .get_role()
            .role_name(&role)
            .send()
            .await
            .expect("get role");
        let r = r.role().expect("role").clone();
        (
            r.description().map(str::to_string),
            r.max_session_duration(),
        )
    };
    assert_eq!(
        get(iam.clone(), role.clone()).await,
        (Some("myapp instances".to_string()), Some(7200))
    );

    // Read with one extra listing (the authorization details do not carry these fields).
    let again = apply(&dir, &id, &[]);
    assert!(
        stdout(&again).contains("0 change(s) applied"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        iam_calls(&again),
        "IAM.GetAccountAuthorizationDetails 1, IAM.ListRoles 1"
    );

    // Changed by hand: put back.
    iam.update_role()
        .role_name(&role)
        .description("edited")
        .max_session_duration(3600)
        .send()
        .await
        .expect("update role");
    let fixed = apply(&dir, &id, &[]);
    assert!(
        stdout(&fixed).contains("description: edited → myapp instances"),
        "{}",
        stdout(&fixed)
    );
    assert!(
        iam_calls(&fixed).contains("IAM.UpdateRole 1"),
        "{}",
        iam_calls(&fixed)
    );
    assert_eq!(
        get(iam.clone(), role.clone()).await,
        (Some("myapp instances".to_string()), Some(7200))
    );
}
