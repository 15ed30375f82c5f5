//! Layered values: YAML maps deep-merged from the most generic file to the most specific, each
//! leaf remembering the file, line and column that set it (Salt's pillar layering: base →
//! service → service group, later wins).
//!
//! Merge rule: maps merge key by key; a scalar, a list or a null replaces what was there (lists
//! are not concatenated). A missing file is skipped; an empty file is an empty map; a file whose
//! top level is not a map is an error at its own line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::core::source::{strip_location, yaml_options, Origin, Problem};

/// A merged value tree; every leaf (and every map) knows where it was set.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A scalar, a list or null, as written.
    Leaf {
        value: serde_json::Value,
        from: Origin,
    },
    /// A map; `from` is where it was first written.
    Map {
        entries: BTreeMap<String, Node>,
        from: Origin,
    },
}

impl Node {
    /// An empty map (the merge of no files).
    pub fn empty(from: Origin) -> Node {
        Node::Map {
            entries: BTreeMap::new(),
            from,
        }
    }

    /// The plain value, as templates see it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Node::Leaf { value, .. } => value.clone(),
            Node::Map { entries, .. } => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Dotted key path → where that leaf was set.
    pub fn sources(&self) -> BTreeMap<String, Origin> {
        let mut out = BTreeMap::new();
        self.collect_sources("", &mut out);
        out
    }

    fn collect_sources(&self, prefix: &str, out: &mut BTreeMap<String, Origin>) {
        match self {
            Node::Leaf { from, .. } => {
                out.insert(prefix.to_string(), from.clone());
            }
            Node::Map { entries, from } => {
                if entries.is_empty() && !prefix.is_empty() {
                    out.insert(prefix.to_string(), from.clone());
                }
                for (k, v) in entries {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    v.collect_sources(&path, out);
                }
            }
        }
    }

    /// The values as YAML, each leaf followed by a comment naming the file that set it.
    pub fn annotated(&self) -> String {
        let mut out = String::new();
        match self {
            Node::Map { entries, .. } if entries.is_empty() => out.push_str("{}\n"),
            Node::Map { entries, .. } => annotate_map(entries, 0, &mut out),
            Node::Leaf { value, from } => out.push_str(&format!("{}  # {from}\n", inline(value))),
        }
        out
    }
}

fn annotate_map(entries: &BTreeMap<String, Node>, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for (k, v) in entries {
        let key = yaml_key(k);
        match v {
            Node::Leaf { value, from } => {
                out.push_str(&format!("{pad}{key}: {}  # {from}\n", inline(value)));
            }
            Node::Map { entries, from } if entries.is_empty() => {
                out.push_str(&format!("{pad}{key}: {{}}  # {from}\n"));
            }
            Node::Map { entries, .. } => {
                out.push_str(&format!("{pad}{key}:\n"));
                annotate_map(entries, depth + 1, out);
            }
        }
    }
}

/// A value on one line: JSON, which YAML reads the same.
fn inline(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

/// A key as written in YAML: plain when that is unambiguous, else double-quoted.
fn yaml_key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        k.to_string()
    } else {
        inline(&serde_json::Value::String(k.to_string()))
    }
}

/// Deep merge: `over` wins; maps merge, anything else replaces.
pub fn merge(base: Node, over: Node) -> Node {
    match (base, over) {
        (
            Node::Map {
                mut entries,
                from: base_from,
            },
            Node::Map {
                entries: over_entries,
                ..
            },
        ) => {
            for (k, v) in over_entries {
                let merged = match entries.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                entries.insert(k, merged);
            }
            Node::Map {
                entries,
                from: base_from,
            }
        }
        (_, over) => over,
    }
}

/// One values file that takes part in a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub file: PathBuf,
    /// False when the file does not exist (skipped).
    pub present: bool,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.present {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{} (absent)", self.file.display())
        }
    }
}

/// The merged values of `files`, most generic first. Every problem found is returned.
pub fn layered(files: &[PathBuf]) -> Result<(Node, Vec<Layer>), Vec<Problem>> {
    let first = files.first().cloned().unwrap_or_default();
    let mut merged = Node::empty(Origin {
        file: first,
        line: 1,
        column: 1,
    });
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match read_layer(file) {
            Ok(Some(node)) => {
                merged = merge(merged, node);
                layers.push(Layer {
                    file: file.clone(),
                    present: true,
                });
            }
            Ok(None) => layers.push(Layer {
                file: file.clone(),
                present: false,
            }),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok((merged, layers))
    } else {
        Err(problems)
    }
}

/// One values file: `None` if it does not exist.
pub fn read_layer(file: &Path) -> Result<Option<Node>, Problem> {
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let text =
        crate::core::source::read_text(file).map_err(|message| Problem::at(file, 1, 1, message))?;
    parse_layer(file, &text).map(Some)
}

