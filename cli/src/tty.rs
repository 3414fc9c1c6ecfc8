//! Terminal modes the CLI changes for a while (password prompts, raw mode
//! for `-it`) and the terminal size it tells the daemon.

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

/// Puts a terminal in raw mode (as `docker run -it` does) until dropped.
pub struct Raw<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> Raw<'a> {
    /// `None` when `t` is not a terminal.
    pub fn new(t: &'a impl AsFd) -> Option<Self> {
        let fd = t.as_fd();
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(Self { fd, saved })
    }
}

impl Drop for Raw<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// The terminal's size as (rows, columns), if `t` is one.
pub fn size(t: &impl AsFd) -> Option<(u16, u16)> {
    let w = rustix::termios::tcgetwinsize(t.as_fd()).ok()?;
    (w.ws_row > 0 && w.ws_col > 0).then_some((w.ws_row, w.ws_col))
}
