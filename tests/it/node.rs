//! `converge node`: publish an artifact to moto's S3, deploy it on a "node" (a temporary
//! directory as `/srv`): the article's steps in order, `current` switched, the instance
//! registered with its ELB; and what must be refused (a tarball leaving its directory, a
//! checksum mismatch, a failing hook) leaves `current` where it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

const AREA: Area = area!();

/// `converge node publish` of `file` to the service `myapp`: the artifact id.
fn publish(bucket: &str, file: &Path, log: &Path) -> String {
    let out = node(
        &[
            "publish",
            "--bucket",
            bucket,
            "--service",
            "myapp",
            &file.display().to_string(),
        ],
        log,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn node(args: &[&str], log: &Path) -> Output {
    let mut cmd = Command::new(converge_bin());
    aws_env(&mut cmd)
        .arg("node")
        .args(args)
        .args(["--endpoint-url", &moto(AREA).endpoint])
        .env("LOG", log);
    cmd.output().expect("run converge node")
}

/// `converge node run` of `myapp` from `bucket` into `root`, with `true` as the configuration
/// step, against moto; the caller adds the rest and spawns it.
fn node_run(bucket: &str, root: &Path) -> Command {
    let mut cmd = Command::new(converge_bin());
    aws_env(&mut cmd)
        .args(["node", "run", "--bucket", bucket, "--service", "myapp"])
        .arg("--root")
        .arg(root)
        .args(["--configure", "true"])
        .args(["--endpoint-url", &moto(AREA).endpoint]);
    cmd
}

/// A tar.gz of `files` (path, text, executable) made with the system's `tar`.
fn artifact(dir: &Path, name: &str, files: &[(&str, &str, bool)]) -> PathBuf {
    let src = dir.join(format!("{name}-src"));
    for (rel, text, exec) in files {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        if *exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let out = dir.join(format!("{name}.tar.gz"));
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    out
}

const HOOKS: &[(&str, &str, bool)] = &[
    ("app.txt", "v1\n", false),
    (
        "hooks/pre-release/10-first",
        "#!/bin/sh\necho \"pre $CONVERGE_ARTIFACT $(pwd)\" >> \"$LOG\"\n",
        true,
    ),
    (
        "hooks/post-release/10-after",
        "#!/bin/sh\necho \"post $(readlink \"$CONVERGE_ROOT_CURRENT\")\" >> \"$LOG\"\n",
        true,
    ),
];

/// The instances registered with load balancer `lb`.
async fn members_of(elb: &aws_sdk_elasticloadbalancing::Client, lb: &str) -> Vec<String> {
    elb.describe_load_balancers()
        .load_balancer_names(lb)
        .send()
        .await
        .unwrap()
        .load_balancer_descriptions()[0]
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(String::from))
        .collect()
}

/// An image moto offers.
async fn any_image(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.describe_images().send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_string()
}

/// A classic ELB named `name` in one zone, HTTP 80 → 80.
async fn create_load_balancer(elb: &aws_sdk_elasticloadbalancing::Client, name: &str) {
    elb.create_load_balancer()
        .load_balancer_name(name)
        .availability_zones("us-east-1a")
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_port(80)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// What a node needs around it: a bucket, an instance, and the load balancer it joins.
struct Stage {
    s3: aws_sdk_s3::Client,
    bucket: String,
    elb: aws_sdk_elasticloadbalancing::Client,
    lb: String,
    instance: String,
}

async fn stage(what: &str) -> Stage {
    let sdk = sdk_config(AREA);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique(what).to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The load balancer and the instance, as the reference stack and the group make them.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ami = any_image(&ec2).await;
    let inst = ec2
        .run_instances()
        .image_id(ami)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = inst.instances()[0].instance_id().unwrap().to_string();
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk);
    let lb = unique("lb");
    create_load_balancer(&elb, &lb).await;
    Stage {
        s3,
        bucket,
        elb,
        lb,
        instance,
    }
}

#[tokio::test]
async fn an_artifact_deploys_in_the_article_s_order_and_joins_the_load_balancer() {
    let Stage {
        s3,
        bucket,
        elb,
        lb,
        instance,
    } = stage("artifacts").await;

    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("srv");
    let log = work.path().join("steps.log");
    let current = root.join("myapp/current");
    let file = artifact(work.path(), "v1", HOOKS);
    let id = publish(&bucket, &file, &log);
    let root_s = root.display().to_string();
    let configure = format!("echo \"configure $(pwd)\" >> \"$LOG\"; test -L {root_s}/myapp/next");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--once",
            "--bucket",
            &bucket,
            "--service",
            "myapp",
            "--root",
            &root_s,
            "--configure",
            &configure,
        ];
        args.extend_from_slice(extra);
        let mut cmd = Command::new(converge_bin());
        aws_env(&mut cmd)
            .arg("node")
            .args(&args)
            .args(["--endpoint-url", &moto(AREA).endpoint])
            .env("LOG", &log)
            .env("CONVERGE_ROOT_CURRENT", &current);
        cmd.output().expect("run converge node run")
    };
    let out = run(&["--load-balancer", &lb, "--instance-id", &instance]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let release = root.join("myapp/releases").join(&id);
    let steps = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        steps,
        format!(
            "pre {id} {r}\nconfigure {r}\npost {r}\n",
            r = release.display()
        ),
        "the article's order: next linked, pre-release hooks, configuration, current, post-release"
    );
    assert_eq!(std::fs::read_link(&current).unwrap(), release);
    assert!(!root.join("myapp/next").exists());
    assert_eq!(
        std::fs::read_to_string(current.join("app.txt")).unwrap(),
        "v1\n"
    );
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_names(&lb)
        .send()
        .await
        .unwrap();
    let members: Vec<_> = lbs.load_balancer_descriptions()[0]
        .instances()
        .iter()
        .filter_map(|i| i.instance_id())
        .collect();
    assert_eq!(
        members,
        vec![instance.as_str()],
        "registered after the good deployment"
    );

    // A service without a marker: nothing to deploy, exit 1, nothing touched.
    let out = node(
        &[
            "run",
            "--once",
            "--bucket",
            &bucket,
            "--service",
            "nothing-yet",
            "--root",
            &root_s,
        ],
        &log,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("deploy/nothing-yet/current does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(!root.join("nothing-yet").exists());

    // Already there: no step runs again.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), steps);

    // A tarball that writes outside its release: refused, nothing written outside, current kept.
    let evil_dir = work.path().join("evil");
    std::fs::create_dir_all(&evil_dir).unwrap();
    let evil = work.path().join("evil.tar.gz");
    std::fs::write(evil_dir.join("x"), "x").unwrap();
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&evil)
        .arg("-C")
        .arg(&evil_dir)
        .arg("--transform")
        .arg("s,^x,../../escaped,")
        .arg("x")
        .status()
        .unwrap();
    assert!(st.success());
    publish(&bucket, &evil, &log);
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refused") && stderr(&out).contains("above the release"),
        "{}",
        stderr(&out)
    );
    assert!(!root.join("escaped").exists() && !root.join("myapp/escaped").exists());
    assert_eq!(std::fs::read_link(&current).unwrap(), release);

    // A checksum mismatch: the artifact the marker names is not the one published.
    let v2 = artifact(work.path(), "v2", &[("app.txt", "v2\n", false)]);
    let id2 = publish(&bucket, &v2, &log);
    s3.put_object()
        .bucket(&bucket)
        .key(format!("deploy/myapp/{id2}.tar.gz"))
        .body(std::fs::read(&file).unwrap().into())
        .send()
        .await
        .unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("checksum mismatch")
            || stderr(&out).contains("bytes its marker says"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_link(&current).unwrap(), release);

    // A failing pre-release hook: current stays, the error names the hook.
    let v3 = artifact(
        work.path(),
        "v3",
        &[(
            "hooks/pre-release/10-fail",
            "#!/bin/sh\necho broken >&2\nexit 3\n",
            true,
        )],
    );
    publish(&bucket, &v3, &log);
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("pre-release hook") && stderr(&out).contains("broken"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_link(&current).unwrap(), release);
}

