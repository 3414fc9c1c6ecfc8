//! Pushing: blob existence checks, cross-repository mounts, monolithic
//! uploads, and manifests.

use crate::client::{check, header, Repository, PUT};
use crate::digest;
use crate::error::{Error, Result};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

impl Repository {
    fn upstream(&self) -> Result<&crate::hosts::Endpoint> {
        self.endpoints
            .iter()
            .find(|e| !e.mirror)
            .ok_or_else(|| Error::Invalid("no registry endpoint to push to".into()))
    }

    /// Whether the registry already has blob `digest` in this repository.
    pub async fn has_blob(&self, dgst: &str) -> Result<bool> {
        digest::check(dgst)?;
        let ep = self.upstream()?;
        let url = self.url(ep, &format!("blobs/{dgst}"));
        let resp = self.send(ep, |h| h.head(&url)).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(false),
            _ => check(resp, &format!("blob {dgst}")).await.map(|_| true),
        }
    }

    /// Mounts blob `digest` from repository `from` on the same registry.
    /// `Ok(false)`: the registry would not mount it (upload it instead).
    pub async fn mount_blob(&self, dgst: &str, from: &str) -> Result<bool> {
        digest::check(dgst)?;
        let ep = self.upstream()?;
        let url = self.url(ep, "blobs/uploads/");
        let resp = self
            .send(ep, |h| {
                h.post(&url).query(&[("mount", dgst), ("from", from)]).header(CONTENT_LENGTH, 0)
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            // 202: an upload session was opened instead; it simply expires.
            StatusCode::ACCEPTED => Ok(false),
            _ => check(resp, &format!("mount {dgst}")).await.map(|_| false),
        }
    }

    /// Uploads a blob in one request; `body` must hash to `digest`.
    pub async fn upload_blob(&self, dgst: &str, size: u64, body: reqwest::Body) -> Result<()> {
        digest::check(dgst)?;
        let ep = self.upstream()?;
        let url = self.url(ep, "blobs/uploads/");
        let resp =
            check(self.send(ep, |h| h.post(&url).header(CONTENT_LENGTH, 0)).await?, "start upload")
                .await?;
        let location = header(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| Error::Invalid("upload: no Location in the registry's answer".into()))?;
        let base = reqwest::Url::parse(&format!("{}/", ep.base))
            .map_err(|_| Error::Invalid("bad endpoint".into()))?;
        let mut put =
            base.join(location).map_err(|_| Error::Invalid("upload: malformed Location".into()))?;
        if put.host_str() != base.host_str()
            || put.port_or_known_default() != base.port_or_known_default()
        {
            return Err(Error::Invalid(
                "upload: the registry sent the upload to another host".into(),
            ));
        }
        put.query_pairs_mut().append_pair("digest", dgst);
        // The body can't be replayed, so it goes with the auth the POST established.
        let body = std::sync::Mutex::new(Some(body));
        let resp = self
            .send(ep, |h| {
                let b =
                    body.lock().unwrap().take().unwrap_or_else(|| reqwest::Body::from(Vec::new()));
                h.request(PUT, put.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(b)
            })
            .await?;
        check(resp, &format!("upload {dgst}")).await.map(|_| ())
    }

    /// Puts a manifest under a tag or its digest; returns its digest.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<String> {
        let ep = self.upstream()?;
        let url = self.url(ep, &format!("manifests/{reference}"));
        let resp = self
            .send(ep, |h| h.put(&url).header(CONTENT_TYPE, media_type).body(bytes.clone()))
            .await?;
        check(resp, &format!("manifest {reference}")).await?;
        Ok(digest::of(&bytes))
    }
}
