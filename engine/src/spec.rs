//! Pure OCI runtime spec generation: a container record in, the
//! `config.json` the shim runs out. Docker's defaults live here and only
//! here (capabilities, mounts, devices, masked and read-only paths), so the
//! handlers never grow spec code of their own.

use crate::container::{pod::cap_name, ContainerRecord, Propagation, Security};
use crate::error::{Error, Result};
use crate::sandbox::{NsMode, SandboxRecord};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
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
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn device(path: &str, major: i64, minor: i64) -> Value {
    json!({ "path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0 })
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

/// What the spec needs besides the record: the pod the container joins,
/// and the target container's PID namespace (TARGET mode).
#[derive(Debug, Default)]
pub struct SpecContext<'a> {
    /// The container's cgroup (see `Engine::cgroup_path`).
    pub cgroup_path: String,
    pub sandbox: Option<&'a SandboxRecord>,
    pub pid_ns_path: Option<PathBuf>,
}

/// The capability set: Docker's default (every capability when
/// privileged), then `ALL` in add or drop, then single adds and drops.
fn capabilities(sec: &Security) -> Vec<String> {
    // Every capability berth itself holds: a node may withhold some (this
    // one has no CAP_SYS_RESOURCE), and asking for more makes capset fail.
    let all = || caps::read(None, caps::CapSet::Bounding).unwrap_or_default().into_iter().map(|c| c.to_string()).collect::<BTreeSet<_>>();
    let mut set: BTreeSet<String> = if sec.privileged { all() } else { DEFAULT_CAPS.iter().map(|c| c.to_string()).collect() };
    let norm = |v: &[String]| v.iter().filter_map(|c| cap_name(c).ok()).collect::<Vec<_>>();
    let (add, drop) = (norm(&sec.cap_add), norm(&sec.cap_drop));
    if add.iter().any(|c| c == "ALL") {
        set = all();
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

/// A device node's type and numbers, read from the host.
fn host_device(path: &Path) -> Option<(&'static str, i64, i64, u32)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(path).ok()?;
    let t = if md.file_type().is_char_device() {
        "c"
    } else if md.file_type().is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = md.rdev();
    Some((t, libc::major(rdev) as i64, libc::minor(rdev) as i64, md.mode() & 0o7777))
}

/// Every device node under the host's /dev (privileged containers), as
/// containerd lists them: no pts, shm, mqueue or console.
fn host_devices() -> Vec<(PathBuf, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name();
            if ft.is_dir() {
                if !["pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts", ".udev"].contains(&name.to_str().unwrap_or("")) {
                    walk(&p, out);
                }
            } else if !ft.is_symlink() && name != "console" && host_device(&p).is_some() {
                out.push((p.clone(), p));
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

fn namespaces(rec: &ContainerRecord, ctx: &SpecContext<'_>) -> Result<Vec<Value>> {
    let mut ns = vec![json!({ "type": "mount" }), json!({ "type": "cgroup" })];
    match rec.config.security.pid {
        NsMode::Node => {}
        NsMode::Target => match &ctx.pid_ns_path {
            Some(p) => ns.push(json!({ "type": "pid", "path": p })),
            None => return Err(Error::FailedPrecondition(format!("target container {} is not running", rec.config.security.pid_target))),
        },
        // The pod's, when it has one (its init holds it); otherwise, as in
        // a pod whose own mode is CONTAINER, the container's own.
        NsMode::Pod => match ctx.sandbox.and_then(|s| s.pin("pid")) {
            Some(p) => ns.push(json!({ "type": "pid", "path": p })),
            None => ns.push(json!({ "type": "pid" })),
        },
        NsMode::Container => ns.push(json!({ "type": "pid" })),
    }
    match ctx.sandbox {
        None => ns.extend([json!({ "type": "ipc" }), json!({ "type": "uts" }), json!({ "type": "network" })]),
        Some(s) => {
            let modes = &s.config.namespaces;
            for (kind, typ, host) in [("net", "network", modes.network == NsMode::Node), ("uts", "uts", modes.network == NsMode::Node), ("ipc", "ipc", modes.ipc == NsMode::Node)] {
                if host {
                    continue;
                }
                let path = s.pin(kind).ok_or_else(|| Error::FailedPrecondition(format!("pod sandbox {} is not ready", s.id)))?;
                ns.push(json!({ "type": typ, "path": path }));
            }
            if modes.user.is_some() {
                let path = s.pin("user").ok_or_else(|| Error::FailedPrecondition(format!("pod sandbox {} is not ready", s.id)))?;
                ns.push(json!({ "type": "user", "path": path }));
            }
        }
    }
    Ok(ns)
}

/// The container's limits as OCI `linux.resources`, without device rules
/// (a live update leaves those alone: rewriting them would deny every
/// device for a moment, and listing a privileged container's means a walk of /dev).
pub(crate) fn limits(rec: &ContainerRecord) -> Value {
    let mut v = resources(rec, &[]);
    v.as_object_mut().map(|o| o.remove("devices"));
    v
}

fn resources(rec: &ContainerRecord, devices: &[(Value, Value)]) -> Value {
    let r = &rec.config.resources;
    let mut out = serde_json::Map::new();
    if r.memory_bytes > 0 {
        // No swap beyond the limit unless asked (as Kubernetes does).
        let swap = if r.memory_swap_bytes > 0 { r.memory_swap_bytes } else { r.memory_bytes };
        out.insert("memory".into(), json!({ "limit": r.memory_bytes, "swap": swap }));
    }
    let mut cpu = serde_json::Map::new();
    if r.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(r.cpu_quota));
        cpu.insert("period".into(), json!(if r.cpu_period > 0 { r.cpu_period } else { 100_000 }));
    }
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(r.cpuset_cpus));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(r.cpuset_mems));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if r.pids_limit > 0 {
        out.insert("pids".into(), json!({ "limit": r.pids_limit }));
    }
    if !r.hugepages.is_empty() {
        out.insert("hugepageLimits".into(), r.hugepages.iter().map(|(size, limit)| json!({ "pageSize": size, "limit": limit })).collect());
    }
    if !r.unified.is_empty() {
        out.insert("unified".into(), json!(r.unified));
    }
    // The device cgroup: deny all, then what /dev holds (Docker's list), or
    // everything for a privileged container. A negative minor is `*`.
    let allow = |t: &str, maj: i64, min: i64, access: &str| {
        let mut d = json!({ "allow": true, "type": t, "major": maj, "access": access });
        if min >= 0 {
            d["minor"] = json!(min);
        }
        d
    };
    let rules: Vec<Value> = if rec.config.security.privileged {
        vec![json!({ "allow": true, "access": "rwm" })]
    } else {
        let mut v = vec![
            json!({ "allow": false, "access": "rwm" }),
            allow("c", 1, 3, "rwm"),
            allow("c", 1, 5, "rwm"),
            allow("c", 1, 7, "rwm"),
            allow("c", 1, 8, "rwm"),
            allow("c", 1, 9, "rwm"),
            allow("c", 5, 0, "rwm"),
            allow("c", 5, 1, "rwm"),
            allow("c", 5, 2, "rwm"),
            allow("c", 136, -1, "rwm"),
            allow("c", 10, 200, "rwm"),
        ];
        v.extend(devices.iter().map(|(_, rule)| rule.clone()));
        v
    };
    out.insert("devices".into(), Value::Array(rules));
    Value::Object(out)
}

/// Extra device nodes: the requested ones, or all of the host's when privileged.
fn devices(rec: &ContainerRecord) -> Vec<(Value, Value)> {
    let wanted: Vec<(PathBuf, PathBuf, String)> = if rec.config.security.privileged {
        host_devices().into_iter().map(|(h, c)| (h, c, "rwm".to_string())).collect()
    } else {
        rec.config.devices.iter().map(|d| (d.host_path.clone(), d.container_path.clone(), d.permissions.clone())).collect()
    };
    wanted
        .into_iter()
        .filter_map(|(host, dest, perms)| {
            let (t, major, minor, mode) = host_device(&host)?;
            let node = json!({ "path": dest, "type": t, "major": major, "minor": minor, "fileMode": mode, "uid": 0, "gid": 0 });
            let rule = json!({ "allow": true, "type": t, "major": major, "minor": minor, "access": perms });
            Some((node, rule))
        })
        .collect()
}

/// Builds the spec for `rec`.
pub fn build(rec: &ContainerRecord, ctx: &SpecContext<'_>) -> Result<Spec> {
    let c = &rec.config;
    let sec = &c.security;
    if c.args.is_empty() {
        return Err(Error::InvalidArgument("no command specified".into()));
    }
    let caps = capabilities(sec);
    let extra_devices = devices(rec);
    let namespaces = namespaces(rec, ctx)?;
    let own_uts = namespaces.iter().any(|n| n["type"] == "uts" && n.get("path").is_none());
    let mut mounts = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if sec.privileged { "rw" } else { "ro" }] }),
        json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
    ];
    for m in &c.mounts {
        let mut options = vec!["rbind".to_string(), m.propagation.option().to_string()];
        if m.readonly {
            options.push("ro".into());
        }
        if m.recursive_readonly {
            // runc's word for it; berth's init applies it with mount_setattr.
            options.push("rro".into());
        }
        options.extend(m.options.iter().cloned());
        // A user mount replaces a default one at the same place.
        mounts.retain(|d| d["destination"] != json!(m.container_path));
        mounts.push(json!({ "destination": m.container_path, "type": "bind", "source": m.host_path, "options": options }));
    }
    let (masked, readonly): (Vec<String>, Vec<String>) = if sec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            sec.masked_paths.clone().unwrap_or_else(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect()),
            sec.readonly_paths.clone().unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()),
        )
    };
    let mut dev_nodes =
        vec![device("/dev/null", 1, 3), device("/dev/zero", 1, 5), device("/dev/full", 1, 7), device("/dev/random", 1, 8), device("/dev/urandom", 1, 9), device("/dev/tty", 5, 0)];
    for (node, _) in &extra_devices {
        dev_nodes.retain(|d| d["path"] != node["path"]);
        dev_nodes.push(node.clone());
    }
    let mut process = json!({
        "terminal": false,
        "user": { "uid": 0, "gid": 0, "additionalGids": sec.supplemental_groups },
        "args": c.args,
        "env": environment(rec),
        "cwd": if c.working_dir.is_empty() { "/" } else { c.working_dir.as_str() },
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "noNewPrivileges": sec.no_new_privs,
        "rlimits": c.ulimits.iter().map(|u| json!({ "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard })).collect::<Vec<_>>(),
    });
    if let Some(adj) = c.resources.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    let mut value = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": "rootfs", "readonly": c.read_only },
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": ctx.cgroup_path,
            "resources": resources(rec, &extra_devices),
            "devices": dev_nodes,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
        },
    });
    if own_uts {
        value["hostname"] = json!(c.hostname);
    }
    if let Some(u) = ctx.sandbox.and_then(|s| s.config.namespaces.user) {
        let map = |m: crate::sandbox::IdMapping| json!([{ "containerID": m.container_id, "hostID": m.host_id, "size": m.length }]);
        value["linux"]["uidMappings"] = map(u.uids);
        value["linux"]["gidMappings"] = map(u.gids);
    }
    // As containerd: a volume that shares mounts with the host needs a root
    // that does too (rshared before rslave); otherwise every mount is private.
    let wants = |p: Propagation| c.mounts.iter().any(|m| m.propagation == p);
    if wants(Propagation::Shared) {
        value["linux"]["rootfsPropagation"] = json!(Propagation::Shared.option());
    } else if wants(Propagation::Slave) {
        value["linux"]["rootfsPropagation"] = json!(Propagation::Slave.option());
    }
    if !sec.privileged {
        if let Some(profile) = sec.seccomp.profile()? {
            let filter = profile.resolve(&crate::seccomp::Target::node(&caps))?;
            value["linux"]["seccomp"] = serde_json::to_value(filter).map_err(|e| Error::Internal(format!("seccomp: {e}")))?;
        }
    }
    serde_json::from_value(value).map_err(|e| Error::Internal(format!("spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{ContainerConfig, ContainerRecord, Resources};

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
                resources: Resources { memory_bytes: 64 << 20, cpu_quota: 50_000, pids_limit: 20, ..Default::default() },
                read_only: true,
                ulimits: vec![crate::container::Ulimit::parse("nofile=256:512").unwrap()],
                ..Default::default()
            },
        )
    }

    #[test]
    fn docker_defaults() {
        let s = build(&rec(), &SpecContext { cgroup_path: format!("/berth/{}", "a".repeat(64)), ..Default::default() }).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["sleep", "1"]);
        let env = p.env().as_ref().unwrap();
        assert!(env[0].starts_with("PATH=") && env.contains(&"HOSTNAME=aaaaaaaaaaaa".to_string()) && env.contains(&"A=1".to_string()));
        assert_eq!(p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 14);
        assert_eq!(p.no_new_privileges(), Some(true));
        let rl = &p.rlimits().as_ref().unwrap()[0];
        assert_eq!((rl.typ(), rl.soft(), rl.hard()), (oci_spec::runtime::PosixRlimitType::RlimitNofile, 256, 512));
        assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
        let l = s.linux().as_ref().unwrap();
        assert_eq!(l.cgroups_path().as_ref().unwrap().to_str().unwrap(), format!("/berth/{}", "a".repeat(64)));
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
}
