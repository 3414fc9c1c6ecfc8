//! Who the container's process becomes: its user namespace, its user and
//! groups (from the container's own /etc/passwd and /etc/group), rlimits,
//! capabilities, no_new_privs and seccomp, and the program found on its PATH.

use super::{fail, mark_all_cloexec, Command, InitFailure};
use crate::user::{self, ExecUser};
use nix::sched::{setns, CloneFlags};
use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType};
use std::ffi::CString;
use std::io::Read;

/// The user namespace the spec names by path, opened (we can't see the
/// path once we pivot).
pub(crate) fn user_namespace(
    namespaces: &[oci_spec::runtime::LinuxNamespace],
) -> Result<Option<std::fs::File>, InitFailure> {
    match namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::User)
        .and_then(|n| n.path().as_ref())
    {
        Some(p) => std::fs::File::open(p)
            .map(Some)
            .map_err(|e| InitFailure::new(1, format!("open user namespace {}: {e}", p.display()))),
        None => Ok(None),
    }
}

/// The user a process runs as: `user` resolved in the container's own
/// /etc/passwd and /etc/group (we are inside its root), or the spec's
/// uid/gid; plus the spec's additional groups.
pub(crate) fn identity(
    user: Option<&str>,
    groups_strict: bool,
    process: &oci_spec::runtime::Process,
) -> Result<ExecUser, InitFailure> {
    let spec_user = process.user();
    Ok(match user {
        Some(u) if !u.is_empty() => {
            let passwd = read_small("/etc/passwd");
            let group = read_small("/etc/group");
            let mut who = user::resolve(u, &passwd, &group).map_err(|e| InitFailure::new(1, e))?;
            if groups_strict {
                who.groups = vec![who.gid];
            }
            for g in spec_user.additional_gids().clone().unwrap_or_default() {
                if !who.groups.contains(&g) {
                    who.groups.push(g);
                }
            }
            who
        }
        _ => ExecUser {
            uid: spec_user.uid(),
            gid: spec_user.gid(),
            groups: std::iter::once(spec_user.gid())
                .chain(spec_user.additional_gids().clone().unwrap_or_default())
                .collect(),
            home: home_of(spec_user.uid()),
        },
    })
}

