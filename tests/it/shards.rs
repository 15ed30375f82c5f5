//! One controller for several accounts and regions: every shard (account and region) converges
//! in the right place, a shard that cannot start or whose region is down fails alone, and names
//! are unique per shard. moto places a request in the account of its credentials: credentials
//! from `sts:AssumeRole` of `arn:aws:iam::111111111111:role/x` act in 111111111111.

use crate::common::faults::{Fault, FaultProxy, Rule};
use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

/// The account reached by a role in these tests.
const STAGING: &str = "111111111111";
/// desired/estate's prod account is the same one.
/// moto's account for the process's own credentials.
const OWN: &str = "123456789012";

fn accounts_yaml(extra: &str) -> String {
    format!(
        "accounts:\n  shared: {{id: \"{OWN}\"}}\n  staging: {{id: \"{STAGING}\", role_arn: \"arn:aws:iam::{STAGING}:role/converge\", external_id: ops}}\n{extra}default: shared\n"
    )
}

fn queue(name: &str, metadata: &str) -> String {
    format!("---\napiVersion: converge/v1\nkind: Queue\nmetadata: {{name: {name}{metadata}}}\nspec: {{tags: {{team: ops}}}}\n")
}

/// An SDK configuration acting in `account` (through AssumeRole for another than moto's own)
/// and `region`.
async fn config_in(endpoint: &str, account: &str, region: &str) -> aws_config::SdkConfig {
    let own = aws_credential_types::Credentials::new("testing", "testing", None, None, "tests");
    let creds = if account == OWN {
        own
    } else {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new(region.to_string()))
                .endpoint_url(endpoint)
                .credentials_provider(own)
                .build(),
        );
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/check"))
            .role_session_name("check")
            .send()
            .await
            .expect("assume a role in moto");
        let c = out.credentials().expect("credentials");
        aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "tests",
        )
    };
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .build()
}

/// An SQS client acting in `account` and `region`.
async fn sqs_in(endpoint: &str, account: &str, region: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&config_in(endpoint, account, region).await)
}

/// The queues whose names start with `prefix`, in `account` and `region`.
async fn queues_in(endpoint: &str, account: &str, region: &str, prefix: &str) -> Vec<String> {
    let sqs = sqs_in(endpoint, account, region).await;
    let out = sqs
        .list_queues()
        .queue_name_prefix(prefix)
        .send()
        .await
        .expect("ListQueues");
    let mut names: Vec<String> = out
        .queue_urls()
        .iter()
        .filter_map(|u| u.rsplit('/').next().map(String::from))
        .collect();
    names.sort();
    names
}

/// How many calls of `operation` (any service) the `AWS API calls:` line counts.
fn calls_of(stderr: &str, operation: &str) -> u64 {
    api_calls(stderr)
        .iter()
        .filter(|(op, _)| op.ends_with(&format!(".{operation}")))
        .map(|(_, n)| n)
        .sum()
}

/// The write operations the `AWS API calls:` line counts.
fn writes(stderr: &str) -> Vec<String> {
    const WRITES: &[&str] = &[
        "Create", "Delete", "Set", "Tag", "Untag", "Put", "Update", "Change",
    ];
    api_calls(stderr)
        .into_iter()
        .filter(|(op, _)| WRITES.iter().any(|w| op.contains(&format!(".{w}"))))
        .map(|(op, n)| format!("{op} {n}"))
        .collect()
}

/// Queues in four shards (two accounts × two regions) and an IAM role in the second account.
fn four_shard_tree(p: &str) -> Desired {
    let d = Desired::new();
    d.write("accounts.yaml", &accounts_yaml(""));
    d.write(
        "queues.yaml",
        &[
            queue(&format!("{p}-a"), ", region: us-east-1"),
            queue(&format!("{p}-b"), ", region: eu-west-1"),
            queue(&format!("{p}-c"), ", account: staging, region: us-east-1"),
            queue(&format!("{p}-d"), ", account: staging, region: eu-west-1"),
            // The same name in another shard is another resource.
            queue(&format!("{p}-a"), ", account: staging, region: eu-west-1"),
        ]
        .concat(),
    );
    d.write(
        "role.yaml",
        &format!("apiVersion: converge/v1\nkind: IamRole\nmetadata: {{name: {p}-role, account: staging}}\nspec: {{}}\n"),
    );
    d
}

