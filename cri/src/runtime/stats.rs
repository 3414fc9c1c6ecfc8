//! ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats:
//! kubelet's CRI stats provider (summary API, eviction, `kubectl top`).
//!
//! CPU rate (`usage_nano_cores`) needs two samples: the last one per
//! container or pod is kept here, and the rate is over the interval
//! between two calls, as containerd reports it.

use super::container_convert::{labels, metadata};
use crate::Cri;
use berth_engine::container::{CgroupUsage as Usage, ContainerStats};
use berth_engine::model::ContainerRecord;
use berth_proto::cri;
use tonic::Status;

fn u64v(value: u64) -> Option<cri::UInt64Value> {
    Some(cri::UInt64Value { value })
}

impl Cri {
    /// Cumulative CPU time → (cumulative, rate since the previous sample of `key`).
    fn cpu(&self, key: &str, timestamp: i64, usage: &Usage) -> Option<cri::CpuUsage> {
        let ns = usage.cpu_ns?;
        let mut samples = self.cpu_samples.lock().unwrap();
        let rate = samples.get(key).and_then(|(t, prev)| {
            let dt = timestamp.checked_sub(*t).filter(|d| *d > 0)? as u128;
            Some((ns.saturating_sub(*prev) as u128 * 1_000_000_000 / dt) as u64)
        });
        samples.insert(key.to_owned(), (timestamp, ns));
        Some(cri::CpuUsage {
            timestamp,
            usage_core_nano_seconds: u64v(ns),
            usage_nano_cores: rate.and_then(u64v),
            psi: None,
        })
    }

    /// Forgets samples of what no longer exists.
    fn prune_samples(&self, live: &std::collections::HashSet<String>) {
        self.cpu_samples.lock().unwrap().retain(|k, _| live.contains(k));
    }
}

fn memory(timestamp: i64, usage: &Usage) -> Option<cri::MemoryUsage> {
    let m = usage.memory.as_ref()?;
    Some(cri::MemoryUsage {
        timestamp,
        working_set_bytes: u64v(m.working_set),
        available_bytes: m.limit.map(|l| l.saturating_sub(m.working_set)).and_then(u64v),
        usage_bytes: u64v(m.usage),
        rss_bytes: u64v(m.rss),
        page_faults: u64v(m.page_faults),
        major_page_faults: u64v(m.major_page_faults),
        psi: None,
    })
}

fn container(c: &Cri, s: &ContainerStats) -> cri::ContainerStats {
    let r = &s.record;
    cri::ContainerStats {
        attributes: Some(cri::ContainerAttributes {
            id: r.id.clone(),
            metadata: Some(metadata(r)),
            labels: labels(&r.config.labels),
            annotations: labels(&r.config.annotations),
        }),
        cpu: c.cpu(&r.id, s.timestamp, &s.cgroup),
        memory: memory(s.timestamp, &s.cgroup),
        writable_layer: Some(cri::FilesystemUsage {
            timestamp: s.timestamp,
            fs_id: Some(cri::FilesystemIdentifier {
                mountpoint: s.writable_layer.display().to_string(),
            }),
            used_bytes: u64v(s.writable.bytes),
            inodes_used: u64v(s.writable.inodes),
        }),
        swap: None,
        io: None,
    }
}

/// Kubelet's containers (those in pods), running ones for the lists.
fn pod_containers(
    c: &Cri,
    keep: impl Fn(&ContainerRecord) -> bool,
) -> Result<Vec<ContainerRecord>, Status> {
    Ok(c.engine.list(false)?.into_iter().filter(|r| r.config.pod.is_some() && keep(r)).collect())
}

pub(crate) async fn container_stats(
    c: &Cri,
    req: cri::ContainerStatsRequest,
) -> Result<cri::ContainerStatsResponse, Status> {
    let rec = super::container_status::cri_container(c, &req.container_id)?;
    let s = c.engine.container_stats(vec![rec]).await?;
    Ok(cri::ContainerStatsResponse { stats: s.first().map(|s| container(c, s)) })
}

