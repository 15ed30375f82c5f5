//! Pillar as Salt builds it for one minion: `--pillar-root DIR`'s `top.sls`, evaluated for the
//! minion's id and grains, names the pillar files; each is rendered as Jinja (with the grains)
//! and read as YAML, its `include:` first, and they are deep-merged in the top file's order
//! (later wins), the reference article's base → service → service group layering.
//!
//! Top-file targets: a glob on the minion id (the default), `- match: glob`, `- match: grain`
//! (`key:glob`), `- match: list` (comma-separated ids) and `- match: compound` with `G@key:glob`,
//! `L@a,b`, bare id globs, `and`, `or`, `not`. Other matchers (pcre, pillar, node groups,
//! ranges) are reported and their files left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::jinja::{self, SaltData};
use super::Ordered;
use crate::core::source::yaml_options;

/// The minion the pillar is built for.
#[derive(Debug, Clone)]
pub struct Minion {
    pub id: String,
    pub grains: Value,
}

/// The pillar, and what could not be honoured (each with file and line).
#[derive(Debug, Default)]
pub struct Built {
    pub pillar: Value,
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
}

/// Builds the pillar of `minion` from `root`'s top file (environment `base`).
pub fn build(root: &Path, minion: &Minion) -> Result<Built, String> {
    let root = &jinja::file_root(root);
    let top_path = root.join("top.sls");
    let top: Option<BTreeMap<String, Ordered<String>>> =
        render_yaml(root, &top_path, &minion.grains)?;
    let mut built = Built {
        pillar: Value::Object(Default::default()),
        ..Built::default()
    };
    let Some(mut envs) = top else {
        return Err(format!(
            "{}: expected `base:` and its targets",
            top_path.display()
        ));
    };
    let Some(Ordered(targets)) = envs.remove("base") else {
        return Err(format!("{}: no `base` environment", top_path.display()));
    };
    // In the file's order: a later target's files win.
    for (target, entries) in &targets {
        let Value::Array(entries) = entries else {
            built.problems.push(format!(
                "{}: target `{target}`: expected a list of pillar files",
                top_path.display()
            ));
            continue;
        };
        let matcher = entries
            .iter()
            .find_map(|e| e.get("match").and_then(Value::as_str))
            .unwrap_or("glob");
        match matches(matcher, target, minion) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                built.problems.push(format!(
                    "{}: target `{target}`: {e}; its files are left out",
                    top_path.display()
                ));
                continue;
            }
        }
        for sls in entries.iter().filter_map(Value::as_str) {
            let mut stack = Vec::new();
            add_file(root, sls, minion, &mut built, &mut stack);
        }
    }
    Ok(built)
}

/// Merges the pillar file `sls` (after its includes) into `built`.
fn add_file(root: &Path, sls: &str, minion: &Minion, built: &mut Built, stack: &mut Vec<String>) {
    if stack.iter().any(|s| s == sls) {
        built.problems.push(format!(
            "pillar include loop: {} → {sls}",
            stack.join(" → ")
        ));
        return;
    }
    let Some(path) = sls_path(root, sls) else {
        built.problems.push(format!(
            "pillar `{sls}`: no {sls}.sls or {sls}/init.sls under {}",
            root.display()
        ));
        return;
    };
    let data: Option<Value> = match render_yaml(root, &path, &minion.grains) {
        Ok(d) => d,
        Err(e) => {
            built.problems.push(e);
            return;
        }
    };
    let Some(Value::Object(mut map)) = data else {
        return;
    };
    stack.push(sls.to_string());
    let is_init = path.ends_with("init.sls");
    if let Some(Value::Array(includes)) = map.remove("include") {
        for inc in includes.iter().filter_map(Value::as_str) {
            add_file(
                root,
                &resolve_relative(sls, is_init, inc),
                minion,
                built,
                stack,
            );
        }
    }
    stack.pop();
    built.files.push(path);
    let pillar = std::mem::take(&mut built.pillar);
    built.pillar = jinja::merge(pillar, Value::Object(map));
}

