//! Figure 7: pull and unpack a multi-layer image of a few hundred MB from
//! the local registry, with berth and with containerd, interleaved; the
//! image is removed (and its content collected) after every pull. The
//! floor — gunzip and extract the same layers, two at a time, no runtime —
//! is measured in the same run.

use crate::report::{Figure, Floor};
use crate::runtime::Runtime;
use berth_e2e::registry::{push_image, Layer, Registry};
use berth_proto::cri;
use std::path::Path;
use std::time::{Duration, Instant};

/// Layer contents: 1 MiB files, half noise and half text, so gzip halves them as it does real images.
fn layer_tar(index: usize, mib: usize) -> Vec<u8> {
    berth_e2e::registry::tar(|b| {
        for f in 0..mib {
            let mut data = berth_e2e::registry::noise(512 << 10, (index * 10_000 + f) as u64 + 1);
            let text =
                format!("layer {index} file {f}: the quick brown fox jumps over the lazy dog\n");
            while data.len() < 1 << 20 {
                data.extend_from_slice(text.as_bytes());
            }
            data.truncate(1 << 20);
            berth_e2e::registry::file(b, &format!("l{index}/f{f}"), &data);
        }
    })
}

pub struct Image {
    pub reference: String,
    pub layers: Vec<Layer>,
}

pub async fn build_image(reg: &Registry, layers: usize, mib: usize) -> Image {
    let layers: Vec<Layer> = (0..layers).map(|i| Layer::gzip(layer_tar(i, mib))).collect();
    push_image(
        &reg.addr,
        "bench/big",
        "v1",
        &layers,
        "amd64",
        serde_json::json!({ "Cmd": ["sh"] }),
    )
    .await;
    Image { reference: format!("{}/bench/big:v1", reg.addr), layers }
}

async fn pull_once(rt: &Runtime, reference: &str) -> anyhow::Result<Duration> {
    let mut images = rt.images().await?;
    let spec = Some(cri::ImageSpec { image: reference.into(), ..Default::default() });
    let t = Instant::now();
    images
        .pull_image(cri::PullImageRequest { image: spec.clone(), auth: None, sandbox_config: None })
        .await?;
    let took = t.elapsed();
    images.remove_image(cri::RemoveImageRequest { image: spec }).await?;
    Ok(took)
}

/// gunzip + extract every layer, two at a time (the cores), into `dir`.
fn floor_once(image: &Image, dir: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let t = Instant::now();
    std::thread::scope(|s| {
        for chunk in image.layers.chunks(image.layers.len().div_ceil(2)) {
            s.spawn(move || {
                for (i, l) in chunk.iter().enumerate() {
                    let d = dir.join(format!("{}-{i}", l.diff_id.len()));
                    let _ = std::fs::create_dir_all(&d);
                    tar::Archive::new(flate2::read::GzDecoder::new(l.blob.as_slice()))
                        .unpack(d.join(&l.diff_id[7..19]))
                        .unwrap();
                }
            });
        }
    });
    let took = t.elapsed();
    let _ = std::fs::remove_dir_all(dir);
    took
}

fn sync() {
    nix::unistd::sync();
}

pub async fn run(
    berth: &Runtime,
    containerd: &Runtime,
    image: &Image,
    runs: usize,
    base: &Path,
) -> anyhow::Result<(Vec<Figure>, Vec<Floor>)> {
    let mut fig = Figure::new("pull + unpack");
    let mut floor = Floor { name: "gunzip + extract".into(), samples: Vec::new() };
    // One warm-up each, not counted.
    pull_once(berth, &image.reference).await?;
    pull_once(containerd, &image.reference).await?;
    for i in 0..runs {
        let order: [&Runtime; 2] =
            if i % 2 == 0 { [berth, containerd] } else { [containerd, berth] };
        for rt in order {
            sync();
            let d = pull_once(rt, &image.reference).await?;
            eprintln!("  run {i}: {} {:.0} ms", rt.name, d.as_secs_f64() * 1000.0);
            fig.push(rt.name, d);
        }
        sync();
        floor.samples.push(floor_once(image, &base.join("floor")));
    }
    Ok((vec![fig], vec![floor]))
}
