//! A tar stream extracted into a directory of the container, as dockerd's
//! chrooted untar does it, without a chroot: each entry's path is the
//! extraction point's resolved path plus the entry's name, walked from the
//! container's root (symlinks already there are followed inside the
//! container, missing directories made); the last element is never
//! followed: what stands there is replaced, not written through. Names
//! and hardlink targets that climb above the extraction point are refused.

use super::{clean, kind, open_dir, CpError, View, Walked};
use crate::layer::Compression;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// How an archive is extracted (Docker's `PUT /containers/{id}/archive`).
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: a directory may not replace a non-directory
    /// or the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Who owns what is written.
    pub owners: Owners,
    /// Entries whose first element is `.0` are written under `.1` instead
    /// (the docker CLI's rebasing: `cp ctr:/etc/hosts ./h` makes `h`).
    pub rename_top: Option<(String, String)>,
    /// Every file and directory written gets this mode instead of the
    /// archive's (a build's `COPY --chmod`).
    pub mode: Option<u32>,
    /// A regular file already there with the entry's size, mode, time,
    /// owner (the caller's) and bytes is kept as it is — not rewritten, so
    /// a link to it elsewhere stays valid and no inode is made (a build
    /// context extracted over the last one). Files up to 1 MiB.
    pub keep_identical: bool,
}

/// Files larger than this are always written anew by `keep_identical`.
const KEEP_MAX: u64 = 1 << 20;

/// Who owns the files an extraction writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Owners {
    /// The archive's owners (dockerd's default).
    #[default]
    Archive,
    /// This user and group (`copyUIDGID`: the container's user).
    Fixed(u32, u32),
    /// Whoever extracts (the CLI's side, as the docker CLI untars).
    Caller,
}

/// A directory of the container to extract into, resolved.
#[derive(Debug)]
pub struct ExtractionPoint {
    /// Its path in the container, every symlink resolved.
    pub path: String,
}

