//! The attached streams of `run`, `start -a`, `attach` and `exec` over a
//! hijacked connection: the output (raw with a TTY, else Docker's 8-byte
//! frames: stream, 3 zero bytes, big-endian length), the input (copied
//! until its end, then the connection is half-closed so the container
//! sees EOF), and the terminal: raw mode and its size, sent again at
//! each SIGWINCH.

use crate::client::{Client, Upgraded};
use crate::Failure;
use std::io::{IsTerminal, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the streams carry.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    /// The container (or exec) has a TTY: raw output, raw terminal.
    pub tty: bool,
    /// Copy our stdin to it.
    pub stdin: bool,
}

/// Where resizes go: `/containers/{id}/resize` or `/exec/{id}/resize`.
pub struct Resize<'a> {
    pub client: &'a Client,
    pub path: String,
}

impl Resize<'_> {
    async fn send(&self) {
        if let Some((h, w)) = crate::tty::size(&std::io::stdout()) {
            let _ = self.client.post(&format!("{}?h={h}&w={w}", self.path)).await;
        }
    }
}

/// How attached streams ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The output ended: the process exited (or the daemon went away).
    Output,
    /// The detach keys were typed (the daemon let go of us).
    Detached,
}

/// `ctrl-p,ctrl-q` (Docker's default) as bytes: `ctrl-<a..z|@|[|\\|]|^|_>`
/// or single characters.
pub fn detach_sequence(keys: Option<&str>) -> Result<Vec<u8>, Failure> {
    let keys = keys.unwrap_or("ctrl-p,ctrl-q");
    keys.split(',')
        .map(|k| match k.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => match c.as_bytes()[0].to_ascii_lowercase() {
                b @ b'a'..=b'z' => Ok(b - b'a' + 1),
                b @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_') => Ok(b & 0x1f),
                _ => Err(()),
            },
            None if k.len() == 1 => Ok(k.as_bytes()[0]),
            _ => Err(()),
        })
        .collect::<Result<Vec<u8>, ()>>()
        .map_err(|()| Failure::new(format!("Error: invalid detach keys ({keys}): use ctrl-<value> or single characters, comma-separated")))
}

/// Runs the streams until the output ends. `detach`: the sequence that
/// detaches; the daemon acts on it (the bytes are passed on), we only note
/// that it was typed.
pub async fn pump(
    io: Upgraded,
    s: Streams,
    resize: Option<Resize<'_>>,
    detach: &[u8],
) -> Result<Ended, Failure> {
    let stdout = std::io::stdout();
    let terminal = std::io::stdin();
    let _raw = (s.tty && s.stdin && terminal.is_terminal())
        .then(|| crate::tty::Raw::new(&terminal))
        .flatten();
    let (mut rd, mut wr) = tokio::io::split(io);
    let typed = std::cell::Cell::new(false);
    let input = async {
        if !s.stdin {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        let mut matched = 0usize;
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for b in &buf[..n] {
                        matched = if detach.get(matched) == Some(b) {
                            matched + 1
                        } else {
                            usize::from(detach.first() == Some(b))
                        };
                        if !detach.is_empty() && matched == detach.len() {
                            typed.set(true);
                        }
                    }
                    if wr.write_all(&buf[..n]).await.is_err() {
                        return std::future::pending().await;
                    }
                }
            }
        }
        // Our input ended: so does the container's.
        let _ = wr.shutdown().await;
        std::future::pending().await
    };
    let output = async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut demux = Demux::default();
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) if s.tty => {
                    let mut out = stdout.lock();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                Ok(n) => demux
                    .push(&buf[..n])
                    .into_iter()
                    .for_each(|(stream, data)| write_to(stream, &data)),
            }
        }
    };
    let resizes = async {
        let Some(r) = resize.filter(|_| s.tty && std::io::stdout().is_terminal()) else {
            return std::future::pending().await;
        };
        r.send().await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return std::future::pending().await;
        };
        while winch.recv().await.is_some() {
            r.send().await;
        }
        std::future::pending().await
    };
    tokio::select! {
        () = output => {}
        () = input => {}
        () = resizes => {}
    }
    Ok(if typed.get() { Ended::Detached } else { Ended::Output })
}

/// Docker's 8-byte framing, undone as bytes arrive in any chunking.
#[derive(Debug, Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    /// Adds bytes; returns the whole frames now complete, as (stream, data):
    /// 1 is stdout, 2 stderr.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while self.buf.len() >= 8 {
            let len =
                u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                break;
            }
            let stream = self.buf[0];
            out.push((stream, self.buf[8..8 + len].to_vec()));
            self.buf.drain(..8 + len);
        }
        out
    }
}

/// Writes to our stdout (1) or stderr (2).
pub fn write_to(stream: u8, data: &[u8]) {
    let _ = if stream == 2 {
        let mut e = std::io::stderr().lock();
        e.write_all(data).and_then(|()| e.flush())
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(data).and_then(|()| o.flush())
    };
}

/// `--sig-proxy`: the signals this CLI gets while attached without a
/// terminal go to the container (`POST …/kill?signal=`), as Docker's CLI
/// sends them; runs until dropped.
pub async fn proxy_signals(client: &Client, kill_path: &str) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
        (SignalKind::alarm(), "SIGALRM"),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let mut listeners = Vec::new();
    for (kind, name) in kinds {
        let Ok(mut s) = signal(kind) else { continue };
        let tx = tx.clone();
        listeners.push(tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(name).is_err() {
                    return;
                }
            }
        }));
    }
    struct Abort(Vec<tokio::task::JoinHandle<()>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.iter().for_each(|h| h.abort());
        }
    }
    let _listeners = Abort(listeners);
    while let Some(name) = rx.recv().await {
        let _ = client
            .post(&format!("{kill_path}?{}", crate::client::query([("signal", name.to_owned())])))
            .await;
    }
}
