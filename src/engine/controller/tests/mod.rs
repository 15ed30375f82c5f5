//! The engine on its own: controllers of in-memory fake kinds ([`fake`]) under paused tokio
//! time, so backoff, resync, waiting and pruning are tested to the second without AWS or a
//! server, and without waiting for real time to pass.

mod fake;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Controller, Engine, Runnable};
use crate::core::{Action, DesiredResource, DesiredSet, ErrorClass, Origin};
use crate::engine::status::{KindStatus, PruneState, State};
use crate::engine::{Mode, Settings};
use crate::metrics::Metrics;
use fake::{Call, Fake, Item, Marker, World, A, B};

const ID: &str = "test";

/// A running engine with the fake kinds A and B, and the levers a test pulls.
struct Harness {
    engine: Arc<Engine>,
    a: Arc<Mutex<World>>,
    b: Arc<Mutex<World>>,
    desired: watch::Sender<Option<Arc<DesiredSet>>>,
    generation: u64,
    _shutdown: watch::Sender<bool>,
    started: Instant,
    _watchdog: Watchdog,
}

/// Paused time only advances when every task is idle: an engine that spins (a bug) would hang
/// its test forever. The watchdog ends the test process after a minute of real time instead.
struct Watchdog(Arc<std::sync::atomic::AtomicBool>);

