//! cp: files between the host and a container, as `docker cp` copies them
//! (the same requests: HEAD, GET and PUT `/containers/{id}/archive`, and
//! the same naming rules: into an existing directory under the source's
//! name, else as the destination's name; `SRC/.` for a directory's
//! contents; `-` for a tar stream on stdin or stdout).
//!
//! The host side is berth's rooted copy code too (`berth_kernel::cp`): an
//! archive from a container is extracted into its destination directory
//! as a root, so no entry or link it brings can write outside it.

use crate::client::{next_chunk, query, seg, Client};
use crate::Failure;
use base64::Engine as _;
use berth_kernel::cp::{base, clean, ExtractOptions, Owners, View};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Method, StatusCode};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// Archive mode: what is copied in belongs to the container's user.
    #[arg(short, long)]
    archive: bool,
    /// Always follow a symlink given as the source.
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin).
    src: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout).
    dest: String,
}

enum Side {
    Host(String),
    Container { name: String, path: String },
}

/// Docker's reading: a path that starts with `/` or `.` is the host's
/// (colons and all); otherwise `NAME:PATH` names a container's.
fn side(arg: &str) -> Side {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Host(arg.to_owned());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => {
            Side::Container { name: name.to_owned(), path: path.to_owned() }
        }
        _ => Side::Host(arg.to_owned()),
    }
}

pub async fn run(c: &Client, a: CpArgs) -> Result<i32, Failure> {
    match (side(&a.src), side(&a.dest)) {
        (Side::Container { name, path }, Side::Host(dest)) => {
            copy_out(c, &name, &path, &dest, a.follow_link).await
        }
        (Side::Host(src), Side::Container { name, path }) => {
            copy_in(c, &src, &name, &path, a.follow_link, a.archive).await
        }
        (Side::Container { .. }, Side::Container { .. }) => {
            Err(Failure::new("copying between containers is not supported"))
        }
        (Side::Host(_), Side::Host(_)) => {
            Err(Failure::new("must specify at least one container source"))
        }
    }?;
    Ok(0)
}

/// What a HEAD of a path says (`None`: nothing there).
struct Stat {
    is_dir: bool,
    is_link: bool,
    link_target: String,
}

fn archive_path(name: &str, path: &str) -> String {
    format!("/containers/{}/archive?{}", seg(name), query([("path", path.to_owned())]))
}

/// A refusal as the docker CLI words it.
fn refused(e: crate::client::ApiError, name: &str, path: &str) -> Failure {
    match e.status {
        Some(StatusCode::NOT_FOUND) if !e.message.starts_with("No such container") => {
            Failure::new(format!("Error: No such container:path: {name}:{path}"))
        }
        _ => e.into(),
    }
}

async fn stat(c: &Client, name: &str, path: &str) -> Result<Option<Stat>, Failure> {
    let resp = c.send(Method::HEAD, &archive_path(name, path), &[], crate::client::empty()).await?;
    match resp.status() {
        StatusCode::OK => {}
        // The answer to a HEAD has no message: say what dockerd's would.
        StatusCode::NOT_FOUND
            if c.send(
                Method::GET,
                &format!("/containers/{}/json", seg(name)),
                &[],
                crate::client::empty(),
            )
            .await?
            .status()
                == StatusCode::NOT_FOUND =>
        {
            return Err(Failure::new(format!(
                "Error response from daemon: No such container: {name}"
            )));
        }
        StatusCode::NOT_FOUND => return Ok(None),
        s => return Err(Failure::new(format!("Error response from daemon: {name}:{path}: {s}"))),
    }
    parse_stat(resp.headers().get("X-Docker-Container-Path-Stat").and_then(|v| v.to_str().ok()))
        .map(Some)
}

fn parse_stat(header: Option<&str>) -> Result<Stat, Failure> {
    let bad = || Failure::new("Error: unable to get resource stat from response");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(header.ok_or_else(bad)?)
        .map_err(|_| bad())?;
    let v: berth_docker_api::container::PathStat =
        serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok(Stat {
        is_dir: v.mode & (1 << 31) != 0,
        is_link: v.mode & (1 << 27) != 0,
        link_target: v.link_target,
    })
}

