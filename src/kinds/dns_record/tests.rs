use std::collections::BTreeMap;

use super::diff::{Claimed, DnsRecordChange, LiveDnsRecord};
use super::observe::assemble;
use super::ownership::{owned_slot, ownership_record, parse_ownership, Ownership};
use super::records::{Alias, RecordSet};
use super::spec::DnsRecordSpec;
use super::values::{normalise_name, parse_txt, render_txt, zone_id};
use super::zones::{resolve_zone, Zone};
use super::*;
use crate::core::{Action, Change};
use crate::kinds::common::fixtures::{Fixture, CONTROLLER};
use crate::kinds::common::refs::load_balancer as lb;

fn spec(yaml: &str) -> DnsRecordSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

fn zone(id: &str, name: &str) -> Zone {
    Zone {
        id: id.into(),
        name: name.into(),
    }
}

fn example() -> Zone {
    zone("Z1", "example.com.")
}

fn rec(name: &str, rtype: &str, ttl: i64, values: &[&str]) -> RecordSet {
    RecordSet {
        raw_name: name.into(),
        name: normalise_name(name),
        record_type: rtype.into(),
        ttl: Some(ttl),
        values: values.iter().map(|v| v.to_string()).collect(),
        ..RecordSet::default()
    }
}

fn owner_txt(rtype: &str, name: &str, owner: &str, resource: &str) -> RecordSet {
    ownership_record(rtype, name, owner, resource)
}

fn owned(rtype: &str, name: &str, owner: &str, resource: &str) -> Option<Ownership> {
    Ownership::from_record(&owner_txt(rtype, name, owner, resource))
}

fn live(record: Option<RecordSet>, ownership: Option<Ownership>) -> LiveDnsRecord {
    LiveDnsRecord {
        zone: Ok(example()),
        record,
        ownership,
        elsewhere: Vec::new(),
    }
}

fn lb_facts(name: &str) -> Fixture {
    Fixture::new()
        .fact(lb::DNS_NAME, name, "MyLB-123.us-east-1.elb.amazonaws.com")
        .fact(lb::HOSTED_ZONE_ID, name, "Z35SXDOTRQ7X7K")
}

#[test]
fn names_are_normalised_to_lower_case_fqdns() {
    assert_eq!(normalise_name("WWW.Example.COM"), "www.example.com.");
    assert_eq!(normalise_name("www.example.com."), "www.example.com.");
    assert_eq!(normalise_name("\\052.example.com."), "*.example.com.");
    let s = spec("type: cname\nvalues: [a.example.org]\n");
    assert_eq!(s.record_name("App.Example.com"), "app.example.com.");
    assert_eq!(s.record_type(), "CNAME");
    let s = spec("name: Other.Example.com\ntype: A\nvalues: [192.0.2.1]\n");
    assert_eq!(s.record_name("ignored"), "other.example.com.");
    assert_eq!(zone_id("/hostedzone/Z123"), "Z123");
}

