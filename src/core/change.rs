//! The change vocabulary: what a planned change does, and the fields it sets, for plans,
//! `/status`, metrics and the audit log.

use std::fmt;

use serde::Serialize;

use super::error::KindError;

/// What a change does, for metrics, plans and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Tag,
    /// An immutable field differs: the resource would have to be replaced. Never applied
    /// automatically; reported in `plan` and `/status`.
    Replace,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Tag => "tag",
            Action::Replace => "replace",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of a planned change: `field: from → to` (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Self {
        FieldChange {
            field: field.into(),
            from,
            to,
        }
    }

    /// `field: (none) → to`.
    pub fn added(field: impl Into<String>, to: impl Into<String>) -> Self {
        FieldChange::new(field, None, Some(to.into()))
    }

    /// `field: from → (none)`.
    pub fn removed(field: impl Into<String>, from: impl Into<String>) -> Self {
        FieldChange::new(field, Some(from.into()), None)
    }

    /// `field: from → to`, where `from` may be absent.
    pub fn changed(field: impl Into<String>, from: Option<String>, to: impl Into<String>) -> Self {
        FieldChange::new(field, from, Some(to.into()))
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
        write!(
            f,
            "{}: {} → {}",
            self.field,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// One planned mutation of one resource.
pub trait Change: fmt::Debug + Clone + Send + Sync + 'static {
    fn action(&self) -> Action;
    /// The fields this change sets, for plans, status and the audit log. Policy bodies and
    /// secrets are summarised by the kind, never dumped.
    fn fields(&self) -> Vec<FieldChange>;
}

/// An immutable field that differs: the resource would have to be replaced. Kinds plan it as
/// a change of [`Action::Replace`]; the engine never applies one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub field: String,
    pub live: Option<String>,
    pub desired: String,
}

impl Replacement {
    pub fn new(field: impl Into<String>, live: Option<String>, desired: impl Into<String>) -> Self {
        Replacement {
            field: field.into(),
            live,
            desired: desired.into(),
        }
    }

    /// `<field> (immutable): live → desired`.
    pub fn fields(&self) -> Vec<FieldChange> {
        vec![FieldChange::new(
            format!("{} (immutable)", self.field),
            self.live.clone(),
            Some(self.desired.clone()),
        )]
    }

    /// The error for an attempt to apply it anyway (the engine never does).
    pub fn refused(&self, kind: &str, name: &str) -> KindError {
        KindError::terminal(format!(
            "{kind} {name}: {} is immutable; it would have to be replaced",
            self.field
        ))
    }
}