#[tokio::test]
async fn one_apply_creates_every_resource_in_its_account_and_region_then_sweeps_without_writes() {
    let p = unique("sh");
    let d = four_shard_tree(&p);
    let endpoint = &moto(AREA).endpoint;
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--timeout", "120s"],
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    for shard in [
        "shared/us-east-1",
        "shared/eu-west-1",
        "staging/us-east-1",
        "staging/eu-west-1",
        "staging/global",
    ] {
        assert!(
            text.contains(&format!("== {shard} ==")),
            "plan grouped by shard: {text}"
        );
    }
    assert_eq!(
        queues_in(endpoint, OWN, "us-east-1", &p).await,
        vec![format!("{p}-a")]
    );
    assert_eq!(
        queues_in(endpoint, OWN, "eu-west-1", &p).await,
        vec![format!("{p}-b")]
    );
    assert_eq!(
        queues_in(endpoint, STAGING, "us-east-1", &p).await,
        vec![format!("{p}-c")]
    );
    assert_eq!(
        queues_in(endpoint, STAGING, "eu-west-1", &p).await,
        vec![format!("{p}-a"), format!("{p}-d")]
    );
    let err = stderr(&out);
    assert_eq!(
        calls_of(&err, "GetCallerIdentity"),
        2,
        "one check per account: {err}"
    );
    assert!(
        err.contains("AWS API calls by shard:") && err.contains("staging/global"),
        "{err}"
    );

    let again = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--timeout", "120s"],
    );
    assert_exit(&again, 0);
    let err = stderr(&again);
    assert!(
        stdout(&again).contains("Apply: 0 change(s) applied; 6 resource(s) converged, 0 not."),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        writes(&err),
        Vec::<String>::new(),
        "a no-change sweep writes nothing: {err}"
    );
    // Each shard lists its own queues once: four regional shards, four listings.
    assert_eq!(calls_of(&err, "ListQueues"), 4, "{err}");
    assert_eq!(calls_of(&err, "GetCallerIdentity"), 2, "{err}");
}

