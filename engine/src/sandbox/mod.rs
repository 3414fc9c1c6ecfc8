//! Pod sandboxes: a pod's namespaces pinned by bind mounts (network, IPC,
//! UTS) — no pause process — with its hostname, DNS and hosts files.
//!
//! ```text
//!   RunPodSandbox            StopPodSandbox            RemovePodSandbox
//!  ───────────────▶ READY ─────────────────▶ NOTREADY ──────────────────▶ (gone)
//! ```
//! Stop releases the pins (nothing stays mounted); a node reboot (pins gone)
//! or the death of the pod init (pod-wide PID namespace) also makes a
//! sandbox NOTREADY. Records change like container records:
//! written durably before memory sees them.

#[cfg(test)]
mod lifecycle_tests;
mod list;
pub(crate) mod network;
pub mod pins;
mod port_forward;
mod recover;
mod remove;
mod run;
mod stop;
pub mod sysctl;

pub use crate::model::sandbox::*;
pub use list::SandboxFilter;
pub use run::RUNTIME_HANDLERS;

use crate::error::{Error, Missing, Result};
use crate::Engine;
use std::sync::Arc;

impl SandboxRecord {
    /// Whether the pod's PID namespace, if it has one, still has its init.
    pub fn init_alive(&self) -> bool {
        match (self.init_pid, self.pin("pid")) {
            (Some(pid), Some(pin)) => berth_kernel::pod_init::is_alive(pid, &pin),
            (None, None) => true,
            _ => false,
        }
    }
}

/// A sandbox in memory.
pub struct SandboxEntry {
    record: std::sync::Mutex<SandboxRecord>,
    /// Serializes operations on the pod (and container creation in it).
    pub(crate) op: Arc<tokio::sync::Mutex<()>>,
}

impl SandboxEntry {
    fn new(rec: SandboxRecord) -> Arc<Self> {
        Arc::new(Self { record: std::sync::Mutex::new(rec), op: Arc::default() })
    }
    pub fn record(&self) -> SandboxRecord {
        self.record.lock().unwrap().clone()
    }
}

impl Engine {
    /// Finds a pod's sandbox by id or unique id prefix (a container's own
    /// sandbox is no pod's: not found).
    pub(crate) fn sandbox(&self, id: &str) -> Result<Arc<SandboxEntry>> {
        let pod = |e: &SandboxEntry| e.record.lock().unwrap().config.owner == SandboxOwner::Pod;
        self.inner
            .sandboxes
            .find(id, "pod sandbox", false, pod)?
            .ok_or_else(|| Error::NotFound(Missing::Sandbox(id.to_owned())))
    }

    /// Any sandbox by its exact id, a container's own too.
    pub(crate) fn any_sandbox(&self, id: &str) -> Result<Arc<SandboxEntry>> {
        self.inner.sandboxes.get(id).ok_or_else(|| Error::NotFound(Missing::Sandbox(id.to_owned())))
    }

    /// Like [`Engine::sandbox`], but an unknown id is `None`: stop and
    /// remove are idempotent under the CRI contract.
    pub(crate) fn sandbox_if_exists(&self, id: &str) -> Result<Option<Arc<SandboxEntry>>> {
        match self.sandbox(id) {
            Ok(e) => Ok(Some(e)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ids of the pod's containers.
    pub fn pod_containers(&self, sandbox_id: &str) -> Vec<String> {
        self.inner
            .containers
            .all()
            .iter()
            .map(|e| e.record())
            .filter(|r| r.config.pod.as_ref().is_some_and(|p| p.sandbox_id == sandbox_id))
            .map(|r| r.id)
            .collect()
    }

    /// The addresses of a container outside pods on the default bridge
    /// (`ip/prefix`), empty for any other.
    /// A sandbox's first IPv4 address (its IPs are `addr/prefix` strings).
    pub(crate) fn sandbox_ipv4(&self, id: &str) -> Option<std::net::Ipv4Addr> {
        self.any_sandbox(id)
            .ok()
            .and_then(|s| s.record().ips.iter().find_map(|ip| ip.split('/').next()?.parse().ok()))
    }

    pub fn container_ips(&self, rec: &crate::model::ContainerRecord) -> Vec<String> {
        rec.config
            .network
            .sandbox()
            .and_then(|s| self.any_sandbox(s).ok())
            .map(|e| e.record().ips)
            .unwrap_or_default()
    }

    /// A snapshot of a sandbox.
    pub fn sandbox_status(&self, id: &str) -> Result<SandboxRecord> {
        Ok(self.observe(&*self.sandbox(id)?))
    }

    /// The record, after checking that a READY pod's init is still there:
    /// a pod whose PID namespace lost its init is NOTREADY (kubelet then
    /// stops it and makes a new one). Its pins stay for StopPodSandbox.
    pub(crate) fn observe(&self, entry: &SandboxEntry) -> SandboxRecord {
        let rec = entry.record();
        if rec.state != SandboxState::Ready || rec.init_pid.is_none() || rec.init_alive() {
            return rec;
        }
        tracing::warn!(sandbox = %rec.id, "the pod init has exited; the sandbox is not ready");
        self.sandbox_commit(entry, |r| r.state = SandboxState::NotReady).unwrap_or_else(|e| {
            tracing::warn!(sandbox = %rec.id, error = %e, "persist sandbox state");
            SandboxRecord { state: SandboxState::NotReady, ..rec }
        })
    }

    fn sandbox_commit(
        &self,
        entry: &SandboxEntry,
        update: impl FnOnce(&mut SandboxRecord),
    ) -> Result<SandboxRecord> {
        let mut guard = entry.record.lock().unwrap();
        let mut next = guard.clone();
        update(&mut next);
        self.sandbox_persist(&next)?;
        *guard = next.clone();
        Ok(next)
    }

    fn sandbox_persist(&self, rec: &SandboxRecord) -> Result<()> {
        if rec.quarantined {
            // Its record stays set aside; what changes is only shown.
            return Ok(());
        }
        crate::store::commit(&self.paths().sandbox(&rec.id)?.join(recover::RECORD), rec)
    }
}
