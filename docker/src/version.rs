//! API versions as dockerd negotiates them: every path may start with
//! `/v<major>.<minor>`; without it the request speaks the newest version.
//! A version outside `MIN..=CURRENT` is refused with Docker's words.

use crate::error::{ApiError, ApiResult};
use std::fmt;

/// An API version (`1.41`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u16, pub u16);

/// The newest version berth speaks (Docker 27).
pub const CURRENT: ApiVersion = ApiVersion(1, 47);
/// The oldest version berth takes (as Docker 27: `MinAPIVersion` 1.24).
pub const MIN: ApiVersion = ApiVersion(1, 24);

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl ApiVersion {
    fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.')?;
        let ok = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|c| c.is_ascii_digit());
        (ok(a) && ok(b)).then(|| ApiVersion(a.parse().unwrap_or(0), b.parse().unwrap_or(0)))
    }
}

/// Splits `/v1.41/containers/json` into the version and the route's segments.
pub fn split(path: &str) -> ApiResult<(ApiVersion, Vec<String>)> {
    let mut segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
    let version = match segs.first().and_then(|s| s.strip_prefix('v')).and_then(ApiVersion::parse) {
        Some(v) => {
            segs.remove(0);
            v
        }
        None => CURRENT,
    };
    if version > CURRENT {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {CURRENT}"
        )));
    }
    if version < MIN {
        return Err(ApiError::bad_request(format!("client version {version} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version")));
    }
    Ok((version, segs))
}

/// Percent-decoding of one path segment (image names carry `/` as `%2F` at times).
fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_dockerd_takes_them() {
        assert_eq!(
            split("/v1.41/containers/json").unwrap(),
            (ApiVersion(1, 41), vec!["containers".into(), "json".into()])
        );
        assert_eq!(split("/_ping").unwrap(), (CURRENT, vec!["_ping".into()]));
        assert_eq!(
            split("/v1.47/images/127.0.0.1%3A5000%2Fbusybox/json").unwrap().1,
            vec!["images", "127.0.0.1:5000/busybox", "json"]
        );
        let e = split("/v1.99/version").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (400, "client version 1.99 is too new. Maximum supported API version is 1.47")
        );
        assert!(split("/v1.12/version")
            .unwrap_err()
            .message
            .contains("too old. Minimum supported API version is 1.24"));
        // A first segment that is no version is a route.
        assert_eq!(split("/vx/version").unwrap().1, vec!["vx", "version"]);
    }
}
