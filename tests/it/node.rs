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

#[tokio::test]
async fn an_artifact_deploys_in_the_article_s_order_and_joins_the_load_balancer() {
    let sdk = sdk_config(AREA);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("artifacts").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The load balancer and the instance, as the reference stack and the group make them.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ami = ec2.describe_images().send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_string();
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
    elb.create_load_balancer()
        .load_balancer_name(&lb)
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
