//! Pure OCI runtime spec generation: a container record and what was read
//! from the node in, the `config.json` the shim runs out, built with
//! `oci-spec`'s typed builders (a misspelt field doesn't compile). Docker's
//! defaults live here and only here (capabilities, mounts, devices, masked
//! and read-only paths), so the handlers never grow spec code of their own.
//! Nothing here reads the host: `host.rs` does, and passes [`NodeFacts`]
//! and the [`HostDevice`]s in.

mod resources;

pub(crate) use resources::limits;
use resources::{device_node, resources};

use crate::error::{Error, Result};
use crate::model::pod::cap_name;
use crate::model::{ContainerRecord, PidNamespace, Propagation, SandboxRecord, Security};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceType, LinuxIdMappingBuilder,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers.
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
pub const READONLY_PATHS: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the spec needs to know about the node.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// The capabilities berth holds (`CAP_*`): what "all" means here.
    pub caps: BTreeSet<String>,
    /// Go-style architecture name, as seccomp profiles name it.
    pub arch: &'static str,
    /// Kernel (major, minor), for seccomp rules with a minimum kernel.
    pub kernel: (u32, u32),
}

/// A device node the container gets, as read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Where it appears in the container.
    pub path: PathBuf,
    pub kind: LinuxDeviceType,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    /// cgroup access, a subset of `rwm`.
    pub access: String,
}

/// What the spec needs besides the record.
#[derive(Debug, Default)]
pub struct SpecContext<'a> {
    /// The container's cgroup (see `Engine::cgroup_path`).
    pub cgroup_path: String,
    /// The pod the container joins.
    pub sandbox: Option<&'a SandboxRecord>,
    /// The target container's PID namespace (TARGET mode).
    pub pid_ns_path: Option<PathBuf>,
    /// The network namespace a container outside pods joins (its own
    /// sandbox's on the default bridge).
    pub net_ns_path: Option<PathBuf>,
    pub node: NodeFacts,
    /// Device nodes beyond the defaults (all of the host's when privileged).
    pub devices: Vec<HostDevice>,
}

/// The container's environment: its own, then PATH and HOSTNAME if missing.
pub fn environment(rec: &ContainerRecord) -> Vec<String> {
    let mut env = rec.config.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.into());
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", rec.config.hostname));
    }
    env
}

fn spec_error(what: &'static str) -> impl Fn(oci_spec::OciSpecError) -> Error {
    move |e| Error::Internal(format!("spec {what}: {e}"))
}