impl View {
    /// Removes what is at `path` (a directory with all it holds); its last
    /// element is not followed, so a symlink is removed, never what it
    /// points at. Nothing there is no error; the root can't be removed.
    pub fn remove(&self, path: &str) -> Result<(), CpError> {
        let w = match self.walk(&clean(path), false, false) {
            Err(CpError::NotFound(_)) => return Ok(()),
            w => w?,
        };
        let (Some(leaf), Some(st)) = (&w.leaf, &w.stat) else {
            return match w.leaf {
                Some(_) => Ok(()),
                None => Err(CpError::Refused("the root can't be removed".into())),
            };
        };
        let removed = if kind(st) == libc::S_IFDIR {
            crate::layer::remove_tree_at(&w.dir, leaf)
        } else {
            nix::unistd::unlinkat(
                Some(w.dir.as_raw_fd()),
                leaf.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(io::Error::from)
        };
        removed.map_err(|e| CpError::sys(&w.path(), e))
    }

    /// Removes each of `paths` that is an empty file or an empty directory
    /// (the mount points a runtime made, which a layer leaves out while
    /// empty), then the directories above it left empty (made for it; an
    /// opaque one, which hides what is below, stays).
    pub fn remove_empty(&self, paths: &[&str]) -> Result<(), CpError> {
        for p in paths {
            let mut path = clean(p);
            while path != "/" && self.remove_if_empty(&path)? {
                path = match path.rsplit_once('/') {
                    Some(("", _)) | None => "/".to_owned(),
                    Some((parent, _)) => parent.to_owned(),
                };
            }
        }
        Ok(())
    }

    /// Removes `path` if it is an empty file or an empty, not opaque, directory.
    fn remove_if_empty(&self, path: &str) -> Result<bool, CpError> {
        let w = match self.walk(path, false, false) {
            Err(CpError::NotFound(_)) => return Ok(false),
            w => w?,
        };
        let (Some(leaf), Some(st)) = (&w.leaf, &w.stat) else { return Ok(false) };
        if !super::out::empty(&w.dir, leaf, st) {
            return Ok(false);
        }
        if kind(st) == libc::S_IFDIR && super::out::opaque(&open_dir(&w.dir, leaf, path)?) {
            return Ok(false);
        }
        self.remove(path)?;
        Ok(true)
    }

    /// Resolves `path` (its last element followed too): it must exist and
    /// be a directory.
    pub fn extraction_point(&self, path: &str) -> Result<ExtractionPoint, CpError> {
        let w = self.walk(&clean(path), true, false)?;
        match w.stat {
            None => Err(CpError::NotFound(w.path())),
            Some(st) if kind(&st) != libc::S_IFDIR => Err(CpError::NotADirectory),
            Some(_) => Ok(ExtractionPoint { path: w.path() }),
        }
    }

    /// Extracts the tar stream `input` (plain, gzip, zstd, bzip2 or xz) into `point`.
    pub fn extract(
        &self,
        point: &ExtractionPoint,
        input: impl Read,
        opts: &ExtractOptions,
    ) -> Result<(), CpError> {
        self.extract_names(point, input, opts).map(drop)
    }

    /// As [`View::extract`]; the entries' paths (relative to `point`).
    pub fn extract_names(
        &self,
        point: &ExtractionPoint,
        input: impl Read,
        opts: &ExtractOptions,
    ) -> Result<Vec<String>, CpError> {
        let mut buffered = BufReader::with_capacity(256 * 1024, input);
        let head = buffered.fill_buf().map_err(CpError::Malformed)?;
        let plain: Box<dyn Read + '_> = match Compression::sniff(head) {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(CpError::Malformed)?,
            ),
            // Build contexts and ADD's archives may also be bzip2 or xz (as Docker's).
            Compression::None if head.starts_with(b"BZh") => {
                Box::new(bzip2::bufread::MultiBzDecoder::new(buffered))
            }
            Compression::None if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) => {
                Box::new(xz2::bufread::XzDecoder::new_multi_decoder(buffered))
            }
            Compression::None => Box::new(buffered),
        };
        let mut archive = tar::Archive::new(plain);
        let mut dirs: Vec<(String, i64)> = Vec::new();
        let mut names = Vec::new();
        for entry in archive.entries().map_err(CpError::Malformed)? {
            let mut entry = entry.map_err(CpError::Malformed)?;
            if let Some(d) = self.entry(point, &mut entry, opts, &mut names)? {
                dirs.push(d);
            }
        }
        // Directories' times last: their entries changed them.
        for (path, mtime) in dirs.iter().rev() {
            if let Ok(w) = self.walk(path, false, false) {
                if let Some(leaf) = &w.leaf {
                    set_times(&w.dir, leaf, *mtime);
                }
            }
        }
        Ok(names)
    }

    /// Writes one entry; a directory's path and time come back to be set last.
    fn entry(
        &self,
        point: &ExtractionPoint,
        entry: &mut tar::Entry<'_, impl Read>,
        opts: &ExtractOptions,
        names: &mut Vec<String>,
    ) -> Result<Option<(String, i64)>, CpError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw)
            .map_err(|_| CpError::Refused("an archive entry's name is not UTF-8".into()))?;
        let header = entry.header().clone();
        let t = header.entry_type();
        if matches!(
            t,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(None);
        }
        let Some(mut rel) = beneath(&name) else {
            return Err(CpError::Refused(format!(
                "archive entry {name:?} climbs out of the destination {}",
                point.path
            )));
        };
        if let Some((from, to)) = &opts.rename_top {
            if rel == *from || rel.starts_with(&format!("{from}/")) {
                rel = format!("{to}{}", &rel[from.len()..]);
            }
        }
        if rel.is_empty() {
            // The extraction point itself ("./"): left as it is, as dockerd does.
            return if t.is_dir() {
                Ok(None)
            } else {
                Err(CpError::Refused(format!(
                    "cannot overwrite directory {:?} with non-directory {name:?}",
                    point.path
                )))
            };
        }
        let full = format!("{}/{rel}", point.path.trim_end_matches('/'));
        let w = self.walk(&full, false, true)?;
        let Some(leaf) = w.leaf.clone() else {
            return Err(CpError::Refused(format!("archive entry {name:?} names a directory")));
        };
        let io_err = |e: io::Error| CpError::Sys { path: full.clone(), err: e };
        let sys = |e: nix::Error| CpError::Sys { path: full.clone(), err: e.into() };
        let is_dir = t.is_dir();
        names.push(rel.clone());
        // What was read of the entry to compare it with the file there.
        let mut held: Option<Vec<u8>> = None;
        let plain = opts.keep_identical && crate::layer::xattrs(entry).map_err(io_err)?.is_empty();
        if let (true, tar::EntryType::Regular, Some(old)) = (plain, t, &w.stat) {
            match identical(&w.dir, &leaf, old, &header, entry, opts).map_err(io_err)? {
                Compared::Same => return Ok(None),
                Compared::Differs(bytes) => held = Some(bytes),
                Compared::Unread => {}
            }
        }
        if let Some(old) = &w.stat {
            let old_dir = kind(old) == libc::S_IFDIR;
            if opts.no_overwrite_dir_non_dir && old_dir && !is_dir {
                return Err(CpError::Refused(format!(
                    "cannot overwrite directory {full:?} with non-directory {name:?}"
                )));
            }
            if opts.no_overwrite_dir_non_dir && !old_dir && is_dir {
                return Err(CpError::Refused(format!(
                    "cannot overwrite non-directory {full:?} with directory {name:?}"
                )));
            }
            if !(old_dir && is_dir) {
                crate::layer::replace_existing(&w.dir, &leaf, is_dir).map_err(io_err)?;
            }
        }
        let mode = Mode::from_bits_truncate(match opts.mode {
            Some(m) if t.is_file() || t.is_dir() => m & 0o7777,
            _ => header.mode().map_err(io_err)? & 0o7777,
        });
        let owner = match opts.owners {
            Owners::Fixed(u, g) => (Some(Uid::from_raw(u)), Some(Gid::from_raw(g))),
            Owners::Archive => (
                Some(Uid::from_raw(header.uid().map_err(io_err)? as u32)),
                Some(Gid::from_raw(header.gid().map_err(io_err)? as u32)),
            ),
            // Unchanged: (-1, -1).
            Owners::Caller => (None, None),
        };
        let mtime = header.mtime().unwrap_or(0) as i64;
        let xattrs = crate::layer::xattrs(entry).map_err(io_err)?;
        let dir = w.dir.as_raw_fd();
        let create = |flags: OFlag, m: u32| {
            nix::fcntl::openat(
                Some(dir),
                leaf.as_str(),
                flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(m),
            )
            .map(crate::fs::owned_fd)
        };
        match t {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut file = std::fs::File::from(
                    create(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL, 0o600).map_err(sys)?,
                );
                match &held {
                    Some(bytes) => io::Write::write_all(&mut file, bytes).map_err(io_err)?,
                    None => drop(io::copy(entry, &mut file).map_err(io_err)?),
                }
                nix::unistd::fchown(file.as_raw_fd(), owner.0, owner.1).map_err(sys)?;
                nix::sys::stat::fchmod(file.as_raw_fd(), mode).map_err(sys)?;
                crate::layer::apply_xattrs(&file, &xattrs).map_err(io_err)?;
                set_times(&w.dir, &leaf, mtime);
            }
            tar::EntryType::Directory => {
                match nix::sys::stat::mkdirat(
                    Some(dir),
                    leaf.as_str(),
                    Mode::from_bits_truncate(0o700),
                ) {
                    Ok(()) | Err(nix::Error::EEXIST) => {}
                    Err(e) => return Err(sys(e)),
                }
                let d = create(OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0).map_err(sys)?;
                nix::unistd::fchown(d.as_raw_fd(), owner.0, owner.1).map_err(sys)?;
                nix::sys::stat::fchmod(d.as_raw_fd(), mode).map_err(sys)?;
                crate::layer::apply_xattrs(&d, &xattrs).map_err(io_err)?;
                return Ok(Some((w.path(), mtime)));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| CpError::Refused(format!("symlink {name:?} has no target")))?;
                nix::unistd::symlinkat(
                    std::ffi::OsStr::from_bytes(&target),
                    Some(dir),
                    leaf.as_str(),
                )
                .map_err(sys)?;
                nix::unistd::fchownat(
                    Some(dir),
                    leaf.as_str(),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(sys)?;
                set_times(&w.dir, &leaf, mtime);
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| CpError::Refused(format!("hardlink {name:?} has no target")))?;
                let target = String::from_utf8_lossy(&target).into_owned();
                let refused = || {
                    CpError::Refused(format!(
                        "hardlink {name:?} points at {target:?}, outside the destination {}",
                        point.path
                    ))
                };
                let trel = beneath(&target).filter(|r| !r.is_empty()).ok_or_else(refused)?;
                let tw = self.walk(
                    &format!("{}/{trel}", point.path.trim_end_matches('/')),
                    false,
                    false,
                )?;
                let (Some(tleaf), Some(tst)) = (&tw.leaf, &tw.stat) else { return Err(refused()) };
                if kind(tst) == libc::S_IFDIR {
                    return Err(refused());
                }
                nix::unistd::linkat(
                    Some(tw.dir.as_raw_fd()),
                    tleaf.as_str(),
                    Some(dir),
                    leaf.as_str(),
                    AtFlags::empty(),
                )
                .map_err(sys)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (k, dev) = match t {
                    tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let major = u64::from(header.device_major().map_err(io_err)?.unwrap_or(0));
                        let minor = u64::from(header.device_minor().map_err(io_err)?.unwrap_or(0));
                        (
                            if t == tar::EntryType::Char { SFlag::S_IFCHR } else { SFlag::S_IFBLK },
                            nix::sys::stat::makedev(major, minor),
                        )
                    }
                };
                nix::sys::stat::mknodat(Some(dir), leaf.as_str(), k, mode, dev).map_err(sys)?;
                nix::unistd::fchownat(
                    Some(dir),
                    leaf.as_str(),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(sys)?;
                chmod_node(&w, &leaf, mode).map_err(sys)?;
                set_times(&w.dir, &leaf, mtime);
            }
            // Anything else (sockets, unknown types) is not a file to make.
            _ => {}
        }
        Ok(None)
    }
}

