//! What every kind shares, written once: the tag rules and tag-set diff ([`tags`]), tags in
//! pages from the Tagging API ([`tagging`]), lenient
//! YAML scalars ([`scalar`]), add/remove deltas of sets ([`delta`]), AWS error handling with
//! each kind's codes declared as data ([`errors`]), the names and fact keys kinds refer to
//! each other by ([`refs`]), VPCs and subnets by their `Name` tag ([`names`]), field checks
//! ([`validate`]), semantic JSON and IAM policy
//! comparison ([`json`], [`policy`]) and, for tests, diff-context fixtures (`fixtures`).
//!
//! A kind imports from here and from nowhere else in `kinds/`: no kind imports another.

pub mod delta;
pub mod errors;
#[cfg(test)]
pub mod fixtures;
pub mod json;
pub mod names;
pub mod policy;
pub mod refs;
pub mod scalar;
pub mod tagging;
pub mod tags;
pub mod validate;
