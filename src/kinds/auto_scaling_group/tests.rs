use std::collections::{BTreeMap, BTreeSet};

use super::diff::{desired_tags, GroupUpdate, LiveTemplateRef, TagValue};
use super::launch::template::{self, LiveTemplate};
use super::launch::{config, DesiredLaunch, LaunchRef, TemplateVersion};
use super::policies::LivePolicy;
use super::spec::{CloudInit, TagSpec};
use super::user_data::{self, MIME_BOUNDARY};
use super::*;
use crate::core::{Change, MANAGED_BY_TAG};
use crate::kinds::common::fixtures::{published, Fixture};
use crate::kinds::common::scalar::Scalar;

/// The seed's group (myapp.sls), with two instances instead of thirty.
const SEED: &str = r#"
launch_config_name: myapp-testing-useast1
launch_config:
  - image_id: ami-fakeami
  - key_name: example-key
  - security_groups:
    - base
    - myapp
    - myapp-testing
  - instance_type: c3.large
  - instance_monitoring: true
  - cloud_init:
      scripts:
        salt: |
          #!/bin/bash
          apt-get -y update
          time /srv/pulldeploy/venv/bin/python /srv/pulldeploy/pulldeploy.py myapp testing -v && salt-call state.sls elb.register
availability_zones:
  - us-east-1a
  - us-east-1d
  - us-east-1e
suspended_processes:
  - AddToLoadBalancer
min_size: 2
max_size: 2
load_balancers:
  - myapp-testing-useast1
instance_profile_name: myapp-testing-useast1
scaling_policies:
  - name: ScaleDown
    adjustment_type: ChangeInCapacity
    scaling_adjustment: -1
    cooldown: 1800
  - name: ScaleUp
    adjustment_type: ChangeInCapacity
    scaling_adjustment: 5
    cooldown: 1800
tags:
  - key: 'Name'
    value: 'myapp-testing-useast1'
    propagate_at_launch: true
"#;

fn spec(yaml: &str) -> AutoScalingGroupSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

/// A fixture in which the SecurityGroup kind has listed `groups` (name → id).
fn listed(groups: &[(&str, &str)]) -> Fixture {
    groups.iter().fold(
        Fixture::new().listed(refs::security_group::KIND),
        |f, (n, id)| f.fact(refs::security_group::ID, n, id),
    )
}

fn seed() -> Fixture {
    listed(&[("myapp", "sg-11111111"), ("myapp-testing", "sg-22222222")])
}

/// The live group exactly as `diff` would leave `s` (owned by "test").
fn converged(name: &str, s: &AutoScalingGroupSpec, f: &Fixture) -> LiveAutoScalingGroup {
    let c = f.ctx();
    let lc = match DesiredLaunch::of(&c, name, s).unwrap().unwrap() {
        DesiredLaunch::Config { name, .. } => name,
        DesiredLaunch::Template { .. } | DesiredLaunch::Existing { .. } => {
            panic!("launch config expected")
        }
    };
    LiveAutoScalingGroup {
        arn: format!(
            "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/{name}"
        ),
        min_size: s.min_size,
        max_size: s.max_size,
        desired_capacity: s.desired_capacity.unwrap_or(s.min_size),
        default_cooldown: Some(300),
        health_check_type: Some("EC2".into()),
        health_check_period: Some(300),
        availability_zones: s.availability_zones.iter().cloned().collect(),
        subnets: BTreeSet::new(),
        named_subnets: None,
        load_balancers: s.load_balancers.iter().flatten().cloned().collect(),
        termination_policies: vec!["Default".into()],
        suspended_processes: s.suspended_processes.clone(),
        tags: desired_tags(&c, s),
        launch_configuration: Some(lc.clone()),
        launch_template: None,
        policies: s
            .scaling_policies
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    LivePolicy {
                        arn: format!("arn:policy/{}", p.name),
                        policy_type: Some("SimpleScaling".into()),
                        adjustment_type: Some(p.adjustment_type.clone()),
                        scaling_adjustment: Some(p.scaling_adjustment),
                        cooldown: p.cooldown.or(Some(300)),
                        min_adjustment_magnitude: p.min_adjustment_magnitude,
                    },
                )
            })
            .collect(),
        launch_configs: BTreeMap::from([(lc, false)]),
        template: None,
    }
}

