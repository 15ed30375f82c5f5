use std::collections::BTreeMap;

use super::diff::*;
use super::spec::*;
use super::*;
use crate::core::{Action, Change, MANAGED_BY_TAG};
use crate::kinds::common::fixtures::{published, Fixture, CONTROLLER};
use crate::kinds::common::scalar::{CommaList, Flag, Num};

const CERT: &str = "arn:aws:iam::123456789012:server-certificate/a-certificate";

/// The seed's load balancer, as a converge spec.
const SEED: &str = "availability_zones: [us-east-1a, us-east-1d, us-east-1e]
listeners:
  - elb_port: 80
    instance_port: 80
    elb_protocol: HTTP
  - elb_port: 443
    instance_port: 80
    elb_protocol: HTTPS
    instance_protocol: HTTP
    certificate: 'arn:aws:iam::123456789012:server-certificate/a-certificate'
health_check:
  target: 'HTTP:80/'
attributes:
  access_log:
    enabled: true
    s3_bucket_name: 'logs'
    s3_bucket_prefix: 'myapp-testing-useast1'
    emit_interval: '5'
cnames:
  - name: myapp-testing.example.com.
    zone: example.com.
";

fn spec(yaml: &str) -> LoadBalancerSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

fn listener(port: i32, proto: &str, iport: i32, iproto: &str) -> ListenerState {
    ListenerState {
        elb_port: port,
        instance_port: iport,
        elb_protocol: proto.into(),
        instance_protocol: iproto.into(),
        certificate: matches!(proto, "HTTPS" | "SSL").then(|| CERT.to_string()),
    }
}

/// The seed's load balancer as moto returns it after a converge.
fn seed_live() -> LiveLoadBalancer {
    LiveLoadBalancer {
        dns_name: Some("lb.us-east-1.elb.amazonaws.com".into()),
        hosted_zone_id: Some("Z35SXDOTRQ7X7K".into()),
        scheme: Some("internet-facing".into()),
        vpc_id: Some("vpc-1".into()),
        availability_zones: ["us-east-1a", "us-east-1d", "us-east-1e"]
            .map(String::from)
            .into(),
        subnets: ["subnet-1", "subnet-2", "subnet-3"]
            .map(String::from)
            .into(),
        named_subnets: None,
        security_groups: vec!["sg-default-elb".into()],
        listeners: [
            listener(80, "HTTP", 80, "HTTP"),
            listener(443, "HTTPS", 80, "HTTP"),
        ]
        .into_iter()
        .map(|l| (l.elb_port, l))
        .collect(),
        health_check: Some(HealthCheckState {
            target: "HTTP:80/".into(),
            ..aws_default_health_check()
        }),
        attributes: Some(AttributesState {
            access_log: Some(AccessLogState {
                enabled: true,
                s3_bucket_name: Some("logs".into()),
                s3_bucket_prefix: Some("myapp-testing-useast1".into()),
                emit_interval: Some(5),
            }),
            cross_zone_load_balancing: Some(true),
            connection_draining: Some(DrainingState {
                enabled: false,
                timeout: Some(300),
            }),
            idle_timeout: Some(60),
        }),
        tags: BTreeMap::from([(MANAGED_BY_TAG.to_string(), CONTROLLER.to_string())]),
    }
}

