//! A build's context: a tar (the classic API's body) extracted inside a
//! fresh dir by the kernel's descriptor-walked extractor (`../`, absolute
//! names, links and symlink-then-write land inside it or are refused),
//! then `.dockerignore` applied: what it excludes is removed before
//! anything is hashed or copied — the Dockerfile and `.dockerignore`
//! too when it names them (they are read first), as Docker does.

use crate::{BuildError, Result};
use berth_dockerfile::ignore::Ignore;
use berth_kernel::cp::{ExtractOptions, Owners, View};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Extracts a context's `tar` (plain, gzip or zstd; empty: nothing) into
/// `dir` by descriptor, the caller's files' owners (blocking).
pub(crate) fn extract(dir: &Path, tar: impl Read) -> Result<()> {
    extract_keeping(dir, tar, false).map(drop)
}

/// [`extract`]; with `keep`, files already there as the tar has them are
/// kept as they are (`ExtractOptions::keep_identical`). The tar's paths.
pub(crate) fn extract_keeping(dir: &Path, tar: impl Read, keep: bool) -> Result<Vec<String>> {
    let view = View::of_dir(dir).map_err(|e| BuildError::Invalid(format!("context: {e}")))?;
    let point =
        view.extraction_point("/").map_err(|e| BuildError::Invalid(format!("context: {e}")))?;
    let opts =
        ExtractOptions { owners: Owners::Caller, keep_identical: keep, ..Default::default() };
    // An empty body is an empty context.
    let mut tar = std::io::BufReader::new(tar);
    let empty = std::io::BufRead::fill_buf(&mut tar).map_err(io("read the context"))?.is_empty();
    if empty {
        return Ok(Vec::new());
    }
    view.extract_names(&point, tar, &opts)
        .map_err(|e| BuildError::Invalid(format!("the build context is not a valid tar: {e}")))
}

/// A context dir: removed when dropped, or handed back to its slot.
#[derive(Debug)]
pub struct Context {
    dir: PathBuf,
    slot: Option<crate::slots::Held>,
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.slot.is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

impl Context {
    /// Extracts `tar` (plain, gzip or zstd) into a new dir under `parent`
    /// (blocking).
    pub fn from_tar(parent: &Path, tar: impl Read) -> Result<Self> {
        std::fs::create_dir_all(parent).map_err(io("create the contexts dir"))?;
        let dir = parent.join(hex::encode(rand::random::<[u8; 16]>()));
        std::fs::create_dir(&dir).map_err(io("create the context dir"))?;
        let ctx = Self { dir, slot: None };
        extract(&ctx.dir, tar)?;
        Ok(ctx)
    }

    /// Extracts `tar` over the last context a slot held (blocking): what
    /// is unchanged stays as it was (no file written, no digest taken
    /// again, links to it from layers valid), what the tar lacks goes.
    pub(crate) fn in_slot(held: crate::slots::Held, tar: impl Read) -> Result<Self> {
        let dir = held.dir().to_path_buf();
        let ctx = Self { dir, slot: Some(held) };
        // The last context's symlinks go first: none may steer this one's entries.
        remove_links(&ctx.dir).map_err(io("clear the last context"))?;
        let names = extract_keeping(&ctx.dir, tar, true)?;
        let mut keep: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for n in &names {
            let mut p = n.as_str();
            keep.insert(p);
            while let Some((parent, _)) = p.rsplit_once('/') {
                keep.insert(parent);
                p = parent;
            }
        }
        remove_others(&ctx.dir, "", &keep).map_err(io("clear the last context"))?;
        Ok(ctx)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a file of the context (no symlink followed), up to 16 MiB.
    pub fn read(&self, rel: &str) -> Result<Option<String>> {
        let mut p = self.dir.clone();
        for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if c == ".." {
                return Err(BuildError::Invalid(format!("{rel}: outside the build context")));
            }
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(BuildError::Invalid(format!(
                        "{rel}: a symlink in the build context"
                    )))
                }
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
        }
        let mut text = String::new();
        std::fs::File::open(&p)
            .and_then(|f| f.take(16 << 20).read_to_string(&mut text))
            .map_err(io(format!("read {rel}")))?;
        Ok(Some(text))
    }

    /// Takes out what `.dockerignore` excludes (blocking). The Dockerfile
    /// and `.dockerignore` were read before: COPY sees them unless excluded.
    pub fn apply_ignore(&self) -> Result<()> {
        let ignore = Ignore::parse(&self.read(".dockerignore")?.unwrap_or_default());
        prune(&self.dir, "", &ignore).map_err(io("apply .dockerignore"))
    }
}

/// Removes every symlink under `dir` (none is followed).
fn remove_links(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_symlink() {
            std::fs::remove_file(e.path())?;
        } else if t.is_dir() {
            remove_links(&e.path())?;
        }
    }
    Ok(())
}

/// Removes what is under `dir` but not in `keep` (relative paths).
fn remove_others(
    dir: &Path,
    rel: &str,
    keep: &std::collections::HashSet<&str>,
) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let is_dir = e.file_type()?.is_dir();
        match (keep.contains(r.as_str()), is_dir) {
            (true, true) => remove_others(&e.path(), &r, keep)?,
            (true, false) => {}
            (false, true) => std::fs::remove_dir_all(e.path())?,
            (false, false) => std::fs::remove_file(e.path())?,
        }
    }
    Ok(())
}