#[test]
fn the_seed_group_is_created_with_its_launch_configuration_processes_and_policies() {
    let f = seed();
    let s = spec(SEED);
    let changes = AutoScalingGroup::diff(&f.ctx(), "myapp-testing-useast1", &s, None).unwrap();
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| match c {
            AutoScalingGroupChange::CreateLaunchConfiguration { .. } => "lc",
            AutoScalingGroupChange::CreateGroup(_) => "group",
            AutoScalingGroupChange::SuspendProcesses(_) => "suspend",
            AutoScalingGroupChange::PutScalingPolicy { .. } => "policy",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(actions, ["lc", "group", "suspend", "policy", "policy"]);
    let AutoScalingGroupChange::CreateLaunchConfiguration { name, instance } = &changes[0] else {
        panic!()
    };
    assert!(name.starts_with("myapp-testing-useast1-"), "{name}");
    assert_eq!(config::lc_prefix(name), Some("myapp-testing-useast1"));
    // Names resolve to ids through the facts; `base` is neither desired nor known: as written.
    assert_eq!(
        instance.security_groups,
        ["base", "sg-11111111", "sg-22222222"]
    );
    assert_eq!(
        instance.iam_instance_profile.as_deref(),
        Some("myapp-testing-useast1")
    );
    assert_eq!(instance.instance_monitoring, Some(true));
    let ud = instance.user_data.as_deref().unwrap();
    assert!(ud.starts_with("Content-Type: multipart/mixed;"), "{ud}");
    assert!(ud.contains("Content-Type: text/x-shellscript; charset=\"us-ascii\""));
    assert!(ud.contains("salt-call state.sls elb.register\n"));
    let AutoScalingGroupChange::CreateGroup(g) = &changes[1] else {
        panic!()
    };
    assert_eq!(g.launch, LaunchRef::Config(name.clone()));
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (2, 2, None));
    assert_eq!(g.load_balancers, ["myapp-testing-useast1"]);
    assert_eq!(
        g.tags["Name"],
        TagValue {
            value: "myapp-testing-useast1".into(),
            propagate_at_launch: true
        }
    );
    assert_eq!(
        g.tags[MANAGED_BY_TAG],
        TagValue {
            value: "test".into(),
            propagate_at_launch: false
        }
    );
    assert_eq!(
        changes[2],
        AutoScalingGroupChange::SuspendProcesses(BTreeSet::from(["AddToLoadBalancer".to_string()]))
    );
    // Plans never show the script.
    let shown: Vec<String> = changes[0].fields().iter().map(|f| f.to_string()).collect();
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("launch_config.user_data: (none) → <user data, ")),
        "{shown:?}"
    );
    assert!(!shown.iter().any(|l| l.contains("apt-get")), "{shown:?}");
}

#[test]
fn a_converged_group_needs_nothing_and_desired_capacity_omitted_never_diffs() {
    let f = seed();
    let s = spec(SEED);
    let mut live = converged("g", &s, &f);
    live.desired_capacity = 7; // the scaling policies moved it
    live.tags.insert(
        "aws:cloudformation:stack-name".into(),
        TagValue {
            value: "x".into(),
            propagate_at_launch: true,
        },
    );
    assert_eq!(
        AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap(),
        vec![]
    );
    // Written, it is enforced.
    let s2 = spec(&SEED.replace(
        "min_size: 2\nmax_size: 2",
        "min_size: 2\nmax_size: 9\ndesired_capacity: 3",
    ));
    let live2 = LiveAutoScalingGroup {
        max_size: 9,
        ..live
    };
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s2, Some(&live2)).unwrap();
    assert_eq!(
        changes,
        vec![AutoScalingGroupChange::UpdateGroup(Box::new(GroupUpdate {
            desired_capacity: Some((7, 3)),
            ..GroupUpdate::default()
        }))]
    );
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "desired_capacity: 7 → 3"
    );
}