fn absolute(p: &str) -> Result<PathBuf, Failure> {
    let p = Path::new(p);
    if p.is_absolute() {
        return Ok(p.to_owned());
    }
    Ok(std::env::current_dir().map_err(|e| Failure::new(format!("Error: {e}")))?.join(p))
}

/// A link's target as a path in the container: absolute as given, else beside the link.
fn beside(link_path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_owned();
    }
    let parent = clean(link_path);
    let parent = parent.trim_end_matches('/').rsplit_once('/').map_or("/", |(p, _)| {
        if p.is_empty() {
            "/"
        } else {
            p
        }
    });
    clean(&format!("{parent}/{target}"))
}

async fn copy_out(
    c: &Client,
    name: &str,
    src: &str,
    dest: &str,
    follow: bool,
) -> Result<(), Failure> {
    let asked = base(&clean(src));
    let mut path = src.to_owned();
    if follow {
        if let Some(s) = stat(c, name, src).await? {
            if s.is_link {
                path = beside(src, &s.link_target);
            }
        }
    }
    let resp = c
        .checked(Method::GET, &archive_path(name, &path), &[], crate::client::empty())
        .await
        .map_err(|e| refused(e, name, src))?;
    let st = parse_stat(
        resp.headers().get("X-Docker-Container-Path-Stat").and_then(|v| v.to_str().ok()),
    )?;
    let mut body = resp.into_body();
    if dest == "-" {
        if std::io::stdout().is_terminal() {
            return Err(Failure::new(
                "Error: cowardly refusing to write a tar archive to a terminal",
            ));
        }
        let mut out = tokio::io::stdout();
        while let Some(chunk) = next_chunk(&mut body).await? {
            out.write_all(&chunk).await.map_err(|e| Failure::new(format!("Error: write: {e}")))?;
        }
        return out.flush().await.map_err(|e| Failure::new(format!("Error: write: {e}")));
    }
    let top = base(&clean(&path));
    let dest_path = absolute(dest)?;
    let contents = clean(src).ends_with("/.");
    // Where the archive goes, and under which name its top entry.
    let (into, rename): (PathBuf, Option<String>) = match std::fs::metadata(&dest_path) {
        Ok(md) if md.is_dir() => {
            (dest_path.clone(), (!contents && top != asked).then(|| asked.clone()))
        }
        Ok(_) if st.is_dir => {
            return Err(Failure::new(format!(
                "Error: cannot copy directory {name}:{src} to the file {dest}"
            )))
        }
        Ok(_) => (parent_of(&dest_path), Some(file_name(&dest_path))),
        Err(_) if dest.ends_with('/') => {
            return Err(Failure::new(format!("Error: destination directory {dest} does not exist")))
        }
        Err(_) if contents => {
            std::fs::create_dir(&dest_path)
                .map_err(|e| Failure::new(format!("Error: create {dest}: {e}")))?;
            (dest_path.clone(), None)
        }
        Err(_) => (parent_of(&dest_path), Some(file_name(&dest_path))),
    };
    let rename = rename.map(|to| (top.clone(), to)).filter(|(from, _)| from != ".");
    extract(body, into, rename).await
}

/// A tar stream extracted into `dir` (walked from it by descriptor: no
/// entry lands outside), as whoever runs the CLI.
pub(crate) async fn extract_into(
    body: hyper::body::Incoming,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    extract(body, dir.to_path_buf(), None).await
}

async fn extract(
    mut body: hyper::body::Incoming,
    into: PathBuf,
    rename: Option<(String, String)>,
) -> Result<(), Failure> {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
    let job = tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let view = View::of_dir(&into).map_err(|e| Failure::new(format!("Error: {e}")))?;
        let point = view.extraction_point("/").map_err(|e| Failure::new(format!("Error: {e}")))?;
        view.extract(
            &point,
            ChannelReader { rx, cur: Bytes::new() },
            &ExtractOptions {
                no_overwrite_dir_non_dir: false,
                owners: Owners::Caller,
                rename_top: rename,
                mode: None,
                keep_identical: false,
            },
        )
        .map_err(|e| Failure::new(format!("Error: {e}")))
    });
    while let Some(chunk) = next_chunk(&mut body).await? {
        if tx.send(Ok(chunk)).await.is_err() {
            break;
        }
    }
    drop(tx);
    job.await.map_err(|e| Failure::new(format!("Error: {e}")))?
}

