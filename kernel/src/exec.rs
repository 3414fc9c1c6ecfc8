//! Exec: a new process inside a running container (CRI ExecSync), run by
//! the short-lived `berth-shim exec` helper — never by the daemon, which is
//! multi-threaded and must not `setns` or fork.
//!
//! The helper joins the container's cgroup and namespaces, makes itself
//! non-dumpable (so the container can't reach the host binary through
//! `/proc/<pid>/exe`, CVE-2019-5736), forks (a PID namespace only applies
//! to children), and the child becomes the process the container's spec
//! describes (user, groups, capabilities, no_new_privs, env) with the new
//! argv, then execs. The helper waits and exits with the child's status.
//! With a terminal (`exec -t`), the helper allocates it in the container's
//! devpts and passes the master back before it forks (see `pty`).
//!
//! SIGTERM to the helper means "end the command": it kills the command with
//! SIGKILL, reaps it and exits. Killing the helper outright would orphan the
//! command to the container's PID 1, which may never reap it (a timed-out
//! ExecSync would leave a zombie that `pgrep` still finds).
#![allow(unsafe_code)]

use crate::init::{self, InitFailure};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;
use oci_spec::runtime::Spec;
use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// The command's pid, for the SIGTERM handler.
static COMMAND: AtomicI32 = AtomicI32::new(0);

extern "C" fn end_command(_: nix::libc::c_int) {
    let pid = COMMAND.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { nix::libc::kill(pid, nix::libc::SIGKILL) };
    }
}

/// SIGTERM, held back until the command's pid is known to the handler.
fn term_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set
}

/// What to run, and where.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    /// The container's init.
    pub pid: i32,
    pub spec: &'a Spec,
    pub user: Option<&'a str>,
    pub groups_strict: bool,
    pub args: Vec<String>,
    /// Give the command a terminal of the container's devpts; its master
    /// goes to the caller over the unix socket on stdout.
    pub tty: bool,
}

fn fail<E: std::fmt::Display>(step: &'static str) -> impl Fn(E) -> InitFailure {
    move |e| InitFailure { exit_code: 126, message: format!("{step}: {e}") }
}

/// Runs the request; returns the exit code to leave with (126/127 for an
/// exec failure, 128+N for a signal). Errors go to stderr.
pub fn run(req: &ExecRequest<'_>) -> i32 {
    match enter(req) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("{}", f.message);
            f.exit_code
        }
    }
}

fn enter(req: &ExecRequest<'_>) -> Result<i32, InitFailure> {
    if req.args.is_empty() {
        return Err(InitFailure { exit_code: 126, message: "no command given".into() });
    }
    nix::sys::prctl::set_dumpable(false).map_err(fail("set non-dumpable"))?;
    // Every namespace file first: after the mount namespace, /proc is the container's.
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut files = Vec::new();
    for (name, flag) in kinds {
        let f = File::open(format!("/proc/{}/ns/{name}", req.pid))
            .map_err(fail("open the container's namespaces"))?;
        files.push((f, flag));
    }
    // The pod's user namespace, joined last (after the namespaces host root owns).
    let userns = init::user_namespace(
        &req.spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default(),
    )?;
    if let Some(path) = req.spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        crate::cgroup::Cgroup::new(&path)
            .and_then(|cg| cg.join_self())
            .map_err(fail("join the container's cgroup"))?;
    }
    for (f, flag) in &files {
        setns(f, *flag).map_err(fail("join the container's namespaces"))?;
    }
    drop(files);
    // The terminal comes from the container's /dev, now that we see it.
    let pty = if req.tty {
        let (master, slave) = crate::pty::open().map_err(fail("allocate a terminal"))?;
        crate::pty::send_fd(std::io::stdout().as_fd(), master.as_fd())
            .map_err(fail("pass the terminal to berthd"))?;
        Some(slave)
    } else {
        None
    };
    let process = req
        .spec
        .process()
        .clone()
        .ok_or_else(|| InitFailure { exit_code: 126, message: "spec has no process".into() })?;
    let mut process = process;
    process.set_args(Some(req.args.clone()));
    if req.tty {
        // As Docker and containerd do for a terminal: TERM unless the spec has one.
        let mut env = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
            process.set_env(Some(env));
        }
    }
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(end_command),
        nix::sys::signal::SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only reads an atomic and calls kill(2).
    unsafe { nix::sys::signal::sigaction(Signal::SIGTERM, &action) }
        .map_err(fail("handle SIGTERM"))?;
    term_set().thread_block().map_err(fail("block SIGTERM"))?;
    // SAFETY: this helper is single-threaded; the child only runs
    // async-signal-safe work until execve, or exits.
    match unsafe { nix::unistd::fork() }.map_err(fail("fork"))? {
        ForkResult::Child => {
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            // The mask survives execve: the command gets SIGTERM as usual.
            let _ = term_set().thread_unblock();
            if let Some(slave) = &pty {
                if let Err(e) = crate::pty::make_controlling(slave) {
                    eprintln!("set up the terminal: {e}");
                    std::process::exit(126);
                }
            }
            let err = match init::identity(req.user, req.groups_strict, &process).and_then(|who| {
                init::become_process(
                    &process,
                    &who,
                    req.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
                    userns.as_ref(),
                )
            }) {
                Ok(cmd) => init::exec(&cmd),
                Err(e) => e,
            };
            eprintln!("{}", err.message);
            std::process::exit(err.exit_code)
        }
        ForkResult::Parent { child } => {
            COMMAND.store(child.as_raw(), Ordering::SeqCst);
            // A SIGTERM that came during the fork is handled here.
            let _ = term_set().thread_unblock();
            // Only the command holds the terminal: its exit is the master's EOF.
            drop(pty);
            // Wait without reaping (the handler may still kill a zombie),
            // then forget the pid before it can be reused, then reap.
            loop {
                match nix::sys::wait::waitid(
                    nix::sys::wait::Id::Pid(child),
                    nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT,
                ) {
                    Ok(_) => break,
                    Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(fail("wait")(e)),
                }
            }
            let _ = term_set().thread_block();
            COMMAND.store(0, Ordering::SeqCst);
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                    Ok(_) => continue,
                    Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(fail("wait")(e)),
                }
            }
        }
    }
}
