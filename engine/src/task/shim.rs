//! The real [`TaskRuntime`]: `berth-shim --bundle DIR`, which detaches
//! itself (the process spawned here exits right after its one-line
//! report), then the shim's socket for signals and the exit.

use super::{TaskReader, TaskRuntime, TaskWriter};
use crate::error::{Error, IoContext, Result};
use crate::shim_client;
use berth_proto::shim::{Exit, StartReport};
use futures::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Runs `shim_path` for each task.
#[derive(Debug, Clone)]
pub struct ShimRuntime {
    shim_path: PathBuf,
}

impl ShimRuntime {
    pub fn new(shim_path: PathBuf) -> Self {
        Self { shim_path }
    }

    async fn run(&self, bundle: &Path) -> Result<StartReport> {
        let child = tokio::process::Command::new(&self.shim_path)
            .arg("--bundle")
            .arg(bundle)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ctx(|| format!("run {}", self.shim_path.display()))?;
        let out = child.wait_with_output().await.ctx(|| "wait for shim".into())?;
        let line = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str::<StartReport>(line.trim())
            .map_err(|e| Error::Internal(format!("unreadable shim report {:?}: {e}", line.trim())))
    }
}

impl TaskRuntime for ShimRuntime {
    fn launch<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, Result<StartReport>> {
        Box::pin(self.run(bundle))
    }

    fn kill<'a>(
        &'a self,
        bundle: &'a Path,
        signal: i32,
        all: bool,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(shim_client::kill(bundle, signal, all))
    }

    fn wait<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<Option<Exit>>> {
        Box::pin(shim_client::wait(bundle))
    }

    fn attach<'a>(
        &'a self,
        bundle: &'a Path,
    ) -> BoxFuture<'a, std::io::Result<(TaskReader, TaskWriter)>> {
        Box::pin(async move {
            let (r, w) = shim_client::attach(bundle).await?.into_split();
            Ok((Box::new(r) as TaskReader, Box::new(w) as TaskWriter))
        })
    }

    fn resize<'a>(
        &'a self,
        bundle: &'a Path,
        cols: u16,
        rows: u16,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(shim_client::resize(bundle, cols, rows))
    }

    fn reopen_log<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(shim_client::reopen_log(bundle))
    }

    fn version<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<u32>> {
        Box::pin(shim_client::version(bundle))
    }
}
