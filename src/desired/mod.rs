//! The desired state: a directory tree of manifests, loaded all-or-nothing.
//!
//! Every file named `*.yaml` or `*.yml` below the root (names starting with `.` are skipped)
//! holds one or more YAML documents, each `apiVersion: converge/v1`, `kind`, `metadata`
//! (`name`, optional `labels`) and `spec`. A spec is checked against its kind's typed schema
//! while it is parsed, so an unknown field or a wrong type is reported at its own line and
//! column. Loading either yields a complete [`DesiredSet`] or every [`Problem`] found; an
//! invalid tree never replaces the last good one (see [`watch`]).

pub mod watch;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::kinds;

/// The only manifest version this build understands.
pub const API_VERSION: &str = "converge/v1";
/// Files larger than this are rejected rather than parsed.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// At most this many documents in one file.
pub const MAX_DOCUMENTS_PER_FILE: usize = 5_000;
/// A file at the root of the tree whose first line, if present, names the revision
/// (e.g. the git commit) being served. Written by `deploy/git/post-receive`.
pub const REVISION_FILE: &str = ".converge-revision";

/// Where a manifest (or a part of one) was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem in the desired tree, printed as `path:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// Why a desired tree could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The root itself cannot be read (missing, not a directory, no permission).
    #[error("cannot read desired directory {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The tree was read, and is invalid; every problem found is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = format!("{} problem(s) in the desired state:", problems.len());
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// One desired resource, its spec already checked against the kind's schema.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    pub kind: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The typed spec, normalised back to JSON (it deserialises into the kind's spec type).
    pub spec: serde_json::Value,
    pub origin: Origin,
    /// A hash of the normalised spec: it changes exactly when the desired spec changes.
    pub hash: u64,
}

/// A complete, valid desired state.
#[derive(Debug, Clone, Default)]
pub struct DesiredSet {
    /// Increases by one each time a changed, valid tree is loaded (0: nothing loaded yet).
    pub generation: u64,
    /// The revision named in [`REVISION_FILE`], if any.
    pub revision: Option<String>,
    /// A hash of every file's path and content: equal fingerprints mean nothing changed.
    pub fingerprint: u64,
    /// kind → name → resource.
    pub resources: BTreeMap<String, BTreeMap<String, DesiredResource>>,
}

impl DesiredSet {
    /// The desired resources of one kind, by name.
    pub fn of_kind(&self, kind: &str) -> Option<&BTreeMap<String, DesiredResource>> {
        self.resources.get(kind)
    }

