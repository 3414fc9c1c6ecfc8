//! The streaming server behind CRI Exec, Attach and PortForward, as kubelet expects
//! it: the RPC only checks the request and answers a one-time URL
//! (`http://<address>/{exec,attach,portforward}/<token>`); kubelet (or crictl) then connects
//! there and upgrades the HTTP connection to SPDY/3.1, over which the
//! Kubernetes remotecommand (`v2`–`v5.channel.k8s.io`) or port-forward
//! (`portforward.k8s.io`) protocol runs — or to a WebSocket, which carries
//! the channel protocol (`v4`/`v5.channel.k8s.io`) or tunnels SPDY.
//!
//! Tokens are 128 random bits, single use, and expire after a minute, as
//! kubelet's own streaming server does; the server listens on loopback by
//! default, where kubelet proxies to it.
//!
//! - `http.rs`: the request head, the upgrade and the protocol negotiation;
//! - `spdy.rs`: SPDY framing and header compression;
//! - `websocket.rs`: the WebSocket channel protocol and the SPDY tunnel;
//! - `exec.rs`: remotecommand — stdio, terminal resize, the exit status;
//! - `attach.rs`: the same streams, bridged to the container's shim;
//! - `port_forward.rs`: one TCP connection in the pod per stream pair.

mod attach;
mod dictionary;
mod exec;
mod http;
mod port_forward;
pub mod spdy;
pub mod websocket;

use berth_engine::Engine;
use berth_proto::cri;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tonic::Status;

/// How long a URL stays valid.
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Requests waiting for their connection, at most.
const MAX_PENDING: usize = 1000;

/// What a token stands for.
#[derive(Debug, Clone)]
enum Pending {
    Exec(cri::ExecRequest),
    Attach(cri::AttachRequest),
    PortForward(cri::PortForwardRequest),
}

/// The streaming server: its address and the requests waiting for a
/// connection.
pub struct Streaming {
    base: String,
    pending: Mutex<HashMap<String, (Instant, Pending)>>,
}

impl Streaming {
    /// Listens on `addr` (port 0: any free port). URLs name the address
    /// actually bound; an unspecified address is reached on loopback.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<(Arc<Self>, TcpListener)> {
        let listener = TcpListener::bind(addr).await?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(if local.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let me = Arc::new(Self { base: format!("http://{local}"), pending: Mutex::default() });
        Ok((me, listener))
    }

    /// Serves connections until the listener fails; each connection on a
    /// task of its own.
    pub async fn serve(self: Arc<Self>, engine: Engine, listener: TcpListener) {
        loop {
            let (conn, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "streaming server: accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (me, engine) = (self.clone(), engine.clone());
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                http::handle(&me, &engine, conn, peer).await;
            });
        }
    }

    fn register(&self, kind: &str, p: Pending) -> Result<String, Status> {
        let mut map = self.pending.lock().unwrap();
        let now = Instant::now();
        map.retain(|_, (at, _)| now.duration_since(*at) < TOKEN_TTL);
        if map.len() >= MAX_PENDING {
            return Err(Status::resource_exhausted(
                "too many streaming requests are waiting for their connection",
            ));
        }
        let token: String = (0..16).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        map.insert(token.clone(), (now, p));
        Ok(format!("{}/{kind}/{token}", self.base))
    }

    /// The request behind a token, once.
    fn take(&self, token: &str) -> Option<Pending> {
        let (at, p) = self.pending.lock().unwrap().remove(token)?;
        (at.elapsed() < TOKEN_TTL).then_some(p)
    }

    /// CRI Exec: checks the request and hands out its URL.
    pub fn exec_url(&self, req: cri::ExecRequest) -> Result<String, Status> {
        self.register("exec", Pending::Exec(req))
    }

    /// CRI Attach: hands out the URL.
    pub fn attach_url(&self, req: cri::AttachRequest) -> Result<String, Status> {
        self.register("attach", Pending::Attach(req))
    }

    /// CRI PortForward: hands out the URL.
    pub fn port_forward_url(&self, req: cri::PortForwardRequest) -> Result<String, Status> {
        self.register("portforward", Pending::PortForward(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_single_use_and_name_the_bound_address() {
        let (s, _l) = Streaming::bind(([0, 0, 0, 0], 0).into()).await.unwrap();
        let url = s
            .exec_url(cri::ExecRequest { container_id: "c".into(), ..Default::default() })
            .unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let token = url.rsplit('/').next().unwrap();
        assert_eq!(token.len(), 32);
        assert!(matches!(s.take(token), Some(Pending::Exec(r)) if r.container_id == "c"));
        assert!(s.take(token).is_none());
        assert!(s.take("nope").is_none());
    }
}
