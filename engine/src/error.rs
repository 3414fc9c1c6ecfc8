//! The engine's errors. Each variant says what went wrong in terms a front
//! can map to a status code in one place (berthd's `status.rs`).

/// An engine error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// The object is in a state that does not allow the operation.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The container's process could not be started; `exit_code` is what
    /// Docker reports for it (127 not found, 126 not executable).
    #[error("failed to start container: {message}")]
    StartFailed { message: String, exit_code: i32 },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to I/O errors.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: what(), source })
    }
}

/// The one place that maps engine errors to gRPC status codes; every
/// front (engine API, CRI) converts through it.
#[cfg(feature = "grpc")]
impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Code;
        let code = match &e {
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            // The container's command could not run: the caller's input.
            Error::StartFailed { .. } => Code::FailedPrecondition,
            Error::Io { .. } | Error::Internal(_) => Code::Internal,
        };
        if code == Code::Internal {
            tracing::error!(error = %e, "internal error");
        }
        tonic::Status::new(code, e.to_string())
    }
}
