//! What CRI v1 added lately and kubelet relies on: container and pod stats
//! from the live cgroups, the Stream* list RPCs, UpdatePodSandboxResources,
//! a container's stop signal, and bind-mount options.

use berth_e2e::cri::{container, create, out, pod_config, run_pod, start, status, wait_state};
use berth_e2e::Daemon;
use berth_proto::cri;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;

#[tokio::test]
async fn stats_stream_lists_stop_signal_and_mount_options() {
    let d = Daemon::start();
    let (mut rt, mut img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "stats")).await;
    let busy = create(
        &mut rt,
        &pod,
        container("busy", &["sh", "-c", "dd if=/dev/zero of=/tmp/f bs=1M count=8 2>/dev/null; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1000"]),
    )
    .await
    .unwrap();
    start(&mut rt, &busy).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Stats: CPU time, memory, the writable layer; a rate on the second sample.
    let s = rt
        .container_stats(cri::ContainerStatsRequest { container_id: busy.clone() })
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    assert_eq!(s.attributes.as_ref().unwrap().id, busy);
    let cpu = s.cpu.unwrap();
    assert!(cpu.usage_core_nano_seconds.unwrap().value > 0);
    assert!(s.memory.unwrap().working_set_bytes.unwrap().value > 0);
    assert!(s.writable_layer.unwrap().used_bytes.unwrap().value >= 8 << 20);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let list = rt
        .list_container_stats(cri::ListContainerStatsRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .stats;
    assert_eq!(list.len(), 1);
    assert!(
        list[0].cpu.as_ref().unwrap().usage_nano_cores.is_some(),
        "a rate once there are two samples"
    );
    let e = rt
        .container_stats(cri::ContainerStatsRequest { container_id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let p = rt
        .pod_sandbox_stats(cri::PodSandboxStatsRequest { pod_sandbox_id: pod.clone() })
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    let linux = p.linux.unwrap();
    let net = linux.network.clone().expect("the pod's network counters");
    assert_eq!(net.default_interface.unwrap().name, "eth0");
    assert!(net.interfaces.iter().all(|i| i.name != "lo"));
    assert!(linux.process.unwrap().process_count.unwrap().value >= 1);
    assert!(linux.memory.unwrap().usage_bytes.unwrap().value > 0);
    assert_eq!(linux.containers.len(), 1);
    assert_eq!(
        rt.list_pod_sandbox_stats(cri::ListPodSandboxStatsRequest { filter: None })
            .await
            .unwrap()
            .into_inner()
            .stats
            .len(),
        1
    );

    // Stream* lists: the same items as the unary lists, then EOF.
    let mut s = rt
        .stream_containers(cri::StreamContainersRequest { filter: None })
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    while let Some(m) = s.next().await {
        ids.extend(m.unwrap().containers.into_iter().map(|c| c.id));
    }
    assert_eq!(ids, vec![busy.clone()]);
    let pods: Vec<_> = rt
        .stream_pod_sandboxes(cri::StreamPodSandboxesRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(
        pods.into_iter().flat_map(|m| m.unwrap().pod_sandboxes).map(|p| p.id).collect::<Vec<_>>(),
        vec![pod.clone()]
    );
    let images: Vec<_> = img
        .stream_images(cri::StreamImagesRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(images.into_iter().flat_map(|m| m.unwrap().images).count(), 1);
    let stats: Vec<_> = rt
        .stream_container_stats(cri::StreamContainerStatsRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(stats.into_iter().flat_map(|m| m.unwrap().container_stats).count(), 1);

    // UpdatePodSandboxResources: acknowledged for a known pod.
    rt.update_pod_sandbox_resources(cri::UpdatePodSandboxResourcesRequest {
        pod_sandbox_id: pod.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = rt
        .update_pod_sandbox_resources(cri::UpdatePodSandboxResourcesRequest {
            pod_sandbox_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // The container's stop signal: kept, reported, and sent by StopContainer.
    let mut c = container(
        "quitter",
        &["sh", "-c", "trap 'echo got-quit; exit 3' QUIT; while :; do sleep 0.1; done"],
    );
    c.stop_signal = cri::Signal::Sigquit as i32;
    let quitter = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &quitter).await;
    assert_eq!(status(&mut rt, &quitter).await.stop_signal, cri::Signal::Sigquit as i32);
    assert_eq!(status(&mut rt, &busy).await.stop_signal, cri::Signal::Sigterm as i32);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.stop_container(cri::StopContainerRequest { container_id: quitter.clone(), timeout: 10 })
        .await
        .unwrap();
    assert_eq!(
        wait_state(&mut rt, &quitter, cri::ContainerState::ContainerExited).await.exit_code,
        3
    );
    let log = std::fs::read_to_string(d.dir.join("logs/stats/quitter/0.log")).unwrap();
    assert!(log.contains("got-quit"), "{log}");

    // Bind-mount options (noexec, nosuid, nodev), and a clear refusal of others.
    let host = d.dir.join("vol");
    std::fs::create_dir_all(&host).unwrap();
    let vol = |opts: &[&str]| cri::Mount {
        container_path: "/vol".into(),
        host_path: host.display().to_string(),
        mount_options: opts.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let mut c = container("mounted", &["sleep", "1000"]);
    c.mounts = vec![vol(&["noexec", "nodev"])];
    let mounted = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &mounted).await;
    let line = out(&mut rt, &mounted, &["grep", " /vol ", "/proc/self/mountinfo"]).await;
    assert!(line.contains("noexec") && line.contains("nodev"), "{line}");
    assert_eq!(status(&mut rt, &mounted).await.mounts[0].mount_options, ["noexec", "nodev"]);
    let mut c = container("badopt", &["true"]);
    c.mounts = vec![vol(&["suid", "remount"])];
    let e = create(&mut rt, &pod, c).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}