/// `converge node run` as a service: a new artifact published while it runs is deployed within
/// the poll interval, `current` never reads as missing meanwhile, and SIGTERM deregisters the
/// instance before the node exits.
#[tokio::test]
async fn a_running_node_follows_the_marker_and_leaves_its_load_balancer_on_sigterm() {
    let Stage {
        bucket,
        elb,
        lb,
        instance,
        ..
    } = stage("running").await;
    let members = || members_of(&elb, &lb);

    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("srv");
    let log = work.path().join("steps.log");
    let v1 = artifact(work.path(), "v1", &[("app.txt", "v1\n", false)]);
    publish(&bucket, &v1, &log);
    let mut cmd = node_run(&bucket, &root);
    cmd.args(["--poll-interval", "1s", "--metrics-addr", "127.0.0.1:0"])
        .args(["--load-balancer", &lb, "--instance-id", &instance])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let current = root.join("myapp/current");
    let app = current.join("app.txt");
    let wait = wait_for;
    wait("v1", &|| {
        std::fs::read_to_string(&app).ok().as_deref() == Some("v1\n")
    });
    let registered = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let m = members().await;
            if m == vec![instance.clone()] || std::time::Instant::now() > deadline {
                break m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    assert_eq!(registered, vec![instance.clone()]);

    // A reader that reads `current` all the time while v2 is deployed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, app) = (stop.clone(), app.clone());
        std::thread::spawn(move || {
            let mut misses = 0;
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match std::fs::read_to_string(&app) {
                    Ok(t) => {
                        seen.insert(t);
                    }
                    Err(_) => misses += 1,
                }
            }
            (misses, seen)
        })
    };
    let v2 = artifact(work.path(), "v2", &[("app.txt", "v2\n", false)]);
    publish(&bucket, &v2, &log);
    wait("v2 within the poll interval", &|| {
        std::fs::read_to_string(&app).ok().as_deref() == Some("v2\n")
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (misses, seen) = reader.join().unwrap();
    assert_eq!(
        misses, 0,
        "current was missing or half-switched for a reader"
    );
    assert!(
        seen.contains("v2\n") && seen.iter().all(|t| t == "v1\n" || t == "v2\n"),
        "a reader saw the old release or the new one, never anything else: {seen:?}"
    );

    // SIGTERM: deregistered before the node exits.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(members().await.is_empty(), "deregistered on SIGTERM");
}

/// Waits up to 30 s for `cond`.
fn wait_for(what: &str, cond: &dyn Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn signal(child: &std::process::Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// A node with an hour between polls reads the markers on SIGHUP: an unchanged marker costs a
/// conditional read answered `304 Not Modified`, a new one is deployed at once.
#[tokio::test]
async fn sighup_reads_the_marker_now_and_an_unchanged_marker_is_not_fetched_again() {
    let Stage { bucket, .. } = stage("sighup").await;
    let addr = format!("127.0.0.1:{}", free_port());
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("srv");
    let log = work.path().join("steps.log");
    let node_log = work.path().join("node.log");
    publish(
        &bucket,
        &artifact(work.path(), "v1", &[("app.txt", "v1\n", false)]),
        &log,
    );
    let mut cmd = node_run(&bucket, &root);
    cmd.args(["--poll-interval", "1h", "--log-level", "converge=debug"])
        .args(["--metrics-addr", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&node_log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let app = root.join("myapp/current/app.txt");
    let read_app = || std::fs::read_to_string(&app).ok();
    wait_for("v1", &|| read_app().as_deref() == Some("v1\n"));
    let not_modified = || {
        std::fs::read_to_string(&node_log)
            .unwrap_or_default()
            .matches("marker not modified (304)")
            .count()
    };
    assert_eq!(not_modified(), 0, "the first read is a plain one");
    signal(&child, libc::SIGHUP);
    wait_for("a conditional read after SIGHUP", &|| not_modified() >= 1);
    publish(
        &bucket,
        &artifact(work.path(), "v2", &[("app.txt", "v2\n", false)]),
        &log,
    );
    signal(&child, libc::SIGHUP);
    wait_for("v2 after SIGHUP, long before the next poll", &|| {
        read_app().as_deref() == Some("v2\n")
    });
    // The node's own /status and metrics say what is deployed and what is desired.
    let v2 = std::fs::read_link(root.join("myapp/current")).unwrap();
    let v2 = v2.file_name().unwrap().to_string_lossy().into_owned();
    let status = || {
        let (code, body) = http_get(&addr, "/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    // Recorded once the pass ends, a moment after `current` switched.
    wait_for("the status to show v2 deployed", &|| {
        status()["services"]["myapp"]["deployed"] == v2.as_str()
    });
    let status = status();
    let body = status.to_string();
    assert_eq!(
        status["services"]["myapp"]["desired"],
        v2.as_str(),
        "{body}"
    );
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(
        metrics.contains(&format!(
            "converge_node_deployed_info{{artifact=\"{v2}\",service=\"myapp\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("converge_node_deploys_total{outcome=\"deployed\",service=\"myapp\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("converge_node_step_duration_seconds_count{step=\"switch\"} 2"),
        "{metrics}"
    );
    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
}

/// SIGKILL in the middle of a deploy (in its pre-release hook): `current` is still the old
/// release, and the next run converges to the marker and leaves no staging files behind.
#[tokio::test]
async fn a_node_killed_mid_deploy_resumes_to_the_marker_without_a_half_state() {
    let Stage { bucket, .. } = stage("sigkill").await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("srv");
    let log = work.path().join("steps.log");
    let go_on = work.path().join("go-on");
    publish(
        &bucket,
        &artifact(work.path(), "v1", &[("app.txt", "v1\n", false)]),
        &log,
    );
    let run_once = || {
        node(
            &[
                "run",
                "--bucket",
                &bucket,
                "--service",
                "myapp",
                "--root",
                &root.display().to_string(),
                "--configure",
                "true",
                "--once",
            ],
            &log,
        )
    };
    let out = run_once();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // v2's pre-release hook hangs until the file `go-on` exists.
    let hook = format!(
        "#!/bin/sh\necho started >> \"$LOG\"\nwhile [ ! -e '{}' ]; do sleep 0.1; done\n",
        go_on.display()
    );
    let v2 = publish(
        &bucket,
        &artifact(
            work.path(),
            "v2",
            &[
                ("app.txt", "v2\n", false),
                ("hooks/pre-release/10-wait", &hook, true),
            ],
        ),
        &log,
    );
    let mut cmd = node_run(&bucket, &root);
    cmd.arg("--once")
        .env("LOG", &log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    wait_for("v2's hook to start", &|| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
    });
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    let app = root.join("myapp/current/app.txt");
    assert_eq!(
        std::fs::read_to_string(&app).unwrap(),
        "v1\n",
        "killed before the switch: current is still v1"
    );

    std::fs::write(&go_on, "").unwrap();
    let out = run_once();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&app).unwrap(), "v2\n");
    let current = std::fs::read_link(root.join("myapp/current")).unwrap();
    assert!(current.ends_with(&v2), "{current:?} is the marker's {v2}");
    assert!(
        !root.join("myapp/next").exists(),
        "next is gone once current switched"
    );
    let leftovers: Vec<_> = std::fs::read_dir(current.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging files left: {leftovers:?}");
}

/// First boot: no --service, no --grains, a hostname outside the naming convention. The node
/// finds its grains from its Auto Scaling group's `aws:autoscaling:groupName` tag, deploys the
/// group's service and joins the group's load balancer (the cluster name).
///
/// The instance id comes from `--instance-id` here: moto's instance metadata answers the IMDSv2
/// token request without the `x-aws-ec2-metadata-token-ttl-seconds` header the SDK's client
/// requires, so against moto the metadata path can only show its failure: exit 1, the reason,
/// and nothing deployed.
#[tokio::test]
async fn a_node_without_a_name_takes_its_grains_from_its_auto_scaling_group() {
    let Stage { bucket, elb, .. } = stage("identity").await;
    let sdk = sdk_config(AREA);
    let instance_name = unique("id").replace('-', "_");
    let group = format!("myapp-{instance_name}-useast1");
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ami = any_image(&ec2).await;
    asg.create_launch_configuration()
        .launch_configuration_name(&group)
        .image_id(ami)
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .launch_configuration_name(&group)
        .min_size(1)
        .max_size(1)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();
    let instance = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    create_load_balancer(&elb, &group).await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("srv");
    let log = work.path().join("steps.log");
    publish(
        &bucket,
        &artifact(work.path(), "v1", &[("app.txt", "v1\n", false)]),
        &log,
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--bucket",
            &bucket,
            "--root",
            root.to_str().unwrap(),
            "--configure",
            "true",
            "--once",
        ];
        args.extend_from_slice(extra);
        node(&args, &log)
    };
    let out = run(&["--instance-id", &instance]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(root.join("myapp/current/app.txt")).unwrap(),
        "v1\n",
        "the group's service was deployed"
    );
    assert_eq!(
        members_of(&elb, &group).await,
        vec![instance],
        "joined the group's load balancer"
    );

    let other = work.path().join("other");
    let out = node(
        &[
            "run",
            "--bucket",
            &bucket,
            "--root",
            other.to_str().unwrap(),
            "--once",
            "--imds-endpoint",
            &moto(AREA).endpoint,
        ],
        &log,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "does not follow the naming convention, and identity: cannot read the instance id from the instance metadata service"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!other.exists(), "nothing deployed without an identity");
}

/// The node's own flags in bad forms: a metadata endpoint that is not a URL, a metrics address
/// already taken. Each is a clear error before anything is deployed.
#[test]
fn bad_node_flags_are_refused_before_anything_is_deployed() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("srv");
    let log = work.path().join("steps.log");
    let root_arg = root.display().to_string();
    let out = node(
        &[
            "run",
            "--bucket",
            "b",
            "--root",
            &root_arg,
            "--imds-endpoint",
            "not a url",
        ],
        &log,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("identity: --imds-endpoint not a url:"),
        "{}",
        stderr(&out)
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = node(
        &[
            "run",
            "--bucket",
            "b",
            "--service",
            "myapp",
            "--root",
            &root_arg,
            "--metrics-addr",
            &addr,
        ],
        &log,
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
    assert!(!root.exists(), "nothing deployed");
}
