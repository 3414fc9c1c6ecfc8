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
//!
//! A user-namespaced pod (`hostUsers: false`) also gets a user namespace
//! with the pod's mapping, and its network, IPC and UTS namespaces are
//! made *inside* it, so that they belong to it: the container's root, root
//! only there, can still bind port 80 or set its hostname. A process cannot
//! write its own mapping, so a child unshares the user namespace, the
//! parent (host root) writes the child's maps, and the child then makes
//! and configures the other namespaces; the parent pins them all from
//! `/proc/<child>/ns/` and lets the child go.
#![allow(unsafe_code)]

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
    /// Only with [`PinRequest::userns`], which says how it is made.
    User,
}

impl Ns {
    pub fn name(self) -> &'static str {
        match self {
            Ns::Net => "net",
            Ns::Ipc => "ipc",
            Ns::Uts => "uts",
            Ns::Pid => "pid",
            Ns::User => "user",
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
            Ns::User => CloneFlags::empty(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("{step}: {err}")]
    Sys {
        step: String,
        #[source]
        err: nix::Error,
    },
    #[error("{step}: {err}")]
    Io {
        step: String,
        #[source]
        err: std::io::Error,
    },
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

/// One range of a user namespace's uid or gid map: `length` ids from
/// `container_id` inside are `host_id`... outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub length: u32,
}

impl IdMap {
    /// The line for `/proc/<pid>/{uid,gid}_map`.
    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.container_id, self.host_id, self.length)
    }
}

/// A user namespace to make, with its maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserNs {
    pub uids: IdMap,
    pub gids: IdMap,
}

/// What to pin and how to set it up.
#[derive(Debug, Default)]
pub struct PinRequest {
    pub dir: PathBuf,
    pub namespaces: Vec<Ns>,
    pub hostname: Option<String>,
    /// Already validated as namespaced (see the engine's sysctl check).
    pub sysctls: Vec<(String, String)>,
    /// Make a user namespace (pinned as `user`) and the network, IPC and
    /// UTS namespaces inside it.
    pub userns: Option<UserNs>,
}

fn sys(step: impl Into<String>) -> impl FnOnce(nix::Error) -> PinError {
    let step = step.into();
    move |err| PinError::Sys { step, err }
}

/// Unshares `flags` and configures the new namespaces from inside.
fn make(req: &PinRequest, flags: CloneFlags) -> Result<(), PinError> {
    unshare(flags).map_err(sys("unshare"))?;
    if let Some(h) = &req.hostname {
        if req.namespaces.contains(&Ns::Uts) {
            nix::unistd::sethostname(h)
                .map_err(|err| PinError::Sys { step: "sethostname".into(), err })?;
        }
    }
    if req.namespaces.contains(&Ns::Net) {
        crate::net::loopback_up()
            .map_err(|err| PinError::Io { step: "bring up lo".into(), err })?;
    }
    for (k, v) in &req.sysctls {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes())
            .map_err(|err| PinError::Io { step: format!("sysctl {k}"), err })?;
    }
    Ok(())
}

/// The child of a user-namespaced pin: unshares the user namespace, waits
/// for its maps, makes the rest inside it, says so, and waits to be let go.
fn userns_child(
    req: &PinRequest,
    flags: CloneFlags,
    sock: &std::os::unix::net::UnixStream,
) -> Result<(), PinError> {
    use std::io::{Read, Write};
    let io = |step: &str| {
        let step = step.to_owned();
        move |err| PinError::Io { step, err }
    };
    unshare(CloneFlags::CLONE_NEWUSER).map_err(sys("unshare the user namespace"))?;
    (&*sock).write_all(b"u").map_err(io("report the user namespace"))?;
    let mut b = [0u8; 1];
    (&*sock).read_exact(&mut b).map_err(io("wait for the id maps"))?;
    make(req, flags)?;
    (&*sock).write_all(b"n").map_err(io("report the namespaces"))?;
    // EOF: the parent has pinned everything.
    let _ = (&*sock).read(&mut b);
    Ok(())
}

