//! ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics:
//! cAdvisor's metrics, from the runtime (kubelet's
//! `PodAndContainerStatsFromCRI`, so it can serve `/metrics/cadvisor`
//! without cAdvisor). Names, help and types are cAdvisor's; the label keys
//! are the runtime's part (`id`, `image`, `name`, and `interface` for the
//! network), kubelet appends `namespace`, `pod` and `container` itself.
//! Values are read from the live cgroups and the pod's interfaces at call
//! time (timestamp 0: not cached).

use crate::Cri;
use berth_engine::container::ContainerStats;
use berth_proto::cri;
use tonic::Status;

const CONTAINER_LABELS: [&str; 3] = ["id", "image", "name"];
const NETWORK_LABELS: [&str; 4] = ["id", "image", "name", "interface"];

/// Each metric berth reports: name, help, type, label keys.
const DESCRIPTORS: [(&str, &str, cri::MetricType, &[&str]); 12] = [
    (
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        cri::MetricType::Counter,
        &CONTAINER_LABELS,
    ),
    (
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        cri::MetricType::Gauge,
        &CONTAINER_LABELS,
    ),
    (
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        cri::MetricType::Gauge,
        &CONTAINER_LABELS,
    ),
    ("container_memory_rss", "Size of RSS in bytes.", cri::MetricType::Gauge, &CONTAINER_LABELS),
    (
        "container_memory_failures_total",
        "Cumulative count of memory allocation failures.",
        cri::MetricType::Counter,
        &CONTAINER_LABELS,
    ),
    (
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        cri::MetricType::Gauge,
        &CONTAINER_LABELS,
    ),
    (
        "container_processes",
        "Number of processes running inside the container.",
        cri::MetricType::Gauge,
        &CONTAINER_LABELS,
    ),
    (
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        cri::MetricType::Gauge,
        &CONTAINER_LABELS,
    ),
    (
        "container_network_receive_bytes_total",
        "Cumulative count of bytes received",
        cri::MetricType::Counter,
        &NETWORK_LABELS,
    ),
    (
        "container_network_transmit_bytes_total",
        "Cumulative count of bytes transmitted",
        cri::MetricType::Counter,
        &NETWORK_LABELS,
    ),
    (
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        cri::MetricType::Counter,
        &NETWORK_LABELS,
    ),
    (
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        cri::MetricType::Counter,
        &NETWORK_LABELS,
    ),
];

pub(crate) fn list_metric_descriptors() -> cri::ListMetricDescriptorsResponse {
    let descriptors = DESCRIPTORS
        .iter()
        .map(|(name, help, _, labels)| cri::MetricDescriptor {
            name: (*name).into(),
            help: (*help).into(),
            label_keys: labels.iter().map(|l| l.to_string()).collect(),
        })
        .collect();
    cri::ListMetricDescriptorsResponse { descriptors }
}

fn metric(name: &str, labels: Vec<String>, value: u64) -> cri::Metric {
    let typ =
        DESCRIPTORS.iter().find(|d| d.0 == name).map(|d| d.2).unwrap_or(cri::MetricType::Gauge);
    cri::Metric {
        name: name.into(),
        timestamp: 0,
        metric_type: typ as i32,
        label_values: labels,
        value: Some(cri::UInt64Value { value }),
    }
}

fn container_metrics(s: &ContainerStats) -> cri::ContainerMetrics {
    let r = &s.record;
    let labels = || vec![r.id.clone(), r.image.clone(), r.name.clone()];
    let u = &s.cgroup;
    let mut metrics = Vec::new();
    if let Some(ns) = u.cpu_ns {
        metrics.push(metric("container_cpu_usage_seconds_total", labels(), ns / 1_000_000_000));
    }
    if let Some(m) = &u.memory {
        metrics.push(metric("container_memory_usage_bytes", labels(), m.usage));
        metrics.push(metric("container_memory_working_set_bytes", labels(), m.working_set));
        metrics.push(metric("container_memory_rss", labels(), m.rss));
        metrics.push(metric("container_memory_failures_total", labels(), m.page_faults));
        metrics.push(metric("container_spec_memory_limit_bytes", labels(), m.limit.unwrap_or(0)));
    }
    if let Some(p) = u.pids {
        metrics.push(metric("container_processes", labels(), p));
    }
    metrics.push(metric("container_fs_usage_bytes", labels(), s.writable.bytes));
    cri::ContainerMetrics { container_id: r.id.clone(), metrics }
}

/// Every ready pod's network counters and its running containers' metrics.
pub(crate) async fn pod_sandbox_metrics(c: &Cri) -> Result<Vec<cri::PodSandboxMetrics>, Status> {
    let ready = berth_engine::sandbox::SandboxFilter {
        state: Some(berth_engine::model::SandboxState::Ready),
        ..Default::default()
    };
    let pods = c.engine.list_sandboxes(&ready);
    let running: Vec<_> =
        c.engine.list(false)?.into_iter().filter(|r| r.config.pod.is_some()).collect();
    let stats = c.engine.container_stats(running).await?;
    let mut out = Vec::with_capacity(pods.len());
    for pod in pods {
        let mut metrics = Vec::new();
        for i in c.engine.sandbox_network_usage(&pod).await {
            let labels =
                || vec![pod.id.clone(), String::new(), pod.config.name.clone(), i.name.clone()];
            metrics.push(metric("container_network_receive_bytes_total", labels(), i.rx_bytes));
            metrics.push(metric("container_network_transmit_bytes_total", labels(), i.tx_bytes));
            metrics.push(metric("container_network_receive_errors_total", labels(), i.rx_errors));
            metrics.push(metric("container_network_transmit_errors_total", labels(), i.tx_errors));
        }
        let container_metrics = stats
            .iter()
            .filter(|s| s.record.config.pod.as_ref().is_some_and(|p| p.sandbox_id == pod.id))
            .map(container_metrics)
            .collect();
        out.push(cri::PodSandboxMetrics {
            pod_sandbox_id: pod.id.clone(),
            metrics,
            container_metrics,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_descriptor_is_unique_and_labelled() {
        let d = super::list_metric_descriptors().descriptors;
        let mut names: Vec<_> = d.iter().map(|d| d.name.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), d.len());
        // kubelet appends these itself: a runtime that sends them too breaks its collector.
        assert!(d.iter().all(|d| !d
            .label_keys
            .iter()
            .any(|k| ["namespace", "pod", "container"].contains(&k.as_str()))));
    }
}
