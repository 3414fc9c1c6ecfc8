//! Rooted extraction of a layer tarball into a directory.
//!
//! Every entry is created relative to a directory fd that was reached with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so no entry can write
//! outside the layer: `..` and absolute names are refused, a symlink (from
//! this layer or planted earlier) is never followed on the way to an entry,
//! and hardlinks may only point at files inside the layer. The tarball is
//! read once, straight from the (optionally gzip-compressed) stream, while
//! its uncompressed bytes are hashed into the layer's diff id.

use crate::fs::{clean_components, mkdir_all_beneath, open_beneath, open_root, BeneathError};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, linkat, mkfifoat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What an extracted layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:<hex>` of the uncompressed tar stream.
    pub diff_id: String,
    /// Bytes of regular file content.
    pub size: u64,
    /// `sha256:<hex>` of the bytes as read (compressed or not).
    pub blob_digest: String,
    /// Bytes read.
    pub blob_size: u64,
    /// How the blob was compressed (recognised by its magic).
    pub compression: Compression,
}

/// A layer blob's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises a stream's compression by its first bytes.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("malformed tar archive: {0}")]
    Malformed(#[source] io::Error),
    #[error("tar entry {entry:?} escapes the root: {why}")]
    Escape {
        entry: String,
        #[source]
        why: BeneathError,
    },
    #[error("tar entry {entry:?}: {err}")]
    Entry {
        entry: String,
        #[source]
        err: io::Error,
    },
    #[error("tar entry {0:?} is a hardlink to a directory or to nothing in this layer")]
    BadLink(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Hashes what passes through, counts it, and copies it to `tee`.
struct HashingReader<'t, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    tee: Option<&'t mut dyn Write>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if let Some(t) = self.tee.as_mut() {
            t.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

fn hashing<R: Read>(inner: R, tee: Option<&mut dyn Write>) -> HashingReader<'_, R> {
    HashingReader { inner, hasher: Sha256::new(), count: 0, tee }
}

/// Extracts `input` (a tar, or a gzip- or zstd-compressed tar) into `dest`,
/// which must exist and be empty, copying the input as read to `tee`. On
/// error, `dest` holds a partial tree the caller removes.
pub fn extract(
    input: impl Read,
    dest: &Path,
    tee: Option<&mut dyn Write>,
) -> Result<LayerInfo, LayerError> {
    let mut raw = hashing(input, tee);
    let info = extract_tar(&mut raw, dest)?;
    // Whatever follows the compressed stream is part of the blob too.
    io::copy(&mut raw, &mut io::sink()).map_err(LayerError::Malformed)?;
    Ok(LayerInfo {
        blob_digest: format!("sha256:{}", hex::encode(raw.hasher.finalize())),
        blob_size: raw.count,
        ..info
    })
}

fn extract_tar(raw: &mut impl Read, dest: &Path) -> Result<LayerInfo, LayerError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let compression = Compression::sniff(buffered.fill_buf()?);
    let plain: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(LayerError::Malformed)?,
        ),
        Compression::None => Box::new(buffered),
    };
    let mut hashing = hashing(plain, None);
    let root = open_root(dest)?;
    let size = {
        let mut archive = tar::Archive::new(&mut hashing);
        archive.set_ignore_zeros(false);
        let mut size = 0u64;
        let mut any = false;
        for entry in archive.entries().map_err(LayerError::Malformed)? {
            let mut entry = entry.map_err(LayerError::Malformed)?;
            any = true;
            size += write_entry(&root, &mut entry)?;
        }
        if !any {
            return Err(LayerError::Malformed(io::Error::other("archive has no entries")));
        }
        size
    };
    // Hash the trailing padding too: the diff id covers the whole stream.
    io::copy(&mut hashing, &mut io::sink()).map_err(LayerError::Malformed)?;
    Ok(LayerInfo {
        diff_id: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        size,
        blob_digest: String::new(),
        blob_size: 0,
        compression,
    })
}

fn entry_name(entry: &tar::Entry<'_, impl Read>) -> Result<String, LayerError> {
    let raw = entry.path_bytes();
    String::from_utf8(raw.into_owned())
        .map_err(|_| LayerError::Malformed(io::Error::other("entry name is not UTF-8")))
}

fn write_entry(root: &OwnedFd, entry: &mut tar::Entry<'_, impl Read>) -> Result<u64, LayerError> {
    let name = entry_name(entry)?;
    let esc = |why| LayerError::Escape { entry: name.clone(), why };
    let comps = clean_components(&name).map_err(esc)?;
    let Some((last, parents)) = comps.split_last() else {
        return Ok(0); // "./": the layer root itself
    };
    let ioerr = |err: io::Error| LayerError::Entry { entry: name.clone(), err };
    let nixerr = |e: nix::Error| ioerr(io::Error::from(e));
    let parent = mkdir_all_beneath(root, parents).map_err(esc)?;
    let xattrs = xattrs(entry).map_err(ioerr)?;
    let header = entry.header();
    let kind = header.entry_type();
    let mode = Mode::from_bits_truncate(header.mode().map_err(ioerr)? & 0o7777);
    let uid = header.uid().map_err(ioerr)? as u32;
    let gid = header.gid().map_err(ioerr)? as u32;
    let mtime = header.mtime().unwrap_or(0) as i64;

    // Whiteouts (OCI layers): `.wh..wh..opq` marks an opaque dir, `.wh.x` deletes x.
    if let Some(target) = last.strip_prefix(".wh.") {
        if target == ".wh..opq" {
            set_opaque(&parent).map_err(ioerr)?;
        } else {
            replace_existing(&parent, target, false).map_err(ioerr)?;
            mknodat(Some(parent.as_raw_fd()), target, SFlag::S_IFCHR, Mode::empty(), 0)
                .map_err(nixerr)?;
        }
        return Ok(0);
    }

    let is_dir = kind.is_dir();
    replace_existing(&parent, last, is_dir).map_err(ioerr)?;
    let mut written = 0;
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let fd = nix::fcntl::openat(
                Some(parent.as_raw_fd()),
                *last,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(nixerr)?;
            let mut file = std::fs::File::from(crate::fs::owned_fd(fd));
            written = io::copy(entry, &mut file).map_err(ioerr)?;
            nix::unistd::fchown(
                file.as_raw_fd(),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
            )
            .map_err(nixerr)?;
            fchmod(file.as_raw_fd(), mode).map_err(nixerr)?;
            apply_xattrs(&file, &xattrs).map_err(ioerr)?;
            set_mtime(file.as_fd(), mtime);
        }
        tar::EntryType::Directory => {
            match nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), *last, mode) {
                Ok(()) | Err(nix::Error::EEXIST) => {}
                Err(e) => return Err(nixerr(e)),
            }
            let dir =
                open_beneath(&parent, last, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(esc)?;
            nix::unistd::fchown(
                dir.as_raw_fd(),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
            )
            .map_err(nixerr)?;
            fchmod(dir.as_raw_fd(), mode).map_err(nixerr)?;
            apply_xattrs(&dir, &xattrs).map_err(ioerr)?;
        }
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| ioerr(io::Error::other("symlink without target")))?;
            let target = std::ffi::OsStr::from_bytes(&target);
            symlinkat(target, Some(parent.as_raw_fd()), *last).map_err(nixerr)?;
            fchownat(
                Some(parent.as_raw_fd()),
                *last,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(nixerr)?;
        }
        tar::EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| ioerr(io::Error::other("hardlink without target")))?;
            let target = String::from_utf8(target.into_owned())
                .map_err(|_| LayerError::BadLink(name.clone()))?;
            let tcomps = clean_components(&target).map_err(esc)?;
            let Some((tlast, tparents)) = tcomps.split_last() else {
                return Err(LayerError::BadLink(name.clone()));
            };
            let tparent =
                open_beneath(root, &tparents.join("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .map_err(esc)?;
            let st = nix::sys::stat::fstatat(
                Some(tparent.as_raw_fd()),
                *tlast,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|_| LayerError::BadLink(name.clone()))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Err(LayerError::BadLink(name.clone()));
            }
            linkat(
                Some(tparent.as_raw_fd()),
                *tlast,
                Some(parent.as_raw_fd()),
                *last,
                AtFlags::empty(),
            )
            .map_err(nixerr)?;
        }
        tar::EntryType::Char | tar::EntryType::Block => {
            let major = header.device_major().map_err(ioerr)?.unwrap_or(0) as u64;
            let minor = header.device_minor().map_err(ioerr)?.unwrap_or(0) as u64;
            let kind = if kind == tar::EntryType::Char { SFlag::S_IFCHR } else { SFlag::S_IFBLK };
            match mknodat(
                Some(parent.as_raw_fd()),
                *last,
                kind,
                mode,
                nix::sys::stat::makedev(major, minor),
            ) {
                Ok(()) => {}
                // Without CAP_MKNOD (a user namespace, a rootless daemon) device
                // nodes are skipped, as rootless Docker and containerd do: the
                // runtime provides /dev anyway.
                Err(nix::Error::EPERM) => return Ok(0),
                Err(e) => return Err(nixerr(e)),
            }
            fchownat(
                Some(parent.as_raw_fd()),
                *last,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(nixerr)?;
        }
        tar::EntryType::Fifo => {
            mkfifoat(Some(parent.as_raw_fd()), *last, mode).map_err(nixerr)?;
        }
        // PAX/GNU long-name headers are consumed by the tar reader; anything
        // else (sockets, unknown types) has no place in a layer.
        _ => {}
    }
    Ok(written)
}

/// The entry's extended attributes (PAX `SCHILY.xattr.<name>` records).
pub(crate) fn xattrs(entry: &mut tar::Entry<'_, impl Read>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                out.push((name.to_owned(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// Sets xattrs on a file or directory. Overlay's own `trusted.overlay.*`
/// attributes are never taken from a layer (they would change how the
/// layers merge); namespaces the filesystem refuses are skipped.
pub(crate) fn apply_xattrs(fd: &impl AsRawFd, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    for (name, value) in xattrs {
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        match crate::fs::fsetxattr(fd, name, value) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("setting xattr {name}: {e}"))),
        }
    }
    Ok(())
}

/// Removes whatever stands at `name` unless both it and the new entry are
/// directories (a later directory entry only updates the earlier one).
pub(crate) fn replace_existing(parent: &OwnedFd, name: &str, new_is_dir: bool) -> io::Result<()> {
    let st =
        match nix::sys::stat::fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        {
            Ok(st) => st,
            Err(nix::Error::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir && new_is_dir {
        return Ok(());
    }
    if is_dir {
        remove_tree_at(parent, name)?;
        return Ok(());
    }
    unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)?;
    Ok(())
}

pub(crate) fn remove_tree_at(parent: &OwnedFd, name: &str) -> io::Result<()> {
    let dir = open_beneath(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(io::Error::other)?;
    let entries: Vec<(String, bool)> = {
        let mut d = nix::dir::Dir::from_fd(nix::unistd::dup(dir.as_raw_fd())?)?;
        d.iter()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let n = e.file_name().to_str().ok()?.to_owned();
                (n != "." && n != "..")
                    .then_some((n, e.file_type() == Some(nix::dir::Type::Directory)))
            })
            .collect()
    };
    for (n, is_dir) in entries {
        if is_dir {
            remove_tree_at(&dir, &n)?;
        } else {
            unlinkat(Some(dir.as_raw_fd()), n.as_str(), UnlinkatFlags::NoRemoveDir)?;
        }
    }
    unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::RemoveDir)?;
    Ok(())
}

fn set_opaque(dir: &OwnedFd) -> io::Result<()> {
    let f =
        open_beneath(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(io::Error::other)?;
    crate::fs::fsetxattr(&f, "trusted.overlay.opaque", b"y")
}

fn set_mtime(fd: std::os::fd::BorrowedFd<'_>, mtime: i64) {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    let _ = nix::sys::stat::futimens(fd.as_raw_fd(), &t, &t);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        // Write the raw name, so hostile names reach the extractor unchanged.
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_cksum();
        b.append(&h, body).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(kind);
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    #[test]
    fn extracts_a_tree() {
        let d = tempfile::tempdir().unwrap();
        let data = tarball(|b| {
            file(b, "./etc/hostname", b"box\n");
            link(b, tar::EntryType::Symlink, "bin", "usr/bin");
            link(b, tar::EntryType::Link, "etc/hn2", "etc/hostname");
        });
        let info = extract(data.as_slice(), d.path(), None).unwrap();
        assert_eq!(info.size, 4);
        assert!(info.diff_id.starts_with("sha256:"));
        assert_eq!(std::fs::read(d.path().join("etc/hn2")).unwrap(), b"box\n");
        assert_eq!(std::fs::read_link(d.path().join("bin")).unwrap(), Path::new("usr/bin"));
        // Same bytes, same diff id; gzip gives the same id (it hashes the tar).
        let d2 = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let mut copy = Vec::new();
        let info2 = extract(gz.as_slice(), d2.path(), Some(&mut copy)).unwrap();
        assert_eq!((info.diff_id.as_str(), info.size), (info2.diff_id.as_str(), info2.size));
        assert_eq!(copy, gz, "the tee gets the blob as read");
        assert_eq!(info2.blob_digest, format!("sha256:{}", hex::encode(Sha256::digest(&gz))));
        assert_eq!(info.blob_digest, info.diff_id, "an uncompressed blob is its own diff");
        let d3 = tempfile::tempdir().unwrap();
        let zst = zstd::stream::encode_all(data.as_slice(), 3).unwrap();
        let info3 = extract(zst.as_slice(), d3.path(), None).unwrap();
        assert_eq!(info3.diff_id, info.diff_id);
        assert_eq!(info3.blob_size, zst.len() as u64);
        assert_eq!(
            (info.compression, info2.compression, info3.compression),
            (Compression::None, Compression::Gzip, Compression::Zstd)
        );
    }

    fn refused(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let err = extract(tarball(build).as_slice(), &dest, None);
        assert!(err.is_err(), "hostile archive was accepted");
        let names: Vec<_> =
            std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["layer"], "something was written outside the layer");
    }

    #[test]
    fn refuses_hostile_archives() {
        refused(|b| file(b, "../escape", b"x"));
        refused(|b| file(b, "a/../../escape", b"x"));
        refused(|b| file(b, "/abs", b"x"));
        refused(|b| {
            link(b, tar::EntryType::Symlink, "evil", "..");
            file(b, "evil/escape", b"x");
        });
        refused(|b| {
            link(b, tar::EntryType::Symlink, "evil", "/tmp");
            file(b, "evil/escape", b"x");
        });
        refused(|b| link(b, tar::EntryType::Link, "h", "../outside"));
        refused(|b| {
            link(b, tar::EntryType::Symlink, "d", "..");
            link(b, tar::EntryType::Link, "h", "d/x");
        });
        refused(|_| {});
    }

    #[test]
    fn malformed_archive_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            extract(&b"this is not a tarball at all, not even close......"[..], d.path(), None),
            Err(LayerError::Malformed(_))
        ));
    }

    #[test]
    fn device_nodes_are_skipped_without_cap_mknod() {
        let data = tarball(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Char);
            h.set_size(0);
            h.set_mode(0o666);
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_data(&mut h, "dev/null", std::io::empty()).unwrap();
            file(b, "etc/hostname", b"x\n");
        });
        // Capabilities are per thread: drop CAP_MKNOD in a thread of our own.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().to_owned();
        let info = std::thread::spawn(move || {
            caps::drop(None, caps::CapSet::Effective, caps::Capability::CAP_MKNOD).unwrap();
            extract(&data[..], &dest, None)
        })
        .join()
        .unwrap()
        .expect("a layer with a device node extracts without CAP_MKNOD");
        assert!(!dir.path().join("dev/null").exists());
        assert_eq!(std::fs::read(dir.path().join("etc/hostname")).unwrap(), b"x\n");
        assert!(info.diff_id.starts_with("sha256:"));
    }
}
