//! `berth-bench`: berth and containerd side by side, in one run, driven the
//! same way over CRI; medians, p90, min/max and ratios, written to
//! `docs/benchmarks/`. See docs/benchmarks/README.md.

mod build;
mod compose;
mod docker;
mod lifecycle;
mod memory;
mod pods;
mod pull;
mod report;
mod runtime;
mod scale;
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
    /// The pod figures: sandbox, create+start, whole pod, pods at once,
    /// memory, daemon restart.
    Pods {
        /// Samples per one-pod figure.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Pod counts started at once.
        #[arg(long, value_delimiter = ',', default_value = "20,100")]
        counts: Vec<usize>,
        /// Runs per pod count.
        #[arg(long, default_value_t = 3)]
        scale_runs: usize,
        /// Daemon restarts per run at the largest count.
        #[arg(long, default_value_t = 2)]
        restarts: usize,
    },
    /// The build figures: `berth build` against dockerd's BuildKit, and the
    /// classic API on both: cold, nothing changed, one file changed.
    Build {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Files in the big context.
        #[arg(long, default_value_t = 3000)]
        files: usize,
        /// MiB of the big context.
        #[arg(long, default_value_t = 40)]
        mib: usize,
        /// Also against a standalone buildkitd at this address (`unix://…`),
        /// driven by `--buildctl`; it pulls FROM 127.0.0.1:5000.
        #[arg(long, requires = "buildctl")]
        buildkit_addr: Option<String>,
        #[arg(long)]
        buildctl: Option<std::path::PathBuf>,
    },
    /// The Docker figures: Debian's docker CLI against berthd and against
    /// Debian's dockerd: run --rm, -p, -v, names on a user network, exec, ps with many containers, pull.
    Docker {
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Running containers while `docker ps` is timed.
        #[arg(long, default_value_t = 100)]
        containers: usize,
        #[arg(long, default_value_t = 5)]
        pull_runs: usize,
    },
}

