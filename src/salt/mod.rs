//! `converge import-sls`: reading Salt `boto_*` state files into converge manifests.
//!
//! A state file is rendered as Jinja first (with the [`crate::template`] environment: strict
//! undefined values), with `pillar` (the `--pillar` files deep-merged in order, later wins),
//! `salt['pillar.get'](key, default)` (colon-separated nested keys, as Salt),
//! `salt['config.get']` (the same, for pillar data), `salt['grains.get']` (always the default:
//! there is no minion), `grains` (empty), `opts` (empty), `saltenv` (`base`) and `sls` (the
//! file's name). Then it is read as Salt's state YAML: state id → `module.function` → a list of
//! one-key argument maps.
//!
//! Converted (`.present` only): `boto_secgroup` → SecurityGroup, `boto_iam_role` → IamRole,
//! `boto_elb` → LoadBalancer, `boto_sqs` → Queue, `boto_asg` → AutoScalingGroup,
//! `boto_cloudwatch_alarm` → MetricAlarm (its `attributes` become the spec), `boto_route53` →
//! DnsRecord. Arguments keep their Salt names, which the kinds accept. Every converted spec is
//! typed and validated by its kind before it is written, so what is written loads.
//!
//! Never dropped silently: another state module, an `.absent` state, an argument converge has
//! no equivalent for, or a spec its kind rejects is listed as *not converted* with the file,
//! line and state id. `profile`, `region`, `key`/`keyid`, requisites, `order` and
//! `wait_for_sync` are listed as *notes* saying what they map to (credentials → the AWS
//! configuration chain / `AWS_PROFILE`, region → the controller's `--region`, requisites →
//! converge's own ordering by references).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::Value as JValue;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::core::source::{read_text, strip_location, yaml_options};
use crate::core::Registry;
use crate::desired::API_VERSION;
use crate::kinds::Kinds;
use crate::template::{render, values};

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    /// Manifest files written.
    pub written: Vec<PathBuf>,
    /// Resources converted.
    pub converted: usize,
    /// What arguments such as `profile` and `region` map to (each once, with the states).
    pub notes: Vec<String>,
    /// Everything that could not be converted, with file, line and state id.
    pub not_converted: Vec<String>,
}

/// An import that could not run at all (unreadable file, template or YAML error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// One converted resource.
struct Manifest {
    kind: &'static str,
    name: String,
    spec: Value,
    /// `myapp.sls:12: state "..." (boto_sqs.present)`.
    from: String,
}

