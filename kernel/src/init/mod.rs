//! The container's init sequence, run in the freshly cloned child of the
//! shim (already in its new pid, mount, uts, ipc and network namespaces)
//! until `execve` replaces it with the container's process.
//!
//! The child talks to the shim over one `SOCK_SEQPACKET` pair: it waits for
//! "go" (the shim has put it in its cgroup), and either reports an error and
//! exits, or execs — the socket is `O_CLOEXEC`, so a successful exec is seen
//! by the shim as end-of-file. Every descriptor is close-on-exec by then, and
//! the working directory is checked to lie inside the new root
//! (runc CVE-2024-21626).

mod identity;

pub(crate) use identity::{become_process, identity, user_namespace};

use crate::mount;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::prctl;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// An overlay rootfs to mount.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// What the init sequence needs besides the OCI spec.
#[derive(Debug)]
pub struct InitConfig<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub overlay: Option<&'a Overlay>,
    /// Host files bind-mounted over these container paths (/etc/hosts, ...).
    pub etc_files: &'a [(PathBuf, String)],
    /// `user[:group]` to resolve inside the container.
    pub user: Option<&'a str>,
    /// Groups are the primary and the spec's additional ones only, not the
    /// user's memberships in the container's /etc/group.
    pub groups_strict: bool,
    /// A terminal from the container's devpts as stdio; its master goes to
    /// the shim over the sync socket.
    pub tty: bool,
    /// v1 `tasks` files to move ourselves into first ([`crate::cgroup::place_self`]);
    /// empty when the shim placed us by pid.
    pub cgroup_tasks: &'a [PathBuf],
    /// Images mounted read-only into the container.
    pub image_volumes: &'a [mount::ImageVolume],
    /// `--init`: PID 1 stays berth's and supervises the command (`mini_init.rs`).
    pub init: bool,
}

/// The descriptors the child inherits.
#[derive(Debug)]
pub struct InitFds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub sync: UnixStream,
}

/// A failure inside the child, reported to the shim as `<code> <message>`.
#[derive(Debug)]
pub struct InitFailure {
    pub exit_code: i32,
    pub message: String,
}

impl InitFailure {
    pub(crate) fn new(exit_code: i32, message: impl std::fmt::Display) -> Self {
        Self { exit_code, message: message.to_string() }
    }

    pub fn encode(&self) -> Vec<u8> {
        format!("{} {}", self.exit_code, self.message).into_bytes()
    }

    pub fn decode(b: &[u8]) -> Self {
        let s = String::from_utf8_lossy(b);
        match s.split_once(' ') {
            Some((c, m)) if c.parse::<i32>().is_ok() => Self::new(c.parse().unwrap_or(1), m),
            _ => Self::new(1, s),
        }
    }
}

pub(super) fn fail<E: std::fmt::Display>(step: &'static str) -> impl Fn(E) -> InitFailure {
    move |e| InitFailure::new(1, format!("{step}: {e}"))
}

/// The clone flags for the namespaces the spec asks to create (no path).
pub fn clone_flags(spec: &Spec) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    for ns in spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default() {
        if ns.path().is_some() {
            continue;
        }
        flags |= match ns.typ() {
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            // Entered after the shim moved us into our cgroup.
            LinuxNamespaceType::Cgroup => CloneFlags::empty(),
            _ => CloneFlags::empty(),
        };
    }
    flags
}

/// Runs the init sequence and execs; returns only by exiting.
pub fn run(cfg: &InitConfig<'_>, mut fds: InitFds) -> ! {
    let _ = prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let _ = prctl::set_dumpable(false);
    let mut go = [0u8; 1];
    if !matches!(fds.sync.read(&mut go), Ok(1)) {
        // The shim is gone or gave up on us.
        std::process::exit(1);
    }
    let err = match prepare(cfg, &fds) {
        Ok(cmd) if cfg.init => crate::mini_init::supervise(&cmd, cfg.tty, fds.sync),
        Ok(cmd) => exec(&cmd),
        Err(e) => e,
    };
    let _ = fds.sync.write_all(&err.encode());
    std::process::exit(err.exit_code)
}

/// A resolved command, ready for `execve`.
pub(crate) struct Command {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// Installed right before execve (with no_new_privs set).
    seccomp: Option<crate::seccomp::Filter>,
}