#[test]
fn a_missing_record_is_created_with_its_ownership_record_in_one_batch() {
    let f = Fixture::new();
    let s = spec("type: CNAME\nvalues: [Target.Example.org]\n");
    let changes =
        DnsRecord::diff(&f.ctx(), "www.example.com.", &s, Some(&live(None, None))).unwrap();
    assert_eq!(changes.len(), 1);
    let DnsRecordChange::Create(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(b.zone, example());
    assert!(b.delete.is_empty());
    assert_eq!(b.upsert.len(), 2);
    assert_eq!(b.upsert[0].name, "www.example.com.");
    assert_eq!(b.upsert[0].record_type, "CNAME");
    assert_eq!(b.upsert[0].ttl, Some(300));
    assert_eq!(b.upsert[0].values, vec!["target.example.org."]);
    assert_eq!(b.upsert[1].name, "_converge-owner.cname.www.example.com.");
    assert_eq!(b.upsert[1].record_type, "TXT");
    assert_eq!(
        b.upsert[1].values,
        vec!["\"heritage=converge,owner=test,resource=www.example.com.\""]
    );
    let shown: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
    assert!(
        shown.contains(&"values: (none) → target.example.org.".to_string()),
        "{shown:?}"
    );
    assert_eq!(changes[0].action(), Action::Create);
}

#[test]
fn values_compare_as_normalised_sets() {
    let f = Fixture::new();
    let own = |t: &str, n: &str| owned(t, n, CONTROLLER, n);
    let cases: Vec<(&str, &str, RecordSet)> = vec![
        (
            "a.example.com.",
            "type: A\nvalues: [192.0.2.2, 192.0.2.1]\n",
            rec("a.example.com.", "A", 300, &["192.0.2.1", "192.0.2.2"]),
        ),
        (
            "c.example.com.",
            "type: CNAME\nvalues: [Target.example.ORG]\n",
            rec("c.example.com.", "CNAME", 300, &["target.example.org"]),
        ),
        (
            "v6.example.com.",
            "type: AAAA\nvalues: ['2001:DB8:0:0::1']\n",
            rec("v6.example.com.", "AAAA", 300, &["2001:db8::1"]),
        ),
        (
            "t.example.com.",
            "type: TXT\nttl: 60\nvalues: ['v=spf1 -all', '\"two\" \"strings\"']\n",
            rec(
                "t.example.com.",
                "TXT",
                60,
                &["\"two\" \"strings\"", "\"v=spf1 -all\""],
            ),
        ),
        (
            "m.example.com.",
            "type: MX\nvalues: ['10   Mail.example.com']\n",
            rec("m.example.com.", "MX", 300, &["10 mail.example.com."]),
        ),
    ];
    for (name, yaml, have) in cases {
        let l = live(Some(have.clone()), own(&have.record_type, name));
        let changes = DnsRecord::diff(&f.ctx(), name, &spec(yaml), Some(&l)).unwrap();
        assert_eq!(changes, vec![], "{name}: {yaml}");
    }
}

#[test]
fn a_changed_value_or_ttl_is_upserted_with_the_ownership_record() {
    let f = Fixture::new();
    let n = "a.example.com.";
    let l = live(
        Some(rec(n, "A", 60, &["192.0.2.1", "192.0.2.9"])),
        owned("A", n, CONTROLLER, n),
    );
    let s = spec("type: A\nvalues: [192.0.2.1, 192.0.2.2]\n");
    let changes = DnsRecord::diff(&f.ctx(), n, &s, Some(&l)).unwrap();
    assert_eq!(changes.len(), 1);
    let DnsRecordChange::Update(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(b.upsert[0].values, vec!["192.0.2.1", "192.0.2.2"]);
    assert_eq!(b.upsert[0].ttl, Some(300));
    assert_eq!(b.upsert[1].name, "_converge-owner.a.a.example.com.");
    let shown: Vec<String> = b.fields.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "ttl: 60 → 300".to_string(),
            "values: 192.0.2.1, 192.0.2.9 → 192.0.2.1, 192.0.2.2".to_string()
        ]
    );
}