/// How one Salt argument converts.
#[derive(Clone, Copy)]
enum Arg {
    /// Copied into the spec under this name.
    To(&'static str),
    /// A string or a list, copied as a list under this name.
    ToList(&'static str),
    /// A map merged into the spec itself.
    Flatten,
    /// Only `true` has an equivalent (converge's behaviour); `false` is not converted.
    TrueOnly(&'static str),
    /// Only `false` has an equivalent; `true` is not converted.
    FalseOnly(&'static str),
    /// Nothing to convert; noted.
    Note(&'static str),
}

use Arg::*;

/// A Salt state module converge converts, by its `.present` function.
struct Module {
    name: &'static str,
    kind: &'static str,
    /// The manifest file the resources go to.
    file: &'static str,
    args: &'static [(&'static str, Arg)],
}

const MODULES: &[Module] = &[
    Module {
        name: "boto_secgroup",
        kind: "SecurityGroup",
        file: "security_group",
        args: &[
            ("description", To("description")),
            ("vpc_id", To("vpc_id")),
            ("rules", To("rules")),
            ("rules_egress", To("rules_egress")),
            ("tags", To("tags")),
            (
                "delete_ingress_rules",
                TrueOnly("converge always removes ingress rules that are not written"),
            ),
            (
                "delete_egress_rules",
                TrueOnly("converge always removes egress rules that are not written (when `rules_egress` is written)"),
            ),
        ],
    },
    Module {
        name: "boto_iam_role",
        kind: "IamRole",
        file: "iam_role",
        args: &[
            ("policy_document", To("policy_document")),
            ("policies", To("policies")),
            ("managed_policies", To("managed_policies")),
            ("path", To("path")),
            ("create_instance_profile", To("instance_profile")),
            (
                "delete_policies",
                TrueOnly("converge always deletes inline policies that are not written"),
            ),
        ],
    },
    Module {
        name: "boto_elb",
        kind: "LoadBalancer",
        file: "load_balancer",
        args: &[
            ("availability_zones", To("availability_zones")),
            ("subnets", To("subnets")),
            ("security_groups", To("security_groups")),
            ("scheme", To("scheme")),
            ("listeners", To("listeners")),
            ("health_check", To("health_check")),
            ("attributes", To("attributes")),
            ("cnames", To("cnames")),
            ("tags", To("tags")),
            (
                "wait_for_sync",
                Note("converge does not wait for Route 53 to sync; the next sweep checks the records"),
            ),
        ],
    },
    Module {
        name: "boto_sqs",
        kind: "Queue",
        file: "queue",
        args: &[("attributes", To("attributes")), ("tags", To("tags"))],
    },
    Module {
        name: "boto_asg",
        kind: "AutoScalingGroup",
        file: "auto_scaling_group",
        args: &[
            ("launch_config_name", To("launch_config_name")),
            ("launch_config", To("launch_config")),
            ("availability_zones", To("availability_zones")),
            ("vpc_zone_identifier", To("vpc_zone_identifier")),
            ("min_size", To("min_size")),
            ("max_size", To("max_size")),
            ("desired_capacity", To("desired_capacity")),
            ("load_balancers", To("load_balancers")),
            ("default_cooldown", To("default_cooldown")),
            ("health_check_type", To("health_check_type")),
            ("health_check_period", To("health_check_period")),
            ("termination_policies", To("termination_policies")),
            ("suspended_processes", To("suspended_processes")),
            ("scaling_policies", To("scaling_policies")),
            ("tags", To("tags")),
            ("instance_profile_name", To("instance_profile_name")),
        ],
    },
    Module {
        name: "boto_cloudwatch_alarm",
        kind: "MetricAlarm",
        file: "metric_alarm",
        args: &[("attributes", Flatten)],
    },
    Module {
        name: "boto_route53",
        kind: "DnsRecord",
        file: "dns_record",
        args: &[
            ("value", ToList("values")),
            ("zone", To("zone")),
            ("record_type", To("type")),
            ("ttl", To("ttl")),
            (
                "private_zone",
                FalseOnly("converge finds the zone by name; name a private zone by its id in `zone`"),
            ),
            (
                "split_dns",
                FalseOnly("converge finds the zone by name; name the zone by its id in `zone`"),
            ),
            (
                "wait_for_sync",
                Note("converge does not wait for Route 53 to sync; the next sweep checks the record"),
            ),
        ],
    },
];

/// Salt's requisites and ordering arguments: converge orders resources by their references.
const REQUISITES: &[&str] = &[
    "require",
    "require_in",
    "require_any",
    "watch",
    "watch_in",
    "watch_any",
    "onchanges",
    "onchanges_in",
    "onchanges_any",
    "onfail",
    "onfail_in",
    "onfail_any",
    "prereq",
    "prereq_in",
    "use",
    "use_in",
    "listen",
    "listen_in",
    "order",
    "failhard",
];

/// Salt's top-level keywords that are not states.
const KEYWORDS: &[&str] = &["include", "extend", "exclude"];

/// Imports `files` with the pillar data of `pillars`, writing manifests below `out`.
pub fn import(files: &[PathBuf], pillars: &[PathBuf], out: &Path) -> Result<Report, ImportError> {
    let pillar = read_pillar(pillars)?;
    let mut report = Report::default();
    let mut notes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut outputs: Vec<(PathBuf, Vec<Manifest>)> = Vec::new();
    let mut seen: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "states".to_string());
        let manifests = convert_file(file, &stem, &pillar, &mut report, &mut notes)?;
        let mut kept = Vec::new();
        for m in manifests {
            match seen.get(&(m.kind, m.name.clone())) {
                Some(first) => report.not_converted.push(format!(
                    "{}: {} `{}` is already converted from {first}",
                    m.from, m.kind, m.name
                )),
                None => {
                    seen.insert((m.kind, m.name.clone()), m.from.clone());
                    kept.push(m);
                }
            }
        }
        outputs.push((out.join(&stem), kept));
    }
    for (dir, manifests) in outputs {
        write_manifests(&dir, manifests, &mut report)?;
    }
    report.notes = notes
        .into_iter()
        .map(|(note, states)| {
            let list: Vec<String> = states.into_iter().collect();
            let shown = if list.len() > 3 {
                format!("{} and {} more", list[..3].join(", "), list.len() - 3)
            } else {
                list.join(", ")
            };
            format!("{note} (in {shown})")
        })
        .collect();
    Ok(report)
}

fn read_pillar(pillars: &[PathBuf]) -> Result<Value, ImportError> {
    let mut merged: Option<values::Node> = None;
    for p in pillars {
        let node = values::read_layer(p)
            .map_err(|e| ImportError(format!("--pillar {e}")))?
            .ok_or_else(|| ImportError(format!("--pillar {}: no such file", p.display())))?;
        merged = Some(match merged {
            Some(m) => values::merge(m, node),
            None => node,
        });
    }
    Ok(merged.map_or_else(|| Value::Object(Map::new()), |m| m.to_json()))
}

/// `a:b:c` in `data`, as Salt's `pillar.get`.
fn lookup(data: &Value, key: &str) -> Option<Value> {
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

/// The Jinja context Salt state files are rendered with.
fn salt_context(pillar: &Value, sls: &str) -> JValue {
    let getter = |data: Value| {
        JValue::from_function(move |key: String, default: Option<JValue>| -> JValue {
            match lookup(&data, &key) {
                Some(v) => JValue::from(minijinja::value::Serde(v)),
                None => default.unwrap_or_else(|| JValue::from("")),
            }
        })
    };
    let mut salt = BTreeMap::new();
    salt.insert("pillar.get".to_string(), getter(pillar.clone()));
    salt.insert("config.get".to_string(), getter(pillar.clone()));
    salt.insert("grains.get".to_string(), getter(Value::Object(Map::new())));
    let mut ctx = BTreeMap::new();
    ctx.insert(
        "pillar".to_string(),
        JValue::from(minijinja::value::Serde(pillar)),
    );
    ctx.insert("salt".to_string(), JValue::from(salt));
    ctx.insert(
        "grains".to_string(),
        JValue::from(BTreeMap::<String, JValue>::new()),
    );
    ctx.insert(
        "opts".to_string(),
        JValue::from(BTreeMap::<String, JValue>::new()),
    );
    ctx.insert("saltenv".to_string(), JValue::from("base"));
    ctx.insert("sls".to_string(), JValue::from(sls));
    JValue::from(ctx)
}

/// The states of a rendered file, in order: id (with its location) → body.
struct States(Vec<(Spanned<String>, Value)>);

impl<'de> Deserialize<'de> for States {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = States;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Salt states: a map of state ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<States, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    out.push((k, map.next_value::<Value>()?));
                }
                Ok(States(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn convert_file(
    file: &Path,
    stem: &str,
    pillar: &Value,
    report: &mut Report,
    notes: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<Manifest>, ImportError> {
    let shown = file.display().to_string();
    let text = read_text(file).map_err(|e| ImportError(format!("{shown}: {e}")))?;
    let env = render::environment();
    let rendered = render::render(&env, &shown, &text, &salt_context(pillar, stem))
        .map_err(|e| ImportError(format!("{shown}:{}: {}", e.line, e.message)))?;
    let line_of = |loc: &serde_saphyr::Location| {
        let l = loc.line().max(1);
        rendered.template_line(l).unwrap_or(l)
    };
    let states: Option<States> =
        serde_saphyr::from_str_with_options(&rendered.text, yaml_options()).map_err(|e| {
            let line = e.location().map_or(1, |l| line_of(&l));
            ImportError(format!(
                "{shown}:{line} (rendered): {}",
                strip_location(&e.without_snippet().to_string())
            ))
        })?;
    let mut out = Vec::new();
    for (id, body) in states.map(|s| s.0).unwrap_or_default() {
        let here = format!(
            "{shown}:{}: state \"{}\"",
            line_of(&id.referenced),
            id.value
        );
        if KEYWORDS.contains(&id.value.as_str()) {
            report.not_converted.push(format!(
                "{here}: the Salt keyword `{}` is not converted (list every state file to import instead)",
                id.value
            ));
            continue;
        }
        let Value::Object(calls) = body else {
            report.not_converted.push(format!(
                "{here}: not a state (expected `module.function:` and its arguments)"
            ));
            continue;
        };
        for (call, args) in calls {
            if call.starts_with("__") {
                continue;
            }
            let mut args = match args {
                Value::Array(a) => a,
                Value::Null => Vec::new(),
                other => vec![other],
            };
            let (module, function) = match call.split_once('.') {
                Some((m, f)) => (m.to_string(), f.to_string()),
                None => {
                    // Short form: `module:` with the function as a bare string in the list.
                    match args.iter().position(Value::is_string) {
                        Some(i) => {
                            let f = args.remove(i);
                            (call.clone(), f.as_str().unwrap_or_default().to_string())
                        }
                        None => (call.clone(), String::new()),
                    }
                }
            };
            let state = format!("{here} ({module}.{function})");
            let Some(m) = MODULES.iter().find(|m| m.name == module) else {
                report.not_converted.push(format!(
                    "{state}: `{module}` is not a state module converge converts (converted: {})",
                    MODULES
                        .iter()
                        .map(|m| m.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            if function != "present" {
                report.not_converted.push(format!(
                    "{state}: only `{module}.present` is converted; converge deletes what leaves the desired state with `--prune`"
                ));
                continue;
            }
            if let Some(manifest) = convert_state(m, &id.value, &state, args, report, notes) {
                out.push(manifest);
            }
        }
    }
    Ok(out)
}

/// One `.present` state → one manifest, or `None` (reported).
fn convert_state(
    m: &Module,
    id: &str,
    state: &str,
    args: Vec<Value>,
    report: &mut Report,
    notes: &mut BTreeMap<String, BTreeSet<String>>,
) -> Option<Manifest> {
    let mut name = id.to_string();
    let mut spec = Map::new();
    let mut ok = true;
    let mut note = |text: String| {
        notes.entry(text).or_default().insert(id.to_string());
    };
    for item in args {
        let Value::Object(pairs) = item else {
            report.not_converted.push(format!(
                "{state}: argument `{item}` is not a `name: value` pair"
            ));
            ok = false;
            continue;
        };
        for (arg, value) in pairs {
            match arg.as_str() {
                "name" => match value.as_str() {
                    Some(n) => name = n.to_string(),
                    None => {
                        report
                            .not_converted
                            .push(format!("{state}: `name` must be a string, found {value}"));
                        ok = false;
                    }
                },
                "profile" => note(match &value {
                    Value::String(p) => format!(
                        "`profile: {p}` (a Salt credentials profile) → run converge with AWS credentials for it, e.g. AWS_PROFILE={p} (credentials never go in manifests)"
                    ),
                    _ => "`profile` with inline credentials → give converge credentials through the AWS configuration chain (environment, AWS_PROFILE, instance role); they never go in manifests".to_string(),
                }),
                "region" => note(format!(
                    "`region: {}` → the controller's region: `converge run --region {}` (one controller per region)",
                    value.as_str().unwrap_or_default(),
                    value.as_str().unwrap_or_default()
                )),
                "key" | "keyid" => note(format!(
                    "`{arg}` (inline credentials) → the AWS configuration chain (environment, AWS_PROFILE, instance role); never in manifests"
                )),
                r if REQUISITES.contains(&r) => note(format!(
                    "`{r}` → not needed: converge orders resources by their references and waits for what they name"
                )),
                _ => match m.args.iter().find(|(a, _)| *a == arg).map(|(_, how)| *how) {
                    Some(To(field)) => {
                        spec.insert(field.to_string(), value);
                    }
                    Some(ToList(field)) => {
                        let list = match value {
                            Value::Array(items) => Value::Array(items),
                            other => Value::Array(vec![other]),
                        };
                        spec.insert(field.to_string(), list);
                    }
                    Some(Flatten) => match value {
                        Value::Object(fields) => spec.extend(fields),
                        other => {
                            report.not_converted.push(format!(
                                "{state}: `{arg}` must be a map, found {other}"
                            ));
                            ok = false;
                        }
                    },
                    Some(TrueOnly(why)) => {
                        if value != Value::Bool(true) {
                            report
                                .not_converted
                                .push(format!("{state}: `{arg}: {value}` is not converted: {why}"));
                            ok = false;
                        }
                    }
                    Some(FalseOnly(why)) => {
                        if value == Value::Bool(true) {
                            report
                                .not_converted
                                .push(format!("{state}: `{arg}: true` is not converted: {why}"));
                            ok = false;
                        }
                    }
                    Some(Note(text)) => note(format!("`{arg}` → {text}")),
                    None => {
                        let known: Vec<&str> = m.args.iter().map(|(a, _)| *a).collect();
                        report.not_converted.push(format!(
                            "{state}: argument `{arg}` is not converted (converted arguments: name, {})",
                            known.join(", ")
                        ));
                        ok = false;
                    }
                },
            }
        }
    }
    if !ok {
        report.not_converted.push(format!(
            "{state}: {} `{name}` is not written (see above)",
            m.kind
        ));
        return None;
    }
    // Salt takes the instance profile inside `launch_config`; converge's group has it.
    if m.kind == "AutoScalingGroup" {
        hoist_instance_profile(&mut spec);
    }
    // Written as the Salt user wrote it (the kinds take Salt's forms); typed only to check it.
    let written = Value::Object(spec);
    let typed = Kinds::retype(m.kind, written.clone());
    let spec = match typed {
        Ok(s) => s,
        Err(e) => {
            report.not_converted.push(format!(
                "{state}: {} `{name}` is not written: its spec is invalid: {e}",
                m.kind
            ));
            return None;
        }
    };
    let mut problems = Vec::new();
    if let Err(e) = Kinds::validate_name(m.kind, &name) {
        problems.push(e);
    }
    problems.extend(Kinds::validate_spec(m.kind, &name, &spec));
    if !problems.is_empty() {
        report.not_converted.push(format!(
            "{state}: {} `{name}` is not written: {}",
            m.kind,
            problems.join("; ")
        ));
        return None;
    }
    Some(Manifest {
        kind: m.kind,
        name,
        spec: written,
        from: state.to_string(),
    })
}

/// Moves `instance_profile_name` out of a Salt-style `launch_config` list into the group.
fn hoist_instance_profile(spec: &mut Map<String, Value>) {
    let mut found = None;
    match spec.get_mut("launch_config") {
        Some(Value::Array(items)) => items.retain(|item| match item {
            Value::Object(m) if m.len() == 1 && m.contains_key("instance_profile_name") => {
                found = m.get("instance_profile_name").cloned();
                false
            }
            _ => true,
        }),
        Some(Value::Object(m)) => found = m.remove("instance_profile_name"),
        _ => {}
    }
    if let Some(p) = found {
        spec.entry("instance_profile_name").or_insert(p);
    }
}

fn write_manifests(
    dir: &Path,
    manifests: Vec<Manifest>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let mut by_file: BTreeMap<&'static str, Vec<Manifest>> = BTreeMap::new();
    for m in manifests {
        let file = MODULES
            .iter()
            .find(|x| x.kind == m.kind)
            .map_or("other", |x| x.file);
        by_file.entry(file).or_default().push(m);
    }
    if by_file.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| ImportError(format!("cannot create {}: {e}", dir.display())))?;
    for (file, manifests) in by_file {
        let mut text = String::from("# Converted from Salt states by `converge import-sls`.\n");
        for m in &manifests {
            let doc = serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": m.kind,
                "metadata": {"name": m.name},
                "spec": m.spec,
            });
            let yaml = serde_saphyr::to_string(&doc)
                .map_err(|e| ImportError(format!("{}: cannot write as YAML: {e}", m.from)))?;
            text.push_str("---\n# from ");
            text.push_str(&m.from);
            text.push('\n');
            text.push_str(&yaml);
        }
        let path = dir.join(format!("{file}.yaml"));
        std::fs::write(&path, text)
            .map_err(|e| ImportError(format!("cannot write {}: {e}", path.display())))?;
        report.converted += manifests.len();
        report.written.push(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sls: &str, pillar: Option<&str>) -> (Report, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.sls");
        std::fs::write(&file, sls).unwrap();
        let mut pillars = Vec::new();
        if let Some(p) = pillar {
            let pf = dir.path().join("pillar.yaml");
            std::fs::write(&pf, p).unwrap();
            pillars.push(pf);
        }
        let report = import(&[file], &pillars, &dir.path().join("out")).unwrap();
        (report, dir)
    }

    #[test]
    fn a_queue_state_converts_with_pillar_values_and_notes() {
        let (report, dir) = run(
            "{% for q in salt['pillar.get']('app:queues', []) %}\nq {{ q }}:\n  boto_sqs.present:\n    - name: app-{{ q }}\n    - attributes: {VisibilityTimeout: {{ pillar['timeout'] }}}\n    - profile: prod\n    - region: us-east-1\n    - require:\n      - boto_iam_role: x\n{% endfor %}\n",
            Some("app: {queues: [a, b]}\ntimeout: 60\n"),
        );
        assert!(
            report.not_converted.is_empty(),
            "{:?}",
            report.not_converted
        );
        assert_eq!(report.converted, 2);
        let text = std::fs::read_to_string(dir.path().join("out/app/queue.yaml")).unwrap();
        assert!(
            text.contains("name: app-a") && text.contains("name: app-b"),
            "{text}"
        );
        assert!(text.contains("VisibilityTimeout: 60\n"), "{text}");
        assert!(text.contains("# from "), "{text}");
        let notes = report.notes.join("\n");
        assert!(notes.contains("AWS_PROFILE=prod"), "{notes}");
        assert!(notes.contains("--region us-east-1"), "{notes}");
        assert!(notes.contains("`require` → not needed"), "{notes}");
        let mut problems = Vec::new();
        let docs =
            crate::desired::parse_file::<Kinds>(Path::new("queue.yaml"), &text, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn what_cannot_be_converted_is_listed_with_file_line_and_state() {
        let (report, dir) = run(
            "pkg:\n  pkg.installed:\n    - name: nginx\n\ngone:\n  boto_sqs.absent:\n    - name: old\n\nlb:\n  boto_elb.present:\n    - name: lb\n    - availability_zones: [us-east-1a]\n    - listeners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP}]\n    - alarms: {}\n\nok:\n  boto_sqs.present:\n    - name: fine\n",
            None,
        );
        let all = report.not_converted.join("\n");
        assert!(all.contains("app.sls:1: state \"pkg\" (pkg.installed): `pkg` is not a state module converge converts"), "{all}");
        assert!(
            all.contains(
                "app.sls:5: state \"gone\" (boto_sqs.absent): only `boto_sqs.present` is converted"
            ),
            "{all}"
        );
        assert!(
            all.contains(
                "app.sls:9: state \"lb\" (boto_elb.present): argument `alarms` is not converted"
            ),
            "{all}"
        );
        assert!(all.contains("LoadBalancer `lb` is not written"), "{all}");
        assert_eq!(report.converted, 1);
        assert!(dir.path().join("out/app/queue.yaml").is_file());
        assert!(!dir.path().join("out/app/load_balancer.yaml").exists());
    }

    #[test]
    fn a_spec_the_kind_rejects_is_not_written() {
        let (report, _dir) = run(
            "q:\n  boto_sqs.present:\n    - name: q\n    - attributes: {Bogus: 1}\n",
            None,
        );
        assert_eq!(report.converted, 0);
        assert!(
            report.not_converted[0].contains("Queue `q` is not written: its spec is invalid")
                && report.not_converted[0].contains("Bogus"),
            "{:?}",
            report.not_converted
        );
    }

    #[test]
    fn template_and_yaml_errors_stop_the_import_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.sls");
        std::fs::write(&file, "a:\n  boto_sqs.present:\n    - name: {{ nope }}\n").unwrap();
        let e = import(std::slice::from_ref(&file), &[], &dir.path().join("out")).unwrap_err();
        assert!(e.0.contains("bad.sls:3: template undefined value"), "{e}");
        std::fs::write(&file, "a:\n  boto_sqs.present:\n  - name: [x\n").unwrap();
        let e = import(&[file], &[], &dir.path().join("out")).unwrap_err();
        assert!(e.0.contains("bad.sls:"), "{e}");
    }

    #[test]
    fn pillar_get_walks_nested_keys_with_a_default() {
        let p = serde_json::json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(lookup(&p, "a:b:1:c"), Some(Value::from("x")));
        assert_eq!(lookup(&p, "a:zz"), None);
    }

    #[test]
    fn the_instance_profile_moves_out_of_a_salt_launch_config() {
        let mut spec = serde_json::json!({"launch_config": [{"image_id": "ami-1"}, {"instance_profile_name": "p"}]})
            .as_object()
            .cloned()
            .unwrap();
        hoist_instance_profile(&mut spec);
        assert_eq!(spec["instance_profile_name"], "p");
        assert_eq!(
            spec["launch_config"],
            serde_json::json!([{"image_id": "ami-1"}])
        );
    }
}
