//! `docker diff` (what the container changed over its image: its upper
//! dir against the image's layers) and `docker export` (its filesystem
//! as one tar stream, volumes not included, as dockerd exports it).

use super::Status;
use crate::bridge::ChannelWriter;
use crate::error::{Error, Result};
pub use crate::snapshot::ChangeKind;
use crate::Engine;
use std::io::Write;
use tokio::sync::mpsc;

/// What berth itself puts in a container's upper dir (mount points of
/// its /proc, /sys, /dev and /etc files): not the container's changes, as
/// dockerd's init layer keeps them out of its diff.
fn berths_own(path: &str) -> bool {
    ["/proc", "/sys", "/dev"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")))
        || ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"].contains(&path)
}

impl Engine {
    /// The container's changes to its image's files, sorted by path.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn changes(&self, key: &str) -> Result<Vec<(String, ChangeKind)>> {
        let rec = self.lookup(key)?.record();
        if rec.state.status == Status::Quarantined {
            return Err(Error::FailedPrecondition(format!(
                "container {} is quarantined: {}",
                rec.id, rec.state.error
            )));
        }
        let image = self.images().resolve(&rec.image_id)?;
        let layout = self.layout_of(&rec.id, &image)?;
        let all = tokio::task::spawn_blocking(move || layout.changes())
            .await?
            .map_err(|e| Error::system("read the container's changes", e))?;
        let mut out: Vec<(String, ChangeKind)> =
            all.into_iter().filter(|(p, _)| !berths_own(p)).collect();
        // A directory only berth's mount points changed is no change of the container's.
        let changed: Vec<String> = out.iter().map(|(p, _)| p.clone()).collect();
        out.retain(|(p, k)| {
            *k != ChangeKind::Modified
                || p != "/etc"
                || changed.iter().any(|c| c.starts_with("/etc/"))
        });
        Ok(out)
    }

    /// The container's filesystem as a tar stream, written on a blocking
    /// thread while the client reads it.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn export(&self, key: &str) -> Result<mpsc::Receiver<Vec<u8>>> {
        let (rec, opened) = self.open_view(key, false).await?;
        self.emit(&rec, super::events::EventKind::Exported);
        let (tx, rx) = mpsc::channel(16);
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter::new(tx));
            let written = opened
                .view
                .export(&mut out)
                .map_err(|e| e.to_string())
                .and_then(|()| out.flush().map_err(|e| e.to_string()));
            if let Err(e) = written {
                tracing::warn!(container = %rec.id, error = %e, "export cut short");
            }
            drop(opened);
        });
        Ok(rx)
    }
}