#[test]
fn the_launch_configuration_hash_is_stable_and_covers_every_resolved_field() {
    let f = seed();
    let s = spec(SEED);
    let lc = |s: &AutoScalingGroupSpec, f: &Fixture| {
        let c = f.ctx();
        match DesiredLaunch::of(&c, "g", s).unwrap().unwrap() {
            DesiredLaunch::Config { name, .. } => name,
            DesiredLaunch::Template { .. } | DesiredLaunch::Existing { .. } => unreachable!(),
        }
    };
    let first = lc(&s, &f);
    // The same spec gives the same name, in every process and build (pinned here: a change
    // to the hash would roll every group converge manages).
    assert_eq!(first, lc(&spec(SEED), &f));
    assert_eq!(first, "myapp-testing-useast1-2ef3105b");
    // Order of security groups is not content.
    let reordered = SEED.replace(
        "    - base\n    - myapp\n    - myapp-testing\n",
        "    - myapp-testing\n    - base\n    - myapp\n",
    );
    assert_eq!(first, lc(&spec(&reordered), &f));
    // A plain map is the same launch configuration as Salt's list of one-key maps.
    let as_map = spec(
        &SEED
            .replace("  - image_id", "  image_id")
            .replace("  - key_name", "  key_name")
            .replace(
                "  - security_groups:\n    - base\n    - myapp\n    - myapp-testing\n",
                "  security_groups: [base, myapp, myapp-testing]\n",
            )
            .replace("  - instance_type", "  instance_type")
            .replace("  - instance_monitoring", "  instance_monitoring")
            .replace(
                "  - cloud_init:\n      scripts:\n        salt: |\n          ",
                "  cloud_init:\n    scripts:\n      salt: |\n        ",
            )
            .replace("\n          apt-get", "\n        apt-get")
            .replace("\n          time", "\n        time"),
    );
    assert_eq!(first, lc(&as_map, &f));
    // Every field counts: instance type, user data, a resolved group id, the profile.
    assert_ne!(first, lc(&spec(&SEED.replace("c3.large", "c3.xlarge")), &f));
    assert_ne!(
        first,
        lc(
            &spec(&SEED.replace("apt-get -y update", "apt-get update")),
            &f
        )
    );
    assert_ne!(
        first,
        lc(
            &s,
            &listed(&[("myapp", "sg-11111111"), ("myapp-testing", "sg-33333333")])
        )
    );
    assert_ne!(
        first,
        lc(
            &spec(&SEED.replace(
                "instance_profile_name: myapp-testing-useast1",
                "instance_profile_name: other"
            )),
            &f
        )
    );
    // Group settings are not launch-configuration content.
    assert_eq!(
        first,
        lc(&spec(&SEED.replace("max_size: 2", "max_size: 3")), &f)
    );
}

