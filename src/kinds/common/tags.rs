//! Tags, shared by every kind with tags: one rule set (as AWS counts: key 1 to 128
//! characters, value at most 256 characters, at most 50 tags, the `aws:` prefix reserved), the
//! ownership tag, and the diff of a tag set. The desired tags (user tags and the ownership tag)
//! are authoritative, except AWS's own `aws:` tags, which are never removed.

use std::collections::BTreeMap;

use super::delta::change_for;
use crate::core::{FieldChange, MANAGED_BY_TAG};

/// A tag set: key → value.
pub type Tags = BTreeMap<String, String>;

/// Tag → (live value, desired value), for the tags to set. Values are text, or a kind's own
/// tag value (an Auto Scaling group's carries `propagate_at_launch`).
pub type ToSet<V = String> = BTreeMap<String, (Option<V>, V)>;

/// Tags one resource may carry, converge's ownership tag included.
pub const MAX_TAGS: usize = 50;
/// The prefix AWS keeps for its own tags.
pub const AWS_PREFIX: &str = "aws:";

/// The tags a resource should carry: the spec's, plus the ownership tag.
pub fn with_owner(spec: &Tags, controller_id: &str) -> Tags {
    let mut tags = spec.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), controller_id.to_string());
    tags
}

/// The owner a tag set records, if any.
pub fn owner(tags: &Tags) -> Option<&str> {
    tags.get(MANAGED_BY_TAG).map(String::as_str)
}

/// Checks tags as written (`(key, value)` pairs) against AWS's rules; each message names the
/// tag (`tags.<key>: ...`).
pub fn check<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, problems: &mut Vec<String>) {
    let mut count = 0;
    for (k, v) in tags {
        count += 1;
        if k.is_empty() || k.chars().count() > 128 {
            problems.push(format!(
                "tags.{k}: a tag key must be 1 to 128 characters long"
            ));
        }
        if v.chars().count() > 256 {
            problems.push(format!(
                "tags.{k}: a tag value must be at most 256 characters"
            ));
        }
        if k.starts_with(AWS_PREFIX) {
            problems.push(format!("tags.{k}: the `aws:` prefix is reserved by AWS"));
        }
        if k == MANAGED_BY_TAG {
            problems.push(format!(
                "tags.{k}: converge sets this tag itself (from --controller-id)"
            ));
        }
    }
    if count >= MAX_TAGS {
        problems.push(format!(
            "tags: at most {} tags (AWS allows {MAX_TAGS}, one is converge's own `{MANAGED_BY_TAG}`)",
            MAX_TAGS - 1
        ));
    }
}

/// [`check`] for a tag map.
pub fn check_map(tags: &Tags, problems: &mut Vec<String>) {
    check(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), problems);
}

/// The tags `live` must get (missing or different) to carry every desired tag.
pub fn to_set<V: Clone + PartialEq>(
    desired: &BTreeMap<String, V>,
    live: &BTreeMap<String, V>,
) -> ToSet<V> {
    desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), (live.get(k).cloned(), v.clone())))
        .collect()
}

