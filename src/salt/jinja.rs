//! Salt's Jinja, as far as it can be honoured without a Salt master or minion.
//!
//! On top of converge's template environment ([`crate::template::render`]):
//! - `salt` as Salt has it: `salt['pillar.get'](key, default)` and `salt.pillar.get(...)` (keys
//!   walk nested maps at `:`), `pillar.item`/`pillar.items`, `grains.get`/`grains.item`,
//!   `grains.filter_by`, `config.get`/`config.option` (grains, then pillar), `environ.get` (the
//!   importer's own environment), `log.*` (nothing). Any other function (`cp.get_url`,
//!   `mine.get`, `vault.*`, `sdb.*`, `boto_vpc.*`, …) needs a master or a minion: it returns a
//!   marker ([`UNRESOLVED`]) the importer finds in the states that used it, reports with
//!   file, line and state id, and does not convert; the rest of the file still converts.
//! - `pillar`, `grains`, `opts` (empty), `saltenv` (`base`), `sls`, `tpldir`, `slspath`,
//!   `tplfile` as globals, so that files
//!   imported with `{% from 'map.jinja' import x with context %}` see them too.
//! - Salt's statements `{% import_yaml 'f' as x %}`, `import_json`, `import_text` and
//!   `{% load_yaml as x %}…{% endload %}` (`load_json`, `load_text`), rewritten into plain
//!   Jinja with the same line breaks (so errors keep their line); `{% raw %}` and comments are
//!   left as they are.
//! - `{% import %}`, `{% from … import %}` and `{% include %}` of files under the file root
//!   (`salt://` stripped; `./` and `../` relative to the including file), never outside it.
//! - Salt's filters: `yaml`, `json`, `yaml_encode`, `yaml_dquote`, `yaml_squote`, `unique`,
//!   `sequence`, `load_yaml`, `load_json`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as JValue};
use minijinja::{Environment, Error, ErrorKind, State};
use serde_json::Value;

use crate::core::source::{read_text, yaml_options};
use crate::template::render;

/// What a call Salt would make on a master or minion renders as (with the function's name).
pub const UNRESOLVED: &str = "__converge_unresolved__";

/// Everything a rendering of Salt files reads.
#[derive(Debug, Clone, Default)]
pub struct SaltData {
    pub pillar: Value,
    pub grains: Value,
    /// What `salt://` and imports resolve against.
    pub file_root: PathBuf,
}

/// `a:b:c` in `data`, as Salt's `pillar.get` (a list is indexed by number).
pub fn lookup(data: &Value, key: &str) -> Option<Value> {
    let mut here = data;
    for part in key.split(':') {
        here = match here {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(here.clone())
}

/// `over` merged into `base`: maps key by key, recursively; anything else replaced (Salt's
/// pillar merge, later wins).
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (_, over) => over,
    }
}

/// The functions Salt states call that need a master or a minion, as they were called.
#[derive(Debug, Default, Clone)]
pub struct Unresolved(Arc<Mutex<Vec<String>>>);

impl Unresolved {
    fn push(&self, what: String) {
        if let Ok(mut v) = self.0.lock() {
            if !v.contains(&what) {
                v.push(what);
            }
        }
    }

    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// `salt` in a Salt template.
#[derive(Debug)]
struct Salt {
    data: Arc<SaltData>,
    unresolved: Unresolved,
}

/// `salt.<module>`: its functions as methods.
#[derive(Debug)]
struct SaltModule {
    salt: Arc<Salt>,
    module: String,
}

/// `salt['<module>.<function>']`: callable.
#[derive(Debug)]
struct SaltFunction {
    salt: Arc<Salt>,
    name: String,
}

/// The result of a function that cannot run here: renders as the marker, iterates as empty,
/// and any attribute or call of it is the same marker.
#[derive(Debug)]
struct Marker(String);

impl Object for Marker {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, _: &JValue) -> Option<JValue> {
        Some(JValue::from_dyn_object(self.clone()))
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }
    fn call(self: &Arc<Self>, _: &mut State<'_, '_>, _: &[JValue]) -> Result<JValue, Error> {
        Ok(JValue::from_dyn_object(self.clone()))
    }
    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        _: &str,
        _: &[JValue],
    ) -> Result<JValue, Error> {
        Ok(JValue::from_dyn_object(self.clone()))
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{UNRESOLVED}({})", self.0)
    }
}

