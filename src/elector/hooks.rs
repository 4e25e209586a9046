//! Hooks called as the elector works (requests, renewals, errors): metrics implement them;
//! the elector knows nothing about what they do with them.

use std::time::Duration;

use super::api::{ApiError, Verb};

/// Called by the election loop as things happen. Every method has an empty default, and
/// every call is made from the loop itself, so implementations must return at once (record
/// a number, send on a channel); anything slow belongs in a task of its own.
pub trait ElectionHooks: Send + Sync + 'static {
    /// A renewal succeeded; `latency` is how long the write took.
    fn renewed(&self, latency: Duration) {
        let _ = latency;
    }
    /// The fast-path renewal conflicted and the Lease had to be read (client-go's "slow path").
    fn slow_path(&self) {}
    /// Another live process renewed the Lease under this replica's identity.
    fn duplicate_identity(&self) {}
    /// A Lease API call is being sent (every call, whatever its outcome; a watch counts once,
    /// when it is opened).
    fn api_request(&self, verb: Verb) {
        let _ = verb;
    }
    /// An API call failed.
    fn api_error(&self, verb: Verb, kind: ErrorKind) {
        let _ = (verb, kind);
    }
}

/// The kinds of API failure, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Conflict,
    NotFound,
    Forbidden,
    Unauthorized,
    Rejected,
    Timeout,
    Transient,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transient => "transient",
        }
    }
}

impl ApiError {
    /// The kind of this error, and the verb of the call that failed.
    pub fn kind(&self) -> (Verb, ErrorKind) {
        match self {
            ApiError::Conflict { verb, .. } => (*verb, ErrorKind::Conflict),
            ApiError::NotFound { .. } => (Verb::Update, ErrorKind::NotFound),
            ApiError::Forbidden { verb, .. } => (*verb, ErrorKind::Forbidden),
            ApiError::Unauthorized { verb, .. } => (*verb, ErrorKind::Unauthorized),
            ApiError::Rejected { verb, .. } => (*verb, ErrorKind::Rejected),
            ApiError::Timeout { verb, .. } => (*verb, ErrorKind::Timeout),
            ApiError::Transient { verb, .. } => (*verb, ErrorKind::Transient),
        }
    }
}

/// Hooks that ignore everything.
pub struct NoHooks;

impl ElectionHooks for NoHooks {}
