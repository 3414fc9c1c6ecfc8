//! Hijacked HTTP, as attach and exec start use it: the answer is dockerd's
//! `101 UPGRADED` (`Upgrade: tcp`), after which the connection carries the
//! client's input one way and the output the other — raw with a terminal,
//! else in Docker's 8-byte stream framing. The client half-closes when its
//! input ends; berth closes its side when the output has ended.
//!
//! Input passes through [`DetachKeys`]: the sequence (default Ctrl-P
//! Ctrl-Q, or the client's `detachKeys`) ends the session and leaves the
//! process running, as dockerd does.

use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper::{Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Input chunks queued from a client before the process takes them.
const INPUT_QUEUE: usize = 64;

/// The 101 answer; the connection is the caller's once `upgrade` resolves.
pub fn switching(tty: bool) -> Response<Body> {
    let kind = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut r = crate::http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert("Content-Type", kind.parse().expect("ascii"));
    h.insert("Connection", "Upgrade".parse().expect("ascii"));
    h.insert("Upgrade", "tcp".parse().expect("ascii"));
    r
}

/// The request's connection, for a hijacking endpoint: 400 for a client
/// that didn't ask for an upgrade.
pub fn wanted(upgrade: Option<OnUpgrade>) -> ApiResult<OnUpgrade> {
    upgrade.ok_or_else(|| {
        ApiError::bad_request(
            "this endpoint hijacks the connection: send Connection: Upgrade and Upgrade: tcp",
        )
    })
}

/// Docker's stream framing without a terminal: the stream (1 stdout, 2
/// stderr), three zero bytes, the length (big-endian), then the data.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(8 + data.len());
    b.extend_from_slice(&[stream, 0, 0, 0]);
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b.into()
}

/// The output side of a session.
pub struct Output<W> {
    w: W,
    tty: bool,
}

impl<W: AsyncWrite + Unpin> Output<W> {
    pub fn new(w: W, tty: bool) -> Self {
        Self { w, tty }
    }

    /// Writes output of stream 1 or 2 (framed unless raw).
    pub async fn write(&mut self, stream: u8, data: &[u8]) -> std::io::Result<()> {
        if self.tty {
            self.w.write_all(data).await?;
        } else {
            self.w.write_all(&frame(stream, data)).await?;
        }
        self.w.flush().await
    }

    /// The output ended: the client reads EOF.
    pub async fn close(mut self) {
        let _ = self.w.shutdown().await;
    }
}

/// What came from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Data(Vec<u8>),
    /// The client's input ended (a half-close).
    End,
    /// The detach keys: the session ends, the process runs on.
    Detach,
}

/// Reads the client's input into a queue (kept for a process that hasn't
/// started yet), through the detach keys when `keys` is set.
pub fn read_input(
    mut r: impl AsyncRead + Unpin + Send + 'static,
    mut keys: Option<DetachKeys>,
) -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Input::End).await;
                    return;
                }
                Ok(n) => n,
            };
            let (data, detached) = match keys.as_mut() {
                Some(k) => k.scan(&buf[..n]),
                None => (buf[..n].to_vec(), false),
            };
            if !data.is_empty() && tx.send(Input::Data(data)).await.is_err() {
                return;
            }
            if detached {
                let _ = tx.send(Input::Detach).await;
                return;
            }
        }
    });
    rx
}

/// A detach sequence and how much of it the input has matched so far.
#[derive(Debug, Clone)]
pub struct DetachKeys {
    seq: Vec<u8>,
    matched: usize,
}

impl DetachKeys {
    /// Docker's notation: comma-separated `ctrl-<x>` (x in a-z, `@`, `[`,
    /// `\`, `]`, `^`, `_`) or single characters; empty is the default
    /// `ctrl-p,ctrl-q`.
    pub fn parse(spec: &str) -> ApiResult<Self> {
        let spec = if spec.is_empty() { "ctrl-p,ctrl-q" } else { spec };
        let bad = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
        let mut seq = Vec::new();
        for key in spec.split(',') {
            let key = key.trim();
            if let Some(c) = key.strip_prefix("ctrl-") {
                let &[c] = c.as_bytes() else { return Err(bad()) };
                let code = match c.to_ascii_lowercase() {
                    b'a'..=b'z' => c.to_ascii_lowercase() - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return Err(bad()),
                };
                seq.push(code);
            } else if key.len() == 1 && key.is_ascii() {
                seq.push(key.as_bytes()[0]);
            } else {
                return Err(bad());
            }
        }
        Ok(Self { seq, matched: 0 })
    }

    /// The input to pass on, and whether the sequence was completed. Bytes
    /// that may begin the sequence are held back until it is clear.
    pub fn scan(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.seq[self.matched] {
                self.matched += 1;
                if self.matched == self.seq.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // Not the sequence after all: what was held goes on.
            out.extend_from_slice(&self.seq[..self.matched]);
            self.matched = 0;
            if b == self.seq[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_docker_notation() {
        assert_eq!(DetachKeys::parse("").unwrap().seq, [16, 17]);
        assert_eq!(DetachKeys::parse("ctrl-a,x").unwrap().seq, [1, b'x']);
        assert_eq!(DetachKeys::parse("ctrl-[").unwrap().seq, [27]);
        for bad in ["ctrl-", "ctrl-ab", "xy", "ctrl-1"] {
            assert_eq!(
                DetachKeys::parse(bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[test]
    fn detach_sequence_is_held_then_passed_or_taken() {
        let mut k = DetachKeys::parse("").unwrap();
        assert_eq!(k.scan(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(k.scan(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(k.scan(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(k.scan(b"\x11rest"), (Vec::new(), true));
    }

    #[test]
    fn frames_carry_stream_and_length() {
        assert_eq!(&frame(2, b"hi")[..], &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
