//! Reading one file's documents: every document is `apiVersion`, `kind`, `metadata` and
//! `spec`, the spec typed by its kind while it is read (so an unknown field or a wrong type is
//! reported at its own line and column), then checked by the kind.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::instances::with_standard_tags;
use super::API_VERSION;
use crate::core::model::{hash_json, DesiredResource, LABEL_ACCOUNT, LABEL_INSTANCE, LABEL_REGION};
use crate::core::shard::validate_alias;
use crate::core::shard::validate_region;
use crate::core::source::{strip_location, yaml_options, Origin, Problem, MAX_DOCUMENTS_PER_FILE};
use crate::core::Registry;
use crate::template::render::Rendered;

/// The text being parsed: a file as written, or what a template rendered for an instance.
pub struct Source<'a> {
    pub file: &'a Path,
    /// The rendering (with its map to the template) when the text is a template's output.
    pub rendered: Option<&'a Rendered>,
    /// `rendered for myapp/testing`, printed after every location.
    pub context: Option<String>,
    /// The standard tags of what is rendered (for a service instance, or a service).
    pub standard_tags: Option<BTreeMap<String, String>>,
    /// Labels every resource of the text gets (instance, region, service).
    pub labels: BTreeMap<String, String>,
}

impl Source<'_> {
    /// A location in the text, as a location in the file: a rendered location is mapped back to
    /// the template line and column that produced it (the template text itself, or the
    /// expression whose value it is).
    fn origin(&self, loc: &serde_saphyr::Location) -> Origin {
        let (line, column) = (loc.line().max(1), loc.column().max(1));
        let (line, column) = self
            .rendered
            .and_then(|r| r.template_location(line, column))
            .unwrap_or((line, column));
        Origin {
            file: self.file.to_path_buf(),
            line,
            column,
        }
    }

    pub fn problem(&self, line: u64, column: u64, message: String) -> Problem {
        Problem {
            context: self.context.clone(),
            ..Problem::at(self.file, line, column, message)
        }
    }

    fn problem_at(&self, origin: Origin, message: String) -> Problem {
        Problem {
            origin,
            message,
            context: self.context.clone(),
        }
    }
}

/// Parses one file's text into resources, pushing every problem found.
pub fn parse_file<R: Registry>(
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    parse_source::<R>(
        &Source {
            file,
            rendered: None,
            context: None,
            standard_tags: None,
            labels: BTreeMap::new(),
        },
        text,
        problems,
    )
}

pub fn parse_source<R: Registry>(
    src: &Source<'_>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let docs: Vec<Spanned<RawDoc<R>>> =
        match serde_saphyr::from_multiple_with_options(text, yaml_options()) {
            Ok(d) => d,
            Err(e) => {
                let origin = match e.location() {
                    Some(loc) => src.origin(&loc),
                    None => src.origin(&serde_saphyr::Location::UNKNOWN),
                };
                problems.push(src.problem_at(origin, yaml_message(&e)));
                return Vec::new();
            }
        };
    let mut out = Vec::new();
    for doc in docs {
        let here = src.origin(&doc.referenced);
        if let Some(r) = check_doc::<R>(src, doc.value, here, problems) {
            out.push(r);
        }
    }
    out
}

fn check_doc<R: Registry>(
    src: &Source<'_>,
    doc: RawDoc<R>,
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
            problems.push(src.problem_at(here.clone(), format!("missing field `{field}`")));
            ok = false;
        }
    }
    if let Some(v) = &doc.api_version {
        if v.value != API_VERSION {
            problems.push(src.problem_at(
                src.origin(&v.referenced),
                format!(
                    "unsupported apiVersion `{}` (expected `{API_VERSION}`)",
                    v.value
                ),
            ));
            ok = false;
        }
    }
    let (Some(kind), Some(metadata), Some(spec), true) = (doc.kind, doc.metadata, doc.spec, ok)
    else {
        return None;
    };
    let kind = kind.value;
    let name_origin = src.origin(&metadata.name.referenced);
    let spec_origin = src.origin(&spec.location);
    let name = metadata.name.value;
    let spec_value = match spec.value {
        SpecValue::Typed(v) => Ok(v),
        SpecValue::Untyped(v) => R::retype(&kind, v).map_err(|m| format!("spec: {m}")),
    };
    let spec_value = spec_value.and_then(|v| match &src.standard_tags {
        Some(tags) => with_standard_tags::<R>(&kind, v, tags),
        None => Ok(v),
    });
    let spec_value = match spec_value {
        Ok(v) => v,
        Err(message) => {
            problems.push(src.problem_at(spec_origin, message));
            return None;
        }
    };
    let mut valid = true;
    if let Err(message) = R::validate_name(&kind, &name) {
        problems.push(src.problem_at(name_origin.clone(), message));
        valid = false;
    }
    for message in R::validate_spec(&kind, &name, &spec_value) {
        problems.push(src.problem_at(spec_origin.clone(), message));
        valid = false;
    }
    let mut labels = metadata.labels;
    // Placement labels written by hand (as `converge render` prints them) are checked like
    // `metadata.account` and `metadata.region`.
    for (label, check) in [
        (
            LABEL_ACCOUNT,
            validate_alias as fn(&str) -> Result<(), String>,
        ),
        (LABEL_REGION, validate_region),
    ] {
        if let Some(Err(e)) = labels.get(label).map(|v| check(v)) {
            problems
                .push(src.problem_at(name_origin.clone(), format!("metadata.labels.{label}: {e}")));
            valid = false;
        }
    }
    labels.extend(src.labels.clone());
    // Where the resource goes: an instance's resources go where the instance is; anything else
    // where its metadata says (over its service's `shared` defaults).
    let placed = [
        (LABEL_ACCOUNT, "account", metadata.account),
        (LABEL_REGION, "region", metadata.region),
    ];
    for (label, field, value) in placed {
        let Some(value) = value else { continue };
        let at = src.origin(&value.referenced);
        if src.labels.contains_key(LABEL_INSTANCE) {
            problems.push(src.problem_at(
                at,
                format!("metadata.{field}: a service instance's resources are placed in the instance's {field} (service.yaml); remove it here"),
            ));
            valid = false;
            continue;
        }
        let check = match field {
            "account" => validate_alias(&value.value),
            _ => validate_region(&value.value),
        };
        match check {
            Ok(()) => {
                labels.insert(label.to_string(), value.value);
            }
            Err(e) => {
                problems.push(src.problem_at(at, format!("metadata.{field}: {e}")));
                valid = false;
            }
        }
    }
    valid.then(|| DesiredResource {
        hash: hash_json(&spec_value),
        kind,
        name,
        labels,
        spec: spec_value.into(),
        origin: here,
    })
}