fn prepare(cfg: &InitConfig<'_>, fds: &InitFds) -> Result<Command, InitFailure> {
    let spec = cfg.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let process =
        spec.process().clone().ok_or_else(|| InitFailure::new(1, "spec has no process"))?;
    let namespaces = linux.namespaces().clone().unwrap_or_default();

    // Our cgroups first, while we are still single-threaded and host root.
    crate::cgroup::place_self(cfg.cgroup_tasks).map_err(fail("join cgroup"))?;

    // Namespaces given by path are joined; a new cgroup namespace is entered
    // now that we are in our cgroup.
    for ns in &namespaces {
        match (ns.typ(), ns.path()) {
            (LinuxNamespaceType::Cgroup, None) => {
                unshare(CloneFlags::CLONE_NEWCGROUP).map_err(fail("unshare cgroup namespace"))?
            }
            // The shim joined it before cloning us (setns of a PID namespace only affects children).
            (LinuxNamespaceType::Pid, Some(_)) => {}
            // Joined last, right before we become the process (see `become_process`).
            (LinuxNamespaceType::User, _) => {}
            (t, Some(p)) => {
                let f = std::fs::File::open(p).map_err(|e| {
                    InitFailure::new(1, format!("open namespace {}: {e}", p.display()))
                })?;
                setns(&f, ns_flag(t)).map_err(|e| {
                    InitFailure::new(1, format!("join namespace {}: {e}", p.display()))
                })?;
            }
            _ => {}
        }
    }
    let new_net =
        namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none());
    // A network namespace of its own (new, or a pod's it joined): sysfs is
    // that namespace's, never the node's devices.
    let own_net = namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Network);
    // The pod's user namespace: everything is mounted as host root first,
    // the image's layers idmapped through it, then we join it.
    let userns = user_namespace(&namespaces)?;

    // Stdio: the container's pipes (the shim keeps the read ends).
    for (fd, target) in [(&fds.stdin, 0), (&fds.stdout, 1), (&fds.stderr, 2)] {
        nix::unistd::dup2(fd.as_raw_fd(), target).map_err(fail("set up stdio"))?;
    }

    // Filesystem.
    mount::make_private(linux.rootfs_propagation().as_deref(), cfg.rootfs)
        .map_err(fail("rootfs"))?;
    if let Some(o) = cfg.overlay {
        if let Some(u) = &userns {
            // Each layer covered by an idmapped copy of itself, in our mount
            // namespace only: disk uid 0 is the pod's root.
            for l in &o.lower {
                let at = std::fs::File::open(l).and_then(|dir| {
                    crate::mount_attr::idmapped_bind(l, &dir, u, false)
                        .map_err(std::io::Error::other)
                });
                at.map_err(|e| InitFailure::new(1, format!("idmap layer {}: {e}", l.display())))?;
            }
        }
        mount::mount_overlay(&o.lower, &o.upper, &o.work, cfg.rootfs).map_err(fail("rootfs"))?;
    } else {
        let r = cfg.rootfs;
        nix::mount::mount(
            Some(r),
            r,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(fail("bind rootfs"))?;
    }
    let root = crate::fs::open_root(cfg.rootfs).map_err(fail("open rootfs"))?;
    let mut dev_is_tmpfs = false;
    for m in spec.mounts().clone().unwrap_or_default() {
        if m.typ().as_deref() == Some("sysfs") && !own_net {
            // The node's network (host mode): its /sys, read-only.
            let mut b = m.clone();
            b.set_typ(Some("bind".into())).set_source(Some("/sys".into())).set_options(Some(vec![
                "rbind".into(),
                "ro".into(),
                "nosuid".into(),
                "noexec".into(),
                "nodev".into(),
            ]));
            mount::mount_one(&root, &b, None).map_err(fail("mount"))?;
            continue;
        }
        if m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs") {
            dev_is_tmpfs = true;
        }
        mount::mount_one(&root, &m, userns.as_ref()).map_err(fail("mount"))?;
    }
    for v in cfg.image_volumes {
        mount::mount_image_volume(&root, v).map_err(fail("image volume"))?;
    }
    // The shim applied our cgroup's limits while we mounted: wait for them
    // before the first device is made or opened (the device controller
    // denies everything for a moment while its rules are written).
    let mut applied = [0u8; 1];
    if !matches!((&fds.sync).read(&mut applied), Ok(1)) {
        return Err(InitFailure::new(1, "the shim did not apply the cgroup limits"));
    }
    if dev_is_tmpfs {
        for d in linux.devices().clone().unwrap_or_default() {
            mount::create_device(&root, &d).map_err(fail("device"))?;
        }
        mount::dev_symlinks(&root).map_err(fail("/dev"))?;
    }
    for (src, dest) in cfg.etc_files {
        let m = oci_spec::runtime::MountBuilder::default()
            .destination(dest)
            .typ("bind")
            .source(src)
            .options(vec!["bind".to_string()])
            .build()
            .map_err(fail("etc file"))?;
        mount::mount_one(&root, &m, None).map_err(fail("mount"))?;
    }
    drop(root);
    mount::pivot_root(cfg.rootfs).map_err(fail("pivot_root"))?;
    for p in linux.masked_paths().clone().unwrap_or_default() {
        mount::mask(Path::new(&p)).map_err(fail("mask"))?;
    }
    for p in linux.readonly_paths().clone().unwrap_or_default() {
        mount::read_only(Path::new(&p)).map_err(fail("read-only path"))?;
    }
    for (k, v) in linux.sysctl().clone().unwrap_or_default() {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes())
            .map_err(|e| InitFailure::new(1, format!("sysctl {k}: {e}")))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        mount::remount_ro(Path::new("/")).map_err(fail("read-only rootfs"))?;
    }
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).map_err(fail("sethostname"))?;
    }
    if new_net {
        crate::net::loopback_up().map_err(fail("bring up lo"))?;
    }
    if cfg.tty {
        let (master, slave) = crate::pty::open().map_err(fail("allocate a terminal"))?;
        crate::pty::send_fd(fds.sync.as_fd(), master.as_fd())
            .map_err(fail("pass the terminal to the shim"))?;
        drop(master);
        crate::pty::make_controlling(&slave).map_err(fail("set up the terminal"))?;
    }

    // Identity: resolved from the container's own /etc/passwd and /etc/group.
    let who = identity(cfg.user, cfg.groups_strict, &process)?;
    become_process(&process, &who, linux.seccomp().as_ref(), userns.as_ref())
}

