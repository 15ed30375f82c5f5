//! `converge import-sls`: reading Salt `boto_*` state trees into converge manifests.
//!
//! An import runs in three steps. First every state file is rendered with Salt's Jinja
//! ([`jinja`]: `salt`, `pillar`, `grains`, Salt's statements, filters and imports) and read as
//! Salt's state YAML (state id → `module.function` → a list of one-key argument maps),
//! following `include:`; the pillar comes from `--pillar` files and from a pillar top file
//! evaluated for the minion ([`pillar`]). A file that fails (template, YAML, a reused id, an
//! include loop) is reported with its line and nothing of it is written; the others go on.
//! Then the `boto_lc` states are collected for the groups that name them. Last, each state
//! converts: `names:` expands, `*_from_pillar` resolve, `.present` states of the modules in
//! [`MODULES`] become specs, typed and validated by their kind, and each written file is read
//! back as the loader reads it.
//!
//! Never dropped silently: another state module, an `.absent` state, an argument converge has
//! no equivalent for, a value only a Salt master or minion could give, or a spec its kind
//! rejects is listed as *not converted* with the file, line and state id. `profile`,
//! `key`/`keyid` and requisites are listed as *notes* saying what they map to (credentials →
//! the AWS configuration chain / `AWS_PROFILE`, requisites → converge's own ordering by
//! references); `region` becomes the resource's `metadata.region`.

mod jinja;
mod pillar;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::core::source::{strip_location, yaml_options};
use crate::core::Registry;
use crate::desired::API_VERSION;
use crate::kinds::Kinds;
use crate::template::values;
use jinja::SaltData;

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
    /// Per state file: what converted, what did not, and why nothing did.
    pub files: Vec<FileSummary>,
}

/// An import that could not run at all (unreadable file, template or YAML error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// One converted resource.
struct Manifest {
    kind: &'static str,
    name: String,
    /// The state's `region` (the resource's shard), when it names one.
    region: Option<String>,
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
            ("vpc_name", To("vpc_name")),
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
            ("subnet_names", To("subnet_names")),
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
            ("subnet_names", To("subnet_names")),
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

/// What to import and how (the command line of `converge import-sls`).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// State files, or directories whose every `.sls` (but `top.sls`) is imported.
    pub inputs: Vec<PathBuf>,
    /// Pillar files, merged in order over the pillar the top file builds (later wins).
    pub pillars: Vec<PathBuf>,
    /// A pillar tree with a `top.sls`, evaluated for the minion.
    pub pillar_root: Option<PathBuf>,
    /// The minion's id (a hostname following the naming convention gives its grains).
    pub minion: Option<String>,
    /// Grains set one by one (`key=value`), over the minion's.
    pub grains: Vec<(String, String)>,
    /// What `salt://`, `include:` and Jinja imports resolve against. Default: the directory
    /// given, or the first file's directory.
    pub file_root: Option<PathBuf>,
    pub out: PathBuf,
}

/// One state file's outcome, for the summary table.
#[derive(Debug, Clone, Default)]
pub struct FileSummary {
    pub file: String,
    pub converted: usize,
    pub not_converted: usize,
    /// Why nothing of the file was written (a template or YAML error, an include loop).
    pub error: Option<String>,
}

/// One state as read from a rendered file.
struct StateDecl {
    id: String,
    /// `file:line: state "id"`.
    here: String,
    body: Value,
}

/// A state file, rendered and read.
struct Parsed {
    shown: String,
    sls: String,
    states: Vec<StateDecl>,
    /// Salt functions the file called that need a master or a minion.
    unresolved: Vec<String>,
}

