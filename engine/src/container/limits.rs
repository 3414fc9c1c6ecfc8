//! A container's limits fitted to the cgroup controllers this node has, at
//! create and at each update, for both fronts. As containerd: a setting
//! that limits nothing ("max", 0) for a controller the node lacks is left
//! out with a debug line (kubelet sends a 0 hugepage limit for every page
//! size the node lists, whether or not it has the hugetlb controller); a
//! real limit the node can't enforce is refused, never silently ignored.

use super::Resources;
use crate::error::{Error, Result};
use berth_kernel::cgroup::Controllers;

/// A setting left out, for the debug line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub controller: String,
    pub setting: String,
}

/// `r` as this node can apply it, and what was left out.
pub(crate) fn fit(mut r: Resources, node: &Controllers) -> Result<(Resources, Vec<Dropped>)> {
    let refuse = |controller: &str, setting: String| {
        Error::invalid(format!(
            "{setting} can't be enforced: this node has no {controller} cgroup controller"
        ))
    };
    if r.memory_bytes > 0 && !node.has("memory") {
        return Err(refuse("memory", format!("memory limit {}", r.memory_bytes)));
    }
    if (r.cpu_quota > 0 || r.cpu_shares > 0) && !node.has("cpu") {
        return Err(refuse("cpu", "a CPU limit".into()));
    }
    if (!r.cpuset_cpus.is_empty() || !r.cpuset_mems.is_empty()) && !node.has("cpuset") {
        return Err(refuse("cpuset", "a cpuset".into()));
    }
    if r.pids_limit > 0 && !node.has("pids") {
        return Err(refuse("pids", format!("pids limit {}", r.pids_limit)));
    }
    let mut dropped = Vec::new();
    if !node.has("hugetlb") {
        for (size, limit) in std::mem::take(&mut r.hugepages) {
            let setting = format!("hugepage limit {size}={limit}");
            if limit != 0 && limit < i64::MAX as u64 {
                return Err(refuse("hugetlb", setting));
            }
            dropped.push(Dropped { controller: "hugetlb".into(), setting });
        }
    }
    if !r.unified.is_empty() && !node.unified {
        let keys = r.unified.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(Error::invalid(format!(
            "cgroup v2 settings ({keys}) can't be set: this node runs cgroup v1"
        )));
    }
    let mut unified = std::collections::BTreeMap::new();
    for (file, value) in std::mem::take(&mut r.unified) {
        let controller = file.split_once('.').map_or(file.as_str(), |(c, _)| c);
        if controller == "cgroup" || node.has(controller) {
            unified.insert(file, value);
            continue;
        }
        let setting = format!("{file}={value}");
        if !matches!(value.trim(), "max" | "0") {
            return Err(refuse(controller, setting));
        }
        dropped.push(Dropped { controller: controller.to_owned(), setting });
    }
    r.unified = unified;
    Ok((r, dropped))
}

