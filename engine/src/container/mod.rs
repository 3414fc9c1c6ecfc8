//! Containers: the persisted record, the state machine, and one file per
//! operation (create, start, stop, kill, remove, list, wait, logs, recover,
//! restart policies).
//!
//! ```text
//!            start                 exit / kill
//!  CREATED ─────────▶ RUNNING ───────────────────▶ EXITED
//!     ▲  (start failed)   │ shim lost, no exit record   │
//!     └───────────────────┼──────────▶ UNKNOWN ◀────────┘ (never)
//!                         ▼
//!          EXITED ──start──▶ RUNNING (restart keeps its snapshot)
//! ```
//!
//! A Docker-front container with a restart policy (`restart.rs`) that
//! exits is EXITED with `restarting` set while it waits for its restart.
//!
//! A record changes like a transaction: the new record is written
//! (temp file, fsync, rename) before memory and watchers see it.

mod archive;
mod attach;
mod commit;
mod create;
mod create_options;
pub mod events;
mod exec;
mod exec_stream;
mod export;
mod health;
mod kill;
#[cfg(test)]
mod lifecycle_tests;
mod limits;
mod list;
mod logs;
pub(crate) mod monitor;
mod network;
#[cfg(test)]
mod options_tests;
mod pause;
mod port_table;
mod ports;
mod recover;
#[cfg(test)]
mod recovery_tests;
mod remove;
mod rename;
mod restart;
#[cfg(test)]
mod spec_tests;
mod start;
mod stats;
mod stop;
mod update;
mod volumes;
mod wait;

pub use archive::{ArchiveStream, CopyIn, PathStat};
pub use attach::{AttachEvent, AttachInput, AttachOutput, AttachTicket};
pub use berth_kernel::procinfo::{
    boot_time, memory_total, system_cpu_ns, ProcInfo, TICKS as PROC_TICKS,
};
pub use commit::CommitOptions;
pub(crate) use create::check_hostname;
pub use create::{CreateOptions, DockerOptions, NetworkMode};
pub use exec::{ExecOutput, ExecProcessOptions};
pub use exec_stream::{ExecProcess, ExecStreamOptions, Terminal};
pub use export::ChangeKind;
pub use logs::LogRecord;
pub(crate) use port_table::Ports;
pub use stats::{CgroupUsage, ContainerStats, MemoryUsage};
pub use volumes::{check_tmpfs_options, tmpfs_options};
pub use wait::WaitOutcome;

use crate::error::{Error, Missing, Result};
pub use crate::model::container::*;
pub use crate::model::pod::*;
use crate::Engine;
use std::sync::Arc;
use tokio::sync::watch;

/// A container in memory: its record, a lock that serializes operations
/// on it, and a channel that tells watchers about every state change.
pub struct Entry {
    record: std::sync::Mutex<ContainerRecord>,
    pub(crate) op: Arc<tokio::sync::Mutex<()>>,
    events: watch::Sender<ContainerState>,
    /// Attachments waiting for the next start (see `attach_next_start`).
    attach_pending: std::sync::atomic::AtomicUsize,
    /// A stop or kill on purpose was sent to this run: its exit is recorded
    /// as such (no extra write on the stop path).
    stopping: std::sync::atomic::AtomicBool,
    /// The restart policy's current wait (in memory, as dockerd's restart manager).
    restart_delay: std::sync::Mutex<std::time::Duration>,
    /// What the healthcheck's probes found (in memory).
    health: std::sync::Mutex<Option<crate::model::Health>>,
}

impl Entry {
    fn new(rec: ContainerRecord) -> Arc<Self> {
        let (events, _) = watch::channel(rec.state.clone());
        Arc::new(Self {
            record: std::sync::Mutex::new(rec),
            op: Arc::new(tokio::sync::Mutex::new(())),
            events,
            attach_pending: Default::default(),
            stopping: Default::default(),
            restart_delay: Default::default(),
            health: Default::default(),
        })
    }

    /// A snapshot of the record.
    pub fn record(&self) -> ContainerRecord {
        self.record.lock().unwrap().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<ContainerState> {
        self.events.subscribe()
    }
}

impl Engine {
    /// The container's writable snapshot, kept in its own dir.
    pub(crate) fn snapshot_dir(&self, id: &str) -> Result<std::path::PathBuf> {
        Ok(self.paths().container(id)?.join("fs"))
    }

    /// Where the container's files are: its snapshot over its image's layers.
    pub(crate) fn layout_of(
        &self,
        id: &str,
        image: &crate::image::ImageRecord,
    ) -> Result<crate::snapshot::Layout> {
        self.snapshots().kept(&self.snapshot_dir(id)?, &image.layers)
    }

    /// Finds a container by id, unique id prefix, or name.
    pub(crate) fn lookup(&self, key: &str) -> Result<Arc<Entry>> {
        self.inner
            .containers
            .find(key, "container", true, |_| true)?
            .ok_or_else(|| Error::NotFound(Missing::Container(key.to_owned())))
    }

    /// Writes the new record durably, then publishes it.
    pub(crate) fn commit(
        &self,
        entry: &Entry,
        update: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let mut guard = entry.record.lock().unwrap();
        let mut next = guard.clone();
        update(&mut next);
        self.persist(&next)?;
        *guard = next.clone();
        entry.events.send_replace(next.state.clone());
        Ok(next)
    }

    pub(crate) fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        if rec.state.status == Status::Quarantined {
            return Err(Error::FailedPrecondition(format!(
                "container {} is quarantined: only its removal is possible",
                rec.id
            )));
        }
        crate::store::commit(&self.inner.paths.container_record(&rec.id)?, rec)
    }

    /// The container's cgroup: recorded at create; records from before
    /// that field are under the engine's cgroup parent.
    pub(crate) fn cgroup_path(&self, rec: &ContainerRecord) -> String {
        if rec.config.cgroup_path.is_empty() {
            format!("/{}/{}", self.config().cgroup_parent.trim_matches('/'), rec.id)
        } else {
            rec.config.cgroup_path.clone()
        }
    }

    /// A pod's container, for the CRI front: by id or unique id prefix among
    /// pod containers only — never by name, never one of the CLI's.
    pub fn pod_container(&self, key: &str) -> Result<ContainerRecord> {
        let in_pod = |e: &Entry| e.record.lock().unwrap().config.pod.is_some();
        match self.inner.containers.find(key, "container", false, in_pod)? {
            Some(e) => Ok(e.record()),
            None => Err(Error::NotFound(Missing::Container(key.to_owned()))),
        }
    }

    /// A snapshot of one container.
    pub fn inspect(&self, key: &str) -> Result<ContainerRecord> {
        Ok(self.lookup(key)?.record())
    }
}
