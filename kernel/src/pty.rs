//! Pseudo-terminals for `exec -t`: allocated inside the container's own
//! devpts (as runc does), so the terminal the process sees is one of the
//! container's, never the host's.
//!
//! The exec helper opens the master after it has joined the container's
//! mount namespace, checks that what it opened really is the pty
//! multiplexer (the container controls its `/dev`), gets the peer without
//! a path lookup (`TIOCGPTPEER`), and passes the master to berthd over a
//! socket (`SCM_RIGHTS`). berthd then only reads, writes and resizes it.
#![allow(unsafe_code)]

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::stat::{fstat, major, minor, SFlag};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The pty multiplexer is character device 5:2 (on devtmpfs or devpts).
const PTMX: (u64, u64) = (5, 2);

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A new pty from the current mount namespace's `/dev/ptmx`: (master,
/// slave). Both are close-on-exec; the master is non-blocking.
pub fn open() -> io::Result<(OwnedFd, OwnedFd)> {
    let path = c"/dev/ptmx";
    // O_NONBLOCK: a FIFO planted at /dev/ptmx must not hang us.
    // SAFETY: open(2) of a NUL-terminated path; the result is checked.
    let fd = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = fstat(master.as_raw_fd()).map_err(io::Error::from)?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || (major(st.st_rdev), minor(st.st_rdev)) != PTMX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "/dev/ptmx in the container is not the pty multiplexer",
        ));
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which is valid.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let peer = check(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `peer` is a new descriptor owned by nothing else.
    let slave = unsafe { OwnedFd::from_raw_fd(peer) };
    Ok((master, slave))
}

/// In a freshly forked child: a new session with `slave` as its
/// controlling terminal and as stdin, stdout and stderr.
pub fn make_controlling(slave: &OwnedFd) -> io::Result<()> {
    nix::unistd::setsid().map_err(io::Error::from)?;
    // SAFETY: TIOCSCTTY takes an int by value (0: don't steal).
    check(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors; both are valid fds.
        check(unsafe { libc::dup2(slave.as_raw_fd(), target) })?;
    }
    Ok(())
}

/// Sets the terminal size (what `kubectl exec -t` sends on resize).
pub fn resize(master: BorrowedFd<'_>, cols: u16, rows: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize through the pointer, which is valid.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Sends one descriptor over a unix socket.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    let iov = [IoSlice::new(b"p")];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(io::Error::from)?;
    Ok(())
}

/// Receives the descriptor [`send_fd`] sent; close-on-exec.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    recv_fd_or_bytes(sock)?
        .0
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no terminal was passed"))
}

/// Receives a descriptor, or else the bytes the peer sent instead (such as
/// a failure report); both empty at end of stream.
pub fn recv_fd_or_bytes(sock: BorrowedFd<'_>) -> io::Result<(Option<OwnedFd>, Vec<u8>)> {
    let mut bytes = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut bytes)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg =
        recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(io::Error::from)?;
    let n = msg.bytes;
    let mut got = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: SCM_RIGHTS installed these descriptors for us alone.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    let data = if got.is_some() { Vec::new() } else { bytes[..n].to_vec() };
    Ok((got, data))
}