pub(crate) async fn list_container_stats(
    c: &Cri,
    req: cri::ListContainerStatsRequest,
) -> Result<cri::ListContainerStatsResponse, Status> {
    let f = req.filter.unwrap_or_default();
    let records = pod_containers(c, |r| {
        let pod = r.config.pod.as_ref().map(|p| p.sandbox_id.as_str()).unwrap_or("");
        (f.id.is_empty() || r.id.starts_with(&f.id))
            && (f.pod_sandbox_id.is_empty() || pod.starts_with(&f.pod_sandbox_id))
            && f.label_selector.iter().all(|(k, v)| r.config.labels.get(k) == Some(v))
    })?;
    let all = f.id.is_empty() && f.pod_sandbox_id.is_empty() && f.label_selector.is_empty();
    let stats = c.engine.container_stats(records).await?;
    if all {
        let mut live: std::collections::HashSet<String> =
            stats.iter().map(|s| s.record.id.clone()).collect();
        live.extend(c.engine.list_sandboxes(&Default::default()).into_iter().map(|s| s.id));
        c.prune_samples(&live);
    }
    Ok(cri::ListContainerStatsResponse { stats: stats.iter().map(|s| container(c, s)).collect() })
}

fn in_pod(r: &ContainerRecord, pod: &str) -> bool {
    r.config.pod.as_ref().is_some_and(|p| p.sandbox_id == pod)
}

/// A pod's stats; `containers` are its running containers.
async fn sandbox(
    c: &Cri,
    rec: &berth_engine::model::SandboxRecord,
    containers: Vec<ContainerRecord>,
) -> Result<cri::PodSandboxStats, Status> {
    let (timestamp, usage) = c.engine.sandbox_cgroup_usage(rec).await?;
    let interfaces: Vec<cri::NetworkInterfaceUsage> = c
        .engine
        .sandbox_network_usage(rec)
        .await
        .into_iter()
        .map(|i| cri::NetworkInterfaceUsage {
            name: i.name,
            rx_bytes: u64v(i.rx_bytes),
            rx_errors: u64v(i.rx_errors),
            tx_bytes: u64v(i.tx_bytes),
            tx_errors: u64v(i.tx_errors),
        })
        .collect();
    // eth0 is the pod's CNI interface (kubelet's default).
    let network = (!interfaces.is_empty()).then(|| cri::NetworkUsage {
        timestamp,
        default_interface: interfaces
            .iter()
            .find(|i| i.name == "eth0")
            .or(interfaces.first())
            .cloned(),
        interfaces: interfaces.clone(),
    });
    let containers = c.engine.container_stats(containers).await?;
    let cfg = &rec.config;
    Ok(cri::PodSandboxStats {
        attributes: Some(cri::PodSandboxAttributes {
            id: rec.id.clone(),
            metadata: Some(super::sandbox_convert::metadata(rec)),
            labels: cfg.labels.clone().into_iter().collect(),
            annotations: cfg.annotations.clone().into_iter().collect(),
        }),
        linux: Some(cri::LinuxPodSandboxStats {
            cpu: c.cpu(&rec.id, timestamp, &usage),
            memory: memory(timestamp, &usage),
            network,
            process: usage.pids.map(|n| cri::ProcessUsage { timestamp, process_count: u64v(n) }),
            containers: containers.iter().map(|s| container(c, s)).collect(),
            io: None,
        }),
        windows: None,
    })
}

pub(crate) async fn pod_sandbox_stats(
    c: &Cri,
    req: cri::PodSandboxStatsRequest,
) -> Result<cri::PodSandboxStatsResponse, Status> {
    let rec = c.engine.sandbox_status(&req.pod_sandbox_id)?;
    let containers = pod_containers(c, |r| in_pod(r, &rec.id))?;
    Ok(cri::PodSandboxStatsResponse { stats: Some(sandbox(c, &rec, containers).await?) })
}

pub(crate) async fn list_pod_sandbox_stats(
    c: &Cri,
    req: cri::ListPodSandboxStatsRequest,
) -> Result<cri::ListPodSandboxStatsResponse, Status> {
    let f = req.filter.unwrap_or_default();
    let filter = berth_engine::sandbox::SandboxFilter {
        id: f.id,
        state: Some(berth_engine::model::SandboxState::Ready),
        labels: f.label_selector.into_iter().collect(),
    };
    // One container listing for every pod.
    let mut running = pod_containers(c, |_| true)?;
    let mut stats = Vec::new();
    for rec in c.engine.list_sandboxes(&filter) {
        let (mine, rest) = running.into_iter().partition(|r| in_pod(r, &rec.id));
        running = rest;
        stats.push(sandbox(c, &rec, mine).await?);
    }
    Ok(cri::ListPodSandboxStatsResponse { stats })
}
