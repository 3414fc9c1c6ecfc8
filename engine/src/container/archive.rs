//! `docker cp`: stat, archive and extract a path of a container's
//! filesystem (`/containers/{id}/archive` HEAD, GET, PUT), for running and
//! stopped containers alike.
//!
//! The filesystem is reached through `berth_kernel::cp::View`, a
//! descriptor of the container's root, never a host path: a running
//! container's is its init's `/proc/<pid>/root`; a stopped one's a detached
//! overlay with its volumes and binds, mounted nowhere and gone when the copy
//! ends. A stopped container's copy holds its operation lock until then,
//! so it cannot start on an upper dir that a second overlay also uses.

use super::{ContainerRecord, Status};
use crate::bridge::{ChannelWriter, ChunkReader};
use crate::error::{Error, Result};
use crate::Engine;
pub use berth_kernel::cp::PathStat;
use berth_kernel::cp::{CpError, ExtractOptions, Mount, Owners, View};
use bytes::Bytes;
use std::io::Write;
use tokio::sync::mpsc;

/// What `PUT /containers/{id}/archive` asks besides the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyIn {
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: the container's user owns what is copied in.
    pub copy_uid_gid: bool,
}

/// A resource on its way out: its stat (sent first), then the tar stream.
pub struct ArchiveStream {
    pub stat: PathStat,
    pub data: mpsc::Receiver<Vec<u8>>,
}

/// A view of a container's files and, for a stopped one, its held lock.
pub(super) struct Opened {
    pub(super) view: View,
    _lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Engine {
    /// Docker's stat of `path` in the container (`HEAD …/archive`).
    #[tracing::instrument(level = "info", skip_all, fields(container = %key, path = %path))]
    pub async fn stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        let (rec, opened) = self.open_files(key).await?;
        let p = path.to_owned();
        let stat = tokio::task::spawn_blocking(move || opened.view.stat(&p)).await?;
        stat.map_err(|e| cp_error(e, path, &rec))
    }