#[test]
fn a_changed_launch_configuration_rolls_the_group_and_deletes_the_old_one() {
    let f = seed();
    let s = spec(SEED);
    let mut live = converged("g", &s, &f);
    let old = live.launch_configuration.clone().unwrap();
    // An older leftover of ours, and one another group still uses.
    live.launch_configs
        .insert("myapp-testing-useast1-00000000".into(), false);
    live.launch_configs
        .insert("myapp-testing-useast1-11111111".into(), true);
    let s2 = spec(&SEED.replace("c3.large", "c3.xlarge"));
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s2, Some(&live)).unwrap();
    assert_eq!(changes.len(), 3, "{changes:#?}");
    let AutoScalingGroupChange::CreateLaunchConfiguration {
        name: new,
        instance,
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_ne!(new, &old);
    assert_eq!(instance.instance_type, "c3.xlarge");
    let AutoScalingGroupChange::UpdateGroup(u) = &changes[1] else {
        panic!()
    };
    assert_eq!(
        u.launch,
        Some((
            Some(format!("launch configuration {old}")),
            LaunchRef::Config(new.clone())
        ))
    );
    assert_eq!(
        changes[2],
        AutoScalingGroupChange::DeleteLaunchConfigurations(vec![
            "myapp-testing-useast1-00000000".to_string(),
            old.clone()
        ])
    );
    // After a crash between create and update, the existing one is used, not created again.
    live.launch_configs.insert(new.clone(), false);
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s2, Some(&live)).unwrap();
    assert!(
        matches!(&changes[0], AutoScalingGroupChange::UpdateGroup(_)),
        "{changes:?}"
    );
    // Once moved, only the leftovers go.
    live.launch_configuration = Some(new.clone());
    live.launch_configs.remove(&old);
    live.launch_configs.remove("myapp-testing-useast1-00000000");
    assert_eq!(
        AutoScalingGroup::diff(&f.ctx(), "g", &s2, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn cloud_init_renders_the_same_mime_bytes_every_time_with_parts_sorted() {
    let ci: CloudInit = serde_saphyr::from_str(
        "scripts:\n  b-second: \"#!/bin/sh\\necho b\\n\"\n  a-first: \"#!/bin/sh\\necho a\"\nboothooks:\n  hook: \"#cloud-boothook\\necho h\\n\"\ncloud-config:\n  packages: [git]\n  apt_update: true\n",
    )
    .unwrap();
    let b = MIME_BOUNDARY;
    let expected = format!(
        "Content-Type: multipart/mixed; boundary=\"{b}\"\nMIME-Version: 1.0\n\n\
         --{b}\nContent-Type: text/cloud-boothook; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\n#cloud-boothook\necho h\n\n\
         --{b}\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\n#!/bin/sh\necho a\n\
         --{b}\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\n#!/bin/sh\necho b\n\n\
         --{b}\nContent-Type: text/cloud-config; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n\napt_update: true\npackages:\n- git\n\n\
         --{b}--\n"
    );
    let got = user_data::render_cloud_init(&ci);
    assert_eq!(got, expected);
    assert_eq!(user_data::render_cloud_init(&ci.clone()), got);
    // Non-ASCII text goes as base64 UTF-8, as Python's MIMEText does.
    let ci = CloudInit {
        scripts: BTreeMap::from([("s".into(), "#!/bin/bash\necho héllo\n".into())]),
        ..CloudInit::default()
    };
    assert!(user_data::render_cloud_init(&ci).contains(
        "Content-Type: text/x-shellscript; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\nIyEvYmluL2Jhc2gKZWNobyBow6lsbG8K\n\n--"
    ));
    // A part that contains the boundary gets another one.
    let ci = CloudInit {
        scripts: BTreeMap::from([("s".into(), format!("echo {MIME_BOUNDARY}\n"))]),
        ..CloudInit::default()
    };
    assert!(user_data::render_cloud_init(&ci).contains(&format!("boundary=\"{MIME_BOUNDARY}1\"")));
}

#[test]
fn suspended_processes_change_by_their_difference_only() {
    let f = seed();
    let s = spec(&SEED.replace(
        "suspended_processes:\n  - AddToLoadBalancer",
        "suspended_processes: [AddToLoadBalancer, AZRebalance]",
    ));
    let mut live = converged("g", &s, &f);
    live.suspended_processes = BTreeSet::from(["AZRebalance".into(), "Launch".into()]);
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap();
    assert_eq!(
        changes,
        vec![
            AutoScalingGroupChange::ResumeProcesses(BTreeSet::from(["Launch".into()])),
            AutoScalingGroupChange::SuspendProcesses(BTreeSet::from(["AddToLoadBalancer".into()])),
        ]
    );
    assert_eq!(
        changes[1].fields()[0].to_string(),
        "suspended_processes.AddToLoadBalancer: (none) → suspended"
    );
}

#[test]
fn scaling_policies_are_put_when_missing_or_different_and_others_deleted() {
    let f = seed();
    let s = spec(SEED);
    let mut live = converged("g", &s, &f);
    live.policies.remove("ScaleUp");
    live.policies
        .get_mut("ScaleDown")
        .unwrap()
        .scaling_adjustment = Some(-2);
    let stray = LivePolicy {
        arn: "arn:policy/Stray".into(),
        policy_type: Some("TargetTrackingScaling".into()),
        adjustment_type: None,
        scaling_adjustment: None,
        cooldown: None,
        min_adjustment_magnitude: None,
    };
    live.policies.insert("Stray".into(), stray.clone());
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap();
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(
        matches!(&changes[0], AutoScalingGroupChange::PutScalingPolicy { policy, live: Some(l) } if policy.name == "ScaleDown" && l.scaling_adjustment == Some(-2))
    );
    assert!(
        matches!(&changes[1], AutoScalingGroupChange::PutScalingPolicy { policy, live: None } if policy.name == "ScaleUp")
    );
    assert_eq!(
        changes[2],
        AutoScalingGroupChange::DeleteScalingPolicy {
            name: "Stray".into(),
            live: stray
        }
    );
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "scaling_policies.ScaleDown: ChangeInCapacity -2, cooldown 1800 → ChangeInCapacity -1, cooldown 1800"
    );
    // A cooldown left out is the group's default: not compared.
    let s = spec(&SEED.replace("    cooldown: 1800\n", ""));
    let live = converged("g", &s, &f);
    assert_eq!(live.policies["ScaleUp"].cooldown, Some(300));
    assert_eq!(
        AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap(),
        vec![]
    );
    // The ARNs are published for alarms.
    let facts = published::<AutoScalingGroup>("g", &live);
    assert_eq!(facts["policy:ScaleUp"], "arn:policy/ScaleUp");
    assert_eq!(
        facts["launch_configuration"],
        live.launch_configuration.clone().unwrap()
    );
    assert!(facts["arn"].ends_with("autoScalingGroupName/g"));
}

#[test]
fn tags_as_a_list_or_a_map_and_an_unowned_group_is_adopted() {
    let list = spec("min_size: 0\nmax_size: 1\ntags:\n  - {key: a, value: 1}\n  - {key: b, value: x, propagate_at_launch: true}\n");
    assert_eq!(
        list.tags.0,
        vec![
            TagSpec {
                key: "a".into(),
                value: Scalar("1".into()),
                propagate_at_launch: false
            },
            TagSpec {
                key: "b".into(),
                value: Scalar("x".into()),
                propagate_at_launch: true
            },
        ]
    );
    let map = spec("min_size: 0\nmax_size: 1\ntags: {team: ops, n: 3}\n");
    assert!(map.tags.0.iter().all(|t| t.propagate_at_launch));
    assert!(map.tags.0.iter().any(|t| t.key == "n" && t.value.0 == "3"));
    // The spec round-trips through JSON (the engine stores specs that way).
    let v = serde_json::to_value(&map).unwrap();
    let back: AutoScalingGroupSpec = serde_json::from_value(v).unwrap();
    assert_eq!(back.tags, map.tags);

    let f = seed();
    let s = spec(SEED);
    let mut live = converged("g", &s, &f);
    live.tags.remove(MANAGED_BY_TAG);
    live.tags.insert(
        "stray".into(),
        TagValue {
            value: "1".into(),
            propagate_at_launch: false,
        },
    );
    live.tags.get_mut("Name").unwrap().propagate_at_launch = false;
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    let AutoScalingGroupChange::Tag(t) = &changes[0] else {
        panic!()
    };
    assert_eq!(t[MANAGED_BY_TAG].1.value, "test");
    assert!(t["Name"].1.propagate_at_launch);
    assert_eq!(
        changes[1],
        AutoScalingGroupChange::Untag(BTreeMap::from([(
            "stray".into(),
            TagValue {
                value: "1".into(),
                propagate_at_launch: false
            }
        )]))
    );
}

#[test]
fn references_wait_for_desired_resources_and_pass_others_through() {
    let s = spec(SEED);
    // A desired load balancer without its DNS name yet.
    let f = seed().desired(refs::load_balancer::KIND, "myapp-testing-useast1");
    let e = AutoScalingGroup::diff(&f.ctx(), "g", &s, None).unwrap_err();
    assert_eq!(e.waiting_for, "LoadBalancer/myapp-testing-useast1");
    // A desired security group not created yet.
    let f = seed().desired(refs::security_group::KIND, "base");
    let e = AutoScalingGroup::diff(&f.ctx(), "g", &s, None).unwrap_err();
    assert_eq!(e.waiting_for, "SecurityGroup/base");
    // Before the SecurityGroup kind has listed anything, names wait (no id flip later).
    let e = AutoScalingGroup::diff(&Fixture::new().ctx(), "g", &s, None).unwrap_err();
    assert_eq!(e.waiting_for, "SecurityGroup/base");
    // A desired role without its instance profile yet; with it, its name is used.
    let f = seed().desired(refs::iam_role::KIND, "myapp-testing-useast1");
    let e = AutoScalingGroup::diff(&f.ctx(), "g", &s, None).unwrap_err();
    assert_eq!(e.waiting_for, "IamRole/myapp-testing-useast1");
    let f = f.fact(
        refs::iam_role::INSTANCE_PROFILE_NAME,
        "myapp-testing-useast1",
        "myapp-profile",
    );
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, None).unwrap();
    let AutoScalingGroupChange::CreateLaunchConfiguration { instance, .. } = &changes[0] else {
        panic!()
    };
    assert_eq!(
        instance.iam_instance_profile.as_deref(),
        Some("myapp-profile")
    );
}

