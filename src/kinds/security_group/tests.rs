use std::collections::BTreeMap;

use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};

use super::observe::{live_group, pick};
use super::rules::{ipv4_network, ipv6_network, ipv6_text, live_rules};
use super::*;
use crate::core::{Action, Change, MANAGED_BY_TAG};
use crate::kinds::common::fixtures::{published, Fixture, CONTROLLER};
use crate::kinds::common::refs::security_group as sg;

fn spec(yaml: &str) -> SecurityGroupSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

/// A context in which groups `(name, id)` exist, owned by account 123456789012, in vpc-1.
fn groups(groups: &[(&str, &str)]) -> Fixture {
    groups.iter().fold(Fixture::new(), |f, (name, id)| {
        f.fact(sg::ID, name, id)
            .fact(sg::OWNER_ID, name, "123456789012")
            .fact(sg::VPC_ID, name, "vpc-1")
    })
}

fn perm(proto: &str, from: i32, to: i32, source: Source) -> IpPermission {
    let p = Permission {
        protocol: proto.to_string(),
        from_port: Some(from),
        to_port: Some(to),
        source,
    };
    p.to_sdk()
}

fn cidr(c: &str) -> Source {
    Source::Cidr(c.to_string())
}

/// An owned group in the default VPC with these ingress permissions (as AWS returns them).
fn live(ingress: Vec<IpPermission>) -> LiveSecurityGroup {
    LiveSecurityGroup {
        id: "sg-self".into(),
        description: "web".into(),
        vpc_id: Some("vpc-1".into()),
        owner_id: "123456789012".into(),
        in_default_vpc: true,
        named_vpcs: None,
        ingress: live_rules(&ingress),
        egress: live_rules(&[IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build()]),
        tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), CONTROLLER.to_string())]),
    }
}

fn diff(
    f: &Fixture,
    s: &SecurityGroupSpec,
    l: Option<&LiveSecurityGroup>,
) -> Result<Vec<SecurityGroupChange>, Waiting> {
    SecurityGroup::diff(&f.ctx(), "web", s, l)
}

fn texts(c: &SecurityGroupChange) -> Vec<String> {
    c.fields().iter().map(ToString::to_string).collect()
}

#[test]
fn a_missing_group_is_created_with_description_tags_owner_and_rules() {
    let f = Fixture::new();
    let s = spec("description: web tier\nrules:\n  - {ip_protocol: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0}\ntags: {team: ops}\n");
    let changes = diff(&f, &s, None).unwrap();
    assert_eq!(changes.len(), 1);
    let SecurityGroupChange::Create {
        description,
        vpc_id,
        vpc_name: None,
        tags,
        ingress,
        egress,
        deferred,
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(description, "web tier");
    assert_eq!(vpc_id, &None);
    assert_eq!(tags["team"], "ops");
    assert_eq!(tags[MANAGED_BY_TAG], CONTROLLER);
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0].text, "tcp 443 from 0.0.0.0/0");
    assert!(egress.is_empty() && deferred.is_empty());
    let t = texts(&changes[0]);
    assert!(
        t.contains(&"vpc_id: (none) → (default VPC)".to_string()),
        "{t:?}"
    );
    assert!(
        t.contains(&"rules: (none) → tcp 443 from 0.0.0.0/0".to_string()),
        "{t:?}"
    );
}

#[test]
fn tcp_and_6_are_the_same_protocol_and_all_and_minus_one_ignore_ports() {
    let f = Fixture::new();
    let s = spec("description: web\nrules:\n  - {ip_protocol: '6', from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: all, from_port: 0, to_port: 65535, cidr_ip: 10.1.0.0/16}\n  - {ip_protocol: UDP, from_port: 53, to_port: 53, cidr_ip: 10.2.0.0/16}\n");
    let l = live(vec![
        perm("tcp", 80, 80, cidr("10.0.0.0/8")),
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build())
            .build(),
        perm("17", 53, 53, cidr("10.2.0.0/16")),
    ]);
    assert_eq!(diff(&f, &s, Some(&l)).unwrap(), vec![]);
}

