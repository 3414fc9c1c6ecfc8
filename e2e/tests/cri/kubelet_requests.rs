//! Requests as a real kubelet sends them on this node, beyond what critest
//! sends: every CreateContainer and UpdateContainerResources carries a
//! hugepage limit (0 unless the pod asks for hugepages) for each page size
//! under /sys/kernel/mm/hugepages, whether or not the node has the hugetlb
//! controller. This node lists two sizes and has no v1 hugetlb hierarchy.

use berth_e2e::cri::{container, create, out, pod_config, run_pod, start, status};
use berth_e2e::Daemon;
use berth_proto::cri;
use tonic::Code;

/// The page sizes kubelet finds, named as it names them (`2MB`, `1GB`).
fn kubelets_page_sizes() -> Vec<String> {
    let mut sizes: Vec<u64> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes
        .into_iter()
        .map(|kb| {
            let (mut n, mut unit) = (kb * 1024, 0);
            while n % 1024 == 0 && unit < 5 {
                n /= 1024;
                unit += 1;
            }
            format!("{n}{}", ["B", "KB", "MB", "GB", "TB", "PB"][unit])
        })
        .collect()
}

/// Whether the node's v1 hugetlb hierarchy is mounted (`/proc/cgroups`
/// lists it with a hierarchy id), or its cgroup v2 root has hugetlb.
fn node_has_hugetlb() -> bool {
    let unified = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    let v1 = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    unified.split_whitespace().any(|c| c == "hugetlb")
        || v1
            .lines()
            .any(|l| l.split('\t').next() == Some("hugetlb") && l.split('\t').nth(1) != Some("0"))
}

/// kubelet's resources for a container with 250m/64Mi limits and a 100m request.
fn kubelets_resources(hugepages: &[(String, u64)]) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota: 25_000,
        cpu_shares: 102,
        memory_limit_in_bytes: 64 << 20,
        oom_score_adj: 936,
        hugepage_limits: hugepages
            .iter()
            .map(|(size, limit)| cri::HugepageLimit { page_size: size.clone(), limit: *limit })
            .collect(),
        ..Default::default()
    }
}

fn with_resources(
    mut c: cri::ContainerConfig,
    r: cri::LinuxContainerResources,
) -> cri::ContainerConfig {
    c.linux.as_mut().unwrap().resources = Some(r);
    c
}

#[tokio::test]
async fn kubelets_hugepage_limits_start_containers_on_a_node_without_hugetlb() {
    let mut sizes = kubelets_page_sizes();
    if sizes.is_empty() {
        sizes.push("2MB".into());
    }
    let zero: Vec<(String, u64)> = sizes.iter().map(|s| (s.clone(), 0)).collect();
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "huge")).await;

    // Kubelet's exact request: a 0 limit for every page size.
    let id = create(
        &mut rt,
        &pod,
        with_resources(container("app", &["sleep", "1000"]), kubelets_resources(&zero)),
    )
    .await
    .unwrap();
    start(&mut rt, &id).await;
    assert_eq!(status(&mut rt, &id).await.state, cri::ContainerState::ContainerRunning as i32);
    assert_eq!(out(&mut rt, &id, &["echo", "up"]).await, "up");
    let cg = format!("{}/pod-huge/{id}", d.cgroup_parent);
    let mem = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/{cg}/memory.limit_in_bytes"))
        .unwrap();
    assert_eq!(mem.trim(), (64u64 << 20).to_string());

    // kubelet's in-place resize sends the same hugepage entries.
    let mut resized = kubelets_resources(&zero);
    resized.memory_limit_in_bytes = 96 << 20;
    rt.update_container_resources(cri::UpdateContainerResourcesRequest {
        container_id: id.clone(),
        linux: Some(resized),
        ..Default::default()
    })
    .await
    .unwrap();
    let mem = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/{cg}/memory.limit_in_bytes"))
        .unwrap();
    assert_eq!(mem.trim(), (96u64 << 20).to_string());

    // A pod that asks for hugepages: a real limit.
    let real = vec![(sizes[0].clone(), 4u64 << 20)];
    let asked = with_resources(container("hungry", &["sleep", "1000"]), kubelets_resources(&real));
    if node_has_hugetlb() {
        let id = create(&mut rt, &pod, asked).await.unwrap();
        start(&mut rt, &id).await;
    } else {
        // Nothing here could enforce it: refused at create, by name.
        let e = create(&mut rt, &pod, asked).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let want = format!(
            "hugepage limit {}={} can't be enforced: this node has no hugetlb cgroup controller",
            sizes[0],
            4u64 << 20
        );
        assert!(e.message().contains(&want), "{e:?}");
        let e = rt
            .update_container_resources(cri::UpdateContainerResourcesRequest {
                container_id: id.clone(),
                linux: Some(kubelets_resources(&real)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        // The refused update left the live limits alone.
        let mem =
            std::fs::read_to_string(format!("/sys/fs/cgroup/memory/{cg}/memory.limit_in_bytes"))
                .unwrap();
        assert_eq!(mem.trim(), (96u64 << 20).to_string());
    }
}
