//! AWS errors as a kind meets them: each kind declares its codes once, as data ([`ErrorCodes`]:
//! which codes retrying will not fix, and how the API says "not found"), and every call site
//! turns an SDK result into a classified [`KindError`] with one method of [`Sent`].
//!
//! ```ignore
//! const CODES: ErrorCodes = ErrorCodes::new(&["QueueNameExists"], NotFound::Codes(&["QueueDoesNotExist"]));
//! client.tag_queue().queue_url(url).set_tags(Some(tags)).send().await.or_fail(&CODES, "TagQueue", name)?;
//! client.delete_queue().queue_url(url).send().await.gone_ok(&CODES, "DeleteQueue", name)?;
//! ```

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::classify;
use crate::core::KindError;

/// How an API says that what was asked for does not exist.
#[derive(Debug, Clone, Copy)]
pub enum NotFound {
    /// One of these codes.
    Codes(&'static [&'static str]),
    /// This code with a message containing this text (Auto Scaling answers `ValidationError`
    /// "... not found").
    CodeSaying(&'static str, &'static str),
}

/// A kind's AWS error vocabulary.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCodes {
    /// Codes retrying will not fix, beyond the ones every service shares
    /// ([`crate::aws::TERMINAL_CODES`]).
    pub terminal: &'static [&'static str],
    pub not_found: NotFound,
}

impl ErrorCodes {
    pub const fn new(terminal: &'static [&'static str], not_found: NotFound) -> ErrorCodes {
        ErrorCodes {
            terminal,
            not_found,
        }
    }

    /// True when `err` says the resource does not exist.
    pub fn is_not_found<E: ProvideErrorMetadata, R>(&self, err: &SdkError<E, R>) -> bool {
        let Some(code) = code_of(err) else {
            return false;
        };
        match self.not_found {
            NotFound::Codes(codes) => codes.contains(&code),
            NotFound::CodeSaying(c, text) => {
                code == c && message_of(err).is_some_and(|m| m.to_ascii_lowercase().contains(text))
            }
        }
    }
}

/// AWS's error code, when the service answered with one.
pub fn code_of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// AWS's error message, when the service answered with one.
pub fn message_of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.message())
}

/// True when AWS's code is one of `codes`.
pub fn has_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    code_of(err).is_some_and(|c| codes.contains(&c))
}

/// True when AWS's code contains `fragment` (EC2 spells one idea in several codes, e.g.
/// `InvalidLaunchTemplateName.AlreadyExistsException`).
pub fn code_contains<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, fragment: &str) -> bool {
    code_of(err).is_some_and(|c| c.contains(fragment))
}

/// A change that needs the live resource (its URL or id) before the listing has seen it.
pub fn unobserved(what: &str, name: &str) -> KindError {
    KindError::retryable(format!("{what} {name} is not observed yet"))
}

/// A request the SDK refused to build (a required field missing): a bug or an invalid spec,
/// never fixed by retrying.
pub fn unbuildable(operation: &str, resource: &str, err: impl fmt::Display) -> KindError {
    KindError::terminal(format!(
        "{operation} {resource}: request could not be built: {err}"
    ))
}

/// What a kind does with the result of one AWS call.
pub trait Sent<T>: Sized {
    /// A failure, classified: `<operation> <resource>: <code>: <message>`.
    fn or_fail(self, codes: &ErrorCodes, operation: &str, resource: &str) -> Result<T, KindError>;

    /// [`Sent::or_fail`], the answer dropped: a call done for its effect.
    fn done(self, codes: &ErrorCodes, operation: &str, resource: &str) -> Result<(), KindError> {
        self.or_fail(codes, operation, resource).map(drop)
    }

    /// `None` when the resource does not exist (a read that found nothing).
    fn or_missing(
        self,
        codes: &ErrorCodes,
        operation: &str,
        resource: &str,
    ) -> Result<Option<T>, KindError>;

    /// Done when the resource does not exist (a delete of what is already gone).
    fn gone_ok(self, codes: &ErrorCodes, operation: &str, resource: &str) -> Result<(), KindError> {
        self.or_missing(codes, operation, resource).map(|_| ())
    }

    /// Done when AWS answers one of `benign` (e.g. "already exists" on a create that an
    /// earlier attempt made).
    fn ok_if(
        self,
        benign: &[&str],
        codes: &ErrorCodes,
        operation: &str,
        resource: &str,
    ) -> Result<(), KindError>;
}

impl<T, E, R> Sent<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: fmt::Debug + 'static,
{
    fn or_fail(self, codes: &ErrorCodes, operation: &str, resource: &str) -> Result<T, KindError> {
        self.map_err(|e| classify(operation, resource, &e, codes.terminal))
    }

    fn or_missing(
        self,
        codes: &ErrorCodes,
        operation: &str,
        resource: &str,
    ) -> Result<Option<T>, KindError> {
        ok_when(self, |e| codes.is_not_found(e), codes, operation, resource)
    }

    fn ok_if(
        self,
        benign: &[&str],
        codes: &ErrorCodes,
        operation: &str,
        resource: &str,
    ) -> Result<(), KindError> {
        ok_when(self, |e| has_code(e, benign), codes, operation, resource).map(drop)
    }
}

/// The result, `None` when the failure is one `fine` accepts, else the failure classified.
fn ok_when<T, E, R>(
    sent: Result<T, SdkError<E, R>>,
    fine: impl Fn(&SdkError<E, R>) -> bool,
    codes: &ErrorCodes,
    operation: &str,
    resource: &str,
) -> Result<Option<T>, KindError>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: fmt::Debug + 'static,
{
    match sent {
        Ok(v) => Ok(Some(v)),
        Err(e) if fine(&e) => Ok(None),
        Err(e) => Err(classify(operation, resource, &e, codes.terminal)),
    }
}
