//! Add/remove deltas: what to add to and remove from a live set to make it the desired one,
//! turned into a kind's pair of changes (enable/disable zones, attach/detach subnets or load
//! balancers, suspend/resume processes) and into plan rows.

use std::collections::BTreeSet;

use crate::core::FieldChange;

/// The members to add and to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta<T> {
    pub add: BTreeSet<T>,
    pub remove: BTreeSet<T>,
}

impl<T: Ord + Clone> Delta<T> {
    /// What turns `live` into `want`.
    pub fn between(want: &BTreeSet<T>, live: &BTreeSet<T>) -> Delta<T> {
        Delta {
            add: want.difference(live).cloned().collect(),
            remove: live.difference(want).cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The changes, additions first (so a resource is never left with none, e.g. without a
    /// zone): `add(members)` if any, then `remove(members)` if any.
    pub fn adding_first<C>(
        self,
        add: impl FnOnce(BTreeSet<T>) -> C,
        remove: impl FnOnce(BTreeSet<T>) -> C,
    ) -> Vec<C> {
        let (a, r) = self.changes(add, remove);
        a.into_iter().chain(r).collect()
    }

    /// The changes, removals first (e.g. detach a load balancer before attaching another).
    pub fn removing_first<C>(
        self,
        add: impl FnOnce(BTreeSet<T>) -> C,
        remove: impl FnOnce(BTreeSet<T>) -> C,
    ) -> Vec<C> {
        let (a, r) = self.changes(add, remove);
        r.into_iter().chain(a).collect()
    }

    fn changes<C>(
        self,
        add: impl FnOnce(BTreeSet<T>) -> C,
        remove: impl FnOnce(BTreeSet<T>) -> C,
    ) -> (Option<C>, Option<C>) {
        (
            change_for(self.add, BTreeSet::is_empty, add),
            change_for(self.remove, BTreeSet::is_empty, remove),
        )
    }
}

/// `make(members)`, unless there are none.
pub fn change_for<X, C>(
    members: X,
    is_empty: impl Fn(&X) -> bool,
    make: impl FnOnce(X) -> C,
) -> Option<C> {
    (!is_empty(&members)).then(|| make(members))
}

/// Plan rows for members added: `<field>.<member>: (none) → <state>`.
pub fn added_fields<T: ToString>(
    field: &str,
    members: impl IntoIterator<Item = T>,
    state: &str,
) -> Vec<FieldChange> {
    members
        .into_iter()
        .map(|m| FieldChange::added(format!("{field}.{}", m.to_string()), state))
        .collect()
}

/// Plan rows for members removed: `<field>.<member>: <state> → (none)`.
pub fn removed_fields<T: ToString>(
    field: &str,
    members: impl IntoIterator<Item = T>,
    state: &str,
) -> Vec<FieldChange> {
    members
        .into_iter()
        .map(|m| FieldChange::removed(format!("{field}.{}", m.to_string()), state))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[derive(Debug, PartialEq)]
    enum C {
        Add(BTreeSet<String>),
        Remove(BTreeSet<String>),
    }

    #[test]
    fn only_the_difference_changes_in_the_order_asked() {
        let d = Delta::between(&set(&["a", "b"]), &set(&["b", "c"]));
        assert_eq!(d.add, set(&["a"]));
        assert_eq!(d.remove, set(&["c"]));
        assert_eq!(
            d.clone().adding_first(C::Add, C::Remove),
            vec![C::Add(set(&["a"])), C::Remove(set(&["c"]))]
        );
        assert_eq!(
            d.removing_first(C::Add, C::Remove),
            vec![C::Remove(set(&["c"])), C::Add(set(&["a"]))]
        );
        let same = Delta::between(&set(&["a"]), &set(&["a"]));
        assert!(same.is_empty());
        assert!(same.adding_first(C::Add, C::Remove).is_empty());
    }

    #[test]
    fn plan_rows_name_each_member() {
        assert_eq!(
            added_fields("subnets", ["subnet-1"], "attached")[0].to_string(),
            "subnets.subnet-1: (none) → attached"
        );
        assert_eq!(
            removed_fields("load_balancers", ["lb"], "attached")[0].to_string(),
            "load_balancers.lb: attached → (none)"
        );
    }
}
