//! A container's limits and devices as OCI `linux.resources` and
//! `linux.devices`: Docker's default device rules, the node's devices a
//! privileged container gets, the cgroup limits of the record.

use super::{spec_error, HostDevice};
use crate::error::Result;
use crate::model::ContainerRecord;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder,
};
use std::path::PathBuf;

/// The container's limits as OCI `linux.resources`, without device rules
/// (a live update leaves those alone: rewriting them would deny every
/// device for a moment, and listing a privileged container's means a walk of /dev).
pub(crate) fn limits(rec: &ContainerRecord) -> Result<LinuxResources> {
    let mut r = resources(rec, &[])?;
    r.set_devices(None);
    Ok(r)
}

fn device_rule(
    kind: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup> {
    let mut b = LinuxDeviceCgroupBuilder::default().allow(true).access(access);
    if let Some(k) = kind {
        b = b.typ(k);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().map_err(spec_error("device rule"))
}

pub(super) fn resources(rec: &ContainerRecord, devices: &[HostDevice]) -> Result<LinuxResources> {
    let r = &rec.config.resources;
    let mut out = LinuxResourcesBuilder::default();
    if r.memory_bytes > 0 {
        // No swap beyond the limit unless asked (as Kubernetes does).
        let swap = if r.memory_swap_bytes > 0 { r.memory_swap_bytes } else { r.memory_bytes };
        out = out.memory(
            LinuxMemoryBuilder::default()
                .limit(r.memory_bytes)
                .swap(swap)
                .build()
                .map_err(spec_error("memory"))?,
        );
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if r.cpu_quota > 0 {
        cpu = cpu.quota(r.cpu_quota).period(if r.cpu_period > 0 { r.cpu_period } else { 100_000 });
        any_cpu = true;
    }
    if r.cpu_shares > 0 {
        cpu = cpu.shares(r.cpu_shares);
        any_cpu = true;
    }
    if !r.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(r.cpuset_cpus.clone());
        any_cpu = true;
    }
    if !r.cpuset_mems.is_empty() {
        cpu = cpu.mems(r.cpuset_mems.clone());
        any_cpu = true;
    }
    if any_cpu {
        out = out.cpu(cpu.build().map_err(spec_error("cpu"))?);
    }
    if r.pids_limit > 0 {
        out = out.pids(
            LinuxPidsBuilder::default().limit(r.pids_limit).build().map_err(spec_error("pids"))?,
        );
    }
    if !r.hugepages.is_empty() {
        let limits = r
            .hugepages
            .iter()
            .map(|(size, limit)| {
                LinuxHugepageLimitBuilder::default()
                    .page_size(size.clone())
                    .limit(*limit as i64)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>();
        out = out.hugepage_limits(limits.map_err(spec_error("hugepages"))?);
    }
    if !r.unified.is_empty() {
        out = out.unified(
            r.unified
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    // The device cgroup: deny all, then what /dev holds (Docker's list), or
    // everything for a privileged container. No minor is `*`.
    let rules = if rec.config.security.privileged {
        vec![device_rule(None, None, None, "rwm")?]
    } else {
        let mut deny_all = device_rule(None, None, None, "rwm")?;
        deny_all.set_allow(false);
        let mut v = vec![deny_all];
        let c = Some(LinuxDeviceType::C);
        for (major, minor) in [
            (1, Some(3)),
            (1, Some(5)),
            (1, Some(7)),
            (1, Some(8)),
            (1, Some(9)),
            (5, Some(0)),
            (5, Some(1)),
            (5, Some(2)),
            (136, None),
            (10, Some(200)),
        ] {
            v.push(device_rule(c, Some(major), minor, "rwm")?);
        }
        for d in devices {
            v.push(device_rule(Some(d.kind), Some(d.major), Some(d.minor), &d.access)?);
        }
        v
    };
    out.devices(rules).build().map_err(spec_error("resources"))
}

pub(super) fn device_node(
    path: impl Into<PathBuf>,
    kind: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
) -> Result<LinuxDevice> {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(kind)
        .major(major)
        .minor(minor)
        .file_mode(mode)
        .uid(0u32)
        .gid(0u32)
        .build()
        .map_err(spec_error("device"))
}
