//! Tasks: a process run by a berth-shim of its own in a prepared root,
//! with no container record beneath it (containerd's tasks beneath its
//! containers). The OCI spec says the namespaces, cgroup, seccomp profile,
//! user and mounts; the shim's config says the overlay root, stdio and
//! log. Containers start theirs here; a build's RUN steps will too.
//!
//! A task lives in its bundle dir, which the caller names and owns:
//! `config.json`, `shim.json`, files the caller adds (/etc files), then the
//! shim's socket and exit record. [`ShimRuntime`] runs berth-shim; the
//! [`TaskRuntime`] trait is the seam unit tests fill with a fake.

mod shim;
pub mod step;

pub use shim::ShimRuntime;

use crate::error::{Error, IoContext, Result};
use berth_proto::shim::{Exit, ShimConfig, StartReport, CONFIG_FILE, SHIM_FILE};
use futures::future::BoxFuture;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The output side of a task's stdio connection (its output and exit, as
/// shim frames).
pub type TaskReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The input side (input, stdin's close, terminal resizes, as shim frames).
pub type TaskWriter = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// What runs a task's shim and talks to it.
pub trait TaskRuntime: Send + Sync + 'static {
    /// Runs the shim of a written bundle, up to its report.
    fn launch<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, Result<StartReport>>;
    /// Signals the task's process (`all`: every process in its cgroup).
    fn kill<'a>(
        &'a self,
        bundle: &'a Path,
        signal: i32,
        all: bool,
    ) -> BoxFuture<'a, std::io::Result<()>>;
    /// Waits for the task's exit; `None` when the shim went away without one.
    fn wait<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<Option<Exit>>>;
    /// A connection to the task's stdio.
    fn attach<'a>(
        &'a self,
        bundle: &'a Path,
    ) -> BoxFuture<'a, std::io::Result<(TaskReader, TaskWriter)>>;
    /// Resizes the task's terminal.
    fn resize<'a>(
        &'a self,
        bundle: &'a Path,
        cols: u16,
        rows: u16,
    ) -> BoxFuture<'a, std::io::Result<()>>;
    /// Makes the shim reopen the task's log file.
    fn reopen_log<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<()>>;
    /// The protocol the task's shim speaks.
    fn version<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<u32>>;
}

/// A task to start.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The bundle dir, made by [`Tasks::prepare`].
    pub bundle: PathBuf,
    pub spec: Spec,
    pub shim: ShimConfig,
}

/// A task that runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub pid: i32,
    pub shim_pid: i32,
    /// The shim's protocol.
    pub protocol: u32,
    /// When its process began (its exec), unix nanoseconds.
    pub started_unix_nanos: i64,
}

/// The tasks part: starts tasks through its runtime, within a deadline.
#[derive(Clone)]
pub struct Tasks {
    runtime: Arc<dyn TaskRuntime>,
    start_timeout: Duration,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("start_timeout", &self.start_timeout).finish()
    }
}

impl Tasks {
    pub fn new(runtime: Arc<dyn TaskRuntime>, start_timeout: Duration) -> Self {
        Self { runtime, start_timeout }
    }

    /// A fresh, empty bundle dir at `bundle` (what an earlier run left is
    /// removed), for the caller's files and then [`Tasks::start`].
    pub fn prepare(&self, bundle: &Path) -> Result<()> {
        let _ = std::fs::remove_dir_all(bundle);
        crate::paths::create_dir(bundle, 0o700).ctx(|| format!("create {}", bundle.display()))
    }

    /// Writes the task's spec and shim config into its bundle and runs its
    /// shim. A task that did not start leaves no bundle behind; one whose
    /// process could not run is [`Error::StartFailed`] with Docker's exit
    /// code for it.
    pub async fn start(&self, task: &TaskSpec) -> Result<Started> {
        let started = self.launch(task).await;
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&task.bundle);
        }
        started
    }

    async fn launch(&self, task: &TaskSpec) -> Result<Started> {
        let bundle = &task.bundle;
        let spec =
            serde_json::to_vec(&task.spec).map_err(|e| Error::system("encode config.json", e))?;
        std::fs::write(bundle.join(CONFIG_FILE), spec).ctx(|| "write config.json".into())?;
        crate::paths::create_dir(&task.shim.rootfs, 0o755)
            .ctx(|| "create rootfs mount point".into())?;
        let shim =
            serde_json::to_vec(&task.shim).map_err(|e| Error::system("encode shim.json", e))?;
        std::fs::write(bundle.join(SHIM_FILE), shim).ctx(|| "write shim.json".into())?;
        let report = tokio::time::timeout(self.start_timeout, self.runtime.launch(bundle))
            .await
            .map_err(|_| {
            Error::DeadlineExceeded("the shim did not report within the start timeout".into())
        })??;
        if let Some(message) = report.error {
            return Err(Error::StartFailed { message, exit_code: report.exit_code });
        }
        Ok(Started {
            pid: report.pid,
            shim_pid: report.shim_pid,
            protocol: report.protocol(),
            started_unix_nanos: report.started_unix_nanos,
        })
    }

    /// Signals the task of `bundle`.
    pub async fn kill(&self, bundle: &Path, signal: i32, all: bool) -> std::io::Result<()> {
        self.runtime.kill(bundle, signal, all).await
    }

    /// Waits for the task of `bundle` to exit.
    pub async fn wait(&self, bundle: &Path) -> std::io::Result<Option<Exit>> {
        self.runtime.wait(bundle).await
    }

    /// A connection to the task's stdio: its output and exit one way, its
    /// input and terminal resizes the other.
    pub async fn attach(&self, bundle: &Path) -> std::io::Result<(TaskReader, TaskWriter)> {
        self.runtime.attach(bundle).await
    }

    /// Resizes the task's terminal.
    pub async fn resize(&self, bundle: &Path, cols: u16, rows: u16) -> std::io::Result<()> {
        self.runtime.resize(bundle, cols, rows).await
    }

    /// Makes the shim reopen the task's log (after it was rotated).
    pub async fn reopen_log(&self, bundle: &Path) -> std::io::Result<()> {
        self.runtime.reopen_log(bundle).await
    }

    /// The protocol the task's shim speaks.
    pub async fn version(&self, bundle: &Path) -> std::io::Result<u32> {
        self.runtime.version(bundle).await
    }

    /// Removes an ended task's bundle (its shim removed the cgroup and
    /// socket as it exited).
    pub fn delete(&self, bundle: &Path) -> Result<()> {
        match std::fs::remove_dir_all(bundle) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Io { context: format!("remove {}", bundle.display()), source: e })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
