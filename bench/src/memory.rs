//! Memory, read from /proc: the daemon's RSS, and the PSS of every process a
//! runtime added for its pods (shims, pause processes — the workload's own
//! processes excluded), so shared pages are split fairly between the many
//! copies of the same shim.

use crate::pods::WORKLOAD;
use crate::runtime::Runtime;

pub struct Snapshot {
    pub daemon_rss: f64,
    /// Sum over the added processes.
    pub added_pss: f64,
    pub largest_shim_rss: f64,
    pub added: usize,
}

/// A `kB` field of a /proc file, in MiB.
fn kb_field(path: &str, field: &str) -> f64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// A process's RSS, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    kb_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

pub fn daemon_rss(rt: &Runtime) -> f64 {
    kb_field(&format!("/proc/{}/status", rt.pid()), "VmRSS:")
}

/// The workload's command line as /proc shows it.
fn workload_cmdline() -> Vec<u8> {
    WORKLOAD.iter().flat_map(|a| a.bytes().chain([0])).collect()
}

fn is_shim(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.starts_with("berth-shim") || c.starts_with("containerd-shim"))
}

/// The runtime's memory with `pods` pods running.
pub fn snapshot(rt: &Runtime, pods: usize) -> Snapshot {
    let workload = workload_cmdline();
    let (workloads, added): (Vec<i32>, Vec<i32>) = rt
        .processes()
        .into_iter()
        .partition(|p| std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == workload));
    let added_pss =
        added.iter().map(|p| kb_field(&format!("/proc/{p}/smaps_rollup"), "Pss:")).sum();
    let largest_shim_rss = added
        .iter()
        .filter(|p| is_shim(**p))
        .map(|p| kb_field(&format!("/proc/{p}/status"), "VmRSS:"))
        .fold(0.0, f64::max);
    if workloads.len() != pods {
        eprintln!("  warning: {}: {} workload processes for {pods} pods", rt.name, workloads.len());
    }
    Snapshot { daemon_rss: daemon_rss(rt), added_pss, largest_shim_rss, added: added.len() }
}