/// The run's scratch dir, removed however the run ends (the runtimes,
/// dropped before it, clean up their own dirs, processes and mounts).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let command =
        format!("./deploy/bench.sh {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let base = Scratch(PathBuf::from(format!("/tmp/berth-bench-{}", std::process::id())));
        std::fs::create_dir_all(&base.0)?;
        let base = &base.0;
        let bin_dir = std::fs::canonicalize(&args.bin_dir)?;
        let result = match args.what {
            What::Pull { runs, layers, layer_mib } => {
                let reg = berth_e2e::registry::Registry::start();
                eprintln!("building and pushing a {layers}-layer image of {} MiB...", layers * layer_mib);
                let image = pull::build_image(&reg, layers, layer_mib).await;
                let packed: usize = image.layers.iter().map(|l| l.blob.len()).sum();
                let berth = runtime::Runtime::berth(&bin_dir, base)?;
                let containerd = runtime::Runtime::containerd(base, &reg.addr)?;
                let (figures, floors) = pull::run(&berth, &containerd, &image, runs, base).await?;
                let notes = format!(
                    "Image: {layers} gzip layers, {} MiB unpacked, {} MiB compressed, served by Debian's docker-registry on 127.0.0.1. Each pull is a CRI PullImage; the image is removed after each. {runs} runs after one warm-up each.",
                    layers * layer_mib,
                    packed >> 20
                );
                let r = report::Report { name: "pull", peer: "containerd", title: "Image pull: berth vs containerd", notes: &notes, command: &command, figures: &figures, floors: &floors, memory: &[] };
                report::write(&args.out, &r)
            }
            What::Docker { runs, containers, pull_runs } => {
                let reg = berth_e2e::registry::Registry::start();
                let berth = runtime::Runtime::berth(&bin_dir, base)?;
                let dockerd = docker::Dockerd::start(base)?;
                let o = docker::Options { runs, containers, pull_runs };
                let (figures, floors) = docker::run(&berth, &dockerd, &reg, &o).await?;
                drop(dockerd);
                let notes = format!(
                    "Each sample is one run of Debian's `docker` CLI (20.10, API 1.41), as a user waits for it, against berthd's Docker Engine API and against Debian's dockerd 20.10 (its own containerd and runc; private data and exec roots; docker0 on 10.253.0.0/16 with `--iptables=false --ip-masq=false`), the order alternating every run after a warm-up each. berth's default bridge gets its own /16 and no masquerading, like dockerd's here. The exec, ps and pull figures use `--network none` containers on both. The published-port figure is `docker run -d -p 127.0.0.1:P:80` of busybox httpd until a GET from the node on 127.0.0.1:P answers (the container removed after, untimed; dockerd's docker-proxy, berth's own DNAT rules); the volume figure `run --rm -v benchvol:/data true`; the compose figure Debian's docker-compose 1.29 `up -d` of a three-service project (db with a healthcheck, api with one waiting for db healthy, web with a published port waiting for api healthy; a project network, berth's on 10.246.0.0/24, dockerd's on 10.247.0.0/24; a named volume; probes every 100 ms on both) until `docker ps` shows all three up and healthy (`down -v` after, untimed); the name figure a `run --rm --network benchnet … nslookup bench-net-N` with {containers} containers running on that user-defined network on each (berth's on 10.248.0.0/22, dockerd's on 10.249.0.0/22). Images come from Debian's docker-registry on 127.0.0.1: a one-layer busybox, and for the pull a 5-layer image of 160 MiB (gzip), removed after each pull. {runs} runs per figure; `docker ps` with {containers} running containers on each; {pull_runs} pulls each. The compose floor is docker-compose's own start-up and one look at the project; the project's two healthchecks add two 100 ms probe intervals on either engine."
                );
                let r = report::Report { name: "docker", peer: "dockerd", title: "Docker CLI: berth vs dockerd", notes: &notes, command: &command, figures: &figures, floors: &floors, memory: &[] };
                report::write(&args.out, &r)
            }
            What::Build { runs, files, mib, buildkit_addr, buildctl } => {
                let with_buildkit = buildkit_addr.is_some();
                let reg = berth_e2e::registry::Registry::start();
                let berth = runtime::Runtime::berth(&bin_dir, base)?;
                let dockerd = docker::Dockerd::start(base)?;
                let o = build::Options { runs, files, mib, buildkit: buildctl.zip(buildkit_addr) };
                let (figures, floors, memory) = build::run(&berth, &dockerd, &reg, &bin_dir, base, &o).await?;
                drop(dockerd);
                let notes = format!(
                    "Two contexts, each built on berthd and on Debian's dockerd 20.10 (private dirs, as in the Docker report) in the same run, interleaved, after a warm-up each. The big one: {files} files of random bytes in 30 dirs, {mib} MiB, and a three-stage Dockerfile (a `deps` stage and a `build` stage, each a COPY and a CPU-bound RUN — a 200,000-step shell loop, then sha256sum over the files — and a final stage that copies one file from each). The small one: FROM, COPY of one script, RUN, CMD. `berth build` (berth's CLI, which sends the context with .dockerignore applied to berthd's /build) is compared with the docker CLI's BuildKit path on dockerd (`DOCKER_BUILDKIT=1`), `docker build` with `DOCKER_BUILDKIT=0` (the classic API) on berthd with the same on dockerd (its classic builder), and `docker build` with `DOCKER_BUILDKIT=1` (BuildKit's session: the context sent over `/session`) on both. Every build is `-q`. Cold: `--no-cache` (bases already pulled on both). One file changed: one file of the big context's `build` stage rewritten before each sample. The floor: the same RUN commands' work in one `docker run --rm --network none -v ctx:/ctx:ro` on dockerd. Memory: the daemon's peak RSS, sampled every 20 ms, during three cold big builds each ({runs} samples per figure). {}",
                    if with_buildkit {
                        "BuildKit 0.32.2 standalone (`../shared/peers/`: OCI worker, runc, overlayfs, its RUN steps on a private CNI bridge) is in this run too, driven by `buildctl build --frontend dockerfile.v0 --local context=… --local dockerfile=… --output type=image,name=…` (`--progress plain`): the same contexts, their Dockerfiles naming the same base image where that buildkitd pulls it (127.0.0.1:5000)."
                    } else {
                        "BuildKit 0.32 standalone (`../shared/peers/`) is not in this run."
                    }
                );
                let r = report::Report { name: "build", peer: "dockerd", title: "Builds: berth vs dockerd (BuildKit and classic)", notes: &notes, command: &command, figures: &figures, floors: &floors, memory: &memory };
                report::write(&args.out, &r)
            }
            What::Pods { runs, counts, scale_runs, restarts } => {
                let reg = berth_e2e::registry::Registry::start();
                let mut berth = runtime::Runtime::berth(&bin_dir, base)?;
                let mut containerd = runtime::Runtime::containerd(base, &reg.addr)?;
                let images = pods::prepare(&reg, &berth, &containerd).await?;
                let mut idle = report::MemRow::new("daemon RSS, idle (images pulled, no pods)");
                for rt in [&berth, &containerd] {
                    idle.push(rt.name, memory::daemon_rss(rt));
                }
                eprintln!("one pod at a time, {runs} runs...");
                let (mut figures, floors) = lifecycle::run(&berth, &containerd, &images, runs, base).await?;
                eprintln!("pods at once: {counts:?}, {scale_runs} runs each...");
                let o = scale::Options { counts: counts.clone(), runs: scale_runs, restarts };
                let (more, mut memory) = scale::run(&mut berth, &mut containerd, &images, &o).await?;
                figures.extend(more);
                memory.insert(0, idle);
                let notes = format!(
                    "Each pod: RunPodSandbox on a CNI bridge network (bridge + host-local + portmap, the same conflist for both, each runtime its own bridge and /16), then one busybox container running `sleep` (CreateContainer + StartContainer), PID namespace per container (kubelet's default), seccomp unconfined, logs to the pod's log dir; the image is pulled before. containerd's sandbox runs `{}/pause:bench` (busybox `sleep` as PID 1, built and pushed by the run); berth runs no pause process. One-pod figures: {runs} runs after two warm-ups each; pods at once: counts {counts:?}, {scale_runs} runs each, pods removed between runs; restarts: {restarts} per run at the largest count (SIGKILL the daemon, start it, until every container is listed running and answers ContainerStatus).",
                    reg.addr
                );
                let r = report::Report { name: "pods", peer: "containerd", title: "Pods: berth vs containerd", notes: &notes, command: &command, figures: &figures, floors: &floors, memory: &memory };
                report::write(&args.out, &r)
            }
        };
        println!("{}", result?);
        Ok(())
    })
}
