//! The container's filesystem: overlay rootfs, the spec's mounts and device
//! nodes, pivot_root, masked and read-only paths.
//!
//! All of it runs inside the container's own mount namespace (after
//! `CLONE_NEWNS`), so nothing here is visible on the host and everything
//! goes away with the container's last process: no mount can leak.
//! Mount targets are resolved with `openat2(RESOLVE_IN_ROOT)` and mounted
//! through `/proc/self/fd/N`, so a symlink in an image can't redirect a
//! mount onto the host.

mod devices;
mod image_volume;

pub use devices::{create_device, dev_symlinks};
pub use image_volume::{mount_image_volume, ImageVolume};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Mount as OciMount;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{what} {target}: {err}")]
    Sys {
        what: &'static str,
        target: String,
        #[source]
        err: nix::Error,
    },
    #[error("mount destination {0:?} must be absolute")]
    Relative(PathBuf),
    #[error("read /proc/self/mountinfo: {0}")]
    MountInfo(#[source] std::io::Error),
    #[error("open {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("idmapped bind mount {0}: {1}")]
    Idmap(String, #[source] crate::mount_attr::StepError),
}

fn sys(what: &'static str, target: impl AsRef<Path>) -> impl FnOnce(nix::Error) -> MountError {
    let target = target.as_ref().display().to_string();
    move |err| MountError::Sys { what, target, err }
}

/// Sets the propagation of every mount of this (new) mount namespace:
/// private, unless the spec asks for `rslave` (a volume that receives the
/// host's mounts) or `rshared` (one that also sends its own back). For
/// `rshared` the mount that holds `rootfs` is then made private on its own,
/// so that the rootfs mounted there next never appears on the host, and
/// pivot_root (which refuses a shared parent) works.
pub fn make_private(propagation: Option<&str>, rootfs: &Path) -> Result<(), MountError> {
    let flag = match propagation {
        Some("slave") | Some("rslave") => MsFlags::MS_SLAVE,
        Some("shared") | Some("rshared") => MsFlags::MS_SHARED,
        _ => MsFlags::MS_PRIVATE,
    };
    mount(None::<&str>, "/", None::<&str>, flag | MsFlags::MS_REC, None::<&str>)
        .map_err(sys("make / private", "/"))?;
    if flag == MsFlags::MS_SHARED {
        let parent = rootfs.parent().unwrap_or(Path::new("/"));
        let info =
            std::fs::read_to_string("/proc/self/mountinfo").map_err(MountError::MountInfo)?;
        let holder = mount_point_of(&info, parent);
        mount(None::<&str>, &holder, None::<&str>, MsFlags::MS_PRIVATE, None::<&str>)
            .map_err(sys("make the rootfs's parent mount private", &holder))?;
    }
    Ok(())
}

/// The mount point (from mountinfo's text) that holds `path`: the longest
/// one `path` is at or below.
fn mount_point_of(mountinfo: &str, path: &Path) -> PathBuf {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .filter(|p| path.starts_with(p))
        .max_by_key(|p| p.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u16::from(b[i + 1] - b'0') * 64
                + u16::from(b[i + 2] - b'0') * 8
                + u16::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts the overlay rootfs at `target`.
pub fn mount_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), MountError> {
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(data.as_str()))
        .map_err(sys("mount overlay on", target))
}

/// Flags and data of OCI mount options.
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                let p = match o.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "shared" => MsFlags::MS_SHARED,
                    "slave" => MsFlags::MS_SLAVE,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                propagation |=
                    p | if o.starts_with('r') { MsFlags::MS_REC } else { MsFlags::empty() };
                continue;
            }
            "async" | "atime" | "diratime" | "norelatime" | "nostrictatime" | "defaults" => {
                continue
            }
            other => {
                data.push(other.to_owned());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, propagation, data.join(","))
}

fn in_root(root: &OwnedFd, rel: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = if rel.is_empty() { "." } else { rel };
    openat2(root.as_raw_fd(), rel, how).map(crate::fs::owned_fd)
}

