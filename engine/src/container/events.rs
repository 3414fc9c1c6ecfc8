//! Container events from the engine's own state changes: created,
//! started, stopped (exited, whatever the cause) and deleted, each sent
//! after its record is committed — kubelet's evented PLEG reads them through
//! CRI GetContainerEvents — and what Docker's events say besides (a
//! signal sent, a stop on purpose, pause, rename, an OOM kill, commit,
//! copies; the CRI passes those over). A slow subscriber that falls more than
//! [`CAPACITY`] events behind is told so (and relists), never blocks anyone.

use super::ContainerRecord;
use crate::Engine;
use tokio::sync::broadcast;

/// Events kept for subscribers that are behind.
pub const CAPACITY: usize = 1024;

/// What happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Started,
    Stopped,
    Deleted,
    /// Its healthcheck's status changed (Docker-front containers only).
    Health(crate::model::HealthStatus),
    /// A signal was sent to it (a kill, a stop's signal); its number.
    Killed(i32),
    /// A stop on purpose ended with its exit.
    StoppedOnPurpose,
    /// A restart on purpose (stop, then start) is done.
    Restarted,
    Paused,
    Unpaused,
    /// A new name; the old one.
    Renamed,
    /// The kernel's OOM killer ended it (sent before its Stopped).
    OomKilled,
    /// Its resources or restart policy changed.
    Updated,
    /// Its writable layer became an image.
    Committed,
    /// Its filesystem was exported.
    Exported,
    /// A copy out of it (`docker cp` from the container).
    ArchiveRead,
    /// A copy into it.
    ArchiveWritten,
    /// A step of a Docker exec in it (the Docker front keeps its execs).
    Exec(ExecStep),
}

/// The steps of a Docker exec that its events tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStep {
    Created,
    Started,
    /// Ended, with the event's `exit_code` its own.
    Died,
}

/// One event.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    pub id: String,
    /// The pod, for a pod's container.
    pub sandbox_id: Option<String>,
    pub kind: EventKind,
    /// Unix nanoseconds.
    pub at: i64,
    /// The container's name, image (as asked for) and labels, and (Stopped)
    /// its exit code: what Docker's events carry.
    pub name: String,
    pub image: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub exit_code: i32,
    /// The name it had before (Renamed).
    pub old_name: Option<String>,
    /// The exec's id and command line (Exec).
    pub exec: Option<(String, String)>,
}

pub(crate) fn channel() -> broadcast::Sender<ContainerEvent> {
    broadcast::channel(CAPACITY).0
}

impl Engine {
    /// Every event from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<ContainerEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, rec: &ContainerRecord, kind: EventKind) {
        self.send_event(rec, kind, None, None);
    }

    /// An event, with the name `rec` had before.
    pub(crate) fn emit_renamed(
        &self,
        rec: &ContainerRecord,
        kind: EventKind,
        old_name: Option<String>,
    ) {
        self.send_event(rec, kind, old_name, None);
    }

    /// A Docker exec's step in container `key` (its exit code when it died).
    pub fn emit_exec(
        &self,
        key: &str,
        step: ExecStep,
        exec_id: &str,
        command: &[String],
        exit_code: Option<i32>,
    ) {
        let Ok(entry) = self.lookup(key) else { return };
        let mut rec = entry.record();
        if let Some(code) = exit_code {
            rec.state.exit_code = code;
        }
        self.send_event(
            &rec,
            EventKind::Exec(step),
            None,
            Some((exec_id.to_owned(), command.join(" "))),
        );
    }

    fn send_event(
        &self,
        rec: &ContainerRecord,
        kind: EventKind,
        old_name: Option<String>,
        exec: Option<(String, String)>,
    ) {
        let at = berth_proto::time::unix_nanos(std::time::SystemTime::now());
        // No subscriber is no error.
        let _ = self.inner.events.send(ContainerEvent {
            id: rec.id.clone(),
            sandbox_id: rec.config.pod.as_ref().map(|p| p.sandbox_id.clone()),
            kind,
            at,
            name: rec.name.clone(),
            image: rec.image.clone(),
            labels: rec.config.labels.clone(),
            exit_code: rec.state.exit_code,
            old_name,
            exec,
        });
    }
}