/// The capability set: Docker's default (every capability the node has
/// when privileged), then `ALL` in add or drop, then single adds and drops.
fn capabilities(sec: &Security, node: &BTreeSet<String>) -> Vec<String> {
    let mut set: BTreeSet<String> = if sec.privileged {
        node.clone()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    let norm = |v: &[String]| v.iter().filter_map(|c| cap_name(c).ok()).collect::<Vec<_>>();
    let (add, drop) = (norm(&sec.cap_add), norm(&sec.cap_drop));
    if add.iter().any(|c| c == "ALL") {
        set = node.clone();
    }
    if drop.iter().any(|c| c == "ALL") {
        set.clear();
    }
    set.extend(add.into_iter().filter(|c| c != "ALL"));
    for c in drop {
        set.remove(&c);
    }
    set.into_iter().collect()
}

/// `CAP_X` as oci-spec's type; a name it doesn't know (newer than it) is left out.
fn oci_capability(name: &str) -> Option<Capability> {
    name.strip_prefix("CAP_").unwrap_or(name).parse().ok()
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace> {
    let b = LinuxNamespaceBuilder::default().typ(typ);
    match path {
        Some(p) => b.path(p),
        None => b,
    }
    .build()
    .map_err(spec_error("namespace"))
}

fn namespaces(rec: &ContainerRecord, ctx: &SpecContext<'_>) -> Result<Vec<LinuxNamespace>> {
    let mut ns = vec![
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Cgroup, None)?,
    ];
    match &rec.config.security.pid {
        PidNamespace::Node => {}
        PidNamespace::Target(target) => match &ctx.pid_ns_path {
            Some(p) => ns.push(namespace(LinuxNamespaceType::Pid, Some(p))?),
            None => {
                return Err(Error::FailedPrecondition(format!(
                    "target container {target} is not running"
                )))
            }
        },
        // The pod's, when it has one (its init holds it); otherwise, as in
        // a pod whose own mode is CONTAINER, the container's own.
        PidNamespace::Pod => ns.push(namespace(
            LinuxNamespaceType::Pid,
            ctx.sandbox.and_then(|s| s.pin("pid")).as_deref(),
        )?),
        PidNamespace::Container => ns.push(namespace(LinuxNamespaceType::Pid, None)?),
    }
    match ctx.sandbox {
        None => {
            for typ in [LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts] {
                ns.push(namespace(typ, None)?);
            }
            if rec.config.network != crate::model::ContainerNetwork::Host {
                ns.push(namespace(LinuxNamespaceType::Network, ctx.net_ns_path.as_deref())?);
            }
        }
        Some(s) => {
            let modes = &s.config.namespaces;
            let host_net = modes.network == crate::model::NsMode::Node;
            let host_ipc = modes.ipc == crate::model::NsMode::Node;
            let pinned = |kind: &str| {
                s.pin(kind).ok_or_else(|| {
                    Error::FailedPrecondition(format!("pod sandbox {} is not ready", s.id))
                })
            };
            for (kind, typ, host) in [
                ("net", LinuxNamespaceType::Network, host_net),
                ("uts", LinuxNamespaceType::Uts, host_net),
                ("ipc", LinuxNamespaceType::Ipc, host_ipc),
            ] {
                if !host {
                    ns.push(namespace(typ, Some(&pinned(kind)?))?);
                }
            }
            if modes.user.is_some() {
                ns.push(namespace(LinuxNamespaceType::User, Some(&pinned("user")?))?);
            }
        }
    }
    Ok(ns)
}

fn mount(
    destination: impl Into<PathBuf>,
    typ: &str,
    source: impl Into<PathBuf>,
    options: &[&str],
) -> Result<Mount> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(spec_error("mount"))
}

fn mounts(rec: &ContainerRecord) -> Result<Vec<Mount>> {
    let c = &rec.config;
    let sys = if c.security.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        )?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", sys])?,
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
    ];
    for m in &c.mounts {
        let mut options = vec!["rbind", m.propagation.option()];
        if m.readonly {
            options.push("ro");
        }
        if m.recursive_readonly {
            // runc's word for it; berth's init applies it with mount_setattr.
            options.push("rro");
        }
        options.extend(m.options.iter().map(String::as_str));
        // A user mount replaces a default one at the same place.
        mounts.retain(|d| d.destination() != &m.container_path);
        mounts.push(mount(&m.container_path, "bind", &m.host_path, &options)?);
    }
    for t in &c.tmpfs {
        let options = crate::container::tmpfs_options(t);
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        mounts.retain(|d| d.destination() != &t.container_path);
        mounts.push(mount(&t.container_path, "tmpfs", "tmpfs", &options)?);
    }
    Ok(mounts)
}

fn rlimits(rec: &ContainerRecord) -> Result<Vec<PosixRlimit>> {
    rec.config
        .ulimits
        .iter()
        .map(|u| {
            // Ulimit::parse admitted only names the kernel has.
            let typ: PosixRlimitType = format!("RLIMIT_{}", u.name.to_ascii_uppercase())
                .parse()
                .map_err(|_| Error::invalid(format!("unknown ulimit {:?}", u.name)))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()
                .map_err(spec_error("rlimit"))
        })
        .collect()
}

