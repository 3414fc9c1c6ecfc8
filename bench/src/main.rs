//! `berth-bench`: berth and containerd side by side, in one run, driven the
//! same way over CRI; medians, p90, min/max and ratios, written to
//! `docs/benchmarks/`. See docs/benchmarks/README.md.

mod pull;
mod report;
mod runtime;
mod stats;

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "berth-bench", about = "Benchmark berth against containerd, side by side")]
struct Args {
    #[command(subcommand)]
    what: What,
    /// Where the report goes.
    #[arg(long, default_value = "docs/benchmarks", global = true)]
    out: PathBuf,
    /// Where berthd and berth-shim are (a release build).
    #[arg(long, default_value = "target/release", global = true)]
    bin_dir: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Pull + unpack of a multi-layer image from a local registry.
    Pull {
        #[arg(long, default_value_t = 7)]
        runs: usize,
        #[arg(long, default_value_t = 5)]
        layers: usize,
        /// MiB per layer (uncompressed).
        #[arg(long, default_value_t = 64)]
        layer_mib: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let command = format!("./deploy/bench.sh {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let base = PathBuf::from(format!("/tmp/berth-bench-{}", std::process::id()));
        std::fs::create_dir_all(base.join("cni"))?;
        let bin_dir = std::fs::canonicalize(&args.bin_dir)?;
        let result = match args.what {
            What::Pull { runs, layers, layer_mib } => {
                let reg = berth_e2e::registry::Registry::start();
                eprintln!("building and pushing a {layers}-layer image of {} MiB...", layers * layer_mib);
                let image = pull::build_image(&reg, layers, layer_mib).await;
                let packed: usize = image.layers.iter().map(|l| l.blob.len()).sum();
                let berth = runtime::Runtime::berth(&bin_dir, &base)?;
                let containerd = runtime::Runtime::containerd(&base, &reg.addr)?;
                let (figures, floors) = pull::run(&berth, &containerd, &image, runs, &base).await?;
                let notes = format!(
                    "Image: {layers} gzip layers, {} MiB unpacked, {} MiB compressed, served by Debian's docker-registry on 127.0.0.1. Each pull is a CRI PullImage; the image is removed after each. {runs} runs after one warm-up each.",
                    layers * layer_mib,
                    packed >> 20
                );
                report::write(&args.out, "pull", "Image pull: berth vs containerd", &notes, &command, &figures, &floors)
            }
        };
        let _ = std::fs::remove_dir_all(&base);
        println!("{}", result?);
        Ok(())
    })
}
