//! A WebSocket client for the streaming tests, as client-go's WebSocket
//! executor (`crictl --transport websocket`) speaks to the streaming
//! server: the channel protocol for exec and attach, SPDY tunneled
//! through the WebSocket for port-forward.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;

/// Upgrades `url` to a WebSocket offering `protocols`: the socket and the
/// protocol the server chose, or the refusal's status and body.
pub async fn connect(
    url: &str,
    protocols: &[&str],
) -> Result<(WebSocketStream<TcpStream>, String), (u16, String)> {
    let addr = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .expect("an http URL")
        .to_owned();
    let mut req = url.replacen("http://", "ws://", 1).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", protocols.join(", ").parse().unwrap());
    let tcp = TcpStream::connect(&addr).await.unwrap();
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, resp)) => {
            let proto = resp
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            Ok((ws, proto))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((resp.status().as_u16(), body))
        }
        Err(e) => panic!("websocket upgrade: {e}"),
    }
}

/// One channel-protocol session.
pub struct Channels {
    ws: WebSocketStream<TcpStream>,
    /// What each channel received.
    pub data: HashMap<u8, Vec<u8>>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels").finish_non_exhaustive()
    }
}

impl Channels {
    pub fn new(ws: WebSocketStream<TcpStream>) -> Self {
        Self { ws, data: HashMap::new() }
    }

    pub async fn send(&mut self, channel: u8, data: &[u8]) {
        let mut msg = vec![channel];
        msg.extend_from_slice(data);
        self.ws.send(Message::binary(msg)).await.unwrap();
    }

    /// v5: the end of our half of `channel`.
    pub async fn close(&mut self, channel: u8) {
        self.ws.send(Message::binary(vec![255, channel])).await.unwrap();
    }

    /// Reads until `done` holds or the server closes the socket, at most `timeout`.
    pub async fn read_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&HashMap<u8, Vec<u8>>) -> bool,
    ) {
        let wait = async {
            while !done(&self.data) {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                        self.data.entry(b[0]).or_default().extend_from_slice(&b[1..])
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.expect("the server answered in time");
    }

    /// Reads until the server closes the socket.
    pub async fn until_closed(&mut self, timeout: Duration) {
        self.read_until(timeout, |_| false).await
    }

    pub fn text(&self, channel: u8) -> String {
        String::from_utf8_lossy(self.data.get(&channel).map(Vec::as_slice).unwrap_or_default())
            .into_owned()
    }
}

/// The byte stream tunneled in the socket's binary messages, for a SPDY
/// client (`crate::spdy::Client::over`).
pub fn tunnel(ws: WebSocketStream<TcpStream>) -> tokio::io::DuplexStream {
    berth_cri::streaming::websocket::byte_stream(ws)
}
