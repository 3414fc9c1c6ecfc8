//! `ADD <url>`: a file fetched over HTTP(S) by berthd, as Docker's
//! builders fetch it: written with mode 0600 (unless `--chmod`), its
//! modification time from `Last-Modified`, never extracted, checked
//! against `--checksum` before anything is copied. The step's cache key
//! is the content's digest, so an unchanged file is a cached step.

use crate::{BuildError, Result};
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// Whether an ADD source is a URL to fetch.
pub(crate) fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Whether it names a git repository (`ADD <git ref>`).
pub(crate) fn is_git(source: &str) -> bool {
    source.starts_with("git@")
        || source.starts_with("git://")
        || (is_url(source) && source.split('#').next().is_some_and(|u| u.ends_with(".git")))
}

/// The name a fetched file gets in a destination directory: the URL
/// path's last element (BuildKit's `__unnamed__` when it has none).
pub(crate) fn file_name(url: &str) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    match path.split_once('/').map(|(_, p)| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => p.rsplit('/').next().unwrap_or(p).to_owned(),
        _ => "__unnamed__".to_owned(),
    }
}

/// A `--checksum` value: `sha256:<64 hex>`.
pub(crate) fn parse_checksum(value: &str) -> Result<String> {
    match value.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(BuildError::Invalid(format!(
            "invalid checksum {value:?}: expected sha256:<64 hex digits>"
        ))),
    }
}

/// Fetches `url` into `dir/name` (mode 0600); its sha256 (hex).
pub(crate) async fn fetch(
    url: &str,
    dir: &Path,
    name: &str,
    checksum: Option<&str>,
    cancel: &CancellationToken,
) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| BuildError::Invalid(format!("ADD {url}: {e}"));
    let io = |source| BuildError::Io { context: format!("ADD {url}"), source };
    let client = reqwest::Client::builder().build().map_err(|e| failed(&e))?;
    let mut response = tokio::select! {
        r = client.get(url).send() => r.map_err(|e| failed(&e))?,
        () = cancel.cancelled() => return Err(BuildError::Cancelled),
    };
    if !response.status().is_success() {
        return Err(failed(&format!("invalid response status {}", response.status())));
    }
    let modified = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let path = dir.join(name);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .map_err(io)?;
    let mut hash = Sha256::new();
    loop {
        let chunk = tokio::select! {
            c = response.chunk() => c.map_err(|e| failed(&e))?,
            () = cancel.cancelled() => return Err(BuildError::Cancelled),
        };
        let Some(chunk) = chunk else { break };
        hash.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    let file = file.into_std().await;
    if let Some(t) = modified {
        file.set_modified(t).map_err(io)?;
    }
    let digest = hex::encode(hash.finalize());
    match checksum {
        Some(want) if want != digest => Err(BuildError::Invalid(format!(
            "ADD {url}: digest mismatch: expected sha256:{want}, got sha256:{digest}"
        ))),
        _ => Ok(digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_their_names_and_checksums() {
        assert!(is_url("https://example.com/a.tar.gz") && !is_url("a.tar.gz"));
        assert!(is_git("https://example.com/repo.git#main") && is_git("git@example.com:r.git"));
        assert!(!is_git("https://example.com/file.tar"));
        assert_eq!(file_name("http://127.0.0.1:8000/dir/f.txt?x=1"), "f.txt");
        assert_eq!(file_name("http://127.0.0.1:8000/dir/"), "dir");
        assert_eq!(file_name("http://127.0.0.1:8000"), "__unnamed__");
        assert_eq!(file_name("http://127.0.0.1:8000/"), "__unnamed__");
        let h = "a".repeat(64);
        assert_eq!(parse_checksum(&format!("sha256:{h}")).unwrap(), h);
        assert!(parse_checksum("sha256:abc").is_err() && parse_checksum(&h).is_err());
    }
}