#[test]
fn the_seed_load_balancer_is_created_then_given_its_health_check_and_attributes() {
    let f = Fixture::new();
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &spec(SEED), None).unwrap();
    assert_eq!(changes.len(), 3, "{changes:?}");
    let LoadBalancerChange::Create {
        scheme,
        availability_zones,
        subnets,
        subnet_names: _,
        security_groups,
        listeners,
        tags,
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(scheme, &None);
    assert_eq!(
        availability_zones,
        &["us-east-1a", "us-east-1d", "us-east-1e"]
    );
    assert!(subnets.is_empty() && security_groups.is_empty());
    assert_eq!(
        listeners,
        &[
            listener(80, "HTTP", 80, "HTTP"),
            listener(443, "HTTPS", 80, "HTTP")
        ]
    );
    assert_eq!(tags[MANAGED_BY_TAG], "test");
    assert_eq!(
        changes[1],
        LoadBalancerChange::ConfigureHealthCheck {
            live: None,
            desired: HealthCheckState {
                target: "HTTP:80/".into(),
                interval: 30,
                timeout: 5,
                healthy_threshold: 10,
                unhealthy_threshold: 2,
            },
        }
    );
    let LoadBalancerChange::SetAttributes { send, .. } = &changes[2] else {
        panic!("{changes:?}")
    };
    assert_eq!(
        send,
        &AttributesState {
            access_log: Some(AccessLogState {
                enabled: true,
                s3_bucket_name: Some("logs".into()),
                s3_bucket_prefix: Some("myapp-testing-useast1".into()),
                emit_interval: Some(5),
            }),
            ..Default::default()
        }
    );
    let plan: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
    assert!(
        plan.contains(&format!(
            "listeners.443: (none) → HTTPS:443 to HTTP:80 [{CERT}]"
        )),
        "{plan:?}"
    );
}

#[test]
fn a_converged_load_balancer_needs_nothing_whatever_is_not_written() {
    // moto's default security group, the subnets it picked, cross-zone balancing and the
    // draining timeout are not in the spec: none of them is a difference.
    let f = Fixture::new();
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &spec(SEED), Some(&seed_live())).unwrap();
    assert_eq!(changes, vec![]);
}

#[test]
fn a_changed_listener_port_replaces_only_that_listener() {
    let f = Fixture::new();
    let s = spec(&SEED.replace("elb_port: 443", "elb_port: 8443"));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&seed_live())).unwrap();
    assert_eq!(
        changes,
        vec![
            LoadBalancerChange::DeleteListeners(vec![listener(443, "HTTPS", 80, "HTTP")]),
            LoadBalancerChange::CreateListeners(vec![listener(8443, "HTTPS", 80, "HTTP")]),
        ]
    );
    assert_eq!(changes[0].action(), Action::Update);
}

#[test]
fn a_listener_that_differs_in_anything_is_deleted_and_created_again_and_a_missing_one_created() {
    let f = Fixture::new();
    let mut live = seed_live();
    // Out of band: 443 now forwards HTTPS, and 80 was deleted.
    live.listeners
        .insert(443, listener(443, "HTTPS", 80, "HTTPS"));
    live.listeners.remove(&80);
    live.listeners
        .insert(9000, listener(9000, "TCP", 9000, "TCP"));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &spec(SEED), Some(&live)).unwrap();
    assert_eq!(
        changes,
        vec![
            LoadBalancerChange::DeleteListeners(vec![
                listener(443, "HTTPS", 80, "HTTPS"),
                listener(9000, "TCP", 9000, "TCP"),
            ]),
            LoadBalancerChange::CreateListeners(vec![
                listener(80, "HTTP", 80, "HTTP"),
                listener(443, "HTTPS", 80, "HTTP"),
            ]),
        ]
    );
}

#[test]
fn instance_protocol_defaults_to_elb_protocol_as_salt_does() {
    let s = spec(
        "availability_zones: [a]\nlisteners:\n  - {elb_port: '443', instance_port: 8443, elb_protocol: https, certificate: 'arn:aws:iam::1:server-certificate/c'}\n  - {elb_port: 25, instance_port: 25, elb_protocol: tcp}\n",
    );
    let l = desired_listeners(&s);
    assert_eq!(l[&443].elb_protocol, "HTTPS");
    assert_eq!(l[&443].instance_protocol, "HTTPS");
    assert_eq!(l[&25].instance_protocol, "TCP");
}

