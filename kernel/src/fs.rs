//! File operations that must not be fooled: atomic replacement of records,
//! and path resolution that stays beneath a root and never follows symlinks.

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path};

/// Replaces `path` atomically (temp file, rename) without waiting for the
/// disk: readers, and a restarted process, see the old or the new file
/// whole; a power cut may lose it. For intents that only a crash of this
/// process must not lose, on the start path where two fsyncs would cost.
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let res = std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Writes `data` to `path` so that a crash at any point, a power cut
/// included, leaves either the old or the new content: temp file, fsync,
/// rename, fsync of the directory.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let mut f = File::create(&tmp)?; // std opens with O_CLOEXEC
    let res =
        f.write_all(data).and_then(|_| f.sync_all()).and_then(|_| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    File::open(dir)?.sync_all()
}

/// Why a path could not be resolved beneath a root.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("path {0:?} is absolute")]
    Absolute(String),
    #[error("path {0:?} climbs out with '..'")]
    DotDot(String),
    #[error("path {path:?}: {err}")]
    Sys {
        path: String,
        #[source]
        err: nix::Error,
    },
}

/// Splits a relative path into its normal components, refusing absolute
/// paths and `..`. `.` and empty components are dropped.
pub fn clean_components(path: &str) -> Result<Vec<&str>, BeneathError> {
    if path.starts_with('/') {
        return Err(BeneathError::Absolute(path.to_owned()));
    }
    let mut out = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => out.push(s.to_str().unwrap_or_default()),
            Component::CurDir => {}
            Component::ParentDir => return Err(BeneathError::DotDot(path.to_owned())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(BeneathError::Absolute(path.to_owned()))
            }
        }
    }
    Ok(out)
}

