//! Pushing an image: every blob the registry lacks is mounted from another
//! repository on the same registry the image came from, or uploaded from
//! the content store (streamed from disk); then the manifest goes up under
//! the tag.

use super::{content, ImageStore};
use crate::error::{Error, Missing, Result};
use berth_registry::{Access, Credentials, Reference, Repository};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

/// What to push: a tagged reference of a local image.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    pub reference: String,
    pub credentials: Credentials,
}

/// What happened to each blob, for the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProgress {
    /// `how`: "Layer already exists", "Mounted from <repo>", "Pushed".
    Blob { digest: String, how: String },
    /// The manifest is up: the tag's digest and size.
    Manifest { tag: String, digest: String, size: u64 },
}

impl ImageStore {
    pub async fn push(
        &self,
        req: PushRequest,
        progress: Option<mpsc::UnboundedSender<PushProgress>>,
    ) -> Result<String> {
        let r = Reference::parse(&req.reference)?;
        if r.digest.is_some() {
            return Err(Error::invalid(format!(
                "push {}: push a tag, not a digest",
                req.reference
            )));
        }
        let r = r.with_default_tag();
        let span = tracing::info_span!("push", reference = %r.canonical());
        self.push_reference(r, req.credentials, progress).instrument(span).await
    }

    async fn push_reference(
        &self,
        r: Reference,
        creds: Credentials,
        progress: Option<mpsc::UnboundedSender<PushProgress>>,
    ) -> Result<String> {
        let img = self.resolve(&r.canonical())?;
        if !img.repo_tags.contains(&r.canonical()) {
            return Err(Error::NotFound(Missing::Other(format!(
                "An image does not exist locally with the tag: {}",
                r.canonical()
            ))));
        }
        let content::StoredManifest { media_type: media, bytes, manifest: m, .. } =
            content::image_manifest(&self.paths, &img, &r.canonical())?;
        // Repositories on the same registry the blobs may be mounted from.
        let sources: Vec<String> = img
            .repo_digests
            .iter()
            .chain(img.repo_tags.iter())
            .filter_map(|s| Reference::parse(s).ok())
            .filter(|s| s.domain == r.domain && s.path != r.path)
            .map(|s| s.path)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut repo = self.client()?.repository(&r, creds, Access::Push)?;
        for s in &sources {
            repo = repo.with_mount_source(s);
        }
        let sem = Arc::new(Semaphore::new(self.max_concurrent_downloads.max(1)));
        let blobs = std::iter::once(&m.config).chain(m.layers.iter());
        let jobs = blobs.map(|d| {
            let (repo, sem, sources, progress) = (&repo, sem.clone(), &sources, progress.clone());
            async move {
                let _permit = sem
                    .acquire()
                    .await
                    .map_err(|_| Error::Internal("upload limiter closed".into()))?;
                let how = self.push_blob(repo, &d.digest, d.size, sources).await?;
                if let Some(p) = &progress {
                    let _ = p.send(PushProgress::Blob { digest: d.digest.clone(), how });
                }
                Ok::<(), Error>(())
            }
        });
        futures::future::try_join_all(jobs).await?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let digest = repo.put_manifest(&tag, &media, bytes::Bytes::from(bytes.clone())).await?;
        if let Some(p) = &progress {
            let _ = p.send(PushProgress::Manifest {
                tag,
                digest: digest.clone(),
                size: bytes.len() as u64,
            });
        }
        let mut rec = img.clone();
        rec.repo_digests = vec![format!("{}@{digest}", r.repository())];
        self.add(rec)?;
        Ok(digest)
    }

    async fn push_blob(
        &self,
        repo: &Repository,
        digest: &str,
        size: u64,
        sources: &[String],
    ) -> Result<String> {
        if repo.has_blob(digest).await? {
            return Ok("Layer already exists".into());
        }
        for s in sources {
            if repo.mount_blob(digest, s).await? {
                return Ok(format!("Mounted from {s}"));
            }
        }
        let path = self.paths.blob(digest)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::FailedPrecondition(format!("blob {digest} is not in the content store"))
            }
            _ => Error::Io { context: format!("open {}", path.display()), source: e },
        })?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 * 1024,
        ));
        repo.upload_blob(digest, size, body).await?;
        Ok("Pushed".into())
    }
}