#[test]
fn zones_are_enabled_before_extra_ones_are_disabled_and_subnets_alike() {
    let f = Fixture::new();
    let s = spec(&SEED.replace("us-east-1e]", "us-east-1f]"));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&seed_live())).unwrap();
    assert_eq!(
        changes,
        vec![
            LoadBalancerChange::EnableZones(vec!["us-east-1f".into()]),
            LoadBalancerChange::DisableZones(vec!["us-east-1e".into()]),
        ]
    );

    let s = spec(&SEED.replace(
        "availability_zones: [us-east-1a, us-east-1d, us-east-1e]",
        "subnets: [subnet-1, subnet-9]",
    ));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&seed_live())).unwrap();
    assert_eq!(
        changes,
        vec![
            LoadBalancerChange::AttachSubnets(vec!["subnet-9".into()]),
            LoadBalancerChange::DetachSubnets(vec!["subnet-2".into(), "subnet-3".into()]),
        ]
    );

    // By name: the ids this sweep resolved; unresolved names leave the subnets alone.
    let s = spec(&SEED.replace(
        "availability_zones: [us-east-1a, us-east-1d, us-east-1e]",
        "subnet_names: [web-a, web-b]",
    ));
    let mut live = seed_live();
    live.named_subnets = Some(["subnet-1", "subnet-9"].map(String::from).into());
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap();
    assert_eq!(
        changes,
        vec![
            LoadBalancerChange::AttachSubnets(vec!["subnet-9".into()]),
            LoadBalancerChange::DetachSubnets(vec!["subnet-2".into(), "subnet-3".into()]),
        ]
    );
    live.named_subnets = None;
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    let created = LoadBalancer::diff(&f.ctx(), "lb", &s, None).unwrap();
    assert!(
        matches!(&created[0], LoadBalancerChange::Create { subnet_names, subnets, .. } if subnet_names == &["web-a", "web-b"] && subnets.is_empty()),
        "{created:?}"
    );
}

#[test]
fn health_check_fields_left_out_take_aws_defaults() {
    let f = Fixture::new();
    let mut live = seed_live();
    live.health_check = Some(aws_default_health_check());
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &spec(SEED), Some(&live)).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    // Only the target differs from a new load balancer's default check.
    let fields: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
    assert_eq!(fields, vec!["health_check.target: TCP:80 → HTTP:80/"]);

    // A changed interval is drift back to the default.
    live.health_check = Some(HealthCheckState {
        target: "HTTP:80/".into(),
        interval: 10,
        ..aws_default_health_check()
    });
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &spec(SEED), Some(&live)).unwrap();
    let fields: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
    assert_eq!(fields, vec!["health_check.interval: 10 → 30"]);

    // Written fields win; the protocol is compared in AWS's upper case.
    let s = spec(&SEED.replace(
        "target: 'HTTP:80/'",
        "target: 'http:80/'\n  interval: '10'\n  healthy_threshold: 3",
    ));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap();
    let fields: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
    assert_eq!(fields, vec!["health_check.healthy_threshold: 10 → 3"]);

    // Without `health_check` the check is not managed at all.
    let s = spec(&SEED.replace("health_check:\n  target: 'HTTP:80/'\n", ""));
    assert_eq!(
        LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn only_written_attributes_are_compared_and_unwritten_fields_are_sent_as_read() {
    let f = Fixture::new();
    let mut live = seed_live();
    if let Some(a) = live.attributes.as_mut() {
        a.access_log = Some(AccessLogState {
            enabled: true,
            s3_bucket_name: Some("logs".into()),
            s3_bucket_prefix: Some("keep-me".into()),
            emit_interval: Some(60),
        });
    }
    // The seed writes emit_interval as the string '5'; the prefix is left out here.
    let s = spec(&SEED.replace("    s3_bucket_prefix: 'myapp-testing-useast1'\n", ""));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap();
    let [LoadBalancerChange::SetAttributes { fields, send }] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(
        fields,
        &[(
            "access_log.emit_interval".to_string(),
            Some("60".to_string()),
            "5".to_string()
        )]
    );
    assert_eq!(
        send,
        &AttributesState {
            access_log: Some(AccessLogState {
                enabled: true,
                s3_bucket_name: Some("logs".into()),
                s3_bucket_prefix: Some("keep-me".into()),
                emit_interval: Some(5),
            }),
            ..Default::default()
        },
        "only the block that differs is written, with the live prefix kept"
    );
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "attributes.access_log.emit_interval: 60 → 5"
    );

    // Other blocks, written in Salt's spelling.
    let base = SEED.replace(
        "cnames:\n  - name: myapp-testing.example.com.\n    zone: example.com.\n",
        "",
    );
    let s = spec(&format!(
        "{base}  cross_zone_load_balancing: {{enabled: true}}\n  connection_draining: {{enabled: true, timeout: 20}}\n  connecting_settings: {{idle_timeout: 60}}\n"
    ));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&seed_live())).unwrap();
    let [LoadBalancerChange::SetAttributes { fields, send }] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(
        fields.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["connection_draining.enabled", "connection_draining.timeout"]
    );
    assert_eq!(
        send.connection_draining,
        Some(DrainingState {
            enabled: true,
            timeout: Some(20)
        })
    );
    assert_eq!(send.access_log, None);
    assert_eq!(send.cross_zone_load_balancing, None);
}

