//! The container process: cloned into its namespaces, placed in its
//! cgroup, released to exec; and, at the end, its exit record.

use berth_kernel::cgroup::{Cgroup, Placement};
use berth_kernel::init::{self, InitConfig, InitFailure, InitFds, Overlay};
use berth_kernel::mount::ImageVolume;
use berth_proto::exit::ExitRecord;
use berth_proto::shim::{ShimConfig, EXIT_FILE, SOCKET_FILE};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::SystemTime;

/// A running container as the shim holds it.
pub struct Container {
    pub pid: Pid,
    pub cgroup: Option<Cgroup>,
    pub listener: UnixListener,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The terminal's master (a `tty` container): output, and input.
    pub terminal: Option<OwnedFd>,
    /// The write end of the container's stdin pipe (`stdin` without a terminal).
    pub stdin: Option<OwnedFd>,
    /// Input from attachments not yet taken by the container.
    pub input: Vec<u8>,
    pub stdin_once: bool,
    pub logger: crate::logger::Logger,
    /// Set once the container's init has been reaped.
    pub exit: Option<ExitRecord>,
    /// Output is not read before this (`hold_output`): the first attachment
    /// or the deadline releases it.
    pub hold_until: Option<std::time::Instant>,
}

fn fail(step: &str) -> impl Fn(std::io::Error) -> InitFailure + '_ {
    move |e| InitFailure { exit_code: 1, message: format!("{step}: {e}") }
}

impl Container {
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Output is held for an attachment; ends the hold once past its deadline.
    pub fn held(&mut self) -> bool {
        if self.hold_until.is_some_and(|t| std::time::Instant::now() >= t) {
            self.hold_until = None;
        }
        self.hold_until.is_some()
    }

    /// Creates the container and lets it exec. On error nothing is left:
    /// the child is killed, the cgroup removed, the socket unlinked.
    pub fn create(
        bundle: &Path,
        shim: &ShimConfig,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<Self, InitFailure> {
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let logger = crate::logger::Logger::new(shim.log_path.clone()).map_err(fail("open log"))?;
        let listener = listen(bundle).map_err(fail("listen"))?;
        let undo_socket = || {
            let _ = std::fs::remove_file(bundle.join(SOCKET_FILE));
        };
        match spawn(shim, spec) {
            Ok(s) => Ok(Self {
                pid: s.pid,
                cgroup: s.cgroup,
                listener,
                stdout: Some(s.stdout),
                stderr: Some(s.stderr),
                terminal: s.terminal,
                stdin: s.stdin,
                input: Vec::new(),
                stdin_once: shim.stdin_once,
                logger,
                exit: None,
                hold_until: shim
                    .hold_output
                    .then(|| std::time::Instant::now() + berth_proto::shim::HOLD_OUTPUT),
            }),
            Err(e) => {
                undo_socket();
                Err(e)
            }
        }
    }
}

fn listen(bundle: &Path) -> std::io::Result<UnixListener> {
    // Bind relative to the bundle: socket paths are limited to 108 bytes.
    std::env::set_current_dir(bundle)?;
    let _ = std::fs::remove_file(SOCKET_FILE);
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let l = UnixListener::bind(SOCKET_FILE);
    nix::sys::stat::umask(old);
    let l = l?;
    l.set_nonblocking(true)?;
    Ok(l)
}

struct Spawned {
    pid: Pid,
    cgroup: Option<Cgroup>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    terminal: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
}

/// An existing PID namespace (another container's) is joined by the shim
/// itself: `setns` of a PID namespace only moves the caller's future children.
fn join_pid_namespace(spec: &oci_spec::runtime::Spec) -> Result<(), InitFailure> {
    use oci_spec::runtime::LinuxNamespaceType;
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let Some(path) = namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Pid)
        .and_then(|n| n.path().clone())
    else {
        return Ok(());
    };
    let f = std::fs::File::open(&path).map_err(|e| InitFailure {
        exit_code: 1,
        message: format!("open pid namespace {}: {e}", path.display()),
    })?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWPID).map_err(|e| InitFailure {
        exit_code: 1,
        message: format!("join pid namespace {}: {e}", path.display()),
    })
}