async fn copy_in(
    c: &Client,
    src: &str,
    name: &str,
    dest: &str,
    follow: bool,
    archive: bool,
) -> Result<(), Failure> {
    let mut dest = dest.to_owned();
    let mut dst = stat(c, name, &dest).await?;
    if let Some(s) = dst.as_ref().filter(|s| s.is_link) {
        dest = beside(&dest, &s.link_target);
        dst = stat(c, name, &dest).await?;
    }
    let put = |dir: &str| {
        format!(
            "/containers/{}/archive?{}",
            seg(name),
            query([
                ("path", dir.to_owned()),
                ("noOverwriteDirNonDir", "true".into()),
                ("copyUIDGID", archive.to_string())
            ])
        )
    };
    if src == "-" {
        if !dst.as_ref().is_some_and(|s| s.is_dir) {
            return Err(Failure::new(format!(
                "Error: destination \"{name}:{dest}\" must be a directory"
            )));
        }
        c.checked(Method::PUT, &put(&dest), &[], crate::client::reader_body(tokio::io::stdin()))
            .await
            .map_err(|e| refused(e, name, &dest))?;
        return Ok(());
    }
    let mut local = absolute(src)?;
    if follow {
        local = std::fs::canonicalize(&local)
            .map_err(|e| Failure::new(format!("Error: lstat {src}: {e}")))?;
    }
    let md = std::fs::symlink_metadata(&local).map_err(|_| {
        Failure::new(format!("Error: lstat {}: no such file or directory", local.display()))
    })?;
    let contents = clean(src).ends_with("/.");
    let src_name =
        if contents { ".".to_owned() } else { base(&clean(&local.display().to_string())) };
    let cdest = clean(&dest);
    // The directory the archive is put into, and its top entry's name.
    let (dir, top) = match &dst {
        Some(s) if s.is_dir => (cdest.clone(), src_name),
        Some(_) if md.is_dir() => {
            return Err(Failure::new(format!(
                "Error: cannot copy directory {src} to the file {name}:{dest}"
            )))
        }
        None if dest.ends_with('/') && !md.is_dir() => {
            return Err(Failure::new(format!(
                "Error: destination directory {name}:{dest} does not exist"
            )))
        }
        _ => {
            let trimmed = cdest.trim_end_matches("/.").trim_end_matches('/');
            let (parent, leaf) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
            (if parent.is_empty() { "/".to_owned() } else { parent.to_owned() }, leaf.to_owned())
        }
    };
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
    let path = local.display().to_string();
    let writer = tokio::task::spawn_blocking(move || {
        let view = View::of_dir(Path::new("/")).map_err(|e| e.to_string())?;
        let mut out =
            std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter { tx: tx.clone() });
        let written = view
            .archive_as(&path, &top, &mut out)
            .map_err(|e| e.to_string())
            .and_then(|()| out.flush().map_err(|e| e.to_string()));
        if let Err(e) = &written {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.clone())));
        }
        written
    });
    let body = BodyExt::boxed_unsync(StreamBody::new(tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        |c| c.map(Frame::data),
    )));
    let sent =
        c.checked(Method::PUT, &put(&dir), &[], body).await.map_err(|e| refused(e, name, &dest));
    let written = writer.await.map_err(|e| Failure::new(format!("Error: {e}")))?;
    written.map_err(|e| Failure::new(format!("Error: {e}")))?;
    sent.map(drop)
}

fn parent_of(p: &Path) -> PathBuf {
    p.parent().map(Path::to_owned).unwrap_or_else(|| PathBuf::from("/"))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The blocking end of the body's chunks.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// The blocking end of a request body being written.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.blocking_send(Ok(Bytes::copy_from_slice(buf))).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the daemon stopped reading")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_read_as_docker_reads_them() {
        assert!(
            matches!(side("c:/etc"), Side::Container { name, path } if name == "c" && path == "/etc")
        );
        assert!(matches!(side("./a:b"), Side::Host(p) if p == "./a:b"));
        assert!(matches!(side("/tmp/x:y"), Side::Host(_)));
        assert!(matches!(side("file"), Side::Host(_)));
        assert_eq!(beside("/tmp/link", "target"), "/tmp/target");
        assert_eq!(beside("/tmp/link", "/abs"), "/abs");
        assert_eq!(beside("/link", "../x"), "/x");
    }
}
