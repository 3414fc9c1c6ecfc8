//! SPDY/3.1 framing, as much as the Kubernetes streaming protocols use
//! (kubelet proxies `kubectl exec`/`port-forward` to us over it, and
//! crictl speaks it directly).
//!
//! The peer opens every stream (SYN_STREAM with a header block); we accept
//! each at once (SYN_REPLY), then both sides send DATA frames and end their
//! half with FIN. PINGs are echoed; SETTINGS, WINDOW_UPDATE and HEADERS
//! are ignored, as the Go implementation kubelet uses does (it does no flow
//! control: backpressure is TCP's). Header blocks are one zlib stream per
//! direction and connection, with the SPDY/3 preset dictionary.
//!
//! One task reads frames and routes DATA to each stream's channel; one
//! task owns the write half and the compressor, fed by [`Writer`]s.

use super::dictionary::DICTIONARY;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::collections::HashMap;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub const VERSION: u16 = 3;
pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;
pub const FLAG_FIN: u8 = 1;
/// RST_STREAM status: the stream is refused.
pub const REFUSED_STREAM: u32 = 3;

/// Largest frame we accept (the Go client sends at most 32 KiB of data).
const MAX_FRAME: usize = 1 << 20;
/// Largest decompressed header block.
const MAX_HEADERS: usize = 64 << 10;
/// How long the peer may keep the connection after our GOAWAY.
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);
/// Largest DATA frame we send.
const CHUNK: usize = 32 << 10;

/// A stream the peer opened.
#[derive(Debug)]
pub struct Incoming {
    pub id: u32,
    /// Lower-case names, as SPDY sends them.
    pub headers: Vec<(String, String)>,
    /// The peer's data; closed at its FIN (or a reset).
    pub data: mpsc::Receiver<Vec<u8>>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What the handlers send; the transport (SPDY, or the WebSocket channel
/// protocol) puts it on the wire.
pub(super) enum Out {
    Reply(u32),
    Data(u32, Vec<u8>, bool),
    Reset(u32, u32),
    Ping(u32),
    GoAway,
}

/// A writer whose frames go to `tx` (another transport's loop).
pub(super) fn writer(tx: mpsc::Sender<Out>) -> Writer {
    Writer { tx }
}

/// Sends on the connection; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Out>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the streaming connection is closed")
}

impl Writer {
    /// Sends `data` on stream `id`, in frames of at most 32 KiB.
    pub async fn data(&self, id: u32, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(CHUNK) {
            self.tx.send(Out::Data(id, chunk.to_vec(), false)).await.map_err(|_| closed())?;
        }
        Ok(())
    }

    /// Ends our half of stream `id`.
    pub async fn close(&self, id: u32) -> io::Result<()> {
        self.tx.send(Out::Data(id, Vec::new(), true)).await.map_err(|_| closed())
    }

    /// Refuses or aborts stream `id`.
    pub async fn reset(&self, id: u32, status: u32) -> io::Result<()> {
        self.tx.send(Out::Reset(id, status)).await.map_err(|_| closed())
    }

    /// Says goodbye and ends our half of the connection.
    pub async fn go_away(&self) -> io::Result<()> {
        self.tx.send(Out::GoAway).await.map_err(|_| closed())
    }
}

/// Runs a SPDY session over `io` (after the HTTP upgrade; `early` is what
/// was read past the request head). Returns the writer and the peer's new
/// streams; the channel closes when the peer's half of the connection ends.
pub fn session<S>(io: S, early: Vec<u8>) -> (Writer, mpsc::Receiver<Incoming>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::channel(64);
    let (in_tx, in_rx) = mpsc::channel(16);
    let writer = Writer { tx: out_tx };
    let (gone_tx, mut gone) = tokio::sync::watch::channel(false);
    tokio::spawn(write_loop(wr, out_rx, gone_tx));
    let w = writer.clone();
    tokio::spawn(async move {
        let rd = tokio::io::AsyncReadExt::chain(std::io::Cursor::new(early), rd);
        tokio::select! {
            r = read_loop(rd, w, in_tx) => if let Err(e) = r {
                tracing::debug!(error = %e, "streaming connection ended");
            },
            // After our GOAWAY the peer gets a moment to read and hang up.
            _ = async {
                let _ = gone.wait_for(|g| *g).await;
                tokio::time::sleep(LINGER).await;
            } => {}
        }
    });
    (writer, in_rx)
}

/// A frame off the wire.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Data { id: u32, flags: u8, data: Vec<u8> },
    Control { version: u16, kind: u16, flags: u8, body: Vec<u8> },
}

