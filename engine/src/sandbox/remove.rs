//! RemovePodSandbox: idempotent; stops the sandbox first and removes its
//! containers, then deletes its record (first, so a crash leaves only
//! sweepable dirs) and dirs.

use crate::error::{IoContext, Result};
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip_all, fields(sandbox = %id))]
    pub async fn remove_sandbox(&self, id: &str) -> Result<()> {
        let Some(entry) = self.sandbox_if_exists(id)? else { return Ok(()) };
        self.remove_sandbox_entry(&entry).await
    }

    /// Removes a container's own sandbox (its network), once the container is gone.
    pub(crate) async fn remove_container_sandbox(&self, id: &str) -> Result<()> {
        match self.any_sandbox(id) {
            // Boxed: removing a sandbox removes its containers, which may have sandboxes.
            Ok(entry) => Box::pin(self.remove_sandbox_entry(&entry)).await,
            Err(crate::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn remove_sandbox_entry(&self, entry: &super::SandboxEntry) -> Result<()> {
        let rec = entry.record();
        self.stop_sandbox_entry(entry).await?;
        for c in self.pod_containers(&rec.id) {
            match self.remove(&c, true).await {
                Ok(()) | Err(crate::Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let _op = entry.op.lock().await;
        let dir = self.paths().sandbox(&rec.id)?;
        let state = self.paths().sandbox_state(&rec.id)?;
        match std::fs::remove_file(dir.join(super::recover::RECORD)) {
            // A quarantined sandbox has only its record set aside.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rec.quarantined => {}
            r => r.ctx(|| "remove sandbox record".into())?,
        }
        self.inner.sandboxes.remove(&rec.id);
        crate::failpoint("remove_sandbox.after_record")?;
        self.inner.sandboxes.release_name(&rec.name_key(), &rec.id);
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(state);
        Ok(())
    }
}