/// `r` fitted to this node's controllers, with a debug line for each
/// setting left out; as asked when the node's controllers couldn't be read.
pub(crate) fn for_this_node(r: Resources) -> Result<Resources> {
    let Some(node) = crate::host::cgroup_controllers() else { return Ok(r) };
    let (r, dropped) = fit(r, node)?;
    for d in dropped {
        tracing::debug!(controller = %d.controller, setting = %d.setting, "limit left out: the node has no such cgroup controller");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(unified: bool, names: &[&str]) -> Controllers {
        Controllers { unified, names: names.iter().map(|n| n.to_string()).collect() }
    }

    /// This node: cgroup v1, no hugetlb hierarchy.
    fn v1_without_hugetlb() -> Controllers {
        node(false, &["cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio"])
    }

    /// What kubelet sends on this node for a pod asking no hugepages.
    fn kubelets_request() -> Resources {
        Resources {
            memory_bytes: 64 << 20,
            cpu_quota: 25_000,
            cpu_period: 100_000,
            cpu_shares: 102,
            hugepages: [("2MB".to_string(), 0), ("1GB".to_string(), 0)].into(),
            ..Default::default()
        }
    }

    #[test]
    fn zero_hugepage_limits_without_hugetlb_are_dropped() {
        let (r, dropped) = fit(kubelets_request(), &v1_without_hugetlb()).unwrap();
        assert!(r.hugepages.is_empty());
        assert_eq!((r.memory_bytes, r.cpu_quota, r.cpu_shares), (64 << 20, 25_000, 102));
        let got: Vec<_> =
            dropped.iter().map(|d| (d.controller.as_str(), d.setting.as_str())).collect();
        assert_eq!(got, [("hugetlb", "hugepage limit 1GB=0"), ("hugetlb", "hugepage limit 2MB=0")]);
    }

    #[test]
    fn a_real_hugepage_limit_without_hugetlb_is_refused() {
        let mut r = kubelets_request();
        r.hugepages.insert("2MB".into(), 4 << 20);
        let e = fit(r, &v1_without_hugetlb()).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.reason == "hugepage limit 2MB=4194304 can't be enforced: this node has no hugetlb cgroup controller"),
            "{e}"
        );
    }

    #[test]
    fn hugepage_limits_stay_where_hugetlb_is() {
        let mut r = kubelets_request();
        r.hugepages.insert("2MB".into(), 4 << 20);
        for n in
            [node(false, &["cpu", "memory", "hugetlb"]), node(true, &["cpu", "memory", "hugetlb"])]
        {
            let (fitted, dropped) = fit(r.clone(), &n).unwrap();
            assert_eq!((fitted, dropped), (r.clone(), vec![]));
        }
    }

    #[test]
    fn unified_settings_of_absent_controllers_drop_when_unlimited() {
        let n = node(true, &["cpu", "memory", "pids"]);
        let mut r = kubelets_request();
        r.hugepages.clear();
        r.unified = [
            ("memory.high", "max"),
            ("hugetlb.2MB.max", "0"),
            ("misc.max", "max"),
            ("cgroup.freeze", "0"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let (fitted, dropped) = fit(r, &n).unwrap();
        assert_eq!(
            fitted.unified.keys().map(String::as_str).collect::<Vec<_>>(),
            ["cgroup.freeze", "memory.high"]
        );
        let got: Vec<_> = dropped.iter().map(|d| d.controller.as_str()).collect();
        assert_eq!(got, ["hugetlb", "misc"]);

        let r = Resources {
            unified: [("rdma.max".to_string(), "mlx4_0 hca_handle=2".to_string())].into(),
            ..Default::default()
        };
        let e = fit(r, &n).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.reason.contains("rdma.max=mlx4_0 hca_handle=2") && m.reason.contains("no rdma cgroup controller")),
            "{e}"
        );
    }

    #[test]
    fn unified_settings_on_cgroup_v1_are_refused() {
        let r = Resources {
            unified: [("memory.high".to_string(), "max".to_string())].into(),
            ..Default::default()
        };
        let e = fit(r, &v1_without_hugetlb()).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.reason.contains("(memory.high)") && m.reason.contains("cgroup v1")),
            "{e}"
        );
    }

    #[test]
    fn limits_of_absent_core_controllers_are_refused_and_unset_ones_pass() {
        let bare = node(false, &["devices", "freezer"]);
        assert!(fit(Resources::default(), &bare).unwrap() == (Resources::default(), vec![]));
        let cases = [
            (Resources { memory_bytes: 1 << 30, ..Default::default() }, "memory"),
            (Resources { cpu_shares: 2, ..Default::default() }, "cpu"),
            (Resources { cpuset_cpus: "0".into(), ..Default::default() }, "cpuset"),
            (Resources { pids_limit: 100, ..Default::default() }, "pids"),
        ];
        for (r, controller) in cases {
            let e = fit(r, &bare).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidArgument(m) if m.reason.ends_with(&format!("no {controller} cgroup controller"))),
                "{e}"
            );
        }
    }
}