#[tokio::test]
async fn a_refused_role_and_a_wrong_account_id_fail_their_shards_alone() {
    let moto = moto(AREA);
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.set_rules(vec![Rule::new(Fault::AccessDenied, 1.0)
        .service("sts")
        .operation("AssumeRole")]);
    let p = unique("sf");
    let d = Desired::new();
    // `wrong` is reached with the process's own credentials, which are in another account.
    d.write(
        "accounts.yaml",
        &accounts_yaml("  wrong: {id: \"999999999999\"}\n"),
    );
    d.write(
        "queues.yaml",
        &[
            queue(&format!("{p}-ok"), ""),
            queue(&format!("{p}-staging"), ", account: staging"),
            queue(&format!("{p}-wrong"), ", account: wrong"),
        ]
        .concat(),
    );
    let out = converge_with(
        &proxy.endpoint,
        &[],
        &["apply", "--desired", &d.path_str(), "--timeout", "60s"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("NOT CONVERGED shard wrong/us-east-1: cannot run: the credentials belong to account 123456789012, not 999999999999"),
        "{text}"
    );
    assert!(
        text.contains("NOT CONVERGED shard staging/us-east-1: cannot run:")
            && text.contains("AccessDenied"),
        "{text}"
    );
    assert!(text.contains(&format!("Queue {p}-ok: create")), "{text}");
    assert_eq!(
        queues_in(&moto.endpoint, OWN, "us-east-1", &p).await,
        vec![format!("{p}-ok")],
        "only the good shard wrote"
    );
    assert_eq!(
        queues_in(&moto.endpoint, STAGING, "us-east-1", &p).await,
        Vec::<String>::new()
    );
    assert_eq!(
        proxy.forwarded("sqs", "CreateQueue"),
        1,
        "{}",
        proxy.summary()
    );
}

#[test]
fn a_region_that_is_down_fails_alone_and_converges_when_it_is_back() {
    let moto = moto(AREA);
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.set_rules(vec![
        Rule::new(Fault::ServerError(503), 1.0).region("eu-west-1")
    ]);
    let p = unique("sd");
    let d = Desired::new();
    d.write(
        "queues.yaml",
        &[
            queue(&format!("{p}-east"), ", region: us-east-1"),
            queue(&format!("{p}-west"), ", region: eu-west-1"),
        ]
        .concat(),
    );
    let run = Running::start_with(
        &d.path_str(),
        &proxy.endpoint,
        &[],
        &[
            "--resync",
            "2s",
            "--backoff-min",
            "200ms",
            "--backoff-max",
            "1s",
            "--max-attempts",
            "1",
        ],
    );
    run.wait_for("us-east-1 converged while eu-west-1 is down", 60, |r| {
        r.metric("converge_resources{region=\"us-east-1\",state=\"converged\"}") == 1.0
    });
    run.wait_for("/readyz names the failing shard", 30, |r| {
        let (code, body) = r.get("/readyz");
        code == 503
            && body.contains("\"shard\":\"default/eu-west-1\"")
            && body.contains("ServiceUnavailable")
    });
    let (_, body) = run.get("/readyz");
    assert!(
        !body.contains("default/us-east-1"),
        "the healthy shard is ready: {body}"
    );
    assert_eq!(
        run.metric("converge_kind_ready{region=\"us-east-1\",kind=\"Queue\"}"),
        1.0
    );
    proxy.clear();
    run.wait_for("eu-west-1 converged once it is back", 60, |r| {
        r.metric("converge_resources{region=\"eu-west-1\",state=\"converged\"}") == 1.0
    });
    run.wait_for("ready", 30, |r| r.get("/readyz").0 == 200);
    let status = run.status();
    let shards: Vec<&str> = status["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shard"].as_str().unwrap())
        .collect();
    assert_eq!(
        shards,
        vec!["default/eu-west-1", "default/us-east-1"],
        "{status}"
    );
}

#[test]
fn names_are_unique_per_shard() {
    let d = Desired::new();
    d.write("accounts.yaml", &accounts_yaml(""));
    d.write(
        "a.yaml",
        &[
            queue("same", ", region: us-east-1"),
            queue("same", ", region: eu-west-1"),
            queue("same", ", account: staging, region: us-east-1"),
        ]
        .concat(),
    );
    let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ok: 3 resource(s)"),
        "{}",
        stdout(&out)
    );
    d.write("b.yaml", &queue("same", ", region: eu-west-1"));
    let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let root = d.path_str();
    assert!(
        err.contains(&format!("{root}/b.yaml:2:"))
            && err.contains("duplicate Queue `same` in shared/eu-west-1: also defined at")
            && err.contains(&format!("{root}/a.yaml:")),
        "{err}"
    );
}

#[test]
fn an_unknown_account_is_an_error_at_its_line() {
    let d = Desired::new();
    d.write("accounts.yaml", &accounts_yaml(""));
    d.write("a.yaml", &queue("q", ", account: nope"));
    let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("a.yaml:2:")
            && err.contains("account `nope` is not in accounts.yaml (accounts: shared, staging)"),
        "{err}"
    );
}