/// The tags on `live` that are not desired (tag → live value), AWS's `aws:` tags excepted.
pub fn to_remove<V: Clone>(
    desired: &BTreeMap<String, V>,
    live: &BTreeMap<String, V>,
) -> BTreeMap<String, V> {
    live.iter()
        .filter(|(k, _)| !desired.contains_key(*k) && !k.starts_with(AWS_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tag changes that make `live` carry exactly `desired` (AWS's `aws:` tags excepted): the
/// kind's `set(tags to set)` if any, then its `remove(tags to remove)` if any.
pub fn changes<V: Clone + PartialEq, C>(
    desired: &BTreeMap<String, V>,
    live: &BTreeMap<String, V>,
    set: impl FnOnce(ToSet<V>) -> C,
    remove: impl FnOnce(BTreeMap<String, V>) -> C,
) -> Vec<C> {
    let set = change_for(to_set(desired, live), BTreeMap::is_empty, set);
    let remove = change_for(to_remove(desired, live), BTreeMap::is_empty, remove);
    set.into_iter().chain(remove).collect()
}

/// Plan/audit rows for tags being set: `tags.<key>: live → desired`.
pub fn set_fields<V: ToString>(m: &ToSet<V>) -> Vec<FieldChange> {
    m.iter()
        .map(|(k, (old, new))| {
            FieldChange::changed(
                format!("tags.{k}"),
                old.as_ref().map(ToString::to_string),
                new.to_string(),
            )
        })
        .collect()
}

/// Plan/audit rows for tags being removed: `tags.<key>: live → (none)`.
pub fn remove_fields<V: ToString>(m: &BTreeMap<String, V>) -> Vec<FieldChange> {
    m.iter()
        .map(|(k, old)| FieldChange::removed(format!("tags.{k}"), old.to_string()))
        .collect()
}

/// Plan/audit rows for the tags of a new resource: `tags.<key>: (none) → value`.
pub fn new_fields<V: ToString>(m: &BTreeMap<String, V>) -> Vec<FieldChange> {
    m.iter()
        .map(|(k, v)| FieldChange::added(format!("tags.{k}"), v.to_string()))
        .collect()
}

/// A tag map from an SDK's tag list (`(key, value)` accessors, either may be absent).
pub fn collect<'a>(pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Tags {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> Tags {
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

    #[test]
    fn lengths_count_characters_as_aws_does_and_the_limit_counts_our_own_tag() {
        let mut p = Vec::new();
        // 128 three-byte characters: 384 bytes, and within AWS's 128 characters.
        let key = "é".repeat(128);
        let value = "ü".repeat(256);
        check([(key.as_str(), value.as_str())], &mut p);
        assert!(p.is_empty(), "{p:?}");
        let long_key = "k".repeat(129);
        let long_value = "v".repeat(257);
        check(
            [
                (long_key.as_str(), "x"),
                ("k", long_value.as_str()),
                ("", "x"),
            ],
            &mut p,
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].ends_with("a tag key must be 1 to 128 characters long"));
        assert!(p[1].ends_with("a tag value must be at most 256 characters"));

        let mut p = Vec::new();
        let many: Tags = (0..49)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        check_map(&many, &mut p);
        assert!(p.is_empty(), "49 tags and ours make 50: {p:?}");
        let mut too_many = many.clone();
        too_many.insert("one-more".into(), "v".into());
        check_map(&too_many, &mut p);
        assert_eq!(
            p,
            vec!["tags: at most 49 tags (AWS allows 50, one is converge's own `converge:managed-by`)"]
        );
    }

    #[derive(Debug, PartialEq)]
    enum C {
        Set(ToSet),
        Remove(Tags),
    }

    #[test]
    fn changes_set_then_remove_and_nothing_when_equal() {
        let desired = map(&[("a", "1")]);
        let live = map(&[("a", "0"), ("b", "2"), ("aws:x", "y")]);
        assert_eq!(
            changes(&desired, &live, C::Set, C::Remove),
            vec![
                C::Set(ToSet::from([(
                    "a".to_string(),
                    (Some("0".to_string()), "1".to_string())
                )])),
                C::Remove(map(&[("b", "2")])),
            ]
        );
        assert!(changes(&desired, &desired, C::Set, C::Remove).is_empty());
    }

    #[test]
    fn reserved_keys_are_refused() {
        let mut p = Vec::new();
        check_map(&map(&[("aws:x", "y"), (MANAGED_BY_TAG, "me")]), &mut p);
        assert_eq!(
            p,
            vec![
                "tags.aws:x: the `aws:` prefix is reserved by AWS",
                "tags.converge:managed-by: converge sets this tag itself (from --controller-id)",
            ]
        );
    }

    #[test]
    fn the_owner_tag_is_added_and_read_back() {
        let tags = with_owner(&map(&[("team", "ops")]), "ctl");
        assert_eq!(owner(&tags), Some("ctl"));
        assert_eq!(tags.len(), 2);
        assert_eq!(owner(&map(&[("team", "ops")])), None);
    }
}
