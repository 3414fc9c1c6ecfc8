//! What a test checks of the node: dirs, mounts, processes, cgroups and
//! the isolation chains a daemon leaves — and their removal, for drops.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Entry names of a dir, sorted (empty when it is missing).
pub fn dir_names(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .map(|r| {
            r.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Mount points at or below `dir` (pinned namespaces, ...), deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// Whether `pid` runs (a zombie doesn't).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Every cgroup hierarchy's dir for `parent`.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            let p = h.path().join(parent);
            if p.is_dir() {
                dirs.push(p);
            }
        }
    }
    let unified = Path::new("/sys/fs/cgroup").join(parent);
    if unified.is_dir() && !dirs.contains(&unified) {
        dirs.push(unified);
    }
    dirs
}

/// Every pid in `parent`'s cgroups, in every hierarchy.
pub fn cgroup_pids(parent: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for d in cgroup_dirs(parent) {
        walk(&d, &mut |p| {
            if let Ok(s) = std::fs::read_to_string(p.join("cgroup.procs")) {
                pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        });
    }
    pids.sort();
    pids.dedup();
    pids
}

fn walk(dir: &Path, f: &mut impl FnMut(&Path)) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), f);
            }
        }
    }
    f(dir);
}

/// Removes `parent`'s cgroups (children first) in every hierarchy.
pub fn remove_cgroups(parent: &str) {
    for d in cgroup_dirs(parent) {
        // Children first (walk visits them before their parent).
        walk(&d, &mut |p| {
            for _ in 0..50 {
                if std::fs::remove_dir(p).is_ok() || !p.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
}

/// Whether `parent` still has cgroups on this host.
pub fn cgroups_exist(parent: &str) -> bool {
    !cgroup_dirs(parent).is_empty()
}

/// Takes away a bridge's isolation chain (berthd's `BERTH-ISO-…`) and its jump.
pub fn release_isolation(bridge: &str) {
    let name = bridge.strip_prefix("br-").unwrap_or(bridge);
    let chain = format!("BERTH-ISO-{}", &name[..name.len().min(18)]);
    while Command::new("iptables")
        .args(["-w", "-D", "FORWARD", "-i", bridge, "-j", &chain])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {}
    if Command::new("iptables")
        .args(["-w", "-F", &chain])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        let _ = Command::new("iptables").args(["-w", "-X", &chain]).status();
    }
}

/// Whether an isolation chain of berth's is in the filter table for `bridge`.
pub fn isolation_exists(bridge: &str) -> bool {
    let name = bridge.strip_prefix("br-").unwrap_or(bridge);
    let chain = format!("BERTH-ISO-{}", &name[..name.len().min(18)]);
    Command::new("iptables")
        .args(["-w", "-S", &chain])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
