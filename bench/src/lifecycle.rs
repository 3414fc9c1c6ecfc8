//! Figures 1–3: one pod at a time, berth and containerd interleaved —
//! RunPodSandbox; CreateContainer + StartContainer; the whole pod up
//! (sandbox + container running) and down (StopPodSandbox +
//! RemovePodSandbox). The floor: the CNI plugin chain's ADD alone on a
//! fresh network namespace, the part of RunPodSandbox both runtimes share.

use crate::pods::{pod_config, remove_pod, start_pod, Images};
use crate::report::{Figure, Floor};
use crate::runtime::Runtime;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub async fn run(
    berth: &Runtime,
    containerd: &Runtime,
    images: &Images,
    runs: usize,
    base: &Path,
) -> anyhow::Result<(Vec<Figure>, Vec<Floor>)> {
    let names = [
        "RunPodSandbox",
        "CreateContainer + StartContainer",
        "pod up (sandbox + container running)",
        "pod down (StopPodSandbox + RemovePodSandbox)",
    ];
    let mut figs: Vec<Figure> = names.iter().map(|n| Figure::new(*n)).collect();
    let mut floor = Floor { name: "CNI ADD (bridge + portmap)".into(), samples: Vec::new() };
    // Two warm-ups each, not counted.
    for rt in [berth, containerd, berth, containerd] {
        let mut c = rt.pods().await?;
        let s = start_pod(&mut c, pod_config(rt), images).await?;
        remove_pod(&mut c, &s.pod).await?;
    }
    for i in 0..runs {
        let order: [&Runtime; 2] =
            if i % 2 == 0 { [berth, containerd] } else { [containerd, berth] };
        for rt in order {
            let mut c = rt.pods().await?;
            let s = start_pod(&mut c, pod_config(rt), images).await?;
            let down = remove_pod(&mut c, &s.pod).await?;
            for (f, d) in figs.iter_mut().zip([s.sandbox, s.container, s.total(), down]) {
                f.push(rt.name, d);
            }
        }
        floor.samples.push(cni_add(berth, base, i).await?);
    }
    Ok((figs, vec![floor]))
}

/// CNI ADD through berth's network (the same plugins and conflist shape as
/// containerd's) on a netns made by `ip netns add`; DEL and the netns
/// removal are untimed.
async fn cni_add(berth: &Runtime, base: &Path, i: usize) -> anyhow::Result<Duration> {
    let ns = format!("berth-bench-floor-{}-{i}", std::process::id());
    let ok = Command::new("ip").args(["netns", "add", &ns]).status()?.success();
    anyhow::ensure!(ok, "ip netns add {ns}");
    let cni = berth_cni::Cni::new(berth_cni::CniConfig {
        conf_dir: berth.dir.join("cni"),
        bin_dirs: vec!["/usr/lib/cni".into()],
        cache_dir: base.join("floor-cache"),
        plugin_timeout: Duration::from_secs(30),
    });
    let a = berth_cni::Attachment {
        id: ns.clone(),
        netns: Path::new("/run/netns").join(&ns),
        ifname: "eth0".into(),
        args: Vec::new(),
        runtime_config: Default::default(),
    };
    let t = Instant::now();
    let added = cni.add(&a).await;
    let took = t.elapsed();
    let deleted = cni.del(&a.id, &a.netns).await;
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    added?;
    deleted?;
    Ok(took)
}
