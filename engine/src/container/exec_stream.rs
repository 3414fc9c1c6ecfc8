//! Exec with live streams (CRI Exec, behind the streaming server): the
//! same `berth-shim exec` helper as ExecSync, with stdio handed to the
//! caller as pipes, or as the master of a terminal allocated in the
//! container's devpts (`tty`).

use super::exec::{exit_code, Helper};
use crate::error::{Error, IoContext, Result};
use crate::Engine;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::Stdio;
use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

/// What the exec should get.
#[derive(Debug, Clone, Default)]
pub struct ExecStreamOptions {
    pub args: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub process: super::exec::ExecProcessOptions,
}

/// A running exec. Dropping it ends the command.
pub struct ExecProcess {
    helper: Helper,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    /// The terminal's master, with `tty`: input and output both.
    pub terminal: Option<Terminal>,
}

impl ExecProcess {
    /// Waits for the command; its exit code (128+N for a signal).
    pub async fn wait(&mut self) -> Result<i32> {
        Ok(exit_code(self.helper.child().wait().await.ctx(|| "wait for exec".into())?))
    }
}

/// The master side of an exec's terminal (non-blocking).
pub struct Terminal {
    fd: AsyncFd<OwnedFd>,
}

impl Terminal {
    /// Reads output; `Ok(0)` once every process has closed the terminal.
    pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard
                .try_io(|fd| nix::unistd::read(fd.as_raw_fd(), buf).map_err(std::io::Error::from))
            {
                Ok(Ok(n)) => return Ok(n),
                // EIO: the last slave descriptor is gone.
                Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => return Ok(0),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `data` as the terminal's input.
    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(std::io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Sets the terminal's size.
    pub fn resize(&self, cols: u16, rows: u16) -> std::io::Result<()> {
        berth_kernel::pty::resize(self.fd.get_ref().as_fd(), cols, rows)
    }
}

impl Engine {
    /// Starts `o.args` in the running container `key`.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key, tty = o.tty))]
    pub async fn exec_stream(&self, key: &str, o: &ExecStreamOptions) -> Result<ExecProcess> {
        let piped = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
        let mut cmd = self.exec_helper(key, &o.args, o.tty, &o.process)?;
        if !o.tty {
            let mut helper = Helper::spawn(
                cmd.stdin(piped(o.stdin)).stdout(piped(o.stdout)).stderr(piped(o.stderr)),
            )?;
            let child = helper.child();
            return Ok(ExecProcess {
                stdin: child.stdin.take(),
                stdout: child.stdout.take(),
                stderr: child.stderr.take(),
                helper,
                terminal: None,
            });
        }
        // The helper sends the terminal's master over its stdout.
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().ctx(|| "socketpair".into())?;
        let mut helper = Helper::spawn(
            cmd.stdin(Stdio::null()).stdout(OwnedFd::from(theirs)).stderr(Stdio::piped()),
        )?;
        let child = helper.child();
        let received =
            tokio::task::spawn_blocking(move || berth_kernel::pty::recv_fd(ours.as_fd())).await?;
        let master = match received {
            Ok(m) => m,
            Err(_) => {
                // The helper failed before it had a terminal: say why.
                let mut msg = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut msg).await;
                }
                let _ = child.wait().await;
                return Err(Error::FailedPrecondition(format!(
                    "exec with a terminal: {}",
                    msg.trim()
                )));
            }
        };
        #[allow(unsafe_code)]
        // SAFETY: the AsyncFd takes the OwnedFd, which stays open and is the
        // same descriptor until the AsyncFd is dropped.
        let fd = unsafe { AsyncFd::register(master) }
            .map_err(|e| Error::Internal(format!("register the terminal: {e}")))?;
        Ok(ExecProcess {
            stdin: None,
            stdout: None,
            stderr: None,
            helper,
            terminal: Some(Terminal { fd }),
        })
    }
}