#[test]
fn a_rule_with_two_cidrs_is_two_permissions_and_only_the_missing_one_is_authorized() {
    let f = Fixture::new();
    let s = spec("description: web\nrules:\n  - ip_protocol: tcp\n    from_port: 80\n    to_port: 80\n    cidr_ip: [10.0.0.0/8, 192.168.0.0/16]\n");
    // AWS groups both CIDRs of one port range in one IpPermission.
    let both = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .ip_ranges(IpRange::builder().cidr_ip("192.168.0.0/16").build())
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
        .build();
    assert_eq!(diff(&f, &s, Some(&live(vec![both]))).unwrap(), vec![]);
    let one = live(vec![perm("tcp", 80, 80, cidr("10.0.0.0/8"))]);
    let changes = diff(&f, &s, Some(&one)).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        texts(&changes[0]),
        vec!["rules: (none) → tcp 80 from 192.168.0.0/16"]
    );
}

#[test]
fn rule_order_does_not_matter() {
    let f = Fixture::new();
    let a = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: udp, from_port: 53, to_port: 53, cidr_ipv6: '2001:DB8::/32'}\n");
    let b = spec("description: web\nrules:\n  - {ip_protocol: udp, from_port: 53, to_port: 53, cidr_ipv6: '2001:db8:0::/32'}\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n");
    let l = live(vec![
        perm("udp", 53, 53, Source::CidrV6("2001:db8::/32".into())),
        perm("tcp", 22, 22, cidr("10.0.0.0/8")),
    ]);
    assert_eq!(diff(&f, &a, Some(&l)).unwrap(), vec![]);
    assert_eq!(diff(&f, &b, Some(&l)).unwrap(), vec![]);
}

#[test]
fn a_stray_rule_is_revoked_and_a_missing_one_authorized_first() {
    let f = Fixture::new();
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n");
    let l = live(vec![perm("tcp", 22, 22, cidr("0.0.0.0/0"))]);
    let changes = diff(&f, &s, Some(&l)).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(matches!(
        &changes[0],
        SecurityGroupChange::Authorize { egress: false, .. }
    ));
    assert_eq!(
        texts(&changes[1]),
        vec!["rules: tcp 22 from 0.0.0.0/0 → (none)"]
    );
    assert_eq!(changes[1].action(), Action::Update);
}

#[test]
fn no_rules_written_means_no_ingress_and_egress_is_left_alone() {
    let f = Fixture::new();
    let s = spec("description: web\n");
    let l = live(vec![perm("tcp", 22, 22, cidr("0.0.0.0/0"))]);
    let changes = diff(&f, &s, Some(&l)).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(matches!(
        &changes[0],
        SecurityGroupChange::Revoke { egress: false, .. }
    ));
    // The default allow-all egress rule of `live` is not touched.
}

#[test]
fn written_egress_rules_are_authoritative() {
    let f = Fixture::new();
    let s = spec("description: web\nrules_egress:\n  - {ip_protocol: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0}\n");
    let changes = diff(&f, &s, Some(&live(vec![]))).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        texts(&changes[0]),
        vec!["rules_egress: (none) → tcp 443 to 0.0.0.0/0"]
    );
    assert_eq!(
        texts(&changes[1]),
        vec!["rules_egress: all traffic to 0.0.0.0/0 → (none)"]
    );
    // Writing the default rule keeps it.
    let s = spec("description: web\nrules_egress:\n  - {ip_protocol: -1, cidr_ip: 0.0.0.0/0}\n");
    assert_eq!(diff(&f, &s, Some(&live(vec![]))).unwrap(), vec![]);
}

#[test]
fn a_source_group_by_name_resolves_through_the_facts() {
    let f = groups(&[("lb", "sg-lb")]);
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: lb}\n");
    let in_sync = live(vec![perm("tcp", 80, 80, Source::Group("sg-lb".into()))]);
    assert_eq!(diff(&f, &s, Some(&in_sync)).unwrap(), vec![]);
    let changes = diff(&f, &s, Some(&live(vec![]))).unwrap();
    assert_eq!(
        texts(&changes[0]),
        vec!["rules: (none) → tcp 80 from sg-lb (lb)"]
    );
    // And by id, with Salt's spelling of the field.
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_group_id: sg-lb}\n");
    assert_eq!(diff(&f, &s, Some(&in_sync)).unwrap(), vec![]);
}

