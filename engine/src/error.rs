//! The engine's errors. Each variant says what went wrong in terms a front
//! can map to a status code in one place (berthd's `status.rs`).

/// What an operation looked for and didn't find, by kind: each front
/// words it its own way (the Display here is dockerd's, which the Docker
/// front and the CLI show).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// By the key the caller gave (id, prefix or name).
    #[error("No such container: {0}")]
    Container(String),
    #[error("No such image: {0}")]
    Image(String),
    #[error("network {0} not found")]
    Network(String),
    #[error("get {0}: no such volume")]
    Volume(String),
    #[error("pod sandbox {0:?} not found")]
    Sandbox(String),
    /// Anything else (a layer, a blob, a manifest), worded where it was missed.
    #[error("{0}")]
    Other(String),
}

/// An engine error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(Missing),
    /// No such path in a container's filesystem (a copy's source or target).
    #[error("Could not find the file {path} in container {container}")]
    PathNotFound { path: String, container: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidArgument(Invalid),
    /// The object is in a state that does not allow the operation.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A registry wants credentials, or refused the ones given.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// A registry (or another remote) could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// Content that is not what its digest says, or a hostile layer.
    #[error("{0}")]
    BadContent(String),
    /// The container's process could not be started; `exit_code` is what
    /// Docker reports for it (127 not found, 126 not executable).
    #[error("failed to start container: {message}")]
    StartFailed { message: String, exit_code: i32 },
    /// The operation was given up because a sibling failed (never reaches a client).
    #[error("cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Internal(String),
    /// A failure of the node or of berth itself, with its cause kept.
    #[error("{context}: {source}")]
    System { context: String, source: Box<dyn std::error::Error + Send + Sync> },
}

/// What is wrong with a request: why, and the field at fault when one is
/// (named as the engine's request names it, e.g. `resources.memory`), so a
/// front can say which of its own fields that is without reading the words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    pub field: Option<&'static str>,
    pub reason: String,
}

impl Error {
    /// An invalid request, no one field at fault.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidArgument(Invalid { field: None, reason: reason.into() })
    }

    /// An invalid value of `field`.
    pub fn invalid_field(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument(Invalid { field: Some(field), reason: reason.into() })
    }

    pub(crate) fn system(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::System { context: context.into(), source: source.into() }
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::system("blocking task", e)
    }
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

/// Registry errors in engine terms.
impl From<berth_registry::Error> for Error {
    fn from(e: berth_registry::Error) -> Self {
        use berth_registry::Error as R;
        match e {
            R::InvalidReference(m) => Error::invalid(m),
            R::NotFound(m) => Error::NotFound(Missing::Other(m)),
            R::Unauthorized(m) => Error::Unauthenticated(m),
            R::Denied(m) => Error::PermissionDenied(m),
            R::Invalid(m) => Error::BadContent(m),
            R::Stalled(m) => Error::DeadlineExceeded(m),
            R::Unavailable(m) => Error::Unavailable(m),
            R::Io { context, source } => Error::Io { context, source },
        }
    }
}

/// The one place that maps engine errors to gRPC status codes, for the
/// CRI front (the Docker front's is `docker/src/error.rs`).
#[cfg(feature = "grpc")]
impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Code;
        let code = match &e {
            Error::NotFound(_) | Error::PathNotFound { .. } => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Unavailable(_) => Code::Unavailable,
            Error::BadContent(_) => Code::DataLoss,
            // The container's command could not run: the caller's input.
            Error::StartFailed { .. } => Code::FailedPrecondition,
            Error::Cancelled => Code::Cancelled,
            Error::Io { .. } | Error::Internal(_) | Error::System { .. } => Code::Internal,
        };
        if code == Code::Internal {
            tracing::error!(error = %e, "internal error");
        }
        // containerd's words for what kubelet looked up.
        let message = match &e {
            Error::NotFound(Missing::Container(key)) => format!("container {key:?} not found"),
            Error::NotFound(Missing::Image(name)) => format!("image {name:?} not found"),
            other => other.to_string(),
        };
        tonic::Status::new(code, message)
    }
}

#[cfg(all(test, feature = "grpc"))]
mod tests {
    use super::*;

    #[test]
    fn each_front_words_what_is_missing() {
        let e = || Error::NotFound(Missing::Container("web".into()));
        assert_eq!(e().to_string(), "No such container: web");
        let s = tonic::Status::from(e());
        assert_eq!((s.code(), s.message()), (tonic::Code::NotFound, "container \"web\" not found"));
        let s = tonic::Status::from(Error::NotFound(Missing::Sandbox("p1".into())));
        assert_eq!(s.message(), "pod sandbox \"p1\" not found");
        let other = Error::NotFound(Missing::Other("layer sha256:aa is not stored".into()));
        assert_eq!(tonic::Status::from(other).message(), "layer sha256:aa is not stored");
    }
}
