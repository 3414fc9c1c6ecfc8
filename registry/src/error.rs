//! The client's errors, in terms callers can map to status codes.

/// A registry client error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference, digest or platform string that can't be used.
    #[error("{0}")]
    InvalidReference(String),
    /// The registry has no such manifest or blob (or no such repository).
    #[error("{0}")]
    NotFound(String),
    /// The registry wants credentials we don't have, or refused ours.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Denied(String),
    /// Content that is not what its digest or the protocol says.
    #[error("{0}")]
    Invalid(String),
    /// No progress for longer than the configured stall timeout.
    #[error("{0}")]
    Stalled(String),
    /// The registry could not be reached or answered with a server error.
    #[error("{0}")]
    Unavailable(String),
    /// Writing what was fetched failed.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Describes a transport error without the URL's query (which can hold tokens).
pub(crate) fn transport(what: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let mut msg = format!("{what}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    Error::Unavailable(msg)
}
