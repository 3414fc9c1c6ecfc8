//! Streaming a blob: chunks as they arrive, never more than the
//! descriptor's size, resumed with a `Range` request after a broken
//! connection (or restarted and skipped forward when the registry ignores
//! ranges), and failed when no byte arrives for the stall timeout.
//! Verifying the digest is the consumer's job, over the bytes it is given.

use crate::client::{check, Repository};
use crate::error::{Error, Result};
use crate::hosts::Endpoint;
use bytes::Bytes;
use reqwest::header::RANGE;
use reqwest::{Response, StatusCode};
use std::time::Duration;

/// A blob being downloaded.
pub struct BlobStream {
    repo: Repository,
    endpoint: Endpoint,
    digest: String,
    size: u64,
    /// Bytes handed out so far.
    offset: u64,
    /// Bytes of the current response to drop (a restart after a range was ignored).
    skip: u64,
    resp: Option<Response>,
    resumes: u32,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("digest", &self.digest)
            .field("offset", &self.offset)
            .field("size", &self.size)
            .finish()
    }
}

impl Repository {
    /// Starts downloading blob `digest` of `size` bytes.
    pub async fn blob(&self, digest: &str, size: u64) -> Result<BlobStream> {
        crate::digest::check(digest)?;
        let (endpoint, resp) = self
            .on_endpoints("blob", |ep| async move {
                let url = self.url(&ep, &format!("blobs/{digest}"));
                let resp =
                    tokio::time::timeout(self.stall_timeout(), self.send(&ep, |h| h.get(&url)))
                        .await
                        .map_err(|_| stalled(digest, 0, self.stall_timeout()))??;
                let resp = check(resp, &format!("blob {digest}")).await?;
                Ok((ep, resp))
            })
            .await?;
        Ok(BlobStream {
            repo: self.clone(),
            endpoint,
            digest: digest.to_owned(),
            size,
            offset: 0,
            skip: 0,
            resp: Some(resp),
            resumes: 0,
        })
    }
}

fn stalled(digest: &str, offset: u64, t: Duration) -> Error {
    Error::Stalled(format!(
        "blob {digest}: no data for {}s after {offset} bytes (the stall timeout)",
        t.as_secs()
    ))
}

impl BlobStream {
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next chunk, or `None` once exactly `size` bytes were handed out.
    pub async fn next(&mut self) -> Result<Option<Bytes>> {
        let stall = self.repo.stall_timeout();
        loop {
            if self.offset == self.size {
                return Ok(None);
            }
            let Some(resp) = self.resp.as_mut() else {
                self.reconnect().await?;
                continue;
            };
            let got = match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => return Err(stalled(&self.digest, self.offset, stall)),
                Ok(r) => r,
            };
            match got {
                Ok(Some(mut c)) => {
                    if self.skip > 0 {
                        let n = (self.skip as usize).min(c.len());
                        self.skip -= n as u64;
                        c = c.slice(n..);
                        if c.is_empty() {
                            continue;
                        }
                    }
                    if self.offset + c.len() as u64 > self.size {
                        return Err(Error::Invalid(format!("blob {}: the registry sent more than the {} bytes the manifest declares", self.digest, self.size)));
                    }
                    self.offset += c.len() as u64;
                    return Ok(Some(c));
                }
                // Ended early or broke: resume where we are.
                Ok(None) => {
                    tracing::warn!(digest = %self.digest, offset = self.offset, "blob response ended early; resuming");
                    self.resp = None;
                }
                // No byte for the stall timeout: fail, with the reason.
                Err(e) if e.is_timeout() => return Err(stalled(&self.digest, self.offset, stall)),
                Err(e) => {
                    tracing::warn!(digest = %self.digest, offset = self.offset, error = %e.without_url(), "blob transfer broke; resuming");
                    self.resp = None;
                }
            }
        }
    }

    async fn reconnect(&mut self) -> Result<()> {
        let stall = self.repo.stall_timeout();
        if self.resumes >= self.repo.retries() {
            return Err(Error::Unavailable(format!(
                "blob {}: the connection broke at {} of {} bytes and {} resumes failed",
                self.digest, self.offset, self.size, self.resumes
            )));
        }
        self.resumes += 1;
        tokio::time::sleep(Duration::from_millis(100u64 << self.resumes.min(5))).await;
        let url = self.repo.url(&self.endpoint, &format!("blobs/{}", self.digest));
        let range = format!("bytes={}-", self.offset);
        let sent = tokio::time::timeout(
            stall,
            self.repo.send(&self.endpoint, |h| h.get(&url).header(RANGE, &range)),
        )
        .await;
        let resp = match sent {
            Err(_) => return Err(stalled(&self.digest, self.offset, stall)),
            // Connection refused and the like: count it and try again.
            Ok(Err(Error::Unavailable(m))) => {
                tracing::debug!(digest = %self.digest, error = %m, "resume failed");
                return Ok(());
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(r)) => r,
        };
        let resp = check(resp, &format!("blob {}", self.digest)).await?;
        self.skip = if resp.status() == StatusCode::PARTIAL_CONTENT { 0 } else { self.offset };
        self.resp = Some(resp);
        Ok(())
    }
}
