//! Container cgroups through `libcgroups`, on v1, hybrid (this node: v1
//! controllers plus a hugetlb-only cgroup2 mount) and unified v2 hosts.
//!
//! berth uses the cgroupfs driver: a container's cgroup is `<parent>/<id>`
//! under every controller's hierarchy.
//!
//! Placement on v1 hierarchies: a process moved in by pid (`cgroup.procs`)
//! takes the kernel's global threadgroup lock for writing, and on a quiet
//! machine that waits out an RCU grace period (5–20 ms here, on every
//! container start). A single-threaded process moving *itself* through
//! `tasks` ("0") skips that lock. So the shim makes the dirs
//! ([`Placement::prepare`]) and the container's init, single-threaded
//! right after clone, writes "0" into each `tasks` file before anything
//! else ([`place_self`]). Unified (v2) hosts keep the move by pid
//! ([`Cgroup::enter`]).

use libcgroups::common::{
    create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// libcgroups (or the kernel under it) refused; the cause is kept.
    #[error("cgroup {path}: {source}")]
    Manager { path: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("cgroup {path}: {what}: {source}")]
    Io { path: String, what: String, source: std::io::Error },
    #[error("cgroup {0}: not a plain relative path")]
    BadPath(String),
}

/// The host's cgroup layout, as berth reports it.
pub fn setup_name() -> String {
    libcgroups::common::get_cgroup_setup()
        .map(|s| s.to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// One container's cgroup.
pub struct Cgroup {
    path: PathBuf,
    manager: AnyCgroupManager,
}

impl Cgroup {
    /// Opens (and creates on first write) the cgroup at `path`, relative to each hierarchy's root.
    pub fn new(path: &Path) -> Result<Self, CgroupError> {
        let rel = path.strip_prefix("/").unwrap_or(path).to_path_buf();
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: rel.clone(),
            systemd_cgroup: false,
            container_name: String::new(),
        })
        .map_err(|e| CgroupError::Manager { path: rel.display().to_string(), source: e.into() })?;
        Ok(Self { path: rel, manager })
    }

    fn err(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CgroupError {
        CgroupError::Manager { path: self.path.display().to_string(), source: e.into() }
    }

    /// Moves the calling process in; it must be single-threaded (on v1 it
    /// moves itself, see above).
    pub fn join_self(&self) -> Result<(), CgroupError> {
        match Placement::prepare(&self.path)? {
            Some(p) => place_self(&p.tasks()).map_err(|e| self.err(e)),
            None => self.enter(std::process::id() as i32),
        }
    }

    /// Moves `pid` in, leaving the limits as they are.
    pub fn enter(&self, pid: i32) -> Result<(), CgroupError> {
        self.manager.add_task(Pid::from_raw(pid)).map_err(|e| self.err(e))
    }

    /// Freezes every process of the cgroup (the freezer), or thaws them.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let state = if frozen {
            libcgroups::common::FreezerState::Frozen
        } else {
            libcgroups::common::FreezerState::Thawed
        };
        self.manager.freeze(state).map_err(|e| self.err(e))
    }

    /// Changes the limits of the live cgroup.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let opt = ControllerOpt {
            resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        };
        self.manager.apply(&opt).map_err(|e| self.err(e))
    }

    /// Every process in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        self.manager
            .get_all_pids()
            .map(|v| v.into_iter().map(|p| p.as_raw()).collect())
            .unwrap_or_default()
    }

    /// Whether the kernel's OOM killer has killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        oom_kill_count(&self.path) > 0
    }

    /// Kills what is left and removes the cgroup from every hierarchy.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.manager.remove().map_err(|e| self.err(e))
    }

    /// [`Cgroup::remove`], tried again for up to `patience`: libcgroups'
    /// v1 manager gives up after ~100 ms at the first hierarchy whose dir
    /// won't go (a process it just killed not gone yet, on a busy node)
    /// and leaves the others. For a cgroup nobody else will clean (its
    /// shim is gone).
    pub fn remove_within(&self, patience: std::time::Duration) -> Result<(), CgroupError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match self.manager.remove() {
                Ok(()) => return Ok(()),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }
}

/// A cgroup's dirs in every v1 hierarchy libcgroups manages, made before
/// any process is in them.
pub struct Placement {
    dirs: Vec<PathBuf>,
}