#[test]
fn switching_between_values_and_alias_is_an_update() {
    let f = Fixture::new();
    let n = "a.example.com.";
    let l = live(
        Some(rec(n, "A", 300, &["192.0.2.1"])),
        owned("A", n, CONTROLLER, n),
    );
    let s = spec("type: A\nalias: {target: b.example.com}\n");
    let changes = DnsRecord::diff(&f.ctx(), n, &s, Some(&l)).unwrap();
    let DnsRecordChange::Update(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    let want = &b.upsert[0];
    assert_eq!(want.ttl, None);
    assert!(want.values.is_empty());
    assert_eq!(
        want.alias,
        Some(Alias {
            target: "b.example.com.".into(),
            // An alias to another record: the record's own zone by default.
            hosted_zone_id: "Z1".into(),
            evaluate_target_health: false,
        })
    );
    let shown: Vec<String> = b.fields.iter().map(|f| f.to_string()).collect();
    assert!(
        shown.contains(&"ttl: 300 → (none)".to_string()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"alias.target: (none) → b.example.com.".to_string()),
        "{shown:?}"
    );

    // And the same alias, live, is in sync (AWS's trailing dot and case are no difference).
    let mut have = rec(n, "A", 0, &[]);
    have.ttl = None;
    have.alias = Some(Alias {
        target: "B.example.com".into(),
        hosted_zone_id: "/hostedzone/Z1".into(),
        evaluate_target_health: false,
    });
    let l = live(Some(have), owned("A", n, CONTROLLER, n));
    assert_eq!(DnsRecord::diff(&f.ctx(), n, &s, Some(&l)).unwrap(), vec![]);
}

#[test]
fn an_unowned_record_is_adopted_and_then_corrected() {
    let f = Fixture::new();
    let n = "www.example.com.";
    let s = spec("type: CNAME\nvalues: [new.example.org.]\n");
    let l = live(Some(rec(n, "CNAME", 300, &["new.example.org."])), None);
    let changes = DnsRecord::diff(&f.ctx(), n, &s, Some(&l)).unwrap();
    assert_eq!(changes.len(), 1);
    let DnsRecordChange::Tag(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(b.upsert.len(), 1);
    assert_eq!(b.upsert[0].name, "_converge-owner.cname.www.example.com.");
    assert_eq!(
        b.fields[0].to_string(),
        "ownership: (none) → heritage=converge,owner=test,resource=www.example.com."
    );

    let l = live(Some(rec(n, "CNAME", 300, &["old.example.org."])), None);
    let changes = DnsRecord::diff(&f.ctx(), n, &s, Some(&l)).unwrap();
    let actions: Vec<Action> = changes.iter().map(Change::action).collect();
    assert_eq!(actions, vec![Action::Tag, Action::Update]);
}

#[test]
fn an_ownership_record_naming_another_resource_of_ours_is_rewritten() {
    let f = Fixture::new();
    let n = "www.example.com.";
    let s = spec("name: www.example.com.\ntype: CNAME\nvalues: [x.example.org.]\n");
    let l = live(
        Some(rec(n, "CNAME", 300, &["x.example.org."])),
        owned("CNAME", n, CONTROLLER, "old-name"),
    );
    let changes = DnsRecord::diff(&f.ctx(), "www", &s, Some(&l)).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "ownership: heritage=converge,owner=test,resource=old-name → heritage=converge,owner=test,resource=www"
    );
}

#[test]
fn ownership_records_parse_and_reject_foreign_text() {
    assert_eq!(
        parse_ownership("heritage=converge,owner=ctl,a,resource=www.example.com."),
        Some(("ctl,a".to_string(), "www.example.com.".to_string()))
    );
    assert_eq!(parse_ownership("heritage=external-dns,owner=x"), None);
    assert_eq!(parse_ownership("heritage=converge,owner=,resource=x"), None);
    assert_eq!(
        owned_slot("_converge-owner.cname.www.example.com."),
        Some(("www.example.com.".to_string(), "CNAME".to_string()))
    );
    assert_eq!(owned_slot("www.example.com."), None);
    // Route 53 may split and escape the value; it still parses.
    let mut r = rec(
        "_converge-owner.a.x.example.com.",
        "TXT",
        300,
        &["\"heritage=converge,owner=my\\040ctl\" \",resource=x\""],
    );
    let o = Ownership::from_record(&r).unwrap();
    assert_eq!((o.owner.as_str(), o.resource.as_str()), ("my ctl", "x"));
    // A TXT at an ownership name that is not ours is no ownership.
    r.values = vec!["\"hello\"".into()];
    assert_eq!(Ownership::from_record(&r), None);
    // Quoting round-trips through escapes.
    let s = vec!["a \"b\" \\c".to_string()];
    assert_eq!(parse_txt(&render_txt(&s)), s);
    // Long ownership values are split into 255-byte strings.
    let long = ownership_record("A", "x.", &"o".repeat(300), "x");
    assert_eq!(parse_txt(&long.values[0]).len(), 2);
    assert_eq!(
        Ownership::from_record(&long).unwrap().owner,
        "o".repeat(300)
    );
}

#[test]
fn zones_resolve_by_id_name_or_longest_match() {
    let zones = vec![
        zone("Z1", "example.com."),
        zone("Z2", "sub.example.com."),
        zone("Z3", "other.org."),
        zone("Z4", "twin.net."),
        zone("Z5", "twin.net."),
    ];
    let r = |sel: Option<&str>, name: &str| resolve_zone(&zones, sel, name);
    assert_eq!(r(None, "a.sub.example.com.").unwrap().id, "Z2");
    assert_eq!(r(None, "sub.example.com.").unwrap().id, "Z2");
    assert_eq!(r(None, "a.xsub.example.com.").unwrap().id, "Z1");
    assert_eq!(r(None, "example.com.").unwrap().id, "Z1");
    assert_eq!(
        r(Some("example.com"), "a.sub.example.com.").unwrap().id,
        "Z1"
    );
    assert_eq!(r(Some("/hostedzone/Z3"), "x.other.org.").unwrap().id, "Z3");
    assert_eq!(r(Some("Z3"), "x.other.org.").unwrap().id, "Z3");
    assert_eq!(
        r(None, "x.nowhere.io.").unwrap_err(),
        "HostedZone/(a zone containing x.nowhere.io.)"
    );
    assert_eq!(
        r(Some("missing.io."), "x.missing.io.").unwrap_err(),
        "HostedZone/missing.io."
    );
    let e = r(None, "a.twin.net.").unwrap_err();
    assert!(e.starts_with("HostedZone/twin.net. (ambiguous"), "{e}");
    assert!(e.contains("Z4, Z5"), "{e}");
}

#[test]
fn an_unknown_zone_is_waited_for() {
    let f = Fixture::new();
    let s = spec("zone: example.com.\ntype: A\nvalues: [192.0.2.1]\n");
    let p = DnsRecord::diff(&f.ctx(), "a.example.com.", &s, None).unwrap_err();
    assert_eq!(p.waiting_for, "HostedZone/example.com.");
    let l = LiveDnsRecord {
        zone: Err("HostedZone/example.com.".into()),
        record: None,
        ownership: None,
        elsewhere: Vec::new(),
    };
    let p = DnsRecord::diff(&f.ctx(), "a.example.com.", &s, Some(&l)).unwrap_err();
    assert_eq!(p.waiting_for, "HostedZone/example.com.");
}

#[test]
fn a_load_balancer_value_waits_for_its_dns_name_and_then_resolves() {
    let n = "myapp-testing.example.com.";
    // Exactly what the LoadBalancer kind derives from its `cnames`.
    let v = serde_json::json!({
        "zone": null,
        "name": n,
        "type": "CNAME",
        "ttl": 300,
        "values": ["loadbalancer:myapp-testing-useast1"]
    });
    let s: DnsRecordSpec = serde_json::from_value(v).unwrap();
    assert!(DnsRecord::validate_name(n).is_ok());
    assert_eq!(DnsRecord::validate(n, &s), Vec::<String>::new());
    let roundtrip: DnsRecordSpec =
        serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(roundtrip.values, s.values);

    let desired = Fixture::new().desired(lb::KIND, "myapp-testing-useast1");
    let p = DnsRecord::diff(&desired.ctx(), n, &s, Some(&live(None, None))).unwrap_err();
    assert_eq!(p.waiting_for, "LoadBalancer/myapp-testing-useast1");
    // Not desired and not found: its name cannot be resolved either.
    let none = Fixture::new();
    let p = DnsRecord::diff(&none.ctx(), n, &s, Some(&live(None, None))).unwrap_err();
    assert_eq!(p.waiting_for, "LoadBalancer/myapp-testing-useast1");

    let f = lb_facts("myapp-testing-useast1");
    let changes = DnsRecord::diff(&f.ctx(), n, &s, Some(&live(None, None))).unwrap();
    let DnsRecordChange::Create(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(
        b.upsert[0].values,
        vec!["mylb-123.us-east-1.elb.amazonaws.com."]
    );
}

#[test]
fn a_load_balancer_alias_takes_its_zone_from_the_facts() {
    let f = lb_facts("lb");
    let s = spec("type: A\nalias: {target: 'loadbalancer:lb', evaluate_target_health: true}\n");
    let changes = DnsRecord::diff(&f.ctx(), "x.example.com.", &s, Some(&live(None, None))).unwrap();
    let DnsRecordChange::Create(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(
        b.upsert[0].alias,
        Some(Alias {
            target: "mylb-123.us-east-1.elb.amazonaws.com.".into(),
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            evaluate_target_health: true,
        })
    );
}

#[test]
fn a_type_change_deletes_the_old_record_in_the_same_batch() {
    let f = Fixture::new();
    let n = "www.example.com.";
    let old = rec(n, "A", 300, &["192.0.2.1"]);
    let old_owner = owned("A", n, CONTROLLER, n).unwrap();
    let mut l = live(None, None);
    l.elsewhere.push(Claimed {
        zone: example(),
        record: Some(old.clone()),
        ownership: old_owner.clone(),
    });
    // Another controller's claim is never touched.
    l.elsewhere.push(Claimed {
        zone: example(),
        record: None,
        ownership: owned("MX", n, "someone-else", n).unwrap(),
    });
    // Ours in another zone: removed in that zone's own batch.
    let other = zone("Z9", "example.net.");
    let far = rec("www.example.net.", "CNAME", 300, &["x.example.com."]);
    l.elsewhere.push(Claimed {
        zone: other.clone(),
        record: Some(far.clone()),
        ownership: owned("CNAME", "www.example.net.", CONTROLLER, n).unwrap(),
    });
    let s = spec("type: CNAME\nvalues: [lb.example.org.]\n");
    let changes = DnsRecord::diff(&f.ctx(), n, &s, Some(&l)).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let DnsRecordChange::Create(b) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(b.delete, vec![old, old_owner.record]);
    assert_eq!(b.upsert[0].record_type, "CNAME");
    let DnsRecordChange::Remove(b) = &changes[1] else {
        panic!("{changes:?}")
    };
    assert_eq!(b.zone, other);
    assert_eq!(b.delete[0], far);
    assert_eq!(changes[1].action(), Action::Delete);
}

#[test]
fn observation_keys_records_by_resource_and_claims_desired_slots() {
    let ex = example();
    let desired: BTreeMap<String, DnsRecordSpec> = BTreeMap::from([
        (
            "www.example.com.".to_string(),
            spec("type: CNAME\nvalues: [a.example.org.]\n"),
        ),
        (
            "api".to_string(),
            spec("name: api.example.com.\ntype: A\nvalues: [192.0.2.1]\n"),
        ),
        (
            "lost".to_string(),
            spec("zone: nowhere.io.\nname: x.nowhere.io.\ntype: A\nvalues: [192.0.2.1]\n"),
        ),
    ]);
    let slots = BTreeMap::from([
        ("www.example.com.".to_string(), Ok(ex.clone())),
        ("api".to_string(), Ok(ex.clone())),
        (
            "lost".to_string(),
            Err("HostedZone/nowhere.io.".to_string()),
        ),
    ]);
    let mut weighted = rec("api.example.com.", "A", 60, &["192.0.2.7"]);
    weighted.set_identifier = Some("blue".into());
    let sets = vec![
        rec("example.com.", "NS", 172800, &["ns-1.awsdns.com."]),
        // www: ours.
        rec("www.example.com.", "CNAME", 300, &["a.example.org."]),
        owner_txt("CNAME", "www.example.com.", "ctl", "www.example.com."),
        // api: unowned, plus a weighted set (ignored).
        rec("api.example.com.", "A", 300, &["192.0.2.1"]),
        weighted,
        // old: ours and no longer desired.
        rec("old.example.com.", "A", 300, &["192.0.2.3"]),
        owner_txt("A", "old.example.com.", "ctl", "old"),
        // A lone ownership record of ours for `api` at another type: api owns it.
        owner_txt("MX", "api.example.com.", "ctl", "api"),
        // Two controllers claim `dup`: never pruned.
        rec("d1.example.com.", "A", 300, &["192.0.2.4"]),
        owner_txt("A", "d1.example.com.", "ctl", "dup"),
        rec("d2.example.com.", "A", 300, &["192.0.2.5"]),
        owner_txt("A", "d2.example.com.", "other", "dup"),
        // Unowned and not desired: not observed.
        rec("stray.example.com.", "A", 300, &["192.0.2.6"]),
    ];
    let out = assemble(&desired, &slots, vec![(ex.clone(), sets)]);
    assert_eq!(
        out.keys().cloned().collect::<Vec<_>>(),
        vec!["api", "lost", "old", "www.example.com."]
    );
    let www = &out["www.example.com."];
    assert_eq!(DnsRecord::owner(www), Some("ctl"));
    assert_eq!(www.record.as_ref().unwrap().values, vec!["a.example.org."]);
    let api = &out["api"];
    assert_eq!(DnsRecord::owner(api), None);
    assert_eq!(api.record.as_ref().unwrap().ttl, Some(300));
    assert_eq!(api.elsewhere.len(), 1);
    assert_eq!(api.elsewhere[0].record, None);
    assert!(out["lost"].zone.is_err());
    let old = &out["old"];
    assert_eq!(DnsRecord::owner(old), Some("ctl"));
    assert_eq!(old.record.as_ref().unwrap().name, "old.example.com.");
}

#[test]
fn two_resources_for_one_record_are_reported() {
    let ex = example();
    let s = spec("name: www.example.com.\ntype: A\nvalues: [192.0.2.1]\n");
    let desired = BTreeMap::from([("a".to_string(), s.clone()), ("b".to_string(), s)]);
    let slots = BTreeMap::from([
        ("a".to_string(), Ok(ex.clone())),
        ("b".to_string(), Ok(ex.clone())),
    ]);
    let out = assemble(&desired, &slots, vec![(ex, Vec::new())]);
    assert!(out["a"].zone.is_ok());
    let e = out["b"].zone.clone().unwrap_err();
    assert!(
        e.starts_with("DnsRecord/a to give up A www.example.com."),
        "{e}"
    );
}

#[test]
fn long_values_are_summarised_in_plans() {
    let f = Fixture::new();
    let key = format!("v=DKIM1; k=rsa; p={}", "A".repeat(400));
    let s = DnsRecordSpec {
        record_type: "TXT".into(),
        values: Some(vec![key]),
        ..DnsRecordSpec::default()
    };
    let changes = DnsRecord::diff(
        &f.ctx(),
        "k._domainkey.example.com.",
        &s,
        Some(&live(None, None)),
    )
    .unwrap();
    let v = changes[0]
        .fields()
        .into_iter()
        .find(|f| f.field == "values")
        .unwrap();
    assert!(v.to.as_deref().unwrap().starts_with("<1 value(s), "), "{v}");
    // Split into 255-byte strings for Route 53.
    let DnsRecordChange::Create(b) = &changes[0] else {
        panic!()
    };
    assert_eq!(parse_txt(&b.upsert[0].values[0]).len(), 2);
}

#[test]
fn validation_names_the_field() {
    let p = |name: &str, yaml: &str| DnsRecord::validate(name, &spec(yaml));
    assert!(p("www.example.com.", "type: CNAME\nvalues: [a.example.org]\n").is_empty());
    let cases: &[(&str, &str, &str)] = &[
        (
            "x.example.com.",
            "type: BOGUS\nvalues: [a]\n",
            "type: `BOGUS` is not",
        ),
        (
            "x.example.com.",
            "type: SOA\nvalues: [a]\n",
            "type: SOA records",
        ),
        (
            "x.example.com.",
            "type: CNAME\nvalues: [a.org, b.org]\n",
            "exactly one value",
        ),
        ("x.example.com.", "type: A\n", "values: required"),
        (
            "x.example.com.",
            "type: A\nvalues: []\n",
            "at least one value",
        ),
        (
            "x.example.com.",
            "type: A\nvalues: [192.0.2.1]\nalias: {target: y.example.com}\n",
            "give one of them, not both",
        ),
        (
            "x.example.com.",
            "type: A\nttl: -1\nvalues: [192.0.2.1]\n",
            "ttl: -1 must be from 0 to 2147483647",
        ),
        (
            "x.example.com.",
            "type: A\nttl: 2147483648\nvalues: [192.0.2.1]\n",
            "ttl: 2147483648",
        ),
        (
            "x.example.com.",
            "type: A\nvalues: [999.0.0.1]\n",
            "values[0]: `999.0.0.1` is not an IPv4 address",
        ),
        (
            "x.example.com.",
            "type: AAAA\nvalues: [192.0.2.1]\n",
            "is not an IPv6 address",
        ),
        (
            "x.example.com.",
            "type: A\nvalues: ['loadbalancer:lb']\n",
            "use type CNAME, or an alias",
        ),
        (
            "x.example.com.",
            "type: MX\nvalues: [mail.example.com]\n",
            "<priority 0-65535>",
        ),
        (
            "x.example.com.",
            "type: A\nttl: 60\nalias: {target: y.example.com}\n",
            "an alias record has no TTL",
        ),
        (
            "x.example.com.",
            "zone: example.org.\ntype: A\nvalues: [192.0.2.1]\n",
            "zone: record name `x.example.com.` is not inside zone `example.org.`",
        ),
        (
            "a..example.com.",
            "type: A\nvalues: [192.0.2.1]\n",
            "empty label",
        ),
        (
            "a.*.example.com.",
            "type: A\nvalues: [192.0.2.1]\n",
            "only as its leftmost label",
        ),
        (
            "_converge-owner.a.x.com.",
            "type: A\nvalues: [192.0.2.1]\n",
            "reserves for ownership",
        ),
        (
            "x",
            "name: 'bad name.example.com.'\ntype: A\nvalues: [192.0.2.1]\n",
            "name: `bad name.example.com.` label `bad name`",
        ),
    ];
    for (name, yaml, want) in cases {
        let problems = p(name, yaml);
        assert!(
            problems.iter().any(|m| m.contains(want)),
            "{name} {yaml}: {problems:?}"
        );
    }
    let long_label = format!("{}.example.com.", "a".repeat(64));
    assert!(p(&long_label, "type: A\nvalues: [192.0.2.1]\n")
        .iter()
        .any(|m| m.contains("at most 63")));
    let long = format!("{}example.com.", "abcdefghi.".repeat(24));
    assert!(long.len() <= 255);
    let problems = p(&long, "type: CNAME\nvalues: [a.org]\n");
    assert!(
        problems
            .iter()
            .any(|m| m.contains("ownership record `_converge-owner.cname.`")),
        "{problems:?}"
    );
    assert!(p("*.example.com.", "type: A\nvalues: [192.0.2.1]\n").is_empty());
    assert!(p(
        "x.example.com.",
        "type: A\nvalues: [192.0.2.1, ' 192.0.2.1']\n"
    )
    .iter()
    .any(|m| m.contains("values[1]: the same value as values[0]")));
    assert!(DnsRecord::validate_name("www.example.com.").is_ok());
    assert!(DnsRecord::validate_name("a,b")
        .unwrap_err()
        .contains("may contain only"));
    assert!(DnsRecord::validate_name(&"a".repeat(256))
        .unwrap_err()
        .contains("1 to 255"));
    assert!(serde_saphyr::from_str::<DnsRecordSpec>("type: A\nvalue: [x]\n").is_err());
    assert!(
        serde_saphyr::from_str::<DnsRecordSpec>("type: A\nalias: {target: x, ttl: 1}\n").is_err()
    );
}

#[test]
fn deletions_are_one_batch_per_zone_in_zone_id_order() {
    let (z1, z2) = (zone("Z1", "example.com."), zone("Z2", "example.net."));
    let a = rec("a.example.net.", "A", 300, &["192.0.2.1"]);
    let b = rec("b.example.com.", "A", 300, &["192.0.2.2"]);
    let c = rec("c.example.net.", "TXT", 300, &["\"x\""]);
    let batches = super::batch::deletions([
        (&z2, vec![a.clone()]),
        (&z1, vec![b.clone()]),
        (&z2, vec![c.clone()]),
    ]);
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!((&batches[0].zone, &batches[0].delete), (&z1, &vec![b]));
    assert_eq!((&batches[1].zone, &batches[1].delete), (&z2, &vec![a, c]));
    assert!(batches.iter().all(|b| b.upsert.is_empty()));
    let shown: Vec<String> = batches[1].fields.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "A a.example.net.: 192.0.2.1 → (none)",
            "TXT c.example.net.: \"x\" → (none)"
        ]
    );
}

#[test]
fn a_global_record_finds_its_load_balancer_in_the_region_it_names() {
    let n = "web.example.com.";
    let facts = Fixture::new()
        .in_region("global")
        .fact_at(
            "us-east-1",
            lb::DNS_NAME,
            "web",
            "web-1.us-east-1.elb.amazonaws.com",
        )
        .fact_at(
            "eu-west-1",
            lb::DNS_NAME,
            "web",
            "web-2.eu-west-1.elb.amazonaws.com",
        )
        .fact_at(
            "eu-west-1",
            lb::DNS_NAME,
            "api",
            "api-2.eu-west-1.elb.amazonaws.com",
        );
    let value = |v: &str| {
        let s = spec(&format!("type: CNAME\nvalues: ['{v}']\n"));
        match DnsRecord::diff(&facts.ctx(), n, &s, Some(&live(None, None))) {
            Ok(changes) => Ok(changes[0].batch().upsert[0].values.clone()),
            Err(w) => Err(w.waiting_for),
        }
    };
    assert_eq!(
        value("loadbalancer:eu-west-1/web"),
        Ok(vec!["web-2.eu-west-1.elb.amazonaws.com.".to_string()])
    );
    assert_eq!(
        value("loadbalancer:us-east-1/web"),
        Ok(vec!["web-1.us-east-1.elb.amazonaws.com.".to_string()])
    );
    // A name in one region of the account needs no region.
    assert_eq!(
        value("loadbalancer:api"),
        Ok(vec!["api-2.eu-west-1.elb.amazonaws.com.".to_string()])
    );
    // A name in two regions is not guessed (the loader rejects it; here it waits).
    assert_eq!(
        value("loadbalancer:web"),
        Err("LoadBalancer/web".to_string())
    );
    // Listed in two regions but desired in one: that one (the other `web` is not ours).
    let desired = facts.desired_at("eu-west-1", lb::KIND, "web");
    let s = spec("type: CNAME\nvalues: ['loadbalancer:web']\n");
    let changes = DnsRecord::diff(&desired.ctx(), n, &s, Some(&live(None, None))).unwrap();
    assert_eq!(
        changes[0].batch().upsert[0].values,
        vec!["web-2.eu-west-1.elb.amazonaws.com.".to_string()]
    );
    let bad = spec("type: CNAME\nvalues: ['loadbalancer:mars/web']\n");
    assert!(DnsRecord::validate(n, &bad)[0].contains("`mars` is not an AWS region"));
}
