//! A small SPDY client for the streaming tests: what kubelet and crictl do
//! with an Exec or PortForward URL (upgrade, open streams, send, read),
//! using the framing and header codec of `berth_cri::streaming::spdy`.

use berth_cri::streaming::spdy::{
    data_frame, read_frame, syn_stream, Frame, HeaderDeflater, FLAG_FIN,
};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a client talks over: the upgraded TCP connection, or a WebSocket tunnel.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The answer to an upgrade request that was refused.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

pub struct Client {
    conn: Box<dyn Io>,
    deflate: HeaderDeflater,
    next_id: u32,
    /// Data received per stream, and which streams the server ended.
    pub data: HashMap<u32, Vec<u8>>,
    pub finished: Vec<u32>,
    pub reset: Vec<u32>,
}

/// Sends the upgrade request for `url` offering `protocols`; the
/// negotiated protocol and a client, or the refusal.
pub async fn connect(
    url: &str,
    protocols: &[&str],
    extra: &str,
) -> Result<(Client, String), Refused> {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n{extra}");
    for p in protocols {
        req.push_str(&format!("X-Stream-Protocol-Version: {p}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    // The head, byte by byte: SPDY frames may follow right after it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if conn.read(&mut b).await.unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let status: u16 = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if status != 101 {
        let mut body = String::new();
        let _ = conn.read_to_string(&mut body).await;
        return Err(Refused { status, body });
    }
    let proto = text
        .lines()
        .find_map(|l| l.strip_prefix("X-Stream-Protocol-Version: "))
        .unwrap_or_default()
        .to_owned();
    Ok((Client::over(conn), proto))
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("next_id", &self.next_id).finish_non_exhaustive()
    }
}

impl Client {
    /// A SPDY session over `io`, already upgraded.
    pub fn over(io: impl Io + 'static) -> Self {
        Client {
            conn: Box::new(io),
            deflate: HeaderDeflater::new(),
            next_id: 1,
            data: HashMap::new(),
            finished: Vec::new(),
            reset: Vec::new(),
        }
    }

    /// Opens a stream with these headers; its id.
    pub async fn open(&mut self, headers: &[(&str, &str)]) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        let block = self.deflate.block(headers);
        self.conn.write_all(&syn_stream(id, false, &block)).await.unwrap();
        id
    }

    pub async fn send(&mut self, id: u32, data: &[u8], fin: bool) {
        self.conn.write_all(&data_frame(id, fin, data)).await.unwrap();
    }

    /// Reads frames until the server has ended every stream in `ids` (or
    /// the connection), at most `timeout`.
    pub async fn until_finished(&mut self, ids: &[u32], timeout: Duration) {
        let wait = async {
            while !ids.iter().all(|i| self.finished.contains(i) || self.reset.contains(i)) {
                match read_frame(&mut self.conn).await {
                    Ok(Some(Frame::Data { id, flags, data })) => {
                        self.data.entry(id).or_default().extend_from_slice(&data);
                        if flags & FLAG_FIN != 0 {
                            self.finished.push(id);
                        }
                    }
                    Ok(Some(Frame::Control { kind: 3, body, .. })) => {
                        self.reset.push(u32::from_be_bytes([body[0], body[1], body[2], body[3]]))
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return,
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.expect("the server ended its streams in time");
    }

    /// Port-forward: one connection to `port` as request `req` that sends
    /// `GET /`; what came back on the data and the error stream.
    pub async fn forward_get(
        &mut self,
        port: &str,
        req: &str,
        timeout: Duration,
    ) -> (String, String) {
        let error = self.open(&[("streamtype", "error"), ("port", port), ("requestid", req)]).await;
        let data = self.open(&[("streamtype", "data"), ("port", port), ("requestid", req)]).await;
        self.send(data, b"GET / HTTP/1.0\r\n\r\n", false).await;
        self.until_finished(&[data, error], timeout).await;
        (self.text(data), self.text(error))
    }

    pub fn text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.data.get(&id).map(Vec::as_slice).unwrap_or_default())
            .into_owned()
    }
}