impl Object for Salt {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let key = key.as_str()?;
        Some(match key.split_once('.') {
            Some(_) => JValue::from_object(SaltFunction {
                salt: self.clone(),
                name: key.to_string(),
            }),
            None => JValue::from_object(SaltModule {
                salt: self.clone(),
                module: key.to_string(),
            }),
        })
    }
}

impl Object for SaltModule {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        Some(JValue::from_object(SaltFunction {
            salt: self.salt.clone(),
            name: format!("{}.{}", self.module, key.as_str()?),
        }))
    }
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[JValue],
    ) -> Result<JValue, Error> {
        call(
            &self.salt,
            state,
            &format!("{}.{method}", self.module),
            args,
        )
    }
}

impl Object for SaltFunction {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[JValue]) -> Result<JValue, Error> {
        call(&self.salt, state, &self.name, args)
    }
}

fn to_json(v: &JValue) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn from_json(v: Value) -> JValue {
    JValue::from(minijinja::value::Serde(v))
}

/// Positional and keyword arguments of a Salt call: `(positional, kwargs)`.
fn split_args(args: &[JValue]) -> (Vec<JValue>, BTreeMap<String, JValue>) {
    let mut positional = Vec::new();
    let mut kwargs = BTreeMap::new();
    for a in args {
        if let Ok(kw) = minijinja::value::Kwargs::try_from(a.clone()) {
            for k in kw.args() {
                if let Ok(v) = kw.get::<JValue>(k) {
                    kwargs.insert(k.to_string(), v);
                }
            }
        } else {
            positional.push(a.clone());
        }
    }
    (positional, kwargs)
}

/// One execution-module call.
fn call(
    salt: &Arc<Salt>,
    _: &mut State<'_, '_>,
    name: &str,
    args: &[JValue],
) -> Result<JValue, Error> {
    let (pos, kw) = split_args(args);
    let arg = |i: usize, key: &str| pos.get(i).cloned().or_else(|| kw.get(key).cloned());
    let key = || {
        arg(0, "key")
            .and_then(|k| k.as_str().map(String::from))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingArgument,
                    format!("salt['{name}'] needs a key"),
                )
            })
    };
    let default = |i: usize| arg(i, "default").unwrap_or_else(|| JValue::from(""));
    let data = &salt.data;
    let get_in = |source: &Value, i: usize| -> Result<JValue, Error> {
        Ok(lookup(source, &key()?).map_or_else(|| default(i), from_json))
    };
    match name {
        "pillar.get" | "pillar.item" => get_in(&data.pillar, 1),
        "pillar.items" | "pillar.raw" => Ok(from_json(data.pillar.clone())),
        "grains.get" | "grains.item" => get_in(&data.grains, 1),
        "grains.items" => Ok(from_json(data.grains.clone())),
        "config.get" | "config.option" => {
            // Salt's order: the minion's options (none here), grains, then pillar.
            let k = key()?;
            Ok(lookup(&data.grains, &k)
                .or_else(|| lookup(&data.pillar, &k))
                .map_or_else(|| default(1), from_json))
        }
        "environ.get" => {
            let k = key()?;
            Ok(std::env::var(&k).map_or_else(|_| default(1), JValue::from))
        }
        "grains.filter_by" => filter_by(data, &pos, &kw),
        // Logging from a template changes nothing.
        n if n.starts_with("log.") => Ok(JValue::from(())),
        _ => {
            salt.unresolved.push(name.to_string());
            Ok(JValue::from_object(Marker(name.to_string())))
        }
    }
}

/// `grains.filter_by(lookup_dict, grain='os_family', merge=None, default='default', base=None)`:
/// the entry of `lookup_dict` for the grain's value (or `default`'s), over `base`'s, under
/// `merge`.
fn filter_by(
    data: &SaltData,
    pos: &[JValue],
    kw: &BTreeMap<String, JValue>,
) -> Result<JValue, Error> {
    let arg = |i: usize, key: &str| pos.get(i).cloned().or_else(|| kw.get(key).cloned());
    let table = arg(0, "lookup_dict")
        .map(|v| to_json(&v))
        .unwrap_or(Value::Null);
    let grain = arg(1, "grain")
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "os_family".into());
    let default_key = arg(3, "default")
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "default".into());
    let Value::Object(table) = table else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "grains.filter_by needs a map of grain values",
        ));
    };
    let value = lookup(&data.grains, &grain).and_then(|v| v.as_str().map(String::from));
    let mut picked = value
        .and_then(|v| table.get(&v).cloned())
        .or_else(|| table.get(&default_key).cloned())
        .unwrap_or(Value::Null);
    if let Some(base) = arg(4, "base").and_then(|b| b.as_str().map(String::from)) {
        if let Some(b) = table.get(&base) {
            picked = merge(b.clone(), picked);
        }
    }
    if let Some(m) = arg(2, "merge") {
        let m = to_json(&m);
        if m.is_object() {
            picked = merge(picked, m);
        }
    }
    Ok(from_json(picked))
}

