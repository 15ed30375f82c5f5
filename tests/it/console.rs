//! The operator's console (`/`) in a real headless browser (Debian's `chromium`, installed by
//! `.ci/run`), `converge status`, and what protects both: escaping, the Content-Security-Policy
//! and `--http-auth-file`.
//!
//! The browser runs against a `converge run` of the reference stack on this area's moto: the
//! page shows every resource with its state, a drift made out of band shows as drift and then
//! converged, an invalid desired file shows its file:line in the header (its name, markup,
//! as text), and the filter narrows the table.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const AREA: Area = area!();

/// Chromium's path, from `scripts/chromium` (which installs Debian's package when missing).
fn chromium() -> String {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new(repo().join("scripts/chromium"))
            .output()
            .expect("run scripts/chromium");
        assert!(
            out.status.success(),
            "the console test needs Debian's chromium, and scripts/chromium could not install it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out).trim().to_string()
    })
    .clone()
}

/// Runs headless Chromium on `url` with `what` (`--dump-dom`, `--screenshot=…`); returns
/// stdout. The flags keep it off the network (this machine has none) and let the page's first
/// poll of /status complete (virtual time runs while requests are pending).
fn browse(url: &str, what: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(what)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dom(r: &Running, path: &str) -> String {
    browse(&format!("http://{}{path}", r.addr), "--dump-dom")
}

/// The rows of the resources table in a dumped DOM: `(data-key, the row's HTML)`.
fn rows(dom: &str) -> Vec<(String, String)> {
    dom.split("<tr data-state=")
        .skip(1)
        .map(|chunk| {
            let row = chunk.split("</tr>").next().unwrap_or("").to_string();
            let key = row
                .split("data-key=\"")
                .nth(1)
                .and_then(|k| k.split('"').next())
                .unwrap_or("")
                .to_string();
            (key, row)
        })
        .collect()
}

/// Every desired resource of `/status` as `shard|kind|name`, with its state.
fn status_rows(r: &Running) -> Vec<(String, String)> {
    let s = r.status();
    let mut out = Vec::new();
    for shard in s["shards"].as_array().unwrap() {
        for (kind, k) in shard["kinds"].as_object().into_iter().flatten() {
            for res in k["resources"].as_array().into_iter().flatten() {
                out.push((
                    format!(
                        "{}|{kind}|{}",
                        shard["shard"].as_str().unwrap(),
                        res["name"].as_str().unwrap()
                    ),
                    res["state"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

fn all_converged(r: &Running, n: usize) -> bool {
    let rows = status_rows(r);
    rows.len() == n && rows.iter().all(|(_, s)| s == "converged")
}

/// `converge status <args>` (stdout, exit code).
fn status_cmd(args: &[&str]) -> (String, i32) {
    let out = Command::new(converge_bin())
        .arg("status")
        .args(args)
        .output()
        .expect("run converge status");
    (
        format!("{}{}", stdout(&out), stderr(&out)),
        out.status.code().unwrap_or(-1),
    )
}

/// A raw GET with extra header lines; returns the whole response (head and body).
fn raw_get(addr: &str, path: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The status code of a raw response.
fn code(res: &str) -> u16 {
    res.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_console_shows_the_reference_stack_its_drift_and_its_load_errors_in_a_browser() {
    create_zone(
        &aws_sdk_route53::Client::new(&sdk_config(AREA)),
        "example.com.",
    )
    .await;
    let tree = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("desired/examples"), tree.path());
    let dir = tree.path().display().to_string();
    let r = Running::start(AREA, &dir, &["--resync", "3s"]);
    r.wait_for("the reference stack to converge", 180, |r| {
        all_converged(r, 24)
    });

    // Every resource, with its state, in the page the browser built.
    let page = dom(&r, "/");
    let shown = rows(&page);
    let want = status_rows(&r);
    assert_eq!(shown.len(), want.len(), "one row per desired resource");
    for (key, _) in &want {
        let row = shown
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} is not in the page"));
        assert!(row.1.starts_with("\"converged\""), "{key}: {}", row.1);
    }
    assert!(page.contains("data-loaded=\"true\""));
    assert!(
        page.contains("✓ valid") || page.contains(">valid<"),
        "header says the tree is valid"
    );
    assert!(page.contains("myapp-testing-useast1"));

    // A screenshot that is not blank: for README (docs/console.png) when asked.
    let shot = repo().join("target/console-test.png");
    browse(
        &format!("http://{}/", r.addr),
        &format!("--screenshot={}", shot.display()),
    );
    let stats = Command::new("python3")
        .arg(repo().join("scripts/png-stats.py"))
        .arg(&shot)
        .output()
        .unwrap();
    let stats = stdout(&stats);
    let colours: usize = stats
        .split("colours=")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let foreground: f64 = stats
        .split("foreground=")
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(colours > 50 && foreground > 0.05, "a blank page? {stats}");
    if std::env::var_os("CONVERGE_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(&shot, repo().join("docs/console.png")).unwrap();
    }

    // The filter narrows the table (and lives in the URL).
    let filtered = rows(&dom(&r, "/?q=example-queue-1"));
    let keys: Vec<_> = filtered.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "default/us-east-1|Queue|myapp-production-example-queue-1",
            "default/us-east-1|Queue|myapp-testing-example-queue-1"
        ]
    );
    let by_state = rows(&dom(&r, "/?kind=IamRole&state=converged"));
    assert_eq!(by_state.len(), 2, "{by_state:?}");

    // `converge status`, from the same controller.
    let (table, code) = status_cmd(&["--addr", &r.addr]);
    assert_eq!(code, 0, "{table}");
    assert!(
        table.lines().nth(1).unwrap().starts_with("SHARD "),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2 + 24, "{table}");
    let (json, code) = status_cmd(&["--addr", &r.addr, "-o", "json", "--kind", "Queue"]);
    assert_eq!(code, 0);
    let rows_json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let queues = rows_json.as_array().unwrap();
    assert_eq!(queues.len(), 7, "{json}");
    assert!(queues
        .iter()
        .all(|q| q["state"] == "converged" && q["kind"] == "Queue"));
    let (none, code) = status_cmd(&["--addr", &r.addr, "--state", "failed"]);
    assert_eq!((none.lines().count(), code), (2, 0), "{none}");

    // A drift made out of band: shown as drift, then converged again.
    let sqs = sqs(AREA).await;
    let name = "myapp-testing-example-queue-1";
    let url = queue_url(&sqs, name).await.unwrap();
    sqs.tag_queue()
        .queue_url(&url)
        .tags("service_name", "tampered")
        .send()
        .await
        .unwrap();
    let key = format!("default/us-east-1|Queue|{name}");
    r.wait_for("the drift to be found and corrected", 60, |r| {
        r.kind_status("Queue")["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == name && q["drifts"] == 1 && q["state"] == "converged")
    });
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get("service_name"))
            .map(String::as_str),
        Some("myapp"),
        "converge put the desired tag back"
    );
    let page = dom(&r, &format!("/?q={name}&sel={}", key.replace('|', "%7C")));
    let (_, row) = rows(&page).into_iter().find(|(k, _)| *k == key).unwrap();
    assert!(row.starts_with("\"converged\""), "{row}");
    assert!(row.contains("<td class=\"drift\">1</td>"), "{row}");
    assert!(
        row.contains(">tag "),
        "its last change is the correction: {row}"
    );
    // The detail and the activity feed have the correction's audit record.
    let detail = page
        .split("<section id=\"detail\"")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap();
    assert!(
        !detail.starts_with(" hidden"),
        "the detail is shown: {detail}"
    );
    let audit = detail.split("id=\"detail-audit\"").nth(1).unwrap();
    assert!(audit.contains("tags.service_name: "), "{audit}");
    assert!(audit.contains("tampered"), "{audit}");

    // An invalid desired file: its file:line in the header, its name (markup) as text, the
    // last good tree still shown.
    let bad = "<img src=x onerror=alert(1)>.yaml";
    std::fs::write(tree.path().join(bad), "kind: [\n").unwrap();
    r.wait_for("the invalid file to be reported", 30, |r| {
        r.status()["desired"]["last_load"]["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });
    let page = dom(&r, "/");
    let errors = page
        .split("id=\"load-error-list\"")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .unwrap();
    assert!(
        errors.contains("&lt;img src=x onerror=alert(1)&gt;.yaml:1:"),
        "{errors}"
    );
    assert!(
        !page.contains("<img"),
        "markup from a file name became an element"
    );
    assert!(!page.contains("id=\"load-errors\" class=\"problems\" hidden"));
    assert_eq!(rows(&page).len(), 24, "the last good tree stays shown");
    let (table, code) = status_cmd(&["--addr", &r.addr]);
    assert_eq!(code, 0, "an invalid tree is not a failed resource: {table}");
    assert!(
        table.contains("INVALID") && table.contains(".yaml:1:"),
        "{table}"
    );
}

#[test]
fn the_console_is_read_only_escaped_and_behind_the_auth_file() {
    let tree = Desired::new();
    tree.write("q.yaml", &queue_doc("console-auth-queue", ""));
    let auth = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(auth.path(), "# ops\nbearer 0123456789abcdef-console\n").unwrap();
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "0123456789abcdef-console\n").unwrap();
    // Nothing listens on port 9: every listing fails, so `status` has something failed.
    let r = Running::start_with(
        &tree.path_str(),
        "http://127.0.0.1:9",
        &[],
        &[
            "--http-auth-file",
            &auth.path().display().to_string(),
            "--max-attempts",
            "1",
        ],
    );
    for open in ["/metrics", "/healthz", "/readyz"] {
        let res = raw_get(&r.addr, open, "");
        assert_ne!(code(&res), 401, "{open} stays open: {res}");
        assert!(code(&res) == 200 || open == "/readyz", "{open}: {res}");
    }
    for closed in ["/", "/status", "/ui/app.js", "/source?file=q.yaml"] {
        let res = raw_get(&r.addr, closed, "");
        assert_eq!(code(&res), 401, "{closed}: {res}");
        assert!(res.to_ascii_lowercase().contains("www-authenticate: basic"));
    }
    let page = raw_get(
        &r.addr,
        "/",
        "Authorization: Bearer 0123456789abcdef-console\r\n",
    );
    assert_eq!(code(&page), 200, "{page}");
    let head = page.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self';"),
        "{head}"
    );
    let body = page.split("\r\n\r\n").nth(1).unwrap();
    for tag in body.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap();
        assert!(
            open.contains("src=\"/ui/app.js\""),
            "only the page's own script file: <script{open}>"
        );
    }
    assert!(
        !body.contains(" style=") && !body.contains(" onclick="),
        "no inline style or handler"
    );

    // The source view serves only files the tree declares, escaped.
    let file = tree.path().join("q.yaml").display().to_string();
    let src = raw_get(
        &r.addr,
        &format!("/source?file={file}"),
        "Authorization: Bearer 0123456789abcdef-console\r\n",
    );
    assert!(code(&src) == 200 && src.contains("id=\"L1\""), "{src}");
    let other = raw_get(
        &r.addr,
        "/source?file=/etc/passwd",
        "Authorization: Bearer 0123456789abcdef-console\r\n",
    );
    assert!(code(&other) == 404 && !other.contains("root:"), "{other}");

    // Nothing behind the console changes anything: only GET is served.
    let post = {
        let mut s = TcpStream::connect(&r.addr).unwrap();
        write!(s, "POST /status HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer 0123456789abcdef-console\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert_eq!(code(&post), 405, "{post}");

    // `converge status`: without the token it says what is missing; with it, the failed
    // listings make it exit 1.
    let (out, code) = status_cmd(&["--addr", &r.addr]);
    assert_eq!(code, 1);
    assert!(out.contains("needs a credential"), "{out}");
    let token_path = token.path().display().to_string();
    r.wait_for("the queue listing to fail", 60, |r| {
        let (out, code) =
            status_cmd(&["--addr", &r.addr, "--token-file", &token_path, "-o", "wide"]);
        code == 1 && out.contains("Queue: cannot list") && out.contains("console-auth-queue")
    });
}
