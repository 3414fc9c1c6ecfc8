//! One streaming connection: the HTTP request head, the token, the
//! upgrade to SPDY/3.1 and the protocol version, then the session.

use super::{attach, exec, port_forward, spdy, websocket, Pending, Streaming};
use berth_engine::Engine;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::Instrument;

/// Largest request head.
const MAX_HEAD: usize = 16 << 10;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// remotecommand versions, newest first. v5 differs from v4 only over
/// WebSocket; over SPDY it is v4.
pub(super) const EXEC_PROTOCOLS: &[&str] =
    &["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"];
pub(super) const PORT_FORWARD_PROTOCOLS: &[&str] = &["portforward.k8s.io"];

/// The parts of the request head we use.
#[derive(Debug, Default, PartialEq)]
struct Head {
    path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header lists `token` (case-insensitive).
    fn lists(&self, name: &str, token: &str) -> bool {
        self.values(name).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

pub(super) async fn handle(s: &Streaming, engine: &Engine, mut conn: TcpStream, peer: SocketAddr) {
    let span = tracing::info_span!("stream", %peer, path = tracing::field::Empty);
    async move {
        let (head, early) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut conn)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return respond(&mut conn, 400, &e, &[]).await,
            Err(_) => return,
        };
        tracing::Span::current().record("path", head.path.split('/').nth(1).unwrap_or_default());
        let (kind, token) = route(&head.path);
        let pending = match s.take(token) {
            Some(p) if matches!((&p, kind), (Pending::Exec(_), "exec") | (Pending::Attach(_), "attach") | (Pending::PortForward(_), "portforward")) => p,
            _ => return respond(&mut conn, 404, "unknown or expired streaming URL", &[]).await,
        };
        if head.lists("upgrade", "websocket") {
            return serve_websocket(engine, conn, head, early, pending).await;
        }
        if !head.lists("connection", "upgrade") || !head.lists("upgrade", "spdy/3.1") {
            return respond(&mut conn, 400, "expected an upgrade to SPDY/3.1", &[]).await;
        }
        let ours = if matches!(pending, Pending::PortForward(_)) { PORT_FORWARD_PROTOCOLS } else { EXEC_PROTOCOLS };
        let proto = match negotiate(&head, ours) {
            Ok(p) => p,
            Err((code, msg)) => {
                let accepted: Vec<(&str, &str)> = ours.iter().map(|p| ("X-Accepted-Stream-Protocol-Versions", *p)).collect();
                return respond(&mut conn, code, &msg, &accepted).await;
            }
        };
        let upgrade = format!("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {proto}\r\n\r\n");
        if conn.write_all(upgrade.as_bytes()).await.is_err() {
            return;
        }
        let (writer, incoming) = spdy::session(conn, early);
        serve_session(engine, pending, proto, writer, incoming).await;
    }
    .instrument(span)
    .await
}

/// The same requests over WebSocket (see `websocket.rs`).
async fn serve_websocket(
    engine: &Engine,
    mut conn: TcpStream,
    head: Head,
    early: Vec<u8>,
    pending: Pending,
) {
    let Some(key) = head.values("sec-websocket-key").next().map(str::to_owned) else {
        return respond(&mut conn, 400, "a WebSocket upgrade needs Sec-WebSocket-Key", &[]).await;
    };
    if !head.lists("connection", "upgrade")
        || head.values("sec-websocket-version").next().map(str::trim) != Some("13")
    {
        return respond(&mut conn, 400, "expected a WebSocket (version 13) upgrade", &[]).await;
    }
    let ours = if matches!(pending, Pending::PortForward(_)) {
        websocket::TUNNEL_PROTOCOLS
    } else {
        websocket::CHANNEL_PROTOCOLS
    };
    let Some(proto) = websocket::negotiate(head.values("sec-websocket-protocol"), ours) else {
        let offered: Vec<&str> = head.values("sec-websocket-protocol").collect();
        return respond(
            &mut conn,
            400,
            &format!("unable to upgrade: client supports {offered:?}, server accepts {ours:?}"),
            &[],
        )
        .await;
    };
    let upgrade = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {proto}\r\n\r\n",
        websocket::accept_key(&key)
    );
    if conn.write_all(upgrade.as_bytes()).await.is_err() {
        return;
    }
    let want = |stdin, stdout, stderr, tty| exec::Want { stdin, stdout, stderr, tty };
    // Exec and attach as channels; port forwarding as SPDY inside the WebSocket.
    let (writer, incoming) = match &pending {
        Pending::Exec(r) => {
            websocket::channel_session(conn, early, proto, want(r.stdin, r.stdout, r.stderr, r.tty))
                .await
        }
        Pending::Attach(r) => {
            websocket::channel_session(conn, early, proto, want(r.stdin, r.stdout, r.stderr, r.tty))
                .await
        }
        Pending::PortForward(_) => spdy::session(websocket::tunnel(conn, early).await, Vec::new()),
    };
    serve_session(engine, pending, proto, writer, incoming).await;
}

