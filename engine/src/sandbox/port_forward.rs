//! PortForward's kernel side: a TCP connection to a port on the pod's
//! loopback, made in the pod's network namespace (see
//! `berth_kernel::net::in_netns`) and used from berthd's own threads.

use super::SandboxState;
use crate::error::{Error, IoContext, Result};
use crate::Engine;
use std::time::Duration;

/// How long a connect into the pod may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Connects to `port` on the pod's `localhost` (the node's, for a
    /// host-network pod).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn pod_connect(&self, id: &str, port: u16) -> Result<tokio::net::TcpStream> {
        let rec = self.observe(&*self.sandbox(id)?);
        if rec.state != SandboxState::Ready {
            return Err(Error::FailedPrecondition(format!("pod sandbox {} is not ready", rec.id)));
        }
        if port == 0 {
            return Err(Error::invalid("port 0 can't be forwarded"));
        }
        let netns = rec.pin("net");
        let connect = move || match netns {
            Some(ns) => berth_kernel::net::in_netns(&ns, move || {
                berth_kernel::net::connect_loopback(port, CONNECT_TIMEOUT)
            }),
            None => berth_kernel::net::connect_loopback(port, CONNECT_TIMEOUT),
        };
        let stream = tokio::task::spawn_blocking(connect)
            .await?
            .ctx(|| format!("connect to port {port} in pod {}", rec.id))?;
        stream.set_nonblocking(true).ctx(|| "set non-blocking".into())?;
        tokio::net::TcpStream::from_std(stream).ctx(|| "register the connection".into())
    }
}