#[test]
fn a_desired_source_group_that_does_not_exist_yet_is_waited_for() {
    let desired = |f: Fixture| f.desired(sg::KIND, "web").desired(sg::KIND, "lb");
    let f = desired(Fixture::new());
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: lb}\n  - {ip_protocol: tcp, from_port: 22, to_port: 22, cidr_ip: 10.0.0.0/8}\n");
    // An existing group waits.
    let pending = diff(&f, &s, Some(&live(vec![]))).unwrap_err();
    assert_eq!(pending.waiting_for, "SecurityGroup/lb");
    // A missing group is created at once with the rules that can be, the others later.
    let changes = diff(&f, &s, None).unwrap();
    let SecurityGroupChange::Create {
        ingress, deferred, ..
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        deferred,
        &vec!["tcp 80 from SecurityGroup/lb (once it exists)".to_string()]
    );
    // Once it exists, the rule is authorized.
    let f = desired(groups(&[("lb", "sg-lb")]));
    let l = live(vec![perm("tcp", 22, 22, cidr("10.0.0.0/8"))]);
    let changes = diff(&f, &s, Some(&l)).unwrap();
    assert!(
        matches!(&changes[..], [SecurityGroupChange::Authorize { rules, .. }] if rules[0].permission.source == Source::Group("sg-lb".into())),
        "{changes:?}"
    );
}

#[test]
fn a_group_that_refers_to_itself_is_created_then_its_rule_added() {
    let f = Fixture::new().desired(sg::KIND, "web");
    let s = spec("description: web\nrules:\n  - {ip_protocol: icmp, source_group_name: web}\n");
    let changes = diff(&f, &s, None).unwrap();
    assert_eq!(changes[0].action(), Action::Create);
    let f = groups(&[("web", "sg-self")]).desired(sg::KIND, "web");
    let changes = diff(&f, &s, Some(&live(vec![]))).unwrap();
    assert_eq!(
        texts(&changes[0]),
        vec!["rules: (none) → icmp type -1 code -1 from sg-self (web)"]
    );
}

#[test]
fn an_unknown_source_group_that_is_not_desired_is_waited_for_by_name() {
    let f = Fixture::new();
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: ghost}\n");
    let pending = diff(&f, &s, Some(&live(vec![]))).unwrap_err();
    assert_eq!(pending.waiting_for, "SecurityGroup/ghost");
}

#[test]
fn an_owner_qualified_name_that_is_not_ours_is_passed_to_aws_by_name() {
    // The seed's EC2-Classic source: amazon-elb/amazon-elb-sg.
    let f = groups(&[("amazon-elb-sg", "sg-mine")]); // same name, our account: not it
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: amazon-elb-sg, source_group_owner_id: amazon-elb}\n");
    let want = Permission::new(
        "tcp",
        Some(80),
        Some(80),
        Source::GroupName {
            name: "amazon-elb-sg".into(),
            owner: "amazon-elb".into(),
        },
    );
    let changes = diff(&f, &s, Some(&live(vec![]))).unwrap();
    let [SecurityGroupChange::Authorize { rules, .. }] = &changes[..] else {
        panic!("{changes:?}")
    };
    assert_eq!(rules[0].permission, want);
    assert_eq!(rules[0].text, "tcp 80 from amazon-elb/amazon-elb-sg");
    // On creation it waits for the next sweep (so the group exists whatever AWS says).
    let changes = diff(&f, &s, None).unwrap();
    let SecurityGroupChange::Create {
        ingress, deferred, ..
    } = &changes[0]
    else {
        panic!()
    };
    assert!(ingress.is_empty());
    assert_eq!(
        deferred,
        &vec!["tcp 80 from amazon-elb/amazon-elb-sg".to_string()]
    );
    // Were AWS to accept it, a live pair reporting that owner and name satisfies it.
    let pair = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id("sg-elb")
                .group_name("amazon-elb-sg")
                .user_id("amazon-elb")
                .build(),
        )
        .build();
    assert_eq!(diff(&f, &s, Some(&live(vec![pair]))).unwrap(), vec![]);
    // With our own account as owner, the fact resolves it.
    let s = spec("description: web\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: amazon-elb-sg, source_group_owner_id: '123456789012'}\n");
    let in_sync = live(vec![perm("tcp", 80, 80, Source::Group("sg-mine".into()))]);
    assert_eq!(diff(&f, &s, Some(&in_sync)).unwrap(), vec![]);
}