pub(crate) fn exec(cmd: &Command) -> InitFailure {
    reset_signals();
    if let Some(f) = &cmd.seccomp {
        if let Err(e) = crate::seccomp::install(f) {
            return InitFailure::new(1, e);
        }
    }
    let err = nix::unistd::execve(&cmd.program, &cmd.argv, &cmd.envp).unwrap_err();
    let name = cmd.argv[0].to_string_lossy();
    match err {
        nix::Error::ENOENT => {
            InitFailure::new(127, format!("exec: \"{name}\": no such file or directory"))
        }
        nix::Error::EACCES => InitFailure::new(126, format!("exec: \"{name}\": permission denied")),
        e => InitFailure::new(126, format!("exec: \"{name}\": {e}")),
    }
}

/// Every signal back to its default disposition, none blocked: execve
/// keeps what is ignored and the mask, and the process must not inherit
/// them from berthd's chain (a berthd started under `nohup` ignores
/// SIGHUP; a shell then cannot even trap it).
#[allow(unsafe_code)]
fn reset_signals() {
    // The kernel's `struct sigaction` (handler, flags, restorer, mask), all
    // zero: SIG_DFL. Through the system call, not the C library, which
    // refuses the signals it reserves for itself (32, 33) though an
    // ignored one would reach the process all the same.
    let default = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a valid pointer to a zeroed kernel sigaction (SIG_DFL, no
        // handler installed); this process is about to exec and relies on
        // no disposition it had.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// Every descriptor above stderr becomes close-on-exec, whatever its origin.
// One of the init sequence's two unsafe calls (its identity part, `identity.rs`, has none).
#[allow(unsafe_code)]
pub(super) fn mark_all_cloexec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; it cannot invalidate memory.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3 as RawFd, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        _ => CloneFlags::empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_round_trip() {
        let f = InitFailure::decode(&InitFailure::new(127, "exec: \"x\": not found").encode());
        assert_eq!((f.exit_code, f.message.as_str()), (127, "exec: \"x\": not found"));
        assert_eq!(InitFailure::decode(b"garbage").exit_code, 1);
    }
}
