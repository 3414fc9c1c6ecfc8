//! What spec building reads from the node, read here once per start so
//! that `spec/` stays pure: the capabilities berth holds, the kernel
//! and architecture seccomp rules match, the cgroup controllers limits
//! can use, and the device nodes a container gets.

use crate::model::ContainerRecord;
use crate::spec::{HostDevice, NodeFacts};
use oci_spec::runtime::LinuxDeviceType;
use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// This node's facts, read once.
pub(crate) fn facts() -> NodeFacts {
    static FACTS: std::sync::OnceLock<NodeFacts> = std::sync::OnceLock::new();
    FACTS.get_or_init(read_facts).clone()
}

fn read_facts() -> NodeFacts {
    // Every capability berth itself holds: a node may withhold some (this
    // one has no CAP_SYS_RESOURCE), and asking for more makes capset fail.
    let caps = caps::read(None, caps::CapSet::Bounding)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.to_string())
        .collect::<BTreeSet<_>>();
    NodeFacts { caps, arch: crate::seccomp::go_arch(), kernel: crate::seccomp::kernel_version() }
}

/// The cgroup controllers containers' limits can use here, read once;
/// `None` (with a warning) when they can't be read.
pub(crate) fn cgroup_controllers() -> Option<&'static berth_kernel::cgroup::Controllers> {
    static CONTROLLERS: std::sync::OnceLock<Option<berth_kernel::cgroup::Controllers>> =
        std::sync::OnceLock::new();
    CONTROLLERS
        .get_or_init(|| berth_kernel::cgroup::controllers().map_err(|e| tracing::warn!(error = %e, "can't read the node's cgroup controllers: limits are passed on as asked")).ok())
        .as_ref()
}

/// The device nodes `rec` gets beyond the defaults: the requested ones, or
/// all of the host's when privileged. A path that is no device is skipped.
pub(crate) fn devices(rec: &ContainerRecord) -> Vec<HostDevice> {
    if rec.config.security.privileged {
        let mut found = Vec::new();
        walk(Path::new("/dev"), &mut found);
        found.into_iter().filter_map(|p| device(&p, &p, "rwm")).collect()
    } else {
        rec.config
            .devices
            .iter()
            .filter_map(|d| device(&d.host_path, &d.container_path, &d.permissions))
            .collect()
    }
}

fn device(host: &Path, container: &Path, access: &str) -> Option<HostDevice> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(host).ok()?;
    let kind = if md.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if md.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let rdev = md.rdev();
    Some(HostDevice {
        path: container.to_owned(),
        kind,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        mode: md.mode() & 0o7777,
        access: access.to_owned(),
    })
}

/// Every device node under the host's /dev, as containerd lists them for a
/// privileged container: no pts, shm, mqueue or console.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name();
        if ft.is_dir() {
            if !["pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts", ".udev"]
                .contains(&name.to_str().unwrap_or(""))
            {
                walk(&p, out);
            }
        } else if !ft.is_symlink()
            && name != "console"
            && (ft.is_char_device() || ft.is_block_device())
        {
            out.push(p);
        }
    }
}

/// The node's hostname.
pub(crate) fn node_hostname() -> crate::Result<String> {
    let h = nix::unistd::gethostname()
        .map_err(|e| crate::Error::Internal(format!("read the node's hostname: {e}")))?;
    Ok(h.to_string_lossy().into_owned())
}
