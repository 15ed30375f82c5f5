//! converge: a long-running reconciliation controller that keeps AWS resources in line with
//! desired-state YAML kept in git.
//!
//! The shape, in the order data flows:
//! - [`core`]: the vocabulary everything else stands on (errors, changes, the schema trait,
//!   the desired-state model, source diagnostics, fact keys, request priority).
//! - [`desired`]: load a tree of manifests all-or-nothing (errors carry `file:line:column`),
//!   watch it for changes, keep the last good set. Generic over a registry of schemas.
//! - [`engine`]: one controller loop per resource kind; per-resource backoff; drift detection;
//!   ownership, adoption and guarded pruning; status and metrics. The engine knows no AWS
//!   service and no kind.
//! - [`kinds`]: one module per resource kind behind [`core::Schema`] and [`engine::Kind`];
//!   [`kinds::common`] holds what they share.
//! - [`aws`]: SDK configuration, the API-call-counting interceptor, error classification.
//! - [`template`]: Jinja templates rendered per service instance, layered values, the naming
//!   convention and its grains; [`salt`]: importing Salt `boto_*` state files.
//! - [`supervisor`]: starts a shard (account and region) per part of the tree, each with its
//!   own clients and engine; [`engine::fleet`] is what `/status` and `plan` read of them.
//! - [`lease`]: high availability: replicas share the shards through fenced leases in
//!   DynamoDB, and the supervisor runs only the shards this replica holds.
//! - [`metrics`] and [`http`]: the Prometheus registry and the `/metrics`, `/healthz`, `/readyz`
//!   and `/status` endpoints; [`mem`]: bounded malloc arenas.

pub mod aws;
pub mod cli;
pub mod core;
pub mod desired;
pub mod engine;
pub mod http;
pub mod kinds;
pub mod lease;
pub mod mem;
pub mod metrics;
pub mod node;
pub mod plan;
pub mod salt;
pub mod status_view;
pub mod supervisor;
pub mod template;