/// The environment for one import: converge's, with Salt's globals, filters and loader.
pub fn environment(data: Arc<SaltData>, sls: &str, unresolved: Unresolved) -> Environment<'static> {
    let mut env = render::environment();
    let salt = Salt {
        data: data.clone(),
        unresolved,
    };
    env.add_global("salt", JValue::from_object(salt));
    env.add_global("pillar", from_json(data.pillar.clone()));
    env.add_global("grains", from_json(data.grains.clone()));
    env.add_global("opts", JValue::from(BTreeMap::<String, JValue>::new()));
    env.add_global("saltenv", JValue::from("base"));
    env.add_global("sls", JValue::from(sls));
    // Salt's path variables: `tpldir`/`slspath` (the file's directory under the root, `/`
    // separated) and `tplfile`.
    let dir = sls
        .rsplit_once('.')
        .map_or("", |(d, _)| d)
        .replace('.', "/");
    env.add_global("tpldir", JValue::from(dir.clone()));
    env.add_global("slspath", JValue::from(dir));
    env.add_global(
        "tplfile",
        JValue::from(format!("{}.sls", sls.replace('.', "/"))),
    );
    let root = data.file_root.clone();
    env.add_function(
        "__salt_import",
        move |state: &State, kind: String, path: String| {
            import_file(&root, state.name(), &kind, &path)
        },
    );
    env.add_filter("load_yaml", |text: String| parse_text("yaml", &text));
    env.add_filter("load_json", |text: String| parse_text("json", &text));
    env.add_filter("load_text", |text: String| text);
    env.add_filter("yaml", |v: JValue| flow_yaml(&to_json(&v)));
    env.add_filter("json", |v: JValue| {
        serde_json::to_string(&to_json(&v)).unwrap_or_default()
    });
    env.add_filter("yaml_encode", |v: JValue| flow_yaml(&to_json(&v)));
    env.add_filter("yaml_dquote", |v: JValue| {
        serde_json::to_string(&v.to_string()).unwrap_or_default()
    });
    env.add_filter("yaml_squote", |v: JValue| {
        format!("'{}'", v.to_string().replace('\'', "''"))
    });
    env.add_filter("unique", |v: JValue| {
        let mut out: Vec<JValue> = Vec::new();
        if let Ok(items) = v.try_iter() {
            for item in items {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
        }
        JValue::from(out)
    });
    env.add_filter("sequence", |v: JValue| match v.kind() {
        minijinja::value::ValueKind::Seq => v,
        _ => JValue::from(vec![v]),
    });
    let root = data.file_root.clone();
    env.set_path_join_callback(move |name, parent| join(&root, name, parent).into());
    let root = data.file_root.clone();
    env.set_loader(move |name| {
        let path = Path::new(name);
        if !inside(&root, path) {
            return Err(Error::new(
                ErrorKind::TemplateNotFound,
                format!("{name} is outside the file root {}", root.display()),
            ));
        }
        match read_text(path) {
            Ok(text) => Ok(Some(rewrite_statements(&text))),
            Err(_) => Ok(None),
        }
    });
    env
}

/// Where `name` (imported from the template `parent`) is: `salt://` and plain names under the
/// file root, `./` and `../` next to the parent.
fn join(root: &Path, name: &str, parent: &str) -> String {
    let name = name.strip_prefix("salt://").unwrap_or(name);
    let path = if name.starts_with("./") || name.starts_with("../") {
        Path::new(parent).parent().unwrap_or(root).join(name)
    } else if Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        root.join(name)
    };
    normalize(&path).display().to_string()
}

/// `path` without `.` and `..` parts (textually; the file need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether `path` is under `root`, symlinks resolved (a path that does not exist is not).
fn inside(root: &Path, path: &Path) -> bool {
    match (std::fs::canonicalize(root), std::fs::canonicalize(path)) {
        (Ok(root), Ok(path)) => path.starts_with(root),
        _ => false,
    }
}

/// The file root as the importer uses it: `.` for an empty path, made absolute (so that every
/// containment check compares like with like).
pub fn file_root(root: &Path) -> PathBuf {
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
}