impl Placement {
    /// On v1 and hybrid hosts: creates the cgroup `path` (relative to each
    /// hierarchy's root) in every v1 hierarchy libcgroups manages, cpuset
    /// seeded from its parents as the kernel requires. `None` on unified hosts.
    pub fn prepare(path: &Path) -> Result<Option<Self>, CgroupError> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let name = || rel.display().to_string();
        let io =
            |what: String, source: std::io::Error| CgroupError::Io { path: name(), what, source };
        match libcgroups::common::get_cgroup_setup()
            .map_err(|e| CgroupError::Manager { path: name(), source: e.into() })?
        {
            libcgroups::common::CgroupSetup::Unified => return Ok(None),
            libcgroups::common::CgroupSetup::Legacy | libcgroups::common::CgroupSetup::Hybrid => {}
        }
        if rel.as_os_str().is_empty()
            || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(CgroupError::BadPath(name()));
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| io("read /proc/self/mountinfo".into(), e))?;
        let mut placement = Placement { dirs: Vec::new() };
        for (mount_point, controllers) in v1_hierarchies(&mountinfo) {
            let dir = mount_point.join(rel);
            let made = std::fs::create_dir_all(&dir)
                .map_err(|e| io(format!("create {}", dir.display()), e));
            // Counted once made, so a failed cpuset seed removes it too.
            placement.dirs.push(dir);
            let made = made.and_then(|_| {
                if controllers.contains(&"cpuset") {
                    seed_cpuset(&mount_point, rel).map_err(|e| io("seed cpuset".into(), e))
                } else {
                    Ok(())
                }
            });
            if let Err(e) = made {
                placement.remove();
                return Err(e);
            }
        }
        Ok(Some(placement))
    }

    /// The `tasks` file of each dir, for [`place_self`].
    pub fn tasks(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("tasks")).collect()
    }

    /// Removes the dirs (the container's own; its parents stay). Only empty
    /// cgroups go: call it once the processes are gone.
    pub fn remove(&self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The cgroup controllers a container's limits can use on this node, as
/// libcgroups' manager finds them: the mounted v1 hierarchies on legacy
/// and hybrid hosts (a hybrid host's cgroup2 mount takes no limits), the
/// root's `cgroup.controllers` on unified ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controllers {
    /// Limits are cgroup v2 files (a unified host).
    pub unified: bool,
    pub names: std::collections::BTreeSet<String>,
}

impl Controllers {
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// This node's [`Controllers`].
pub fn controllers() -> Result<Controllers, CgroupError> {
    let io = |what: &str, source: std::io::Error| CgroupError::Io {
        path: "/".into(),
        what: what.into(),
        source,
    };
    let setup = libcgroups::common::get_cgroup_setup()
        .map_err(|e| CgroupError::Manager { path: "/".into(), source: e.into() })?;
    if matches!(setup, libcgroups::common::CgroupSetup::Unified) {
        let text = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .map_err(|e| io("read cgroup.controllers", e))?;
        return Ok(unified_controllers(&text));
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| io("read /proc/self/mountinfo", e))?;
    Ok(v1_controllers(&mountinfo))
}

fn unified_controllers(text: &str) -> Controllers {
    Controllers { unified: true, names: text.split_whitespace().map(str::to_owned).collect() }
}

fn v1_controllers(mountinfo: &str) -> Controllers {
    let names =
        v1_hierarchies(mountinfo).into_iter().flat_map(|(_, c)| c).map(str::to_owned).collect();
    Controllers { unified: false, names }
}

/// The controllers libcgroups' v1 manager handles; hierarchies with none of
/// them (`name=systemd`) are left alone, as libcgroups leaves them.
const V1_CONTROLLERS: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// Each v1 hierarchy's mount point with its controllers, from mountinfo.
fn v1_hierarchies(mountinfo: &str) -> Vec<(PathBuf, Vec<&str>)> {
    let mut out: Vec<(PathBuf, Vec<&str>)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let controllers: Vec<&str> =
            r.nth(1).unwrap_or("").split(',').filter(|o| V1_CONTROLLERS.contains(o)).collect();
        let Some(mount_point) = left.split(' ').nth(4) else { continue };
        let mount_point = PathBuf::from(mount_point);
        if !controllers.is_empty() && !out.iter().any(|(m, _)| *m == mount_point) {
            out.push((mount_point, controllers));
        }
    }
    out
}

/// A v1 cpuset cgroup takes no task until `cpuset.cpus` and `cpuset.mems`
/// are set: each empty one on the way down gets its parent's.
fn seed_cpuset(mount_point: &Path, rel: &Path) -> std::io::Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut parent = mount_point.to_path_buf();
        for c in rel.components() {
            let dir = parent.join(c);
            let mine = std::fs::read_to_string(dir.join(file))?;
            if mine.trim().is_empty() {
                std::fs::write(dir.join(file), std::fs::read_to_string(parent.join(file))?.trim())?;
            }
            parent = dir;
        }
    }
    Ok(())
}

/// Moves the calling process into the cgroups whose `tasks` files are
/// given. Only for a single-threaded caller (a container's init right after
/// clone): "0" moves the calling thread, which is then the whole process.
pub fn place_self(tasks: &[PathBuf]) -> std::io::Result<()> {
    for t in tasks {
        std::fs::write(t, b"0")
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", t.display())))?;
    }
    Ok(())
}

