//! Pinned namespaces: a pod's network, IPC and UTS namespaces kept alive by
//! bind mounts of `/proc/self/ns/*` instead of a pause process.
//!
//! [`create`] runs in a fresh single-threaded process (`berth-shim pin`): it
//! unshares, configures the new namespaces from inside (hostname, `lo`,
//! namespaced sysctls), and bind-mounts each one onto a file. [`release`]
//! unmounts and removes them; it is safe to call for pins that are gone.
//!
//! A pod-wide PID namespace is pinned the same way, but it also needs a
//! live first process: [`create`] forks the pod init (see `pod_init`).

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::{Path, PathBuf};

/// A namespace kind that can be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    Net,
    Ipc,
    Uts,
    Pid,
}

impl Ns {
    pub fn name(self) -> &'static str {
        match self {
            Ns::Net => "net",
            Ns::Ipc => "ipc",
            Ns::Uts => "uts",
            Ns::Pid => "pid",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "net" => Some(Ns::Net),
            "ipc" => Some(Ns::Ipc),
            "uts" => Some(Ns::Uts),
            "pid" => Some(Ns::Pid),
            _ => None,
        }
    }
    fn flag(self) -> CloneFlags {
        match self {
            Ns::Net => CloneFlags::CLONE_NEWNET,
            Ns::Ipc => CloneFlags::CLONE_NEWIPC,
            Ns::Uts => CloneFlags::CLONE_NEWUTS,
            Ns::Pid => CloneFlags::CLONE_NEWPID,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("{step}: {err}")]
    Sys { step: String, err: nix::Error },
    #[error("{step}: {err}")]
    Io { step: String, err: std::io::Error },
    #[error("{0}")]
    Init(String),
}

/// What [`create`] pinned.
#[derive(Debug)]
pub struct Pinned {
    pub paths: Vec<PathBuf>,
    /// The pod init's pid, when a PID namespace was asked for.
    pub init_pid: Option<i32>,
}

/// What to pin and how to set it up.
#[derive(Debug, Default)]
pub struct PinRequest {
    pub dir: PathBuf,
    pub namespaces: Vec<Ns>,
    pub hostname: Option<String>,
    /// Already validated as namespaced (see the engine's sysctl check).
    pub sysctls: Vec<(String, String)>,
}

/// Creates and pins the namespaces; on error, releases what it pinned.
/// Must run in a single-threaded process (unshare of these namespaces
/// affects the calling thread, and the process exits afterwards).
pub fn create(req: &PinRequest) -> Result<Pinned, PinError> {
    let mut flags = CloneFlags::empty();
    for ns in &req.namespaces {
        flags |= ns.flag();
    }
    unshare(flags).map_err(|err| PinError::Sys { step: "unshare".into(), err })?;
    if let Some(h) = &req.hostname {
        if req.namespaces.contains(&Ns::Uts) {
            nix::unistd::sethostname(h).map_err(|err| PinError::Sys { step: "sethostname".into(), err })?;
        }
    }
    if req.namespaces.contains(&Ns::Net) {
        crate::net::loopback_up().map_err(|err| PinError::Io { step: "bring up lo".into(), err })?;
    }
    for (k, v) in &req.sysctls {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes()).map_err(|err| PinError::Io { step: format!("sysctl {k}"), err })?;
    }
    // The PID namespace exists once its first process does.
    let init_pid = match req.namespaces.contains(&Ns::Pid) {
        true => Some(crate::pod_init::spawn(&req.dir).map_err(PinError::Init)?.as_raw()),
        false => None,
    };
    let mut pinned = Vec::new();
    for ns in &req.namespaces {
        let target = req.dir.join(ns.name());
        let source = match (ns, init_pid) {
            (Ns::Pid, Some(pid)) => format!("/proc/{pid}/ns/pid"),
            _ => format!("/proc/self/ns/{}", ns.name()),
        };
        let res = std::fs::File::create(&target)
            .map_err(|err| PinError::Io { step: format!("create {}", target.display()), err })
            .and_then(|_| {
                mount(Some(source.as_str()), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .map_err(|err| PinError::Sys { step: format!("pin {}", target.display()), err })
            });
        if let Err(e) = res {
            if let Some(pid) = init_pid {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            release(&pinned);
            let _ = std::fs::remove_file(&target);
            return Err(e);
        }
        pinned.push(target);
    }
    Ok(Pinned { paths: pinned, init_pid })
}

/// Unmounts and removes pins; missing ones are fine.
pub fn release(pins: &[PathBuf]) {
    for p in pins {
        let _ = umount2(p.as_path(), MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(p);
    }
}

/// Whether `path` is a live pinned namespace (an nsfs mount).
pub fn is_pinned(path: &Path) -> bool {
    // NSFS_MAGIC
    nix::sys::statfs::statfs(path).map(|s| s.filesystem_type().0 == 0x6e73_6673).unwrap_or(false)
}
