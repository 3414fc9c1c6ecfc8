//! A resource of the container as a tar stream, named as dockerd names
//! it: a directory's entries under the last element of the path as asked
//! (`/etc/` gives `etc/…`, `/etc/.` gives `./…`), anything else as one
//! entry of that name; a symlink as the last element is the link itself.
//! Everything is read relative to a descriptor of its directory with
//! `O_NOFOLLOW`, so a link swapped in while the copy runs is copied as a
//! link, never followed.

use super::{clean, kind, open_dir, CpError, View};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// How deep a copied tree may go.
const MAX_DEPTH: usize = 256;
/// The name field of a tar header.
const NAME_LEN: usize = 100;

impl View {
    /// Writes the resource at `path` to `out` as a tar stream.
    pub fn archive(&self, path: &str, out: impl Write) -> Result<(), CpError> {
        self.archive_as(path, &super::base(&clean(path)), out)
    }

    /// The same, its entries under `name` instead of the path's last element.
    pub fn archive_as(&self, path: &str, name: &str, out: impl Write) -> Result<(), CpError> {
        self.write_tar(path, name, false, out)
    }

    /// [`View::archive_as`] without what `skip` names: it is given each
    /// entry's path below `path` (`a`, `dir/b`); a directory skipped is
    /// skipped whole (COPY `--exclude`).
    pub fn archive_without(
        &self,
        path: &str,
        name: &str,
        skip: &dyn Fn(&str) -> bool,
        out: impl Write,
    ) -> Result<(), CpError> {
        self.write_tar_full(path, name, false, &[], Some(skip), out)
    }

    /// The whole tree as `docker export` writes it: names from the root
    /// (`bin/`, `etc/hosts`), no entry for the root itself.
    pub fn export(&self, out: impl Write) -> Result<(), CpError> {
        self.write_tar("/", "", false, out)
    }

    /// An overlay upper dir (the view's root) as an OCI layer: its
    /// whiteouts (0:0 character devices) as `.wh.<name>`, its opaque
    /// directories with `.wh..wh..opq` (`docker commit`). The paths in
    /// `unless_empty` are left out while they are empty files or dirs (the
    /// mount points a runtime made); a layer with nothing else has a `./`.
    pub fn layer(&self, unless_empty: &[&str], out: impl Write) -> Result<(), CpError> {
        self.write_tar_with("/", "", true, unless_empty, out)
    }

    fn write_tar(
        &self,
        path: &str,
        name: &str,
        layer: bool,
        out: impl Write,
    ) -> Result<(), CpError> {
        self.write_tar_with(path, name, layer, &[], out)
    }

    fn write_tar_with(
        &self,
        path: &str,
        name: &str,
        layer: bool,
        unless_empty: &[&str],
        out: impl Write,
    ) -> Result<(), CpError> {
        self.write_tar_full(path, name, layer, unless_empty, None, out)
    }

    fn write_tar_full(
        &self,
        path: &str,
        name: &str,
        layer: bool,
        unless_empty: &[&str],
        skip: Option<&dyn Fn(&str) -> bool>,
        out: impl Write,
    ) -> Result<(), CpError> {
        let path = clean(path);
        let w = self.walk(&path, false, false)?;
        let st = w.stat.ok_or_else(|| CpError::NotFound(path.clone()))?;
        let base = name.to_owned();
        let cpath = w.path();
        let mut tar = Tar {
            out: tar::Builder::new(out),
            links: HashMap::new(),
            view: self,
            layer,
            unless_empty,
            skip,
            root: cpath.trim_end_matches('/').len(),
            written: 0,
        };
        match &w.leaf {
            None => tar.tree(&w.dir, &st, &base, &cpath, 0)?,
            Some(leaf) if kind(&st) == libc::S_IFDIR => {
                let dir = open_dir(&w.dir, leaf, &cpath)?;
                tar.tree(&dir, &st, &base, &cpath, 0)?
            }
            Some(leaf) => tar.one(&w.dir, leaf, &st, &base, &cpath)?,
        }
        if layer && tar.written == 0 {
            // An empty layer is still one entry (extraction refuses none).
            let mut h = header(&st, tar::EntryType::Directory, 0);
            h.set_mode(0o755);
            tar.put(h, "./", None, io::empty(), "/")?;
        }
        tar.out.finish().map_err(|e| CpError::sys(&path, e))
    }
}

struct Tar<'v, W: Write> {
    out: tar::Builder<W>,
    /// Files with more than one link already written: (dev, ino) → their name.
    links: HashMap<(u64, u64), String>,
    view: &'v View,
    /// Whiteouts and opaque dirs in OCI's form (an upper dir made a layer).
    layer: bool,
    /// Container paths left out while empty.
    unless_empty: &'v [&'v str],
    /// Entries left out, by their path below the root.
    skip: Option<&'v dyn Fn(&str) -> bool>,
    /// The length of the root's container path (what precedes that path).
    root: usize,
    /// Entries written so far.
    written: usize,
}