/// Opens `dest` inside `root` (symlinks resolved as if `root` were `/`),
/// creating it — a directory, or an empty file when `file` — if missing.
pub fn ensure_in_root(root: &OwnedFd, dest: &Path, file: bool) -> Result<OwnedFd, MountError> {
    let s = dest.to_string_lossy();
    let comps: Vec<&str> = s.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let err = |e| MountError::Sys { what: "create mount point", target: s.to_string(), err: e };
    for i in 0..comps.len() {
        let prefix = comps[..=i].join("/");
        let last = i + 1 == comps.len();
        match in_root(root, &prefix, OFlag::O_PATH) {
            Ok(fd) if last => return Ok(fd),
            Ok(_) => continue,
            Err(nix::Error::ENOENT) => {
                let parent =
                    in_root(root, &comps[..i].join("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)
                        .map_err(err)?;
                if last && file {
                    let fd = nix::fcntl::openat(
                        Some(parent.as_raw_fd()),
                        comps[i],
                        OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_WRONLY
                            | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o644),
                    )
                    .map_err(err)?;
                    drop(crate::fs::owned_fd(fd));
                } else {
                    match nix::sys::stat::mkdirat(
                        Some(parent.as_raw_fd()),
                        comps[i],
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(nix::Error::EEXIST) => {}
                        Err(e) => return Err(err(e)),
                    }
                }
            }
            Err(e) => return Err(err(e)),
        }
    }
    in_root(root, &comps.join("/"), OFlag::O_PATH).map_err(err)
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// berth's own mount option (never passed to the kernel): an empty volume
/// first takes what the image has at its destination (Docker's copy-up).
pub const COPY_UP: &str = "berth.copy-up";

/// Docker's copy-up: into an empty `volume`, the tree at `dest` inside
/// `root` (resolved as if `root` were `/`), before the volume covers it.
fn copy_up_into(root: &OwnedFd, dest: &Path, volume: &Path) -> Result<(), MountError> {
    let io = |e: std::io::Error| MountError::Io(dest.display().to_string(), e);
    if !crate::fs::is_empty_dir(volume).map_err(io)? {
        return Ok(());
    }
    let from = match in_root(root, &dest.to_string_lossy(), OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
        Ok(fd) => fd,
        // Nothing there (or no directory): nothing to copy.
        Err(nix::Error::ENOENT | nix::Error::ENOTDIR) => return Ok(()),
        Err(e) => {
            return Err(MountError::Sys {
                what: "open for copy-up",
                target: dest.display().to_string(),
                err: e,
            })
        }
    };
    let to = nix::fcntl::open(
        volume,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(crate::fs::owned_fd)
    .map_err(|e| MountError::Sys {
        what: "open volume",
        target: volume.display().to_string(),
        err: e,
    })?;
    crate::fs::copy_tree(&from, &to).map_err(io)
}

/// Mounts one OCI mount inside `root`; a bind mount is idmapped through
/// `userns` when one is given (a user-namespaced pod's volumes).
pub fn mount_one(
    root: &OwnedFd,
    m: &OciMount,
    userns: Option<&std::fs::File>,
) -> Result<(), MountError> {
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(MountError::Relative(dest.clone()));
    }
    let mut opts = m.options().clone().unwrap_or_default();
    // runc's `rro`: read-only all the way down, applied after the bind.
    let len = opts.len();
    opts.retain(|o| o != "rro");
    let recursive_ro = opts.len() != len;
    let len = opts.len();
    opts.retain(|o| o != COPY_UP);
    let copy_up = opts.len() != len;
    let (flags, propagation, data) = parse_options(&opts);
    let typ = m.typ().clone().unwrap_or_default();
    let is_bind = flags.contains(MsFlags::MS_BIND) || typ == "bind";
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
    let file = is_bind && std::fs::metadata(&source).map(|md| !md.is_dir()).unwrap_or(false);
    if copy_up && is_bind && !file {
        copy_up_into(root, dest, &source)?;
    }
    let target = ensure_in_root(root, dest, file)?;
    let tpath = fd_path(&target);
    let data = (!data.is_empty()).then_some(data.as_str());
    if is_bind {
        match userns {
            Some(u) => crate::mount_attr::idmapped_bind(
                &source,
                &target,
                u,
                flags.contains(MsFlags::MS_REC),
            )
            .map_err(|e| MountError::Idmap(dest.display().to_string(), e))?,
            None => mount(
                Some(&source),
                tpath.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | (flags & MsFlags::MS_REC),
                None::<&str>,
            )
            .map_err(sys("bind mount", dest))?,
        }
        // Bind mounts ignore most flags until a remount applies them.
        let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            // Reopen: the fd still names the covered directory, not the new mount.
            let target = ensure_in_root(root, dest, file)?;
            mount(
                None::<&str>,
                fd_path(&target).as_str(),
                None::<&str>,
                extra | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(sys("remount", dest))?;
        }
    } else {
        mount(Some(&source), tpath.as_str(), Some(typ.as_str()), flags, data)
            .map_err(sys("mount", dest))?;
    }
    if !propagation.is_empty() {
        let target = ensure_in_root(root, dest, file)?;
        mount(None::<&str>, fd_path(&target).as_str(), None::<&str>, propagation, None::<&str>)
            .map_err(sys("set propagation of", dest))?;
    }
    if recursive_ro {
        let target = ensure_in_root(root, dest, file)?;
        crate::mount_attr::read_only_recursive(&target)
            .map_err(sys("make read-only recursively", dest))?;
    }
    Ok(())
}

/// Moves the root to `rootfs` and detaches the old one.
pub fn pivot_root(rootfs: &Path) -> Result<(), MountError> {
    let open_dir = |p: &Path| {
        nix::fcntl::open(p, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map(crate::fs::owned_fd)
            .map_err(sys("open", p))
    };
    let old_root = open_dir(Path::new("/"))?;
    let new_root = open_dir(rootfs)?;
    nix::unistd::fchdir(new_root.as_raw_fd()).map_err(sys("chdir", rootfs))?;
    // pivot_root(".", ".") stacks the old root on top of the new one at "/".
    // Step into the old root, keep its unmount from propagating anywhere,
    // and detach it; what is left at "/" is the container's root.
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
    nix::unistd::fchdir(old_root.as_raw_fd()).map_err(sys("chdir", "old root"))?;
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(sys("make old root slave", "/"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root", "/"))?;
    nix::unistd::chdir("/").map_err(sys("chdir", "/"))
}

/// Hides a path: /dev/null over a file, an empty read-only tmpfs over a dir.
pub fn mask(path: &Path) -> Result<(), MountError> {
    let res = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(md) if md.is_dir() => {
            mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>)
        }
        Ok(_) => mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>),
    };
    match res {
        Ok(()) | Err(nix::Error::ENOENT) => Ok(()),
        Err(e) => Err(sys("mask", path)(e)),
    }
}

/// Makes a path read-only (a bind of itself, remounted read-only).
pub fn read_only(path: &Path) -> Result<(), MountError> {
    match mount(Some(path), path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>) {
        Err(nix::Error::ENOENT) => return Ok(()),
        r => r.map_err(sys("bind", path))?,
    }
    remount_ro(path)
}

/// Remounts an existing mount point read-only, keeping its other flags.
pub fn remount_ro(path: &Path) -> Result<(), MountError> {
    let st = nix::sys::statvfs::statvfs(path).map_err(sys("statvfs", path))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let f = st.flags();
    use nix::sys::statvfs::FsFlags;
    for (have, want) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if f.contains(have) {
            flags |= want;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .map_err(sys("remount read-only", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_holding_a_path() {
        let info =
            "22 27 0:21 / /proc rw - proc proc rw\n27 1 8:1 / / rw - ext4 /dev/vda rw\n40 27 0:30 / /run rw - tmpfs tmpfs rw\n41 40 0:31 / /run/a\\040b rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_point_of(info, Path::new("/run/berth/x")), PathBuf::from("/run"));
        assert_eq!(mount_point_of(info, Path::new("/run/a b/c")), PathBuf::from("/run/a b"));
        assert_eq!(mount_point_of(info, Path::new("/var/lib")), PathBuf::from("/"));
        assert_eq!(mount_point_of(info, Path::new("/runner")), PathBuf::from("/"));
    }

    #[test]
    fn options_become_flags_and_data() {
        let o = |v: &[&str]| parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (f, p, d) = o(&["nosuid", "noexec", "nodev", "mode=755", "size=65536k"]);
        assert_eq!(f, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV);
        assert!(p.is_empty());
        assert_eq!(d, "mode=755,size=65536k");
        let (f, p, _) = o(&["rbind", "ro", "rslave"]);
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY);
        assert_eq!(p, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(o(&["ro", "rw"]).0, MsFlags::empty());
    }
}
