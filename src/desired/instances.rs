//! Rendering templates for the instances (or the service) they belong to, and the resources
//! a resource implies: everything between a file's text and the resources it adds to the set.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::parse::{parse_source, Source};
use crate::core::model::{
    hash_json, DesiredResource, LABEL_ACCOUNT, LABEL_DERIVED_FROM, LABEL_INSTANCE, LABEL_REGION,
    LABEL_SERVICE,
};
use crate::core::schema::unknown_kind;
use crate::core::source::Problem;
use crate::core::Registry;
use crate::template::{self, naming::Grains, Renderer};

/// A template outside any service: rendered once, with `values` only.
pub fn render_plain<R: Registry>(
    renderer: &mut Renderer,
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let Some(values) = renderer.plain_values(file, problems) else {
        return Vec::new();
    };
    let source = Source {
        file,
        rendered: None,
        context: Some("rendered".to_string()),
        standard_tags: None,
        labels: BTreeMap::new(),
    };
    match renderer.render(file, text, None, &values) {
        Ok(r) => parse_source::<R>(
            &Source {
                rendered: Some(&r),
                ..source
            },
            &r.text,
            problems,
        ),
        Err(e) => {
            problems.push(source.problem(e.line, 1, e.message));
            Vec::new()
        }
    }
}

/// A template of the service in `dir`: rendered once per instance.
pub fn render_service<R: Registry>(
    renderer: &mut Renderer,
    dir: &Path,
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let Some(service) = renderer.service(dir, problems) else {
        return Vec::new();
    };
    let mut docs = Vec::new();
    for instance in &service.instances {
        let Some((values, _)) = renderer.instance_values(&service, instance, problems) else {
            continue;
        };
        let source = Source {
            file,
            rendered: None,
            context: Some(format!("rendered for {}", instance.grains.instance_id())),
            standard_tags: Some(instance.grains.standard_tags()),
            labels: BTreeMap::from_iter(
                [
                    (LABEL_INSTANCE, Some(instance.grains.instance_id())),
                    (LABEL_REGION, Some(instance.grains.region.clone())),
                    (LABEL_SERVICE, Some(service.name.clone())),
                    (LABEL_ACCOUNT, instance.account.clone()),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v?))),
            ),
        };
        match renderer.render(file, text, Some(&instance.grains), &values) {
            Ok(r) => docs.extend(parse_source::<R>(
                &Source {
                    rendered: Some(&r),
                    ..source
                },
                &r.text,
                problems,
            )),
            Err(e) => problems.push(source.problem(e.line, 1, e.message)),
        }
    }
    docs
}

/// A template in the `shared/` directory of the service in `dir`: rendered once for the
/// service (no instance), with the service's values, and placed in every account and region
/// the service's instances use (a service-wide security group must exist where its instances
/// are), or where `shared` in service.yaml says. A resource whose metadata names its account
/// or region stays there.
pub fn render_shared<R: Registry>(
    renderer: &mut Renderer,
    dir: &Path,
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let Some(service) = renderer.service(dir, problems) else {
        return Vec::new();
    };
    let Some(values) = renderer.service_values(&service, problems) else {
        return Vec::new();
    };
    let source = Source {
        file,
        rendered: None,
        context: Some(format!("rendered for {} (shared)", service.name)),
        standard_tags: Some(BTreeMap::from([(
            "service_name".to_string(),
            service.name.clone(),
        )])),
        labels: BTreeMap::from([(LABEL_SERVICE.to_string(), service.name.clone())]),
    };
    let docs = match renderer.render_shared(file, text, &service.name, &values) {
        Ok(r) => parse_source::<R>(
            &Source {
                rendered: Some(&r),
                ..source
            },
            &r.text,
            problems,
        ),
        Err(e) => {
            problems.push(source.problem(e.line, 1, e.message));
            return Vec::new();
        }
    };
    let placements = service.shared_placements();
    let mut out = Vec::new();
    for doc in docs {
        let pinned =
            doc.labels.contains_key(LABEL_ACCOUNT) || doc.labels.contains_key(LABEL_REGION);
        if pinned {
            out.push(doc);
            continue;
        }
        // A global kind (IAM, Route 53) exists once per account, whatever its regions.
        let global = R::is_global(&doc.kind);
        let mut accounts_done = Vec::new();
        for (account, region) in &placements {
            if global {
                if accounts_done.contains(&account) {
                    continue;
                }
                accounts_done.push(account);
            }
            let mut placed = doc.clone();
            let labels = [(LABEL_ACCOUNT, account), (LABEL_REGION, region)];
            for (label, value) in labels {
                if let Some(v) = value {
                    placed.labels.insert(label.to_string(), v.clone());
                }
            }
            out.push(placed);
        }
    }
    out
}