/// Imports the state files of `opts`, writing manifests below `opts.out`. A file that cannot
/// be rendered or read is reported (nothing written for it) and the others still convert.
pub fn import(opts: &ImportOptions) -> Result<Report, ImportError> {
    // Absolute, so that sls names, relative includes and containment compare like with like.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let inputs: Vec<PathBuf> = opts.inputs.iter().map(|p| canonical(p)).collect();
    let file_root = opts
        .file_root
        .clone()
        .or_else(|| inputs.iter().find(|p| p.is_dir()).cloned())
        .or_else(|| {
            inputs
                .first()
                .and_then(|f| f.parent().map(Path::to_path_buf))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let file_root = jinja::file_root(&file_root);
    let mut report = Report::default();
    let grains = grains_of(opts)?;
    let mut pillar = Value::Object(Map::new());
    if let Some(root) = &opts.pillar_root {
        let minion = pillar::Minion {
            id: opts.minion.clone().unwrap_or_else(|| "minion".into()),
            grains: grains.clone(),
        };
        let built =
            pillar::build(root, &minion).map_err(|e| ImportError(format!("--pillar-root {e}")))?;
        report
            .not_converted
            .extend(built.problems.into_iter().map(|p| format!("pillar: {p}")));
        pillar = built.pillar;
    }
    pillar = jinja::merge(pillar, read_pillar(&opts.pillars)?);
    let data = Arc::new(SaltData {
        pillar,
        grains,
        file_root: file_root.clone(),
    });

    // 1. Every file rendered and read, following `include:`.
    let mut queue: VecDeque<PathBuf> = VecDeque::new();
    for input in &inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            sls_files(input, &mut files);
            queue.extend(files);
        } else {
            queue.push_back(input.clone());
        }
    }
    let mut seen: BTreeSet<PathBuf> = queue.iter().cloned().collect();
    let mut parsed = Vec::new();
    // sls → (its file as shown, its includes: line and sls).
    let mut graph: IncludeGraph = BTreeMap::new();
    let mut by_sls: BTreeMap<String, String> = BTreeMap::new();
    while let Some(file) = queue.pop_front() {
        let sls = sls_name(&file_root, &file);
        let shown = file.display().to_string();
        report.files.push(FileSummary {
            file: shown.clone(),
            ..FileSummary::default()
        });
        if let Some(first) = by_sls.insert(sls.clone(), shown.clone()) {
            fail_file(
                &mut report,
                &shown,
                format!("{shown}: its sls name `{sls}` is also {first}'s (their manifests would overwrite each other); give --file-root so that they differ"),
            );
            continue;
        }
        match read_states(&file, &sls, &data) {
            Err(e) => fail_file(&mut report, &shown, e),
            Ok((p, includes)) => {
                let is_init = file.ends_with("init.sls");
                let mut edges = Vec::new();
                for (line, inc) in includes {
                    let target = pillar::resolve_relative(&sls, is_init, &inc);
                    match pillar::sls_path(&file_root, &target) {
                        None => report.not_converted.push(format!(
                            "{shown}:{line}: include `{inc}`: no {target}.sls or {target}/init.sls under {}",
                            file_root.display()
                        )),
                        Some(path) => {
                            edges.push((line, target));
                            if seen.insert(path.clone()) {
                                queue.push_back(path);
                            }
                        }
                    }
                }
                graph.insert(sls, (shown, edges));
                parsed.push(p);
            }
        }
    }
    // An include loop: the file whose include closes it is not converted.
    for (looped, e) in include_loops(&graph) {
        if let Some(i) = parsed.iter().position(|p| p.sls == looped) {
            let p = parsed.remove(i);
            fail_file(&mut report, &p.shown, e);
        }
    }

    // 2. Launch configurations made by `boto_lc` states, for the groups that name them.
    let mut launch_configs: BTreeMap<String, (String, Vec<Value>)> = BTreeMap::new();
    for p in &parsed {
        for s in &p.states {
            for (call, args) in calls(&s.body) {
                if call.0 == "boto_lc" && call.1 == "present" {
                    for (name, args) in expand_names(&s.id, args) {
                        launch_configs.insert(name, (s.here.clone(), args));
                    }
                }
            }
        }
    }

    // 3. Conversion.
    let mut notes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen_names: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    let mut used_lcs = BTreeSet::new();
    let mut outputs: Vec<(PathBuf, usize, Vec<Manifest>)> = Vec::new();
    for p in &parsed {
        let before = report.not_converted.len();
        let ctx = Ctx {
            pillar: &data.pillar,
            launch_configs: &launch_configs,
        };
        let manifests = convert_states(p, &ctx, &mut report, &mut notes, &mut used_lcs);
        let mut kept = Vec::new();
        for m in manifests {
            match seen_names.get(&(m.kind, m.name.clone())) {
                Some(first) => report.not_converted.push(format!(
                    "{}: {} `{}` is already converted from {first}",
                    m.from, m.kind, m.name
                )),
                None => {
                    seen_names.insert((m.kind, m.name.clone()), m.from.clone());
                    kept.push(m);
                }
            }
        }
        let index = report
            .files
            .iter()
            .position(|f| f.file == p.shown)
            .unwrap_or(0);
        if let Some(f) = report.files.get_mut(index) {
            f.not_converted = report.not_converted.len() - before;
        }
        outputs.push((opts.out.join(p.sls.replace('.', "/")), index, kept));
    }
    for (name, (here, _)) in &launch_configs {
        if !used_lcs.contains(name) {
            report.not_converted.push(format!(
                "{here} (boto_lc.present): launch configuration `{name}` is named by no boto_asg state; converge manages a launch configuration with its Auto Scaling group"
            ));
        }
    }
    for (dir, index, manifests) in outputs {
        let written = write_manifests(&dir, manifests, &mut report)?;
        if let Some(f) = report.files.get_mut(index) {
            f.converted = written;
        }
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

/// sls → its file (as shown) and its includes (line, sls).
type IncludeGraph = BTreeMap<String, (String, Vec<(u64, String)>)>;

/// Records that nothing of `shown` is written, and why.
fn fail_file(report: &mut Report, shown: &str, e: String) {
    if let Some(f) = report.files.iter_mut().find(|f| f.file == shown) {
        f.error = Some(e.clone());
    }
    report
        .not_converted
        .push(format!("{e}; nothing written for this file"));
}

/// Every include loop of `graph` (sls → its file and includes), once each: the sls whose
/// include closes it, and `file:line: include loop: a → b → a`.
fn include_loops(graph: &IncludeGraph) -> Vec<(String, String)> {
    fn visit(
        node: &str,
        graph: &IncludeGraph,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<(String, String)>,
    ) {
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        if let Some((shown, edges)) = graph.get(node) {
            for (line, target) in edges {
                if let Some(at) = stack.iter().position(|s| s == target) {
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(target.clone());
                    out.push((
                        node.to_string(),
                        format!("{shown}:{line}: include loop: {}", cycle.join(" → ")),
                    ));
                } else {
                    visit(target, graph, stack, done, out);
                }
            }
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

/// The per-file summary: `FILE  CONVERTED  NOT CONVERTED  ERROR`, one line each.
pub fn summary_table(report: &Report) -> String {
    let width = report
        .files
        .iter()
        .map(|f| f.file.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:<width$}  CONVERTED  NOT CONVERTED  ERROR\n", "FILE");
    for f in &report.files {
        out.push_str(&format!(
            "{:<width$}  {:>9}  {:>13}  {}\n",
            f.file,
            f.converted,
            f.not_converted,
            f.error.as_deref().unwrap_or("")
        ));
    }
    out
}

/// The grains states and the pillar top file see: the minion's (from its name, by the naming
/// convention, as `converge grains` prints them), then each `--grain`.
fn grains_of(opts: &ImportOptions) -> Result<Value, ImportError> {
    let mut grains = Map::new();
    if let Some(id) = &opts.minion {
        if let Ok(g) = crate::template::naming::parse_name(id) {
            if let Ok(Value::Object(m)) = serde_json::to_value(g.salt_grains()) {
                grains = m;
            }
        }
        grains.insert("id".into(), Value::from(id.clone()));
    }
    for (k, v) in &opts.grains {
        grains.insert(k.clone(), Value::from(v.clone()));
    }
    Ok(Value::Object(grains))
}

/// Every `.sls` below `dir` but `top.sls`, in name order.
fn sls_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            sls_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "sls")
            && p.file_name().is_some_and(|n| n != "top.sls")
        {
            out.push(p);
        }
    }
}

/// `root/a/b.sls` → `a.b`, `root/a/init.sls` → `a`; a file outside the root: its stem.
fn sls_name(root: &Path, file: &Path) -> String {
    let stem = || {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "states".into())
    };
    let Ok(rel) = file.strip_prefix(root) else {
        return stem();
    };
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "init") {
        parts.pop();
    }
    if parts.is_empty() {
        return stem();
    }
    parts.join(".")
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

/// A YAML map in its file's order (state ids, top-file targets): key → value.
pub(crate) struct Ordered<K>(pub Vec<(K, Value)>);

impl<'de, K: Deserialize<'de>> Deserialize<'de> for Ordered<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<K>(std::marker::PhantomData<K>);
        impl<'de, K: Deserialize<'de>> Visitor<'de> for V<K> {
            type Value = Ordered<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map (of state ids, or of targets)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<K>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<K>()? {
                    out.push((k, map.next_value::<Value>()?));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The states of a rendered file, in order: id (with its location) → body.
type States = Ordered<Spanned<String>>;

/// Renders and reads one state file: its states and its `include:` list (with lines).
fn read_states(
    file: &Path,
    sls: &str,
    data: &Arc<SaltData>,
) -> Result<(Parsed, Vec<(u64, String)>), String> {
    let shown = file.display().to_string();
    let (rendered, unresolved) = jinja::render_file(data.clone(), sls, file)?;
    let line_of = |loc: &serde_saphyr::Location| {
        let l = loc.line().max(1);
        rendered.template_line(l).unwrap_or(l)
    };
    let states: Option<States> =
        serde_saphyr::from_str_with_options(&rendered.text, yaml_options()).map_err(|e| {
            let line = e.location().map_or(1, |l| line_of(&l));
            format!(
                "{shown}:{line} (rendered): {}",
                strip_location(&e.without_snippet().to_string())
            )
        })?;
    let mut includes = Vec::new();
    let mut decls = Vec::new();
    let mut ids = BTreeSet::new();
    for (id, body) in states.map(|s| s.0).unwrap_or_default() {
        let line = line_of(&id.referenced);
        if id.value == "include" {
            for inc in body.as_array().into_iter().flatten() {
                // `- name` or `- name: {…}` (Salt's include with a saltenv).
                let name = inc
                    .as_str()
                    .map(String::from)
                    .or_else(|| inc.as_object().and_then(|m| m.keys().next().cloned()));
                if let Some(n) = name {
                    includes.push((line, n));
                }
            }
            continue;
        }
        if !ids.insert(id.value.clone()) {
            return Err(format!(
                "{shown}:{line}: state id `{}` is used twice",
                id.value
            ));
        }
        decls.push(StateDecl {
            here: format!("{shown}:{line}: state \"{}\"", id.value),
            id: id.value,
            body,
        });
    }
    Ok((
        Parsed {
            shown,
            sls: sls.to_string(),
            states: decls,
            unresolved,
        },
        includes,
    ))
}

/// A state's calls: `((module, function), arguments)`, the short form `module: [function, …]`
/// read too.
fn calls(body: &Value) -> Vec<((String, String), Vec<Value>)> {
    let Value::Object(calls) = body else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (call, args) in calls {
        if call.starts_with("__") {
            continue;
        }
        let mut args = match args {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        let (module, function) = match call.split_once('.') {
            Some((m, f)) => (m.to_string(), f.to_string()),
            None => match args.iter().position(Value::is_string) {
                Some(i) => {
                    let f = args.remove(i);
                    (call.clone(), f.as_str().unwrap_or_default().to_string())
                }
                None => (call.clone(), String::new()),
            },
        };
        out.push(((module, function), args));
    }
    out
}

/// One state's argument lists, one per resource: `names:` (strings, or one-key maps of
/// per-name overrides) makes several; otherwise the state's own (`name` defaulting to its id).
fn expand_names(id: &str, args: Vec<Value>) -> Vec<(String, Vec<Value>)> {
    let names = args.iter().find_map(|a| a.get("names").cloned());
    if names.as_ref().is_some_and(|n| !n.is_array()) {
        // Kept: the conversion reports the `names` it cannot read.
        return vec![(id.to_string(), args)];
    }
    let rest: Vec<Value> = args
        .into_iter()
        .filter(|a| a.get("names").is_none())
        .collect();
    let Some(Value::Array(names)) = names else {
        let name = rest
            .iter()
            .find_map(|a| a.get("name").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| id.to_string());
        return vec![(name, rest)];
    };
    names
        .into_iter()
        .map(|entry| {
            let (name, overrides) = match entry {
                Value::String(n) => (n, Vec::new()),
                Value::Object(m) if m.len() == 1 => {
                    let Some((n, o)) = m.into_iter().next() else {
                        return (id.to_string(), vec![serde_json::json!({ "names": {} })]);
                    };
                    let o = match o {
                        Value::Array(items) => items,
                        Value::Object(map) => map
                            .into_iter()
                            .map(|(k, v)| Value::Object(Map::from_iter([(k, v)])))
                            .collect(),
                        _ => Vec::new(),
                    };
                    (n, o)
                }
                // Kept: the conversion reports the entry it cannot read.
                other => {
                    return (
                        id.to_string(),
                        vec![serde_json::json!({ "names": [other] })],
                    )
                }
            };
            let overridden: BTreeSet<String> = overrides
                .iter()
                .filter_map(|o| o.as_object().and_then(|m| m.keys().next().cloned()))
                .collect();
            let mut args: Vec<Value> = rest
                .iter()
                .filter(|a| {
                    a.as_object()
                        .and_then(|m| m.keys().next())
                        .is_none_or(|k| !overridden.contains(k) && k != "name")
                })
                .cloned()
                .collect();
            args.push(serde_json::json!({ "name": name }));
            args.extend(overrides);
            (name, args)
        })
        .collect()
}

/// What converting a state reads besides its own arguments.
struct Ctx<'a> {
    pillar: &'a Value,
    /// `boto_lc` states by launch configuration name: where, and their arguments.
    launch_configs: &'a BTreeMap<String, (String, Vec<Value>)>,
}

/// Every state of one file → manifests (what cannot convert is reported).
fn convert_states(
    p: &Parsed,
    ctx: &Ctx<'_>,
    report: &mut Report,
    notes: &mut BTreeMap<String, BTreeSet<String>>,
    used_lcs: &mut BTreeSet<String>,
) -> Vec<Manifest> {
    let mut out = Vec::new();
    let mut marked = BTreeSet::new();
    for decl in &p.states {
        let here = &decl.here;
        if KEYWORDS.contains(&decl.id.as_str()) {
            report.not_converted.push(format!(
                "{here}: the Salt keyword `{}` is not converted",
                decl.id
            ));
            continue;
        }
        if !decl.body.is_object() {
            report.not_converted.push(format!(
                "{here}: not a state (expected `module.function:` and its arguments)"
            ));
            continue;
        }
        // A value from a function that needs a master or a minion (in the id or the body,
        // whatever filters it went through; from this file or from the pillar).
        let text = format!("{} {}", decl.id, decl.body).to_lowercase();
        if text.contains(jinja::UNRESOLVED) {
            let mut needs: Vec<&String> = p
                .unresolved
                .iter()
                .filter(|f| text.contains(&format!("{}({})", jinja::UNRESOLVED, f.to_lowercase())))
                .collect();
            if needs.is_empty() {
                needs = p.unresolved.iter().collect();
            }
            marked.extend(needs.iter().map(|s| s.to_string()));
            let what = if needs.is_empty() {
                "a value only a Salt master or minion can give (from the pillar)".to_string()
            } else {
                needs
                    .iter()
                    .map(|f| format!("salt['{f}']"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            report.not_converted.push(format!(
                "{here}: uses {what}, which need(s) a Salt master or minion; not converted"
            ));
            continue;
        }
        for ((module, function), args) in calls(&decl.body) {
            let state = format!("{here} ({module}.{function})");
            if module == "boto_lc" && function == "present" {
                // Converted with the group that names it (see `import`).
                continue;
            }
            let Some(m) = MODULES.iter().find(|m| m.name == module) else {
                report.not_converted.push(format!(
                    "{state}: `{module}` is not a state module converge converts (converted: {}, boto_lc)",
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
            for (name, args) in expand_names(&decl.id, args) {
                let args = from_pillar(m, args, ctx.pillar);
                let args = with_launch_config(m, args, ctx, used_lcs);
                if args.iter().any(|a| {
                    a.get("launch_config").and_then(Value::as_str) == Some(jinja::UNRESOLVED)
                }) {
                    report.not_converted.push(format!(
                        "{state}: its launch configuration (a boto_lc state) uses a value only a Salt master or minion can give; not converted"
                    ));
                    continue;
                }
                if let Some(manifest) = convert_state(m, &name, &state, args, report, notes) {
                    out.push(manifest);
                }
            }
        }
    }
    for f in p.unresolved.iter().filter(|f| !marked.contains(*f)) {
        report.not_converted.push(format!(
            "{}: salt['{f}'] needs a Salt master or minion: it was rendered as empty outside any state's arguments (a loop or condition over it converted nothing)",
            p.shown
        ));
    }
    out
}

/// Salt's `*_from_pillar` arguments, resolved as Salt does: `attributes_from_pillar`
/// (`boto_elb_attributes` by default) under the inline `attributes`, `policies_from_pillars`
/// under the inline `policies`, `scaling_policies_from_pillar` (`boto_asg_scaling_policies`)
/// when no `scaling_policies` are written, `alarms_from_pillar` (`boto_elb_alarms`,
/// `boto_asg_alarms`) as `alarms` (reported: not converted); and a `profile` that names a
/// pillar key, for its region.
fn from_pillar(m: &Module, args: Vec<Value>, pillar: &Value) -> Vec<Value> {
    let take = |args: &mut Vec<Value>, key: &str| -> Option<Value> {
        let i = args.iter().position(|a| a.get(key).is_some())?;
        args.remove(i).get(key).cloned()
    };
    let mut args = args;
    let get = |key: &Value| key.as_str().and_then(|k| jinja::lookup(pillar, k));
    // `profile: name` names a pillar (or config) key holding the profile: read its region.
    for a in args.iter_mut() {
        if let Some(Value::String(key)) = a.get("profile").cloned() {
            if let Some(Value::Object(p)) = jinja::lookup(pillar, &key) {
                if let Some(r) = p.get("region") {
                    a["profile"] = serde_json::json!({ "region": r, "from_pillar": key });
                }
            }
        }
    }
    let merge_under = |args: &mut Vec<Value>, field: &str, from: Option<Value>| {
        let Some(Value::Object(base)) = from else {
            return;
        };
        let inline = take(args, field);
        let merged = match inline {
            Some(v @ Value::Object(_)) => jinja::merge(Value::Object(base), v),
            _ => Value::Object(base),
        };
        args.push(Value::Object(Map::from_iter([(field.to_string(), merged)])));
    };
    match m.name {
        "boto_elb" => {
            let key = take(&mut args, "attributes_from_pillar")
                .unwrap_or_else(|| "boto_elb_attributes".into());
            merge_under(&mut args, "attributes", get(&key));
            let key =
                take(&mut args, "alarms_from_pillar").unwrap_or_else(|| "boto_elb_alarms".into());
            if let Some(alarms) = get(&key).filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
            {
                if args.iter().all(|a| a.get("alarms").is_none()) {
                    args.push(serde_json::json!({ "alarms": alarms }));
                }
            }
            let key = take(&mut args, "policies_from_pillar")
                .unwrap_or_else(|| "boto_elb_policies".into());
            if let Some(p) = get(&key).filter(|p| {
                !p.is_null()
                    && p != &Value::Array(Vec::new())
                    && p.as_object().is_none_or(|o| !o.is_empty())
            }) {
                // ELB policies do not convert: reported as the `policies` argument.
                if args.iter().all(|a| a.get("policies").is_none()) {
                    args.push(serde_json::json!({ "policies": p }));
                }
            }
        }
        "boto_asg" => {
            let key = take(&mut args, "scaling_policies_from_pillar")
                .unwrap_or_else(|| "boto_asg_scaling_policies".into());
            if args.iter().all(|a| a.get("scaling_policies").is_none()) {
                if let Some(p @ Value::Array(_)) = get(&key) {
                    args.push(serde_json::json!({ "scaling_policies": p }));
                }
            }
            let key =
                take(&mut args, "alarms_from_pillar").unwrap_or_else(|| "boto_asg_alarms".into());
            if let Some(alarms) = get(&key).filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
            {
                if args.iter().all(|a| a.get("alarms").is_none()) {
                    args.push(serde_json::json!({ "alarms": alarms }));
                }
            }
        }
        "boto_iam_role" => match take(&mut args, "policies_from_pillars") {
            Some(Value::Array(keys)) => {
                // Salt: each pillar key's policies, then the inline ones, by policy name.
                let mut merged = Map::new();
                for k in &keys {
                    if let Some(Value::Object(p)) = get(k) {
                        merged.extend(p);
                    }
                }
                if let Some(Value::Object(inline)) = take(&mut args, "policies") {
                    merged.extend(inline);
                }
                args.push(serde_json::json!({ "policies": merged }));
            }
            Some(other) => args.push(serde_json::json!({ "policies_from_pillars": other })),
            None => {}
        },
        _ => {}
    }
    args
}

/// A `boto_asg` state that names a launch configuration made by a `boto_lc` state (and
/// writes none of its own) gets that state's arguments as its `launch_config`.
fn with_launch_config(
    m: &Module,
    mut args: Vec<Value>,
    ctx: &Ctx<'_>,
    used: &mut BTreeSet<String>,
) -> Vec<Value> {
    if m.name != "boto_asg" || args.iter().any(|a| a.get("launch_config").is_some()) {
        return args;
    }
    let Some(lc) = args.iter().find_map(|a| {
        a.get("launch_config_name")
            .and_then(Value::as_str)
            .map(String::from)
    }) else {
        return args;
    };
    if let Some((_, lc_args)) = ctx.launch_configs.get(&lc) {
        used.insert(lc.clone());
        if lc_args
            .iter()
            .any(|a| a.to_string().to_lowercase().contains(jinja::UNRESOLVED))
        {
            // Its value came from a master or minion: the group is not converted either
            // (its own state reports the launch configuration).
            args.push(serde_json::json!({ "launch_config": jinja::UNRESOLVED }));
            return args;
        }
        let config: Vec<Value> = lc_args
            .iter()
            .filter(|a| {
                a.as_object()
                    .and_then(|m| m.keys().next())
                    .is_some_and(|k| {
                        !matches!(k.as_str(), "name" | "profile" | "region" | "key" | "keyid")
                            && !REQUISITES.contains(&k.as_str())
                    })
            })
            .cloned()
            .collect();
        args.push(serde_json::json!({ "launch_config": config }));
    }
    args
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
    let mut region = None;
    let mut profile_region = None;
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
                "profile" => {
                    // A profile's region (inline, or in the pillar key it names) is the
                    // resource's shard, unless the state writes its own.
                    if let Some(r) = value.get("region").and_then(Value::as_str) {
                        profile_region = Some(r.to_string());
                    }
                    let named = value
                        .get("from_pillar")
                        .and_then(Value::as_str)
                        .or(value.as_str())
                        .map(String::from);
                    note(match named {
                        Some(p) => format!(
                            "`profile: {p}` (a Salt credentials profile) → run converge with AWS credentials for it, e.g. AWS_PROFILE={p} (credentials never go in manifests)"
                        ),
                        None => "`profile` with inline credentials → give converge credentials through the AWS configuration chain (environment, AWS_PROFILE, instance role); they never go in manifests".to_string(),
                    })
                }
                "region" => match value.as_str() {
                    Some(r) => region = Some(r.to_string()),
                    None => {
                        report
                            .not_converted
                            .push(format!("{state}: `region` must be a string, found {value}"));
                        ok = false;
                    }
                },
                "key" | "keyid" => note(format!(
                    "`{arg}` (inline credentials) → the AWS configuration chain (environment, AWS_PROFILE, instance role); never in manifests"
                )),
                r if REQUISITES.contains(&r) => note(format!(
                    "`{r}` → not needed: converge orders resources by their references and waits for what they name"
                )),
                _ => match m.args.iter().find(|(a, _)| *a == arg).map(|(_, how)| *how) {
                    // Salt takes `attributes: []` and `tags: []` for "none".
                    Some(To(field)) if value == Value::Array(Vec::new()) && matches!(field, "attributes" | "tags") => {}
                    Some(To(field)) => {
                        spec.insert(field.to_string(), salt_shape(m, field, value));
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
                        Value::Array(items) if items.is_empty() => {}
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
    let region = region.or(profile_region);
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
        region,
        spec: written,
        from: state.to_string(),
    })
}

/// Salt's argument shapes where the kinds take one: a rule's `source_group_name` list is one
/// rule per group (as Salt splits it), and tags written as a list (`- key: value` or
/// `- {key: k, value: v}`) are a map, except an Auto Scaling group's (a list there).
fn salt_shape(m: &Module, field: &str, value: Value) -> Value {
    match (field, value) {
        ("rules" | "rules_egress", Value::Array(rules)) => Value::Array(
            rules
                .into_iter()
                .flat_map(|rule| match rule.get("source_group_name") {
                    Some(Value::Array(names)) => names
                        .iter()
                        .map(|n| {
                            let mut r = rule.clone();
                            r["source_group_name"] = n.clone();
                            r
                        })
                        .collect(),
                    _ => vec![rule],
                })
                .collect(),
        ),
        ("tags", Value::Array(items)) if m.name != "boto_asg" => {
            let mut tags = Map::new();
            for item in items {
                match (item.get("key"), item.get("value")) {
                    (Some(k), Some(v)) => {
                        tags.insert(k.as_str().unwrap_or_default().to_string(), v.clone());
                    }
                    _ => {
                        if let Value::Object(pairs) = item {
                            tags.extend(pairs);
                        }
                    }
                }
            }
            Value::Object(tags)
        }
        (_, value) => value,
    }
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

/// Writes one file per kind below `dir`; returns how many resources were written. Each file is
/// read back as the loader reads it first: what it would reject is reported, not written.
fn write_manifests(
    dir: &Path,
    manifests: Vec<Manifest>,
    report: &mut Report,
) -> Result<usize, ImportError> {
    let mut by_file: BTreeMap<&'static str, Vec<Manifest>> = BTreeMap::new();
    for m in manifests {
        let file = MODULES
            .iter()
            .find(|x| x.kind == m.kind)
            .map_or("other", |x| x.file);
        by_file.entry(file).or_default().push(m);
    }
    if by_file.is_empty() {
        return Ok(0);
    }
    let mut written = 0;
    std::fs::create_dir_all(dir)
        .map_err(|e| ImportError(format!("cannot create {}: {e}", dir.display())))?;
    for (file, manifests) in by_file {
        let mut text = String::from("# Converted from Salt states by `converge import-sls`.\n");
        for m in &manifests {
            let mut metadata = serde_json::json!({"name": m.name});
            if let Some(r) = &m.region {
                metadata["region"] = Value::from(r.clone());
            }
            let doc = serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": m.kind,
                "metadata": metadata,
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
        let mut problems = Vec::new();
        crate::desired::parse_file::<Kinds>(&path, &text, &mut problems);
        if !problems.is_empty() {
            for p in problems {
                report.not_converted.push(format!(
                    "{p} (the loader would reject it); {} not written",
                    path.display()
                ));
            }
            continue;
        }
        std::fs::write(&path, text)
            .map_err(|e| ImportError(format!("cannot write {}: {e}", path.display())))?;
        report.converted += manifests.len();
        written += manifests.len();
        report.written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sls: &str, pillar: Option<&str>) -> (Report, tempfile::TempDir) {
        import_tree(&[("app.sls", sls)], pillar)
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
        assert!(
            text.contains("region: us-east-1\n"),
            "the state's region is its shard: {text}"
        );
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
    fn template_and_yaml_errors_are_reported_with_the_line_and_nothing_written_for_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.sls");
        std::fs::write(&file, "a:\n  boto_sqs.present:\n    - name: {{ nope }}\n").unwrap();
        let opts = ImportOptions {
            inputs: vec![file.clone()],
            out: dir.path().join("out"),
            ..ImportOptions::default()
        };
        let report = import(&opts).unwrap();
        let all = report.not_converted.join("\n");
        assert!(all.contains("bad.sls:3: template undefined value"), "{all}");
        assert!(all.contains("nothing written for this file"), "{all}");
        assert!(report.files[0].error.is_some());
        std::fs::write(&file, "a:\n  boto_sqs.present:\n  - name: [x\n").unwrap();
        let report = import(&opts).unwrap();
        assert!(
            report.not_converted.join("\n").contains("bad.sls:"),
            "{report:?}"
        );
    }

    #[test]
    fn pillar_get_walks_nested_keys_with_a_default() {
        let p = serde_json::json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(jinja::lookup(&p, "a:b:1:c"), Some(Value::from("x")));
        assert_eq!(jinja::lookup(&p, "a:zz"), None);
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

    /// A state tree from `(path, text)` pairs, imported as a directory.
    fn import_tree(files: &[(&str, &str)], pillar: Option<&str>) -> (Report, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("states");
        for (rel, text) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let mut pillars = Vec::new();
        if let Some(text) = pillar {
            let pf = dir.path().join("pillar.yaml");
            std::fs::write(&pf, text).unwrap();
            pillars.push(pf);
        }
        let report = import(&ImportOptions {
            inputs: vec![root],
            pillars,
            out: dir.path().join("out"),
            ..ImportOptions::default()
        })
        .unwrap();
        (report, dir)
    }

    #[test]
    fn hostile_files_are_reported_with_their_line_and_the_others_still_convert() {
        let (report, dir) = import_tree(
            &[
                ("good.sls", "ok-queue:\n  boto_sqs.present: []\n"),
                (
                    "undefined.sls",
                    "q:\n  boto_sqs.present:\n    - name: {{ pillar['nope'] }}\n",
                ),
                ("broken.sls", "{% if %}\nq:\n  boto_sqs.present: []\n"),
                (
                    "templated.sls",
                    "t:\n  {{ module }}.present:\n    - name: t\n",
                ),
                (
                    "dup.sls",
                    "a:\n  boto_sqs.present: []\na:\n  boto_sqs.present: []\n",
                ),
                ("again.sls", "ok-queue:\n  boto_sqs.present: []\n"),
                (
                    "loop/a.sls",
                    "include:\n  - loop.b\nla:\n  boto_sqs.present: []\n",
                ),
                (
                    "loop/b.sls",
                    "include:\n  - loop.a\nlb:\n  boto_sqs.present: []\n",
                ),
            ],
            Some("owner: ops\n"),
        );
        let all = report.not_converted.join("\n");
        let has = |s: &str| assert!(all.contains(s), "missing `{s}` in:\n{all}");
        has("undefined.sls:3: ");
        has("broken.sls:1: ");
        has("templated.sls:2: ");
        has("dup.sls:");
        has("good.sls:1: state \"ok-queue\" (boto_sqs.present): Queue `ok-queue` is already converted from ");
        has("include loop: loop.a → loop.b → loop.a");
        assert!(
            all.matches("nothing written for this file").count() >= 5,
            "{all}"
        );
        // What converted: good.sls and the side of the loop that did not close it.
        let written: Vec<String> = report
            .written
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert!(
            written.contains(&"out/again/queue.yaml".to_string()),
            "{written:?}"
        );
        assert_eq!(report.converted, 2, "{written:?}\n{all}");
        let errors: Vec<_> = report
            .files
            .iter()
            .filter(|f| f.error.is_some())
            .map(|f| f.file.clone())
            .collect();
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn state_forms_names_several_functions_launch_configs_and_pillar_arguments() {
        let (report, dir) = import_tree(
            &[(
                "app.sls",
                "qs:\n  boto_sqs.present:\n    - names:\n      - q1\n      - q2:\n        - attributes: {DelaySeconds: 5}\n    - attributes: {DelaySeconds: 1}\nweb:\n  boto_sqs.present: []\n  boto_iam_role.present:\n    - policies_from_pillars: [extra]\nweb-lc:\n  boto_lc.present:\n    - image_id: ami-1\n    - instance_type: t2.micro\nweb-asg:\n  boto_asg.present:\n    - launch_config_name: web-lc\n    - availability_zones: [us-east-1a]\n    - min_size: 0\n    - max_size: 1\nlonely-lc:\n  boto_lc.present:\n    - image_id: ami-2\n",
            )],
            Some("extra: {p: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: 's3:GetObject', Resource: '*'}]}}\nboto_asg_scaling_policies: [{name: Up, adjustment_type: ChangeInCapacity, scaling_adjustment: 1}]\n"),
        );
        let all = report.not_converted.join("\n");
        assert!(
            all.contains("launch configuration `lonely-lc` is named by no boto_asg state"),
            "{all}"
        );
        assert_eq!(report.not_converted.len(), 1, "{all}");
        let out = dir.path().join("out/app");
        let queues = std::fs::read_to_string(out.join("queue.yaml")).unwrap();
        assert!(
            queues.contains("name: q1\nspec:\n  attributes:\n    DelaySeconds: 1\n"),
            "{queues}"
        );
        assert!(
            queues.contains("name: q2\nspec:\n  attributes:\n    DelaySeconds: 5\n"),
            "{queues}"
        );
        assert!(
            queues.contains("name: web\n"),
            "the state id is the name: {queues}"
        );
        let role = std::fs::read_to_string(out.join("iam_role.yaml")).unwrap();
        assert!(
            role.contains("name: web\n") && role.contains("  policies:\n    p:\n"),
            "{role}"
        );
        let asg = std::fs::read_to_string(out.join("auto_scaling_group.yaml")).unwrap();
        assert!(
            asg.contains("- image_id: ami-1\n") && asg.contains("name: Up\n"),
            "{asg}"
        );
    }

    #[test]
    fn salt_argument_shapes_become_the_kinds_shapes() {
        let (report, dir) = run(
            "sg:\n  boto_secgroup.present:\n    - description: web\n    - vpc_id: vpc-1\n    - rules:\n      - ip_protocol: tcp\n        from_port: 80\n        to_port: 80\n        source_group_name: [lb-a, lb-b]\n      - ip_protocol: -1\n        cidr_ip: 10.0.0.0/8\n    - tags: [{team: web}, {key: env, value: test}]\nq:\n  boto_sqs.present:\n    - tags: [{owner: ops}]\n",
            None,
        );
        assert!(
            report.not_converted.is_empty(),
            "{:?}",
            report.not_converted
        );
        let sg = std::fs::read_to_string(dir.path().join("out/app/security_group.yaml")).unwrap();
        assert!(
            sg.contains("source_group_name: lb-a") && sg.contains("source_group_name: lb-b"),
            "{sg}"
        );
        assert!(
            sg.contains("  tags:\n    env: test\n    team: web\n"),
            "{sg}"
        );
        let q = std::fs::read_to_string(dir.path().join("out/app/queue.yaml")).unwrap();
        assert!(q.contains("  tags:\n    owner: ops\n"), "{q}");
    }

    #[test]
    fn a_profile_s_region_is_the_shard_whether_inline_or_in_the_pillar() {
        let (report, dir) = run(
            "a:\n  boto_sqs.present:\n    - profile: prod\nb:\n  boto_sqs.present:\n    - profile: {region: us-west-2, keyid: K, key: S}\nc:\n  boto_sqs.present:\n    - profile: prod\n    - region: us-east-2\n",
            Some("prod: {region: eu-west-1, keyid: K, key: S}\n"),
        );
        assert!(
            report.not_converted.is_empty(),
            "{:?}",
            report.not_converted
        );
        let q = std::fs::read_to_string(dir.path().join("out/app/queue.yaml")).unwrap();
        assert!(q.contains("name: a\n  region: eu-west-1\n"), "{q}");
        assert!(q.contains("name: b\n  region: us-west-2\n"), "{q}");
        assert!(
            q.contains("name: c\n  region: us-east-2\n"),
            "the state's own region wins: {q}"
        );
        assert!(
            !q.contains("keyid") && !q.contains(": S\n"),
            "credentials never written: {q}"
        );
        assert!(
            report.notes.join("\n").contains("AWS_PROFILE=prod"),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn master_values_anywhere_and_colliding_sls_names_are_reported_not_written() {
        let (report, dir) = import_tree(
            &[(
                "app.sls",
                "lc:\n  boto_lc.present:\n    - image_id: {{ salt['boto_ec2.find_images'](ami_name='x')|upper }}\ngroup:\n  boto_asg.present:\n    - launch_config_name: lc\n    - availability_zones: [us-east-1a]\n    - min_size: 0\n    - max_size: 1\n{{ salt['mine.get']('x') }}:\n  boto_sqs.present: []\n",
            )],
            None,
        );
        let all = report.not_converted.join("\n");
        assert!(all.contains("state \"lc\""), "{all}");
        assert!(
            all.contains("state \"group\" (boto_asg.present): its launch configuration (a boto_lc state) uses a value only a Salt master"),
            "the group using that lc: {all}"
        );
        assert!(all.contains("salt['mine.get']"), "{all}");
        assert_eq!(report.converted, 0, "{all}");
        assert!(!dir.path().join("out/app").exists());

        let a = dir.path().join("web/init.sls");
        let b = dir.path().join("db/init.sls");
        for f in [&a, &b] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "q:\n  boto_sqs.present: []\n").unwrap();
        }
        let report = import(&ImportOptions {
            inputs: vec![a, b],
            out: dir.path().join("out2"),
            ..ImportOptions::default()
        })
        .unwrap();
        let all = report.not_converted.join("\n");
        assert!(all.contains("its sls name `init` is also"), "{all}");
        assert_eq!(report.converted, 1, "{all}");
    }
}
