//! Resource usage for kubelet's stats (CRI ContainerStats, PodSandboxStats):
//! the live cgroup's counters and the writable layer's size on disk.

use super::{ContainerRecord, Status};
use crate::error::{Error, Result};
use crate::Engine;
pub use berth_kernel::cgroup::{MemoryUsage, Usage as CgroupUsage};
use berth_kernel::fs::Usage;
use std::path::PathBuf;

/// One container's usage at `timestamp`.
#[derive(Debug, Clone)]
pub struct ContainerStats {
    pub record: ContainerRecord,
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// Empty unless the container is running.
    pub cgroup: CgroupUsage,
    pub writable_layer: PathBuf,
    pub writable: Usage,
}

impl Engine {
    /// The processes of a running container (`docker top`), from its cgroup.
    pub async fn container_processes(
        &self,
        key: &str,
    ) -> Result<Vec<berth_kernel::procinfo::ProcInfo>> {
        let rec = self.lookup(key)?.record();
        if rec.state.status != super::Status::Running {
            return Err(crate::Error::FailedPrecondition(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let path = self.cgroup_path(&rec);
        let procs = tokio::task::spawn_blocking(move || {
            let cg = berth_kernel::cgroup::Cgroup::new(std::path::Path::new(&path))?;
            let mut pids = cg.pids();
            pids.sort_unstable();
            Ok::<_, berth_kernel::cgroup::CgroupError>(
                pids.into_iter().filter_map(berth_kernel::procinfo::read).collect(),
            )
        })
        .await?
        .map_err(|e| crate::Error::system("read the container's processes", e))?;
        Ok(procs)
    }

    /// Usage of the given containers, read in one blocking task.
    pub async fn container_stats(
        &self,
        records: Vec<ContainerRecord>,
    ) -> Result<Vec<ContainerStats>> {
        let jobs: Vec<(ContainerRecord, Option<String>, PathBuf)> = records
            .into_iter()
            .map(|r| {
                let cgroup = (r.state.status == Status::Running).then(|| self.cgroup_path(&r));
                let upper = self.snapshots().kept(&self.snapshot_dir(&r.id)?, &[])?.upper;
                Ok((r, cgroup, upper))
            })
            .collect::<Result<_>>()?;
        tokio::task::spawn_blocking(move || {
            jobs.into_iter()
                .map(|(record, cgroup, upper)| ContainerStats {
                    timestamp: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
                    cgroup: cgroup
                        .map(|p| berth_kernel::cgroup::usage(std::path::Path::new(&p)))
                        .unwrap_or_default(),
                    writable: berth_kernel::fs::disk_usage(&upper),
                    writable_layer: upper,
                    record,
                })
                .collect()
        })
        .await
        .map_err(Error::from)
    }

    /// The interface counters of a container outside pods (empty without a
    /// network of its own beyond loopback).
    pub async fn container_network_usage(
        &self,
        rec: &ContainerRecord,
    ) -> Vec<berth_kernel::net::InterfaceCounters> {
        match rec.config.network.sandbox().and_then(|s| self.any_sandbox(s).ok()) {
            Some(e) => self.sandbox_network_usage(&e.record()).await,
            None => Vec::new(),
        }
    }

    /// The pod's interface counters (empty for a host-network pod, whose
    /// interfaces are the node's).
    pub async fn sandbox_network_usage(
        &self,
        rec: &crate::sandbox::SandboxRecord,
    ) -> Vec<berth_kernel::net::InterfaceCounters> {
        let Some(netns) = rec.pin("net") else { return Vec::new() };
        match tokio::task::spawn_blocking(move || berth_kernel::net::counters_in(&netns)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::debug!(sandbox = %rec.id, error = %e, "read pod network counters");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Usage of a pod's own cgroup (kubelet's pod-level cgroup parent), all
    /// its containers included; empty when the pod has no cgroup parent.
    pub async fn sandbox_cgroup_usage(
        &self,
        rec: &crate::sandbox::SandboxRecord,
    ) -> Result<(i64, CgroupUsage)> {
        let parent = rec.config.cgroup_parent.clone();
        tokio::task::spawn_blocking(move || {
            let usage = if parent.is_empty() {
                CgroupUsage::default()
            } else {
                berth_kernel::cgroup::usage(std::path::Path::new(&parent))
            };
            (berth_proto::time::unix_nanos(std::time::SystemTime::now()), usage)
        })
        .await
        .map_err(Error::from)
    }
}