/// The last steps before exec, shared by a container's init and an exec in
/// it: rlimits, working directory (checked inside the root), capabilities,
/// identity, no_new_privs, environment and the resolved command; the seccomp
/// filter is compiled here and installed as late as it can be: right before
/// execve with no_new_privs, else before capabilities are dropped (loading a
/// filter without no_new_privs needs CAP_SYS_ADMIN), as runc does.
pub(crate) fn become_process(
    process: &oci_spec::runtime::Process,
    who: &ExecUser,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    userns: Option<&std::fs::File>,
) -> Result<Command, InitFailure> {
    let mut filter =
        seccomp.map(crate::seccomp::compile).transpose().map_err(|e| InitFailure::new(1, e))?;
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    for r in process.rlimits().clone().unwrap_or_default() {
        let res = rlimit_resource(r.typ())
            .ok_or_else(|| InitFailure::new(1, format!("unknown rlimit {}", r.typ())))?;
        setrlimit(res, r.soft(), r.hard())
            .map_err(|e| InitFailure::new(1, format!("setrlimit {}: {e}", r.typ())))?;
    }
    // Raising hard limits needs host root; everything after is done as the
    // namespace's root (its uid and gid are then set inside it).
    if let Some(u) = userns {
        setns(u, CloneFlags::CLONE_NEWUSER).map_err(fail("join the pod's user namespace"))?;
    }

    // Working directory: created if missing (as Docker does), entered after
    // pivot_root, and checked to resolve inside the container's root.
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(InitFailure::new(
            1,
            format!("working directory {} is not absolute", cwd.display()),
        ));
    }
    if !cwd.exists() {
        std::fs::create_dir_all(cwd).map_err(|e| {
            InitFailure::new(1, format!("create working directory {}: {e}", cwd.display()))
        })?;
    }

    // Capabilities and identity.
    if !no_new_privs {
        if let Some(f) = filter.take() {
            crate::seccomp::install(&f).map_err(|e| InitFailure::new(1, e))?;
        }
    }
    let caps = process.capabilities().clone().unwrap_or_default();
    let bounding = to_caps(caps.bounding());
    for c in caps::all() {
        if !bounding.contains(&c) && caps::has_cap(None, caps::CapSet::Bounding, c).unwrap_or(false)
        {
            caps::drop(None, caps::CapSet::Bounding, c)
                .map_err(fail("drop bounding capability"))?;
        }
    }
    prctl::set_keepcaps(true).map_err(fail("keepcaps"))?;
    let groups: Vec<Gid> = who.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(fail("setgroups"))?;
    nix::unistd::setresgid(Gid::from_raw(who.gid), Gid::from_raw(who.gid), Gid::from_raw(who.gid))
        .map_err(fail("setgid"))?;
    nix::unistd::setresuid(Uid::from_raw(who.uid), Uid::from_raw(who.uid), Uid::from_raw(who.uid))
        .map_err(fail("setuid"))?;
    prctl::set_keepcaps(false).map_err(fail("keepcaps"))?;
    caps::set(None, caps::CapSet::Effective, &to_caps(caps.effective()))
        .map_err(fail("set effective capabilities"))?;
    caps::set(None, caps::CapSet::Permitted, &to_caps(caps.permitted()))
        .map_err(fail("set permitted capabilities"))?;
    caps::set(None, caps::CapSet::Inheritable, &to_caps(caps.inheritable()))
        .map_err(fail("set inheritable capabilities"))?;
    for c in to_caps(caps.ambient()) {
        caps::raise(None, caps::CapSet::Ambient, c).map_err(fail("raise ambient capability"))?;
    }
    if no_new_privs {
        prctl::set_no_new_privs().map_err(fail("no_new_privs"))?;
    }

    nix::unistd::chdir(cwd)
        .map_err(|e| InitFailure::new(1, format!("chdir to {}: {e}", cwd.display())))?;
    let here = nix::unistd::getcwd().map_err(fail("getcwd"))?;
    if !here.is_absolute() || here.to_string_lossy().starts_with("(unreachable)") {
        return Err(InitFailure::new(
            1,
            format!("working directory {} is outside the container", cwd.display()),
        ));
    }

    // Environment and command.
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", who.home));
    }
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(InitFailure::new(1, "no command specified"));
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let program = find_program(&args[0], path_var)?;
    let cstr =
        |s: &str| CString::new(s).map_err(|_| InitFailure::new(1, format!("NUL byte in {s:?}")));
    // argv[0] stays what the user wrote.
    let argv = args.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let envp = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    mark_all_cloexec();
    Ok(Command { program: cstr(&program)?, argv, envp, seccomp: filter })
}

/// Finds `name` as `execvp` would, in the container's root.
fn find_program(name: &str, path_var: &str) -> Result<String, InitFailure> {
    if name.contains('/') {
        return Ok(name.to_owned());
    }
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{dir}/{name}");
        if let Ok(md) = std::fs::metadata(&candidate) {
            if md.is_file()
                && nix::unistd::access(candidate.as_str(), nix::unistd::AccessFlags::X_OK).is_ok()
            {
                return Ok(candidate);
            }
        }
    }
    Err(InitFailure::new(127, format!("exec: \"{name}\": executable file not found in $PATH")))
}

fn read_small(path: &str) -> String {
    let mut s = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(1 << 20).read_to_string(&mut s);
    }
    s
}

fn home_of(uid: u32) -> String {
    user::resolve(&uid.to_string(), &read_small("/etc/passwd"), "")
        .map(|u| u.home)
        .unwrap_or_else(|_| "/".into())
}

fn to_caps(set: &Option<oci_spec::runtime::Capabilities>) -> caps::CapsHashSet {
    set.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<caps::Capability>().ok())
        .collect()
}

fn rlimit_resource(t: PosixRlimitType) -> Option<Resource> {
    Some(match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_map() {
        let set: oci_spec::runtime::Capabilities =
            [oci_spec::runtime::Capability::Chown, oci_spec::runtime::Capability::NetRaw]
                .into_iter()
                .collect();
        let c = to_caps(&Some(set));
        assert!(
            c.contains(&caps::Capability::CAP_CHOWN) && c.contains(&caps::Capability::CAP_NET_RAW)
        );
    }
}
