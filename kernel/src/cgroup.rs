//! Container cgroups through `libcgroups`, on v1, hybrid (this node: v1
//! controllers plus a hugetlb-only cgroup2 mount) and unified v2 hosts.
//!
//! berth uses the cgroupfs driver: a container's cgroup is `<parent>/<id>`
//! under every controller's hierarchy.

use libcgroups::common::{create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {msg}")]
    Manager { path: String, msg: String },
}

/// The host's cgroup layout, as berth reports it.
pub fn setup_name() -> String {
    libcgroups::common::get_cgroup_setup().map(|s| s.to_string()).unwrap_or_else(|e| format!("unknown ({e})"))
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
        let manager = create_cgroup_manager(CgroupConfig { cgroup_path: rel.clone(), systemd_cgroup: false, container_name: String::new() })
            .map_err(|e| CgroupError::Manager { path: rel.display().to_string(), msg: e.to_string() })?;
        Ok(Self { path: rel, manager })
    }

    fn err(&self, e: impl std::fmt::Display) -> CgroupError {
        CgroupError::Manager { path: self.path.display().to_string(), msg: e.to_string() }
    }

    /// Moves `pid` in and applies the limits.
    pub fn enter_and_apply(&self, pid: i32, resources: &LinuxResources) -> Result<(), CgroupError> {
        self.enter(pid)?;
        self.apply(resources)
    }

    /// Moves `pid` in, leaving the limits as they are.
    pub fn enter(&self, pid: i32) -> Result<(), CgroupError> {
        self.manager.add_task(Pid::from_raw(pid)).map_err(|e| self.err(e))
    }

    /// Changes the limits of the live cgroup.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let opt = ControllerOpt { resources, disable_oom_killer: false, oom_score_adj: None, freezer_state: None };
        self.manager.apply(&opt).map_err(|e| self.err(e))
    }

    /// Every process in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        self.manager.get_all_pids().map(|v| v.into_iter().map(|p| p.as_raw()).collect()).unwrap_or_default()
    }

    /// Whether the kernel's OOM killer has killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        oom_kill_count(&self.path) > 0
    }

    /// Kills what is left and removes the cgroup from every hierarchy.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.manager.remove().map_err(|e| self.err(e))
    }
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
        .filter_map(|l| l.split_once(' ').and_then(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?))))
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