fn how_beneath(flags: OFlag) -> OpenHow {
    OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

/// Opens `rel` beneath `root`; no component (the last one included) may be a symlink.
pub fn open_beneath(root: &OwnedFd, rel: &str, flags: OFlag) -> Result<OwnedFd, BeneathError> {
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = openat2(root.as_raw_fd(), rel, how_beneath(flags))
        .map_err(|err| BeneathError::Sys { path: rel.to_owned(), err })?;
    Ok(owned(fd))
}

/// Opens (creating as needed, mode 0755) the directory made of `comps`
/// beneath `root`, one component at a time, refusing symlinks on the way.
pub fn mkdir_all_beneath(root: &OwnedFd, comps: &[&str]) -> Result<OwnedFd, BeneathError> {
    let mut cur = open_beneath(root, ".", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    for (i, c) in comps.iter().enumerate() {
        let sys = |err| BeneathError::Sys { path: comps[..=i].join("/"), err };
        match nix::sys::stat::mkdirat(Some(cur.as_raw_fd()), *c, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => return Err(sys(e)),
        }
        let fd = openat2(cur.as_raw_fd(), *c, how_beneath(OFlag::O_PATH | OFlag::O_DIRECTORY))
            .map_err(sys)?;
        cur = owned(fd);
    }
    Ok(cur)
}

/// Wraps a descriptor a syscall just returned.
pub(crate) fn owned_fd(fd: std::os::fd::RawFd) -> OwnedFd {
    owned(fd)
}

/// Sets an extended attribute on an open file.
pub fn fsetxattr(fd: &impl AsRawFd, name: &str, value: &[u8]) -> io::Result<()> {
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    #[allow(unsafe_code)]
    // SAFETY: `fd` is a live descriptor, `name` is NUL-terminated and `value`
    // is a valid buffer of the given length for the duration of the call.
    let rc = unsafe {
        libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an extended attribute of an open file (up to 4 KiB).
pub fn fgetxattr(fd: &impl AsRawFd, name: &str) -> io::Result<Vec<u8>> {
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    let mut buf = vec![0u8; 4096];
    #[allow(unsafe_code)]
    // SAFETY: `fd` is a live descriptor, `name` is NUL-terminated and `buf`
    // is a writable buffer of the given length for the duration of the call.
    let n = unsafe {
        libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn owned(fd: std::os::fd::RawFd) -> OwnedFd {
    #[allow(unsafe_code)]
    // SAFETY: `fd` was just returned by a successful openat2 and is owned by nobody else.
    unsafe {
        OwnedFd::from_raw_fd(fd)
    }
}

/// Opens a directory as an `O_PATH` root for the `*_beneath` calls.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(owned(fd))
}

/// Space and inodes a directory tree uses (hardlinks counted once,
/// symlinks not followed, other filesystems not entered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub inodes: u64,
}

/// Walks `root` and adds up what it occupies on disk.
pub fn disk_usage(root: &Path) -> Usage {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut usage = Usage::default();
    let Ok(top) = std::fs::symlink_metadata(root) else { return usage };
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&p) else { continue };
        if md.dev() != top.dev() || !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        usage.bytes += md.blocks() * 512;
        usage.inodes += 1;
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    usage
}

/// How deep [`copy_tree`] goes (each level holds two descriptors).
const COPY_DEPTH: usize = 128;

/// Copies the tree of the directory `from` into the empty directory `to`:
/// directories, regular files and symlinks with their modes and owners
/// (other kinds are skipped). Every name is opened relative to its parent's
/// descriptor, never following a symlink, and created exclusively: neither
/// side can redirect the copy elsewhere.
pub fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> io::Result<()> {
    copy_level(from, to, 0)
}

fn copy_level(from: &OwnedFd, to: &OwnedFd, depth: usize) -> io::Result<()> {
    use nix::sys::stat::{fstatat, SFlag};
    use nix::unistd::{Gid, Uid};
    if depth > COPY_DEPTH {
        return Err(io::Error::other("the tree is too deep to copy"));
    }
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    let open =
        |dir: &OwnedFd, name: &std::ffi::CStr, flags: OFlag, mode: u32| -> io::Result<OwnedFd> {
            Ok(owned(nix::fcntl::openat(
                Some(dir.as_raw_fd()),
                name,
                flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(mode),
            )?))
        };
    let listing = open(from, c".", OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)?;
    let mut dir = nix::dir::Dir::from_fd(listing.as_raw_fd())?;
    // The Dir owns the descriptor now.
    std::mem::forget(listing);
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let st = fstatat(Some(from.as_raw_fd()), name, nofollow)?;
        let mode = st.st_mode & 0o7777;
        let (uid, gid) = (Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFDIR => {
                nix::sys::stat::mkdirat(
                    Some(to.as_raw_fd()),
                    name,
                    Mode::from_bits_truncate(0o700),
                )?;
                let src = open(from, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)?;
                let dst = open(to, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)?;
                copy_level(&src, &dst, depth + 1)?;
                nix::unistd::fchown(dst.as_raw_fd(), uid, gid)?;
                nix::sys::stat::fchmod(dst.as_raw_fd(), Mode::from_bits_truncate(mode))?;
            }
            SFlag::S_IFREG => {
                let src = File::from(open(from, name, OFlag::O_RDONLY, 0)?);
                let mut dst = File::from(open(
                    to,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                    0o600,
                )?);
                io::copy(&mut &src, &mut dst)?;
                nix::unistd::fchown(dst.as_raw_fd(), uid, gid)?;
                nix::sys::stat::fchmod(dst.as_raw_fd(), Mode::from_bits_truncate(mode))?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(from.as_raw_fd()), name)?;
                nix::unistd::symlinkat(target.as_os_str(), Some(to.as_raw_fd()), name)?;
                nix::unistd::fchownat(Some(to.as_raw_fd()), name, uid, gid, nofollow)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the directory at `path` has no entries.
pub fn is_empty_dir(path: &Path) -> io::Result<bool> {
    Ok(std::fs::read_dir(path)?.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_tree_keeps_modes_and_links_and_follows_none() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let (from, to) = (t.path().join("from"), t.path().join("to"));
        std::fs::create_dir_all(from.join("etc/sub")).unwrap();
        std::fs::write(from.join("etc/sub/f"), "x").unwrap();
        std::fs::set_permissions(from.join("etc/sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("etc/link")).unwrap();
        std::fs::create_dir(&to).unwrap();
        copy_tree(
            &open_root(&from).and_then(|_| Ok(File::open(&from)?.into())).unwrap(),
            &File::open(&to).unwrap().into(),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(to.join("etc/sub/f")).unwrap(), "x");
        assert_eq!(
            std::fs::metadata(to.join("etc/sub/f")).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(to.join("etc/link")).unwrap(),
            Path::new("/etc/passwd"),
            "the link is copied, not followed"
        );
        assert!(is_empty_dir(&from.join("etc/sub")).map(|e| !e).unwrap());
    }

    #[test]
    fn components_are_cleaned_and_checked() {
        assert_eq!(clean_components("./a//b/./c").unwrap(), ["a", "b", "c"]);
        assert!(matches!(clean_components("/etc/passwd"), Err(BeneathError::Absolute(_))));
        assert!(matches!(clean_components("a/../../x"), Err(BeneathError::DotDot(_))));
        assert!(clean_components("./").unwrap().is_empty());
    }

    #[test]
    fn disk_usage_counts_hardlinks_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), vec![1u8; 10_000]).unwrap();
        std::fs::hard_link(d.path().join("a"), d.path().join("b")).unwrap();
        let u = disk_usage(d.path());
        assert_eq!(u.inodes, 2);
        assert!(u.bytes >= 10_000 && u.bytes < 40_000, "{u:?}");
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("rec.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn beneath_refuses_symlinks() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/tmp", d.path().join("link")).unwrap();
        let root = open_root(d.path()).unwrap();
        assert!(open_beneath(&root, "link", OFlag::O_PATH).is_err());
        assert!(mkdir_all_beneath(&root, &["link", "x"]).is_err());
        assert!(mkdir_all_beneath(&root, &["a", "b"]).is_ok());
        assert!(d.path().join("a/b").is_dir());
    }
}
