//! ExecSync: run a command in a running container through the
//! `berth-shim exec` helper (the daemon itself never joins namespaces),
//! collecting its output up to a limit, with an optional timeout.

use super::Status;
use crate::error::{Error, IoContext, Result};
use crate::Engine;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Output kept per stream; the rest is read and dropped (as containerd does).
const OUTPUT_LIMIT: usize = 16 << 20;

/// What an exec printed, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

async fn collect(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// How an exec's process differs from the container's own: more
/// environment (`NAME=value`, over the container's), another user
/// (`user[:group]`, resolved in the container), another working directory.
#[derive(Debug, Clone, Default)]
pub struct ExecProcessOptions {
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

/// A running `berth-shim exec` helper. It is ended with SIGTERM, never
/// killed outright: the helper then kills its command and reaps it, so no
/// zombie is left in the container (see `berth_kernel::exec`). Dropping it
/// before it exited ends it the same way; tokio reaps the helper itself.
#[derive(Debug)]
pub(crate) struct Helper(tokio::process::Child);

impl Helper {
    pub(crate) fn spawn(cmd: &mut tokio::process::Command) -> Result<Self> {
        cmd.spawn().map(Self).ctx(|| "run berth-shim exec".into())
    }

    pub(crate) fn child(&mut self) -> &mut tokio::process::Child {
        &mut self.0
    }

    /// Ends the command and waits for the helper (SIGKILL after a grace
    /// period, should it hang).
    pub(crate) async fn end(&mut self) {
        self.terminate();
        if tokio::time::timeout(Duration::from_secs(5), self.0.wait()).await.is_err() {
            let _ = self.0.kill().await;
        }
    }

    fn terminate(&mut self) {
        if let (Ok(None), Some(pid)) = (self.0.try_wait(), self.0.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The helper's exit status as the command's exit code (128+N for a signal).
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(9))
}

impl Engine {
    /// The `berth-shim exec` command for a running container; stdio is the
    /// caller's to choose. Spawn it as a [`Helper`].
    pub(crate) fn exec_helper(
        &self,
        key: &str,
        args: &[String],
        tty: bool,
        more: &ExecProcessOptions,
    ) -> Result<tokio::process::Command> {
        if args.is_empty() || args[0].is_empty() {
            return Err(Error::invalid("exec needs a command"));
        }
        let rec = self.lookup(key)?.record();
        if rec.state.status != Status::Running {
            return Err(Error::FailedPrecondition(format!("container {} is not running", rec.id)));
        }
        if rec.state.paused {
            return Err(Error::FailedPrecondition(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        let bundle = self.paths().bundle(&rec.id)?;
        let mut cmd = tokio::process::Command::new(&self.config().shim_path);
        cmd.arg("exec").arg("--bundle").arg(&bundle).arg("--pid").arg(rec.state.pid.to_string());
        if tty {
            cmd.arg("--tty");
        }
        for e in &more.env {
            if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
                return Err(Error::invalid(format!(
                    "invalid environment variable {e:?}: it needs NAME=value"
                )));
            }
            cmd.arg("--env").arg(e);
        }
        if let Some(u) = more.user.as_deref().filter(|u| !u.is_empty()) {
            cmd.arg("--user").arg(u);
        }
        if let Some(w) = more.workdir.as_deref().filter(|w| !w.is_empty()) {
            if !w.starts_with('/') {
                return Err(Error::invalid(format!(
                    "the working directory {w:?} is not an absolute path"
                )));
            }
            cmd.arg("--cwd").arg(w);
        }
        cmd.arg("--").args(args);
        Ok(cmd)
    }

    /// Runs `args` in the container; `timeout` zero means none.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn exec_sync(
        &self,
        key: &str,
        args: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let mut helper = Helper::spawn(
            self.exec_helper(key, &args, false, &ExecProcessOptions::default())?
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )?;
        let child = helper.child();
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let run = async {
            let (stdout, stderr, status) = tokio::join!(
                async {
                    match out {
                        Some(o) => collect(o).await,
                        None => Vec::new(),
                    }
                },
                async {
                    match err {
                        Some(e) => collect(e).await,
                        None => Vec::new(),
                    }
                },
                child.wait()
            );
            let exit_code = exit_code(status.ctx(|| "wait for exec".into())?);
            Ok(ExecOutput { stdout, stderr, exit_code })
        };
        if timeout.is_zero() {
            return run.await;
        }
        let finished = tokio::time::timeout(timeout, run).await;
        match finished {
            Ok(r) => r,
            Err(_) => {
                // The command is gone (and reaped) before the caller hears of it.
                helper.end().await;
                Err(Error::DeadlineExceeded(format!(
                    "command {:?} timed out after {}s",
                    args.join(" "),
                    timeout.as_secs_f64()
                )))
            }
        }
    }
}
