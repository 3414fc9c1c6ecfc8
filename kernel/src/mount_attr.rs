//! `mount_setattr(2)` (Linux 5.12): attributes set on a mount and, with
//! `AT_RECURSIVE`, on every mount below it in one call. Recursive read-only
//! bind mounts need it: a plain `MS_REMOUNT|MS_RDONLY` changes only the top
//! mount, and a submount stays writable.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

/// `MOUNT_ATTR_RDONLY` from `<linux/mount.h>`.
const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;

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
        nix::libc::syscall(nix::libc::SYS_mount_setattr, fd.as_raw_fd(), c"".as_ptr(), flags, attr as *const MountAttr, std::mem::size_of::<MountAttr>())
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

/// Whether this kernel has `mount_setattr` (asked once: a call with a bad
/// descriptor fails with EBADF where the syscall exists, ENOSYS where not).
pub fn supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        // SAFETY: a NULL attr with size 0 and fd -1: the kernel validates the
        // arguments and touches no memory of ours.
        let r = unsafe { nix::libc::syscall(nix::libc::SYS_mount_setattr, -1, c"".as_ptr(), nix::libc::AT_EMPTY_PATH, std::ptr::null::<MountAttr>(), 0usize) };
        !(r < 0 && nix::Error::last() == nix::Error::ENOSYS)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_kernel_has_mount_setattr() {
        assert!(super::supported());
        assert_eq!(std::mem::size_of::<super::MountAttr>(), 32);
    }
}