/// `a.b` → `root/a/b.sls` or `root/a/b/init.sls`.
pub fn sls_path(root: &Path, sls: &str) -> Option<PathBuf> {
    // A name is dotted words: never a path of its own (`/x`, `a/../b`) or an empty part.
    if sls
        .split('.')
        .any(|p| p.is_empty() || p.contains(['/', '\\']))
    {
        return None;
    }
    let rel: PathBuf = sls.split('.').collect();
    let file = root.join(&rel).with_extension("sls");
    if file.is_file() {
        return Some(file);
    }
    let init = root.join(&rel).join("init.sls");
    init.is_file().then_some(init)
}

/// A relative include (`.x`, `..x`) from `current` (`a.b`; `is_init` when it is
/// `a/b/init.sls`, which is its own package), as Salt resolves it; absolute names as they are.
pub fn resolve_relative(current: &str, is_init: bool, include: &str) -> String {
    if !include.starts_with('.') {
        return include.to_string();
    }
    let dots = include.chars().take_while(|c| *c == '.').count();
    let mut parts: Vec<&str> = current.split('.').collect();
    for _ in 0..dots - usize::from(is_init) {
        parts.pop();
    }
    let tail = &include[dots..];
    if !tail.is_empty() {
        parts.push(tail);
    }
    parts.join(".")
}

