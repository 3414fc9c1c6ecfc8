//! `docker cp`: a container's files as the container sees them, read and
//! written only through descriptors, never through a host path.
//!
//! A [`View`] is the container's root as a descriptor: a running
//! container's `/proc/<pid>/root`, or for a stopped one a detached overlay
//! of its layers with its volumes and binds attached (in no mount
//! namespace; gone when the view is dropped, so nothing can be left
//! mounted). Every path is walked one component at a time from that root
//! (`walk`): each name is looked at with `fstatat(AT_SYMLINK_NOFOLLOW)`,
//! directories are entered with `openat(O_NOFOLLOW)`, and a symlink's
//! target is read and walked the same way, an absolute one from the
//! container's root and `..` never above it. A symlink the container
//! plants, or swaps in between two calls, can send a copy anywhere in the
//! container and nowhere else (the CVE-2018-15664 class).
//!
//! `out.rs` writes a resource as a tar stream (Docker's names and stat),
//! `into.rs` extracts a tar stream into a directory.

pub mod changes;
pub mod into;
pub mod out;

pub use into::{ExtractOptions, ExtractionPoint, Owners};

use crate::mount_attr::StepError;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// Symlinks followed in one walk before it is `ELOOP`, as Linux counts.
const MAX_LINKS: u32 = 40;

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// The path (or a directory on the way to it) does not exist.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// A copy into something that is not a directory.
    #[error("extraction point is not a directory")]
    NotADirectory,
    /// An archive entry that may not be written as asked.
    #[error("{0}")]
    Refused(String),
    #[error("malformed tar archive: {0}")]
    Malformed(#[source] io::Error),
    #[error("{path}: {err}")]
    Sys {
        path: String,
        #[source]
        err: io::Error,
    },
    #[error("mount the container's filesystem: {0}")]
    Mount(#[from] StepError),
}

impl CpError {
    fn sys(path: &str, err: impl Into<io::Error>) -> Self {
        CpError::Sys { path: path.to_owned(), err: err.into() }
    }

    /// The errno of a failed syscall, if that is what it was.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CpError::Sys { err, .. } => err.raw_os_error(),
            _ => None,
        }
    }
}

/// A mount of the container's that a view shows (volumes and binds).
#[derive(Debug, Clone)]
pub struct Mount {
    pub source: PathBuf,
    /// Where the container sees it (absolute).
    pub destination: String,
    pub read_only: bool,
}

/// A container's root, and the mounts a tree walk may enter.
#[derive(Debug)]
pub struct View {
    root: OwnedFd,
    /// Container paths of the mounts a recursive copy goes into; other
    /// mounts (`/proc`, `/sys`, `/dev`) are copied as empty directories,
    /// as dockerd, whose view has only the rootfs and volumes, shows them.
    descend: Vec<String>,
}

/// What a path names, in Docker's terms (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// The last element of the path as asked.
    pub name: String,
    pub size: u64,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// The path a symlink leads to, all the way (empty for others).
    pub link_target: String,
}

/// Where a walk ended: the directory holding the last element, its name
/// (`None`: the walk ended on `dir` itself, e.g. `/` or `etc/`), and what
/// is there (`None`: nothing yet).
#[derive(Debug)]
pub(crate) struct Walked {
    dir: OwnedFd,
    leaf: Option<String>,
    stat: Option<FileStat>,
    /// The resolved path from the root, the leaf included.
    names: Vec<String>,
}

impl Walked {
    fn path(&self) -> String {
        format!("/{}", self.names.join("/"))
    }
}

fn kind(st: &FileStat) -> u32 {
    st.st_mode & libc::S_IFMT
}

fn open_dir(dir: &OwnedFd, name: &str, path: &str) -> Result<OwnedFd, CpError> {
    nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(crate::fs::owned_fd)
    .map_err(|e| CpError::sys(path, e))
}

/// The names in a directory (any descriptor of it), `.` and `..` left out.
fn list(dir: &OwnedFd, path: &str) -> Result<Vec<String>, CpError> {
    let listing = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CpError::sys(path, e))?;
    Ok(nix::dir::Dir::from_fd(listing)
        .map_err(|e| CpError::sys(path, e))?
        .iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().ok().map(str::to_owned))
        .filter(|n| n != "." && n != "..")
        .collect())
}

/// Docker's lexical form of a path in the container: absolute and clean,
/// a trailing `/` or `/.` kept (they mean "the directory itself").
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if s != "/" {
        if path.ends_with("/.") {
            s.push_str("/.");
        } else if path.ends_with('/') {
            s.push('/');
        }
    }
    s
}

