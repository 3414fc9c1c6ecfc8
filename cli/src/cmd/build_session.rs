//! `berth build --ssh`: the CLI holds a BuildKit session open for the
//! build (`POST /session`, `Upgrade: h2c`) and serves on it what berthd
//! asks for: `moby.sshforward.v1.SSH` (`CheckAgent`, and `ForwardAgent`,
//! one call per connection a RUN step makes, copied to the local agent's
//! socket). The same protocol the docker CLI speaks, so berthd has one
//! way to reach a client's agent.

use crate::client::Client;
use crate::Failure;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHECK: &str = "/moby.sshforward.v1.SSH/CheckAgent";
const FORWARD: &str = "/moby.sshforward.v1.SSH/ForwardAgent";

/// `--ssh default`, `--ssh default=PATH`, `--ssh id=PATH`: agents by id
/// (without a path: `$SSH_AUTH_SOCK`).
pub fn agents(specs: &[String]) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (id, path) = match spec.split_once('=') {
            Some((id, path)) => (id, PathBuf::from(path)),
            None => {
                let sock = std::env::var_os("SSH_AUTH_SOCK").ok_or_else(|| {
                    Failure::new(format!("--ssh {spec}: SSH_AUTH_SOCK is not set"))
                })?;
                (spec.as_str(), PathBuf::from(sock))
            }
        };
        if id.is_empty() || path.as_os_str().is_empty() {
            return Err(Failure::new(format!("invalid --ssh {spec:?}: ID[=SOCKET]")));
        }
        out.insert(id.to_owned(), path);
    }
    Ok(out)
}

/// Opens a session serving `agents`; its id (the session lives on in a task).
pub async fn open(c: &Client, agents: BTreeMap<String, PathBuf>) -> Result<String, Failure> {
    let id = hex::encode(rand_bytes());
    let headers = [
        ("Connection", "Upgrade".to_owned()),
        ("Upgrade", "h2c".to_owned()),
        ("X-Docker-Expose-Session-Uuid", id.clone()),
        ("X-Docker-Expose-Session-Name", "berth-build".to_owned()),
        ("X-Docker-Expose-Session-Grpc-Method", CHECK.to_owned()),
        ("X-Docker-Expose-Session-Grpc-Method", FORWARD.to_owned()),
    ];
    let io = c.hijack_with("/session", &headers).await?;
    let mut conn = h2::server::handshake(io)
        .await
        .map_err(|e| Failure::new(format!("the build session: {e}")))?;
    tokio::spawn(async move {
        while let Some(Ok((req, respond))) = conn.accept().await {
            let agents = agents.clone();
            tokio::spawn(async move {
                let _ = serve(req, respond, &agents).await;
            });
        }
    });
    Ok(id)
}

fn rand_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b
}

/// One call berthd makes.
async fn serve(
    req: hyper::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    agents: &BTreeMap<String, PathBuf>,
) -> Result<(), h2::Error> {
    let path = req.uri().path().to_owned();
    let agent_id =
        req.headers().get("buildkit.ssh.id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = Messages { recv: req.into_body(), buf: BytesMut::new() };
    let head = hyper::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .expect("static");
    match path.as_str() {
        CHECK => {
            let asked = body.next().await.map(|m| field_bytes(&m)).unwrap_or_default();
            let id = String::from_utf8_lossy(&asked).into_owned();
            let mut send = respond.send_response(head, false)?;
            if agents.contains_key(&id) {
                send.send_data(frame(&[]), false)?;
                send.send_trailers(status("0", ""))?;
            } else {
                send.send_trailers(status("5", &format!("no ssh agent {id}")))?;
            }
        }
        FORWARD => {
            let sock = agent_id.as_ref().and_then(|id| agents.get(id));
            let Some(sock) = sock else {
                let mut send = respond.send_response(head, false)?;
                return send.send_trailers(status("5", "no such ssh agent"));
            };
            let Ok(agent) = tokio::net::UnixStream::connect(sock).await else {
                let mut send = respond.send_response(head, false)?;
                return send.send_trailers(status("14", "the ssh agent is not reachable"));
            };
            let mut send = respond.send_response(head, false)?;
            let (mut from_agent, mut to_agent) = agent.into_split();
            let upstream = async {
                while let Some(m) = body.next().await {
                    if to_agent.write_all(&field_bytes(&m)).await.is_err() {
                        break;
                    }
                }
                let _ = to_agent.shutdown().await;
            };
            let downstream = async {
                let mut buf = vec![0u8; 32 << 10];
                while let Ok(n) = from_agent.read(&mut buf).await {
                    if n == 0 || send.send_data(frame(&bytes_field(&buf[..n])), false).is_err() {
                        break;
                    }
                }
                let _ = send.send_trailers(status("0", ""));
            };
            tokio::join!(upstream, downstream);
        }
        _ => {
            let mut send = respond.send_response(head, false)?;
            send.send_trailers(status("12", "not served by berth build"))?;
        }
    }
    Ok(())
}

fn status(code: &str, message: &str) -> hyper::HeaderMap {
    let mut h = hyper::HeaderMap::new();
    h.insert("grpc-status", code.parse().expect("digits"));
    if let Ok(m) = message.parse() {
        h.insert("grpc-message", m);
    }
    h
}

/// A gRPC frame around a message.
fn frame(msg: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(5 + msg.len());
    b.push(0);
    b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    b.extend_from_slice(msg);
    b.into()
}

/// A message of one bytes field numbered 1 (`BytesMessage`), encoded.
fn bytes_field(data: &[u8]) -> Vec<u8> {
    let mut b = vec![0x0a];
    let mut n = data.len() as u64;
    while n >= 0x80 {
        b.push((n as u8) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    b.extend_from_slice(data);
    b
}

/// Field 1's bytes of a message (`BytesMessage.data`, `CheckAgentRequest.ID`).
fn field_bytes(msg: &[u8]) -> Vec<u8> {
    let mut m = msg;
    while let Some((&key, rest)) = m.split_first() {
        m = rest;
        let mut len = 0u64;
        let mut shift = 0;
        let varint = |m: &mut &[u8], len: &mut u64, shift: &mut u32| {
            while let Some((&b, rest)) = m.split_first() {
                *m = rest;
                *len |= u64::from(b & 0x7f) << *shift;
                *shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
        };
        match key & 7 {
            2 => {
                varint(&mut m, &mut len, &mut shift);
                let len = (len as usize).min(m.len());
                if key >> 3 == 1 {
                    return m[..len].to_vec();
                }
                m = &m[len..];
            }
            0 => varint(&mut m, &mut len, &mut shift),
            _ => break,
        }
    }
    Vec::new()
}

/// The gRPC messages of a request's body.
struct Messages {
    recv: h2::RecvStream,
    buf: BytesMut,
}

impl Messages {
    async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    return Some(self.buf.split_to(len).to_vec());
                }
            }
            let chunk = self.recv.data().await?.ok()?;
            let _ = self.recv.flow_control().release_capacity(chunk.len());
            self.buf.extend_from_slice(&chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_messages_round_trip_and_specs_name_agents() {
        for n in [0usize, 5, 200, 40_000] {
            let data = vec![7u8; n];
            assert_eq!(field_bytes(&bytes_field(&data)), data);
        }
        assert!(field_bytes(&[]).is_empty());
        let a = agents(&["gh=/tmp/a.sock".into()]).unwrap();
        assert_eq!(a["gh"], PathBuf::from("/tmp/a.sock"));
        assert!(agents(&["=x".into()]).is_err());
    }
}