fn render_yaml<T: serde::de::DeserializeOwned>(
    root: &Path,
    path: &Path,
    grains: &Value,
) -> Result<Option<T>, String> {
    let shown = path.display().to_string();
    let data = Arc::new(SaltData {
        pillar: Value::Object(Default::default()),
        grains: grains.clone(),
        file_root: root.to_path_buf(),
    });
    let (rendered, unresolved) = jinja::render_file(data, "", path)?;
    if !unresolved.is_empty() {
        return Err(format!(
            "{shown}: calls {}, which need(s) a Salt master or minion; this pillar file is left out",
            unresolved
                .iter()
                .map(|f| format!("salt['{f}']"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    serde_saphyr::from_str_with_options(&rendered.text, yaml_options())
        .map_err(|e| format!("{shown}: {}", e.without_snippet()))
}

/// Whether `target` (read as `matcher`) selects `minion`.
fn matches(matcher: &str, target: &str, minion: &Minion) -> Result<bool, String> {
    match matcher {
        "glob" => Ok(glob(target, &minion.id)),
        "list" => Ok(target.split(',').any(|id| id.trim() == minion.id)),
        "grain" => grain(target, minion),
        "compound" => compound(target, minion),
        other => Err(format!(
            "the `{other}` matcher is not evaluated (glob, list, grain and compound are)"
        )),
    }
}

fn grain(target: &str, minion: &Minion) -> Result<bool, String> {
    let (key, pattern) = target
        .rsplit_once(':')
        .ok_or_else(|| format!("a grain target is `key:value`, found `{target}`"))?;
    Ok(match jinja::lookup(&minion.grains, key) {
        Some(Value::String(v)) => glob(pattern, &v),
        Some(Value::Array(items)) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|v| glob(pattern, v))),
        Some(other) => glob(pattern, &other.to_string()),
        None => false,
    })
}

/// `G@k:v and not web* or L@a,b`: `not` binds tightest, then `and`, then `or`.
fn compound(target: &str, minion: &Minion) -> Result<bool, String> {
    if target.contains('(') {
        return Err("parentheses in compound targets are not evaluated".into());
    }
    let mut any = false;
    for alternative in target.split(" or ") {
        let mut all = true;
        for term in alternative.split(" and ") {
            let term = term.trim();
            let (negated, term) = match term.strip_prefix("not ") {
                Some(t) => (true, t.trim()),
                None => (false, term),
            };
            let hit = match term.split_once('@') {
                Some(("G", t)) => grain(t, minion)?,
                Some(("L", t)) => t.split(',').any(|id| id.trim() == minion.id),
                Some((other, _)) => {
                    return Err(format!(
                        "the `{other}@` compound matcher is not evaluated (G@, L@ and globs are)"
                    ))
                }
                None => glob(term, &minion.id),
            };
            all &= hit != negated;
        }
        any |= all;
    }
    Ok(any)
}

/// Shell-style glob: `*`, `?` and `[...]` sets.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some(('[', rest)) => {
                let Some(end) = rest.iter().position(|c| *c == ']') else {
                    return t.first() == Some(&'[') && go(rest, &t[1..]);
                };
                let (set, after) = (&rest[..end], &rest[end + 1..]);
                let (negate, set) = match set.split_first() {
                    Some(('!', s)) => (true, s),
                    _ => (false, set),
                };
                let Some(c) = t.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= (set[i]..=set[i + 2]).contains(c);
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(after, &t[1..])
            }
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minion() -> Minion {
        Minion {
            id: "myapp-testing-useast1-8989".into(),
            grains: serde_json::json!({"service_name": "myapp", "service_group": "myapp-testing", "roles": ["web", "db"]}),
        }
    }

    #[test]
    fn targets_match_as_salt_matches_them() {
        let m = minion();
        assert!(
            glob("myapp-*", &m.id)
                && !glob("other-*", &m.id)
                && glob("myapp-t?sting-[a-z]*", &m.id)
        );
        assert!(matches("grain", "service_name:myapp", &m).unwrap());
        assert!(matches("grain", "roles:w*", &m).unwrap());
        assert!(matches("compound", "G@service_name:myapp and not G@roles:cache", &m).unwrap());
        assert!(matches(
            "compound",
            "G@service_name:other or L@a,myapp-testing-useast1-8989",
            &m
        )
        .unwrap());
        assert!(!matches("compound", "G@service_name:myapp and G@roles:cache", &m).unwrap());
        assert!(matches("pcre", ".*", &m)
            .unwrap_err()
            .contains("`pcre` matcher"));
        assert!(matches("compound", "E@x", &m).unwrap_err().contains("`E@`"));
    }

    #[test]
    fn the_top_file_layers_base_service_and_service_group_later_wins() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(
            "top.sls",
            "base:\n  '*':\n    - base\n  'service_name:{{ grains.service_name }}':\n    - match: grain\n    - services.myapp\n  'G@service_group:myapp-testing':\n    - match: compound\n    - groups.myapp-testing\n  'other-*':\n    - never\n",
        );
        w("base.sls", "timeout: 30\nqueues: [a]\n");
        w(
            "services/myapp/init.sls",
            "include:\n  - .common\nqueues: [a, b]\n",
        );
        w(
            "services/myapp/common.sls",
            "timeout: 45\nregion: us-east-1\n",
        );
        w("groups/myapp-testing.sls", "timeout: 60\n");
        let built = build(dir.path(), &minion()).unwrap();
        assert!(built.problems.is_empty(), "{:?}", built.problems);
        assert_eq!(
            built.pillar,
            serde_json::json!({"timeout": 60, "queues": ["a", "b"], "region": "us-east-1"})
        );
        assert_eq!(built.files.len(), 4);
    }

    #[test]
    fn relative_includes_resolve_against_the_including_file() {
        assert_eq!(
            resolve_relative("services.myapp", true, ".common"),
            "services.myapp.common"
        );
        assert_eq!(
            resolve_relative("services.web", false, ".common"),
            "services.common"
        );
        assert_eq!(resolve_relative("a.b.c", false, "..x"), "a.x");
        assert_eq!(resolve_relative("a.b", false, "z.y"), "z.y");
    }

    #[test]
    fn a_pillar_root_without_a_usable_top_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(build(dir.path(), &minion())
            .unwrap_err()
            .contains("top.sls"));
        std::fs::write(dir.path().join("top.sls"), "prod:\n  '*': [x]\n").unwrap();
        assert!(build(dir.path(), &minion())
            .unwrap_err()
            .contains("no `base` environment"));
        std::fs::write(dir.path().join("top.sls"), "base:\n  '*': [missing]\n").unwrap();
        let built = build(dir.path(), &minion()).unwrap();
        assert!(
            built.problems[0].contains("pillar `missing`: no missing.sls"),
            "{:?}",
            built.problems
        );
    }
}
