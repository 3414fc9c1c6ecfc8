//! The spec's device nodes under the container's tmpfs `/dev`, and the
//! standard `/dev` symlinks, made inside the rootfs by descriptor.

use super::{ensure_in_root, fd_path, in_root, sys, MountError};
use nix::fcntl::OFlag;
use nix::sys::stat::{mknodat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Creates the spec's device nodes inside `root` (under a tmpfs /dev).
pub fn create_device(root: &OwnedFd, d: &LinuxDevice) -> Result<(), MountError> {
    let path = d.path();
    let parent_dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = ensure_in_root(root, parent_dir, false)?;
    let parent = in_root(&parent, "", OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(sys("open", parent_dir))?;
    let kind = match d.typ() {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let mode = Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666));
    let dev = nix::sys::stat::makedev(d.major() as u64, d.minor() as u64);
    let _ = nix::unistd::unlinkat(
        Some(parent.as_raw_fd()),
        name.as_str(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    mknodat(Some(parent.as_raw_fd()), name.as_str(), kind, mode, dev)
        .map_err(sys("mknod", path))?;
    // mknod honours the umask; set the exact mode through a path fd.
    let node = in_root(&parent, &name, OFlag::O_PATH).map_err(sys("open", path))?;
    let _ = nix::sys::stat::fchmodat(
        None,
        fd_path(&node).as_str(),
        mode,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    );
    fchownat(
        Some(parent.as_raw_fd()),
        name.as_str(),
        Some(Uid::from_raw(d.uid().unwrap_or(0))),
        Some(Gid::from_raw(d.gid().unwrap_or(0))),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys("chown", path))
}

/// The /dev symlinks every container expects.
pub fn dev_symlinks(root: &OwnedFd) -> Result<(), MountError> {
    let dev = ensure_in_root(root, Path::new("/dev"), false)?;
    let dev = in_root(&dev, "", OFlag::O_PATH | OFlag::O_DIRECTORY).map_err(sys("open", "/dev"))?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        let _ = nix::unistd::unlinkat(
            Some(dev.as_raw_fd()),
            link,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), link)
            .map_err(sys("symlink", link))?;
    }
    Ok(())
}
