//! Figures 4–6, for each pod count: that many pods started at once (wall
//! time until all run, and each pod's own latency); memory while they run
//! (daemon RSS, and per pod the PSS of every process the runtime added —
//! shims, pause — divided by the pod count); and, at the largest count,
//! daemon restarts: SIGKILL, start again, and time until every container
//! is listed running and answers ContainerStatus.

use crate::memory;
use crate::pods::{pod_config, remove_all, start_pod, Images};
use crate::report::{Figure, MemRow};
use crate::runtime::Runtime;
use berth_proto::cri;
use std::time::{Duration, Instant};

pub struct Options {
    pub counts: Vec<usize>,
    pub runs: usize,
    pub restarts: usize,
}

/// Starts `n` pods at once; the wall time and each pod's latency.
async fn start_many(
    rt: &Runtime,
    images: &Images,
    n: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let client = rt.pods().await?;
    let configs: Vec<_> = (0..n).map(|_| pod_config(rt)).collect();
    let images = std::sync::Arc::new(Images { busybox: images.busybox.clone() });
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for config in configs {
        let (mut c, images) = (client.clone(), images.clone());
        set.spawn(async move {
            let t = Instant::now();
            start_pod(&mut c, config, &images).await.map(|_| t.elapsed())
        });
    }
    let mut each = Vec::with_capacity(n);
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r? {
            Ok(d) => each.push(d),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let wall = t.elapsed();
    match first_err {
        Some(e) => Err(e.context(format!("{}: starting {n} pods at once", rt.name))),
        None => Ok((wall, each)),
    }
}

/// SIGKILL the daemon, start it again, and wait until all `n` containers
/// are listed running and each answers ContainerStatus.
async fn restart(rt: &mut Runtime, n: usize) -> anyhow::Result<Duration> {
    let t = Instant::now();
    rt.restart()?;
    let mut client = rt.pods().await?;
    let running = Some(cri::ContainerFilter {
        state: Some(cri::ContainerStateValue {
            state: cri::ContainerState::ContainerRunning as i32,
        }),
        ..Default::default()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let ids = loop {
        let r =
            client.list_containers(cri::ListContainersRequest { filter: running.clone() }).await;
        if let Ok(r) = r {
            let items = r.into_inner().containers;
            if items.len() >= n {
                break items.into_iter().map(|c| c.id).collect::<Vec<_>>();
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{}: containers not back after a restart",
            rt.name
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let mut c = client.clone();
        set.spawn(async move {
            c.container_status(cri::ContainerStatusRequest { container_id: id, verbose: false })
                .await
        });
    }
    while let Some(r) = set.join_next().await {
        let st = r??.into_inner().status.map(|s| s.state);
        anyhow::ensure!(
            st == Some(cri::ContainerState::ContainerRunning as i32),
            "{}: a container is not running after a restart",
            rt.name
        );
    }
    Ok(t.elapsed())
}

pub async fn run(
    berth: &mut Runtime,
    containerd: &mut Runtime,
    images: &Images,
    o: &Options,
) -> anyhow::Result<(Vec<Figure>, Vec<MemRow>)> {
    let mut figs = Vec::new();
    let mut mem = Vec::new();
    let largest = o.counts.iter().copied().max().unwrap_or(0);
    for &n in &o.counts {
        let mut wall = Figure::new(format!("{n} pods at once: wall until all run"));
        let mut each = Figure::new(format!("{n} pods at once: per-pod latency"));
        let mut restarts =
            Figure::new(format!("daemon restart with {n} containers: all listed and answering"));
        let mut daemon = MemRow::new(format!("daemon RSS, {n} pods"));
        let mut per_pod = MemRow::new(format!("per-pod overhead (PSS of shims, pause), {n} pods"));
        let mut shim = MemRow::new(format!("largest shim RSS, {n} pods"));
        for i in 0..o.runs {
            let order: [&mut Runtime; 2] = if i % 2 == 0 {
                [&mut *berth, &mut *containerd]
            } else {
                [&mut *containerd, &mut *berth]
            };
            for rt in order {
                let (w, e) = start_many(rt, images, n).await?;
                let m = memory::snapshot(rt, n);
                eprintln!(
                    "  {n} pods, run {i}: {} {:.0} ms; daemon {:.1} MiB, {} added processes, {:.2} MiB PSS per pod",
                    rt.name,
                    w.as_secs_f64() * 1000.0,
                    m.daemon_rss,
                    m.added,
                    m.added_pss / n as f64
                );
                wall.push(rt.name, w);
                each.extend(rt.name, e);
                daemon.push(rt.name, m.daemon_rss);
                per_pod.push(rt.name, m.added_pss / n as f64);
                shim.push(rt.name, m.largest_shim_rss);
                if n == largest {
                    for _ in 0..o.restarts {
                        let d = restart(rt, n).await?;
                        eprintln!(
                            "  restart with {n}: {} {:.0} ms",
                            rt.name,
                            d.as_secs_f64() * 1000.0
                        );
                        restarts.push(rt.name, d);
                    }
                }
                remove_all(rt).await?;
            }
        }
        figs.push(wall);
        figs.push(each);
        if !restarts.berth.is_empty() {
            figs.push(restarts);
        }
        mem.extend([daemon, per_pod, shim]);
    }
    Ok((figs, mem))
}
