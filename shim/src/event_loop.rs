//! The shim's single-threaded loop: container output to the log (and to
//! attachments), exits reaped through a signalfd, requests from berthd on
//! the socket, attachments' input to the container's stdin or terminal.

use crate::container::{self, Container};
use berth_proto::crilog::Stream;
use berth_proto::shim::{
    request, response, take_frame, write_frame, Output, Request, Response, State,
};
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
    /// Gets the container's output (see `Attach`).
    attached: bool,
    /// Has written to the container's stdin.
    wrote_stdin: bool,
    /// Frames not yet written (attachments only).
    out: Vec<u8>,
}

/// An attachment that falls this far behind is dropped, so a slow reader
/// can't stall the container's log.
const MAX_BACKLOG: usize = 8 << 20;
/// Input held for a container that is not reading; past this, attachments
/// are not read until it is (backpressure).
const MAX_INPUT: usize = 1 << 20;

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
    if let Some(t) = &c.terminal {
        let _ = nix::fcntl::fcntl(
            t.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
    }
    let mut conns: Vec<Conn> = Vec::new();
    let mut exited_at: Option<Instant> = None;
    // A SIGCHLD may have arrived before the mask was in place.
    reap(c);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Held output (an attachment on its way) isn't read, and so can't drain yet.
        let held = c.held();
        if c.exit.is_some() && !held {
            let since = *exited_at.get_or_insert_with(Instant::now);
            if (c.stdout.is_none() && c.stderr.is_none() && c.terminal.is_none())
                || since.elapsed() > DRAIN
            {
                break;
            }
        }
        let timeout = match c.hold_until {
            Some(t) => PollTimeout::try_from(
                t.saturating_duration_since(Instant::now()).as_millis().max(1),
            )
            .unwrap_or(PollTimeout::MAX),
            None if exited_at.is_some() => PollTimeout::from(100u16),
            None => PollTimeout::NONE,
        };
        let pending_input = !c.input.is_empty();
        let output = if held { PollFlags::empty() } else { PollFlags::POLLIN };
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(c.listener.as_fd(), PollFlags::POLLIN),
        ];
        let out_idx = watch(&mut fds, c.stdout.as_ref().filter(|_| !held), output);
        let err_idx = watch(&mut fds, c.stderr.as_ref().filter(|_| !held), output);
        let term_flags = if pending_input { output | PollFlags::POLLOUT } else { output };
        let term_idx =
            watch(&mut fds, c.terminal.as_ref().filter(|_| !held || pending_input), term_flags);
        let in_idx = if pending_input {
            watch(&mut fds, c.stdin.as_ref(), PollFlags::POLLOUT)
        } else {
            None
        };
        let conn_base = fds.len();
        for conn in &conns {
            let mut f = PollFlags::empty();
            if c.input.len() < MAX_INPUT {
                f |= PollFlags::POLLIN;
            }
            if !conn.out.is_empty() {
                f |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(conn.stream.as_fd(), f));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(_) => break,
        }
        let revents = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
        let ready = |i: usize| !revents(i).is_empty();
        let sig_ready = ready(0);
        let accept_ready = ready(1);
        let out_ready = out_idx.is_some_and(ready);
        let err_ready = err_idx.is_some_and(ready);
        let term_ev = term_idx.map(revents).unwrap_or(PollFlags::empty());
        let in_ready = in_idx.is_some_and(ready);
        let conn_ev: Vec<PollFlags> = (0..conns.len()).map(|i| revents(conn_base + i)).collect();
        drop(fds);

        if out_ready {
            pump(&mut c.stdout, Stream::Stdout, &mut c.logger, &mut buf, &mut conns);
        }
        if err_ready {
            pump(&mut c.stderr, Stream::Stderr, &mut c.logger, &mut buf, &mut conns);
        }
        if !held && term_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        {
            // A terminal's output is the container's stdout (as containerd logs it).
            pump(&mut c.terminal, Stream::Stdout, &mut c.logger, &mut buf, &mut conns);
        }
        if in_ready || term_ev.contains(PollFlags::POLLOUT) {
            feed(c);
        }
        if sig_ready {
            while sfd.read_signal().ok().flatten().is_some() {}
            reap(c);
        }
        if accept_ready {
            accept(c, &mut conns);
        }
        let mut closed = Vec::new();
        for (i, ev) in conn_ev.into_iter().enumerate() {
            let conn = &mut conns[i];
            let alive = (!ev.contains(PollFlags::POLLOUT) || flush(conn))
                && (!ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    || serve_conn(c, conn));
            if !alive || conn.out.len() > MAX_BACKLOG {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            let gone = conns.remove(i);
            if gone.wrote_stdin && c.stdin_once {
                close_stdin(c);
            }
        }
    }
    // Output that is still buffered as a partial line ends the log.
    for (fd, s) in [
        (&mut c.stdout, Stream::Stdout),
        (&mut c.stderr, Stream::Stderr),
        (&mut c.terminal, Stream::Stdout),
    ] {
        if fd.take().is_some() {
            c.logger.finish(s);
        }
    }
    let exit = container::finish(c, bundle);
    let resp = Response { kind: Some(response::Kind::Exit((&exit).into())) };
    for conn in conns.iter_mut().filter(|c| c.waiting || c.attached) {
        // What an attachment has not read yet, then the exit; briefly blocking.
        let _ = conn.stream.set_nonblocking(false);
        let _ = conn.stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = write_frame(&mut conn.out, &resp);
        let _ = conn.stream.write_all(&conn.out);
    }
}

