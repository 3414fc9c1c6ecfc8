//! Pulling an image: resolve the reference to a manifest (picking the
//! platform from an index), fetch the config, then fetch every layer
//! concurrently (bounded), each streamed from the network straight into
//! the one-pass unpacker on a blocking thread. Layers already present are
//! skipped; a blob already stored is unpacked from disk; two pulls wanting
//! the same blob wait for one download. The record is written last, so a
//! pull cut short leaves only whole blobs and layers the next pull reuses.

use super::record::{ConfigFile, ImageRecord};
use super::unpack::{self, Expect};
use super::{content, ImageStore};
use crate::bridge::ChunkReader;
use crate::error::{Error, Missing, Result};
use berth_registry::manifest::{self, Descriptor, Manifest};
use berth_registry::{Access, Credentials, Platform, Reference, Repository};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What to pull.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    pub reference: String,
    pub credentials: Credentials,
    /// `None`: this node's platform.
    pub platform: Option<Platform>,
}

/// Progress of a pull, for the CLI's bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// The reference resolved to this manifest (or index) digest.
    Resolved { digest: String },
    /// A layer's state; `current`/`total` in bytes of the blob.
    Layer { digest: String, state: LayerState, current: u64, total: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerState {
    Waiting,
    Downloading,
    /// Already unpacked: nothing to fetch.
    Exists,
    Done,
}

type Progress = Option<mpsc::UnboundedSender<PullProgress>>;
type LayerLock = tokio::sync::OwnedMutexGuard<()>;

fn report(p: &Progress, ev: PullProgress) {
    if let Some(tx) = p {
        let _ = tx.send(ev);
    }
}

fn layer_error(e: berth_kernel::layer::LayerError) -> Error {
    match e {
        berth_kernel::layer::LayerError::Io(io) => {
            Error::Io { context: "unpack layer".into(), source: io }
        }
        other => Error::BadContent(format!("unpack layer: {other}")),
    }
}

impl ImageStore {
    /// Pulls `req.reference` and records it; returns the image.
    #[tracing::instrument(name = "pull", skip_all, fields(image = %req.reference))]
    pub async fn pull(&self, req: PullRequest, progress: Progress) -> Result<ImageRecord> {
        let r = Reference::parse(&req.reference)?.with_default_tag();
        let span = tracing::info_span!("pull", reference = %r.canonical());
        let t0 = std::time::Instant::now();
        let res = self.pull_reference(r, req, progress).instrument(span).await;
        let s = &self.stats;
        let counter = if res.is_ok() { &s.succeeded } else { &s.failed };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        s.durations.observe(t0.elapsed().as_secs_f64());
        res
    }

    async fn pull_reference(
        &self,
        r: Reference,
        req: PullRequest,
        progress: Progress,
    ) -> Result<ImageRecord> {
        let repo = self.client()?.repository(&r, req.credentials, Access::Pull)?;
        let top =
            repo.manifest(r.digest.as_deref().or(r.tag.as_deref()).unwrap_or("latest")).await?;
        report(&progress, PullProgress::Resolved { digest: top.digest.clone() });
        let mut blobs = vec![top.digest.clone()];
        let mut small = vec![(top.digest.clone(), top.bytes.clone())];
        let fetched = match &top.manifest {
            Manifest::Image(_) => top.clone(),
            Manifest::Index(idx) => {
                let want = req.platform.clone().unwrap_or_else(Platform::host);
                let d = idx.pick(&want).ok_or_else(|| {
                    Error::NotFound(Missing::Other(format!(
                        "{}: no image for {want} in the index (it has: {})",
                        r.canonical(),
                        idx.platforms()
                    )))
                })?;
                let m = repo.manifest(&d.digest).await?;
                if !matches!(m.manifest, Manifest::Image(_)) {
                    return Err(Error::BadContent(format!(
                        "{}: index entry {} is not an image manifest",
                        r.canonical(),
                        d.digest
                    )));
                }
                blobs.push(m.digest.clone());
                small.push((m.digest.clone(), m.bytes.clone()));
                m
            }
        };
        let Manifest::Image(m) = &fetched.manifest else { unreachable!("checked above") };
        let config_bytes = match content::read(&self.paths, &m.config.digest) {
            Ok(b) => bytes::Bytes::from(b),
            Err(_) => repo.blob_bytes(&m.config.digest, manifest::MAX_CONFIG).await?,
        };
        let cfg = ConfigFile::parse(&config_bytes, &m.config.digest)?;
        if cfg.rootfs.diff_ids.len() != m.layers.len() {
            return Err(Error::BadContent(format!(
                "image config lists {} layers, the manifest {}",
                cfg.rootfs.diff_ids.len(),
                m.layers.len()
            )));
        }
        blobs.push(m.config.digest.clone());
        small.push((m.config.digest.clone(), config_bytes.clone()));

        let sem = Arc::new(Semaphore::new(self.max_concurrent_downloads.max(1)));
        for l in &m.layers {
            report(
                &progress,
                PullProgress::Layer {
                    digest: l.digest.clone(),
                    state: LayerState::Waiting,
                    current: 0,
                    total: l.size,
                },
            );
        }
        // The first failure cancels the other layers; every layer's unpacker
        // has cleaned up before the pull returns.
        let cancel = CancellationToken::new();
        // A layer repeated in one image is fetched once (its lock is taken once).
        let mut seen = std::collections::HashSet::new();
        let unique = m
            .layers
            .iter()
            .zip(&cfg.rootfs.diff_ids)
            .filter(|(_, diff)| seen.insert(diff.as_str()));
        let jobs = unique.map(|(l, diff)| {
            let cancel = cancel.clone();
            let (repo, sem, progress) = (&repo, &sem, &progress);
            async move {
                let r = match crate::failpoint("pull.layer") {
                    Ok(()) => self.fetch_layer(repo, l, diff, sem, progress, &cancel).await,
                    Err(e) => Err(e),
                };
                if r.is_err() {
                    cancel.cancel();
                }
                r
            }
        });
        // Held until the record is written, so no removal collects these layers meanwhile.
        let results = futures::future::join_all(jobs).await;
        let mut _layer_locks = Vec::with_capacity(results.len());
        let mut first_err = None;
        for r in results {
            match r {
                Ok(lock) => _layer_locks.push(lock),
                Err(Error::Cancelled) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        blobs.extend(m.layers.iter().map(|l| l.digest.clone()));

        let paths = self.paths.clone();
        tokio::task::spawn_blocking(move || {
            small.iter().try_for_each(|(d, b)| content::put(&paths, d, b))
        })
        .await
        .map_err(|e| Error::system("store manifests", e))??;

        let created =
            cfg.created.as_deref().and_then(berth_proto::time::parse_rfc3339_nanos).unwrap_or(0);
        let mut repo_tags = Vec::new();
        if r.digest.is_none() {
            repo_tags.push(r.canonical());
        }
        let rec = ImageRecord {
            id: m.config.digest.clone(),
            repo_tags,
            repo_digests: vec![format!("{}@{}", r.repository(), top.digest)],
            manifest: Some(fetched.digest.clone()),
            manifest_media_type: Some(fetched.media_type.clone()),
            blobs,
            layers: cfg.rootfs.diff_ids.clone(),
            config: cfg.config.unwrap_or_default(),
            created_unix_nanos: created,
            size: m.layers.iter().map(|l| l.size).sum::<u64>() + m.config.size,
            config_json: String::from_utf8(config_bytes.to_vec())
                .map_err(|_| Error::BadContent("image config is not UTF-8".into()))?,
        };
        crate::failpoint("pull.before_record")?;
        self.add(rec)
    }

    /// Makes one layer present: unpacked under `layers/` and its blob in
    /// the store. Returns the layer's in-flight lock, still held.
    async fn fetch_layer(
        &self,
        repo: &Repository,
        l: &Descriptor,
        diff_id: &str,
        sem: &Semaphore,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<LayerLock> {
        let held = tokio::select! {
            h = self.inflight(diff_id).lock_owned() => h,
            _ = cancel.cancelled() => return Err(Error::Cancelled),
        };
        let have_layer = self.paths.layer(diff_id.trim_start_matches("sha256:"))?.exists();
        let have_blob = content::has(&self.paths, &l.digest);
        let done = |state| {
            report(
                progress,
                PullProgress::Layer {
                    digest: l.digest.clone(),
                    state,
                    current: l.size,
                    total: l.size,
                },
            )
        };
        if have_layer && have_blob {
            done(LayerState::Exists);
            return Ok(held);
        }
        let expect = Expect {
            blob_digest: Some(l.digest.clone()),
            diff_id: Some(diff_id.to_owned()),
            unpack: !have_layer,
        };
        let paths = self.paths.clone();
        if have_blob {
            // A pull cut short after the blob landed: unpack from disk.
            let blob = self.paths.blob(&l.digest)?;
            tokio::task::spawn_blocking(move || {
                let f = std::fs::File::open(&blob).map_err(|e| Error::Io {
                    context: format!("open {}", blob.display()),
                    source: e,
                })?;
                unpack::layer(&paths, f, &expect, layer_error)
            })
            .await
            .map_err(|e| Error::system("unpack task", e))??;
            done(LayerState::Done);
            return Ok(held);
        }
        let _permit = tokio::select! {
            p = sem.acquire() => p.map_err(|_| Error::Internal("download limiter closed".into()))?,
            _ = cancel.cancelled() => return Err(Error::Cancelled),
        };
        let mut stream = tokio::select! {
            s = repo.blob(&l.digest, l.size) => s?,
            _ = cancel.cancelled() => return Err(Error::Cancelled),
        };
        let (tx, rx) = mpsc::channel::<std::io::Result<bytes::Bytes>>(32);
        let job = tokio::task::spawn_blocking(move || {
            unpack::layer(&paths, ChunkReader::new(rx), &expect, layer_error)
        });
        let mut last_report = 0u64;
        let fed: Result<()> = async {
            loop {
                let chunk = tokio::select! {
                    c = stream.next() => c?,
                    _ = cancel.cancelled() => return Err(Error::Cancelled),
                };
                let Some(chunk) = chunk else { break };
                if tx.send(Ok(chunk)).await.is_err() {
                    break; // The unpacker failed; its error says why.
                }
                if stream.offset() - last_report >= 1 << 20 {
                    last_report = stream.offset();
                    report(
                        progress,
                        PullProgress::Layer {
                            digest: l.digest.clone(),
                            state: LayerState::Downloading,
                            current: last_report,
                            total: l.size,
                        },
                    );
                }
            }
            Ok(())
        }
        .await;
        self.stats.bytes.fetch_add(stream.offset(), std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = &fed {
            // Fails the unpacker's read, so it removes what it wrote.
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
        drop(tx);
        let unpacked = job.await.map_err(|e| Error::system("unpack task", e));
        fed?;
        unpacked??;
        done(LayerState::Done);
        Ok(held)
    }

    /// The lock pulls of the same layer share.
    pub(super) fn inflight(&self, diff_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inflight.lock().unwrap();
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(diff_id.to_owned()).or_default().clone()
    }

    /// Whether a pull holds (or waits for) layer `diff_id`, or any layer.
    pub(crate) fn in_flight(&self, diff_id: Option<&str>) -> bool {
        let map = self.inflight.lock().unwrap();
        match diff_id {
            Some(d) => map.get(d).is_some_and(|l| Arc::strong_count(l) > 1),
            None => map.values().any(|l| Arc::strong_count(l) > 1),
        }
    }
}
