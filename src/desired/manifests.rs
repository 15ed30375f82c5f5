//! Desired sets (a tree's shards) printed back as manifests (`converge render`). A resource's
//! account and region are in its labels, so the output loads back into the same shards.

use std::collections::BTreeMap;

use super::API_VERSION;
use crate::core::model::{
    DesiredResource, DesiredSet, LABEL_DERIVED_FROM, LABEL_INSTANCE, LABEL_SERVICE,
};

/// The set as manifests (YAML documents), ordered by where they were written, each preceded
/// by a comment naming its file, line and instance. Implied resources (a load balancer's
/// DNS records) are shown commented out, so the output loads back as the same set. Only what
/// was rendered for `instance` (`<service>/<instance>`) and its service's shared resources,
/// when given.
pub fn to_manifests(sets: &[&DesiredSet], instance: Option<&str>) -> String {
    let mut all: Vec<&DesiredResource> = sets
        .iter()
        .flat_map(|set| set.resources.values())
        .flat_map(BTreeMap::values)
        .map(|r| &**r)
        .filter(|r| match instance {
            None => true,
            Some(i) => match r.labels.get(LABEL_INSTANCE) {
                Some(l) => l == i,
                None => r
                    .labels
                    .get(LABEL_SERVICE)
                    .is_some_and(|s| i.split('/').next() == Some(s.as_str())),
            },
        })
        .collect();
    all.sort_by(|a, b| {
        (
            &a.origin.file,
            a.labels.get(LABEL_INSTANCE),
            a.origin.line,
            &a.kind,
            &a.name,
        )
            .cmp(&(
                &b.origin.file,
                b.labels.get(LABEL_INSTANCE),
                b.origin.line,
                &b.kind,
                &b.name,
            ))
    });
    let mut out = String::new();
    for r in all {
        let mut metadata = serde_json::Map::new();
        metadata.insert("name".into(), r.name.clone().into());
        if !r.labels.is_empty() {
            metadata.insert(
                "labels".into(),
                serde_json::to_value(&r.labels).unwrap_or_default(),
            );
        }
        let doc = serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": r.kind,
            "metadata": metadata,
            "spec": r.spec.value(),
        });
        let yaml = serde_saphyr::to_string(&doc)
            .unwrap_or_else(|e| format!("# cannot show as YAML: {e}\n"));
        match r.labels.get(LABEL_DERIVED_FROM) {
            Some(from) => {
                out.push_str(&format!(
                    "# {}: implied by {from} (not written; shown for reference)\n",
                    r.located()
                ));
                for line in yaml.lines() {
                    out.push_str("# ");
                    out.push_str(line);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(&format!("---\n# {}\n", r.located()));
                out.push_str(&yaml);
            }
        }
    }
    out
}
