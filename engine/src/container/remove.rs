//! Remove: (forced: kill first) then the record, the name, every
//! directory of the container, its own network sandbox and host ports if it has them, and
//! (asked to) its anonymous volumes. The record goes first, so a crash midway
//! leaves only unreferenced dirs, which the next start-up sweeps.

use super::Status;
use crate::error::{Error, IoContext, Result};
use crate::Engine;
use std::time::Duration;

impl Engine {
    pub async fn remove(&self, key: &str, force: bool) -> Result<()> {
        self.remove_container(key, force, false).await
    }

    /// Removes the container and its anonymous volumes (`rm -v`, `--rm`).
    pub async fn remove_with_volumes(&self, key: &str, force: bool) -> Result<()> {
        self.remove_container(key, force, true).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    async fn remove_container(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.lookup(key)?;
        // Under the lock from here: no start (a restart policy's, say) slips in.
        let _op = entry.op.lock().await;
        let rec = entry.record();
        if !rec.state.status.can_remove(force) {
            return Err(Error::FailedPrecondition(format!("cannot remove container {}: container is running: stop the container before removing or force remove", rec.name)));
        }
        if rec.state.status == Status::Running {
            self.stop_locked(&entry, Some(Duration::ZERO)).await?;
        }
        let path = self.paths().container_record(&rec.id)?;
        match std::fs::remove_file(&path) {
            // A quarantined container has only its record set aside.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && rec.state.status == Status::Quarantined => {}
            r => r.ctx(|| format!("remove {}", path.display()))?,
        }
        self.inner.containers.remove(&rec.id);
        crate::failpoint("remove.after_record")?;
        self.inner.containers.release_name(&rec.name, &rec.id);
        let dirs = [self.paths().bundle(&rec.id)?, self.paths().container(&rec.id)?];
        tokio::task::spawn_blocking(move || {
            for d in dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        })
        .await?;
        // Its network last (a crash before: the next start-up sweeps it).
        if let Some(sandbox) = rec.config.network.sandbox() {
            if let Err(e) = self.remove_container_sandbox(sandbox).await {
                tracing::warn!(container = %rec.id, sandbox, error = %e, "release the container's network; retried at the next start");
            }
        }
        self.release_ports(&rec.id);
        if volumes {
            self.remove_anonymous_volumes(&rec).await;
        }
        self.emit(&rec, super::events::EventKind::Deleted);
        tracing::info!(container = %rec.id, "removed");
        Ok(())
    }
}