/// A YAML error in an operator's words: limits say which limit and what to do; the rest is the
/// parser's message without its trailing location (printed first instead).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let e = e.without_snippet();
    let mut inner = e;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let serde_saphyr::Error::Budget { breach, .. } = inner else {
        let message = strip_location(&e.to_string());
        return match message.strip_suffix("; use Option<String>") {
            Some(_) => "expected text here, found nothing (an empty value or `null`)".to_string(),
            None => message,
        };
    };
    let what = match breach {
        B::Documents { .. } => format!(
            "more than {MAX_DOCUMENTS_PER_FILE} documents in one file; split it into several files"
        ),
        B::Depth { .. } => "nested more than 64 levels deep".to_string(),
        B::Aliases { .. } => "more than 1,000 aliases (`*name`) in one file".to_string(),
        B::Anchors { .. } => "more than 10,000 anchors (`&name`) in one file".to_string(),
        B::Nodes { .. } => "more than 500,000 YAML nodes in one file".to_string(),
        B::Events { .. } | B::AliasAnchorRatio { .. } | B::RecordedAnchorEvents { .. } => {
            "the aliases expand to more than 500,000 YAML nodes (an alias bomb?)".to_string()
        }
        other => format!("a YAML parser limit was exceeded ({other:?})"),
    };
    format!("file too large to load: {what}")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: Spanned<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// The account alias (outside service instances).
    #[serde(default)]
    account: Option<Spanned<String>>,
    /// The region (outside service instances).
    #[serde(default)]
    region: Option<Spanned<String>>,
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
struct KnownKind<R>(String, PhantomData<R>);

impl<'de, R: Registry> Deserialize<'de> for KnownKind<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = String::deserialize(d)?;
        if R::names().contains(&kind.as_str()) {
            Ok(KnownKind(kind, PhantomData))
        } else {
            Err(de::Error::custom(format!(
                "unknown kind `{kind}` (known kinds: {})",
                R::names().join(", ")
            )))
        }
    }
}

struct RawDoc<R> {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    metadata: Option<Metadata>,
    spec: Option<LocatedSpec>,
    registry: PhantomData<R>,
}

impl<'de, R: Registry> Deserialize<'de> for RawDoc<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawDocVisitor(PhantomData))
    }
}

struct RawDocVisitor<R>(PhantomData<R>);

const DOC_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

impl<'de, R: Registry> Visitor<'de> for RawDocVisitor<R> {
    type Value = RawDoc<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest: a mapping with apiVersion, kind, metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDoc<R>, A::Error> {
        let mut doc = RawDoc {
            api_version: None,
            kind: None,
            metadata: None,
            spec: None,
            registry: PhantomData,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => doc.api_version = Some(map.next_value()?),
                "kind" => {
                    let kind: Spanned<KnownKind<R>> = map.next_value()?;
                    doc.kind = Some(Spanned::new(kind.value.0, kind.referenced, kind.defined));
                }
                "metadata" => doc.metadata = Some(map.next_value()?),
                "spec" => {
                    doc.spec = Some(match &doc.kind {
                        Some(kind) => {
                            let spanned =
                                map.next_value_seed(SpecSeed::<R>(&kind.value, PhantomData))?;
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

/// Reads a spec straight into the typed spec of `kind`, through the registry.
struct SpecSeed<'a, R>(&'a str, PhantomData<R>);

impl<'de, R: Registry> DeserializeSeed<'de> for SpecSeed<'_, R> {
    type Value = Spanned<serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        R::typed_spec(self.0, d)
    }
}
