//! The new mount API (Linux 5.12): `mount_setattr(2)` sets attributes on a
//! mount and, with `AT_RECURSIVE`, on every mount below it in one call;
//! `open_tree(2)` and `move_mount(2)` make and attach a detached copy;
//! `fsopen(2)`, `fsconfig(2)` and `fsmount(2)` make a new mount that is in
//! no mount namespace at all.
//!
//! - Recursive read-only bind mounts: a plain `MS_REMOUNT|MS_RDONLY`
//!   changes only the top mount, and a submount stays writable.
//! - Idmapped mounts (user-namespaced pods): a copy of a dir whose owners
//!   are shown through a user namespace's mapping, so the image's root-owned
//!   layers are owned by the pod's root without a chown of any file.
//! - Detached views of a stopped container (`docker cp`): its overlay and
//!   volumes, reachable only through a descriptor, gone when it closes, so
//!   nothing is mounted on the node and nothing can be left behind.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `MOUNT_ATTR_RDONLY` from `<linux/mount.h>`.
const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_IDMAP`.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// `OPEN_TREE_CLONE` from `<linux/mount.h>`.
const OPEN_TREE_CLONE: u32 = 1;
/// `MOVE_MOUNT_F_EMPTY_PATH`, `MOVE_MOUNT_T_EMPTY_PATH`.
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x0000_0004;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x0000_0040;

/// `struct mount_attr` from `<linux/mount.h>` (version 0, 32 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn setattr(fd: &OwnedFd, recursive: bool, attr: &MountAttr) -> nix::Result<()> {
    let flags = nix::libc::AT_EMPTY_PATH | if recursive { nix::libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is a NUL-terminated empty string, `attr` points to a
    // live struct of the size passed, and the kernel only reads both.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(nix::Error::last())
    } else {
        Ok(())
    }
}

/// Makes the mount at `fd` (an `O_PATH` descriptor of its root) and every
/// mount below it read-only.
pub fn read_only_recursive(fd: &OwnedFd) -> nix::Result<()> {
    setattr(fd, true, &MountAttr { attr_set: MOUNT_ATTR_RDONLY, ..Default::default() })
}

/// Makes the mount at `fd` read-only (the mounts below it keep theirs).
pub fn read_only(fd: &OwnedFd) -> nix::Result<()> {
    setattr(fd, false, &MountAttr { attr_set: MOUNT_ATTR_RDONLY, ..Default::default() })
}

/// The step of a mount API sequence that failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {err}")]
pub struct StepError {
    pub step: &'static str,
    #[source]
    pub err: nix::Error,
}

fn cpath(p: &Path) -> nix::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)
}

/// A detached copy of the mount tree at `path` (`recursive`: with every
/// mount below it).
fn clone_tree(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let c = cpath(path)?;
    let flags = OPEN_TREE_CLONE
        | nix::libc::O_CLOEXEC as u32
        | if recursive { nix::libc::AT_RECURSIVE as u32 } else { 0 };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let fd = unsafe {
        nix::libc::syscall(nix::libc::SYS_open_tree, nix::libc::AT_FDCWD, c.as_ptr(), flags)
    };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches the detached tree `fd` on the dir (or file) `target` names,
/// by descriptor: no path is resolved again.
fn attach(fd: &OwnedFd, target: &impl AsFd) -> nix::Result<()> {
    // SAFETY: both paths are empty NUL-terminated strings; the descriptors
    // are live for the call.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_move_mount,
            fd.as_raw_fd(),
            c"".as_ptr(),
            target.as_fd().as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        Err(nix::Error::last())
    } else {
        Ok(())
    }
}

/// Mounts an idmapped copy of `source` (and, `recursive`, every mount
/// below it) on `target` (an open dir or file, `O_PATH` will do): owners on
/// disk are shown through `userns`'s mapping (disk uid 0 is the namespace's
/// root). `target` may be `source` itself: the copy then covers it, in this
/// mount namespace only.
pub fn idmapped_bind(
    source: &Path,
    target: &impl AsFd,
    userns: &impl AsFd,
    recursive: bool,
) -> Result<(), StepError> {
    let step = |step: &'static str| move |err| StepError { step, err };
    let tree = clone_tree(source, recursive).map_err(step("open_tree"))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_fd().as_raw_fd() as u64,
        ..Default::default()
    };
    setattr(&tree, recursive, &attr).map_err(step("mount_setattr"))?;
    attach(&tree, target).map_err(step("move_mount"))
}

/// Whether this kernel has `mount_setattr` (asked once: a call with a bad
/// descriptor fails with EBADF where the syscall exists, ENOSYS where not).
pub fn supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        // SAFETY: a NULL attr with size 0 and fd -1: the kernel validates the
        // arguments and touches no memory of ours.
        let r = unsafe {
            nix::libc::syscall(
                nix::libc::SYS_mount_setattr,
                -1,
                c"".as_ptr(),
                nix::libc::AT_EMPTY_PATH,
                std::ptr::null::<MountAttr>(),
                0usize,
            )
        };
        !(r < 0 && nix::Error::last() == nix::Error::ENOSYS)
    })
}

/// `FSOPEN_CLOEXEC`, `FSMOUNT_CLOEXEC`, `FSCONFIG_SET_STRING`, `FSCONFIG_CMD_CREATE`.
const FSOPEN_CLOEXEC: u32 = 1;
const FSMOUNT_CLOEXEC: u32 = 1;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;

fn owned(r: i64) -> nix::Result<OwnedFd> {
    if r < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

fn fsconfig_string(fs: &OwnedFd, key: &std::ffi::CStr, value: &Path) -> nix::Result<()> {
    let v = cpath(value)?;
    // SAFETY: key and value are NUL-terminated strings that outlive the call.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            v.as_ptr(),
            0,
        )
    };
    if r < 0 {
        Err(nix::Error::last())
    } else {
        Ok(())
    }
}

/// A new overlay mount of `lower` (top first) under `upper`, attached
/// nowhere: the returned descriptor is its root, and the mount goes away
/// with the last descriptor of it. Layers are added one by one
/// (`lowerdir+`, Linux 6.8), so no option string limits their number.
pub fn detached_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    read_only: bool,
) -> Result<OwnedFd, StepError> {
    let step = |step: &'static str| move |err| StepError { step, err };
    // SAFETY: the name is a NUL-terminated string that outlives the call.
    let fs = owned(unsafe {
        nix::libc::syscall(nix::libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC)
    })
    .map_err(step("fsopen overlay"))?;
    for l in lower {
        fsconfig_string(&fs, c"lowerdir+", l).map_err(step("fsconfig lowerdir+"))?;
    }
    fsconfig_string(&fs, c"upperdir", upper).map_err(step("fsconfig upperdir"))?;
    fsconfig_string(&fs, c"workdir", work).map_err(step("fsconfig workdir"))?;
    // SAFETY: no pointers are passed.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        )
    };
    if r < 0 {
        return Err(StepError { step: "fsconfig create", err: nix::Error::last() });
    }
    let attrs = if read_only { MOUNT_ATTR_RDONLY } else { 0 };
    // SAFETY: no pointers are passed.
    owned(unsafe {
        nix::libc::syscall(nix::libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
    })
    .map_err(step("fsmount"))
}

/// Binds a copy of `source` (with the mounts below it, `recursive`) on
/// `target`, a dir or file of a detached tree (or of this namespace),
/// read-only if asked.
pub fn bind_at(
    source: &Path,
    target: &impl AsFd,
    read_only: bool,
    recursive: bool,
) -> Result<(), StepError> {
    let step = |step: &'static str| move |err| StepError { step, err };
    let tree = clone_tree(source, recursive).map_err(step("open_tree"))?;
    if read_only {
        setattr(&tree, recursive, &MountAttr { attr_set: MOUNT_ATTR_RDONLY, ..Default::default() })
            .map_err(step("mount_setattr"))?;
    }
    attach(&tree, target).map_err(step("move_mount"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_kernel_has_mount_setattr() {
        assert!(super::supported());
        assert_eq!(std::mem::size_of::<super::MountAttr>(), 32);
    }
}
