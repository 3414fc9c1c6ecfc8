//! A pod sandbox as berth records it: what RunPodSandbox asked for, its
//! namespace choices and user namespace, and where it is in its life.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whom a sandbox is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxOwner {
    /// A pod: kubelet's (CRI), listed and driven through the CRI.
    #[default]
    Pod,
    /// One container outside pods (Docker's default bridge): it only holds
    /// the container's network namespace on berth's default bridge, lives
    /// and goes with the container, and the CRI never sees it.
    Container,
}

/// What RunPodSandbox asks for, as the engine understands it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxOptions {
    /// Records from before this field are pods'.
    #[serde(default)]
    pub owner: SandboxOwner,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: u32,
    pub hostname: String,
    pub log_directory: String,
    pub runtime_handler: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub cgroup_parent: String,
    pub dns: Dns,
    pub port_mappings: Vec<PortMapping>,
    pub sysctls: Vec<(String, String)>,
    pub namespaces: NamespaceModes,
    /// A container's own sandbox on a user-defined network: that network's
    /// id (none: berth's default bridge, or the pods' network for a pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

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
                return Err(Error::invalid(format!(
                    "the pod's {what} mapping must map its root (container id 0), not start at {}",
                    m.container_id
                )));
            }
            if m.length == 0 || m.host_id.checked_add(m.length - 1).is_none() || m.host_id == 0 {
                return Err(Error::invalid(format!(
                    "invalid {what} mapping: {} ids from host id {}",
                    m.length, m.host_id
                )));
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

/// A published port: a pod's `hostPort` (the node's CNI portmap), or a
/// Docker-front container's `-p` (berth's own nat rules, `network/publish.rs`).
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
        let config = SandboxOptions {
            name: format!("quarantined-{}", &id[..12]),
            namespace: "berth-quarantined".into(),
            uid: id.to_owned(),
            ..Default::default()
        };
        Self {
            id: id.to_owned(),
            config,
            created_at: 0,
            state: SandboxState::NotReady,
            pins: Vec::new(),
            ips: Vec::new(),
            init_pid: None,
            quarantined: true,
        }
    }

    /// The key two sandboxes may not share (kubelet's name, namespace, uid and attempt).
    pub fn name_key(&self) -> String {
        let c = &self.config;
        name_key(&c.name, &c.namespace, &c.uid, c.attempt)
    }

    /// The pinned file of a namespace kind, if the pod has one.
    pub fn pin(&self, kind: &str) -> Option<PathBuf> {
        self.pins.iter().find(|p| p.file_name().and_then(|n| n.to_str()) == Some(kind)).cloned()
    }
}

pub(crate) fn name_key(name: &str, namespace: &str, uid: &str, attempt: u32) -> String {
    format!("{name}_{namespace}_{uid}_{attempt}")
}