fn template_spec() -> AutoScalingGroupSpec {
    spec("launch_template:\n  image_id: ami-1\n  instance_type: t3.micro\n  security_groups: [sg-1]\n  user_data: \"#!/bin/sh\\necho hi\\n\"\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n")
}

fn template_live(
    s: &AutoScalingGroupSpec,
    pinned: &str,
    latest: i64,
    hashes: &[(i64, &str)],
) -> LiveAutoScalingGroup {
    let f = listed(&[]);
    let c = f.ctx();
    LiveAutoScalingGroup {
        arn: "arn".into(),
        min_size: 1,
        max_size: 2,
        desired_capacity: 1,
        default_cooldown: Some(300),
        health_check_type: None,
        health_check_period: None,
        availability_zones: BTreeSet::from(["us-east-1a".into()]),
        subnets: BTreeSet::new(),
        named_subnets: None,
        load_balancers: BTreeSet::new(),
        termination_policies: vec![],
        suspended_processes: BTreeSet::new(),
        tags: desired_tags(&c, s),
        launch_configuration: None,
        launch_template: Some(LiveTemplateRef {
            id: Some("lt-1".into()),
            name: Some("g".into()),
            version: Some(pinned.into()),
        }),
        policies: BTreeMap::new(),
        launch_configs: BTreeMap::new(),
        template: Some(LiveTemplate {
            id: "lt-1".into(),
            name: "g".into(),
            latest_version: latest,
            tags: BTreeMap::new(),
            hashes: hashes
                .iter()
                .map(|(v, h)| (*v, (!h.is_empty()).then(|| h.to_string())))
                .collect(),
            used_by_others: false,
        }),
    }
}

