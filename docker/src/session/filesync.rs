//! fsutil's DiffCopy, the receiving side: the client walks the dir berth
//! names (`dir-name`, with `include-patterns`/`exclude-patterns`/
//! `followpaths`), sends each entry's stat in walk order and, for each
//! regular file berth asks for by its index, its content then an empty
//! data packet. berth turns that into a tar stream (extracted like any
//! context: inside its root, whatever the names say) or keeps small
//! files in memory (the Dockerfile, `.dockerignore`).

use super::wire::{mode, packet, Packet, Stat};
use super::{Session, SessionError};
use bytes::Bytes;
use tokio::sync::mpsc;

pub const DIFF_COPY: &str = "/moby.filesync.v1.FileSync/DiffCopy";

/// What to ask the client for.
#[derive(Debug, Default)]
pub struct Want<'a> {
    pub dir: &'a str,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub follow: Vec<String>,
}

/// A received entry, or a piece of the regular file last announced.
#[derive(Debug)]
pub enum Piece {
    Entry(Stat),
    Data(Bytes),
    End,
}

fn is_regular(s: &Stat) -> bool {
    s.mode & mode::TYPE == 0 && s.linkname.is_empty()
}

/// Files asked for ahead of the one being written.
const WINDOW: usize = 32;
/// Only files up to this size are asked for ahead (their content waits in memory).
const AHEAD_MAX: i64 = 256 << 10;

/// A file asked for: its content so far, and whether it is whole.
#[derive(Default)]
struct Asked {
    chunks: Vec<Bytes>,
    whole: bool,
    /// Its entry went out already (it is being written).
    started: bool,
}