impl<W: Write> Tar<'_, W> {
    /// A directory (`dir`, any descriptor of it) and what is in it.
    fn tree(
        &mut self,
        dir: &OwnedFd,
        st: &FileStat,
        name: &str,
        cpath: &str,
        depth: usize,
    ) -> Result<(), CpError> {
        if depth > MAX_DEPTH {
            return Err(CpError::Refused(format!("{cpath}: the tree is too deep to copy")));
        }
        // The root of an export or a layer has no entry, its children no prefix.
        let dname = if name.is_empty() || name.ends_with('/') {
            name.to_owned()
        } else {
            format!("{name}/")
        };
        if !dname.is_empty() {
            self.put(header(st, tar::EntryType::Directory, 0), &dname, None, io::empty(), cpath)?;
        }
        if self.layer && !dname.is_empty() && opaque(dir) {
            let mut h = header(st, tar::EntryType::Regular, 0);
            h.set_mode(0o644);
            self.put(h, &format!("{dname}.wh..wh..opq"), None, io::empty(), cpath)?;
        }
        let mut children = super::list(dir, cpath)?;
        children.sort();
        for child in children {
            let ccpath =
                if cpath == "/" { format!("/{child}") } else { format!("{cpath}/{child}") };
            let cname = format!("{dname}{child}");
            let cst = match fstatat(
                Some(dir.as_raw_fd()),
                child.as_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(s) => s,
                // Gone since the listing.
                Err(nix::Error::ENOENT) => continue,
                Err(e) => return Err(CpError::sys(&ccpath, e)),
            };
            if self.unless_empty.contains(&ccpath.as_str()) && empty(dir, &child, &cst) {
                continue;
            }
            if self.skip.is_some_and(|skip| skip(ccpath[self.root..].trim_start_matches('/'))) {
                continue;
            }
            if kind(&cst) != libc::S_IFDIR {
                self.one(dir, &child, &cst, &cname, &ccpath)?;
                continue;
            }
            if cst.st_dev != st.st_dev && !self.view.enters(&ccpath) {
                // Another filesystem the container has (/proc, /sys, /dev): its mount point only.
                self.put(
                    header(&cst, tar::EntryType::Directory, 0),
                    &format!("{cname}/"),
                    None,
                    io::empty(),
                    &ccpath,
                )?;
                continue;
            }
            let sub = match open_dir(dir, &child, &ccpath) {
                Ok(d) => d,
                Err(CpError::Sys { err, .. }) if err.raw_os_error() == Some(libc::ENOENT) => {
                    continue
                }
                Err(e) => return Err(e),
            };
            let sst = fstat(sub.as_raw_fd()).map_err(|e| CpError::sys(&ccpath, e))?;
            self.tree(&sub, &sst, &cname, &ccpath, depth + 1)?;
        }
        Ok(())
    }

    /// One entry that is not a directory: `leaf` in `dir`.
    fn one(
        &mut self,
        dir: &OwnedFd,
        leaf: &str,
        st: &FileStat,
        name: &str,
        cpath: &str,
    ) -> Result<(), CpError> {
        match kind(st) {
            libc::S_IFREG => {
                let fd = match nix::fcntl::openat(
                    Some(dir.as_raw_fd()),
                    leaf,
                    OFlag::O_RDONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_NOCTTY
                        | OFlag::O_NONBLOCK
                        | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => crate::fs::owned_fd(fd),
                    Err(nix::Error::ENOENT) => return Ok(()),
                    Err(e) => return Err(CpError::sys(cpath, e)),
                };
                let fst = fstat(fd.as_raw_fd()).map_err(|e| CpError::sys(cpath, e))?;
                if kind(&fst) != libc::S_IFREG || fst.st_ino != st.st_ino {
                    // Swapped for something else since it was looked at: not copied.
                    return Ok(());
                }
                if fst.st_nlink > 1 {
                    let key = (fst.st_dev, fst.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        return self.put(
                            header(&fst, tar::EntryType::Link, 0),
                            name,
                            Some(first.as_bytes()),
                            io::empty(),
                            cpath,
                        );
                    }
                    self.links.insert(key, name.to_owned());
                }
                let size = fst.st_size.max(0) as u64;
                let body = Exact { inner: std::fs::File::from(fd), left: size };
                self.put(header(&fst, tar::EntryType::Regular, size), name, None, body, cpath)
            }
            libc::S_IFLNK => {
                let target = match nix::fcntl::readlinkat(Some(dir.as_raw_fd()), leaf) {
                    Ok(t) => t,
                    Err(nix::Error::ENOENT) => return Ok(()),
                    Err(e) => return Err(CpError::sys(cpath, e)),
                };
                use std::os::unix::ffi::OsStrExt;
                self.put(
                    header(st, tar::EntryType::Symlink, 0),
                    name,
                    Some(target.as_bytes()),
                    io::empty(),
                    cpath,
                )
            }
            libc::S_IFCHR if self.layer && st.st_rdev == 0 => {
                // An overlay whiteout: OCI's `.wh.<name>`.
                let (dir_part, base) = name.rsplit_once('/').map_or(("", name), |(d, b)| (d, b));
                let wh = if dir_part.is_empty() {
                    format!(".wh.{base}")
                } else {
                    format!("{dir_part}/.wh.{base}")
                };
                let mut h = header(st, tar::EntryType::Regular, 0);
                h.set_mode(0o644);
                self.put(h, &wh, None, io::empty(), cpath)
            }
            libc::S_IFCHR | libc::S_IFBLK => {
                let t = if kind(st) == libc::S_IFCHR {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = header(st, t, 0);
                let (major, minor) =
                    (nix::sys::stat::major(st.st_rdev), nix::sys::stat::minor(st.st_rdev));
                h.set_device_major(major as u32).map_err(|e| CpError::sys(cpath, e))?;
                h.set_device_minor(minor as u32).map_err(|e| CpError::sys(cpath, e))?;
                self.put(h, name, None, io::empty(), cpath)
            }
            libc::S_IFIFO => {
                self.put(header(st, tar::EntryType::Fifo, 0), name, None, io::empty(), cpath)
            }
            // Sockets have no tar form (Go's archive/tar skips them too).
            _ => Ok(()),
        }
    }

    /// Writes `h` named `name` (and `link`), with GNU long-name records
    /// where a name is longer than the header holds. Names are written as
    /// given (`./x` stays `./x`, which the docker CLI's rebasing expects).
    fn put(
        &mut self,
        mut h: tar::Header,
        name: &str,
        link: Option<&[u8]>,
        body: impl Read,
        cpath: &str,
    ) -> Result<(), CpError> {
        let broken = |e| CpError::sys(cpath, e);
        let long =
            |out: &mut tar::Builder<W>, kind: tar::EntryType, value: &[u8]| -> io::Result<()> {
                let mut l = tar::Header::new_gnu();
                l.set_entry_type(kind);
                l.set_size(value.len() as u64 + 1);
                l.set_mode(0o644);
                l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                l.set_cksum();
                out.append(&l, value.chain(&b"\0"[..]))
            };
        let n = name.as_bytes();
        if n.len() > NAME_LEN {
            long(&mut self.out, tar::EntryType::GNULongName, n).map_err(broken)?;
        }
        h.as_old_mut().name[..n.len().min(NAME_LEN)].copy_from_slice(&n[..n.len().min(NAME_LEN)]);
        if let Some(t) = link {
            if t.len() > NAME_LEN {
                long(&mut self.out, tar::EntryType::GNULongLink, t).map_err(broken)?;
            }
            h.as_old_mut().linkname[..t.len().min(NAME_LEN)]
                .copy_from_slice(&t[..t.len().min(NAME_LEN)]);
        }
        h.set_cksum();
        self.written += 1;
        self.out.append(&h, body).map_err(broken)
    }
}

/// Whether `name` in `dir` is an empty file or an empty directory.
pub(super) fn empty(dir: &OwnedFd, name: &str, st: &FileStat) -> bool {
    match kind(st) {
        libc::S_IFREG => st.st_size == 0,
        libc::S_IFDIR => {
            let Ok(fd) = nix::fcntl::openat(
                Some(dir.as_raw_fd()),
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) else {
                return false;
            };
            let Ok(mut d) = nix::dir::Dir::from_fd(fd) else { return false };
            let only_dots = d
                .iter()
                .filter_map(Result::ok)
                .all(|e| matches!(e.file_name().to_bytes(), b"." | b".."));
            only_dots
        }
        _ => false,
    }
}

/// Whether an upper dir's directory is opaque (hides the layers below).
pub(super) fn opaque(dir: &OwnedFd) -> bool {
    let Ok(fd) = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let f = crate::fs::owned_fd(fd);
    matches!(crate::fs::fgetxattr(&f, "trusted.overlay.opaque").as_deref(), Ok(b"y"))
}

fn header(st: &FileStat, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h
}

/// Exactly `left` bytes of a file that may change while it is read: cut
/// where it grew, padded with zeros where it shrank (the header said its size).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}