#[test]
fn a_launch_template_gets_a_version_only_when_its_content_changes() {
    let f = listed(&[]);
    let s = template_spec();
    let c = f.ctx();
    let Some(DesiredLaunch::Template { hash, name, .. }) = DesiredLaunch::of(&c, "g", &s).unwrap()
    else {
        panic!()
    };
    assert_eq!(name, "g");
    // From nothing: the template, then the group on the version it creates.
    let changes = AutoScalingGroup::diff(&c, "g", &s, None).unwrap();
    assert!(
        matches!(&changes[0], AutoScalingGroupChange::CreateLaunchTemplate { template, hash: h, .. } if template == "g" && *h == hash)
    );
    let AutoScalingGroupChange::CreateGroup(g) = &changes[1] else {
        panic!()
    };
    assert_eq!(
        g.launch,
        LaunchRef::Template {
            name: "g".into(),
            version: TemplateVersion::New(hash.clone())
        }
    );
    // Pinned to a version with this content: nothing, however many versions exist.
    let live = template_live(&s, "3", 5, &[(3, &hash), (5, "0badc0de")]);
    assert_eq!(
        AutoScalingGroup::diff(&c, "g", &s, Some(&live)).unwrap(),
        vec![]
    );
    // The latest version has it but the group is not on it (a crash between the two):
    // repaired without a new version.
    let live = template_live(&s, "2", 3, &[(2, "0badc0de"), (3, &hash)]);
    let changes = AutoScalingGroup::diff(&c, "g", &s, Some(&live)).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let AutoScalingGroupChange::UpdateGroup(u) = &changes[0] else {
        panic!()
    };
    assert_eq!(
        u.launch.as_ref().unwrap().1,
        LaunchRef::Template {
            name: "g".into(),
            version: TemplateVersion::Number(3)
        }
    );
    // Changed content: a new version, and the group moves onto it.
    let live = template_live(&s, "2", 2, &[(2, "0badc0de")]);
    let changes = AutoScalingGroup::diff(&c, "g", &s, Some(&live)).unwrap();
    assert!(
        matches!(&changes[0], AutoScalingGroupChange::CreateLaunchTemplateVersion { template_id, .. } if template_id == "lt-1")
    );
    assert!(
        matches!(&changes[1], AutoScalingGroupChange::UpdateGroup(u) if u.launch.as_ref().unwrap().1 == LaunchRef::Template { name: "g".into(), version: TemplateVersion::New(hash.clone()) })
    );
    // `$Latest` is not a pinned version.
    let live = template_live(&s, "$Latest", 3, &[(3, &hash)]);
    assert_eq!(
        AutoScalingGroup::diff(&c, "g", &s, Some(&live))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn version_descriptions_carry_the_content_hash() {
    assert_eq!(
        template::content_hash_of(Some("converge:content-hash=0123abcd")).as_deref(),
        Some("0123abcd")
    );
    assert_eq!(template::content_hash_of(Some("by hand")), None);
    assert_eq!(template::content_hash_of(None), None);
    assert_eq!(config::lc_prefix("a-b-0123abcd"), Some("a-b"));
    assert_eq!(config::lc_prefix("a-b-0123abcg"), None);
    assert_eq!(config::lc_prefix("a-0123abc"), None);
}

#[test]
fn subnets_as_a_list_or_a_comma_string_and_compared_as_a_set() {
    let s = spec("launch_config: {image_id: ami-1, instance_type: t3.micro}\nvpc_zone_identifier: 'subnet-2, subnet-1'\nmin_size: 0\nmax_size: 1\n");
    assert_eq!(s.subnets(), ["subnet-2", "subnet-1"]);
    let f = listed(&[]);
    let mut live = converged("g", &s, &f);
    live.availability_zones = BTreeSet::from(["us-east-1a".into(), "us-east-1b".into()]);
    live.subnets = BTreeSet::from(["subnet-1".into(), "subnet-2".into()]);
    assert_eq!(
        AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap(),
        vec![]
    );
    live.subnets.insert("subnet-3".into());
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap();
    assert_eq!(
        changes[0].fields()[0].to_string(),
        "vpc_zone_identifier: subnet-1, subnet-2, subnet-3 → subnet-2,subnet-1"
    );
}

#[test]
fn load_balancers_are_attached_and_detached_only_when_written() {
    let f = seed();
    let s = spec(SEED);
    let mut live = converged("g", &s, &f);
    live.load_balancers = BTreeSet::from(["old".into()]);
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap();
    assert_eq!(
        changes,
        vec![
            AutoScalingGroupChange::DetachLoadBalancers(BTreeSet::from(["old".into()])),
            AutoScalingGroupChange::AttachLoadBalancers(BTreeSet::from([
                "myapp-testing-useast1".into()
            ])),
        ]
    );
    let s = spec(&SEED.replace("load_balancers:\n  - myapp-testing-useast1\n", ""));
    assert_eq!(
        AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap(),
        vec![]
    );
}

#[test]
fn validation_names_the_field_for_every_mistake() {
    assert!(AutoScalingGroup::validate(&"g".repeat(10), &spec(SEED)).is_empty());
    assert!(AutoScalingGroup::validate_name(&"g".repeat(256))
        .unwrap_err()
        .contains("1 to 255"));
    assert!(AutoScalingGroup::validate_name("ok name-1").is_ok());
    let bad = |yaml: &str, needle: &str| {
        let p = AutoScalingGroup::validate("g", &spec(yaml));
        assert!(p.iter().any(|m| m.contains(needle)), "{needle}: {p:?}");
    };
    let lc = "launch_config: {image_id: ami-1, instance_type: t3.micro}\navailability_zones: [us-east-1a]\n";
    bad(
        &format!("{lc}min_size: 3\nmax_size: 2\n"),
        "max_size: 2 is less than min_size 3",
    );
    bad(
        &format!("{lc}min_size: 1\nmax_size: 2\ndesired_capacity: 5\n"),
        "desired_capacity: 5 must be between",
    );
    bad(
        &format!("{lc}min_size: 1\nmax_size: 2\nsuspended_processes: [Launch, Nap]\n"),
        "suspended_processes: `Nap` is not a process",
    );
    bad(&format!("{lc}min_size: 1\nmax_size: 2\nscaling_policies: [{{name: x, adjustment_type: Double, scaling_adjustment: 2}}]\n"), "scaling_policies.x.adjustment_type: `Double`");
    bad(&format!("{lc}min_size: 1\nmax_size: 2\nscaling_policies: [{{name: x, adjustment_type: ChangeInCapacity, scaling_adjustment: 2, min_adjustment_magnitude: 2}}]\n"), "only for adjustment_type PercentChangeInCapacity");
    bad(&format!("{lc}launch_template: {{image_id: ami-1, instance_type: t3.micro}}\nmin_size: 1\nmax_size: 2\n"), "exactly one of them");
    bad(
        "availability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n",
        "launch_config: required",
    );
    bad(
        "launch_config: {image_id: ami-1, instance_type: t3.micro}\nmin_size: 1\nmax_size: 2\n",
        "availability_zones: required",
    );
    bad(
        &format!("{lc}min_size: 1\nmax_size: 2\nhealth_check_type: HTTP\n"),
        "health_check_type: `HTTP`",
    );
    bad(
        &format!("{lc}min_size: 1\nmax_size: 2\ntags: [{{key: 'aws:x', value: 1}}]\n"),
        "reserved",
    );
    bad("launch_config: {image_id: ami-1, instance_type: t3.micro, user_data: x, cloud_init: {scripts: {a: b}}}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "write one of them, not both");
    bad("launch_template: {name: 'a b', image_id: ami-1, instance_type: t3.micro, spot_price: 0.1}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "launch_template.name: `a b`");
    bad("launch_template: {image_id: ami-1, instance_type: t3.micro, spot_price: 0.1}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "launch_template.spot_price");
    bad("launch_config_name: x\nlaunch_template: {image_id: ami-1, instance_type: t3.micro}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "launch_config_name: only with launch_config");
    bad(
        &format!("{lc}min_size: 1\nmax_size: 2\nvpc_zone_identifier: sg-1\n"),
        "not a subnet id",
    );
    bad("launch_config: {image_id: ami-1, instance_type: t3.micro, block_device_mappings: [{/dev/sda1: {size: 0, volume_type: gp9}}]}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n", "volume_type: `gp9`");
    // Unknown fields are schema errors, inside the Salt-style list too.
    assert!(serde_saphyr::from_str::<AutoScalingGroupSpec>(
        "min_size: 1\nmax_size: 2\nmin_sise: 1\n"
    )
    .is_err());
    let e = serde_saphyr::from_str::<AutoScalingGroupSpec>(
        "launch_config:\n  - image_id: a\n  - instance_typo: b\nmin_size: 1\nmax_size: 2\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("instance_typo"), "{e}");
    let e = serde_saphyr::from_str::<AutoScalingGroupSpec>(
        "launch_config:\n  - image_id: a\n  - image_id: b\nmin_size: 1\nmax_size: 2\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("given twice"), "{e}");
}

#[test]
fn tags_are_checked_by_the_shared_rules_as_aws_counts_them() {
    let base = "launch_config: {image_id: ami-1, instance_type: t3.micro}\navailability_zones: [us-east-1a]\nmin_size: 1\nmax_size: 2\n";
    let problems =
        |tags: &str| AutoScalingGroup::validate("g", &spec(&format!("{base}tags: {tags}\n")));
    // Characters, not bytes: 128 three-byte characters are a valid key.
    let key = "é".repeat(128);
    let value = "ü".repeat(256);
    assert!(problems(&format!("{{'{key}': '{value}'}}")).is_empty());
    assert_eq!(
        problems(&format!(
            "[{{key: '{}', value: x}}, {{key: k, value: '{}'}}]",
            "k".repeat(129),
            "v".repeat(257)
        )),
        vec![
            format!(
                "tags.{}: a tag key must be 1 to 128 characters long",
                "k".repeat(129)
            ),
            "tags.k: a tag value must be at most 256 characters".to_string(),
        ]
    );
    // 49 tags and converge's own make AWS's 50; one more is refused.
    let many = |n: usize| {
        format!(
            "{{{}}}",
            (0..n)
                .map(|i| format!("k{i}: v"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    assert!(problems(&many(49)).is_empty());
    assert_eq!(
        problems(&many(50)),
        vec!["tags: at most 49 tags (AWS allows 50, one is converge's own `converge:managed-by`)"]
    );
    // Reserved keys, and a key given twice (a list can repeat one).
    assert_eq!(
        problems("[{key: 'aws:x', value: 1}, {key: 'converge:managed-by', value: me}, {key: a, value: 1}, {key: a, value: 2}]"),
        vec![
            "tags: `a` is given twice",
            "tags.aws:x: the `aws:` prefix is reserved by AWS",
            "tags.converge:managed-by: converge sets this tag itself (from --controller-id)",
        ]
    );
}

#[test]
fn subnet_names_compare_the_ids_this_sweep_resolved_and_leave_unresolved_ones_alone() {
    let f = seed();
    let s = spec(&SEED.replace(
        "availability_zones:\n  - us-east-1a\n  - us-east-1d\n  - us-east-1e\n",
        "subnet_names: [web-a]\n",
    ));
    assert!(
        AutoScalingGroup::validate("g", &s).is_empty(),
        "{:?}",
        AutoScalingGroup::validate("g", &s)
    );
    let mut live = converged("g", &s, &f);
    live.subnets = BTreeSet::from(["subnet-1".to_string()]);
    live.named_subnets = Some(vec!["subnet-1".into()]);
    assert!(AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live))
        .unwrap()
        .is_empty());
    live.named_subnets = Some(vec!["subnet-2".into()]);
    let changes = AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live)).unwrap();
    let Some(AutoScalingGroupChange::UpdateGroup(u)) = changes.first() else {
        panic!("{changes:?}")
    };
    assert_eq!(
        u.subnets.as_ref().map(|x| x.1.clone()),
        Some(vec!["subnet-2".to_string()])
    );
    live.named_subnets = None;
    assert!(AutoScalingGroup::diff(&f.ctx(), "g", &s, Some(&live))
        .unwrap()
        .is_empty());
    let created = AutoScalingGroup::diff(&f.ctx(), "g", &s, None).unwrap();
    assert!(
        created.iter().any(|c| matches!(c, AutoScalingGroupChange::CreateGroup(g) if g.subnet_names == ["web-a"] && g.subnets.is_empty())),
        "{created:?}"
    );
}

#[test]
fn launch_config_name_alone_uses_an_existing_launch_configuration_as_it_is() {
    let f = seed();
    let s = spec("launch_config_name: made-by-salt\navailability_zones: [us-east-1a]\nmin_size: 0\nmax_size: 1\n");
    assert!(
        AutoScalingGroup::validate("g", &s).is_empty(),
        "{:?}",
        AutoScalingGroup::validate("g", &s)
    );
    let created = AutoScalingGroup::diff(&f.ctx(), "g", &s, None).unwrap();
    assert!(
        !created
            .iter()
            .any(|c| matches!(c, AutoScalingGroupChange::CreateLaunchConfiguration { .. })),
        "{created:?}"
    );
    assert!(
        created.iter().any(|c| matches!(c, AutoScalingGroupChange::CreateGroup(g) if g.launch == LaunchRef::Config("made-by-salt".into()))),
        "{created:?}"
    );
}

#[test]
fn subnet_names_in_a_bad_form_are_refused_with_the_field() {
    let base =
        "launch_config: {image_id: ami-1, instance_type: t2.micro}\nmin_size: 0\nmax_size: 1\n";
    let problems = |extra: &str| AutoScalingGroup::validate("g", &spec(&format!("{base}{extra}")));
    assert!(problems("subnet_names: []\n")
        .iter()
        .any(|p| p.contains("subnet_names: at least one name")));
    assert!(problems("subnet_names: ['']\n")
        .iter()
        .any(|p| p.contains("none empty")));
    assert!(
        problems("subnet_names: [a]\nvpc_zone_identifier: subnet-1\n")
            .iter()
            .any(|p| p.contains("not both"))
    );
    assert!(problems("launch_config_name: ''\n")
        .iter()
        .any(|p| p.contains("launch_config_name")));
}