/// Reads one frame; `None` at a clean end of the connection.
pub async fn read_frame(rd: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match rd.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("SPDY frame of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body).await?;
    Ok(Some(if head[0] & 0x80 == 0 {
        Frame::Data { id: be32(&head[0..4]), flags, data: body }
    } else {
        Frame::Control {
            version: u16::from_be_bytes([head[0] & 0x7f, head[1]]),
            kind: u16::from_be_bytes([head[2], head[3]]),
            flags,
            body,
        }
    }))
}

async fn read_loop(
    mut rd: impl AsyncRead + Unpin,
    w: Writer,
    accept: mpsc::Sender<Incoming>,
) -> io::Result<()> {
    let mut inflate = HeaderInflater::new();
    let mut streams: HashMap<u32, mpsc::Sender<Vec<u8>>> = HashMap::new();
    while let Some(frame) = read_frame(&mut rd).await? {
        let (kind, flags, body) = match frame {
            Frame::Data { id, flags, data } => {
                if let Some(tx) = streams.get(&id) {
                    // A receiver that went away just drops the data.
                    if !data.is_empty() && tx.send(data).await.is_err() {
                        streams.remove(&id);
                    }
                }
                if flags & FLAG_FIN != 0 {
                    streams.remove(&id);
                }
                continue;
            }
            Frame::Control { version, .. } if version != VERSION => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("SPDY version {version}"),
                ));
            }
            Frame::Control { kind, flags, body, .. } => (kind, flags, body),
        };
        match kind {
            SYN_STREAM if body.len() >= 10 => {
                let id = be32(&body[0..4]) & 0x7fff_ffff;
                let headers = inflate.block(&body[10..])?;
                let (tx, rx) = mpsc::channel(32);
                if flags & FLAG_FIN == 0 {
                    streams.insert(id, tx);
                }
                // Accept first: the peer drops data on unanswered streams.
                w.tx.send(Out::Reply(id)).await.map_err(|_| closed())?;
                if accept.send(Incoming { id, headers, data: rx }).await.is_err() {
                    // Nobody takes streams any more.
                    streams.remove(&id);
                    let _ = w.reset(id, REFUSED_STREAM).await;
                }
            }
            RST_STREAM if body.len() >= 8 => {
                streams.remove(&(be32(&body[0..4]) & 0x7fff_ffff));
            }
            PING if body.len() >= 4 => {
                w.tx.send(Out::Ping(be32(&body[0..4]))).await.map_err(|_| closed())?;
            }
            GOAWAY => return Ok(()),
            SYN_STREAM | RST_STREAM | PING => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "short SPDY control frame"))
            }
            // SYN_REPLY (we open no streams), SETTINGS, NOOP, HEADERS, WINDOW_UPDATE.
            _ => {}
        }
    }
    Ok(())
}

async fn write_loop(
    mut wr: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Out>,
    gone: tokio::sync::watch::Sender<bool>,
) {
    let mut deflate = HeaderDeflater::new();
    while let Some(out) = rx.recv().await {
        let last = matches!(out, Out::GoAway);
        let frame = match out {
            Out::Reply(id) => {
                let mut body = id.to_be_bytes().to_vec();
                body.extend(deflate.block(&[]));
                control(SYN_REPLY, 0, &body)
            }
            Out::Data(id, data, fin) => data_frame(id, fin, &data),
            Out::Reset(id, status) => {
                control(RST_STREAM, 0, &[id.to_be_bytes(), status.to_be_bytes()].concat())
            }
            Out::Ping(id) => control(PING, 0, &id.to_be_bytes()),
            Out::GoAway => control(GOAWAY, 0, &[0u32.to_be_bytes(), 0u32.to_be_bytes()].concat()),
        };
        if wr.write_all(&frame).await.is_err() {
            return;
        }
        if last {
            let _ = wr.shutdown().await;
            let _ = gone.send(true);
            return;
        }
    }
}

/// A DATA frame.
pub fn data_frame(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(data);
    f
}

/// A SYN_STREAM frame (what a client sends to open a stream).
pub fn syn_stream(id: u32, fin: bool, header_block: &[u8]) -> Vec<u8> {
    let mut body = (id & 0x7fff_ffff).to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(header_block);
    control(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &body)
}

/// A control frame.
pub fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + body.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(body);
    f
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The peer's header blocks: one zlib stream for the whole connection.
pub struct HeaderInflater {
    z: Decompress,
}

impl Default for HeaderInflater {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderInflater {
    pub fn new() -> Self {
        Self { z: Decompress::new(true) }
    }

    /// Decompresses and parses one header block.
    pub fn block(&mut self, mut input: &[u8]) -> io::Result<Vec<(String, String)>> {
        let bad = |what: &str| {
            io::Error::new(io::ErrorKind::InvalidData, format!("SPDY header block: {what}"))
        };
        let mut out = Vec::with_capacity(1024);
        while !input.is_empty() {
            if out.len() >= MAX_HEADERS {
                return Err(bad("too large"));
            }
            out.reserve(4096);
            let before = self.z.total_in();
            match self.z.decompress_vec(input, &mut out, FlushDecompress::Sync) {
                Ok(Status::StreamEnd) => return Err(bad("the zlib stream ended")),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z.set_dictionary(DICTIONARY).map_err(|_| bad("wrong dictionary"))?;
                }
                Err(e) => return Err(bad(&e.to_string())),
            }
            let used = (self.z.total_in() - before) as usize;
            input = &input[used..];
        }
        parse_headers(&out).ok_or_else(|| bad("malformed"))
    }
}

fn parse_headers(b: &[u8]) -> Option<Vec<(String, String)>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let count = be32(take(4)?) as usize;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = be32(take(4)?) as usize;
        let name = String::from_utf8(take(n)?.to_vec()).ok()?;
        let n = be32(take(4)?) as usize;
        let value = String::from_utf8(take(n)?.to_vec()).ok()?;
        // Several values of one name are NUL-separated; the first is enough here.
        let value = value.split('\0').next().unwrap_or_default().to_owned();
        headers.push((name.to_ascii_lowercase(), value));
    }
    Some(headers)
}

/// Our header blocks, compressed as the peer expects.
pub struct HeaderDeflater {
    z: Compress,
}

impl Default for HeaderDeflater {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDeflater {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        // Fails only once compression has begun, which it has not.
        let _ = z.set_dictionary(DICTIONARY);
        Self { z }
    }

    /// One compressed header block.
    pub fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            for s in [n, v] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(256);
            let before = self.z.total_in();
            // A sync flush: the block is complete on its own.
            if self.z.compress_vec(input, &mut out, FlushCompress::Sync).is_err() {
                break;
            }
            input = &input[(self.z.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
