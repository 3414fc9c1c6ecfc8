//! What the pod figures share: the images (busybox for the containers, a
//! busybox-based pause image for containerd's sandboxes, both pushed to a
//! local registry and pulled by both runtimes), the one pod and container
//! spec both runtimes get, and the timed steps of a pod's life.

use crate::runtime::{Pods, Runtime};
use berth_e2e::registry::{busybox_layer, push_image, Registry};
use berth_proto::cri;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The workload: one container running `sleep`, as the issue asks.
pub const WORKLOAD: [&str; 2] = ["sleep", "86400"];

pub struct Images {
    pub busybox: String,
}

/// Pushes busybox (the containers' image) and `pause:bench` (containerd's
/// sandbox image: busybox's `sleep` as PID 1; berth runs no pause process),
/// then has each runtime pull what it uses, so no figure includes a pull.
pub async fn prepare(
    reg: &Registry,
    berth: &Runtime,
    containerd: &Runtime,
) -> anyhow::Result<Images> {
    let layer = busybox_layer();
    push_image(
        &reg.addr,
        "bench/busybox",
        "v1",
        std::slice::from_ref(&layer),
        "amd64",
        serde_json::json!({ "Cmd": ["sh"] }),
    )
    .await;
    push_image(
        &reg.addr,
        "pause",
        "bench",
        &[layer],
        "amd64",
        serde_json::json!({ "Entrypoint": ["/bin/sleep", "2147483647"] }),
    )
    .await;
    let busybox = format!("{}/bench/busybox:v1", reg.addr);
    for (rt, refs) in [
        (berth, vec![busybox.clone()]),
        (containerd, vec![busybox.clone(), format!("{}/pause:bench", reg.addr)]),
    ] {
        let mut images = rt.images().await?;
        for r in refs {
            let image = Some(cri::ImageSpec { image: r, ..Default::default() });
            images
                .pull_image(cri::PullImageRequest { image, auth: None, sandbox_config: None })
                .await?;
        }
    }
    Ok(Images { busybox })
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A pod as kubelet would ask for it (see `berth_e2e::cri::pod`): its own
/// cgroup under the runtime's parent, on the CNI network, one PID
/// namespace per container, logs in the runtime's dir.
pub fn pod_config(rt: &Runtime) -> cri::PodSandboxConfig {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("bench-{n}");
    berth_e2e::cri::pod(
        &name,
        &format!("uid-{n}-{}", std::process::id()),
        &rt.dir.join("logs").join(&name),
        &format!("/{}/pod-{n}", rt.cgroup_parent),
    )
}

/// The tests' container (seccomp unconfined, an env var, a label), running
/// [`WORKLOAD`] from the benchmark's busybox.
pub fn container_config(images: &Images) -> cri::ContainerConfig {
    let mut c = berth_e2e::cri::container("sleeper", &WORKLOAD);
    c.image = Some(cri::ImageSpec { image: images.busybox.clone(), ..Default::default() });
    c
}

/// A running pod and how long each step took.
pub struct Started {
    pub pod: String,
    pub sandbox: Duration,
    pub container: Duration,
}

impl Started {
    pub fn total(&self) -> Duration {
        self.sandbox + self.container
    }
}

/// RunPodSandbox, then CreateContainer + StartContainer, timed apart.
pub async fn start_pod(
    client: &mut Pods,
    config: cri::PodSandboxConfig,
    images: &Images,
) -> anyhow::Result<Started> {
    let t = Instant::now();
    let pod = client
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await?
        .into_inner()
        .pod_sandbox_id;
    let sandbox = t.elapsed();
    let t = Instant::now();
    let id = client
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config(images)),
            sandbox_config: Some(config),
        })
        .await?
        .into_inner()
        .container_id;
    client.start_container(cri::StartContainerRequest { container_id: id }).await?;
    Ok(Started { pod, sandbox, container: t.elapsed() })
}

/// StopPodSandbox + RemovePodSandbox, timed.
pub async fn remove_pod(client: &mut Pods, pod: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    client.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.into() }).await?;
    client.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod.into() }).await?;
    Ok(t.elapsed())
}

/// Removes every pod the runtime has, a few at a time (untimed clean-up).
pub async fn remove_all(rt: &Runtime) -> anyhow::Result<()> {
    let mut client = rt.pods().await?;
    let pods = client
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await?
        .into_inner()
        .items;
    for chunk in pods.chunks(10) {
        let mut set = tokio::task::JoinSet::new();
        for p in chunk {
            let (mut c, id) = (client.clone(), p.id.clone());
            set.spawn(async move { remove_pod(&mut c, &id).await });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    Ok(())
}
