//! The bottom floor: the vocabulary every other module shares, and nothing that does work.
//!
//! - [`error`]: the bounded error classes and the error a kind returns.
//! - [`change`]: what a planned change does ([`Action`]), the fields it sets
//!   ([`FieldChange`]) and the [`Change`] trait every kind's change type implements.
//! - [`schema`]: the load-time side of a kind ([`Schema`]: its name, spec type, validation,
//!   expansion, how it spells tags) and the [`Registry`] of every schema a build knows, which
//!   the loader is generic over.
//! - [`model`]: the desired-state data model ([`DesiredTree`] of shards, each a [`DesiredSet`]
//!   of [`DesiredResource`]s).
//! - [`shard`]: accounts, shards (one account and region) and the selection of shards.
//! - [`source`]: where things were written ([`Origin`], [`Problem`]), reading a manifest file and
//!   the YAML options and limits every file is read with.
//! - [`facts`]: typed keys of the facts one kind publishes for others ([`Fact`]).
//! - [`fence`]: whether a shard's mutating requests may be sent now (its lease, under high
//!   availability), on a clock that counts through suspend.
//! - [`priority`]: the marker that makes AWS requests background work, read by the pacing.
//!
//! The desired-state loader and the engine both stand on this module; neither imports the
//! other, and this module imports neither.

pub mod change;
pub mod error;
pub mod facts;
pub mod fence;
pub mod model;
pub mod priority;
pub mod schema;
pub mod shard;
pub mod source;

pub use change::{Action, Change, FieldChange, Replacement};
pub use error::{ErrorClass, KindError};
pub use facts::{Fact, FactFamily};
pub use model::{DesiredResource, DesiredRx, DesiredSet, DesiredTree, SpecText};
pub use schema::{Derived, Reference, Registry, Schema, TagStyle};
pub use shard::{Account, Accounts, ShardId, GLOBAL};
pub use source::{Origin, Problem};

/// The tag that marks a resource as created (or adopted) by a converge controller.
pub const MANAGED_BY_TAG: &str = "converge:managed-by";
