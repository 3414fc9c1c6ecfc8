//! Attach (CRI Attach, behind the streaming server): a connection to the
//! container's shim that carries its live output and its exit one way,
//! and input and terminal resizes the other. The shim keeps the container's
//! stdin (a pipe or the terminal) for as long as the container runs.

use super::{ContainerState, Entry, Status};
use crate::error::{Error, IoContext, Missing, Result};
use crate::shim_client;
use crate::task::{TaskReader, TaskWriter};
use crate::Engine;
use berth_proto::shim::{request, response, Request, ResizeRequest};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// What comes from an attached container.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachEvent {
    /// 1: stdout (or the terminal), 2: stderr.
    Output(u8, Vec<u8>),
    /// The container exited with this code.
    Exit(i32),
}

pub struct AttachOutput(TaskReader);
pub struct AttachInput(TaskWriter);

impl AttachOutput {
    /// The next event; `None` if the shim went away without an exit.
    pub async fn next(&mut self) -> std::io::Result<Option<AttachEvent>> {
        loop {
            let Some(resp) = shim_client::recv(&mut self.0).await? else { return Ok(None) };
            match resp.kind {
                Some(response::Kind::Output(o)) => {
                    return Ok(Some(AttachEvent::Output(if o.stream == 2 { 2 } else { 1 }, o.data)))
                }
                Some(response::Kind::Exit(e)) => return Ok(Some(AttachEvent::Exit(e.exit_code))),
                _ => continue,
            }
        }
    }
}

impl AttachInput {
    async fn send(&mut self, kind: request::Kind) -> std::io::Result<()> {
        shim_client::send(&mut self.0, &Request { kind: Some(kind) }).await
    }

    pub async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        for chunk in data.chunks(64 << 10) {
            self.send(request::Kind::Input(chunk.to_vec())).await?;
        }
        Ok(())
    }

    /// The client's stdin ended (closes the container's with `stdin_once`).
    pub async fn close_stdin(&mut self) -> std::io::Result<()> {
        self.send(request::Kind::CloseStdin(Default::default())).await
    }

    pub async fn resize(&mut self, cols: u16, rows: u16) -> std::io::Result<()> {
        self.send(request::Kind::Resize(ResizeRequest { cols: cols.into(), rows: rows.into() }))
            .await
    }
}

/// An attachment made before the container starts (Docker's attach, then
/// start): while it is held, the next start keeps the container's output
/// for it (the shim's `hold_output`), so a command that prints and exits
/// at once loses nothing.
pub struct AttachTicket {
    engine: Engine,
    entry: Arc<Entry>,
    events: watch::Receiver<ContainerState>,
}

impl Drop for AttachTicket {
    fn drop(&mut self) {
        self.entry.attach_pending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AttachTicket {
    fn gone(&self) -> Error {
        Error::NotFound(Missing::Container(self.entry.record().id))
    }

    /// Waits until the container runs (at once if it does), then attaches.
    /// A start that failed, or the container's removal, ends the wait.
    pub async fn attach(mut self) -> Result<(AttachOutput, AttachInput, super::Stdio)> {
        let first = self.events.borrow_and_update().clone();
        let mut state = first.clone();
        loop {
            // A quick exit may already have followed the start.
            if state.status == Status::Running || state.started_at != first.started_at {
                break;
            }
            if state != first && !state.error.is_empty() {
                return Err(Error::StartFailed {
                    message: state.error,
                    exit_code: state.exit_code,
                });
            }
            // The ticket holds the entry, so its channel never closes: a
            // removal is seen by looking the container up now and then.
            match tokio::time::timeout(std::time::Duration::from_secs(1), self.events.changed())
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.gone()),
                Err(_) if self.engine.lookup(&self.entry.record().id).is_err() => {
                    return Err(self.gone())
                }
                Err(_) => continue,
            }
            state = self.events.borrow_and_update().clone();
        }
        let rec = self.entry.record();
        self.engine.connect_attach(&rec).await
    }
}

impl Engine {
    /// Attaches to a running container's stdio.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn attach(&self, key: &str) -> Result<(AttachOutput, AttachInput, super::Stdio)> {
        let rec = self.lookup(key)?.record();
        if rec.state.status != Status::Running {
            return Err(Error::FailedPrecondition(format!("container {} is not running", rec.id)));
        }
        self.connect_attach(&rec).await
    }

    /// An attachment to the container's next start, or to its current run.
    pub fn attach_next_start(&self, key: &str) -> Result<AttachTicket> {
        let entry = self.lookup(key)?;
        entry.attach_pending.fetch_add(1, Ordering::SeqCst);
        let events = entry.subscribe();
        Ok(AttachTicket { engine: self.clone(), entry, events })
    }

    /// Resizes a running container's terminal (nothing without one).
    pub async fn resize_terminal(&self, key: &str, cols: u16, rows: u16) -> Result<()> {
        let rec = self.lookup(key)?.record();
        if rec.state.status != Status::Running {
            return Err(Error::FailedPrecondition(format!("container {} is not running", rec.id)));
        }
        let bundle = self.paths().bundle(&rec.id)?;
        self.tasks()
            .resize(&bundle, cols, rows)
            .await
            .ctx(|| format!("resize the terminal of container {}", rec.id))
    }

    async fn connect_attach(
        &self,
        rec: &super::ContainerRecord,
    ) -> Result<(AttachOutput, AttachInput, super::Stdio)> {
        let bundle = self.paths().bundle(&rec.id)?;
        let (r, w) =
            self.tasks().attach(&bundle).await.ctx(|| format!("attach to container {}", rec.id))?;
        Ok((AttachOutput(r), AttachInput(w), rec.config.stdio))
    }
}
