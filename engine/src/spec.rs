//! Pure OCI runtime spec generation: a container record in, the
//! `config.json` the shim runs out. Docker's defaults live here and only
//! here (capabilities, mounts, devices, masked and read-only paths), so the
//! handlers never grow spec code of their own.

use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

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

/// Builds the spec for `rec`, with its cgroup under `cgroup_parent`.
pub fn build(rec: &ContainerRecord, cgroup_parent: &str) -> Result<Spec> {
    let c = &rec.config;
    if c.args.is_empty() {
        return Err(Error::InvalidArgument("no command specified".into()));
    }
    let caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    let mut resources = json!({ "devices": [{ "allow": false, "access": "rwm" }] });
    let r = &c.resources;
    if r.memory_bytes > 0 {
        // No swap beyond the limit (as Kubernetes does; this node has none).
        resources["memory"] = json!({ "limit": r.memory_bytes, "swap": r.memory_bytes });
    }
    let mut cpu = serde_json::Map::new();
    if r.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(r.cpu_quota));
        cpu.insert("period".into(), json!(if r.cpu_period > 0 { r.cpu_period } else { 100_000 }));
    }
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if r.pids_limit > 0 {
        resources["pids"] = json!({ "limit": r.pids_limit });
    }
    // The device cgroup: deny all, then what /dev holds (Docker's list).
    // A negative minor is the `*` wildcard (the field is left out).
    let allow = |t: &str, maj: i64, min: i64| {
        let mut d = json!({ "allow": true, "type": t, "major": maj, "access": "rwm" });
        if min >= 0 {
            d["minor"] = json!(min);
        }
        d
    };
    resources["devices"] = json!([
        { "allow": false, "access": "rwm" },
        allow("c", 1, 3), allow("c", 1, 5), allow("c", 1, 7), allow("c", 1, 8), allow("c", 1, 9),
        allow("c", 5, 0), allow("c", 5, 1), allow("c", 5, 2), allow("c", 136, -1), allow("c", 10, 200),
    ]);

    let value = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": c.args,
            "env": environment(rec),
            "cwd": if c.working_dir.is_empty() { "/" } else { c.working_dir.as_str() },
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "noNewPrivileges": true,
            "rlimits": c.ulimits.iter().map(|u| json!({ "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard })).collect::<Vec<_>>(),
            "oomScoreAdj": 0,
        },
        "root": { "path": "rootfs", "readonly": c.read_only },
        "hostname": c.hostname,
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
        ],
        "linux": {
            "namespaces": [{ "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "network" }, { "type": "cgroup" }],
            "cgroupsPath": format!("/{}/{}", cgroup_parent.trim_matches('/'), rec.id),
            "resources": resources,
            "devices": [
                device("/dev/null", 1, 3), device("/dev/zero", 1, 5), device("/dev/full", 1, 7),
                device("/dev/random", 1, 8), device("/dev/urandom", 1, 9), device("/dev/tty", 5, 0),
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    });
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
        let s = build(&rec(), "berth").unwrap();
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
        assert!(matches!(build(&r, "berth"), Err(Error::InvalidArgument(_))));
    }
}