#[test]
fn an_unowned_group_is_adopted_by_tagging_before_any_rule_is_revoked() {
    let f = Fixture::new();
    let s = spec("description: web\ntags: {team: ops}\n");
    let mut l = live(vec![perm("tcp", 22, 22, cidr("0.0.0.0/0"))]);
    l.tags = BTreeMap::from([("stray".to_string(), "1".to_string())]);
    let changes = diff(&f, &s, Some(&l)).unwrap();
    let actions: Vec<Action> = changes.iter().map(Change::action).collect();
    assert_eq!(actions, vec![Action::Tag, Action::Update, Action::Tag]);
    assert!(
        matches!(&changes[0], SecurityGroupChange::Tag(m) if m[MANAGED_BY_TAG].1 == CONTROLLER && m.contains_key("team"))
    );
    assert!(matches!(&changes[1], SecurityGroupChange::Revoke { .. }));
    assert!(matches!(&changes[2], SecurityGroupChange::Untag(m) if m.contains_key("stray")));
    // AWS's own tags stay.
    let mut l = live(vec![]);
    l.tags
        .insert("aws:cloudformation:stack-name".into(), "x".into());
    let s = spec("description: web\n");
    assert_eq!(diff(&f, &s, Some(&l)).unwrap(), vec![]);
}

#[test]
fn a_changed_description_needs_replacement_and_other_changes_still_apply() {
    let f = Fixture::new();
    let s = spec("description: new words\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n");
    let changes = diff(&f, &s, Some(&live(vec![]))).unwrap();
    assert_eq!(changes[0].action(), Action::Replace);
    assert_eq!(
        texts(&changes[0]),
        vec!["description (immutable): web → new words"]
    );
    assert_eq!(changes[1].action(), Action::Update);
}

#[test]
fn a_group_in_another_vpc_needs_replacement_and_is_not_touched() {
    let f = Fixture::new();
    let s = spec("description: web\nvpc_id: vpc-2\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, cidr_ip: 10.0.0.0/8}\n");
    let changes = diff(&f, &s, Some(&live(vec![]))).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        texts(&changes[0]),
        vec!["vpc_id (immutable): vpc-1 → vpc-2"]
    );
    // Without vpc_id the default VPC is meant.
    let s = spec("description: web\n");
    let mut l = live(vec![]);
    l.in_default_vpc = false;
    let changes = diff(&f, &s, Some(&l)).unwrap();
    assert_eq!(
        texts(&changes[0]),
        vec!["vpc_id (immutable): vpc-1 → (default VPC)"]
    );
    let s = spec("description: web\nvpc_id: vpc-1\n");
    assert_eq!(diff(&f, &s, Some(&l)).unwrap(), vec![]);
}

#[test]
fn permissions_are_sent_as_the_api_takes_them() {
    let all = Permission::new("all", Some(0), Some(65535), cidr("0.0.0.0/0")).to_sdk();
    assert_eq!(all.ip_protocol(), Some("-1"));
    assert_eq!((all.from_port(), all.to_port()), (None, None));
    let tcp = Permission::new("6", Some(80), Some(90), Source::Group("sg-1".into())).to_sdk();
    assert_eq!(tcp.ip_protocol(), Some("tcp"));
    assert_eq!((tcp.from_port(), tcp.to_port()), (Some(80), Some(90)));
    assert_eq!(tcp.user_id_group_pairs()[0].group_id(), Some("sg-1"));
    let named = Permission::new(
        "tcp",
        Some(80),
        Some(80),
        Source::GroupName {
            name: "amazon-elb-sg".into(),
            owner: "amazon-elb".into(),
        },
    )
    .to_sdk();
    let pair = &named.user_id_group_pairs()[0];
    assert_eq!(
        (pair.group_name(), pair.user_id(), pair.group_id()),
        (Some("amazon-elb-sg"), Some("amazon-elb"), None)
    );
    let icmp = Permission::new("icmp", None, None, cidr("10.0.0.0/8")).to_sdk();
    assert_eq!((icmp.from_port(), icmp.to_port()), (Some(-1), Some(-1)));
}

#[test]
fn the_group_in_the_preferred_vpc_wins_a_shared_name() {
    let g = |id: &str, vpc: &str| {
        aws_sdk_ec2::types::SecurityGroup::builder()
            .group_id(id)
            .group_name("web")
            .vpc_id(vpc)
            .build()
    };
    let (a, b) = (g("sg-b", "vpc-2"), g("sg-a", "vpc-1"));
    let c = [&a, &b];
    assert_eq!(
        pick(&c, Some("vpc-2")).and_then(|g| g.group_id()),
        Some("sg-b")
    );
    assert_eq!(
        pick(&c, Some("vpc-1")).and_then(|g| g.group_id()),
        Some("sg-a")
    );
    // No preference, or nothing there: the lowest id.
    assert_eq!(pick(&c, None).and_then(|g| g.group_id()), Some("sg-a"));
    assert_eq!(
        pick(&c, Some("vpc-9")).and_then(|g| g.group_id()),
        Some("sg-a")
    );
    let live = live_group(&a, Some("vpc-2"));
    assert!(live.in_default_vpc);
    assert!(!live_group(&a, None).in_default_vpc);
}

