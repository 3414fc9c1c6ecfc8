//! The shim's single-threaded loop: container output to the log, exits
//! reaped through a signalfd, requests from berthd on the socket.

use crate::container::{self, Container};
use berth_proto::crilog::Stream;
use berth_proto::shim::{request, response, take_frame, write_frame, Request, Response, State};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long output is still collected after the container's init exited
/// (a process that escaped the pid namespace's teardown can't hold us).
const DRAIN: Duration = Duration::from_secs(2);

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    waiting: bool,
}

/// Serves until the container has exited and its output is drained.
pub fn run(c: &mut Container, bundle: &Path) {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let _ = mask.thread_block();
    // SIGPIPE from a vanished peer must not kill the shim.
    #[allow(unsafe_code)]
    // SAFETY: setting a signal's disposition to ignore installs no handler code.
    unsafe {
        let _ = nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn);
    }
    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut conns: Vec<Conn> = Vec::new();
    let mut exited_at: Option<Instant> = None;
    // A SIGCHLD may have arrived before the mask was in place.
    reap(c);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if c.exit.is_some() {
            let since = *exited_at.get_or_insert_with(Instant::now);
            if (c.stdout.is_none() && c.stderr.is_none()) || since.elapsed() > DRAIN {
                break;
            }
        }
        let timeout = if exited_at.is_some() { PollTimeout::from(100u16) } else { PollTimeout::NONE };
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN), PollFd::new(c.listener.as_fd(), PollFlags::POLLIN)];
        let out_idx = c.stdout.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let err_idx = c.stderr.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let conn_base = fds.len();
        for conn in &conns {
            fds.push(PollFd::new(conn.stream.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(_) => break,
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        let sig_ready = ready(0);
        let accept_ready = ready(1);
        let out_ready = out_idx.is_some_and(ready);
        let err_ready = err_idx.is_some_and(ready);
        let conn_ready: Vec<bool> = (0..conns.len()).map(|i| ready(conn_base + i)).collect();
        drop(fds);

        if out_ready {
            pump(&mut c.stdout, Stream::Stdout, &mut c.logger, &mut buf);
        }
        if err_ready {
            pump(&mut c.stderr, Stream::Stderr, &mut c.logger, &mut buf);
        }
        if sig_ready {
            while sfd.read_signal().ok().flatten().is_some() {}
            reap(c);
        }
        if accept_ready {
            accept(c, &mut conns);
        }
        let mut closed = Vec::new();
        for (i, r) in conn_ready.into_iter().enumerate() {
            if r && !serve_conn(c, &mut conns[i]) {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            conns.remove(i);
        }
    }
    // Output that is still buffered as a partial line ends the log.
    for (fd, s) in [(&mut c.stdout, Stream::Stdout), (&mut c.stderr, Stream::Stderr)] {
        if fd.take().is_some() {
            c.logger.finish(s);
        }
    }
    let exit = container::finish(c, bundle);
    let resp = Response { kind: Some(response::Kind::Exit((&exit).into())) };
    for conn in conns.iter_mut().filter(|c| c.waiting) {
        let _ = write_frame(&mut conn.stream, &resp);
    }
}

/// Copies what a pipe has into the log; at EOF the stream is finished.
fn pump(fd: &mut Option<OwnedFd>, s: Stream, logger: &mut crate::logger::Logger, buf: &mut [u8]) {
    let Some(f) = fd.as_ref() else { return };
    match nix::unistd::read(f.as_raw_fd(), buf) {
        Ok(0) => {
            *fd = None;
            logger.finish(s);
        }
        Ok(n) => logger.write(s, &buf[..n]),
        Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => {}
        Err(_) => {
            *fd = None;
            logger.finish(s);
        }
    }
}

/// Reaps every exited child; records the container init's status.
fn reap(c: &mut Container) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(st) => {
                if st.pid() == Some(c.pid) && c.exit.is_none() {
                    let oom = c.cgroup.as_ref().is_some_and(|cg| cg.oom_killed());
                    c.exit = Some(container::exit_record(st, oom));
                }
            }
        }
    }
}

fn accept(c: &Container, conns: &mut Vec<Conn>) {
    while let Ok((stream, _)) = c.listener.accept() {
        // Only root (or the shim's own user) may drive the shim.
        let me = nix::unistd::geteuid().as_raw();
        match getsockopt(&stream, PeerCredentials) {
            Ok(cred) if cred.uid() == 0 || cred.uid() == me => {}
            _ => continue,
        }
        let _ = stream.set_nonblocking(true);
        conns.push(Conn { stream, buf: Vec::new(), waiting: false });
    }
}

/// Reads and answers a connection's requests; false when it is closed.
fn serve_conn(c: &mut Container, conn: &mut Conn) -> bool {
    let mut tmp = [0u8; 4096];
    loop {
        match conn.stream.read(&mut tmp) {
            Ok(0) => return false,
            Ok(n) => conn.buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    loop {
        let req: Request = match take_frame(&mut conn.buf) {
            Ok(Some(r)) => r,
            Ok(None) => return true,
            Err(_) => return false,
        };
        let resp = match req.kind {
            Some(request::Kind::State(_)) => response::Kind::State(State {
                pid: c.pid(),
                running: c.exit.is_none(),
                exit: c.exit.as_ref().map(Into::into),
            }),
            Some(request::Kind::Kill(k)) => match kill(c, k.signal, k.all) {
                Ok(()) => response::Kind::Ok(true),
                Err(e) => response::Kind::Error(e),
            },
            Some(request::Kind::Wait(_)) => {
                // Answered when the container has exited (after the loop).
                conn.waiting = true;
                continue;
            }
            Some(request::Kind::ReopenLog(_)) => match c.logger.reopen() {
                Ok(()) => response::Kind::Ok(true),
                Err(e) => response::Kind::Error(format!("reopen log: {e}")),
            },
            None => response::Kind::Error("empty request".into()),
        };
        if write_frame(&mut conn.stream, &Response { kind: Some(resp) }).is_err() {
            return false;
        }
        let _ = conn.stream.flush();
    }
}

fn kill(c: &Container, signal: i32, all: bool) -> Result<(), String> {
    let sig = Signal::try_from(signal).map_err(|_| format!("invalid signal {signal}"))?;
    if c.exit.is_some() {
        return Err("container is not running".into());
    }
    if all {
        if let Some(cg) = &c.cgroup {
            for pid in cg.pids() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
        }
    }
    nix::sys::signal::kill(c.pid, sig).map_err(|e| format!("kill: {e}"))
}
