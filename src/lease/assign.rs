//! Which replica should hold which shard: rendezvous hashing with bounded loads, sticky to
//! the current holders.
//!
//! Every replica computes the same answer from the same table (the shards, the live members,
//! who holds what), so they agree without talking. Loads are as even as the numbers allow
//! (each member gets ⌊n/m⌋ or ⌈n/m⌉ shards); a member keeps what it holds while that stays
//! within its share, so a member joining or leaving moves only its share, and a result fed
//! back as the holders is a fixed point (no flapping).

use std::collections::{BTreeMap, BTreeSet};

use super::{fnv1a, spread};

/// A stable 64-bit hash of (member, shard): the same on every replica, build and platform
/// (FNV-1a, then a SplitMix64 finaliser to spread it).
fn score(member: &str, shard: &str) -> u64 {
    spread(fnv1a(member.bytes().chain([0u8]).chain(shard.bytes())))
}

/// Shard → member for every shard some member wants. `members` are the live replicas, each
/// with the shards it competes for (its tree and `--shard` selection: a replica never gets a
/// shard it would not take); `holders` who holds a shard now (entries naming a member that does
/// not want the shard are ignored).
pub fn assign(
    shards: &BTreeSet<String>,
    members: &BTreeMap<String, BTreeSet<String>>,
    holders: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let eligible = |shard: &str| -> Vec<&String> {
        members
            .iter()
            .filter(|(_, wants)| wants.contains(shard))
            .map(|(m, _)| m)
            .collect()
    };
    let wanted: Vec<&String> = shards.iter().filter(|s| !eligible(s).is_empty()).collect();
    let active = members.values().filter(|w| !w.is_empty()).count();
    if active == 0 {
        return out;
    }
    let base = wanted.len() / active;
    let mut extras = wanted.len() % active;
    let mut load: BTreeMap<&str, usize> = members.keys().map(|m| (m.as_str(), 0)).collect();
    // Whether `member` may take one more shard (a load above `base` uses one of the extras).
    let mut take = |member: &str, load: &mut BTreeMap<&str, usize>| -> bool {
        let Some(l) = load.get_mut(member) else {
            return false;
        };
        if *l < base {
            *l += 1;
            true
        } else if *l == base && extras > 0 {
            extras -= 1;
            *l += 1;
            true
        } else {
            false
        }
    };
    // 1. Keep what live members hold, best-scoring first, within their share.
    let mut kept: Vec<(&str, &str)> = holders
        .iter()
        .filter(|(s, m)| shards.contains(*s) && members.get(*m).is_some_and(|w| w.contains(*s)))
        .map(|(s, m)| (m.as_str(), s.as_str()))
        .collect();
    kept.sort_by_key(|(m, s)| (std::cmp::Reverse(score(m, s)), *s));
    for (member, shard) in kept {
        if take(member, &mut load) {
            out.insert(shard.to_string(), member.to_string());
        }
    }
    // 2. Every other shard to its best-scoring eligible member with room; when members want
    //    different shards, one may have to go over its share.
    for shard in wanted {
        if out.contains_key(shard) {
            continue;
        }
        let mut ranked = eligible(shard);
        ranked.sort_by_key(|m| (std::cmp::Reverse(score(m, shard)), m.as_str()));
        let chosen = match ranked.iter().find(|m| take(m, &mut load)) {
            Some(m) => (*m).clone(),
            None => {
                let least = ranked.iter().min_by_key(|m| {
                    (
                        load.get(m.as_str()).copied().unwrap_or(0),
                        std::cmp::Reverse(score(m, shard)),
                    )
                });
                let Some(m) = least else { continue };
                if let Some(l) = load.get_mut(m.as_str()) {
                    *l += 1;
                }
                (*m).clone()
            }
        };
        out.insert(shard.clone(), chosen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Members that all want every shard of `shards`.
    fn all(members: &[&str], shards: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
        members
            .iter()
            .map(|m| (m.to_string(), shards.clone()))
            .collect()
    }

    fn loads(a: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for m in a.values() {
            *out.entry(m.clone()).or_default() += 1;
        }
        out
    }

    fn six() -> BTreeSet<String> {
        set(&[
            "a/us-east-1",
            "a/eu-west-1",
            "a/ap-south-1",
            "b/us-east-1",
            "b/eu-west-1",
            "b/ap-south-1",
        ])
    }

    #[test]
    fn six_shards_on_three_members_are_two_each_whoever_held_them() {
        let members = all(&["r1", "r2", "r3"], &six());
        let all_on_r1: BTreeMap<String, String> =
            six().iter().map(|s| (s.clone(), "r1".into())).collect();
        for holders in [BTreeMap::new(), all_on_r1] {
            let a = assign(&six(), &members, &holders);
            assert_eq!(a.len(), 6);
            assert!(loads(&a).values().all(|&n| n == 2), "{a:?}");
        }
    }

    #[test]
    fn a_leaving_member_moves_only_its_own_shards() {
        let members = all(&["r1", "r2", "r3"], &six());
        let before = assign(&six(), &members, &BTreeMap::new());
        let after = assign(&six(), &all(&["r1", "r2"], &six()), &before);
        for (shard, m) in &before {
            if m != "r3" {
                assert_eq!(&after[shard], m, "{shard} moved");
            }
        }
        assert!(loads(&after).values().all(|&n| n == 3), "{after:?}");
    }

    #[test]
    fn a_joining_member_takes_only_its_share() {
        let two = assign(&six(), &all(&["r1", "r2"], &six()), &BTreeMap::new());
        let three = assign(&six(), &all(&["r1", "r2", "r3"], &six()), &two);
        let moved = six().iter().filter(|s| two[*s] != three[*s]).count();
        assert_eq!(moved, 2, "{two:?} → {three:?}");
        assert!(loads(&three).values().all(|&n| n == 2));
    }

    #[test]
    fn the_result_is_a_fixed_point_for_uneven_counts() {
        for n in 1..12 {
            let shards: BTreeSet<String> = (0..n).map(|i| format!("acct/r{i}")).collect();
            for m in 1..5 {
                let names: Vec<String> = (0..m).map(|i| format!("replica-{i}")).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let members = all(&refs, &shards);
                let first = assign(&shards, &members, &BTreeMap::new());
                assert_eq!(first.len(), n);
                let l = loads(&first);
                let (lo, hi) = (n / m, n.div_ceil(m));
                assert!(l.values().all(|&x| x >= lo && x <= hi), "{n}/{m}: {l:?}");
                assert_eq!(
                    assign(&shards, &members, &first),
                    first,
                    "{n}/{m} not stable"
                );
            }
        }
    }

    #[test]
    fn no_members_assigns_nothing() {
        assert!(assign(&six(), &BTreeMap::new(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_member_gets_only_shards_it_wants_and_one_wanting_none_gets_none() {
        let mut members = all(&["r1", "r2"], &six());
        members.insert("r3".into(), BTreeSet::new()); // its tree did not load
        members.insert("r4".into(), set(&["b/us-east-1"])); // --shard b/us-east-1
        let holders: BTreeMap<String, String> =
            [("a/us-east-1".to_string(), "r3".to_string())].into();
        let a = assign(&six(), &members, &holders);
        assert_eq!(a.len(), 6);
        assert!(!a.values().any(|m| m == "r3"), "{a:?}");
        for (shard, m) in &a {
            assert!(
                members[m].contains(shard),
                "{shard} to {m}, which does not want it"
            );
        }
        assert_eq!(assign(&six(), &members, &a), a, "stable");
    }
}
