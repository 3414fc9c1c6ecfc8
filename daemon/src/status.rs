//! The one place that maps engine errors to gRPC status codes.

use berth_engine::Error;
use tonic::{Code, Status};

/// Maps an engine error to a status with a clear one-line message.
pub fn to_status(e: Error) -> Status {
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
    Status::new(code, e.to_string())
}

/// `?`-friendly conversion for handler results.
pub trait IntoStatus<T> {
    fn status(self) -> Result<T, Status>;
}

impl<T> IntoStatus<T> for Result<T, Error> {
    fn status(self) -> Result<T, Status> {
        self.map_err(to_status)
    }
}
