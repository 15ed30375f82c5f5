//! Field checks several kinds make, each message naming its field.

use std::collections::BTreeSet;

/// `<field>: <n> must be from <lo> to <hi>` when `n` is written and out of range.
pub fn in_range(problems: &mut Vec<String>, field: &str, n: Option<i64>, lo: i64, hi: i64) {
    if let Some(n) = n {
        if !(lo..=hi).contains(&n) {
            problems.push(format!("{field}: {n} must be from {lo} to {hi}"));
        }
    }
}

/// `<field>: `x` is listed twice` for each repeated entry (after the first).
pub fn listed_once<'a>(
    problems: &mut Vec<String>,
    field: &str,
    items: impl IntoIterator<Item = &'a String>,
) {
    let mut seen = BTreeSet::new();
    for x in items {
        if !seen.insert(x) {
            problems.push(format!("{field}: `{x}` is listed twice"));
        }
    }
}

/// The DNS name with its trailing dot.
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_its_field() {
        let mut p = Vec::new();
        in_range(&mut p, "ttl", Some(-1), 0, 10);
        in_range(&mut p, "ttl", Some(5), 0, 10);
        in_range(&mut p, "ttl", None, 0, 10);
        let items = ["a".to_string(), "b".to_string(), "a".to_string()];
        listed_once(&mut p, "subnets", &items);
        assert_eq!(
            p,
            vec![
                "ttl: -1 must be from 0 to 10",
                "subnets: `a` is listed twice"
            ]
        );
        assert_eq!(fqdn("a.example.com"), "a.example.com.");
        assert_eq!(fqdn("a.example.com."), "a.example.com.");
    }
}
