//! `--ssh`: the client's agent, reached over its session. Each connection
//! a RUN step makes to its agent socket is one `ForwardAgent` call (the
//! agent's id in `buildkit.ssh.id`), its bytes copied both ways.

use super::wire::{BytesMessage, CheckAgentRequest, CheckAgentResponse};
use super::{Session, SessionError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHECK: &str = "/moby.sshforward.v1.SSH/CheckAgent";
const FORWARD: &str = "/moby.sshforward.v1.SSH/ForwardAgent";

/// Whether the client forwards an agent of that id.
pub async fn has_agent(session: &Session, id: &str) -> Result<bool, SessionError> {
    if !session.serves(FORWARD) || !session.serves(CHECK) {
        return Ok(false);
    }
    let mut call = session.call(CHECK, &[]).await?;
    call.send(&CheckAgentRequest { id: id.to_owned() })?;
    call.close_send()?;
    match call.recv::<CheckAgentResponse>().await {
        Ok(_) => Ok(true),
        Err(SessionError::Status { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A client's agent, by id.
pub struct Agent {
    pub session: Session,
    pub id: String,
}

impl berth_builder::SshAgent for Agent {
    fn connect(&self) -> futures::future::BoxFuture<'_, std::io::Result<tokio::io::DuplexStream>> {
        Box::pin(async move {
            let broken = |e: SessionError| std::io::Error::other(e.to_string());
            let call = self
                .session
                .call(FORWARD, &[("buildkit.ssh.id", &self.id)])
                .await
                .map_err(broken)?;
            let (mut tx, mut rx) = call.split();
            let (ours, theirs) = tokio::io::duplex(64 << 10);
            let (mut from_step, mut to_step) = tokio::io::split(theirs);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 << 10];
                loop {
                    match from_step.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send(&BytesMessage { data: buf[..n].to_vec() }).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = tx.close_send();
            });
            tokio::spawn(async move {
                while let Ok(Some(m)) = rx.recv::<BytesMessage>().await {
                    if to_step.write_all(&m.data).await.is_err() {
                        return;
                    }
                }
                let _ = to_step.shutdown().await;
            });
            Ok(ours)
        })
    }
}