impl Watchdog {
    fn start() -> Watchdog {
        let test = std::thread::current()
            .name()
            .unwrap_or("an engine test")
            .to_string();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("{test}: still running after 60 s of real time; the engine spins (paused time cannot advance)");
            std::process::abort();
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn settings() -> Settings {
    Settings {
        mode: Mode::Run,
        controller_id: ID.to_string(),
        resync: Duration::from_secs(60),
        backoff_min: Duration::from_secs(1),
        backoff_max: Duration::from_secs(300),
        ..Settings::default()
    }
}

impl Harness {
    /// Starts both kinds' controllers with `settings`, and no desired state yet.
    fn start(settings: Settings) -> Harness {
        let metrics = Arc::new(Metrics::new().expect("metrics register"));
        let (desired, desired_rx) = watch::channel(None);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let a = Arc::new(Mutex::new(World::default()));
        let b = Arc::new(Mutex::new(World::default()));
        let controllers: Vec<Box<dyn Runnable>> = vec![
            Box::new(Controller::new(Fake::<A>::new(a.clone()), &settings)),
            Box::new(Controller::new(Fake::<B>::new(b.clone()), &settings)),
        ];
        let engine = Arc::new(
            Engine::new(settings, metrics, desired_rx, shutdown_rx).with_kinds(controllers.len()),
        );
        for c in controllers {
            tokio::spawn(c.run(engine.clone()));
        }
        Harness {
            engine,
            a,
            b,
            desired,
            generation: 0,
            _shutdown: shutdown,
            started: Instant::now(),
            _watchdog: Watchdog::start(),
        }
    }

    /// Publishes the next desired generation: `(kind, name, spec)` for each resource.
    fn want(&mut self, resources: &[(&str, &str, serde_json::Value)]) {
        self.want_at("test.yaml", 1, resources);
    }

    /// [`Harness::want`], every resource written at `file:line`.
    fn want_at(&mut self, file: &str, line: u64, resources: &[(&str, &str, serde_json::Value)]) {
        self.generation += 1;
        let mut set = DesiredSet {
            generation: self.generation,
            fingerprint: self.generation,
            ..DesiredSet::default()
        };
        let origin = Origin {
            file: file.into(),
            line,
            column: 1,
        };
        for (kind, name, spec) in resources {
            set.insert(DesiredResource::new(
                kind,
                name,
                spec.clone(),
                origin.clone(),
            ));
        }
        self.desired.send_replace(Some(Arc::new(set)));
    }

    fn world(&self, kind: &str) -> std::sync::MutexGuard<'_, World> {
        let w = if kind == A::NAME { &self.a } else { &self.b };
        w.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn status(&self, kind: &str) -> KindStatus {
        self.engine
            .status
            .snapshot()
            .get(kind)
            .cloned()
            .unwrap_or_default()
    }

    fn state_of(&self, kind: &str, name: &str) -> Option<State> {
        self.status(kind)
            .resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.state)
    }

    /// When (since start) each apply of `name` happened.
    fn applies(&self, kind: &str, name: &str) -> Vec<Duration> {
        self.world(kind)
            .calls
            .iter()
            .filter(|(_, c)| matches!(c, Call::Apply { name: n, .. } if n == name))
            .map(|(t, _)| *t - self.started)
            .collect()
    }

    fn deletes(&self, kind: &str) -> Vec<String> {
        self.world(kind)
            .calls
            .iter()
            .filter_map(|(_, c)| match c {
                Call::Delete(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    fn elapsed(&self) -> Duration {
        Instant::now() - self.started
    }

    /// Lets (paused) time pass until `cond` holds; fails after `limit` of it.
    async fn until(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Harness) -> bool) {
        let deadline = Instant::now() + limit;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}; A: {:?}\nB: {:?}",
                self.status(A::NAME),
                self.status(B::NAME)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Lets `d` of (paused) time pass.
    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

fn spec(value: i64) -> serde_json::Value {
    json!({ "value": value })
}

fn owned(value: i64) -> Item {
    Item {
        value,
        owner: Some(ID.to_string()),
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_while_a_resource_fails_and_resets_once_it_succeeds() {
    let mut h = Harness::start(settings());
    h.world(A::NAME)
        .fail
        .insert("x".into(), (ErrorClass::Retryable, 5));
    h.want(&[("FakeA", "x", spec(1))]);
    h.until(
        "x converges after five failures",
        Duration::from_secs(120),
        |h| h.state_of("FakeA", "x") == Some(State::Converged),
    )
    .await;
    let at = h.applies("FakeA", "x");
    assert_eq!(at.len(), 6, "five failed attempts, then the create: {at:?}");
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_secs(1), "{gaps:?}");
    for w in gaps.windows(2) {
        assert!(
            w[1] >= w[0],
            "each retry waits at least as long as the last: {gaps:?}"
        );
    }
    assert!(
        gaps[4] >= Duration::from_secs(8),
        "the fifth delay has doubled four times: {gaps:?}"
    );
    let x = h.status("FakeA").resources[0].clone();
    assert_eq!(x.attempts, 0, "success forgets the failures");

    // It fails once more (after drift): the retry comes after the first delay again, not
    // after the last one.
    h.world(A::NAME)
        .fail
        .insert("x".into(), (ErrorClass::Retryable, 1));
    h.world(A::NAME).items.insert("x".into(), owned(7));
    let before = h.applies("FakeA", "x").len();
    h.until("x is corrected again", Duration::from_secs(120), |h| {
        h.applies("FakeA", "x").len() == before + 2
    })
    .await;
    let at = h.applies("FakeA", "x");
    let gap = at[before + 1] - at[before];
    assert!(
        gap >= Duration::from_secs(1) && gap <= Duration::from_secs(3),
        "the backoff started over: {gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_resource_that_moves_with_the_same_spec_is_not_applied_again_and_shows_where_it_is_now() {
    let mut h = Harness::start(settings());
    h.want(&[("FakeA", "x", spec(1)), ("FakeA", "y", spec(2))]);
    h.until("both converge", Duration::from_secs(10), |h| {
        h.state_of("FakeA", "x") == Some(State::Converged)
            && h.state_of("FakeA", "y") == Some(State::Converged)
    })
    .await;
    let source = |h: &Harness, name: &str| {
        h.status("FakeA")
            .resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.source.clone())
    };
    assert_eq!(source(&h, "x").as_deref(), Some("test.yaml:1:1"));
    let calls = h.world(A::NAME).calls.len();

    // x moves to another file, y changes: only y is applied; the next sweep shows x's new place.
    h.want_at(
        "moved.yaml",
        7,
        &[("FakeA", "x", spec(1)), ("FakeA", "y", spec(3))],
    );
    h.until("y is applied", Duration::from_secs(10), |h| {
        h.world(A::NAME).items.get("y").map(|i| i.value) == Some(3)
    })
    .await;
    h.wait(Duration::from_secs(61)).await;
    assert_eq!(source(&h, "x").as_deref(), Some("moved.yaml:7:1"));
    let applied: Vec<String> = h.world(A::NAME).calls[calls..]
        .iter()
        .filter_map(|(_, c)| match c {
            Call::Apply { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        applied,
        vec!["y".to_string()],
        "only the changed spec is applied"
    );
}

#[tokio::test(start_paused = true)]
async fn drift_is_counted_once_and_corrected() {
    let mut h = Harness::start(settings());
    h.want(&[("FakeA", "x", spec(1))]);
    h.until("x converges", Duration::from_secs(10), |h| {
        h.state_of("FakeA", "x") == Some(State::Converged)
    })
    .await;
    let drift = || h.engine.metrics.drift(h.engine.labels("FakeA")).get();
    assert_eq!(drift(), 0, "a create is not drift");

    h.world(A::NAME).items.insert("x".into(), owned(9));
    h.until("the drift is corrected", Duration::from_secs(70), |h| {
        h.world(A::NAME).items["x"].value == 1
    })
    .await;
    assert!(
        h.elapsed() >= Duration::from_secs(60),
        "found by the resync, not before"
    );
    assert_eq!(drift(), 1);
    // Two more resyncs: nothing more to count or change.
    h.wait(Duration::from_secs(130)).await;
    assert_eq!(drift(), 1);
    assert_eq!(h.state_of("FakeA", "x"), Some(State::Converged));
    let updates = h
        .world(A::NAME)
        .calls
        .iter()
        .filter(|(_, c)| {
            matches!(
                c,
                Call::Apply {
                    action: Action::Update,
                    ..
                }
            )
        })
        .count();
    assert_eq!(updates, 1, "corrected once");
}

#[tokio::test(start_paused = true)]
async fn a_waiting_resource_wakes_when_the_fact_it_waits_for_appears() {
    let mut h = Harness::start(settings());
    let a = json!({"value": 1, "needs": "b"});
    h.want(&[("FakeA", "a", a.clone())]);
    h.until_a_waits_for_b().await;
    assert_eq!(h.state_of("FakeA", "a"), Some(State::Pending));
    assert!(
        h.applies("FakeA", "a").is_empty(),
        "nothing is created while waiting"
    );
    let errors = h
        .engine
        .metrics
        .errors(h.engine.labels("FakeA"), "retryable")
        .get();
    assert_eq!(errors, 0, "waiting is not an error");

    h.wait(Duration::from_secs(10)).await;
    let added = h.elapsed();
    h.want(&[("FakeA", "a", a), ("FakeB", "b", spec(2))]);
    h.until("a is created", Duration::from_secs(30), |h| {
        !h.applies("FakeA", "a").is_empty()
    })
    .await;
    let created = h.applies("FakeA", "a")[0];
    assert!(
        created - added < Duration::from_secs(2),
        "a woke when b's fact appeared ({:?} after b was desired), not at its resync",
        created - added
    );
}

impl Harness {
    /// Lets (paused) time pass until FakeA/a waits for FakeB/b.
    async fn until_a_waits_for_b(&self) {
        self.until("a waits for FakeB/b", Duration::from_secs(10), |h| {
            h.status("FakeA")
                .resources
                .first()
                .is_some_and(|r| r.waiting_for.as_deref() == Some("FakeB/b"))
        })
        .await;
    }

    /// When (since start) `kind` observed AWS.
    fn observes(&self, kind: &str) -> Vec<Duration> {
        self.world(kind)
            .calls
            .iter()
            .filter(|(_, c)| matches!(c, Call::Observe { .. }))
            .map(|(t, _)| *t - self.started)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_fact_that_appears_re_diffs_the_waiting_resource_without_listing_it_again() {
    let mut h = Harness::start(settings());
    let a = json!({"value": 1, "needs": "b"});
    h.want(&[("FakeA", "a", a.clone())]);
    h.until_a_waits_for_b().await;
    h.wait(Duration::from_secs(5)).await;
    let added = h.elapsed();
    let calls_before = h.world(A::NAME).calls.len();
    h.want(&[("FakeA", "a", a), ("FakeB", "b", spec(2))]);
    h.until("a is created", Duration::from_secs(30), |h| {
        !h.applies("FakeA", "a").is_empty()
    })
    .await;
    let created = h.applies("FakeA", "a")[0];
    assert!(created - added < Duration::from_secs(2), "{created:?}");
    // Paused time: everything happens at the same instant, so go by the order of the calls.
    let w = h.world(A::NAME);
    let since: Vec<&Call> = w.calls[calls_before..].iter().map(|(_, c)| c).collect();
    let first_apply = since
        .iter()
        .position(|c| matches!(c, Call::Apply { .. }))
        .unwrap_or(since.len());
    assert!(
        !since[..first_apply]
            .iter()
            .any(|c| matches!(c, Call::Observe { .. })),
        "b's fact re-diffs a on its last listing, without listing FakeA again: {since:?}"
    );
}

/// A re-diff takes what the last sweep saw of the resource (moved, not copied); still
/// waiting, it keeps it for the next: an existing resource is never taken for absent.
#[tokio::test(start_paused = true)]
async fn an_existing_resource_re_diffed_twice_on_its_last_listing_is_updated_not_created() {
    let mut h = Harness::start(settings());
    h.world(A::NAME).items.insert("a".into(), owned(1));
    let a = json!({"value": 2, "needs": "b"});
    h.want(&[("FakeA", "a", a.clone())]);
    h.until_a_waits_for_b().await;
    // Another of B's facts: a is re-diffed on what it was seen as, and still waits.
    h.want(&[("FakeA", "a", a.clone()), ("FakeB", "c", spec(3))]);
    h.until("c is created", Duration::from_secs(10), |h| {
        !h.applies("FakeB", "c").is_empty()
    })
    .await;
    h.wait(Duration::from_secs(2)).await;
    assert!(h.applies("FakeA", "a").is_empty());
    h.want(&[
        ("FakeA", "a", a),
        ("FakeB", "c", spec(3)),
        ("FakeB", "b", spec(2)),
    ]);
    h.until("a is changed", Duration::from_secs(10), |h| {
        !h.applies("FakeA", "a").is_empty()
    })
    .await;
    let w = h.world(A::NAME);
    let actions: Vec<Action> = (w.calls.iter())
        .filter_map(|(_, c)| match c {
            Call::Apply { name, action } if name == "a" => Some(*action),
            _ => None,
        })
        .collect();
    assert_eq!(actions, vec![Action::Update], "{:?}", w.calls);
    assert_eq!(w.items["a"].value, 2);
}

#[tokio::test(start_paused = true)]
async fn apply_diffs_after_every_first_listing_so_a_slow_kind_costs_no_second_listing() {
    let mut h = Harness::start(Settings {
        mode: Mode::Apply,
        resync: Duration::from_secs(5),
        call_deadline: Duration::from_secs(30),
        ..settings()
    });
    // FakeB's listing of 150 resources takes longer than run's 20 s wait for first listings,
    // and than one call's deadline (a listing's own deadline grows with what it lists).
    h.world(B::NAME).slow_full_listing = Duration::from_secs(45);
    let mut wanted = vec![("FakeA", "a".to_string(), json!({"value": 1, "needs": "b0"}))];
    for i in 0..150 {
        h.world(B::NAME).items.insert(format!("b{i}"), owned(2));
        wanted.push(("FakeB", format!("b{i}"), spec(2)));
    }
    let wanted: Vec<(&str, &str, serde_json::Value)> = wanted
        .iter()
        .map(|(k, n, s)| (*k, n.as_str(), s.clone()))
        .collect();
    h.want(&wanted);
    h.until("a is created", Duration::from_secs(120), |h| {
        !h.applies("FakeA", "a").is_empty()
    })
    .await;
    let created = h.applies("FakeA", "a")[0];
    let listed: Vec<Duration> = h
        .observes("FakeA")
        .into_iter()
        .filter(|t| *t < created)
        .collect();
    assert_eq!(
        listed.len(),
        1,
        "FakeA listed once, then waited for FakeB's first listing: {listed:?}"
    );
    assert!(created >= Duration::from_secs(45), "{created:?}");
}

#[tokio::test(start_paused = true)]
async fn apply_does_not_list_again_what_only_waits_for_another_kinds_fact() {
    let mut h = Harness::start(Settings {
        mode: Mode::Apply,
        resync: Duration::from_secs(5),
        ..settings()
    });
    // b takes a while to create (three failures, backing off 1, 2 and 4 s).
    h.world(B::NAME)
        .fail
        .insert("b".into(), (ErrorClass::Retryable, 3));
    h.want(&[
        ("FakeA", "a", json!({"value": 1, "needs": "b"})),
        ("FakeB", "b", spec(2)),
    ]);
    h.until("a is created", Duration::from_secs(120), |h| {
        !h.applies("FakeA", "a").is_empty()
    })
    .await;
    let created = h.applies("FakeA", "a")[0];
    assert!(created >= Duration::from_secs(7), "after b: {created:?}");
    let listed: Vec<Duration> = h
        .observes("FakeA")
        .into_iter()
        .filter(|t| *t < created)
        .collect();
    assert_eq!(
        listed.len(),
        1,
        "a waited for b's fact, not for apply's 5 s retry: FakeA listed at {listed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_kind_with_nothing_desired_lists_nothing_until_a_resource_waits_for_one_of_it() {
    let mut h = Harness::start(settings());
    h.want(&[("FakeA", "x", spec(1))]);
    h.until("x converges", Duration::from_secs(10), |h| {
        h.state_of("FakeA", "x") == Some(State::Converged)
    })
    .await;
    h.wait(Duration::from_secs(150)).await;
    assert!(
        h.observes("FakeA").len() >= 3,
        "FakeA resynced: {:?}",
        h.observes("FakeA")
    );
    assert_eq!(
        h.observes("FakeB"),
        Vec::<Duration>::new(),
        "nothing of FakeB is desired"
    );
    assert!(
        h.status("FakeB").swept,
        "the idle kind still reports its sweeps"
    );
    assert_eq!(
        h.engine.metrics.kind_ready(h.engine.labels("FakeB")).get(),
        1
    );

    // A resource comes to name an existing FakeB that is not desired: FakeB lists, and the
    // resource resolves from its facts.
    h.world(B::NAME).items.insert(
        "b".into(),
        Item {
            value: 5,
            owner: None,
        },
    );
    let added = h.elapsed();
    h.want(&[
        ("FakeA", "x", spec(1)),
        ("FakeA", "a", json!({"value": 1, "needs": "b"})),
    ]);
    h.until(
        "a is created once b is known",
        Duration::from_secs(10),
        |h| !h.applies("FakeA", "a").is_empty(),
    )
    .await;
    assert!(h.applies("FakeA", "a")[0] - added < Duration::from_secs(2));
    assert!(!h.observes("FakeB").is_empty());
    assert!(h.deletes("FakeB").is_empty() && h.applies("FakeB", "b").is_empty());
}

#[tokio::test(start_paused = true)]
async fn one_failing_resource_never_blocks_the_others() {
    let mut h = Harness::start(settings());
    h.world(A::NAME)
        .fail
        .insert("failing".into(), (ErrorClass::Terminal, 1));
    h.world(B::NAME)
        .fail
        .insert("failing".into(), (ErrorClass::Retryable, u32::MAX));
    h.want(&[
        ("FakeA", "failing", spec(1)),
        ("FakeA", "ok", spec(1)),
        ("FakeB", "failing", spec(1)),
        ("FakeB", "ok", spec(1)),
    ]);
    h.until(
        "the healthy resources converge",
        Duration::from_secs(5),
        |h| {
            h.state_of("FakeA", "ok") == Some(State::Converged)
                && h.state_of("FakeB", "ok") == Some(State::Converged)
        },
    )
    .await;
    assert_eq!(h.state_of("FakeA", "failing"), Some(State::Failed));
    assert_eq!(h.state_of("FakeB", "failing"), Some(State::Failed));
    // Each failing resource is retried on its own schedule: a retryable failure soon and
    // ever later, a terminal one only at the backoff cap (no retry storm).
    h.wait(Duration::from_secs(60)).await;
    assert!(
        h.applies("FakeB", "failing").len() >= 4,
        "{:?}",
        h.applies("FakeB", "failing")
    );
    assert_eq!(h.applies("FakeA", "failing").len(), 1);
    h.until(
        "the terminal failure is retried at the cap",
        Duration::from_secs(300),
        |h| h.state_of("FakeA", "failing") == Some(State::Converged),
    )
    .await;
    assert!(h.applies("FakeA", "failing")[1] >= Duration::from_secs(300));
    // The others were left alone all along: one create each.
    assert_eq!(h.applies("FakeA", "ok").len(), 1);
    assert_eq!(h.applies("FakeB", "ok").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_change_holds_up_no_other_resource_and_ends_at_the_deadline() {
    let mut h = Harness::start(settings());
    h.world(A::NAME).hang.insert("hanging".into());
    h.want(&[
        ("FakeA", "hanging", spec(1)),
        ("FakeA", "ok-1", spec(1)),
        ("FakeA", "ok-2", spec(1)),
    ]);
    h.until(
        "the healthy resources are created",
        Duration::from_secs(5),
        |h| {
            ["ok-1", "ok-2"]
                .iter()
                .all(|n| h.world(A::NAME).items.contains_key(*n))
        },
    )
    .await;
    h.until(
        "the hanging change times out",
        Duration::from_secs(200),
        |h| h.state_of("FakeA", "hanging") == Some(State::Failed),
    )
    .await;
    assert!(
        h.elapsed() >= Duration::from_secs(180),
        "the engine's call deadline"
    );
    assert_eq!(h.state_of("FakeA", "ok-1"), Some(State::Converged));
    let error = h
        .status("FakeA")
        .resources
        .into_iter()
        .find(|r| r.name == "hanging")
        .and_then(|r| r.last_error)
        .unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
}

fn with_prune(max_deletions: u32) -> Settings {
    Settings {
        prune: true,
        max_deletions,
        ..settings()
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_tree_never_prunes() {
    let mut h = Harness::start(with_prune(5));
    h.world(A::NAME).items.insert("old".into(), owned(1));
    h.want(&[("FakeA", "x", spec(1))]);
    h.until(
        "old is pruned while the tree is not empty",
        Duration::from_secs(10),
        |h| h.deletes("FakeA") == ["old"],
    )
    .await;
    h.world(A::NAME).items.insert("older".into(), owned(1));
    h.want(&[]);
    h.until("the refusal is reported", Duration::from_secs(10), |h| {
        h.status("FakeA")
            .prune
            .iter()
            .any(|p| p.state == PruneState::Refused)
    })
    .await;
    h.wait(Duration::from_secs(130)).await;
    assert_eq!(h.deletes("FakeA"), ["old"], "x and older are still there");
    assert!(h.world(A::NAME).items.contains_key("x"));
    let p = h.status("FakeA").prune;
    assert!(
        p.iter().all(|p| p.reason.as_deref()
            == Some("the desired state is empty; an empty tree never prunes")),
        "{p:?}"
    );
    assert_eq!(
        h.engine.metrics.deletions_refused.get(),
        2,
        "x and older, each counted once however many sweeps refuse it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_listing_deletes_nothing() {
    let mut h = Harness::start(with_prune(5));
    h.world(A::NAME).items.insert("old".into(), owned(1));
    h.world(A::NAME).fail_listing = Some(ErrorClass::Retryable);
    h.want(&[("FakeA", "x", spec(1))]);
    h.until(
        "the listing has failed a few times",
        Duration::from_secs(30),
        |h| {
            h.world(A::NAME)
                .calls
                .iter()
                .filter(|(_, c)| matches!(c, Call::Observe { .. }))
                .count()
                >= 3
        },
    )
    .await;
    assert!(h.deletes("FakeA").is_empty());
    assert!(
        h.applies("FakeA", "x").is_empty(),
        "nothing is changed either"
    );
    let s = h.status("FakeA");
    assert!(!s.ready);
    assert!(s
        .last_error
        .unwrap_or_default()
        .contains("listing FakeA failed"));
    // Once it lists again, the guard was the listing, not the prune.
    h.world(A::NAME).fail_listing = None;
    h.until("old is pruned", Duration::from_secs(600), |h| {
        h.deletes("FakeA") == ["old"]
    })
    .await;
    assert!(h.status("FakeA").ready);
}

#[tokio::test(start_paused = true)]
async fn max_deletions_caps_each_generation_and_only_owned_resources_go() {
    let mut h = Harness::start(with_prune(2));
    {
        let mut w = h.world(A::NAME);
        for n in ["s1", "s2", "s3", "s4", "s5"] {
            w.items.insert(n.into(), owned(1));
        }
        w.items.insert(
            "someone-elses".into(),
            Item {
                value: 1,
                owner: Some("other".into()),
            },
        );
        w.items.insert(
            "unowned".into(),
            Item {
                value: 1,
                owner: None,
            },
        );
    }
    h.want(&[("FakeA", "x", spec(1))]);
    h.until("two are deleted", Duration::from_secs(10), |h| {
        h.deletes("FakeA").len() == 2
    })
    .await;
    h.wait(Duration::from_secs(130)).await;
    assert_eq!(h.deletes("FakeA").len(), 2, "the budget is per generation");
    assert_eq!(h.engine.metrics.deletions_refused.get(), 3);
    // A new generation brings a new budget.
    h.want(&[("FakeA", "x", spec(1)), ("FakeA", "y", spec(1))]);
    h.until("two more are deleted", Duration::from_secs(70), |h| {
        h.deletes("FakeA").len() == 4
    })
    .await;
    let w = h.world(A::NAME);
    assert!(w.items.contains_key("someone-elses") && w.items.contains_key("unowned"));
}

#[tokio::test(start_paused = true)]
async fn a_resource_of_another_controller_is_left_alone() {
    let mut h = Harness::start(settings());
    h.world(A::NAME).items.insert(
        "x".into(),
        Item {
            value: 5,
            owner: Some("other".into()),
        },
    );
    h.want(&[("FakeA", "x", spec(1))]);
    h.until("x is a conflict", Duration::from_secs(10), |h| {
        h.state_of("FakeA", "x") == Some(State::Failed)
    })
    .await;
    let r = h.status("FakeA").resources[0].clone();
    assert_eq!(r.error_class, Some(ErrorClass::Conflict));
    assert!(h.applies("FakeA", "x").is_empty());
    assert_eq!(h.world(A::NAME).items["x"].value, 5);
}

#[tokio::test(start_paused = true)]
async fn a_change_during_a_long_full_sweep_is_applied_at_once_and_kept() {
    let mut h = Harness::start(settings());
    h.world(A::NAME).slow_full_listing = Duration::from_secs(30);
    h.want(&[("FakeA", "x", spec(1)), ("FakeA", "y", spec(1))]);
    h.until("both converge", Duration::from_secs(60), |h| {
        h.state_of("FakeA", "y") == Some(State::Converged)
            && h.state_of("FakeA", "x") == Some(State::Converged)
    })
    .await;
    // The resync's full listing (background work, 30 s) starts about 60 s after the first
    // sweep ended; change y 5 s into it.
    let first_end = h.elapsed();
    h.until(
        "the second full listing has started",
        Duration::from_secs(120),
        |h| {
            h.world(A::NAME)
                .calls
                .iter()
                .filter(|(_, c)| {
                    matches!(
                        c,
                        Call::Observe {
                            background: true,
                            ..
                        }
                    )
                })
                .count()
                == 2
        },
    )
    .await;
    assert!(h.elapsed() - first_end >= Duration::from_secs(55));
    h.wait(Duration::from_secs(5)).await;
    let changed_at = h.elapsed();
    h.want(&[("FakeA", "x", spec(1)), ("FakeA", "y", spec(2))]);
    h.until("y is updated", Duration::from_secs(30), |h| {
        h.world(A::NAME).items["y"].value == 2
    })
    .await;
    let updated_at = *h.applies("FakeA", "y").last().unwrap_or(&Duration::ZERO);
    assert!(
        updated_at - changed_at < Duration::from_secs(2),
        "applied at once, not after the 30 s listing ({:?})",
        updated_at - changed_at
    );
    // The full sweep ends with a listing older than y's change: y is left alone.
    h.wait(Duration::from_secs(40)).await;
    assert_eq!(h.world(A::NAME).items["y"].value, 2);
    assert_eq!(
        h.applies("FakeA", "y").len(),
        2,
        "the create and the one update: the stale listing did not set it back"
    );
    assert_eq!(h.state_of("FakeA", "y"), Some(State::Converged));
}

#[test]
fn the_fake_worlds_start_empty() {
    let w = World::default();
    assert!(w.items.is_empty() && w.calls.is_empty());
    let _: BTreeMap<String, Item> = w.items;
}
