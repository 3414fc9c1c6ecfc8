//! The pod init: PID 1 of a pod-wide PID namespace (CRI `pid: POD`,
//! Kubernetes' shareProcessNamespace), berth's own stand-in for a pause
//! process.
//!
//! A PID namespace dies with its first process, so the pod needs one that
//! lives as long as the pod and reaps the orphans of its containers. It is
//! forked by `berth-shim pin` right after `unshare(CLONE_NEWPID)` and does
//! nothing else: it holds no descriptors, has no capabilities, can't gain
//! any (no_new_privs), is not dumpable, and sits in its own mount namespace
//! whose root is an empty read-only tmpfs — a container that shares its PID
//! namespace finds nothing behind `/proc/1/root`.
//!
//! It exits on SIGTERM or SIGINT; SIGKILL from the host takes it and, as
//! the kernel does for a namespace's init, every process in the pod.
#![allow(unsafe_code)]

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The name the init shows in `ps`.
pub const COMM: &str = "berth-pod-init";

/// Forks the init into the PID namespace the caller unshared for its
/// children and waits until it is set up; returns its pid (as the host sees it).
///
/// `scratch` is any existing directory: in the init's private mount
/// namespace an empty tmpfs is mounted there and becomes its root.
///
/// Must be called from a single-threaded process, after
/// `unshare(CLONE_NEWPID)`.
pub fn spawn(scratch: &Path) -> Result<Pid, String> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the caller is single-threaded (`berth-shim pin`), so the child
    // may run arbitrary code; it never returns from this function.
    match unsafe { fork() }.map_err(|e| format!("fork pod init: {e}"))? {
        ForkResult::Child => {
            drop(r);
            let mut w = std::fs::File::from(w);
            match isolate(scratch, w.as_raw_fd()) {
                Ok(()) => {
                    let _ = w.write_all(b"ok");
                    drop(w);
                    reap_forever()
                }
                Err(e) => {
                    let _ = w.write_all(e.as_bytes());
                    std::process::exit(1)
                }
            }
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut said = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut said);
            if said == "ok" {
                Ok(child)
            } else {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                Err(format!(
                    "pod init: {}",
                    if said.is_empty() { "died during set-up" } else { &said }
                ))
            }
        }
    }
}

/// Cuts the init off from everything it inherited.
fn isolate(scratch: &Path, keep: i32) -> Result<(), String> {
    let sys = |step: &'static str| move |e: nix::Error| format!("{step}: {e}");
    nix::unistd::setsid().map_err(sys("setsid"))?;
    let null: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("open /dev/null: {e}"))?
        .into();
    for fd in 0..=2 {
        nix::unistd::dup2(null.as_raw_fd(), fd).map_err(sys("dup2"))?;
    }
    drop(null);
    close_all_but(keep);
    let _ = nix::sys::prctl::set_name(&std::ffi::CString::new(COMM).unwrap_or_default());

    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(sys("unshare mount namespace"))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(sys("make mounts private"))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), scratch, Some("tmpfs"), flags, Some("size=4k,mode=0555"))
        .map_err(sys("mount empty root"))?;
    nix::unistd::chdir(scratch).map_err(sys("chdir"))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
        None::<&str>,
    )
    .map_err(sys("remount root read-only"))?;

    nix::sys::prctl::set_dumpable(false).map_err(sys("set non-dumpable"))?;
    nix::sys::prctl::set_no_new_privs().map_err(sys("set no_new_privs"))?;
    for c in caps::all() {
        let _ = caps::drop(None, caps::CapSet::Bounding, c);
    }
    for set in [caps::CapSet::Inheritable, caps::CapSet::Effective, caps::CapSet::Permitted] {
        caps::clear(None, set).map_err(|e| format!("drop capabilities: {e}"))?;
    }
    // Blocked signals are queued even for a namespace init, which would
    // otherwise ignore them: sigwait picks them up.
    signals().thread_block().map_err(sys("block signals"))?;
    Ok(())
}

fn signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        s.add(sig);
    }
    s
}

/// Reaps every child (the pod's orphans) until told to stop.
fn reap_forever() -> ! {
    let set = signals();
    loop {
        match set.wait() {
            Ok(Signal::SIGTERM | Signal::SIGINT) => std::process::exit(0),
            _ => loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
        }
    }
}

/// Closes every descriptor above stderr but `keep`.
pub(crate) fn close_all_but(keep: i32) {
    // SAFETY: closing descriptors invalidates no memory; the only one in use
    // afterwards is `keep`, which is excluded.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (keep + 1).max(3) as u32, u32::MAX, 0u32);
    }
}

/// Whether `pid` is still the init of the PID namespace pinned at `pin`
/// (not another process that got its pid after it died).
pub fn is_alive(pid: i32, pin: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(format!("/proc/{pid}/ns/pid")), std::fs::metadata(pin)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev() && is_first_in_ns(pid),
        _ => false,
    }
}

/// A process whose PID namespace matches can still be a later one; the
/// init is the one that is PID 1 inside (`NSpid` ends in 1). A dead init
/// not yet reaped (a zombie) still shows its namespace: it is not alive.
fn is_first_in_ns(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return false };
    let field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("");
    field("NSpid:").split_whitespace().last() == Some("1")
        && !matches!(field("State:").chars().next(), Some('Z' | 'X'))
}

/// The pod init of the PID namespace pinned at `pin`, found by scanning
/// /proc: for a sandbox whose record never got its pid (berthd died while
/// it was being made). Start-up only.
pub fn find(pin: &Path) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| is_alive(*pid, pin))
}

/// Kills the pod init (and with it every process left in the pod's PID
/// namespace), if `pid` is still it.
pub fn kill(pid: i32, pin: &Path) {
    if is_alive(pid, pin) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}
