//! The resource kinds. Each lives in its own file behind [`Kind`]; this module only registers
//! them (one line each in the `registry!` call below) so the loader can type their specs and
//! the engine can run their controllers.

pub mod auto_scaling_group;
pub mod dns_record;
pub mod iam_role;
pub mod json;
pub mod load_balancer;
pub mod metric_alarm;
pub mod policy;
pub mod queue;
pub mod security_group;
pub mod tagset;

use serde::de::{DeserializeSeed, Deserializer, Error as _};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::aws::Clients;
use crate::engine::{Controller, Kind, Runnable, Settings};

fn typed<'de, K: Kind, D: Deserializer<'de>>(d: D) -> Result<Spanned<serde_json::Value>, D::Error> {
    let s: Spanned<K::Spec> = Spanned::deserialize(d)?;
    let v = serde_json::to_value(&s.value).map_err(D::Error::custom)?;
    Ok(Spanned::new(v, s.referenced, s.defined))
}

fn roundtrip<K: Kind>(v: serde_json::Value) -> Result<serde_json::Value, String> {
    let spec: K::Spec = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(&spec).map_err(|e| e.to_string())
}

fn derive<K: Kind>(name: &str, v: &serde_json::Value) -> Vec<crate::engine::Derived> {
    serde_json::from_value::<K::Spec>(v.clone())
        .map(|spec| K::expand(name, &spec))
        .unwrap_or_default()
}

fn check<K: Kind>(name: &str, v: &serde_json::Value) -> Vec<String> {
    match serde_json::from_value::<K::Spec>(v.clone()) {
        Ok(spec) => K::validate(name, &spec),
        Err(e) => vec![format!("spec: {e}")],
    }
}

macro_rules! registry {
    ($($k:ty),+ $(,)?) => {
        /// Every kind this build knows, by manifest name.
        pub const NAMES: &[&str] = &[$(<$k as Kind>::NAME),+];

        /// Deserialises a spec straight from the YAML into the kind's typed spec (so errors
        /// carry their own line and column), returning it as JSON.
        pub struct SpecSeed<'a>(pub &'a str);

        impl<'de> DeserializeSeed<'de> for SpecSeed<'_> {
            type Value = Spanned<serde_json::Value>;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                match self.0 {
                    $(k if k == <$k as Kind>::NAME => typed::<$k, D>(d),)+
                    other => Err(D::Error::custom(format!("unknown kind `{other}`"))),
                }
            }
        }

        /// Types a spec that was read before its `kind` (location: the spec's start).
        pub fn spec_from_value(kind: &str, v: serde_json::Value) -> Result<serde_json::Value, String> {
            match kind {
                $(k if k == <$k as Kind>::NAME => roundtrip::<$k>(v),)+
                other => Err(format!("unknown kind `{other}`")),
            }
        }

        /// Checks a resource name as AWS would for this kind.
        pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
            match kind {
                $(k if k == <$k as Kind>::NAME => <$k as Kind>::validate_name(name),)+
                other => Err(format!("unknown kind `{other}`")),
            }
        }

        /// The kind's checks beyond the schema.
        pub fn validate_spec(kind: &str, name: &str, v: &serde_json::Value) -> Vec<String> {
            match kind {
                $(k if k == <$k as Kind>::NAME => check::<$k>(name, v),)+
                other => vec![format!("unknown kind `{other}`")],
            }
        }

        /// Resources implied by this one (see `Kind::expand`).
        pub fn expand(kind: &str, name: &str, v: &serde_json::Value) -> Vec<crate::engine::Derived> {
            match kind {
                $(k if k == <$k as Kind>::NAME => derive::<$k>(name, v),)+
                _ => Vec::new(),
            }
        }

        /// One controller per kind.
        pub fn controllers(clients: &Clients, settings: &Settings) -> Vec<Box<dyn Runnable>> {
            vec![$(Box::new(Controller::new(<$k>::new(clients), settings)),)+]
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
