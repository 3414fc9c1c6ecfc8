//! The engine's client for berth-shim: one request per connection (or one
//! long-lived `Wait`), length-prefixed prost frames.

use berth_proto::shim::{request, response, Exit, Request, Response, SOCKET_FILE};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long a short request may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the shim of `bundle`. The socket is reached through an
/// `O_PATH` descriptor of the bundle, so deep state dirs never hit the
/// 108-byte socket path limit.
pub async fn connect(bundle: &Path) -> io::Result<UnixStream> {
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(bundle)?;
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), SOCKET_FILE);
    let s = UnixStream::connect(&path).await;
    drop(dir);
    s
}

pub(crate) async fn send(s: &mut (impl AsyncWriteExt + Unpin), req: &Request) -> io::Result<()> {
    let mut buf = Vec::new();
    berth_proto::shim::write_frame(&mut buf, req)?;
    s.write_all(&buf).await
}

pub(crate) async fn recv(s: &mut (impl AsyncReadExt + Unpin)) -> io::Result<Option<Response>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > berth_proto::shim::MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "shim frame too large"));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    prost::Message::decode(body.as_slice())
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn call(bundle: &Path, kind: request::Kind) -> io::Result<response::Kind> {
    let fut = async {
        let mut s = connect(bundle).await?;
        send(&mut s, &Request { kind: Some(kind) }).await?;
        recv(&mut s).await?.and_then(|r| r.kind).ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "shim closed the connection")
        })
    };
    tokio::time::timeout(CALL_TIMEOUT, fut)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "shim did not answer"))?
}

fn shim_error(kind: response::Kind) -> io::Error {
    match kind {
        response::Kind::Error(e) => io::Error::other(e),
        other => io::Error::other(format!("unexpected shim answer {other:?}")),
    }
}

/// Attaches to the container's stdio: the connection then carries its
/// output (and finally its exit) one way, input and resizes the other.
pub async fn attach(bundle: &Path) -> io::Result<UnixStream> {
    let mut s = connect(bundle).await?;
    send(&mut s, &Request { kind: Some(request::Kind::Attach(Default::default())) }).await?;
    match tokio::time::timeout(CALL_TIMEOUT, recv(&mut s))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "shim did not answer"))??
    {
        Some(Response { kind: Some(response::Kind::Ok(_)) }) => Ok(s),
        Some(Response { kind: Some(other) }) => Err(shim_error(other)),
        _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "shim closed the connection")),
    }
}

/// Resizes the container's terminal, over a connection of its own (not an
/// attachment). A State request behind it is answered once the resize was
/// read, so the resize isn't lost with a closing connection.
pub async fn resize(bundle: &Path, cols: u16, rows: u16) -> io::Result<()> {
    let fut = async {
        let mut s = connect(bundle).await?;
        send(
            &mut s,
            &Request {
                kind: Some(request::Kind::Resize(berth_proto::shim::ResizeRequest {
                    cols: cols.into(),
                    rows: rows.into(),
                })),
            },
        )
        .await?;
        send(&mut s, &Request { kind: Some(request::Kind::State(Default::default())) }).await?;
        recv(&mut s).await.map(drop)
    };
    tokio::time::timeout(CALL_TIMEOUT, fut)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "shim did not answer"))?
}

/// The shim's protocol: what it says, or 1 for a shim of protocol 1 (it
/// doesn't know the question).
pub async fn version(bundle: &Path) -> io::Result<u32> {
    match call(bundle, request::Kind::Version(Default::default())).await? {
        response::Kind::Version(v) => Ok(v.protocol),
        response::Kind::Error(e) if e == berth_proto::shim::UNKNOWN_REQUEST => Ok(1),
        other => Err(shim_error(other)),
    }
}

/// Sends a signal to the container's init (or every process in it).
pub async fn kill(bundle: &Path, signal: i32, all: bool) -> io::Result<()> {
    match call(bundle, request::Kind::Kill(berth_proto::shim::KillRequest { signal, all })).await? {
        response::Kind::Ok(_) => Ok(()),
        other => Err(shim_error(other)),
    }
}

/// Waits for the container to exit; `None` if the shim went away without saying.
pub async fn wait(bundle: &Path) -> io::Result<Option<Exit>> {
    let mut s = connect(bundle).await?;
    send(&mut s, &Request { kind: Some(request::Kind::Wait(Default::default())) }).await?;
    Ok(match recv(&mut s).await? {
        Some(Response { kind: Some(response::Kind::Exit(e)) }) => Some(e),
        _ => None,
    })
}

/// Asks the shim to reopen the container's log file.
pub async fn reopen_log(bundle: &Path) -> io::Result<()> {
    match call(bundle, request::Kind::ReopenLog(Default::default())).await? {
        response::Kind::Ok(_) => Ok(()),
        other => Err(shim_error(other)),
    }
}
