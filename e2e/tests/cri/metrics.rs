//! ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics:
//! cAdvisor's names from the live cgroups and the pod's interfaces, each
//! metric's labels matching its descriptor's keys (kubelet's collector
//! fails on a mismatch).

use berth_e2e::cri::{container, create, pod_config, run_pod, start};
use berth_e2e::Daemon;
use berth_proto::cri;
use std::collections::HashMap;
use tokio_stream::StreamExt;

#[tokio::test]
async fn pod_metrics_as_cadvisor_names_them() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let descriptors = rt
        .list_metric_descriptors(cri::ListMetricDescriptorsRequest {})
        .await
        .unwrap()
        .into_inner()
        .descriptors;
    let keys: HashMap<String, usize> =
        descriptors.iter().map(|d| (d.name.clone(), d.label_keys.len())).collect();
    for name in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_network_receive_bytes_total",
        "container_processes",
    ] {
        assert!(keys.contains_key(name), "{name}");
    }

    let pod = run_pod(&mut rt, pod_config(&d, "metrics")).await;
    let id = create(
        &mut rt,
        &pod,
        container("busy", &["sh", "-c", "head -c 50000000 /dev/urandom | md5sum; sleep 1000"]),
    )
    .await
    .unwrap();
    start(&mut rt, &id).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let list = rt
        .list_pod_sandbox_metrics(cri::ListPodSandboxMetricsRequest {})
        .await
        .unwrap()
        .into_inner()
        .pod_metrics;
    assert_eq!(list.len(), 1);
    let p = &list[0];
    assert_eq!(p.pod_sandbox_id, pod);
    let check = |m: &cri::Metric| {
        assert_eq!(m.label_values.len(), keys[&m.name], "{} has its descriptor's labels", m.name)
    };
    p.metrics.iter().for_each(check);
    let eth0 = p
        .metrics
        .iter()
        .find(|m| m.name == "container_network_receive_bytes_total" && m.label_values[3] == "eth0")
        .expect("the pod's eth0");
    assert!(eth0.metric_type == cri::MetricType::Counter as i32);
    let c = &p.container_metrics[0];
    assert_eq!(c.container_id, id);
    c.metrics.iter().for_each(check);
    let value = |name: &str| {
        c.metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .value
            .unwrap()
            .value
    };
    assert!(value("container_memory_working_set_bytes") > 0);
    assert!(value("container_processes") >= 1, "{}", value("container_processes"));
    assert_eq!(
        c.metrics
            .iter()
            .find(|m| m.name == "container_cpu_usage_seconds_total")
            .unwrap()
            .label_values[0],
        id
    );

    let streamed: Vec<cri::StreamPodSandboxMetricsResponse> = rt
        .stream_pod_sandbox_metrics(cri::StreamPodSandboxMetricsRequest {})
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(streamed.iter().map(|r| r.pod_sandbox_metrics.len()).sum::<usize>(), 1);
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}
