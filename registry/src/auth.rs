//! Credentials and the registry auth flows: anonymous or authenticated
//! bearer tokens (`WWW-Authenticate: Bearer realm=…`), OAuth2 refresh with
//! an identity token, and basic auth. Secrets never reach `Debug` output
//! or logs.

use base64::Engine as _;

/// What a caller may authenticate with.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (Docker's `identitytoken`).
    Identity {
        username: String,
        token: String,
    },
    /// A bearer token to send as is (CRI's `registry_token`).
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Identity { username, .. } => write!(f, "Identity({username}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    /// Credentials from the fields Docker's config and CRI's `AuthConfig`
    /// share, most specific first: a registry token, an identity token, a
    /// username and password, Docker's `auth`; none of them is anonymous.
    pub fn from_fields(
        username: &str,
        password: &str,
        auth: &str,
        identity_token: &str,
        registry_token: &str,
    ) -> Option<Self> {
        Some(if !registry_token.is_empty() {
            Credentials::Bearer(registry_token.to_owned())
        } else if !identity_token.is_empty() {
            Credentials::Identity {
                username: username.to_owned(),
                token: identity_token.to_owned(),
            }
        } else if !username.is_empty() {
            Credentials::Basic { username: username.to_owned(), password: password.to_owned() }
        } else if !auth.is_empty() {
            Credentials::from_auth_field(auth)?
        } else {
            Credentials::Anonymous
        })
    }

    /// Decodes Docker's `auth` field (base64 of `user:password`).
    pub fn from_auth_field(auth: &str) -> Option<Self> {
        let raw = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some(Credentials::Basic { username: u.to_owned(), password: p.to_owned() })
    }

    /// A hash that tells credentials apart without revealing them.
    pub(crate) fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match self {
            Credentials::Anonymous => h.update(b"anonymous"),
            Credentials::Basic { username, password } => {
                h.update(b"basic\0");
                h.update(username.as_bytes());
                h.update(b"\0");
                h.update(password.as_bytes());
            }
            Credentials::Identity { username, token } => {
                h.update(b"identity\0");
                h.update(username.as_bytes());
                h.update(b"\0");
                h.update(token.as_bytes());
            }
            Credentials::Bearer(t) => {
                h.update(b"bearer\0");
                h.update(t.as_bytes());
            }
        }
        hex::encode(&h.finalize()[..8])
    }

    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    Basic,
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub(crate) fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = std::collections::HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_owned(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(key, value);
        s = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into())
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="basic-realm""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Credentials::from_auth_field("dXNlcjpzM2NyZXQ=").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("user") && !shown.contains("s3cret"), "{shown}");
        assert!(!format!("{:?}", Credentials::Bearer("tok".into())).contains("tok"));
        let other = Credentials::Basic { username: "user".into(), password: "other".into() };
        assert_ne!(c.fingerprint(), other.fingerprint());
        assert_ne!(Credentials::Anonymous.fingerprint(), c.fingerprint());
    }
}