/// Parses the text of a values file (which must hold one map, or nothing).
pub fn parse_layer(file: &Path, text: &str) -> Result<Node, Problem> {
    let parsed: Option<Spanned<Yv>> = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
            Problem::at(
                file,
                line,
                column,
                strip_location(&e.without_snippet().to_string()),
            )
        })?;
    let start = Origin {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
    };
    let Some(top) = parsed else {
        return Ok(Node::empty(start));
    };
    let at = origin(file, &top);
    match top.value {
        Yv::Null => Ok(Node::empty(start)),
        Yv::Map(_) => Ok(to_node(file, top)),
        Yv::Seq(_) => Err(Problem::at(
            file,
            at.line,
            at.column,
            "a values file must be a map of names to values, not a list".to_string(),
        )),
        Yv::Scalar(_) => Err(Problem::at(
            file,
            at.line,
            at.column,
            "a values file must be a map of names to values, not a single value".to_string(),
        )),
    }
}

fn origin<T>(file: &Path, s: &Spanned<T>) -> Origin {
    Origin {
        file: file.to_path_buf(),
        line: s.referenced.line().max(1),
        column: s.referenced.column().max(1),
    }
}

fn to_node(file: &Path, v: Spanned<Yv>) -> Node {
    let from = origin(file, &v);
    match v.value {
        Yv::Map(pairs) => Node::Map {
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k, to_node(file, v)))
                .collect(),
            from,
        },
        Yv::Seq(value) | Yv::Scalar(value) => Node::Leaf { value, from },
        Yv::Null => Node::Leaf {
            value: serde_json::Value::Null,
            from,
        },
    }
}

/// A YAML value with the location of every map entry.
enum Yv {
    Null,
    Scalar(serde_json::Value),
    Seq(serde_json::Value),
    Map(Vec<(String, Spanned<Yv>)>),
}

impl<'de> Deserialize<'de> for Yv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YvVisitor)
    }
}

struct YvVisitor;

impl<'de> Visitor<'de> for YvVisitor {
    type Value = Yv;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Yv, E> {
        Ok(Yv::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Yv, E> {
        Ok(Yv::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yv, D::Error> {
        d.deserialize_any(YvVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Yv, E> {
        Ok(Yv::Scalar(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Yv, E> {
        Ok(Yv::Scalar(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Yv, E> {
        Ok(Yv::Scalar(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Yv, E> {
        Ok(Yv::Scalar(
            serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Yv, E> {
        Ok(Yv::Scalar(v.into()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Yv, E> {
        Ok(Yv::Scalar(v.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yv, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            items.push(item);
        }
        Ok(Yv::Seq(serde_json::Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yv, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: Spanned<Yv> = map.next_value()?;
            pairs.push((key, value));
        }
        Ok(Yv::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, text: &str) -> Node {
        parse_layer(Path::new(name), text).unwrap()
    }

    #[test]
    fn maps_merge_and_scalars_and_lists_replace_with_provenance() {
        let base = layer(
            "base.yaml",
            "monitoring: false\nqueues: [a, b]\nasg:\n  min_size: 1\n  max_size: 2\n",
        );
        let service = layer(
            "myapp.yaml",
            "queues: [c]\nasg:\n  max_size: 30\n  instance_type: c3.large\n",
        );
        let instance = layer("testing.yaml", "monitoring: true\n");
        let merged = merge(merge(base, service), instance);
        assert_eq!(
            merged.to_json(),
            serde_json::json!({
                "monitoring": true,
                "queues": ["c"],
                "asg": {"min_size": 1, "max_size": 30, "instance_type": "c3.large"}
            })
        );
        let sources = merged.sources();
        assert_eq!(sources["monitoring"].to_string(), "testing.yaml:1:13");
        assert_eq!(sources["queues"].to_string(), "myapp.yaml:1:9");
        assert_eq!(sources["asg.min_size"].to_string(), "base.yaml:4:13");
        assert_eq!(sources["asg.max_size"].to_string(), "myapp.yaml:3:13");
        let text = merged.annotated();
        assert!(
            text.contains("asg:\n  instance_type: \"c3.large\"  # myapp.yaml:4:18\n"),
            "{text}"
        );
        assert!(
            text.contains("monitoring: true  # testing.yaml:1:13\n"),
            "{text}"
        );
    }

    #[test]
    fn a_values_file_that_is_not_a_map_is_an_error_at_its_line() {
        let e = parse_layer(Path::new("v.yaml"), "# values\n- a\n- b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "v.yaml:2:1: a values file must be a map of names to values, not a list"
        );
        let e = parse_layer(Path::new("v.yaml"), "just a string\n").unwrap_err();
        assert!(e.to_string().contains("not a single value"), "{e}");
    }

    #[test]
    fn an_empty_values_file_is_an_empty_map() {
        assert_eq!(layer("v.yaml", "").to_json(), serde_json::json!({}));
        assert_eq!(
            layer("v.yaml", "# nothing yet\n").to_json(),
            serde_json::json!({})
        );
    }

    #[test]
    fn yaml_errors_and_duplicate_keys_carry_their_location() {
        let e = parse_layer(Path::new("v.yaml"), "a: 1\na: 2\n").unwrap_err();
        assert!(e.to_string().starts_with("v.yaml:2:"), "{e}");
        let e = parse_layer(Path::new("v.yaml"), "a: [1\n").unwrap_err();
        assert!(e.to_string().starts_with("v.yaml:"), "{e}");
    }

    #[test]
    fn a_missing_layer_is_skipped() {
        let (merged, layers) =
            layered(&[PathBuf::from("/nonexistent/converge/values.yaml")]).unwrap();
        assert_eq!(merged.to_json(), serde_json::json!({}));
        assert!(!layers[0].present);
    }
}