/// Receives the dir's entries into `out` in walk order; small files are
/// asked for ahead (the client sends several at once), a big one only
/// when its turn comes, its content passed on as it arrives.
pub async fn receive(
    session: &Session,
    want: &Want<'_>,
    out: &mpsc::Sender<Piece>,
) -> Result<(), SessionError> {
    let mut headers = vec![("dir-name", want.dir)];
    headers.extend(want.include.iter().map(|p| ("include-patterns", p.as_str())));
    headers.extend(want.exclude.iter().map(|p| ("exclude-patterns", p.as_str())));
    headers.extend(want.follow.iter().map(|p| ("followpaths", p.as_str())));
    let mut call = session.call(DIFF_COPY, &headers).await?;
    let gone = || SessionError::Protocol("the build stopped reading the context".into());
    let mut queue: std::collections::VecDeque<(u32, Stat)> = Default::default();
    let mut asked: std::collections::HashMap<u32, Asked> = Default::default();
    let (mut next, mut walked) = (0u32, false);
    loop {
        // Pass on what is ready, in order.
        while let Some((id, stat)) = queue.front() {
            let id = *id;
            if !is_regular(stat) {
                let (_, stat) = queue.pop_front().expect("front");
                out.send(Piece::Entry(stat)).await.map_err(|_| gone())?;
                continue;
            }
            let Some(a) = asked.get_mut(&id) else { break };
            if !a.started {
                a.started = true;
                out.send(Piece::Entry(stat.clone())).await.map_err(|_| gone())?;
            }
            for c in std::mem::take(&mut a.chunks) {
                out.send(Piece::Data(c)).await.map_err(|_| gone())?;
            }
            if !a.whole {
                break;
            }
            asked.remove(&id);
            queue.pop_front();
            out.send(Piece::End).await.map_err(|_| gone())?;
        }
        if queue.is_empty() && walked {
            break;
        }
        // Ask for more: the next file in any case, small ones ahead.
        let mut outstanding = asked.values().filter(|a| !a.whole).count();
        for (i, (id, stat)) in queue.iter().enumerate() {
            if outstanding >= WINDOW {
                break;
            }
            if is_regular(stat) && !asked.contains_key(id) && (i == 0 || stat.size <= AHEAD_MAX) {
                call.send(&Packet { r#type: packet::REQ, id: *id, ..Default::default() })?;
                asked.insert(*id, Asked::default());
                outstanding += 1;
            }
        }
        let p = next_packet(&mut call).await?;
        match p.r#type {
            packet::STAT => match p.stat {
                Some(s) => {
                    queue.push_back((next, s));
                    next += 1;
                }
                None => walked = true,
            },
            packet::DATA => {
                let a = asked.get_mut(&p.id).ok_or_else(|| unexpected(packet::DATA, &p))?;
                match p.data.is_empty() {
                    true => a.whole = true,
                    false => a.chunks.push(p.data),
                }
            }
            t => return Err(unexpected(t, &p)),
        }
    }
    call.send(&Packet { r#type: packet::FIN, ..Default::default() })?;
    // The client answers FIN with FIN, then ends the call.
    while let Some(p) = call.recv::<Packet>().await? {
        if p.r#type == packet::FIN {
            break;
        }
    }
    let _ = call.close_send();
    Ok(())
}

async fn next_packet(call: &mut super::Call) -> Result<Packet, SessionError> {
    call.recv::<Packet>()
        .await?
        .ok_or_else(|| SessionError::Protocol("the client ended the file sync early".into()))
}

fn unexpected(t: i32, p: &Packet) -> SessionError {
    match t {
        packet::ERR => SessionError::Protocol(format!(
            "the client could not send its files: {}",
            String::from_utf8_lossy(&p.data)
        )),
        t => SessionError::Protocol(format!("unexpected file sync packet {t}")),
    }
}

/// Small files received whole: (path, content) of the regular ones.
pub async fn collect(
    session: &Session,
    want: &Want<'_>,
) -> Result<Vec<(String, Vec<u8>)>, SessionError> {
    let (tx, mut rx) = mpsc::channel(16);
    let gathering = async {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut current: Option<(String, Vec<u8>)> = None;
        while let Some(p) = rx.recv().await {
            match p {
                Piece::Entry(s) if is_regular(&s) => current = Some((s.path, Vec::new())),
                Piece::Entry(_) => {}
                Piece::Data(d) => {
                    if let Some((_, c)) = current.as_mut() {
                        if c.len() + d.len() > super::MAX_MESSAGE {
                            return Err(SessionError::Protocol(
                                "a file too big to read whole".into(),
                            ));
                        }
                        c.extend_from_slice(&d);
                    }
                }
                Piece::End => files.extend(current.take()),
            }
        }
        Ok(files)
    };
    let (received, gathered) = tokio::join!(
        async move {
            let r = receive(session, want, &tx).await;
            drop(tx);
            r
        },
        gathering
    );
    received?;
    gathered
}

/// Writes the pieces as a tar stream (blocking; fed from `rx`).
pub fn write_tar(mut rx: mpsc::Receiver<Piece>, out: impl std::io::Write) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    while let Some(p) = rx.blocking_recv() {
        let Piece::Entry(s) = p else { return Err(bad("file data without its entry".into())) };
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode::unix_perm(s.mode));
        h.set_uid(s.uid.into());
        h.set_gid(s.gid.into());
        h.set_mtime((s.mod_time.max(0) / 1_000_000_000) as u64);
        h.set_size(0);
        let path = s.path.trim_start_matches('/');
        match s.mode & mode::TYPE {
            0 if !s.linkname.is_empty() => {
                h.set_entry_type(tar::EntryType::Link);
                tar.append_link(&mut h, path, &s.linkname)?;
            }
            0 => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(s.size.max(0) as u64);
                let body = Content {
                    rx: &mut rx,
                    left: s.size.max(0) as u64,
                    chunk: Bytes::new(),
                    done: false,
                };
                tar.append_data(&mut h, path, body)?;
            }
            mode::DIR => {
                h.set_entry_type(tar::EntryType::Directory);
                tar.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            mode::SYMLINK => {
                h.set_entry_type(tar::EntryType::Symlink);
                tar.append_link(&mut h, path, &s.linkname)?;
            }
            mode::NAMED_PIPE => {
                h.set_entry_type(tar::EntryType::Fifo);
                tar.append_data(&mut h, path, std::io::empty())?;
            }
            // Sockets and devices have no place in a context (as Docker's tar of one).
            _ => {}
        }
    }
    tar.finish()
}