/// Runs the request over its session (SPDY, or WebSocket channels), then ends the session.
async fn serve_session(
    engine: &Engine,
    pending: Pending,
    proto: &'static str,
    writer: spdy::Writer,
    incoming: tokio::sync::mpsc::Receiver<spdy::Incoming>,
) {
    match pending {
        Pending::Exec(req) => exec::serve(engine, req, proto, writer.clone(), incoming).await,
        Pending::Attach(req) => attach::serve(engine, req, proto, writer.clone(), incoming).await,
        Pending::PortForward(req) => {
            port_forward::serve(engine, req, writer.clone(), incoming).await
        }
    }
    let _ = writer.go_away().await;
}

/// `/exec/<token>` → ("exec", token); a query string is ignored.
fn route(path: &str) -> (&str, &str) {
    let path = path.split('?').next().unwrap_or_default();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    (parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
}

/// The first of the client's protocols that we speak (the client's order,
/// as Kubernetes does).
fn negotiate(head: &Head, ours: &[&'static str]) -> Result<&'static str, (u16, String)> {
    let theirs: Vec<&str> = head
        .values("x-stream-protocol-version")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if theirs.is_empty() {
        return Err((400, "unable to upgrade: no X-Stream-Protocol-Version was requested".into()));
    }
    theirs
        .iter()
        .find_map(|t| ours.iter().find(|o| *o == t).copied())
        .ok_or_else(|| (403, format!("unable to upgrade: unable to negotiate protocol: client supports {theirs:?}, server accepts {ours:?}")))
}

/// Reads up to the end of the head; returns it and what came after it.
async fn read_head(conn: &mut TcpStream) -> Result<(Head, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = conn.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the request head ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse_head(&buf[..end + 4])?;
            return Ok((head, buf[end + 4..].to_vec()));
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
    }
}

fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete request head".into()),
        Err(e) => return Err(format!("bad request: {e}")),
    }
    if !matches!(req.method, Some("GET") | Some("POST")) {
        return Err(format!("method {} is not allowed", req.method.unwrap_or_default()));
    }
    Ok(Head {
        path: req.path.unwrap_or_default().to_owned(),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
    })
}

async fn respond(conn: &mut TcpStream, code: u16, body: &str, extra: &[(&str, &str)]) {
    let reason = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    tracing::info!(code, error = body, "streaming request refused");
    let mut resp = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (n, v) in extra {
        resp.push_str(&format!("{n}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(body);
    let _ = conn.write_all(resp.as_bytes()).await;
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lines: &str) -> Head {
        parse_head(format!("POST /exec/abc?x=1 HTTP/1.1\r\nHost: h\r\n{lines}\r\n").as_bytes())
            .unwrap()
    }

    #[test]
    fn routes_and_negotiates_like_kubelet() {
        assert_eq!(route("/exec/abc?x=1"), ("exec", "abc"));
        assert_eq!(route("/portforward/t"), ("portforward", "t"));
        assert_eq!(route("/"), ("", ""));
        let h = head("X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io, v2.channel.k8s.io\r\n");
        assert_eq!(negotiate(&h, EXEC_PROTOCOLS), Ok("v4.channel.k8s.io"));
        let h = head("X-Stream-Protocol-Version: channel.k8s.io\r\n");
        assert_eq!(negotiate(&h, EXEC_PROTOCOLS).unwrap_err().0, 403);
        assert_eq!(negotiate(&head(""), EXEC_PROTOCOLS).unwrap_err().0, 400);
        let h = head("Connection: keep-alive, Upgrade\r\nUpgrade: SPDY/3.1\r\n");
        assert!(h.lists("connection", "upgrade") && h.lists("upgrade", "spdy/3.1"));
        assert!(parse_head(b"DELETE /exec/a HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
