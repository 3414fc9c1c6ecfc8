//! Attach (CRI Attach, behind the streaming server): a connection to the
//! container's shim that carries its live output and its exit one way,
//! and input and terminal resizes the other. The shim keeps the container's
//! stdin (a pipe or the terminal) for as long as the container runs.

use super::Status;
use crate::error::{Error, IoContext, Result};
use crate::shim_client;
use crate::Engine;
use berth_proto::shim::{request, response, Request, ResizeRequest};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// What comes from an attached container.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachEvent {
    /// 1: stdout (or the terminal), 2: stderr.
    Output(u8, Vec<u8>),
    /// The container exited with this code.
    Exit(i32),
}

pub struct AttachOutput(OwnedReadHalf);
pub struct AttachInput(OwnedWriteHalf);

impl AttachOutput {
    /// The next event; `None` if the shim went away without an exit.
    pub async fn next(&mut self) -> std::io::Result<Option<AttachEvent>> {
        loop {
            let Some(resp) = shim_client::recv(&mut self.0).await? else { return Ok(None) };
            match resp.kind {
                Some(response::Kind::Output(o)) => return Ok(Some(AttachEvent::Output(if o.stream == 2 { 2 } else { 1 }, o.data))),
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
        self.send(request::Kind::Resize(ResizeRequest { cols: cols.into(), rows: rows.into() })).await
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
        let bundle = self.paths().bundle(&rec.id)?;
        let conn = shim_client::attach(&bundle).await.ctx(|| format!("attach to container {}", rec.id))?;
        let (r, w) = conn.into_split();
        Ok((AttachOutput(r), AttachInput(w), rec.config.stdio))
    }
}