#[test]
fn facts_are_id_vpc_and_owner() {
    let f = published::<SecurityGroup>("web", &live(vec![]));
    assert_eq!(f["id"], "sg-self");
    assert_eq!(f["vpc_id"], "vpc-1");
    assert_eq!(f["owner_id"], "123456789012");
}

#[test]
fn specs_take_salt_forms_and_reject_unknown_fields() {
    let s = spec("description: d\nrules:\n  - {ip_protocol: -1, cidr_ip: 10.0.0.0/8}\n  - {ip_protocol: tcp, from_port: 1, to_port: 2, cidr_ip: [10.0.0.0/8, 10.1.0.0/16]}\n  - {ip_protocol: 6, from_port: 1, to_port: 2, source_group_name: x, source_group_owner_id: 123456789012}\n");
    assert_eq!(s.rules[0].ip_protocol, "-1");
    assert_eq!(s.rules[0].cidr_ip, vec!["10.0.0.0/8"]);
    assert_eq!(s.rules[1].cidr_ip.len(), 2);
    assert_eq!(s.rules[2].ip_protocol, "6");
    assert_eq!(
        s.rules[2].source_group_owner_id.as_deref(),
        Some("123456789012")
    );
    // The spec survives the loader's JSON round trip.
    let back: SecurityGroupSpec =
        serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back.rules, s.rules);
    assert!(back.rules_egress.is_none());
    let e = serde_saphyr::from_str::<SecurityGroupSpec>("description: d\nvpc: x\n").unwrap_err();
    assert!(e.to_string().contains("vpc"), "{e}");
    let e = serde_saphyr::from_str::<SecurityGroupSpec>("rules: []\n").unwrap_err();
    assert!(e.to_string().contains("description"), "{e}");
    assert!(serde_saphyr::from_str::<SecurityGroupSpec>(
        "description: d\nrules:\n  - {ip_protocol: tcp, port: 1}\n"
    )
    .is_err());
}

#[test]
fn validation_names_the_field_and_the_problem() {
    assert!(SecurityGroup::validate_name("myapp-testing").is_ok());
    assert!(SecurityGroup::validate_name("sg-web")
        .unwrap_err()
        .contains("sg-"));
    assert!(SecurityGroup::validate_name(&"x".repeat(256))
        .unwrap_err()
        .contains("1 to 255"));
    assert!(SecurityGroup::validate_name("wéb")
        .unwrap_err()
        .contains("may contain only"));
    let p = SecurityGroup::validate(
        "web",
        &spec(concat!(
            "description: ''\nvpc_id: default\n",
            "rules:\n",
            "  - {ip_protocol: tcpp, cidr_ip: 10.0.0.0/8}\n",
            "  - {ip_protocol: tcp, from_port: 90, to_port: 80, cidr_ip: 10.0.0.1/8}\n",
            "  - {ip_protocol: udp, cidr_ip: 10.0.0.0/8}\n",
            "  - {ip_protocol: tcp, from_port: 1, to_port: 70000, cidr_ip: 10.0.0.0/8, source_group_name: x}\n",
            "  - {ip_protocol: icmp, from_port: 300, cidr_ipv6: 'nope'}\n",
            "  - {ip_protocol: all, source_group_id: web, source_group_owner_id: 1234}\n",
            "rules_egress:\n",
            "  - {ip_protocol: all}\n",
            "tags: {'aws:x': y, 'converge:managed-by': me}\n",
        )),
    );
    let has = |s: &str| p.iter().any(|m| m.contains(s));
    for want in [
        "description: must be 1 to 255",
        "vpc_id: `default` is not a VPC id",
        "rules[0].ip_protocol: `tcpp`",
        "rules[1].from_port: 90 is greater than to_port 80",
        "rules[1].cidr_ip: `10.0.0.1/8` has bits set beyond its prefix; AWS stores it as 10.0.0.0/8",
        "rules[2]: a udp rule needs from_port and to_port",
        "rules[3].to_port: 70000 must be a port",
        "rules[3]: give exactly one source",
        "rules[4].from_port: 300 must be an ICMP type",
        "rules[4].cidr_ipv6: `nope` is not an IPv6 CIDR block",
        "rules[5].source_group_id: `web` is not a security group id",
        "rules[5].source_group_owner_id: `1234` is not a 12-digit account id",
        "rules_egress[0]: give exactly one source",
        "tags.aws:x: the `aws:` prefix is reserved",
        "tags.converge:managed-by: converge sets this tag itself",
    ] {
        assert!(has(want), "missing `{want}` in {p:#?}");
    }
    let ok = spec("description: myapp security group\nrules:\n  - {ip_protocol: tcp, from_port: 80, to_port: 80, source_group_name: amazon-elb-sg, source_group_owner_id: amazon-elb}\n");
    assert_eq!(SecurityGroup::validate("myapp", &ok), Vec::<String>::new());
}

