//! StopPodSandbox: idempotent; kills every container of the pod and the pod
//! init, then releases the pinned namespaces so nothing stays mounted.

use super::SandboxState;
use crate::error::Result;
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip_all, fields(sandbox = %id))]
    pub async fn stop_sandbox(&self, id: &str) -> Result<()> {
        let Some(entry) = self.sandbox_if_exists(id)? else { return Ok(()) };
        self.stop_sandbox_entry(&entry).await
    }

    pub(crate) async fn stop_sandbox_entry(&self, entry: &super::SandboxEntry) -> Result<()> {
        let _op = entry.op.lock().await;
        let rec = entry.record();
        // kubelet has already stopped them gracefully; what is left is killed.
        for c in self.pod_containers(&rec.id) {
            self.stop(&c, Some(std::time::Duration::ZERO)).await?;
        }
        // The network goes first, while its namespace still exists; a
        // failed DEL leaves the sandbox as it was, for kubelet to retry.
        self.network_del(&rec.id, &self.paths().sandbox_state(&rec.id)?.join("net")).await?;
        if rec.state == SandboxState::NotReady && rec.pins.is_empty() {
            return Ok(());
        }
        let pins = rec.pins.clone();
        let init = rec.init_pid.zip(rec.pin("pid"));
        tokio::task::spawn_blocking(move || {
            // The init goes first: with it, anything left in the pod's PID namespace.
            if let Some((pid, pin)) = init {
                berth_kernel::pod_init::kill(pid, &pin);
            }
            berth_kernel::pin::release(&pins)
        })
        .await?;
        self.sandbox_commit(entry, |r| {
            r.state = SandboxState::NotReady;
            r.pins.clear();
            r.ips.clear();
            r.init_pid = None;
        })?;
        Ok(())
    }
}
