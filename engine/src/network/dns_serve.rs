//! Serving a network's embedded DNS on its gateway, port 53: UDP, and TCP
//! (a client's retry of a truncated answer, or one that asks over TCP, as
//! Docker's 127.0.0.11 takes both). Each query is answered from the
//! records at once (`dns::Engine::dns_lookup`); one for elsewhere is
//! forwarded on a task of its own over the transport it came by, so a slow
//! resolver holds nobody up. Tasks, not threads: one per socket, one per
//! TCP connection while it lasts.

use super::dns::{
    answer, parse, refuse, Lookup, Upstreams, CLASS_IN, NOERROR, NOTIMP, NXDOMAIN, REFUSED,
    SERVFAIL, TYPE_A,
};
use crate::Engine;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a resolver has to answer a forwarded question.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a TCP client may stay quiet between its queries.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The running server of one network; stops when dropped.
pub(crate) struct DnsServer {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What one query gets.
enum Reply {
    Now(Vec<u8>),
    /// Ask `upstreams`; `servfail` if none of them answers.
    Forward {
        upstreams: Upstreams,
        servfail: Vec<u8>,
    },
    /// Not even an id to answer to.
    Nothing,
}

/// The network a server answers for.
#[derive(Clone)]
struct Served {
    engine: Weak<crate::Inner>,
    network: String,
    internal: bool,
}

impl Served {
    fn decide(&self, peer: Ipv4Addr, query: &[u8]) -> Option<Reply> {
        let engine = Engine { inner: self.engine.upgrade()? };
        Some(match parse(query) {
            Some(q) if q.flags & 0x7800 != 0 => Reply::Now(answer(query, &q, NOTIMP, &[])),
            Some(q) => match engine.dns_lookup(&self.network, peer, &q.name) {
                (Lookup::Found(addrs), _) => Reply::Now(answer(
                    query,
                    &q,
                    NOERROR,
                    if q.qtype == TYPE_A && q.qclass == CLASS_IN { &addrs } else { &[] },
                )),
                (Lookup::Local, _) => Reply::Now(answer(query, &q, NXDOMAIN, &[])),
                (Lookup::Elsewhere, _) if self.internal => {
                    Reply::Now(answer(query, &q, REFUSED, &[]))
                }
                (Lookup::Elsewhere, upstreams) => {
                    Reply::Forward { upstreams, servfail: answer(query, &q, SERVFAIL, &[]) }
                }
            },
            None => refuse(query, NOTIMP).map_or(Reply::Nothing, Reply::Now),
        })
    }
}

/// Binds `gateway:53`, UDP and TCP (before the bridge has the address:
/// IP_FREEBIND), and serves both.
pub(crate) fn serve(
    engine: Weak<crate::Inner>,
    network: String,
    gateway: Ipv4Addr,
    internal: bool,
) -> std::io::Result<DnsServer> {
    let served = Served { engine, network, internal };
    let addr: SocketAddr = (gateway, 53).into();
    let udp = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM.cloexec(),
        Some(socket2::Protocol::UDP),
    )?;
    udp.set_freebind_v4(true)?;
    udp.set_nonblocking(true)?;
    udp.bind(&addr.into())?;
    let udp = Arc::new(tokio::net::UdpSocket::from_std(udp.into())?);
    let tcp = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM.cloexec(),
        Some(socket2::Protocol::TCP),
    )?;
    tcp.set_freebind_v4(true)?;
    tcp.set_reuse_address(true)?;
    tcp.set_nonblocking(true)?;
    tcp.bind(&addr.into())?;
    tcp.listen(64)?;
    let tcp = tokio::net::TcpListener::from_std(tcp.into())?;
    Ok(DnsServer {
        tasks: vec![
            tokio::spawn(serve_udp(served.clone(), udp)),
            tokio::spawn(serve_tcp(served, tcp)),
        ],
    })
}

async fn serve_udp(served: Served, sock: Arc<tokio::net::UdpSocket>) {
    let mut buf = vec![0u8; 1500];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else { continue };
        let query = buf[..n].to_vec();
        match served.decide(peer_v4(peer), &query) {
            None => return,
            Some(Reply::Now(r)) => {
                let _ = sock.send_to(&r, peer).await;
            }
            Some(Reply::Forward { upstreams, servfail }) => {
                let sock = sock.clone();
                tokio::spawn(async move {
                    let reply = forward_udp(&query, &upstreams).await.unwrap_or(servfail);
                    let _ = sock.send_to(&reply, peer).await;
                });
            }
            Some(Reply::Nothing) => {}
        }
    }
}

async fn serve_tcp(served: Served, listener: tokio::net::TcpListener) {
    loop {
        let Ok((conn, peer)) = listener.accept().await else { continue };
        if served.engine.strong_count() == 0 {
            return;
        }
        tokio::spawn(serve_tcp_conn(served.clone(), conn, peer_v4(peer)));
    }
}

/// One TCP client's queries, each a 2-byte length and the message, in turn.
async fn serve_tcp_conn(served: Served, mut conn: tokio::net::TcpStream, peer: Ipv4Addr) {
    while let Ok(Ok(query)) = tokio::time::timeout(TCP_IDLE, read_framed(&mut conn)).await {
        let reply = match served.decide(peer, &query) {
            None | Some(Reply::Nothing) => return,
            Some(Reply::Now(r)) => r,
            Some(Reply::Forward { upstreams, servfail }) => {
                forward_tcp(&query, &upstreams).await.unwrap_or(servfail)
            }
        };
        if write_framed(&mut conn, &reply).await.is_err() {
            return;
        }
    }
}

async fn read_framed(conn: &mut tokio::net::TcpStream) -> std::io::Result<Vec<u8>> {
    let len = conn.read_u16().await?;
    let mut msg = vec![0u8; usize::from(len)];
    conn.read_exact(&mut msg).await?;
    Ok(msg)
}

async fn write_framed(conn: &mut tokio::net::TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len =
        u16::try_from(msg.len()).map_err(|_| std::io::Error::other("DNS message over 64 KiB"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    conn.write_all(&out).await
}

fn peer_v4(peer: SocketAddr) -> Ipv4Addr {
    match peer.ip() {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

/// Asks the resolvers in turn over UDP; their first answer.
async fn forward_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for s in upstreams.iter().take(3) {
        let local: SocketAddr = if s.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(sock) = tokio::net::UdpSocket::bind(local).await else { continue };
        if sock.send_to(query, s).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv(&mut buf)).await {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// Asks the resolvers in turn over TCP; their first answer.
async fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for s in upstreams.iter().take(3) {
        let asked = async {
            let mut conn = tokio::net::TcpStream::connect(s).await?;
            write_framed(&mut conn, query).await?;
            read_framed(&mut conn).await
        };
        if let Ok(Ok(reply)) = tokio::time::timeout(UPSTREAM_TIMEOUT, asked).await {
            return Some(reply);
        }
    }
    None
}