/// Builds the spec for `rec`.
pub fn build(rec: &ContainerRecord, ctx: &SpecContext<'_>) -> Result<Spec> {
    let c = &rec.config;
    let sec = &c.security;
    if c.args.is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    let caps = capabilities(sec, &ctx.node.caps);
    let cap_set =
        caps.iter().filter_map(|c| oci_capability(c)).collect::<oci_spec::runtime::Capabilities>();
    let namespaces = namespaces(rec, ctx)?;
    let own_uts =
        namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_none());
    let (masked, readonly): (Vec<String>, Vec<String>) = if sec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            sec.masked_paths
                .clone()
                .unwrap_or_else(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect()),
            sec.readonly_paths
                .clone()
                .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()),
        )
    };
    let c_dev = LinuxDeviceType::C;
    let mut dev_nodes = vec![
        device_node("/dev/null", c_dev, 1, 3, 0o666)?,
        device_node("/dev/zero", c_dev, 1, 5, 0o666)?,
        device_node("/dev/full", c_dev, 1, 7, 0o666)?,
        device_node("/dev/random", c_dev, 1, 8, 0o666)?,
        device_node("/dev/urandom", c_dev, 1, 9, 0o666)?,
        device_node("/dev/tty", c_dev, 5, 0, 0o666)?,
    ];
    for d in &ctx.devices {
        dev_nodes.retain(|n| n.path() != &d.path);
        dev_nodes.push(device_node(d.path.clone(), d.kind, d.major, d.minor, d.mode)?);
    }
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(cap_set.clone())
        .effective(cap_set.clone())
        .permitted(cap_set)
        .build()
        .map_err(spec_error("capabilities"))?;
    // (oci-spec's builders start from its own defaults, youki's: what berth
    // doesn't want is cleared, never left to them.)
    capabilities.set_inheritable(None).set_ambient(None);
    let user = UserBuilder::default()
        .uid(0u32)
        .gid(0u32)
        .additional_gids(sec.supplemental_groups.clone())
        .build()
        .map_err(spec_error("user"))?;
    let mut process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(c.args.clone())
        .env(environment(rec))
        .cwd(if c.working_dir.is_empty() { "/" } else { c.working_dir.as_str() })
        .capabilities(capabilities)
        .no_new_privileges(sec.no_new_privs)
        .rlimits(rlimits(rec)?);
    if let Some(adj) = c.resources.oom_score_adj {
        process = process.oom_score_adj(adj);
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&ctx.cgroup_path))
        .resources(resources(rec, &ctx.devices)?)
        .devices(dev_nodes)
        .masked_paths(masked)
        .readonly_paths(readonly);
    if let Some(u) = ctx.sandbox.and_then(|s| s.config.namespaces.user) {
        let map = |m: crate::model::IdMapping| {
            LinuxIdMappingBuilder::default()
                .container_id(m.container_id)
                .host_id(m.host_id)
                .size(m.length)
                .build()
                .map(|m| vec![m])
                .map_err(spec_error("id mapping"))
        };
        linux = linux.uid_mappings(map(u.uids)?).gid_mappings(map(u.gids)?);
    }
    // As containerd: a volume that shares mounts with the host needs a root
    // that does too (rshared before rslave); otherwise every mount is private.
    let wants = |p: Propagation| c.mounts.iter().any(|m| m.propagation == p);
    if wants(Propagation::Shared) {
        linux = linux.rootfs_propagation(Propagation::Shared.option());
    } else if wants(Propagation::Slave) {
        linux = linux.rootfs_propagation(Propagation::Slave.option());
    }
    if !sec.privileged {
        if let Some(profile) = sec.seccomp.profile()? {
            let target = crate::seccomp::Target {
                caps: &caps,
                arch: ctx.node.arch,
                kernel: ctx.node.kernel,
            };
            linux = linux.seccomp(profile.resolve(&target)?);
        }
    }
    let spec = SpecBuilder::default()
        .version("1.0.2")
        .process(process.build().map_err(spec_error("process"))?)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(c.read_only)
                .build()
                .map_err(spec_error("root"))?,
        )
        .mounts(mounts(rec)?)
        .linux(linux.build().map_err(spec_error("linux"))?);
    let mut spec = spec.build().map_err(spec_error("spec"))?;
    // The container's own UTS namespace gets its hostname; a pod's has it.
    spec.set_hostname(own_uts.then(|| c.hostname.clone())).set_annotations(None);
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ContainerConfig, ContainerRecord, IdMapping, NamespaceModes, Resources, SandboxOptions,
        SandboxState, UserNamespace,
    };

    fn rec() -> ContainerRecord {
        ContainerRecord::new(
            "a".repeat(64),
            "web".into(),
            "busybox".into(),
            "sha256:x".into(),
            ContainerConfig {
                args: vec!["sleep".into(), "1".into()],
                env: vec!["A=1".into()],
                hostname: "aaaaaaaaaaaa".into(),
                resources: Resources {
                    memory_bytes: 64 << 20,
                    cpu_quota: 50_000,
                    pids_limit: 20,
                    ..Default::default()
                },
                read_only: true,
                ulimits: vec![crate::model::Ulimit::parse("nofile=256:512").unwrap()],
                ..Default::default()
            },
        )
    }

    #[test]
    fn docker_defaults() {
        let s = build(
            &rec(),
            &SpecContext {
                cgroup_path: format!("/berth/{}", "a".repeat(64)),
                ..Default::default()
            },
        )
        .unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["sleep", "1"]);
        let env = p.env().as_ref().unwrap();
        assert!(
            env[0].starts_with("PATH=")
                && env.contains(&"HOSTNAME=aaaaaaaaaaaa".to_string())
                && env.contains(&"A=1".to_string())
        );
        assert_eq!(p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 14);
        assert_eq!(p.no_new_privileges(), Some(true));
        // Nothing of oci-spec's own defaults (youki's) slips in.
        let caps = p.capabilities().as_ref().unwrap();
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());
        assert!(s.annotations().is_none() && s.hostname().as_deref() == Some("aaaaaaaaaaaa"));
        let rl = &p.rlimits().as_ref().unwrap()[0];
        assert_eq!(
            (rl.typ(), rl.soft(), rl.hard()),
            (oci_spec::runtime::PosixRlimitType::RlimitNofile, 256, 512)
        );
        assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
        let l = s.linux().as_ref().unwrap();
        assert_eq!(
            l.cgroups_path().as_ref().unwrap().to_str().unwrap(),
            format!("/berth/{}", "a".repeat(64))
        );
        let res = l.resources().as_ref().unwrap();
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(res.cpu().as_ref().unwrap().quota(), Some(50_000));
        assert_eq!(res.cpu().as_ref().unwrap().period(), Some(100_000));
        assert_eq!(res.pids().as_ref().unwrap().limit(), 20);
        assert!(l.masked_paths().as_ref().unwrap().contains(&"/proc/kcore".to_string()));
        assert_eq!(s.mounts().as_ref().unwrap().len(), 6);
    }

    #[test]
    fn no_command_is_refused() {
        let mut r = rec();
        r.config.args.clear();
        assert!(matches!(build(&r, &SpecContext::default()), Err(Error::InvalidArgument(_))));
    }

    fn pod(user: Option<UserNamespace>) -> SandboxRecord {
        let pins = ["net", "uts", "ipc", "pid", "user"]
            .iter()
            .map(|k| PathBuf::from(format!("/run/berth/pods/p/ns/{k}")))
            .collect();
        let config = SandboxOptions {
            name: "p".into(),
            namespaces: NamespaceModes { user, ..Default::default() },
            ..Default::default()
        };
        SandboxRecord {
            id: "p".repeat(64),
            config,
            created_at: 0,
            state: SandboxState::Ready,
            pins,
            ips: Vec::new(),
            init_pid: Some(7),
            quarantined: false,
        }
    }

    #[test]
    fn privileged_gets_what_the_node_has_and_nothing_is_read_from_the_host() {
        let mut r = rec();
        r.config.security.privileged = true;
        let node = NodeFacts {
            caps: ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_BPF"].iter().map(|c| c.to_string()).collect(),
            arch: "amd64",
            kernel: (6, 1),
        };
        let fuse = HostDevice {
            path: "/dev/fuse".into(),
            kind: LinuxDeviceType::C,
            major: 10,
            minor: 229,
            mode: 0o666,
            access: "rwm".into(),
        };
        let s =
            build(&r, &SpecContext { node, devices: vec![fuse], ..Default::default() }).unwrap();
        let caps = s
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap();
        assert_eq!(
            caps,
            [Capability::Chown, Capability::SysAdmin, Capability::Bpf].into_iter().collect()
        );
        let l = s.linux().as_ref().unwrap();
        assert!(l
            .devices()
            .as_ref()
            .unwrap()
            .iter()
            .any(|d| d.path() == Path::new("/dev/fuse") && d.major() == 10 && d.minor() == 229));
        assert!(l.masked_paths().as_ref().unwrap().is_empty() && l.seccomp().is_none());
        let rules = l.resources().as_ref().unwrap().devices().clone().unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        // A live update never rewrites device rules.
        assert!(limits(&r).unwrap().devices().is_none());
    }

    #[test]
    fn namespaces_are_the_pods_and_a_target_must_run() {
        let mut r = rec();
        r.config.security.pid = PidNamespace::Pod;
        let p = pod(Some(UserNamespace {
            uids: IdMapping { container_id: 0, host_id: 100_000, length: 65536 },
            gids: IdMapping { container_id: 0, host_id: 100_000, length: 65536 },
        }));
        let s = build(&r, &SpecContext { sandbox: Some(&p), ..Default::default() }).unwrap();
        let l = s.linux().as_ref().unwrap();
        let ns = l.namespaces().clone().unwrap();
        let path =
            |t: LinuxNamespaceType| ns.iter().find(|n| n.typ() == t).and_then(|n| n.path().clone());
        assert_eq!(path(LinuxNamespaceType::Pid), Some(PathBuf::from("/run/berth/pods/p/ns/pid")));
        assert_eq!(
            path(LinuxNamespaceType::Network),
            Some(PathBuf::from("/run/berth/pods/p/ns/net"))
        );
        assert_eq!(
            path(LinuxNamespaceType::User),
            Some(PathBuf::from("/run/berth/pods/p/ns/user"))
        );
        assert!(s.hostname().is_none(), "the pod's UTS namespace has the hostname");
        assert_eq!(l.uid_mappings().as_ref().unwrap()[0].host_id(), 100_000);
        r.config.security.pid = PidNamespace::Target("b".repeat(64));
        assert!(matches!(build(&r, &SpecContext::default()), Err(Error::FailedPrecondition(_))));
        let s = build(
            &r,
            &SpecContext { pid_ns_path: Some("/proc/9/ns/pid".into()), ..Default::default() },
        )
        .unwrap();
        assert!(s
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Pid
                && n.path() == &Some(PathBuf::from("/proc/9/ns/pid"))));
    }

    #[test]
    fn pid_namespace_records_keep_their_old_shape() {
        let sec = Security { pid: PidNamespace::Target("abc".into()), ..Default::default() };
        let v = serde_json::to_value(&sec).unwrap();
        assert_eq!((v["pid"].as_str(), v["pid_target"].as_str()), (Some("target"), Some("abc")));
        let old: Security = serde_json::from_str(r#"{"pid":"node","pid_target":""}"#).unwrap();
        assert_eq!(old.pid, PidNamespace::Node);
        let older: Security = serde_json::from_str("{}").unwrap();
        assert_eq!(older.pid, PidNamespace::Container);
    }
}
