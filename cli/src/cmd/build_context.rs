//! The context of `berth build DIR`, synced by diff into one berthd keeps
//! (`berth_docker_api::build`): the directory is walked with
//! `.dockerignore` applied, compared with what berthd says it holds from
//! the last sync (each file's kind, mode, size and time), and only what
//! differs is sent — a tar of new and changed files and the paths to
//! remove. An unchanged 40 MB context costs a walk and a listing. The
//! Dockerfile goes in the build request itself; it is part of the context
//! only if `.dockerignore` keeps it, as with Docker.

use crate::client::{reader_body, Client};
use crate::Failure;
use berth_docker_api::build::{ContextEntry, ContextListing, ContextSync, EntryKind};
use berth_dockerfile::ignore::Ignore;
use hyper::{Method, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// A sync that raced another one is made again this many times.
const ATTEMPTS: usize = 3;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| Failure::new(format!("Error: {what}: {e}"))
}

/// The kept context's id for this directory.
fn id(root: &Path) -> String {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut h = Sha256::new();
    h.update(b"berth build context\0");
    h.update(canonical.as_os_str().as_encoded_bytes());
    hex::encode(h.finalize())
}

/// What of `root` the build sees: `.dockerignore` applied (blocking).
pub fn scan(root: &Path) -> Result<Vec<ContextEntry>, Failure> {
    let text = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
    let ignore = Ignore::parse(&text);
    let mut out = Vec::new();
    walk(root, "", &ignore, &mut out).map_err(io("read the context"))?;
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    ignore: &Ignore,
    out: &mut Vec<ContextEntry>,
) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let m = e.path().symlink_metadata()?;
        let excluded = ignore.excludes(&path);
        let kind = if m.is_dir() {
            EntryKind::Dir
        } else if m.file_type().is_symlink() {
            EntryKind::Symlink
        } else if m.is_file() {
            EntryKind::File
        } else {
            continue; // sockets, fifos, devices: not sent
        };
        if excluded && !(kind == EntryKind::Dir && ignore.has_exceptions()) {
            continue;
        }
        let target = match kind {
            EntryKind::Symlink => std::fs::read_link(e.path())?.to_string_lossy().into_owned(),
            _ => String::new(),
        };
        let entry = ContextEntry {
            path: path.clone(),
            kind,
            mode: m.permissions().mode() & 0o7777,
            size: if kind == EntryKind::File { m.size() } else { 0 },
            mtime: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            target,
        };
        if kind != EntryKind::Dir {
            out.push(entry);
            continue;
        }
        // An excluded dir is sent only for what an exception brings back under it.
        let at = out.len();
        out.push(entry);
        walk(&e.path(), &path, ignore, out)?;
        if excluded && out.len() == at + 1 {
            out.pop();
        }
    }
    Ok(())
}

/// Whether berthd's copy of `local` is current.
fn same(local: &ContextEntry, kept: &ContextEntry) -> bool {
    local.kind == kept.kind
        && local.mode == kept.mode
        && match local.kind {
            EntryKind::File => local.size == kept.size && local.mtime == kept.mtime,
            EntryKind::Symlink => local.target == kept.target,
            EntryKind::Dir => true,
        }
}

/// What to remove from berthd's copy and what to send.
fn diff<'a>(
    local: &'a [ContextEntry],
    kept: &[ContextEntry],
) -> (Vec<String>, Vec<&'a ContextEntry>) {
    let by_path: HashMap<&str, &ContextEntry> = kept.iter().map(|e| (e.path.as_str(), e)).collect();
    let here: BTreeSet<&str> = local.iter().map(|e| e.path.as_str()).collect();
    let mut gone: BTreeSet<&str> =
        kept.iter().map(|e| e.path.as_str()).filter(|p| !here.contains(p)).collect();
    let mut send = Vec::new();
    for e in local {
        match by_path.get(e.path.as_str()) {
            Some(k) if same(e, k) => {}
            Some(k) => {
                if k.kind != e.kind {
                    gone.insert(&e.path);
                }
                send.push(e);
            }
            None => send.push(e),
        }
    }
    // A path under one removed goes with it.
    let mut removed: Vec<String> = Vec::new();
    for p in gone {
        if !removed.iter().any(|r| p.strip_prefix(r.as_str()).is_some_and(|s| s.starts_with('/'))) {
            removed.push(p.to_owned());
        }
    }
    (removed, send)
}