/// Runs [`userns_child`]; returns its pid once its namespaces are made
/// (the child then waits for `sock` to close).
fn spawn_userns(
    req: &PinRequest,
    userns: &UserNs,
    flags: CloneFlags,
) -> Result<(nix::unistd::Pid, std::os::unix::net::UnixStream), PinError> {
    use std::io::{Read, Write};
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|err| PinError::Io { step: "socketpair".into(), err })?;
    // SAFETY: `berth-shim pin` is single-threaded; the child only unshares,
    // writes files and exits.
    match unsafe { nix::unistd::fork() }.map_err(sys("fork"))? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            let code = match userns_child(req, flags, &theirs) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = (&theirs).write_all(format!("e{e}").as_bytes());
                    1
                }
            };
            std::process::exit(code)
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let fail = |what: &str, child| {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                PinError::Init(what.to_owned())
            };
            let mut reply = [0u8; 512];
            let mut expect = |want: u8| -> Result<(), PinError> {
                match (&ours).read(&mut reply) {
                    Ok(n) if n >= 1 && reply[0] == want => Ok(()),
                    Ok(n) if n > 1 && reply[0] == b'e' => {
                        Err(fail(&String::from_utf8_lossy(&reply[1..n]), child))
                    }
                    _ => Err(fail("the user namespace helper died", child)),
                }
            };
            expect(b'u')?;
            for (file, map) in [("uid_map", userns.uids), ("gid_map", userns.gids)] {
                if let Err(err) = std::fs::write(format!("/proc/{child}/{file}"), map.line()) {
                    return Err(fail(&format!("write {file}: {err}"), child));
                }
            }
            (&ours)
                .write_all(b"m")
                .map_err(|err| PinError::Io { step: "hand over the id maps".into(), err })?;
            expect(b'n')?;
            Ok((child, ours))
        }
    }
}

/// Creates and pins the namespaces; on error, releases what it pinned.
/// Must run in a single-threaded process (unshare of these namespaces
/// affects the calling thread, and the process exits afterwards).
pub fn create(req: &PinRequest) -> Result<Pinned, PinError> {
    let mut flags = CloneFlags::empty();
    for ns in &req.namespaces {
        flags |= ns.flag();
    }
    // With a user namespace, a child makes net, IPC and UTS inside it; the
    // PID namespace (and its init) stay ours.
    let mut helper = None;
    match &req.userns {
        Some(u) => {
            let pid_flag = flags & CloneFlags::CLONE_NEWPID;
            helper = Some(spawn_userns(req, u, flags - pid_flag)?);
            unshare(pid_flag).map_err(sys("unshare"))?;
        }
        None => make(req, flags)?,
    }
    let ns_dir = match &helper {
        Some((child, _)) => format!("/proc/{child}/ns"),
        None => "/proc/self/ns".to_owned(),
    };
    let result = pin_all(req, &ns_dir);
    if let Some((child, sock)) = helper {
        drop(sock);
        let _ = nix::sys::wait::waitpid(child, None);
    }
    result
}

fn pin_all(req: &PinRequest, ns_dir: &str) -> Result<Pinned, PinError> {
    // The PID namespace exists once its first process does.
    let init_pid = match req.namespaces.contains(&Ns::Pid) {
        true => Some(crate::pod_init::spawn(&req.dir).map_err(PinError::Init)?.as_raw()),
        false => None,
    };
    let mut pinned = Vec::new();
    let user = req.userns.is_some().then_some(Ns::User);
    for ns in req.namespaces.iter().chain(user.as_ref()) {
        let target = req.dir.join(ns.name());
        let source = match (ns, init_pid) {
            (Ns::Pid, Some(pid)) => format!("/proc/{pid}/ns/pid"),
            _ => format!("{ns_dir}/{}", ns.name()),
        };
        let res = std::fs::File::create(&target)
            .map_err(|err| PinError::Io { step: format!("create {}", target.display()), err })
            .and_then(|_| {
                mount(Some(source.as_str()), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .map_err(|err| PinError::Sys { step: format!("pin {}", target.display()), err })
            });
        if let Err(e) = res {
            if let Some(pid) = init_pid {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
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