    /// How many resources, all kinds together.
    pub fn len(&self) -> usize {
        self.resources.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stable-within-a-process hash of a JSON value.
pub fn hash_json(v: &serde_json::Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// Loads and validates the whole tree below `root`. `generation` is left at 0.
pub fn load(root: &Path) -> Result<DesiredSet, LoadError> {
    let mut problems = Vec::new();
    let files = collect_files(root, &mut problems)?;
    let mut fingerprint = DefaultHasher::new();
    let mut set = DesiredSet {
        revision: read_revision(root),
        ..DesiredSet::default()
    };
    set.revision.hash(&mut fingerprint);
    for file in files {
        let text = match read_text(&file) {
            Ok(t) => t,
            Err(message) => {
                problems.push(Problem {
                    origin: Origin {
                        file,
                        line: 1,
                        column: 1,
                    },
                    message,
                });
                continue;
            }
        };
        file.hash(&mut fingerprint);
        text.hash(&mut fingerprint);
        for doc in parse_file(&file, &text, &mut problems) {
            for extra in derived(&doc, &mut problems) {
                insert(&mut set, extra, &mut problems);
            }
            insert(&mut set, doc, &mut problems);
        }
    }
    if problems.is_empty() {
        set.fingerprint = fingerprint.finish();
        Ok(set)
    } else {
        Err(LoadError::Invalid(problems))
    }
}

/// Adds a resource, or reports it as a duplicate of the one already there.
fn insert(set: &mut DesiredSet, doc: DesiredResource, problems: &mut Vec<Problem>) {
    let by_name = set.resources.entry(doc.kind.clone()).or_default();
    if let Some(first) = by_name.get(&doc.name) {
        problems.push(Problem {
            origin: doc.origin.clone(),
            message: format!(
                "duplicate {} `{}`: also defined at {}",
                doc.kind, doc.name, first.origin
            ),
        });
        return;
    }
    by_name.insert(doc.name.clone(), doc);
}

/// The resources `doc` implies (e.g. a load balancer's CNAME records), validated like
/// written ones and located at `doc`.
fn derived(doc: &DesiredResource, problems: &mut Vec<Problem>) -> Vec<DesiredResource> {
    let mut out = Vec::new();
    for d in kinds::expand(&doc.kind, &doc.name, &doc.spec) {
        let spec = match kinds::spec_from_value(d.kind, d.spec) {
            Ok(v) => v,
            Err(message) => {
                problems.push(Problem {
                    origin: doc.origin.clone(),
                    message: format!(
                        "{} `{}` implies an invalid {}: {message}",
                        doc.kind, doc.name, d.kind
                    ),
                });
                continue;
            }
        };
        let mut bad = false;
        if let Err(message) = kinds::validate_name(d.kind, &d.name) {
            problems.push(Problem {
                origin: doc.origin.clone(),
                message,
            });
            bad = true;
        }
        for message in kinds::validate_spec(d.kind, &d.name, &spec) {
            problems.push(Problem {
                origin: doc.origin.clone(),
                message: format!("{} `{}`: {message}", d.kind, d.name),
            });
            bad = true;
        }
        if bad {
            continue;
        }
        out.push(DesiredResource {
            kind: d.kind.to_string(),
            hash: hash_json(&spec),
            labels: BTreeMap::from([(
                "converge/derived-from".to_string(),
                format!("{}/{}", doc.kind, doc.name),
            )]),
            name: d.name,
            spec,
            origin: doc.origin.clone(),
        });
    }
    out
}

/// Checks that `root` is a readable directory (used before any port is bound).
pub fn check_readable(root: &Path) -> Result<(), LoadError> {
    std::fs::read_dir(root)
        .map(|_| ())
        .map_err(|source| LoadError::Unreadable {
            path: root.to_path_buf(),
            source,
        })
}

fn read_revision(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(REVISION_FILE)).ok()?;
    let rev = text.lines().next()?.trim();
    (!rev.is_empty() && rev.len() <= 128).then(|| rev.to_string())
}

fn read_text(file: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read file: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, more than the {} allowed for one manifest file",
            meta.len(),
            MAX_FILE_BYTES
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Every manifest file below `root`, sorted, following symlinks but not loops.
fn collect_files(root: &Path, problems: &mut Vec<Problem>) -> Result<Vec<PathBuf>, LoadError> {
    let unreadable = |source| LoadError::Unreadable {
        path: root.to_path_buf(),
        source,
    };
    let canonical_root = std::fs::canonicalize(root).map_err(unreadable)?;
    std::fs::read_dir(root).map_err(unreadable)?;
    let mut seen_dirs = HashSet::from([canonical_root]);
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(file_problem(&dir, format!("cannot read directory: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.push(file_problem(&dir, format!("cannot read directory: {e}")));
                    continue;
                }
            };
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            // `metadata` follows symlinks; a dangling link is a problem, not a skip.
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(file_problem(&path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if meta.is_dir() {
                match std::fs::canonicalize(&path) {
                    Ok(c) if seen_dirs.insert(c.clone()) => stack.push(path),
                    Ok(c) => problems.push(file_problem(
                        &path,
                        format!("symlink loop: {} is already part of the tree", c.display()),
                    )),
                    Err(e) => problems.push(file_problem(&path, format!("cannot read: {e}"))),
                }
            } else if is_manifest(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn file_problem(path: &Path, message: String) -> Problem {
    Problem {
        origin: Origin {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
        },
        message,
    }
}

fn origin_of(file: &Path, loc: &serde_saphyr::Location) -> Origin {
    Origin {
        file: file.to_path_buf(),
        line: loc.line().max(1),
        column: loc.column().max(1),
    }
}

/// Parses one file's text into resources, pushing every problem found.
pub fn parse_file(file: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<DesiredResource> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS_PER_FILE,
            max_depth: 64,
            max_aliases: 1_000,
            max_anchors: 10_000,
            max_nodes: 2_000_000,
        },
    };
    let docs: Vec<Spanned<RawDoc>> = match serde_saphyr::from_multiple_with_options(text, options) {
        Ok(d) => d,
        Err(e) => {
            let origin = match e.location() {
                Some(loc) => origin_of(file, &loc),
                None => Origin {
                    file: file.to_path_buf(),
                    line: 1,
                    column: 1,
                },
            };
            problems.push(Problem {
                origin,
                message: strip_location(&e.without_snippet().to_string()),
            });
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for doc in docs {
        let here = origin_of(file, &doc.referenced);
        if let Some(r) = check_doc(file, doc.value, here, problems) {
            out.push(r);
        }
    }
    out
}

fn check_doc(
    file: &Path,
    doc: RawDoc,
    here: Origin,
    problems: &mut Vec<Problem>,
) -> Option<DesiredResource> {
    let mut ok = true;
    let absent = [
        ("apiVersion", doc.api_version.is_none()),
        ("kind", doc.kind.is_none()),
        ("metadata", doc.metadata.is_none()),
        ("spec", doc.spec.is_none()),
    ];
    for (field, is_absent) in absent {
        if is_absent {
            problems.push(Problem {
                origin: here.clone(),
                message: format!("missing field `{field}`"),
            });
            ok = false;
        }
    }
    if let Some(v) = &doc.api_version {
        if v.value != API_VERSION {
            problems.push(Problem {
                origin: origin_of(file, &v.referenced),
                message: format!(
                    "unsupported apiVersion `{}` (expected `{API_VERSION}`)",
                    v.value
                ),
            });
            ok = false;
        }
    }
    let (Some(kind), Some(metadata), Some(spec), true) = (doc.kind, doc.metadata, doc.spec, ok)
    else {
        return None;
    };
    let kind = kind.value;
    let name_origin = origin_of(file, &metadata.name.referenced);
    let spec_origin = origin_of(file, &spec.location);
    let name = metadata.name.value;
    let spec_value = match spec.value {
        SpecValue::Typed(v) => v,
        SpecValue::Untyped(v) => match kinds::spec_from_value(&kind, v) {
            Ok(v) => v,
            Err(message) => {
                problems.push(Problem {
                    origin: spec_origin,
                    message: format!("spec: {message}"),
                });
                return None;
            }
        },
    };
    let mut valid = true;
    if let Err(message) = kinds::validate_name(&kind, &name) {
        problems.push(Problem {
            origin: name_origin.clone(),
            message,
        });
        valid = false;
    }
    for message in kinds::validate_spec(&kind, &name, &spec_value) {
        problems.push(Problem {
            origin: spec_origin.clone(),
            message,
        });
        valid = false;
    }
    valid.then(|| DesiredResource {
        hash: hash_json(&spec_value),
        kind,
        name,
        labels: metadata.labels,
        spec: spec_value,
        origin: here,
    })
}

/// serde-saphyr appends " at line L, column C"; we print the location first instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains("column") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: Spanned<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A spec, typed when `kind` came before it in the document (the usual order), else kept as
/// JSON and typed afterwards.
enum SpecValue {
    Typed(serde_json::Value),
    Untyped(serde_json::Value),
}

struct LocatedSpec {
    value: SpecValue,
    location: serde_saphyr::Location,
}

/// A `kind` this build knows; an unknown one is an error at the kind's own location.
struct KnownKind(String);

impl<'de> Deserialize<'de> for KnownKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = String::deserialize(d)?;
        if kinds::NAMES.contains(&kind.as_str()) {
            Ok(KnownKind(kind))
        } else {
            Err(de::Error::custom(format!(
                "unknown kind `{kind}` (known kinds: {})",
                kinds::NAMES.join(", ")
            )))
        }
    }
}

struct RawDoc {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    metadata: Option<Metadata>,
    spec: Option<LocatedSpec>,
}

impl<'de> Deserialize<'de> for RawDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawDocVisitor)
    }
}

struct RawDocVisitor;

const DOC_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

impl<'de> Visitor<'de> for RawDocVisitor {
    type Value = RawDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest: a mapping with apiVersion, kind, metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDoc, A::Error> {
        let mut doc = RawDoc {
            api_version: None,
            kind: None,
            metadata: None,
            spec: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => doc.api_version = Some(map.next_value()?),
                "kind" => {
                    let kind: Spanned<KnownKind> = map.next_value()?;
                    doc.kind = Some(Spanned::new(kind.value.0, kind.referenced, kind.defined));
                }
                "metadata" => doc.metadata = Some(map.next_value()?),
                "spec" => {
                    doc.spec = Some(match &doc.kind {
                        Some(kind) => {
                            let spanned = map.next_value_seed(kinds::SpecSeed(&kind.value))?;
                            LocatedSpec {
                                value: SpecValue::Typed(spanned.value),
                                location: spanned.referenced,
                            }
                        }
                        None => {
                            let spanned: Spanned<serde_json::Value> = map.next_value()?;
                            LocatedSpec {
                                value: SpecValue::Untyped(spanned.value),
                                location: spanned.referenced,
                            }
                        }
                    })
                }
                other => return Err(de::Error::unknown_field(other, DOC_FIELDS)),
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<DesiredResource>, Vec<String>) {
        let mut problems = Vec::new();
        let docs = parse_file(Path::new("t.yaml"), text, &mut problems);
        (docs, problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_valid_queue_document_parses() {
        let (docs, problems) = parse(
            "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  attributes:\n    DelaySeconds: 5\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].name, "q1");
        assert_eq!(docs[0].origin.line, 1);
    }

    #[test]
    fn unknown_spec_field_is_reported_at_its_line() {
        let (_, problems) = parse(
            "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q1\nspec:\n  atributes: {}\n",
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("t.yaml:6:3: unknown field `atributes`"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_kind_is_an_error_with_location() {
        let (_, problems) =
            parse("apiVersion: converge/v1\nkind: Bucket\nmetadata:\n  name: b\nspec: {}\n");
        assert!(
            problems[0].starts_with("t.yaml:2:") && problems[0].contains("unknown kind `Bucket`"),
            "{problems:?}"
        );
    }

    #[test]
    fn wrong_api_version_and_missing_fields_are_reported() {
        let (_, problems) = parse("apiVersion: v2\nkind: Queue\nspec: {}\n");
        assert!(problems
            .iter()
            .any(|p| p.contains("unsupported apiVersion `v2`")));
        assert!(problems
            .iter()
            .any(|p| p.contains("missing field `metadata`")));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let (_, problems) = parse(
            "apiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n  tags: {a: b}\n  tags: {c: d}\n",
        );
        assert!(
            problems[0].contains("duplicate mapping key"),
            "{problems:?}"
        );
        assert!(problems[0].starts_with("t.yaml:7:"), "{problems:?}");
    }

    #[test]
    fn spec_before_kind_is_still_typed() {
        let (docs, problems) = parse(
            "spec:\n  bogus: 1\napiVersion: converge/v1\nkind: Queue\nmetadata:\n  name: q\n",
        );
        assert!(docs.is_empty());
        assert!(
            problems[0].starts_with("t.yaml:2:3:") && problems[0].contains("unknown field `bogus`"),
            "{problems:?}"
        );
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (docs, problems) = parse(&text);
        assert!(docs.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn strip_location_removes_the_suffix_only() {
        assert_eq!(strip_location("bad thing at line 3, column 4"), "bad thing");
        assert_eq!(strip_location("plain"), "plain");
    }
}
