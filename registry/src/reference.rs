//! Image references as Docker parses them: `busybox` is
//! `docker.io/library/busybox:latest`; `host:5000/team/app:v1`,
//! `name@sha256:<hex>` and `name:tag@sha256:<hex>` are understood.

use crate::error::{Error, Result};

/// A normalized reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io`.
    pub domain: String,
    /// Repository path, e.g. `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

fn bad(s: &str, why: &str) -> Error {
    Error::InvalidReference(format!("invalid reference format {s:?}: {why}"))
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    if !b[b.len() - 1].is_ascii_lowercase() && !b[b.len() - 1].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        // An empty separator means a character that is not allowed at all.
        let ok = sep == "."
            || sep == "_"
            || sep == "__"
            || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'));
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

impl Reference {
    /// Parses and normalizes `s`.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 255 + 128 + 72 {
            return Err(bad(s, "empty or too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| bad(s, "only sha256 digests are supported"))?;
                if hex.len() != 64
                    || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(bad(s, "malformed digest"));
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A tag follows the last ':' after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad(s, "malformed tag"));
            }
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), remainder.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        if !valid_domain(&domain) {
            return Err(bad(s, "malformed registry host"));
        }
        let path = if domain == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.len() > 255 || !path.split('/').all(valid_component) {
            return Err(bad(
                s,
                "repository names must be lowercase [a-z0-9] separated by '.', '_', '__' or '-'",
            ));
        }
        Ok(Self { domain, path, tag, digest })
    }

    /// The same reference with `:latest` when it names neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }

    /// `domain/path`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The canonical string: `docker.io/library/busybox:latest`.
    pub fn canonical(&self) -> String {
        let mut s = self.repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// The short form Docker shows: `busybox:latest` for Docker Hub's library.
pub fn familiar(canonical: &str) -> String {
    let s = canonical.strip_prefix("docker.io/").unwrap_or(canonical);
    s.strip_prefix("library/").unwrap_or(s).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let c = |s: &str| Reference::parse(s).unwrap().with_default_tag().canonical();
        assert_eq!(c("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(c("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(c("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(c("registry.k8s.io/pause:3.9"), "registry.k8s.io/pause:3.9");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(c(&format!("busybox@{d}")), format!("docker.io/library/busybox@{d}"));
        assert_eq!(familiar("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(familiar("docker.io/team/app:v1"), "team/app:v1");
    }

    #[test]
    fn refuses_bad_references() {
        for s in [
            "",
            "UPPER",
            "a//b",
            "a:",
            "a:-x",
            "../x",
            "a/../b",
            "x@sha256:zz",
            "a b",
            "a/b/",
            "-a",
        ] {
            assert!(Reference::parse(s).is_err(), "{s:?}");
        }
    }
}
