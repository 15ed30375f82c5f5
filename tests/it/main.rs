//! The integration tests: one test binary, `it`, with one module per area. Each area was a
//! test binary of its own (`tests/<area>.rs`); together they link once instead of fourteen
//! times. Run one area with `cargo test --test it <area>::`, one test with
//! `cargo test --test it <area>::<test>`.
//!
//! Every area keeps a moto server of its own, as it had when it was a binary: see `common`
//! (the shared support, `tests/it/common/`) for why and how.
//!
//! - `architecture`: the module graph of `src/` follows the layering (no moto needed).
//! - `queues`: the engine end to end on SQS queues.
//! - `security_groups`, `iam_roles`, `load_balancers`, `dns_records`, `auto_scaling_groups`,
//!   `metric_alarms`: each kind end to end against moto.
//! - `reference_stack`: the whole reference stack (desired/examples) in one test.
//! - `templates`: templates, layered values, naming and grains.
//! - `import_sls`: `converge import-sls` and its equivalence with the template.
//! - `salt_trees`: `import-sls` of a whole formula-like state tree with a pillar top file, applied.
//! - `deploy`: git deploy hooks, the audit log, alert rules, dashboards, a real Prometheus.
//! - `cli`: the command-line contract (exit codes, errors, help).
//! - `console`: the web console in headless Chromium, `converge status`, its auth and escaping.
//! - `faults`: reliability under AWS faults, through the fault proxy (`common::faults`).
//! - `leases`: high availability: replicas sharing shards through DynamoDB leases, fenced.
//! - `hostile_input`: broken and hostile desired state, resource bombs, loader fuzzing.
//! - `node`: `converge node publish` and `node run` against moto's S3 and ELB.

mod common;

mod architecture;
mod auto_scaling_groups;
mod cli;
mod console;
mod deploy;
mod dns_records;
mod faults;
mod hostile_input;
mod iam_roles;
mod import_sls;
mod leases;
mod load_balancers;
mod metric_alarms;
mod node;
mod queues;
mod reference_stack;
mod salt_trees;
mod security_groups;
mod shards;
mod templates;
