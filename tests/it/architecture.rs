//! The module graph, checked: every module of `src/` imports only the floors below it, so the
//! layering in README's module map stays true (and stays free of cycles) as the code grows.
//!
//! Floors, bottom up: `core`, `metrics`, `mem`, `status_view` → `template`, `desired` → `engine`, `aws`,
//! `http`, `plan` → `kinds` (each kind, and `kinds::common`) → `salt`, `cli`, `main`. The rules
//! the issue that introduced them names are tested by name below; [`ALLOWED`] is the whole
//! table. References are read from the source text: `crate::<module>` (also inside
//! `use crate::{a, b::c}` groups) and `super::` paths, comments and strings left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules it may refer to. A kind (`kinds::<kind>`) may use `kinds::common`
/// and nothing else of `kinds`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("metrics", &[]),
    ("mem", &[]),
    ("status_view", &[]),
    ("node", &[]),
    ("template", &["core"]),
    ("desired", &["core", "template", "metrics", "mem"]),
    ("engine", &["core", "metrics", "mem"]),
    ("aws", &["core", "metrics"]),
    ("http", &["core", "engine", "metrics"]),
    ("plan", &["core", "engine", "metrics"]),
    ("kinds::common", &["core", "engine", "aws", "metrics"]),
    (
        "kinds::<kind>",
        &["core", "engine", "aws", "metrics", "kinds::common"],
    ),
    // The registry: every kind, the loader it instantiates, and its own tests.
    (
        "kinds",
        &["core", "engine", "aws", "metrics", "desired", "kinds::*"],
    ),
    ("salt", &["core", "desired", "template", "kinds"]),
    ("cli", &["core", "aws", "status_view"]),
    ("lease", &["core", "engine", "metrics"]),
    (
        "supervisor",
        &["core", "engine", "aws", "kinds", "lease", "metrics"],
    ),
    ("lib", &["*"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `src/kinds/queue/diff.rs` → `[kinds, queue, diff]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).expect("a file below src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        return parts;
    }
    parts
}

/// The modules of `src/kinds/` (each kind, and `common`).
fn kind_modules() -> BTreeSet<String> {
    std::fs::read_dir(src().join("kinds"))
        .expect("read src/kinds")
        .map(|e| e.expect("directory entry").path())
        .filter_map(|p| {
            let name = p
                .file_name()?
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            (p.is_dir() || name != "mod" && name != "tests").then_some(name)
        })
        .collect()
}

/// The module a path belongs to, as the rules name it: `kinds::<kind>` for a kind's modules,
/// `kinds` for the registry (`kinds::Kinds`, `kinds::load`, its tests).
fn unit(path: &[String]) -> String {
    match path {
        [] => "lib".to_string(),
        [k, m, ..] if k == "kinds" && kind_modules().contains(m) => format!("kinds::{m}"),
        [first, ..] => first.clone(),
    }
}

/// The text of a file without comments and string literals (so docs that mention
/// `crate::desired` are not references).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r'
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
            && (i == 0 || !(b[i - 1] as char).is_alphanumeric())
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A character literal such as '"' (not a lifetime).
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first two segments of every absolute path one file refers to (`crate::a::b` → `[a, b]`,
/// `super::x` resolved against the file's module).
fn references(file: &Path) -> BTreeSet<Vec<String>> {
    let text = std::fs::read_to_string(file).expect("read a source file");
    let code = code_of(&text);
    let here = module_path(file);
    let mut refs = BTreeSet::new();
    // crate::a::b and crate::{a::b, c}
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                item.push(c);
            }
            items.push(item);
            for i in items {
                let i = i.trim().trim_start_matches(',').trim();
                let mut segs = i.split("::").map(|s| ident_at(s.trim()));
                let first = segs.next().unwrap_or_default();
                let second = segs.next().unwrap_or_default();
                if !first.is_empty() {
                    refs.insert(vec![first, second]);
                }
            }
        } else {
            let mut segs = rest.split("::");
            let first = ident_at(segs.next().unwrap_or_default());
            let second = segs.next().map(ident_at).unwrap_or_default();
            refs.insert(vec![first, second]);
        }
    }
    // super::x (in a file's top-level `mod tests { ... }`, super is the file's own module)
    let inline_tests = code.find("\nmod tests {").unwrap_or(code.len());
    for (at, _) in code.match_indices("super::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut base: Vec<String> = here.clone();
        if at > inline_tests {
            base.push("tests".to_string());
        }
        let mut rest = &code[at..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let next = ident_at(rest);
        if next.is_empty() {
            continue;
        }
        base.push(next);
        if base.len() == 1 {
            base.push(String::new());
        }
        refs.insert(base.into_iter().take(2).collect());
    }
    refs
}

fn allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let key = if from.starts_with("kinds::") && from != "kinds::common" {
        "kinds::<kind>"
    } else {
        from
    };
    let Some((_, list)) = ALLOWED.iter().find(|(m, _)| *m == key) else {
        return false;
    };
    list.iter().any(|a| {
        *a == "*"
            || *a == to
            || (*a == "kinds::*" && to.starts_with("kinds"))
            || (*a == "kinds" && to.starts_with("kinds"))
    })
}

/// Every reference from one module to another that the table does not allow, as
/// `file: from → to`.
fn violations() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out = Vec::new();
    for file in files {
        let path = module_path(&file);
        if path == ["main"] {
            continue; // the binary: wiring, may use anything
        }
        let from = unit(&path);
        for r in references(&file) {
            let to = unit(&r);
            // `crate::kinds::Kinds` and friends: the registry module itself.
            let to = if to.starts_with("kinds::")
                && r.get(1).is_some_and(|s| {
                    s.chars().next().is_some_and(char::is_uppercase) || s.is_empty()
                }) {
                "kinds".to_string()
            } else {
                to
            };
            if !allowed(&from, &to) {
                out.push(format!(
                    "{}: {from} → {to}",
                    file.strip_prefix(src()).unwrap_or(&file).display()
                ));
            }
        }
    }
    out
}

/// The modules each module refers to (for the messages).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = unit(&module_path(&file));
        for r in references(&file) {
            let to = unit(&r);
            if to != from {
                g.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    g
}

#[test]
fn every_module_imports_only_the_floors_below_it() {
    let v = violations();
    assert!(
        v.is_empty(),
        "imports the layering forbids:\n{}\n\nthe graph: {:#?}",
        v.join("\n"),
        graph()
    );
}

#[test]
fn the_loader_and_templates_know_no_kind_and_no_engine() {
    let g = graph();
    for m in ["desired", "template"] {
        let bad: Vec<_> = g
            .get(m)
            .into_iter()
            .flatten()
            .filter(|t| t.starts_with("kinds") || *t == "engine")
            .collect();
        assert!(bad.is_empty(), "{m} imports {bad:?}");
    }
}

#[test]
fn the_engine_knows_no_aws_and_no_kind_and_aws_knows_no_engine() {
    let g = graph();
    let engine: Vec<_> = g
        .get("engine")
        .into_iter()
        .flatten()
        .filter(|t| t.starts_with("kinds") || *t == "aws")
        .collect();
    assert!(engine.is_empty(), "engine imports {engine:?}");
    assert!(
        !g.get("aws").is_some_and(|t| t.contains("engine")),
        "aws imports engine"
    );
}

#[test]
fn no_kind_imports_another_kind() {
    for (from, to) in graph() {
        if !from.starts_with("kinds::") || from == "kinds::common" {
            continue;
        }
        let other: Vec<_> = to
            .iter()
            .filter(|t| t.starts_with("kinds::") && **t != "kinds::common")
            .collect();
        assert!(other.is_empty(), "{from} imports {other:?}");
    }
}

#[test]
fn the_checker_sees_references_and_ignores_comments_and_strings() {
    let dir = src().join("core");
    let file = dir.join("model.rs");
    let refs = references(&file);
    assert!(
        refs.contains(&vec!["core".to_string(), "source".to_string()])
            || refs.iter().any(|r| r[0] == "core"),
        "{refs:?}"
    );
    let code = code_of(
        "use crate::{a::b, c}; // crate::d\nlet s = \"crate::e\";\n/* crate::f */ crate::g::h();",
    );
    assert!(
        code.contains("crate::{a::b, c}") && code.contains("crate::g::h"),
        "{code}"
    );
    assert!(
        !code.contains("crate::d") && !code.contains("crate::e") && !code.contains("crate::f"),
        "{code}"
    );
    assert!(allowed("kinds::queue", "kinds::common"));
    assert!(!allowed("kinds::queue", "kinds::load_balancer"));
    assert!(!allowed("engine", "aws"));
    assert!(!allowed("desired", "kinds"));
}