/// Reads the `oom_kill` counter: v1 `memory.oom_control`, v2 `memory.events`.
fn oom_kill_count(rel: &Path) -> u64 {
    let candidates = [
        Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
    ];
    for file in candidates {
        if let Ok(text) = std::fs::read_to_string(&file) {
            return text
                .lines()
                .find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok()))
                .unwrap_or(0);
        }
    }
    0
}

/// What a cgroup has used, read straight from the controller files (no
/// manager set-up: kubelet asks every few seconds for every container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of every process, in nanoseconds.
    pub cpu_ns: Option<u64>,
    pub memory: Option<MemoryUsage>,
    /// Processes in the cgroup.
    pub pids: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    pub usage: u64,
    /// Usage minus inactive page cache: what the kernel can't reclaim easily
    /// (kubelet's eviction signal).
    pub working_set: u64,
    pub rss: u64,
    /// None when unlimited.
    pub limit: Option<u64>,
    pub page_faults: u64,
    pub major_page_faults: u64,
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn stat_fields(p: &Path) -> std::collections::HashMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once(' ').and_then(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
        })
        .collect()
}

/// The usage of the cgroup at `path` (relative to each hierarchy's root):
/// v1 controllers when the memory hierarchy has it, the unified tree otherwise.
pub fn usage(path: &Path) -> Usage {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let root = Path::new("/sys/fs/cgroup");
    let v1_memory = root.join("memory").join(rel);
    if v1_memory.is_dir() {
        let st = stat_fields(&v1_memory.join("memory.stat"));
        let usage = read_u64(&v1_memory.join("memory.usage_in_bytes"));
        // v1 reports "no limit" as a huge page-rounded number.
        let limit = read_u64(&v1_memory.join("memory.limit_in_bytes")).filter(|l| *l < (1 << 62));
        let get = |k: &str| st.get(k).copied().unwrap_or(0);
        return Usage {
            cpu_ns: read_u64(&root.join("cpuacct").join(rel).join("cpuacct.usage")),
            memory: usage.map(|usage| MemoryUsage {
                usage,
                working_set: usage.saturating_sub(get("total_inactive_file")),
                rss: get("total_rss"),
                limit,
                page_faults: get("total_pgfault"),
                major_page_faults: get("total_pgmajfault"),
            }),
            pids: read_u64(&root.join("pids").join(rel).join("pids.current")),
        };
    }
    let dir = root.join(rel);
    if !dir.join("cgroup.procs").exists() {
        return Usage::default();
    }
    let st = stat_fields(&dir.join("memory.stat"));
    let get = |k: &str| st.get(k).copied().unwrap_or(0);
    Usage {
        cpu_ns: stat_fields(&dir.join("cpu.stat")).get("usage_usec").map(|us| us * 1000),
        memory: read_u64(&dir.join("memory.current")).map(|usage| MemoryUsage {
            usage,
            working_set: usage.saturating_sub(get("inactive_file")),
            rss: get("anon"),
            limit: read_u64(&dir.join("memory.max")),
            page_faults: get("pgfault"),
            major_page_faults: get("pgmajfault"),
        }),
        pids: read_u64(&dir.join("pids.current")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_hierarchies_from_mountinfo() {
        let mi = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpuset,clone_children
";
        let h = v1_hierarchies(mi);
        let got: Vec<(String, Vec<&str>)> =
            h.into_iter().map(|(p, c)| (p.display().to_string(), c)).collect();
        assert_eq!(
            got,
            vec![
                ("/sys/fs/cgroup/cpu,cpuacct".to_string(), vec!["cpu", "cpuacct"]),
                ("/sys/fs/cgroup/memory".to_string(), vec!["memory"]),
                ("/sys/fs/cgroup/cpuset".to_string(), vec!["cpuset"]),
            ]
        );
    }

    #[test]
    fn controllers_of_a_hybrid_node_are_its_v1_hierarchies() {
        // This node: hugetlb only on the cgroup2 mount, which takes no limits.
        let mi = "\
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
";
        let c = v1_controllers(mi);
        assert!(!c.unified);
        assert_eq!(
            c.names.iter().map(String::as_str).collect::<Vec<_>>(),
            ["cpu", "cpuacct", "memory"]
        );
        assert!(!c.has("hugetlb"));
    }

    #[test]
    fn controllers_of_a_unified_node_are_the_roots() {
        let c = unified_controllers("cpuset cpu io memory hugetlb pids rdma misc\n");
        assert!(c.unified && c.has("hugetlb") && c.has("misc") && !c.has("cpuacct"));
    }
}
