//! `--init`: the container's PID 1 stays berth's own code — the container
//! init, after every step of its set-up, forks instead of exec'ing — and
//! the child execs the command. PID 1 reaps every zombie, forwards every
//! signal it is sent to the command, and exits with the command's code
//! (128 + the signal if a signal ended it), as docker-init (tini) does.
//! No host binary is mounted into the container or exec'd there.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, setpgid, tcsetpgrp, ForkResult, Pid};
use std::io::Write;
use std::os::unix::net::UnixStream;

/// Forks the command off (it execs `cmd`) and supervises it; never returns.
pub(crate) fn supervise(cmd: &crate::init::Command, tty: bool, mut sync: UnixStream) -> ! {
    // What the shim's fork left us beside stdio (the shim's own ends, its
    // log) must not live on in a PID 1 that never execs; the sync socket
    // stays for the child's report.
    crate::pod_init::close_all_but(std::os::fd::AsRawFd::as_raw_fd(&sync));
    let all = SigSet::all();
    let _ = all.thread_block();
    #[allow(unsafe_code)]
    // SAFETY: the container init is single-threaded (a clone of the
    // single-threaded shim), so the child may run anything after fork.
    let forked = unsafe { fork() };
    match forked {
        Ok(ForkResult::Child) => {
            // Its own process group, in the terminal's foreground: the
            // terminal's signals reach the command, not PID 1 twice.
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if tty {
                let _ = tcsetpgrp(std::io::stdin(), getpid());
            }
            let _ = all.thread_unblock();
            let err = crate::init::exec(cmd);
            let _ = sync.write_all(&err.encode());
            std::process::exit(err.exit_code)
        }
        Ok(ForkResult::Parent { child }) => {
            // The child's exec closes its copy: the shim hears of the start.
            drop(sync);
            supervise_child(child, &all)
        }
        Err(e) => {
            let err = crate::init::InitFailure::new(
                1,
                format!("fork the container's command under --init: {e}"),
            );
            let _ = sync.write_all(&err.encode());
            std::process::exit(1)
        }
    }
}

fn supervise_child(child: Pid, all: &SigSet) -> ! {
    loop {
        match all.wait() {
            Ok(Signal::SIGCHLD) => loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => std::process::exit(code),
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                        std::process::exit(128 + sig as i32)
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
            Ok(sig) => {
                let _ = kill(child, sig);
            }
            Err(_) => {}
        }
    }
}