#[test]
fn a_disabled_access_log_compares_only_enabled() {
    let f = Fixture::new();
    let mut live = seed_live();
    if let Some(a) = live.attributes.as_mut() {
        a.access_log = Some(AccessLogState {
            enabled: false,
            ..Default::default()
        });
    }
    let s = spec(&SEED.replace("enabled: true", "enabled: false"));
    assert_eq!(
        LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn security_group_names_resolve_through_facts_and_wait_while_missing() {
    let s = spec(&format!("{SEED}security_groups: [web, sg-0123]\n"));
    // The group is desired and not created yet: wait for it.
    let desired = Fixture::new().desired(refs::security_group::KIND, "web");
    let pending = LoadBalancer::diff(&desired.ctx(), "lb", &s, None).unwrap_err();
    assert_eq!(pending.waiting_for, "SecurityGroup/web");
    // A name not desired here cannot be sent either: also shown as awaited.
    let pending = LoadBalancer::diff(&Fixture::new().ctx(), "lb", &s, None).unwrap_err();
    assert_eq!(pending.waiting_for, "SecurityGroup/web");
    // Once it exists its id is used; an sg- id passes through.
    let created = Fixture::new()
        .desired(refs::security_group::KIND, "web")
        .fact(refs::security_group::ID, "web", "sg-web1");
    let c = created.ctx();
    let changes = LoadBalancer::diff(&c, "lb", &s, None).unwrap();
    let LoadBalancerChange::Create {
        security_groups, ..
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(security_groups, &["sg-web1", "sg-0123"]);
    // On an existing load balancer the set is compared, not the order.
    let changes = LoadBalancer::diff(&c, "lb", &s, Some(&seed_live())).unwrap();
    assert_eq!(
        changes,
        vec![LoadBalancerChange::SetSecurityGroups {
            live: vec!["sg-default-elb".into()],
            desired: vec!["sg-web1".into(), "sg-0123".into()],
        }]
    );
    let mut live = seed_live();
    live.security_groups = vec!["sg-0123".into(), "sg-web1".into()];
    assert_eq!(
        LoadBalancer::diff(&c, "lb", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn a_scheme_difference_needs_replacement() {
    let f = Fixture::new();
    let s = spec(&format!("{SEED}scheme: internal\n"));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&seed_live())).unwrap();
    assert_eq!(changes[0].action(), Action::Replace);
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "scheme (immutable): internet-facing → internal"
    );
}

#[test]
fn an_unowned_load_balancer_is_adopted_by_tagging_and_stray_tags_removed() {
    let f = Fixture::new();
    let mut live = seed_live();
    live.tags = BTreeMap::from([
        ("stray".to_string(), "1".to_string()),
        ("aws:cloudformation:stack-name".to_string(), "x".to_string()),
    ]);
    let s = spec(&format!("{SEED}tags: {{team: ops}}\n"));
    let changes = LoadBalancer::diff(&f.ctx(), "lb", &s, Some(&live)).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        changes[0],
        LoadBalancerChange::Tag(BTreeMap::from([
            (MANAGED_BY_TAG.to_string(), (None, "test".to_string())),
            ("team".to_string(), (None, "ops".to_string())),
        ]))
    );
    assert_eq!(
        changes[1],
        LoadBalancerChange::Untag(BTreeMap::from([("stray".to_string(), "1".to_string())]))
    );
}

#[test]
fn cnames_expand_into_dns_records_pointing_at_the_load_balancer() {
    let s = spec(&format!("{SEED}  - name: WWW.example.org\n    ttl: '60'\n"));
    let derived = LoadBalancer::expand("myapp-testing-useast1", &s, "us-east-1");
    assert_eq!(
        derived,
        vec![
            Derived {
                kind: refs::dns_record::KIND,
                name: "myapp-testing.example.com.".into(),
                spec: serde_json::json!({
                    "zone": "example.com.",
                    "name": "myapp-testing.example.com.",
                    "type": "CNAME",
                    "ttl": 300,
                    "values": ["loadbalancer:us-east-1/myapp-testing-useast1"],
                }),
            },
            Derived {
                kind: refs::dns_record::KIND,
                name: "www.example.org.".into(),
                spec: serde_json::json!({
                    "name": "www.example.org.",
                    "type": "CNAME",
                    "ttl": 60,
                    "values": ["loadbalancer:us-east-1/myapp-testing-useast1"],
                }),
            },
        ]
    );
    assert!(LoadBalancer::expand("lb", &LoadBalancerSpec::default(), "us-east-1").is_empty());
}

#[test]
fn facts_are_the_dns_name_and_hosted_zone() {
    let f = published::<LoadBalancer>("lb", &seed_live());
    assert_eq!(f["dns_name"], "lb.us-east-1.elb.amazonaws.com");
    assert_eq!(f["hosted_zone_id"], "Z35SXDOTRQ7X7K");
    assert!(published::<LoadBalancer>("lb", &LiveLoadBalancer::default()).is_empty());
}

#[test]
fn the_seed_is_valid_and_the_yaml_forms_salt_users_write_are_accepted() {
    assert_eq!(
        LoadBalancer::validate("lb", &spec(SEED)),
        Vec::<String>::new()
    );
    let s = spec("subnets: [subnet-1]\nsecurity_groups: 'web, sg-1'\nlisteners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP}]\nattributes:\n  connection_settings: {idle_timeout: '30'}\n  cross_zone_load_balancing: {enabled: 'true'}\n");
    assert_eq!(
        s.security_groups,
        Some(CommaList(vec!["web".into(), "sg-1".into()]))
    );
    let a = s.attributes.as_ref().unwrap();
    assert_eq!(
        a.connecting_settings.as_ref().unwrap().idle_timeout,
        Num(30)
    );
    assert_eq!(
        a.cross_zone_load_balancing.as_ref().unwrap().enabled,
        Flag(true)
    );
    assert_eq!(LoadBalancer::validate("lb", &s), Vec::<String>::new());
    // The typed spec survives the loader's JSON round trip.
    let v = serde_json::to_value(spec(SEED)).unwrap();
    let back: LoadBalancerSpec = serde_json::from_value(v).unwrap();
    assert_eq!(desired_listeners(&back), desired_listeners(&spec(SEED)));
}

#[test]
fn unknown_fields_and_malformed_values_are_schema_errors() {
    for bad in [
        "listeners: [{elb_port: 80, instance_port: 80, elb_protocol: HTTP, policies: []}]\n",
        "availability_zones: [a]\nlisteners: []\nhealth_chek: {}\n",
        "listeners: [{elb_port: eighty, instance_port: 80, elb_protocol: HTTP}]\n",
        "attributes: {access_log: {enabled: maybe}}\n",
    ] {
        assert!(
            serde_saphyr::from_str::<LoadBalancerSpec>(bad).is_err(),
            "accepted: {bad}"
        );
    }
}

#[test]
fn validation_names_the_field_at_fault() {
    assert!(LoadBalancer::validate_name("myapp-testing-useast1").is_ok());
    for (bad, why) in [
        ("", "1 to 32"),
        (&"x".repeat(33), "1 to 32"),
        ("my_lb", "letters, digits"),
        ("-lb", "begin or end"),
        ("internal-lb", "internal-"),
    ] {
        assert!(
            LoadBalancer::validate_name(bad).unwrap_err().contains(why),
            "{bad}"
        );
    }
    let p = LoadBalancer::validate(
        "lb",
        &spec("availability_zones: [a]\nsubnets: [s]\nscheme: public\nlisteners:\n  - {elb_port: 443, instance_port: 80, elb_protocol: HTTPS, instance_protocol: TCP}\n  - {elb_port: 443, instance_port: 70000, elb_protocol: FTP}\n  - {elb_port: 80, instance_port: 80, elb_protocol: HTTP, certificate: 'arn:aws:iam::1:server-certificate/c'}\nhealth_check: {target: 'HTTP:80', interval: 5, timeout: 5, healthy_threshold: 11}\nattributes:\n  access_log: {enabled: true, s3_bucket_prefix: '/logs', emit_interval: 10}\n  connection_draining: {enabled: true, timeout: 0}\ncnames:\n  - {name: 'www.example.com', zone: example.org.}\ntags: {'aws:x': y}\n"),
    );
    for expected in [
        "availability_zones, subnets, subnet_names: give exactly one",
        "subnets: `s` is not a subnet id",
        "scheme: `public`",
        "listeners[0].instance_protocol: a HTTPS listener forwards over HTTP or HTTPS, not TCP",
        "listeners[0].certificate: an HTTPS listener needs",
        "listeners[1].instance_port: 70000 must be from 1 to 65535",
        "listeners[1].elb_port: port 443 has more than one listener",
        "listeners[1].elb_protocol: `FTP`",
        "listeners[2].certificate: only HTTPS and SSL",
        "health_check.target: `HTTP:80` must be",
        "health_check.healthy_threshold: 11 must be from 2 to 10",
        "health_check.timeout: 5 s must be less than the interval (5 s)",
        "attributes.access_log.s3_bucket_name: an enabled access log needs a bucket",
        "attributes.access_log.s3_bucket_prefix: `/logs`",
        "attributes.access_log.emit_interval: 10 must be 5 or 60",
        "attributes.connection_draining.timeout: 0 must be from 1 to 3600",
        "cnames[0].zone: `www.example.com` is not inside zone `example.org.`",
        "tags.aws:x: the `aws:` prefix is reserved",
    ] {
        assert!(
            p.iter().any(|m| m.starts_with(expected)),
            "missing `{expected}` in {p:#?}"
        );
    }
    let p = LoadBalancer::validate("lb", &spec("listeners: []\nsecurity_groups: []\n"));
    assert!(p.iter().any(|m| m.contains("give exactly one")), "{p:?}");
    assert!(
        p.iter().any(|m| m.contains("at least one listener")),
        "{p:?}"
    );
}

#[test]
fn tags_are_checked_by_the_rules_every_kind_shares() {
    let base = SEED.replace(
        "cnames:\n  - name: myapp-testing.example.com.\n    zone: example.com.\n",
        "",
    );
    let mut s = spec(&base);
    s.tags = (0..49)
        .map(|i| (format!("k{i}"), "é".repeat(256)))
        .collect();
    assert_eq!(LoadBalancer::validate("lb", &s), Vec::<String>::new());
    s.tags.insert("one-more".into(), "v".into());
    s.tags.insert(MANAGED_BY_TAG.into(), "me".into());
    assert_eq!(
        LoadBalancer::validate("lb", &s),
        vec![
            "tags.converge:managed-by: converge sets this tag itself (from --controller-id)",
            "tags: at most 49 tags (AWS allows 50, one is converge's own `converge:managed-by`)",
        ]
    );
}

#[test]
fn subnet_names_beside_subnets_or_empty_are_refused() {
    let with = |zones: &str| {
        super::spec::validate(&spec(&SEED.replace(
            "availability_zones: [us-east-1a, us-east-1d, us-east-1e]",
            zones,
        )))
    };
    assert!(with("subnet_names: [a]\nsubnets: [subnet-1]")
        .iter()
        .any(|p| p.contains("not several")));
    assert!(with("subnet_names: []")
        .iter()
        .any(|p| p.contains("subnet_names: the list cannot be empty")));
    assert!(with("subnet_names: [a, a]")
        .iter()
        .any(|p| p.contains("listed twice")));
    assert!(with("subnet_names: [a, b]").is_empty());
}
