//! Terminal modes the CLI changes for a while (password prompts).

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use std::os::fd::{AsFd, BorrowedFd};

/// Turns off a terminal's echo until dropped.
pub struct EchoOff<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> EchoOff<'a> {
    /// `None` when `t` is not a terminal.
    pub fn new(t: &'a impl AsFd) -> Option<Self> {
        let fd = t.as_fd();
        let saved = tcgetattr(fd).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(fd, SetArg::TCSANOW, &quiet).ok()?;
        Some(Self { fd, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}
