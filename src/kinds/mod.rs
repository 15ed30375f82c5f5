//! The resource kinds. Each lives in a module of its own behind [`Schema`] (load time) and
//! [`Kind`] (run time); [`common`] holds what they share. This module only registers them: one
//! line each in the `registry!` call below gives the loader their schemas ([`Kinds`], a
//! [`Registry`]) and the engine their controllers ([`controllers`]). Adding a kind touches no
//! engine code and no loader code.

pub mod auto_scaling_group;
pub mod common;
pub mod dns_record;
pub mod iam_role;
pub mod load_balancer;
pub mod metric_alarm;
pub mod queue;
pub mod security_group;

use serde::de::{Deserializer, Error as _};
use serde_saphyr::Spanned;

use crate::aws::Clients;
use crate::core::schema::{self, unknown_kind, Derived, Reference, Registry, Schema, TagStyle};
use crate::engine::{Controller, Runnable, Settings};

/// Every kind this build knows, as the loader needs them.
pub struct Kinds;

macro_rules! registry {
    ($($k:ty),+ $(,)?) => {
        /// Every kind this build knows, by manifest name.
        pub const NAMES: &[&str] = &[$(<$k as Schema>::NAME),+];

        impl Registry for Kinds {
            fn names() -> &'static [&'static str] {
                NAMES
            }

            fn tag_style(kind: &str) -> Option<TagStyle> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => Some(<$k as Schema>::TAGS),)+
                    _ => None,
                }
            }

            fn typed_spec<'de, D: Deserializer<'de>>(
                kind: &str,
                d: D,
            ) -> Result<Spanned<serde_json::Value>, D::Error> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => schema::typed_spec::<$k, D>(d),)+
                    other => Err(D::Error::custom(unknown_kind(other))),
                }
            }

            fn retype(kind: &str, spec: serde_json::Value) -> Result<serde_json::Value, String> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => schema::retype::<$k>(spec),)+
                    other => Err(unknown_kind(other)),
                }
            }

            fn validate_name(kind: &str, name: &str) -> Result<(), String> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => <$k as Schema>::validate_name(name),)+
                    other => Err(unknown_kind(other)),
                }
            }

            fn validate_spec(kind: &str, name: &str, spec: &serde_json::Value) -> Vec<String> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => schema::validate_spec::<$k>(name, spec),)+
                    other => vec![unknown_kind(other)],
                }
            }

            fn expand(kind: &str, name: &str, spec: &serde_json::Value, region: &str) -> Vec<Derived> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => schema::expand::<$k>(name, spec, region),)+
                    _ => Vec::new(),
                }
            }

            fn is_global(kind: &str) -> bool {
                match kind {
                    $(k if k == <$k as Schema>::NAME => <$k as Schema>::GLOBAL,)+
                    _ => false,
                }
            }

            fn references(kind: &str, spec: &serde_json::Value) -> Vec<Reference> {
                match kind {
                    $(k if k == <$k as Schema>::NAME => schema::references::<$k>(spec),)+
                    _ => Vec::new(),
                }
            }
        }

        /// How many kinds a shard runs: the global ones, or the regional ones.
        pub fn count(global: bool) -> usize {
            [$(<$k as Schema>::GLOBAL),+].iter().filter(|g| **g == global).count()
        }

        /// One controller per kind of the shard: the global kinds for an account's `global`
        /// shard, the regional ones for a region's.
        pub fn controllers(clients: &Clients, settings: &Settings, global: bool) -> Vec<Box<dyn Runnable>> {
            let mut out: Vec<Box<dyn Runnable>> = Vec::new();
            $(if <$k as Schema>::GLOBAL == global {
                out.push(Box::new(Controller::new(<$k>::new(clients), settings)));
            })+
            out
        }
    };
}

registry!(
    queue::Queue,
    security_group::SecurityGroup,
    iam_role::IamRole,
    load_balancer::LoadBalancer,
    dns_record::DnsRecord,
    auto_scaling_group::AutoScalingGroup,
    metric_alarm::MetricAlarm,
);

/// Loads the desired tree at `root` with every kind this build knows.
pub fn load(
    root: &std::path::Path,
    opts: &crate::desired::LoadOptions,
) -> Result<crate::core::DesiredTree, crate::desired::LoadError> {
    crate::desired::load::<Kinds>(root, opts)
}

/// [`load`] again, reusing what unchanged files rendered last time (`converge run`'s reloads).
pub fn load_reusing(
    root: &std::path::Path,
    opts: &crate::desired::LoadOptions,
    cache: &crate::desired::reuse::RenderCache,
) -> Result<crate::core::DesiredTree, crate::desired::LoadError> {
    crate::desired::load_reusing::<Kinds>(root, opts, cache)
}

/// [`load_reusing`] with the stamp of what it read (the reloader's poll compares it).
pub fn load_stamped(
    root: &std::path::Path,
    opts: &crate::desired::LoadOptions,
    cache: &crate::desired::reuse::RenderCache,
) -> (
    Option<u64>,
    Result<crate::core::DesiredTree, crate::desired::LoadError>,
) {
    crate::desired::load_stamped::<Kinds>(root, opts, cache)
}

#[cfg(test)]
mod tests;