/// `("<account>/<region>", calls)` from the `AWS API calls by shard:` line.
fn calls_by_shard(stderr: &str) -> Vec<(String, u64)> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("AWS API calls by shard: "))
        .unwrap_or_default()
        .split(", ")
        .filter_map(|p| {
            let (s, n) = p.rsplit_once(' ')?;
            Some((s.to_string(), n.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn the_reference_stack_in_two_accounts_and_two_regions_converges_shard_by_shard() {
    let endpoint = &moto(AREA).endpoint;
    for account in [OWN, STAGING] {
        let r53 = aws_sdk_route53::Client::new(&config_in(endpoint, account, "us-east-1").await);
        create_zone(&r53, "example.com.").await;
    }
    // desired/ as it is (desired/estate's service links to desired/examples' templates).
    let tree = tempfile::tempdir().unwrap();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("desired"),
        tree.path(),
    );
    let dir = tree.path().join("estate").display().to_string();
    let id = unique("estate");
    let args = [
        "apply",
        "--desired",
        &dir,
        "--controller-id",
        &id,
        "--timeout",
        "180s",
    ];
    let first = converge(AREA, &args);
    assert_exit(&first, 0);
    for (account, region, name) in [
        (OWN, "us-east-1", "myapp-testing-useast1"),
        (STAGING, "eu-west-1", "myapp-production-euwest1"),
    ] {
        let sdk = config_in(endpoint, account, region).await;
        let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk);
        let lbs = elb
            .describe_load_balancers()
            .load_balancer_names(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} in {account}/{region}: {e:?}"));
        assert_eq!(lbs.load_balancer_descriptions().len(), 1, "{name}");
        let asg = aws_sdk_autoscaling::Client::new(&sdk);
        let groups = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap();
        assert_eq!(
            groups.auto_scaling_groups().len(),
            1,
            "{name} in {account}/{region}"
        );
        let iam = aws_sdk_iam::Client::new(&sdk);
        iam.get_role()
            .role_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("role {name} in {account}: {e:?}"));
    }
    // Not in the other account's region.
    let sdk = config_in(endpoint, OWN, "eu-west-1").await;
    let none = aws_sdk_elasticloadbalancing::Client::new(&sdk)
        .describe_load_balancers()
        .load_balancer_names("myapp-production-euwest1")
        .send()
        .await;
    assert!(
        none.is_err(),
        "production's load balancer is not in the shared account"
    );

    let again = converge(AREA, &args);
    assert_exit(&again, 0);
    let err = stderr(&again);
    assert_eq!(
        writes(&err),
        Vec::<String>::new(),
        "a no-change sweep writes nothing: {err}"
    );
    let by_shard = calls_by_shard(&err);
    let shards: Vec<&str> = by_shard.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        shards,
        vec![
            "prod/eu-west-1",
            "prod/global",
            "shared/global",
            "shared/us-east-1"
        ],
        "{err}"
    );
    let total: u64 = by_shard.iter().map(|(_, n)| n).sum();
    let line = err
        .lines()
        .find(|l| l.starts_with("AWS API calls:"))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("AWS API calls: {total} (")),
        "{line}\n{err}"
    );
    // The two regional shards make the same listings; the global ones only IAM and Route 53.
    let regional: Vec<u64> = by_shard
        .iter()
        .filter(|(s, _)| !s.ends_with("/global"))
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(regional[0], regional[1], "{err}");
}

