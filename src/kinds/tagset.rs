//! Tag sets, shared by every kind with tags: the desired tags (user tags and the ownership
//! tag) are authoritative, except AWS's own `aws:` tags, which are never removed.

use std::collections::BTreeMap;

use crate::engine::FieldChange;

/// Tag → (live value, desired value), for the tags to set.
pub type ToSet = BTreeMap<String, (Option<String>, String)>;

/// The tags `live` must get (missing or different) to carry every desired tag.
pub fn to_set(desired: &BTreeMap<String, String>, live: &BTreeMap<String, String>) -> ToSet {
    desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), (live.get(k).cloned(), v.clone())))
        .collect()
}

/// The tags on `live` that are not desired (tag → live value), AWS's `aws:` tags excepted.
pub fn to_remove(
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    live.iter()
        .filter(|(k, _)| !desired.contains_key(*k) && !k.starts_with("aws:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Plan/audit rows for tags being set: `tags.<key>: live → desired`.
pub fn set_fields(m: &ToSet) -> Vec<FieldChange> {
    m.iter()
        .map(|(k, (old, new))| {
            FieldChange::new(format!("tags.{k}"), old.clone(), Some(new.clone()))
        })
        .collect()
}

/// Plan/audit rows for tags being removed: `tags.<key>: live → (none)`.
pub fn remove_fields(m: &BTreeMap<String, String>) -> Vec<FieldChange> {
    m.iter()
        .map(|(k, old)| FieldChange::new(format!("tags.{k}"), Some(old.clone()), None))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_differences_are_set_and_only_strays_removed() {
        let desired = map(&[("a", "1"), ("b", "2")]);
        let live = map(&[
            ("a", "1"),
            ("b", "old"),
            ("stray", "x"),
            ("aws:cloudformation:stack-id", "y"),
        ]);
        let set = to_set(&desired, &live);
        assert_eq!(set.len(), 1);
        assert_eq!(set["b"], (Some("old".to_string()), "2".to_string()));
        assert_eq!(to_remove(&desired, &live), map(&[("stray", "x")]));
        assert_eq!(set_fields(&set)[0].to_string(), "tags.b: old → 2");
        assert_eq!(
            remove_fields(&map(&[("stray", "x")]))[0].to_string(),
            "tags.stray: x → (none)"
        );
    }
}