/// The sync's body: its line, then a tar of `send` (blocking).
fn body(root: &Path, sync: &ContextSync, send: &[&ContextEntry]) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(sync)?;
    line.push(b'\n');
    let mut tar = tar::Builder::new(line);
    tar.follow_symlinks(false);
    for e in send {
        tar.append_path_with_name(root.join(&e.path), &e.path)?;
    }
    tar.into_inner()
}

/// Brings berthd's copy of `root` up to date; its id, or `None` when this
/// berthd keeps no contexts (the context is then sent whole).
pub async fn sync(c: &Client, root: &Path) -> Result<Option<String>, Failure> {
    let id = id(root);
    for _ in 0..ATTEMPTS {
        let listing: ContextListing = match c.get(&format!("/berth/contexts/{id}")).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let dir = root.to_path_buf();
        let made = tokio::task::spawn_blocking(move || {
            let local = scan(&dir)?;
            let fresh = listing.generation == 0;
            let kept = if fresh { &[][..] } else { &listing.entries[..] };
            let (removed, send) = diff(&local, kept);
            if !fresh && removed.is_empty() && send.is_empty() {
                return Ok(None);
            }
            let sync = ContextSync {
                base: listing.generation,
                reset: fresh,
                removed,
                entries: local.clone(),
            };
            body(&dir, &sync, &send).map(Some).map_err(io("read the context"))
        })
        .await
        .map_err(|e| Failure::new(e.to_string()))??;
        let Some(body) = made else { return Ok(Some(id)) };
        let path = format!("/berth/contexts/{id}");
        let headers = [("Content-Type", "application/octet-stream".to_owned())];
        let body = reader_body(std::io::Cursor::new(body));
        match c.checked(Method::POST, &path, &headers, body).await {
            Ok(resp) => {
                let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
                return Ok(Some(id));
            }
            Err(e) if e.status == Some(StatusCode::CONFLICT) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Failure::new("Error: the build context kept changing while it was sent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64, mtime: i64) -> ContextEntry {
        ContextEntry { path: path.into(), mode: 0o644, size, mtime, ..Default::default() }
    }

    fn dir(path: &str) -> ContextEntry {
        ContextEntry { path: path.into(), kind: EntryKind::Dir, mode: 0o755, ..Default::default() }
    }

    #[test]
    fn only_what_changed_is_sent_and_removed_trees_go_whole() {
        let kept =
            vec![dir("a"), file("a/x", 1, 1), file("a/y", 1, 1), file("b", 1, 1), file("c", 1, 1)];
        let local = vec![file("a", 2, 2), file("b", 1, 1), file("c", 1, 5), file("d", 1, 1)];
        let (removed, send) = diff(&local, &kept);
        assert_eq!(removed, ["a"]);
        let sent: Vec<&str> = send.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(sent, ["a", "c", "d"]);
        let (removed, send) = diff(&kept, &kept);
        assert!(removed.is_empty() && send.is_empty());
    }

    #[test]
    fn the_scan_applies_dockerignore_with_its_exceptions() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir_all(r.join("logs/keep")).unwrap();
        std::fs::create_dir_all(r.join("tmp")).unwrap();
        for f in ["Dockerfile", "logs/a.log", "logs/keep/k", "tmp/t", "app"] {
            std::fs::write(r.join(f), f).unwrap();
        }
        std::fs::write(r.join(".dockerignore"), "Dockerfile\nlogs\n!logs/keep\ntmp\n").unwrap();
        let seen: Vec<String> = scan(r).unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(seen, [".dockerignore", "app", "logs", "logs/keep", "logs/keep/k"]);
    }
}
