//! The command-line contract: exit codes, errors with locations, help. No AWS needed except
//! where noted.

use crate::common::*;

/// The area of these tests: it picks their moto server (see `common`).
const AREA: Area = area!();

#[test]
fn bad_flags_exit_64() {
    let out = converge(AREA, &["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let out = converge(AREA, &["validate"]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "missing --desired: {}",
        stderr(&out)
    );
    let out = converge(AREA, &["run", "--desired", "/tmp", "--resync", "soon"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("not a duration"), "{}", stderr(&out));
}

#[test]
fn an_unreadable_desired_dir_exits_64_before_binding() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = converge(
        AREA,
        &[
            "run",
            "--desired",
            "/nonexistent/converge",
            "--metrics-addr",
            &addr,
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read desired directory /nonexistent/converge"),
        "{}",
        stderr(&out)
    );
    for cmd in ["validate", "plan", "apply"] {
        let out = converge(AREA, &[cmd, "--desired", "/nonexistent/converge"]);
        assert_eq!(out.status.code(), Some(64), "{cmd}: {}", stderr(&out));
    }
}

#[test]
fn help_explains_every_flag() {
    let out = converge(AREA, &["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for flag in [
        "--desired",
        "--endpoint-url",
        "--region",
        "--metrics-addr",
        "--resync",
        "--prune",
        "--max-deletions",
        "--observe-only",
        "--log-format",
        "--controller-id",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}");
    }
    for cmd in ["plan", "apply", "validate"] {
        let out = converge(AREA, &[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("--desired"));
    }
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let d = Desired::new();
    d.write("ok.yaml", &queue_doc("dup", ""));
    d.write("nested/dup.yaml", &queue_doc("dup", ""));
    d.write(
        "bad.yaml",
        "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  attributes:\n    VisibilityTimeout: 60\n    Bogus: 1\n",
    );
    d.write(
        "kind.yml",
        "apiVersion: converge/v1\nkind: Bucket\nmetadata: {name: b}\nspec: {}\n",
    );
    d.write(
        "range.yaml",
        &queue_doc("q2", "attributes: {DelaySeconds: 9000}"),
    );
    d.write("syntax.yaml", "apiVersion: converge/v1\nkind: [\n");
    d.write("notes.txt", "not yaml, ignored");
    let out = converge(AREA, &["validate", "--desired", &d.path_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let root = d.path_str();
    assert!(
        err.contains(&format!("{root}/bad.yaml:8:5: unknown field `Bogus`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{root}/kind.yml:2:")) && err.contains("unknown kind `Bucket`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{root}/range.yaml:"))
            && err.contains("DelaySeconds: `9000` must be a whole number from 0 to 900"),
        "{err}"
    );
    assert!(err.contains(&format!("{root}/syntax.yaml:")), "{err}");
    assert!(
        err.contains("duplicate Queue `dup`")
            && err.contains("nested/dup.yaml")
            && err.contains("ok.yaml"),
        "duplicates must name both files: {err}"
    );
    assert!(err.contains("5 problem(s)"), "{err}");
}

#[test]
fn validate_accepts_the_examples() {
    for tree in ["examples", "estate"] {
        let dir = format!("{}/desired/{tree}", env!("CARGO_MANIFEST_DIR"));
        let out = converge(AREA, &["validate", "--desired", &dir]);
        assert_eq!(out.status.code(), Some(0), "{tree}: {}", stderr(&out));
    }
    let out = converge(
        AREA,
        &[
            "validate",
            "--desired",
            &format!("{}/desired/estate", env!("CARGO_MANIFEST_DIR")),
        ],
    );
    let text = stdout(&out);
    for shard in [
        "prod/eu-west-1: 10",
        "prod/global: 2",
        "shared/global: 2",
        "shared/us-east-1: 10",
    ] {
        assert!(text.contains(&format!("  {shard} resource(s)")), "{text}");
    }
}

#[test]
fn plan_on_an_invalid_tree_exits_1_without_calling_aws() {
    let d = Desired::new();
    d.write(
        "bad.yaml",
        "apiVersion: converge/v1\nkind: Queue\nmetadata: {name: q}\nspec: {nope: 1}\n",
    );
    let out = converge(AREA, &["plan", "--desired", &d.path_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.yaml:4:8: unknown field `nope`"),
        "{}",
        stderr(&out)
    );
}
