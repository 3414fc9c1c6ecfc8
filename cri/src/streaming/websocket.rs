//! The streaming server's WebSocket side (`crictl --transport websocket`,
//! client-go's WebSocket executor, the API server's WebSocket proxy):
//!
//! - exec and attach speak the channel protocol, `v5.channel.k8s.io` or
//!   `v4.channel.k8s.io`: every binary message starts with its channel
//!   (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize); in v5 the message
//!   `[255, channel]` ends the client's half of that channel (stdin EOF).
//!   The channels become the same streams SPDY's `streamtype` headers name,
//!   so `exec.rs` and `attach.rs` serve both transports.
//! - port-forward tunnels SPDY through the WebSocket
//!   (`SPDY/3.1+portforward.k8s.io`): the binary messages carry the SPDY
//!   byte stream, and `spdy.rs` runs on it unchanged.

use super::exec::Want;
use super::spdy::{self, Incoming, Out, Writer};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Channel protocols, newest first.
pub(super) const CHANNEL_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// SPDY tunneled through the WebSocket, for port-forward.
pub(super) const TUNNEL_PROTOCOLS: &[&str] = &["SPDY/3.1+portforward.k8s.io"];

/// Largest message we take from a client (client-go sends 32 KiB at most).
const MAX_MESSAGE: usize = 1 << 20;
/// The v5 close signal.
const STREAM_CLOSE: u8 = 255;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;

/// `Sec-WebSocket-Accept` for the client's key (RFC 6455 §4.2.2).
pub(super) fn accept_key(key: &str) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.trim().as_bytes())
}

/// The first of the client's subprotocols we speak, in the client's order.
pub(super) fn negotiate<'a>(
    offered: impl Iterator<Item = &'a str>,
    ours: &[&'static str],
) -> Option<&'static str> {
    offered
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|t| ours.iter().find(|o| **o == t).copied())
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE))
}

async fn server<S: AsyncRead + AsyncWrite + Unpin>(io: S, early: Vec<u8>) -> WebSocketStream<S> {
    WebSocketStream::from_partially_read(io, early, Role::Server, Some(config())).await
}

/// Runs the channel protocol over `io` (after the 101 answer; `early` is
/// what was read past the request head): the streams `want` names are
/// opened at once, as the peer's, and what the handlers write goes out as
/// channel messages. The writer's goodbye closes the WebSocket.
pub(super) async fn channel_session<S>(
    io: S,
    early: Vec<u8>,
    proto: &'static str,
    want: Want,
) -> (Writer, mpsc::Receiver<Incoming>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = server(io, early).await;
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let (in_tx, in_rx) = mpsc::channel(8);
    let mut channels: [Option<mpsc::Sender<Vec<u8>>>; 5] = Default::default();
    let mut open = |ch: u8, kind: &str, reads: bool| {
        let (tx, rx) = mpsc::channel(32);
        if reads {
            channels[ch as usize] = Some(tx);
        }
        Incoming { id: ch as u32, headers: vec![("streamtype".into(), kind.into())], data: rx }
    };
    let mut streams = vec![open(ERROR, "error", false)];
    if want.stdin {
        streams.push(open(STDIN, "stdin", true));
    }
    if want.stdout {
        streams.push(open(STDOUT, "stdout", false));
    }
    if want.stderr && !want.tty {
        streams.push(open(STDERR, "stderr", false));
    }
    if want.tty {
        streams.push(open(RESIZE, "resize", true));
    }
    for s in streams {
        // Room for all five: never blocks.
        let _ = in_tx.try_send(s);
    }
    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let sent = match out {
                Out::Data(id, data, _) if !data.is_empty() => {
                    let mut msg = Vec::with_capacity(data.len() + 1);
                    msg.push(id as u8);
                    msg.extend_from_slice(&data);
                    sink.send(Message::binary(msg)).await
                }
                Out::GoAway => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: 1000.into(),
                            reason: "".into(),
                        })))
                        .await;
                    let _ = sink.close().await;
                    return;
                }
                // Ends of channels, refusals and SPDY's own frames mean nothing here.
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let v5 = proto == "v5.channel.k8s.io";
    tokio::spawn(async move {
        // The streams' receivers close with `in_tx` when the client goes.
        let _keep = in_tx;
        while let Some(msg) = source.next().await {
            let data = match msg {
                Ok(Message::Binary(d)) => d,
                // Pings are answered by the WebSocket layer; text (base64 protocols) we don't speak.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_) | Message::Frame(_)) => {
                    continue
                }
                Ok(Message::Close(_)) | Err(_) => break,
            };
            match data.as_ref() {
                [STREAM_CLOSE, ch] if v5 => {
                    if let Some(slot) = channels.get_mut(*ch as usize) {
                        slot.take();
                    }
                }
                [ch, payload @ ..] => {
                    if let Some(Some(tx)) = channels.get(*ch as usize) {
                        if !payload.is_empty() && tx.send(payload.to_vec()).await.is_err() {
                            channels[*ch as usize] = None;
                        }
                    }
                }
                [] => {}
            }
        }
    });
    (spdy::writer(out_tx), in_rx)
}

/// The SPDY byte stream carried in the WebSocket's binary messages, as one
/// duplex byte stream for `spdy::session`.
pub(super) async fn tunnel<S>(io: S, early: Vec<u8>) -> tokio::io::DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    byte_stream(server(io, early).await)
}

/// The bytes carried in a WebSocket's binary messages (either side), as a
/// duplex byte stream; its end closes the WebSocket.
pub fn byte_stream<S>(ws: WebSocketStream<S>) -> tokio::io::DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut sink, mut source) = ws.split();
    let (ours, theirs) = tokio::io::duplex(64 << 10);
    let (mut rd, mut wr) = tokio::io::split(theirs);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::binary(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame { code: 1000.into(), reason: "".into() })))
            .await;
        let _ = sink.close().await;
    });
    tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Binary(d) if wr.write_all(&d).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_and_protocols_as_rfc_6455_and_kubernetes_say() {
        // The example of RFC 6455 §1.3.
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            negotiate(["v5.channel.k8s.io, v4.channel.k8s.io"].into_iter(), CHANNEL_PROTOCOLS),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(
            negotiate(
                ["base64.channel.k8s.io", "v4.channel.k8s.io"].into_iter(),
                CHANNEL_PROTOCOLS
            ),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(negotiate(["channel.k8s.io"].into_iter(), CHANNEL_PROTOCOLS), None);
        assert_eq!(
            negotiate(["SPDY/3.1+portforward.k8s.io"].into_iter(), TUNNEL_PROTOCOLS),
            Some("SPDY/3.1+portforward.k8s.io")
        );
    }
}