/// `import_yaml`/`import_json`/`import_text` of a file under the root (`./` and `../`
/// relative to the template `parent` that imports it).
fn import_file(root: &Path, parent: &str, kind: &str, name: &str) -> Result<JValue, Error> {
    let path = PathBuf::from(join(root, name, parent));
    if !inside(root, &path) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "import_{kind} '{name}': outside the file root {}",
                root.display()
            ),
        ));
    }
    let text = read_text(&path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("import_{kind} '{name}' ({}): {e}", path.display()),
        )
    })?;
    parse_text(kind, &text)
}

fn parse_text(kind: &str, text: &str) -> Result<JValue, Error> {
    let bad = |e: String| Error::new(ErrorKind::InvalidOperation, format!("load_{kind}: {e}"));
    match kind {
        "yaml" => serde_saphyr::from_str_with_options::<Value>(text, yaml_options())
            .map(from_json)
            .map_err(|e| bad(e.to_string())),
        "json" => serde_json::from_str::<Value>(text)
            .map(from_json)
            .map_err(|e| bad(e.to_string())),
        _ => Ok(JValue::from(text)),
    }
}

/// A value as one line of YAML flow style (what Salt's `yaml` filter writes): JSON is a
/// subset of YAML, so JSON text is valid flow YAML.
fn flow_yaml(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Salt's own statements rewritten into Jinja minijinja knows, each on its own line:
/// `{% import_yaml 'f' as x %}` → `{% set x = __salt_import('yaml', 'f') %}`;
/// `{% load_yaml as x %}…{% endload %}` → `{% set x %}…{% endset %}{% set x = x|load_yaml %}`.
pub fn rewrite_statements(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    loop {
        // The next tag or comment; `{% raw %}…{% endraw %}` and `{# … #}` are copied as they are.
        let tag_at = rest.find("{%");
        let comment_at = rest.find("{#");
        let start = match (tag_at, comment_at) {
            (Some(t), Some(c)) if c < t => {
                let end = rest[c..].find("#}").map_or(rest.len(), |e| c + e + 2);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            }
            (Some(t), _) => t,
            (None, _) => break,
        };
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("%}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let tag = &rest[start..start + len + 2];
        rest = &rest[start + len + 2..];
        let inner = tag
            .trim_start_matches("{%")
            .trim_start_matches('-')
            .trim_end_matches("%}")
            .trim_end_matches('-')
            .trim();
        let words: Vec<&str> = inner.split_whitespace().collect();
        let (l, r) = (
            if tag.starts_with("{%-") { "{%-" } else { "{%" },
            if tag.ends_with("-%}") { "-%}" } else { "%}" },
        );
        // A rewritten tag keeps the line breaks of the original (errors keep their lines).
        let breaks = "\n".repeat(tag.matches('\n').count());
        match words.as_slice() {
            ["raw"] => {
                let end = rest
                    .find("endraw")
                    .and_then(|e| rest[e..].find("%}").map(|x| e + x + 2));
                let end = end.unwrap_or(rest.len());
                out.push_str(tag);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
            [stmt, file @ .., "as", var]
                if matches!(*stmt, "import_yaml" | "import_json" | "import_text")
                    && !file.is_empty() =>
            {
                let kind = &stmt["import_".len()..];
                out.push_str(&format!(
                    "{l} set {var} = __salt_import('{kind}', {}) {r}{breaks}",
                    file.join(" ")
                ));
            }
            [stmt, "as", var] if matches!(*stmt, "load_yaml" | "load_json" | "load_text") => {
                let kind = stmt["load_".len()..].to_string();
                open.push((kind, var.to_string()));
                out.push_str(&format!("{l} set {var} {r}{breaks}"));
            }
            ["endload"] => match open.pop() {
                Some((kind, var)) => out.push_str(&format!(
                    "{l} endset %}}{{% set {var} = {var}|load_{kind} {r}{breaks}"
                )),
                None => out.push_str(tag),
            },
            _ => out.push_str(tag),
        }
    }
    out.push_str(rest);
    out
}

/// Reads and renders one Salt file (a state or pillar file) with `data`: the output and the
/// functions it called that need a master or a minion. Errors are `file:line: message`.
pub fn render_file(
    data: Arc<SaltData>,
    sls: &str,
    path: &Path,
) -> Result<(render::Rendered, Vec<String>), String> {
    let shown = path.display().to_string();
    let text = read_text(path).map_err(|e| format!("{shown}: {e}"))?;
    let unresolved = Unresolved::default();
    let env = environment(data, sls, unresolved.clone());
    let rendered = render::render(&env, &shown, &rewrite_statements(&text), &empty_context())
        .map_err(|e| format!("{shown}:{}: {}", e.line, e.message))?;
    Ok((rendered, unresolved.take()))
}

/// An empty map (a rendering's context: everything is a global).
pub fn empty_context() -> JValue {
    JValue::from(BTreeMap::<String, JValue>::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_with(text: &str, pillar: Value, grains: Value, root: &Path) -> (String, Vec<String>) {
        let unresolved = Unresolved::default();
        let data = Arc::new(SaltData {
            pillar,
            grains,
            file_root: root.to_path_buf(),
        });
        let env = environment(data, "app", unresolved.clone());
        let name = root.join("app.sls").display().to_string();
        let out = render::render(&env, &name, &rewrite_statements(text), &empty_context())
            .map(|r| r.text)
            .unwrap_or_else(|e| format!("ERROR line {}: {}", e.line, e.message));
        (out, unresolved.take())
    }

    #[test]
    fn salt_calls_in_both_styles_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let (out, unresolved) = render_with(
            "{{ salt['pillar.get']('a:b', 'x') }} {{ salt.pillar.get('a:c', 'dflt') }} {{ salt.grains.get('role') }} {{ salt['config.get']('a:b') }} {{ salt['cp.get_url']('salt://x') }}",
            serde_json::json!({"a": {"b": 1}}),
            serde_json::json!({"role": "web"}),
            dir.path(),
        );
        assert_eq!(out, format!("1 dflt web 1 {UNRESOLVED}(cp.get_url)"));
        assert_eq!(unresolved, vec!["cp.get_url"]);
    }

    #[test]
    fn salt_statements_imports_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("defaults.yaml"), "size: 3\n").unwrap();
        std::fs::write(
            dir.path().join("map.jinja"),
            "{% import_yaml 'defaults.yaml' as defaults %}\n{% set app = salt['grains.filter_by']({'default': {'port': 80}, 'Debian': {'port': 81}}, merge=salt['pillar.get']('app:lookup')) %}",
        )
        .unwrap();
        let (out, _) = render_with(
            "{% from 'map.jinja' import app, defaults with context %}{% load_yaml as extra %}\nk: [1, 2, 2]\n{% endload %}{% do salt.log.info('rendering') %}{{ app.port }} {{ defaults.size }} {{ extra.k|unique|list }} {{ {'a': 'b'}|yaml }} {{ 'x'|sequence|list }} {{ \"it's\"|yaml_dquote }}",
            serde_json::json!({"app": {"lookup": {"port": 8080}}}),
            serde_json::json!({"os_family": "RedHat"}),
            dir.path(),
        );
        assert_eq!(out, "8080 3 [1, 2] {\"a\":\"b\"} ['x'] \"it's\"");
    }

    #[test]
    fn imports_stay_under_the_file_root() {
        let dir = tempfile::tempdir().unwrap();
        let (out, _) = render_with(
            "{% import_yaml '../../etc/passwd' as x %}",
            Value::Null,
            Value::Null,
            dir.path(),
        );
        assert!(out.contains("outside the file root"), "{out}");
    }

    #[test]
    fn nothing_outside_the_root_is_read_and_rewrites_keep_line_breaks() {
        let dir = tempfile::tempdir().unwrap();
        let root = file_root(dir.path());
        for escape in [
            "{% include '/etc/hostname' %}",
            "{% import_text '/etc/hostname' as x %}{{ x }}",
            "{% import_text 'salt:///etc/hostname' as x %}{{ x }}",
        ] {
            let (out, _) = render_with(escape, Value::Null, Value::Null, &root);
            assert!(out.starts_with("ERROR"), "{escape} → {out}");
        }
        let rewritten = rewrite_statements("{% import_yaml\n 'a.yaml' as a %}\n{% raw %}{% import_yaml 'b' as b %}{% endraw %}{# {% load_yaml as c %} #}");
        assert_eq!(rewritten.matches('\n').count(), 2, "{rewritten}");
        assert!(
            rewritten.contains("{% raw %}{% import_yaml 'b' as b %}{% endraw %}"),
            "{rewritten}"
        );
        assert!(
            rewritten.contains("{# {% load_yaml as c %} #}"),
            "{rewritten}"
        );
        assert_eq!(file_root(Path::new("")), file_root(Path::new(".")));
    }
}