fn spawn(shim: &ShimConfig, spec: &oci_spec::runtime::Spec) -> Result<Spawned, InitFailure> {
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let sys = |step: &'static str| {
        move |e: nix::Error| InitFailure { exit_code: 1, message: format!("{step}: {e}") }
    };
    let (out_r, out_w) = nix::unistd::pipe2(cloexec).map_err(sys("pipe"))?;
    let (err_r, err_w) = nix::unistd::pipe2(cloexec).map_err(sys("pipe"))?;
    // stdin: a pipe we hold the write end of, for attachments; else /dev/null.
    let (stdin, stdin_w) = if shim.stdin && !shim.tty {
        let (r, w) =
            nix::unistd::pipe2(cloexec | nix::fcntl::OFlag::O_NONBLOCK).map_err(sys("pipe"))?;
        // Only our end stays non-blocking.
        nix::fcntl::fcntl(r.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))
            .map_err(sys("fcntl"))?;
        (r, Some(w))
    } else {
        (std::fs::File::open("/dev/null").map_err(fail("open /dev/null"))?.into(), None)
    };
    let (mut sync, child_sync) = UnixStream::pair().map_err(fail("socketpair"))?;
    // On v1 the cgroup's dirs exist before the container does, and its init
    // moves itself in first thing (see berth_kernel::cgroup).
    let cgroup_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let placement = match &cgroup_path {
        Some(path) => Placement::prepare(path)
            .map_err(|e| InitFailure { exit_code: 1, message: e.to_string() })?,
        None => None,
    };
    let cgroup_tasks = placement.as_ref().map(Placement::tasks).unwrap_or_default();
    let remove_cgroup = |f: InitFailure| {
        if let Some(p) = &placement {
            p.remove();
        }
        f
    };
    let overlay = Overlay {
        lower: shim.lower_dirs.clone(),
        upper: shim.upper_dir.clone(),
        work: shim.work_dir.clone(),
    };
    let image_volumes: Vec<ImageVolume> = shim
        .image_volumes
        .iter()
        .map(|v| ImageVolume {
            lower_dirs: v.lower_dirs.clone(),
            staging: v.staging.clone(),
            sub_path: v.sub_path.clone(),
            destination: v.destination.clone(),
        })
        .collect();
    let cfg = InitConfig {
        spec,
        rootfs: &shim.rootfs,
        overlay: (!shim.lower_dirs.is_empty()).then_some(&overlay),
        etc_files: &shim.etc_files,
        user: shim.user.as_deref(),
        groups_strict: shim.groups_strict,
        tty: shim.tty,
        cgroup_tasks: &cgroup_tasks,
        image_volumes: &image_volumes,
        init: shim.init,
    };
    join_pid_namespace(spec).map_err(remove_cgroup)?;
    let mut fds = Some(InitFds { stdin, stdout: out_w, stderr: err_w, sync: child_sync });
    let mut stack = vec![0u8; 512 * 1024];
    let flags = init::clone_flags(spec);
    #[allow(unsafe_code)]
    // SAFETY: the shim is single-threaded, and without CLONE_VM the child
    // gets its own copy of memory; the callback runs once on `stack` and
    // never returns (init::run execs or exits).
    let pid = unsafe {
        nix::sched::clone(
            Box::new(|| match fds.take() {
                Some(f) => init::run(&cfg, f),
                None => 1,
            }),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .map_err(|e| remove_cgroup(sys("clone")(e)))?;
    drop(fds); // our copies of the child's ends
    let kill_child = |f: InitFailure| {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        remove_cgroup(f)
    };
    // Go: the init mounts its rootfs while we apply the limits (libcgroups'
    // manager costs a few ms to build); it waits for them before it makes
    // or opens a device, and so before anything of the container runs.
    sync.write_all(b"g").map_err(|e| kill_child(fail("release container")(e)))?;
    let cgroup = match &cgroup_path {
        Some(path) => {
            let resources =
                spec.linux().as_ref().and_then(|l| l.resources().clone()).unwrap_or_default();
            let cg = Cgroup::new(path)
                .map_err(|e| kill_child(InitFailure { exit_code: 1, message: e.to_string() }))?;
            // Unified hosts: moved in by pid.
            let entered = if placement.is_none() { cg.enter(pid.as_raw()) } else { Ok(()) };
            if let Err(e) = entered.and_then(|_| cg.apply(&resources)) {
                let f = kill_child(InitFailure { exit_code: 1, message: e.to_string() });
                let _ = cg.remove();
                return Err(f);
            }
            Some(cg)
        }
        None => None,
    };
    let undo_cgroup = |f: InitFailure| {
        let f = kill_child(f);
        if let Some(cg) = &cgroup {
            let _ = cg.remove();
        }
        f
    };
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        // Best effort: without CAP_SYS_RESOURCE the kernel refuses values
        // below our own, and a container must not fail for that.
        let _ = std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string());
    }
    // Limits in place. A failed write means the init has already given up:
    // its message follows.
    let _ = sync.write_all(b"a");
    let mut msg = Vec::new();
    // A terminal comes first (unless the init failed before it had one).
    let mut terminal = None;
    if shim.tty {
        let (fd, bytes) = berth_kernel::pty::recv_fd_or_bytes(sync.as_fd())
            .map_err(|e| undo_cgroup(fail("receive the terminal")(e)))?;
        terminal = fd;
        msg = bytes;
    }
    let _ = sync.read_to_end(&mut msg);
    if !msg.is_empty() {
        return Err(undo_cgroup(InitFailure::decode(&msg)));
    }
    if shim.tty && terminal.is_none() {
        return Err(undo_cgroup(InitFailure {
            exit_code: 1,
            message: "the container's init sent no terminal".into(),
        }));
    }
    Ok(Spawned { pid, cgroup, stdout: out_r, stderr: err_r, terminal, stdin: stdin_w })
}

/// After the container exited, in an order that is safe against a quick
/// restart of the same container: the cgroup and socket are gone before the
/// exit record appears and before anyone waiting is told.
pub fn finish(c: &mut Container, bundle: &Path) -> ExitRecord {
    let mut exit = c.exit.clone().unwrap_or(ExitRecord {
        exit_code: 255,
        oom_killed: false,
        finished_unix_nanos: 0,
        reason: "unknown".into(),
    });
    if exit.finished_unix_nanos == 0 {
        exit.finished_unix_nanos = berth_proto::time::unix_nanos(SystemTime::now());
    }
    if let Some(cg) = c.cgroup.take() {
        let _ = cg.remove();
    }
    let _ = std::fs::remove_file(bundle.join(SOCKET_FILE));
    let _ = berth_kernel::fs::atomic_write(
        &bundle.join(EXIT_FILE),
        serde_json::to_vec(&exit).unwrap_or_default().as_slice(),
    );
    exit
}

/// Builds the exit record from a wait status.
pub fn exit_record(status: nix::sys::wait::WaitStatus, oom: bool) -> ExitRecord {
    use nix::sys::wait::WaitStatus;
    let code = match status {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        _ => 255,
    };
    let oom_killed = oom && code == 128 + Signal::SIGKILL as i32;
    ExitRecord {
        exit_code: code,
        oom_killed,
        finished_unix_nanos: berth_proto::time::unix_nanos(SystemTime::now()),
        reason: if oom_killed { "OOMKilled".into() } else { String::new() },
    }
}
