//! An in-memory kind for the engine's own tests: a world of named items (a number and an
//! owner tag), shared with the test, that can be told to fail, hang or list slowly. Two
//! instances of it ([`A`] and [`B`]) are two kinds, so references between kinds can be tested.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::core::facts::Published;
use crate::core::{Action, Change, ErrorClass, Fact, FieldChange, KindError, Schema};
use crate::engine::{DiffCtx, Kind, Observed, Scope, Waiting};

/// Which fake kind.
pub trait Marker: Send + Sync + 'static {
    const NAME: &'static str;
    /// The fact every item of this kind publishes: its value.
    const VALUE: Fact;
}

pub struct A;
pub struct B;

impl Marker for A {
    const NAME: &'static str = "FakeA";
    const VALUE: Fact = Fact::new("FakeA", "value");
}

impl Marker for B {
    const NAME: &'static str = "FakeB";
    const VALUE: Fact = Fact::new("FakeB", "value");
}

/// A spec: the value wanted, and optionally an item of kind B that must exist first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub value: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
}

/// One item as the world holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: i64,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FakeChange {
    Create(i64),
    Set { from: i64, to: i64 },
    Adopt,
}

impl Change for FakeChange {
    fn action(&self) -> Action {
        match self {
            FakeChange::Create(_) => Action::Create,
            FakeChange::Set { .. } => Action::Update,
            FakeChange::Adopt => Action::Tag,
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            FakeChange::Create(v) => vec![FieldChange::added("value", v.to_string())],
            FakeChange::Set { from, to } => vec![FieldChange::changed(
                "value",
                Some(from.to_string()),
                to.to_string(),
            )],
            FakeChange::Adopt => vec![FieldChange::added("owner", "test")],
        }
    }
}

/// One call the engine made, and when (paused tokio time).
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A listing: how many desired resources it was asked about, whether it was asked for
    /// every resource (prune), and whether it ran as background work (a full sweep's).
    Observe {
        desired: usize,
        all: bool,
        background: bool,
    },
    Apply {
        name: String,
        action: Action,
    },
    Delete(String),
}

/// The fake AWS of one kind, and what to do wrong.
#[derive(Default)]
pub struct World {
    pub items: BTreeMap<String, Item>,
    /// name → (class, how many more applies fail); `u32::MAX` fails forever.
    pub fail: BTreeMap<String, (ErrorClass, u32)>,
    /// Applies to these never return (until the engine's deadline).
    pub hang: BTreeSet<String>,
    /// Listings fail with this class while set.
    pub fail_listing: Option<ErrorClass>,
    /// A full sweep's listing (background work, see `core::priority`) takes this long.
    pub slow_full_listing: Duration,
    pub calls: Vec<(Instant, Call)>,
}

/// A fake kind over a shared [`World`].
pub struct Fake<M: Marker> {
    pub world: Arc<Mutex<World>>,
    marker: PhantomData<M>,
}

impl<M: Marker> Fake<M> {
    pub fn new(world: Arc<Mutex<World>>) -> Self {
        Fake {
            world,
            marker: PhantomData,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<M: Marker> Schema for Fake<M> {
    const NAME: &'static str = M::NAME;
    type Spec = Spec;

    fn validate_name(_name: &str) -> Result<(), String> {
        Ok(())
    }
}

impl<M: Marker> Kind for Fake<M> {
    type Live = Item;
    type Change = FakeChange;

    async fn observe(&self, scope: &Scope<'_, Spec>) -> Result<Observed<Item>, KindError> {
        let delay = {
            let mut w = self.world();
            w.calls.push((
                Instant::now(),
                Call::Observe {
                    desired: scope.desired.len(),
                    all: scope.all,
                    background: crate::core::priority::in_background(),
                },
            ));
            if let Some(class) = w.fail_listing {
                return Err(KindError::new(class, format!("listing {} failed", M::NAME)));
            }
            if crate::core::priority::in_background() {
                w.slow_full_listing
            } else {
                Duration::ZERO
            }
        };
        tokio::time::sleep(delay).await;
        Ok(self.world().items.clone())
    }

    fn owner(live: &Item) -> Option<&str> {
        live.owner.as_deref()
    }

    fn facts(_name: &str, live: &Item, out: &mut Published) {
        out.set(M::VALUE, live.value.to_string());
    }

    fn diff(
        ctx: &DiffCtx<'_>,
        _name: &str,
        desired: &Spec,
        live: Option<&Item>,
    ) -> Result<Vec<FakeChange>, Waiting> {
        if let Some(other) = &desired.needs {
            if ctx.fact(B::VALUE, other).is_none() {
                return Err(Waiting::on(B::NAME, other));
            }
        }
        let Some(live) = live else {
            return Ok(vec![FakeChange::Create(desired.value)]);
        };
        let mut changes = Vec::new();
        if live.owner.is_none() {
            changes.push(FakeChange::Adopt);
        }
        if live.value != desired.value {
            changes.push(FakeChange::Set {
                from: live.value,
                to: desired.value,
            });
        }
        Ok(changes)
    }

    async fn apply(
        &self,
        ctx: &DiffCtx<'_>,
        name: &str,
        _live: Option<&Item>,
        change: &FakeChange,
    ) -> Result<(), KindError> {
        let hang = {
            let mut w = self.world();
            w.calls.push((
                Instant::now(),
                Call::Apply {
                    name: name.to_string(),
                    action: change.action(),
                },
            ));
            if let Some((class, left)) = w.fail.get_mut(name) {
                if *left > 0 {
                    if *left != u32::MAX {
                        *left -= 1;
                    }
                    return Err(KindError::new(*class, format!("apply {name} failed")));
                }
            }
            w.hang.contains(name)
        };
        if hang {
            std::future::pending::<()>().await;
        }
        let mut w = self.world();
        let owner = Some(ctx.controller_id.to_string());
        match change {
            FakeChange::Create(v) => {
                w.items.insert(name.to_string(), Item { value: *v, owner });
            }
            FakeChange::Set { to, .. } => {
                if let Some(i) = w.items.get_mut(name) {
                    i.value = *to;
                }
            }
            FakeChange::Adopt => {
                if let Some(i) = w.items.get_mut(name) {
                    i.owner = owner;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, name: &str, _live: &Item) -> Result<(), KindError> {
        let mut w = self.world();
        w.calls
            .push((Instant::now(), Call::Delete(name.to_string())));
        w.items.remove(name);
        Ok(())
    }
}