/// An entry's name (or a hardlink's target) relative to the extraction
/// point, cleaned; `None` if it climbs above it. A leading `/` counts from
/// the extraction point, as Go's `filepath.Join(dest, name)` takes it.
fn beneath(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Sets the mode of a node just made (mknod takes the umask off): through
/// a descriptor of it, so a symlink swapped in meanwhile is not followed.
fn chmod_node(w: &Walked, leaf: &str, mode: Mode) -> nix::Result<()> {
    let fd: OwnedFd = crate::fs::owned_fd(nix::fcntl::openat(
        Some(w.dir.as_raw_fd()),
        leaf,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?);
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(nix::Error::ELOOP);
    }
    // The magic link names the inode the descriptor holds, not a path.
    nix::sys::stat::fchmodat(
        None,
        format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
        mode,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// What `keep_identical` found.
enum Compared {
    /// The file there is the entry: kept (the entry was read).
    Same,
    /// It is not; the entry's bytes, read.
    Differs(Vec<u8>),
    /// Not compared (nothing read).
    Unread,
}

/// Whether the regular file `leaf` (stat `old`) is what `entry` would write.
fn identical(
    dir: &OwnedFd,
    leaf: &str,
    old: &nix::sys::stat::FileStat,
    header: &tar::Header,
    entry: &mut impl Read,
    opts: &ExtractOptions,
) -> io::Result<Compared> {
    let size = header.size()?;
    let mode = opts.mode.unwrap_or(header.mode()?) & 0o7777;
    let mtime = header.mtime().unwrap_or(0) as i64;
    let owner_ok = match opts.owners {
        Owners::Caller => {
            old.st_uid == Uid::effective().as_raw() && old.st_gid == Gid::effective().as_raw()
        }
        Owners::Fixed(u, g) => (old.st_uid, old.st_gid) == (u, g),
        Owners::Archive => {
            header.uid().ok() == Some(old.st_uid as u64)
                && header.gid().ok() == Some(old.st_gid as u64)
        }
    };
    let same_meta = kind(old) == libc::S_IFREG
        && old.st_size as u64 == size
        && old.st_mode & 0o7777 == mode
        && old.st_mtime == mtime
        && old.st_mtime_nsec == 0
        && owner_ok
        && size <= KEEP_MAX;
    if !same_meta {
        return Ok(Compared::Unread);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut bytes)?;
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        leaf,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )?;
    let mut there = Vec::with_capacity(size as usize);
    std::fs::File::from(crate::fs::owned_fd(fd)).take(size + 1).read_to_end(&mut there)?;
    Ok(if there == bytes { Compared::Same } else { Compared::Differs(bytes) })
}

fn set_times(dir: &OwnedFd, leaf: &str, mtime: i64) {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    let _ = nix::sys::stat::utimensat(
        Some(dir.as_raw_fd()),
        leaf,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}
