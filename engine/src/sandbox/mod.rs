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

mod list;
mod network;
mod port_forward;
mod recover;
mod remove;
mod run;
mod stop;
pub mod sysctl;

pub use list::SandboxFilter;
pub use run::{SandboxOptions, RUNTIME_HANDLERS};

use crate::error::{Error, Result};
use crate::Engine;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// Sandbox states (CRI's SANDBOX_READY / SANDBOX_NOTREADY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    #[default]
    Ready,
    NotReady,
}

/// How a pod shares a namespace (CRI's NamespaceMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NsMode {
    /// One namespace for the whole pod.
    #[default]
    Pod,
    /// One namespace per container.
    Container,
    /// The host's.
    Node,
    /// Another container's.
    Target,
}

/// The pod's namespace choices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceModes {
    pub network: NsMode,
    pub pid: NsMode,
    pub ipc: NsMode,
    pub target_id: String,
    /// The pod's own user namespace (`hostUsers: false`); none: the node's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserNamespace>,
}

/// One range of ids: `length` ids from `container_id` inside the pod are
/// `host_id`... on the node (CRI's IDMapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub container_id: u32,
    pub host_id: u32,
    pub length: u32,
}

/// A pod's user namespace: one uid range and one gid range, each mapping
/// the pod's root (what kubelet sends, and what critest checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserNamespace {
    pub uids: IdMapping,
    pub gids: IdMapping,
}

impl UserNamespace {
    pub(crate) fn check(&self) -> Result<()> {
        for (what, m) in [("uid", self.uids), ("gid", self.gids)] {
            if m.container_id != 0 {
                return Err(Error::InvalidArgument(format!("the pod's {what} mapping must map its root (container id 0), not start at {}", m.container_id)));
            }
            if m.length == 0 || m.host_id.checked_add(m.length - 1).is_none() || m.host_id == 0 {
                return Err(Error::InvalidArgument(format!("invalid {what} mapping: {} ids from host id {}", m.length, m.host_id)));
            }
        }
        Ok(())
    }

    /// The pod root's uid and gid on the node.
    pub fn host_root(&self) -> (u32, u32) {
        (self.uids.host_id, self.gids.host_id)
    }
}

/// DNS settings written to the pod's resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// A published port (CNI portmap, once networking lands).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub protocol: String,
    pub container_port: i32,
    pub host_port: i32,
    pub host_ip: String,
}

/// The persisted sandbox (`sandboxes/<id>/sandbox.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    /// What was asked for, normalized: hostname filled in, sysctl keys dotted.
    pub config: SandboxOptions,
    pub created_at: i64,
    pub state: SandboxState,
    /// Pinned namespace files (net, ipc, uts, pid), while READY.
    pub pins: Vec<PathBuf>,
    pub ips: Vec<String>,
    /// The pod init (PID 1 of a pod-wide PID namespace), while READY.
    #[serde(default)]
    pub init_pid: Option<i32>,
    /// Shown for a record that couldn't be read (never written).
    #[serde(skip)]
    pub quarantined: bool,
}

impl crate::store::Record for SandboxRecord {
    const KIND: &'static str = "pod sandbox";
    /// 0: before schemas; 1: the same shape, with `schema`.
    const SCHEMA: u32 = 1;
}

impl SandboxRecord {
    /// What is shown of a sandbox whose record was quarantined: NOTREADY,
    /// its id, no pins; kubelet may stop and remove it (its dirs go then).
    pub(crate) fn quarantined(id: &str) -> Self {
        let config = SandboxOptions { name: format!("quarantined-{}", &id[..12]), namespace: "berth-quarantined".into(), uid: id.to_owned(), ..Default::default() };
        Self { id: id.to_owned(), config, created_at: 0, state: SandboxState::NotReady, pins: Vec::new(), ips: Vec::new(), init_pid: None, quarantined: true }
    }

    /// The key two sandboxes may not share (kubelet's name, namespace, uid and attempt).
    pub fn name_key(&self) -> String {
        let c = &self.config;
        name_key(&c.name, &c.namespace, &c.uid, c.attempt)
    }

    /// Whether the pod's PID namespace, if it has one, still has its init.
    pub fn init_alive(&self) -> bool {
        match (self.init_pid, self.pin("pid")) {
            (Some(pid), Some(pin)) => berth_kernel::pod_init::is_alive(pid, &pin),
            (None, None) => true,
            _ => false,
        }
    }

    /// The pinned file of a namespace kind, if the pod has one.
    pub fn pin(&self, kind: &str) -> Option<PathBuf> {
        self.pins.iter().find(|p| p.file_name().and_then(|n| n.to_str()) == Some(kind)).cloned()
    }
}

pub(crate) fn name_key(name: &str, namespace: &str, uid: &str, attempt: u32) -> String {
    format!("{name}_{namespace}_{uid}_{attempt}")
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
    /// Finds a sandbox by id or unique id prefix.
    pub(crate) fn sandbox(&self, id: &str) -> Result<Arc<SandboxEntry>> {
        let map = self.inner.sandboxes.read().unwrap();
        match crate::store::find_id(map.keys(), id, "pod sandbox")? {
            Some(found) => Ok(map[&found].clone()),
            None => Err(Error::NotFound(format!("pod sandbox {id:?} not found"))),
        }
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
        let map = self.inner.containers.read().unwrap();
        map.values().map(|e| e.record()).filter(|r| r.config.pod.as_ref().is_some_and(|p| p.sandbox_id == sandbox_id)).map(|r| r.id).collect()
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

    fn sandbox_commit(&self, entry: &SandboxEntry, update: impl FnOnce(&mut SandboxRecord)) -> Result<SandboxRecord> {
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
