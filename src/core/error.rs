//! Errors as the engine sees them: a bounded class (a metric label and a retry policy) and a
//! message that names the operation and the resource.

use serde::Serialize;

/// Bounded error classes (the `class` label of `converge_reconcile_errors_total`).
///
/// Waiting for another resource is not an error: it is the `pending` state with `waiting_for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// AWS asked us to slow down: retried with backoff.
    Throttled,
    /// Transient (5xx, timeout, connection): retried with backoff.
    Retryable,
    /// Will not succeed by retrying (access denied, invalid request): retried only at the
    /// backoff cap or when the desired spec changes.
    Terminal,
    /// The resource belongs to another controller; left alone.
    Conflict,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::Retryable => "retryable",
            ErrorClass::Terminal => "terminal",
            ErrorClass::Conflict => "conflict",
        }
    }

    /// Retrying soon will not help: the engine waits the backoff cap (no retry storm), and
    /// `apply` stops waiting for the resource.
    pub fn is_final(self) -> bool {
        matches!(self, ErrorClass::Terminal | ErrorClass::Conflict)
    }
}

/// An error from a kind: classified, with a message naming the operation and the resource.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct KindError {
    pub class: ErrorClass,
    pub message: String,
}

impl KindError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        KindError {
            class,
            message: message.into(),
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        KindError::new(ErrorClass::Retryable, message)
    }

    pub fn terminal(message: impl Into<String>) -> Self {
        KindError::new(ErrorClass::Terminal, message)
    }
}
