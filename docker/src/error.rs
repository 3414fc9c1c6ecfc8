//! The one place engine errors become Docker's: an HTTP status and
//! `{"message": …}`, as the docker CLI and the SDKs read them (404 for no
//! such container or image, 409 for a conflict, 400 for bad parameters).

use berth_engine::Error;
use hyper::StatusCode;

/// An error answer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NotFound(_) | Error::PathNotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists(_) | Error::FailedPrecondition(_) => StatusCode::CONFLICT,
            Error::InvalidArgument(_) | Error::BadContent(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Error::DeadlineExceeded(_) | Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::StartFailed { .. }
            | Error::Cancelled
            | Error::Io { .. }
            | Error::Internal(_)
            | Error::System { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self { status, message: e.to_string() }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