/// A regular file's content as its pieces bring it: exactly the size its
/// stat announced (a file that changed while sent is an error).
struct Content<'a> {
    rx: &'a mut mpsc::Receiver<Piece>,
    left: u64,
    chunk: Bytes,
    done: bool,
}

impl std::io::Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let changed = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a context file changed while it was sent",
            )
        };
        if self.done {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Piece::Data(d)) => self.chunk = d,
                Some(Piece::End) if self.left == 0 => {
                    self.done = true;
                    return Ok(0);
                }
                _ => return Err(changed()),
            }
        }
        let n = buf.len().min(self.chunk.len());
        if n as u64 > self.left {
            return Err(changed());
        }
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        self.left -= n as u64;
        if self.left == 0 && self.chunk.is_empty() {
            // The file's End follows; take it so the next entry comes next.
            match self.rx.blocking_recv() {
                Some(Piece::End) => {}
                _ => return Err(changed()),
            }
            self.done = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, mode: u32, size: i64, linkname: &str) -> Stat {
        Stat {
            path: path.into(),
            mode,
            size,
            linkname: linkname.into(),
            mod_time: 5_000_000_000,
            ..Default::default()
        }
    }

    fn tar_of(pieces: Vec<Piece>) -> std::io::Result<Vec<u8>> {
        let (tx, rx) = mpsc::channel(pieces.len() + 1);
        for p in pieces {
            tx.try_send(p).unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        write_tar(rx, &mut out).map(|()| out)
    }

    #[test]
    fn pieces_become_a_tar_of_the_same_files() {
        let out = tar_of(vec![
            Piece::Entry(stat("d", mode::DIR | 0o750, 0, "")),
            Piece::Entry(stat("d/f", mode::SETUID | 0o755, 5, "")),
            Piece::Data(Bytes::from_static(b"hel")),
            Piece::Data(Bytes::from_static(b"lo")),
            Piece::End,
            Piece::Entry(stat("l", mode::SYMLINK | 0o777, 0, "../../etc")),
            Piece::Entry(stat("h", 0o644, 5, "d/f")),
            Piece::Entry(stat("sock", mode::SOCKET | 0o755, 0, "")),
            Piece::Entry(stat("empty", 0o600, 0, "")),
            Piece::End,
        ])
        .unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            let link = e.link_name().unwrap().map(|l| l.display().to_string()).unwrap_or_default();
            let h = e.header();
            seen.push(format!(
                "{} {:?} {:o} {} {link} {body}",
                e.path().unwrap().display(),
                h.entry_type(),
                h.mode().unwrap(),
                h.mtime().unwrap()
            ));
        }
        assert_eq!(
            seen,
            [
                "d/ Directory 750 5  ",
                "d/f Regular 4755 5  hello",
                "l Symlink 777 5 ../../etc ",
                "h Link 644 5 d/f ",
                "empty Regular 600 5  ",
            ]
        );
    }

    #[test]
    fn a_file_that_changed_while_sent_is_an_error() {
        let short = vec![
            Piece::Entry(stat("f", 0o644, 5, "")),
            Piece::Data(Bytes::from_static(b"hi")),
            Piece::End,
        ];
        assert!(tar_of(short).is_err());
        let long = vec![
            Piece::Entry(stat("f", 0o644, 1, "")),
            Piece::Data(Bytes::from_static(b"hi")),
            Piece::End,
        ];
        assert!(tar_of(long).is_err());
    }
}