/// The resources `doc` implies (e.g. a load balancer's CNAME records), validated like
/// written ones and located at `doc`. They share its instance (labels and standard tags) and
/// its account; `region` is where `doc` is placed.
pub fn derived<R: Registry>(
    doc: &DesiredResource,
    region: &str,
    problems: &mut Vec<Problem>,
) -> Vec<DesiredResource> {
    let mut out = Vec::new();
    let context = doc.context();
    let problem = |message: String| Problem {
        origin: doc.origin.clone(),
        message,
        context: context.clone(),
    };
    let instance_labels: BTreeMap<String, String> = doc
        .labels
        .iter()
        .filter(|(k, _)| {
            [LABEL_INSTANCE, LABEL_REGION, LABEL_SERVICE, LABEL_ACCOUNT].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let standard_tags = standard_tags_of(doc);
    for d in R::expand(&doc.kind, &doc.name, &doc.spec.value(), region) {
        let spec = match R::retype(d.kind, d.spec).and_then(|spec| match &standard_tags {
            Some(tags) => with_standard_tags::<R>(d.kind, spec, tags),
            None => Ok(spec),
        }) {
            Ok(v) => v,
            Err(message) => {
                problems.push(problem(format!(
                    "{} `{}` implies an invalid {}: {message}",
                    doc.kind, doc.name, d.kind
                )));
                continue;
            }
        };
        let mut bad = false;
        if let Err(message) = R::validate_name(d.kind, &d.name) {
            problems.push(problem(message));
            bad = true;
        }
        for message in R::validate_spec(d.kind, &d.name, &spec) {
            problems.push(problem(format!("{} `{}`: {message}", d.kind, d.name)));
            bad = true;
        }
        if bad {
            continue;
        }
        let mut labels = instance_labels.clone();
        labels.insert(
            LABEL_DERIVED_FROM.to_string(),
            format!("{}/{}", doc.kind, doc.name),
        );
        out.push(DesiredResource {
            kind: d.kind.to_string(),
            hash: hash_json(&spec),
            labels,
            name: d.name,
            spec: spec.into(),
            origin: doc.origin.clone(),
        });
    }
    out
}

/// The standard tags of the instance (or service) `doc` was rendered for, if any.
fn standard_tags_of(doc: &DesiredResource) -> Option<BTreeMap<String, String>> {
    let Some(instance) = doc.labels.get(LABEL_INSTANCE) else {
        let service = doc.labels.get(LABEL_SERVICE)?;
        return Some(BTreeMap::from([(
            "service_name".to_string(),
            service.clone(),
        )]));
    };
    let region = doc.labels.get(LABEL_REGION)?;
    let (service, instance) = instance.split_once('/')?;
    Grains::for_instance(service, instance, region)
        .ok()
        .map(|g| g.standard_tags())
}

/// `spec` (typed for `kind`) with the standard tags added in the kind's own spelling, typed
/// again. An error means the kind rejected the standard tags.
pub fn with_standard_tags<R: Registry>(
    kind: &str,
    spec: Value,
    tags: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let style =
        R::tag_style(kind).ok_or_else(|| format!("standard tags: {}", unknown_kind(kind)))?;
    let tagged = template::tags::add_standard_tags(style, spec.clone(), tags);
    if tagged == spec {
        return Ok(spec);
    }
    R::retype(kind, tagged).map_err(|e| format!("standard tags: {e}"))
}