#[test]
fn cidr_blocks_normalise() {
    assert_eq!(ipv4_network("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
    assert_eq!(ipv4_network("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
    assert_eq!(ipv4_network("10.0.0.0/33"), None);
    assert_eq!(ipv4_network("10.0.0.0"), None);
    assert_eq!(
        ipv6_network("2001:DB8::1/32").as_deref(),
        Some("2001:db8::/32")
    );
    assert_eq!(ipv6_network("::/0").as_deref(), Some("::/0"));
    assert_eq!(ipv6_text("2001:0DB8:0000::/32"), "2001:db8::/32");
    assert_eq!(canonical_protocol("ALL").as_deref(), Some("-1"));
    assert_eq!(canonical_protocol("58").as_deref(), Some("icmpv6"));
    assert_eq!(canonical_protocol("50").as_deref(), Some("50"));
    assert_eq!(canonical_protocol("256"), None);
}

#[test]
fn tags_are_checked_in_characters_and_at_most_49_besides_ours() {
    // 128 three-byte characters (384 bytes) are within AWS's 128 characters.
    let mut s = spec("description: web\n");
    s.tags.insert("é".repeat(128), "ü".repeat(256));
    assert_eq!(SecurityGroup::validate("web", &s), Vec::<String>::new());
    s.tags.insert("k".repeat(129), "v".repeat(257));
    let p = SecurityGroup::validate("web", &s);
    assert!(
        p.iter()
            .any(|m| m.ends_with("a tag key must be 1 to 128 characters long")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.ends_with("a tag value must be at most 256 characters")),
        "{p:?}"
    );
    // 49 tags and converge's own make AWS's 50; one more is refused.
    s.tags = (0..49)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    assert_eq!(SecurityGroup::validate("web", &s), Vec::<String>::new());
    s.tags.insert("one-more".into(), "v".into());
    let p = SecurityGroup::validate("web", &s);
    assert!(
        p.iter().any(|m| m.starts_with("tags: at most 49 tags")),
        "{p:?}"
    );
}

#[test]
fn a_group_named_by_its_vpc_name_is_in_sync_only_in_a_vpc_of_that_name() {
    let f = Fixture::new();
    let s = spec("description: web\nvpc_name: main\n");
    let Ok(create) = diff(&f, &s, None) else {
        panic!("a missing group is created")
    };
    assert!(
        matches!(&create[0], SecurityGroupChange::Create { vpc_name: Some(n), vpc_id: None, .. } if n == "main"),
        "{create:?}"
    );
    assert_eq!(create[0].fields()[1].to_string(), "vpc_name: (none) → main");
    let mut l = live(Vec::new());
    l.egress = Vec::new();
    l.in_default_vpc = false;
    l.named_vpcs = Some(vec!["vpc-1".into()]);
    let s = spec("description: web\nvpc_name: main\nrules_egress: []\n");
    let changes = diff(&f, &s, Some(&l)).unwrap();
    assert!(
        changes.iter().all(|c| c.action() != Action::Replace),
        "in the named VPC: {changes:?}"
    );
    l.named_vpcs = Some(vec!["vpc-2".into()]);
    let changes = diff(&f, &s, Some(&l)).unwrap();
    assert_eq!(changes[0].action(), Action::Replace, "{changes:?}");
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "vpc_name (immutable): vpc-1 → (VPC named main)"
    );
    assert!(
        super::spec::validate(&spec("description: x\nvpc_id: vpc-1\nvpc_name: main\n"))
            .iter()
            .any(|p| p.contains("not both"))
    );
}