    /// The resource at `path` as a tar stream (`GET …/archive`), written
    /// on a blocking thread while the client reads it.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key, path = %path))]
    pub async fn archive_path(&self, key: &str, path: &str) -> Result<ArchiveStream> {
        let (rec, opened) = self.open_files(key).await?;
        let p = path.to_owned();
        let (opened, stat) = tokio::task::spawn_blocking(move || {
            let s = opened.view.stat(&p);
            (opened, s)
        })
        .await?;
        let stat = stat.map_err(|e| cp_error(e, path, &rec))?;
        self.emit(&rec, super::events::EventKind::ArchiveRead);
        let (tx, data) = mpsc::channel(16);
        let (p, id) = (path.to_owned(), rec.id);
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter::new(tx));
            let written = opened
                .view
                .archive(&p, &mut out)
                .and_then(|()| out.flush().map_err(|err| CpError::Sys { path: p.clone(), err }));
            if let Err(e) = written {
                tracing::warn!(container = %id, path = %p, error = %e, "archive cut short");
            }
            drop(opened);
        });
        Ok(ArchiveStream { stat, data })
    }

    /// Extracts the tar stream `data` into the directory `path` of the
    /// container (`PUT …/archive`). Refused before a byte is read: a path
    /// that is missing or not a directory, a read-only rootfs or volume.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key, path = %path))]
    pub async fn extract_to_dir(
        &self,
        key: &str,
        path: &str,
        how: CopyIn,
        data: mpsc::Receiver<std::io::Result<Bytes>>,
    ) -> Result<()> {
        let (rec, opened) = self.open_files(key).await?;
        let (p, r) = (path.to_owned(), rec.clone());
        let done = tokio::task::spawn_blocking(move || -> Result<()> {
            let view = &opened.view;
            let point = view.extraction_point(&p).map_err(|e| cp_error(e, &p, &r))?;
            match writable_at(&r, &point.path) {
                Ok(()) => {}
                Err(why) => return Err(Error::PermissionDenied(why.into())),
            }
            let owners = match how.copy_uid_gid {
                true => view
                    .owner(if r.config.user.is_empty() { "0" } else { &r.config.user })
                    .map(|(u, g)| Owners::Fixed(u, g))
                    .map_err(|e| cp_error(e, &p, &r))?,
                false => Owners::Archive,
            };
            let opts = ExtractOptions {
                no_overwrite_dir_non_dir: how.no_overwrite_dir_non_dir,
                owners,
                ..Default::default()
            };
            view.extract(&point, ChunkReader::new(data), &opts).map_err(|e| cp_error(e, &p, &r))
        });
        done.await??;
        self.emit(&rec, super::events::EventKind::ArchiveWritten);
        Ok(())
    }

    /// A view of the container's files: a running container's own root, a
    /// stopped one's detached overlay (its lock held while the view lives).
    pub(super) async fn open_files(&self, key: &str) -> Result<(ContainerRecord, Opened)> {
        self.open_view(key, true).await
    }

    /// The same, with its volumes and binds (`with_mounts`) or its rootfs alone.
    pub(super) async fn open_view(
        &self,
        key: &str,
        with_mounts: bool,
    ) -> Result<(ContainerRecord, Opened)> {
        let entry = self.lookup(key)?;
        let lock = entry.op.clone().lock_owned().await;
        let rec = entry.record();
        if rec.state.status == Status::Quarantined {
            return Err(Error::FailedPrecondition(format!(
                "container {} is quarantined: {}",
                rec.id, rec.state.error
            )));
        }
        let mounts: Vec<Mount> = match with_mounts {
            true => rec
                .config
                .mounts
                .iter()
                .map(|m| Mount {
                    source: m.host_path.clone(),
                    destination: m.container_path.display().to_string(),
                    read_only: m.readonly,
                })
                .collect(),
            false => Vec::new(),
        };
        if rec.state.status == Status::Running && rec.state.pid > 0 {
            let mut descend: Vec<String> = mounts.iter().map(|m| m.destination.clone()).collect();
            if with_mounts {
                descend.extend(
                    rec.config.tmpfs.iter().map(|t| t.container_path.display().to_string()),
                );
                descend.extend(
                    rec.config.image_volumes.iter().map(|v| v.container_path.display().to_string()),
                );
            }
            let pid = rec.state.pid;
            let view = tokio::task::spawn_blocking(move || View::of_process(pid, descend))
                .await?
                .map_err(|e| Error::system("open the container's root", e))?;
            // The descriptor holds the container's mounts; the lock is not needed.
            return Ok((rec, Opened { view, _lock: None }));
        }
        let image = self.images().resolve(&rec.image_id)?;
        let layout = self.layout_of(&rec.id, &image)?;
        let read_only = rec.config.read_only;
        let view = tokio::task::spawn_blocking(move || layout.view(read_only, &mounts))
            .await?
            .map_err(|e| Error::system("mount the container's filesystem", e))?;
        Ok((rec, Opened { view, _lock: Some(lock) }))
    }
}

/// Whether a copy may write at container path `path`: the mount it is
/// under (the deepest), else the rootfs, must not be read-only.
fn writable_at(rec: &ContainerRecord, path: &str) -> std::result::Result<(), &'static str> {
    let under = |dest: &std::path::Path| std::path::Path::new(path).starts_with(dest);
    let mount = rec
        .config
        .mounts
        .iter()
        .filter(|m| under(&m.container_path))
        .max_by_key(|m| m.container_path.components().count());
    let tmpfs = rec.config.tmpfs.iter().any(|t| under(&t.container_path));
    match mount {
        Some(m) if m.readonly => Err("mounted volume is marked read-only"),
        Some(_) => Ok(()),
        None if rec.config.read_only && !tmpfs => Err("container rootfs is marked read-only"),
        None => Ok(()),
    }
}

/// A copy's failure in engine terms, with dockerd's words for the common ones.
fn cp_error(e: CpError, path: &str, rec: &ContainerRecord) -> Error {
    match e {
        CpError::NotFound(_) => {
            Error::PathNotFound { path: path.to_owned(), container: rec.name.clone() }
        }
        CpError::NotADirectory => Error::invalid(e.to_string()),
        CpError::Refused(m) => Error::BadContent(m),
        CpError::Malformed(_) => Error::BadContent(e.to_string()),
        CpError::Sys { .. } if e.errno() == Some(libc::ENOTDIR) => Error::invalid(e.to_string()),
        CpError::Sys { .. } if e.errno() == Some(libc::EROFS) => {
            Error::PermissionDenied(e.to_string())
        }
        CpError::Sys { path, err } => Error::Io { context: path, source: err },
        CpError::Mount(_) => Error::system("mount the container's filesystem", e),
    }
}