fn prune(dir: &Path, rel: &str, ignore: &Ignore) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let is_dir = e.file_type()?.is_dir();
        if ignore.excludes(&r) {
            if is_dir && ignore.has_exceptions() {
                // An exception may bring something under it back.
                prune(&e.path(), &r, ignore)?;
                if std::fs::read_dir(e.path())?.next().is_none() {
                    std::fs::remove_dir(e.path())?;
                }
            } else if is_dir {
                std::fs::remove_dir_all(e.path())?;
            } else {
                std::fs::remove_file(e.path())?;
            }
        } else if is_dir {
            prune(&e.path(), &r, ignore)?;
        }
    }
    Ok(())
}

/// Files' content digests remembered by device and inode, with the birth
/// time, size and modification time they had: a file not changed since is
/// not read again (a kept context's 3,000 unchanged files cost 3,000
/// stats, not 40 MB of hashing). Meant for berthd's own context dirs,
/// whose files are replaced, never rewritten in place: a new file is a new
/// inode with a new birth time, even where its number is reused. (The
/// change time would not do: a COPY by hard link changes it.)
#[derive(Debug, Default)]
pub struct FileDigests {
    known: std::sync::Mutex<std::collections::HashMap<(u64, u64), Known>>,
}

#[derive(Debug, Clone, Copy)]
struct Known {
    born: std::time::SystemTime,
    mtime: (i64, i64),
    size: u64,
    digest: [u8; 32],
}

/// Forgotten all at once beyond this many files.
const REMEMBERED: usize = 200_000;

impl FileDigests {
    fn file(&self, path: &Path, m: &std::fs::Metadata) -> std::io::Result<[u8; 32]> {
        use std::os::unix::fs::MetadataExt;
        let hash = || {
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
            Ok::<[u8; 32], std::io::Error>(h.finalize().into())
        };
        // No birth time (a filesystem without one): nothing is remembered.
        let Ok(born) = m.created() else { return hash() };
        let key = (m.dev(), m.ino());
        let now =
            Known { born, mtime: (m.mtime(), m.mtime_nsec()), size: m.size(), digest: [0; 32] };
        let same = |k: &Known| k.born == now.born && k.mtime == now.mtime && k.size == now.size;
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
        if let Some(k) = known.filter(same) {
            return Ok(k.digest);
        }
        let digest = hash()?;
        let mut map = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= REMEMBERED {
            map.clear();
        }
        map.insert(key, Known { digest, ..now });
        Ok(digest)
    }
}

/// A digest of what is at `path` (recursively): names, modes, link
/// targets and contents; not times or owners. What a COPY's cache key
/// covers. No symlink is followed.
pub fn content_digest(path: &Path, files: &FileDigests) -> std::io::Result<String> {
    content_digest_without(path, files, &|_| false)
}

/// [`content_digest`] of what `skip` leaves (it is given the paths below
/// `path`: `a`, `dir/b`; COPY `--exclude`).
pub fn content_digest_without(
    path: &Path,
    files: &FileDigests,
    skip: &dyn Fn(&str) -> bool,
) -> std::io::Result<String> {
    let mut h = Sha256::new();
    walk(path, "", &mut h, files, skip)?;
    Ok(hex::encode(h.finalize()))
}

fn walk(
    path: &Path,
    rel: &str,
    h: &mut Sha256,
    files: &FileDigests,
    skip: &dyn Fn(&str) -> bool,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::symlink_metadata(path)?;
    let mode = m.permissions().mode();
    h.update(format!("{rel}\0{mode:o}\0").as_bytes());
    if m.file_type().is_symlink() {
        h.update(std::fs::read_link(path)?.as_os_str().as_encoded_bytes());
    } else if m.is_file() {
        h.update(files.file(path, &m)?);
    } else if m.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        for n in names {
            let r = format!("{rel}/{}", n.to_string_lossy());
            if !skip(&r[1..]) {
                walk(&path.join(&n), &r, h, files, skip)?;
            }
        }
    }
    h.update(b"\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_hashed_again_whatever_its_mtime() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, "one").unwrap();
        let files = FileDigests::default();
        let first = content_digest(tmp.path(), &files).unwrap();
        assert_eq!(content_digest(tmp.path(), &files).unwrap(), first);
        // Replaced as a sync replaces it: a new file, the old one's time.
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        let new = tmp.path().join(".new");
        std::fs::write(&new, "two").unwrap();
        std::fs::File::options().write(true).open(&new).unwrap().set_modified(mtime).unwrap();
        std::fs::rename(&new, &f).unwrap();
        let second = content_digest(tmp.path(), &files).unwrap();
        assert_ne!(second, first);
        assert_eq!(second, content_digest(tmp.path(), &FileDigests::default()).unwrap());
    }

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_000_000);
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_slot_keeps_unchanged_files_and_drops_what_the_tar_lacks() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let slots = crate::slots::Slots::new(tmp.path().join("classic"));
        let ctx = Context::in_slot(
            slots.take("a").unwrap(),
            &tar_of(&[("d/keep", "k"), ("d/gone", "g"), ("top", "t")])[..],
        )
        .unwrap();
        let dir = ctx.dir().to_path_buf();
        std::os::unix::fs::symlink("/etc", dir.join("link")).unwrap();
        let ino = std::fs::metadata(dir.join("d/keep")).unwrap().ino();
        drop(ctx);
        let ctx = Context::in_slot(
            slots.take("a").unwrap(),
            &tar_of(&[("d/keep", "k"), ("top", "T")])[..],
        )
        .unwrap();
        assert_eq!(ctx.dir(), dir);
        assert_eq!(std::fs::metadata(dir.join("d/keep")).unwrap().ino(), ino, "kept");
        assert_eq!(std::fs::read_to_string(dir.join("top")).unwrap(), "T");
        assert!(!dir.join("d/gone").exists() && !dir.join("link").exists());
        drop(ctx);
        assert!(dir.exists(), "a slot's context outlives its build");
    }
}