#[tokio::test]
async fn shard_patterns_limit_what_a_controller_touches() {
    let p = unique("sel");
    let d = four_shard_tree(&p);
    let endpoint = &moto(AREA).endpoint;
    let out = converge(
        AREA,
        &[
            "apply",
            "--desired",
            &d.path_str(),
            "--shard",
            "staging/*",
            "--timeout",
            "60s",
        ],
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("== staging/eu-west-1 ==") && text.contains("== staging/global =="),
        "{text}"
    );
    assert!(!text.contains("shared/"), "{text}");
    assert!(
        stderr(&out).contains("shard not selected (--shard/--region): left to another controller"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        queues_in(endpoint, OWN, "us-east-1", &p).await,
        Vec::<String>::new()
    );
    assert_eq!(
        queues_in(endpoint, STAGING, "us-east-1", &p).await,
        vec![format!("{p}-c")]
    );
    let bad = converge(
        AREA,
        &["plan", "--desired", &d.path_str(), "--shard", "staging"],
    );
    assert_eq!(bad.status.code(), Some(64));
    assert!(
        stderr(&bad).contains("is not ALIAS/REGION"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test]
async fn a_wrong_account_id_is_terminal_until_accounts_yaml_is_fixed() {
    let p = unique("fx");
    let d = Desired::new();
    // `shared` is reached with the process's own credentials, which are in account OWN.
    let accounts = |id: &str| {
        format!(
            "accounts:\n  shared: {{id: \"{id}\"}}\n  staging: {{id: \"{STAGING}\", role_arn: \"arn:aws:iam::{STAGING}:role/converge\"}}\ndefault: shared\n"
        )
    };
    d.write("accounts.yaml", &accounts("999999999999"));
    d.write(
        "q.yaml",
        &(queue(&format!("{p}-a"), ", account: staging") + &queue(&format!("{p}-b"), "")),
    );
    let run = Running::start(AREA, &d.path_str(), &["--resync", "2s"]);
    run.wait_for("the good shard converged, the other failed", 60, |r| {
        r.metric("converge_resources{account=\"staging\",state=\"converged\"}") == 1.0
            && r.metric("converge_shard_up{account=\"shared\",region=\"us-east-1\"}") == 0.0
            && r.get("/readyz")
                .1
                .contains("belong to account 123456789012, not 999999999999")
    });
    let status = run.status();
    let shared = status["shards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shard"] == "shared/us-east-1")
        .cloned()
        .unwrap_or_default();
    assert_eq!(shared["state"], "failed", "{status}");
    assert_eq!(shared["terminal"], true, "{status}");
    let endpoint = &moto(AREA).endpoint;
    assert_eq!(
        queues_in(endpoint, OWN, "us-east-1", &p).await,
        Vec::<String>::new()
    );
    assert_eq!(
        queues_in(endpoint, STAGING, "us-east-1", &p).await,
        vec![format!("{p}-a")]
    );
    write_atomic(&d.path().join("accounts.yaml"), &accounts(OWN));
    run.wait_for("the fixed shard converged", 60, |r| {
        r.metric("converge_shard_up{account=\"shared\",region=\"us-east-1\"}") == 1.0
            && r.metric("converge_resources{account=\"shared\",state=\"converged\"}") == 1.0
    });
    assert_eq!(
        queues_in(endpoint, OWN, "us-east-1", &p).await,
        vec![format!("{p}-b")]
    );

    // A running shard whose account entry changes (another external id) restarts with it.
    write_atomic(
        &d.path().join("accounts.yaml"),
        &accounts(OWN).replace(":role/converge\"", ":role/converge\", external_id: new"),
    );
    run.wait_for("the staging shard restarted with the new entry", 60, |r| {
        logs_restart(r, "staging/us-east-1")
    });
    run.wait_for("and runs again", 60, |r| {
        r.metric("converge_shard_up{account=\"staging\",region=\"us-east-1\"}") == 1.0
            && r.metric("converge_resources{account=\"staging\",state=\"converged\"}") == 1.0
    });
    assert!(
        !logs_restart(&run, "shared/us-east-1"),
        "an unchanged account's shards keep running"
    );
}

/// True when the logs show `shard` restarting for a changed account entry.
fn logs_restart(run: &Running, shard: &str) -> bool {
    run.logs().lines().any(|l| {
        l.contains("restarting the shard with it") && l.contains(&format!("\"shard\":\"{shard}\""))
    })
}

#[test]
fn a_profile_that_does_not_exist_fails_its_shard_even_with_credentials_in_the_environment() {
    let p = unique("pf");
    let d = Desired::new();
    d.write(
        "accounts.yaml",
        &accounts_yaml("  ghost: {id: \"222222222222\", profile: nope}\n"),
    );
    d.write(
        "q.yaml",
        &(queue(&format!("{p}-ok"), "") + &queue(&format!("{p}-ghost"), ", account: ghost")),
    );
    let out = converge(
        AREA,
        &["apply", "--desired", &d.path_str(), "--timeout", "60s"],
    );
    let text = stdout(&out);
    assert_exit(&out, 1);
    assert!(
        text.contains(
            "NOT CONVERGED shard ghost/us-east-1: cannot run: cannot obtain working credentials"
        ),
        "the profile's credentials, not the environment's: {text}"
    );
    assert!(text.contains(&format!("Queue {p}-ok: create")), "{text}");
}