/// The last element of a cleaned path, as Go's `filepath.Base` gives it.
pub fn base(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

impl View {
    /// A running container's view: the root of its init's mount namespace.
    /// `descend`: its volumes', binds' and tmpfs' destinations.
    pub fn of_process(pid: i32, descend: Vec<String>) -> Result<Self, CpError> {
        let p = format!("/proc/{pid}/root");
        let root = nix::fcntl::open(
            p.as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CpError::sys(&p, e))?;
        Ok(Self {
            root: crate::fs::owned_fd(root),
            descend: descend.into_iter().map(|d| clean(&d)).collect(),
        })
    }

    /// A directory of this host as a root (the CLI's side of a copy): a
    /// tree extracted into it stays in it, whatever links it brings.
    pub fn of_dir(dir: &std::path::Path) -> Result<Self, CpError> {
        let root =
            crate::fs::open_root(dir).map_err(|e| CpError::sys(&dir.display().to_string(), e))?;
        Ok(Self { root, descend: Vec::new() })
    }

    /// A stopped container's view: a new overlay of `lower` (top first)
    /// under its `upper` dir, with `mounts` attached (mount points made
    /// as the shim makes them at start), read-only if its rootfs is. In no
    /// mount namespace: dropping the view unmounts it all.
    pub fn detached(
        lower: &[PathBuf],
        upper: &std::path::Path,
        work: &std::path::Path,
        read_only: bool,
        mounts: &[Mount],
    ) -> Result<Self, CpError> {
        let root = crate::mount_attr::detached_overlay(lower, upper, work, false)?;
        let mut view = Self { root, descend: Vec::new() };
        let mut ordered: Vec<&Mount> = mounts.iter().collect();
        ordered.sort_by_key(|m| clean(&m.destination).matches('/').count());
        for m in ordered {
            let is_dir = std::fs::metadata(&m.source)
                .map(|md| md.is_dir())
                .map_err(|e| CpError::sys(&m.source.display().to_string(), e))?;
            let w = view.walk(&m.destination, true, true)?;
            let target = match (&w.leaf, &w.stat) {
                (Some(leaf), None) => {
                    let made = if is_dir {
                        nix::sys::stat::mkdirat(
                            Some(w.dir.as_raw_fd()),
                            leaf.as_str(),
                            Mode::from_bits_truncate(0o755),
                        )
                    } else {
                        nix::fcntl::openat(
                            Some(w.dir.as_raw_fd()),
                            leaf.as_str(),
                            OFlag::O_CREAT
                                | OFlag::O_EXCL
                                | OFlag::O_WRONLY
                                | OFlag::O_NOFOLLOW
                                | OFlag::O_CLOEXEC,
                            Mode::from_bits_truncate(0o644),
                        )
                        .map(|fd| drop(crate::fs::owned_fd(fd)))
                    };
                    made.map_err(|e| CpError::sys(&w.path(), e))?;
                    nix::fcntl::openat(
                        Some(w.dir.as_raw_fd()),
                        leaf.as_str(),
                        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map(crate::fs::owned_fd)
                    .map_err(|e| CpError::sys(&w.path(), e))?
                }
                (Some(leaf), Some(_)) => nix::fcntl::openat(
                    Some(w.dir.as_raw_fd()),
                    leaf.as_str(),
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map(crate::fs::owned_fd)
                .map_err(|e| CpError::sys(&w.path(), e))?,
                (None, _) => w.dir.try_clone().map_err(|e| CpError::sys(&w.path(), e))?,
            };
            crate::mount_attr::bind_at(&m.source, &target, m.read_only, true)?;
            view.descend.push(w.path());
        }
        if read_only {
            crate::mount_attr::read_only(&view.root).map_err(|e| CpError::sys("/", e))?;
        }
        Ok(view)
    }

    /// Walks `path` from the container's root. Symlinks on the way are
    /// followed (inside the container); the last element's only with
    /// `follow_last`, or when the path ends in `/` or `/.`. With `create`,
    /// missing directories on the way are made (0755).
    pub(crate) fn walk(
        &self,
        path: &str,
        follow_last: bool,
        create: bool,
    ) -> Result<Walked, CpError> {
        let mut pending: VecDeque<String> = path.split('/').map(str::to_owned).collect();
        let mut dirs: Vec<OwnedFd> =
            vec![self.root.try_clone().map_err(|e| CpError::sys("/", e))?];
        let mut names: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if !names.is_empty() {
                        names.pop();
                        dirs.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let last = pending.is_empty();
            let here = || {
                format!(
                    "/{}",
                    names.iter().chain(std::iter::once(&c)).cloned().collect::<Vec<_>>().join("/")
                )
            };
            let parent = dirs.last().expect("the root is never popped");
            let st =
                match fstatat(Some(parent.as_raw_fd()), c.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(nix::Error::ENOENT) if last => {
                        let dir = dirs.pop().expect("the root is never popped");
                        names.push(c.clone());
                        return Ok(Walked { dir, leaf: Some(c), stat: None, names });
                    }
                    Err(nix::Error::ENOENT) if create => {
                        match nix::sys::stat::mkdirat(
                            Some(parent.as_raw_fd()),
                            c.as_str(),
                            Mode::from_bits_truncate(0o755),
                        ) {
                            Ok(()) | Err(nix::Error::EEXIST) => {}
                            Err(e) => return Err(CpError::sys(&here(), e)),
                        }
                        pending.push_front(c);
                        continue;
                    }
                    Err(nix::Error::ENOENT) => {
                        // The path as far as it resolves, the rest as asked (a dangling link's target).
                        let rest: Vec<&str> = pending
                            .iter()
                            .map(String::as_str)
                            .filter(|p| !p.is_empty() && *p != ".")
                            .collect();
                        return Err(CpError::NotFound(if rest.is_empty() {
                            here()
                        } else {
                            format!("{}/{}", here(), rest.join("/"))
                        }));
                    }
                    Err(e) => return Err(CpError::sys(&here(), e)),
                };
            if kind(&st) == libc::S_IFLNK && (!last || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(CpError::sys(&here(), nix::Error::ELOOP));
                }
                let target = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), c.as_str())
                    .map_err(|e| CpError::sys(&here(), e))?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    names.clear();
                    dirs.truncate(1);
                }
                for t in target.split('/').rev() {
                    pending.push_front(t.to_owned());
                }
                continue;
            }
            if last {
                let dir = dirs.pop().expect("the root is never popped");
                names.push(c.clone());
                return Ok(Walked { dir, leaf: Some(c), stat: Some(st), names });
            }
            if kind(&st) != libc::S_IFDIR {
                return Err(CpError::sys(&here(), nix::Error::ENOTDIR));
            }
            let fd = open_dir(parent, &c, &here())?;
            dirs.push(fd);
            names.push(c);
        }
        let dir = dirs.pop().expect("the root is never popped");
        let st = fstat(dir.as_raw_fd())
            .map_err(|e| CpError::sys(&format!("/{}", names.join("/")), e))?;
        Ok(Walked { dir, leaf: None, stat: Some(st), names })
    }

    /// Docker's stat of `path`: the last element not followed (unless the
    /// path ends in `/`), a symlink's target resolved all the way.
    pub fn stat(&self, path: &str) -> Result<PathStat, CpError> {
        let path = clean(path);
        let w = self.walk(&path, false, false)?;
        let st = w.stat.ok_or_else(|| CpError::NotFound(path.clone()))?;
        let link_target = match kind(&st) == libc::S_IFLNK {
            // Where it leads, whether or not something is there (as dockerd says it).
            true => match self.walk(&path, true, false) {
                Ok(t) => t.path(),
                Err(CpError::NotFound(p)) => p,
                Err(e) => return Err(e),
            },
            false => String::new(),
        };
        Ok(PathStat {
            name: base(&path),
            size: st.st_size as u64,
            mode: st.st_mode,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            link_target,
        })
    }

    /// `user[:group]` as ids, looked up in the container's own passwd and
    /// group files (Docker's `copyUIDGID`).
    pub fn owner(&self, spec: &str) -> Result<(u32, u32), CpError> {
        let read = |path: &str| -> String {
            let Ok(w) = self.walk(path, true, false) else { return String::new() };
            let (Some(leaf), Some(st)) = (&w.leaf, &w.stat) else { return String::new() };
            if kind(st) != libc::S_IFREG {
                return String::new();
            }
            let Ok(fd) = nix::fcntl::openat(
                Some(w.dir.as_raw_fd()),
                leaf.as_str(),
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) else {
                return String::new();
            };
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(
                &mut std::io::Read::take(std::fs::File::from(crate::fs::owned_fd(fd)), 4 << 20),
                &mut text,
            );
            text
        };
        let u = crate::user::resolve(spec, &read("/etc/passwd"), &read("/etc/group"))
            .map_err(|e| CpError::Refused(e.to_string()))?;
        Ok((u.uid, u.gid))
    }

    /// Whether a tree walk enters the directory at container path `path`,
    /// found on another filesystem than its parent.
    fn enters(&self, path: &str) -> bool {
        self.descend.iter().any(|d| d == path)
    }
}

#[cfg(test)]
mod tests;
