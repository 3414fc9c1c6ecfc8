//! StopPodSandbox: idempotent; kills every container of the pod and the pod
//! init, then releases the pinned namespaces so nothing stays mounted.
//!
//! The network's DEL comes before the namespaces go, as CNI expects; but
//! for a Docker container's own sandbox whose plugins undo everything
//! without the namespace, and which no other container has joined, the
//! namespace goes first. The kernel then removes its interfaces in the
//! background; a plugin removing them itself waits tens of milliseconds on
//! every exit.

use super::{SandboxOwner, SandboxState};
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
        let netns = self.paths().sandbox_state(&rec.id)?.join("net");
        let namespace_first = self.namespace_goes_first(&rec);
        // The network goes first, while its namespace still exists; a
        // failed DEL leaves the sandbox as it was, for kubelet to retry.
        if !namespace_first {
            self.network_del(&rec.id, &netns).await?;
        }
        if rec.state != SandboxState::NotReady || !rec.pins.is_empty() {
            let pins = rec.pins.clone();
            let init = rec.init_pid.zip(rec.pin("pid"));
            let me = self.clone();
            tokio::task::spawn_blocking(move || {
                // The init goes first: with it, anything left in the pod's PID namespace.
                if let Some((pid, pin)) = init {
                    me.inner.pins.kill_init(pid, &pin);
                }
                me.inner.pins.release(&pins)
            })
            .await?;
            self.sandbox_commit(entry, |r| {
                r.state = SandboxState::NotReady;
                r.pins.clear();
                r.ips.clear();
                r.init_pid = None;
            })?;
        }
        // (A DEL that fails here is owed still: the next stop retries it.)
        if namespace_first {
            self.network_del(&rec.id, &netns).await?;
        }
        Ok(())
    }

    /// Whether the sandbox's namespace may go before its network's DEL (see above).
    fn namespace_goes_first(&self, rec: &super::SandboxRecord) -> bool {
        if rec.config.owner != SandboxOwner::Container || !self.network_del_outlives_netns(&rec.id)
        {
            return false;
        }
        // `--network container:<its container>` ones still in the namespace keep its interfaces.
        !self.inner.containers.all().iter().map(|e| e.record()).any(|r| {
            r.state.status == crate::container::Status::Running
                && matches!(&r.config.network, crate::container::ContainerNetwork::Container { target } if *target == rec.config.name)
        })
    }
}