/// Adds `fd` (if open) to the poll set; its index.
fn watch<'a>(
    fds: &mut Vec<PollFd<'a>>,
    fd: Option<&'a OwnedFd>,
    flags: PollFlags,
) -> Option<usize> {
    fds.push(PollFd::new(fd?.as_fd(), flags));
    Some(fds.len() - 1)
}

/// Copies what a pipe or terminal has into the log and to attachments; at
/// EOF (EIO for a terminal whose last user is gone) the stream is finished.
fn pump(
    fd: &mut Option<OwnedFd>,
    s: Stream,
    logger: &mut crate::logger::Logger,
    buf: &mut [u8],
    conns: &mut [Conn],
) {
    let Some(f) = fd.as_ref() else { return };
    match nix::unistd::read(f.as_raw_fd(), buf) {
        Ok(0) => {
            *fd = None;
            logger.finish(s);
        }
        Ok(n) => {
            logger.write(s, &buf[..n]);
            let frame = Response {
                kind: Some(response::Kind::Output(Output {
                    stream: if s == Stream::Stderr { 2 } else { 1 },
                    data: buf[..n].to_vec(),
                })),
            };
            for conn in conns.iter_mut().filter(|c| c.attached) {
                let _ = write_frame(&mut conn.out, &frame);
            }
        }
        Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => {}
        Err(_) => {
            *fd = None;
            logger.finish(s);
        }
    }
}

/// Gives the container what attachments wrote, as far as it takes it.
fn feed(c: &mut Container) {
    let target = c.terminal.as_ref().or(c.stdin.as_ref());
    let Some(fd) = target else {
        c.input.clear();
        return;
    };
    match nix::unistd::write(fd, &c.input) {
        Ok(n) => {
            c.input.drain(..n);
        }
        Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => {}
        // The container closed its stdin: nothing more will be read.
        Err(_) => {
            c.input.clear();
            c.stdin = None;
        }
    }
}

/// Ends the container's stdin (a pipe's EOF; a terminal stays).
fn close_stdin(c: &mut Container) {
    if c.stdin.is_some() {
        feed(c);
        c.input.clear();
        c.stdin = None;
    }
}

/// Writes what an attachment has pending; false when it is gone.
fn flush(conn: &mut Conn) -> bool {
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(0) => return false,
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    true
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
        conns.push(Conn {
            stream,
            buf: Vec::new(),
            waiting: false,
            attached: false,
            wrote_stdin: false,
            out: Vec::new(),
        });
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
            Some(request::Kind::Attach(_)) => {
                // An exited container's held output is still the attachment's.
                if c.exit.is_some() && c.hold_until.is_none() {
                    response::Kind::Error("container is not running".into())
                } else {
                    // From now on, output and (at the end) the exit come unasked.
                    conn.attached = true;
                    c.hold_until = None;
                    let _ = write_frame(
                        &mut conn.out,
                        &Response { kind: Some(response::Kind::Ok(true)) },
                    );
                    continue;
                }
            }
            // Streaming requests get no answer.
            Some(request::Kind::Input(data)) => {
                if c.stdin.is_some() || c.terminal.is_some() {
                    c.input.extend_from_slice(&data);
                    conn.wrote_stdin = true;
                    feed(c);
                }
                continue;
            }
            Some(request::Kind::CloseStdin(_)) => {
                if c.stdin_once {
                    close_stdin(c);
                }
                continue;
            }
            Some(request::Kind::Resize(r)) => {
                if let Some(t) = &c.terminal {
                    let _ = berth_kernel::pty::resize(
                        t.as_fd(),
                        r.cols.min(u16::MAX as u32) as u16,
                        r.rows.min(u16::MAX as u32) as u16,
                    );
                }
                continue;
            }
            Some(request::Kind::Version(_)) if crate::protocol() >= 2 => {
                response::Kind::Version(berth_proto::shim::Version {
                    protocol: crate::protocol(),
                    shim: env!("CARGO_PKG_VERSION").into(),
                })
            }
            Some(request::Kind::Version(_)) | None => {
                response::Kind::Error(berth_proto::shim::UNKNOWN_REQUEST.into())
            }
        };
        if conn.attached {
            // Behind the attachment's pending output, in order.
            let _ = write_frame(&mut conn.out, &Response { kind: Some(resp) });
            continue;
        }
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
