//! The one place engine errors become Docker's: an HTTP status and
//! `{"message": …}`, as the docker CLI and the SDKs read them (404 for no
//! such container or image, 409 for a conflict, 400 for bad parameters).

use berth_engine::{Error, Missing};
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

impl From<berth_builder::BuildError> for ApiError {
    fn from(e: berth_builder::BuildError) -> Self {
        use berth_builder::BuildError as B;
        match e {
            B::Engine(e) => e.into(),
            B::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            B::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            B::NotFound(m) => Self::not_found(m),
            e @ (B::Io { .. } | B::Cancelled) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
            e => Self::bad_request(e.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

// Where dockerd words one operation's errors its own way: here too, so the
// routes never match on engine errors themselves.

/// An image the client named is missing: named as the client named it.
pub(crate) fn no_such_image(e: Error, name: &str) -> ApiError {
    match e {
        Error::NotFound(_) => ApiError::not_found(format!("No such image: {name}")),
        other => other.into(),
    }
}

/// A create: a missing image is a 404 (the CLI answers it with a pull and a
/// retry); a container or network the request names is a bad parameter.
pub(crate) fn create(e: Error, image: &str) -> ApiError {
    match e {
        Error::NotFound(Missing::Image(_)) => no_such_image(e, image),
        Error::NotFound(m @ (Missing::Container(_) | Missing::Network(_))) => {
            ApiError::bad_request(m.to_string())
        }
        other => other.into(),
    }
}

/// A pull: a missing manifest, or a registry that wants credentials
/// (`name`: the reference as the CLI shows it, `repository` likewise).
pub(crate) fn pull(e: Error, name: &str, repository: &str) -> ApiError {
    match e {
        Error::NotFound(m) => ApiError::not_found(format!("manifest for {name} not found: {m}")),
        Error::Unauthenticated(_) | Error::PermissionDenied(_) => ApiError::not_found(format!(
            "pull access denied for {repository}, repository does not exist or may require 'docker login': {e}"
        )),
        other => other.into(),
    }
}

/// A login the registry refused: 401 either way.
pub(crate) fn login(e: Error) -> ApiError {
    match e {
        Error::Unauthenticated(m) | Error::PermissionDenied(m) => {
            ApiError::new(StatusCode::UNAUTHORIZED, m)
        }
        other => other.into(),
    }
}

/// A missing path, with the container as the client named it.
pub(crate) fn path_in(e: Error, container: &str) -> ApiError {
    match e {
        Error::PathNotFound { path, .. } => {
            ApiError::not_found(format!("Could not find the file {path} in container {container}"))
        }
        other => other.into(),
    }
}

/// A container the Docker front doesn't show (missing, or a pod's).
pub(crate) fn no_such_container(key: &str) -> ApiError {
    ApiError::not_found(format!("No such container: {key}"))
}

/// A lookup of a container the client named.
pub(crate) fn container(e: Error, key: &str) -> ApiError {
    match e {
        Error::NotFound(_) => no_such_container(key),
        other => other.into(),
    }
}

pub(crate) fn not_running(id: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, format!("Container {id} is not running"))
}

/// An exec's start in a container that stopped meanwhile.
pub(crate) fn exec_start(e: Error, container: &str) -> ApiError {
    match e {
        Error::FailedPrecondition(_) => not_running(container),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: Error) -> u16 {
        ApiError::from(e).status.as_u16()
    }

    #[test]
    fn engine_kinds_become_docker_s_statuses() {
        assert_eq!(status(Error::NotFound(Missing::Volume("v".into()))), 404);
        assert_eq!(status(Error::AlreadyExists("x".into())), 409);
        assert_eq!(status(Error::FailedPrecondition("x".into())), 409);
        assert_eq!(status(Error::invalid("x")), 400);
        assert_eq!(status(Error::BadContent("x".into())), 400);
        assert_eq!(status(Error::Unauthenticated("x".into())), 401);
        assert_eq!(status(Error::Internal("x".into())), 500);
        let e = ApiError::from(Error::invalid("bad ulimit"));
        assert_eq!(e.message, "bad ulimit");
    }

    #[test]
    fn operations_word_their_errors_as_dockerd() {
        let missing = |m| Error::NotFound(m);
        let e = create(missing(Missing::Image("sha256:ab".into())), "busybox");
        assert_eq!((e.status.as_u16(), e.message.as_str()), (404, "No such image: busybox"));
        // The CLI pulls on a 404 from create: a missing network is a bad parameter.
        let e = create(missing(Missing::Network("front".into())), "busybox");
        assert_eq!((e.status.as_u16(), e.message.as_str()), (400, "network front not found"));
        let e = container(missing(Missing::Container("ab".into())), "web");
        assert_eq!(e.message, "No such container: web");
        let e = pull(Error::PermissionDenied("denied".into()), "x:1", "x");
        assert_eq!(e.status.as_u16(), 404);
        assert!(e.message.starts_with("pull access denied for x, repository does not exist"));
        assert_eq!(login(Error::PermissionDenied("no".into())).status.as_u16(), 401);
        let e = exec_start(Error::FailedPrecondition("gone".into()), "c1");
        assert_eq!((e.status.as_u16(), e.message.as_str()), (409, "Container c1 is not running"));
        let e = path_in(Error::PathNotFound { path: "/x".into(), container: "ab".into() }, "web");
        assert_eq!(e.message, "Could not find the file /x in container web");
    }
}
