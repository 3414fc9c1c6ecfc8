//! The build figures: the same build contexts built by berth and by
//! Debian's dockerd 20.10 — berth's `berth build` beside dockerd's BuildKit
//! (`DOCKER_BUILDKIT=1`, the bar), and the classic API (`docker build`
//! with `DOCKER_BUILDKIT=0`) on both — cold (`--no-cache`), with nothing
//! changed, and with one source file changed, interleaved run by run. The
//! floor is the same RUN commands run in a plain container over the same
//! files. berthd's and dockerd's memory are sampled during the cold builds.

use crate::docker::Dockerd;
use crate::report::{Figure, Floor, MemRow};
use crate::runtime::Runtime;
use anyhow::bail;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// CPU-bound shell work, as a RUN step's.
const SPIN: &str = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";

/// The big context: `files` files in 30 dirs, `mib` MiB in all, a
/// multi-stage Dockerfile with a CPU-bound RUN per stage.
fn big_context(dir: &Path, base: &str, files: usize, mib: usize) -> anyhow::Result<()> {
    let per = (mib << 20) / files;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..files {
        let d = dir.join(format!("src/d{}", i % 30));
        std::fs::create_dir_all(&d)?;
        let body: Vec<u8> = (0..per)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        std::fs::write(d.join(format!("f{i}.bin")), body)?;
    }
    std::fs::create_dir_all(dir.join("deps"))?;
    for i in 0..20 {
        std::fs::write(dir.join(format!("deps/dep{i}.txt")), format!("dependency {i}\n"))?;
    }
    let df = format!(
        "FROM {base} AS deps\nCOPY deps/ /deps/\nRUN {SPIN}; sha256sum /deps/* > /deps.sum\n\
         FROM {base} AS build\nCOPY src/ /src/\nRUN {SPIN}; cat /src/*/* | sha256sum > /digest\n\
         FROM {base}\nCOPY --from=deps /deps.sum /deps.sum\nCOPY --from=build /digest /digest\nCMD [\"cat\", \"/digest\"]\n"
    );
    std::fs::write(dir.join("Dockerfile"), df)?;
    Ok(())
}

fn small_context(dir: &Path, base: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("app.sh"), "#!/bin/sh\necho app\n")?;
    let df = format!("FROM {base}\nCOPY app.sh /app.sh\nRUN chmod +x /app.sh && /app.sh > /out\nCMD [\"/app.sh\"]\n");
    std::fs::write(dir.join("Dockerfile"), df)?;
    Ok(())
}

/// How one side builds.
#[derive(Clone, Copy)]
enum Side<'a> {
    /// `berth build` against berthd.
    BerthCli(&'a Path, &'a Path),
    /// The docker CLI with `DOCKER_BUILDKIT=0|1`.
    Docker(&'a Path, bool),
    /// buildctl against a standalone buildkitd (its address): the same
    /// context, the Dockerfile from `<context>.bk/` (its base image named
    /// where that buildkitd pulls it).
    Buildctl(&'a Path, &'a str),
}

impl Side<'_> {
    fn command(&self, ctx: &Path, extra: &[&str]) -> Command {
        match *self {
            Side::BerthCli(berth, sock) => {
                let mut c = Command::new(berth);
                c.env("BERTH_HOST", format!("unix://{}", sock.display())).arg("build");
                c.args(extra).arg("-q").arg(ctx);
                c
            }
            Side::Docker(sock, buildkit) => {
                let mut c = Command::new("/usr/bin/docker");
                c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
                    .env("DOCKER_CONFIG", sock.with_file_name("docker-config"))
                    .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" })
                    .env_remove("DOCKER_API_VERSION")
                    .arg("build");
                c.args(extra).arg("-q").arg(ctx);
                c
            }
            Side::Buildctl(buildctl, addr) => {
                let mut c = Command::new(buildctl);
                c.args([
                    "--addr",
                    addr,
                    "build",
                    "--frontend",
                    "dockerfile.v0",
                    "--progress",
                    "plain",
                ])
                .arg(format!("--local=context={}", ctx.display()))
                .arg(format!("--local=dockerfile={}", ctx.with_extension("bk").display()))
                .args(["--output", "type=image,name=bench/peer:latest"]);
                c.args(extra);
                c
            }
        }
    }

    fn build(&self, ctx: &Path, extra: &[&str]) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let out = self.command(ctx, extra).stdin(Stdio::null()).output()?;
        let took = t.elapsed();
        if !out.status.success() {
            bail!("build of {}: {}", ctx.display(), String::from_utf8_lossy(&out.stderr));
        }
        Ok(took)
    }
}

/// One figure: `before` (untimed) then a timed build, on both sides,
/// alternating which goes first, after a warm-up each.
fn figure(
    name: &str,
    sides: [(&str, Side); 2],
    runs: usize,
    ctx: &Path,
    extra: &[&str],
    before: &mut dyn FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Figure> {
    let mut fig = Figure::new(name);
    let mut n = 0;
    for (_, s) in &sides {
        before(n)?;
        n += 1;
        s.build(ctx, extra)?;
    }
    for i in 0..runs {
        let order = if i % 2 == 0 { [sides[0], sides[1]] } else { [sides[1], sides[0]] };
        for (who, s) in order {
            before(n)?;
            n += 1;
            fig.push(who, s.build(ctx, extra)?);
        }
    }
    eprintln!("  {name}: done");
    Ok(fig)
}

/// The peak RSS of `pid` (MiB) while `f` runs.
fn peak_rss(pid: u32, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0f64;
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(crate::memory::rss_mib(pid));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let r = f();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(0.0);
    r.map(|()| peak)
}

pub struct Options {
    pub runs: usize,
    pub files: usize,
    pub mib: usize,
    /// A standalone buildkitd to compare with too: buildctl and the
    /// daemon's address (it pulls from the registry on 127.0.0.1:5000).
    pub buildkit: Option<(std::path::PathBuf, String)>,
}

/// Where a standalone buildkitd pulls the base image from (plain HTTP).
const PEER_REGISTRY: &str = "127.0.0.1:5000";

pub async fn run(
    berth: &Runtime,
    dockerd: &Dockerd,
    reg: &berth_e2e::registry::Registry,
    bin_dir: &Path,
    base_dir: &Path,
    o: &Options,
) -> anyhow::Result<(Vec<Figure>, Vec<Floor>, Vec<MemRow>)> {
    // The base image, where berthd and dockerd pull it (and the standalone buildkitd).
    let mut registries = vec![reg.addr.as_str()];
    if o.buildkit.is_some() {
        registries.push(PEER_REGISTRY);
    }
    for addr in registries {
        let layers = [berth_e2e::registry::busybox_layer()];
        let cfg = serde_json::json!({ "Cmd": ["sh"] });
        berth_e2e::registry::push_image(addr, "bench/busybox", "v1", &layers, "amd64", cfg).await;
    }
    let image = format!("{}/bench/busybox:v1", reg.addr);
    let peer_image = format!("{PEER_REGISTRY}/bench/busybox:v1");
    let berth_sock = berth.dir.join("run/docker.sock");
    let docker_sock = dockerd.socket();
    for s in [&berth_sock, &docker_sock] {
        crate::docker::docker(s, &["pull", "-q", &image])?;
    }
    let big = base_dir.join("ctx-big");
    let small = base_dir.join("ctx-small");
    eprintln!("writing a context of {} files, {} MiB...", o.files, o.mib);
    big_context(&big, &image, o.files, o.mib)?;
    small_context(&small, &image)?;
    // The standalone buildkitd's Dockerfiles: the same, FROM its registry.
    for ctx in [&big, &small] {
        let bk = ctx.with_extension("bk");
        std::fs::create_dir_all(&bk)?;
        let df = std::fs::read_to_string(ctx.join("Dockerfile"))?.replace(&image, &peer_image);
        std::fs::write(bk.join("Dockerfile"), df)?;
    }
    let berth_cli = bin_dir.join("berth");
    let berth_build = Side::BerthCli(&berth_cli, &berth_sock);
    let buildkit = Side::Docker(&docker_sock, true);
    let berth_classic = Side::Docker(&berth_sock, false);
    let berth_session = Side::Docker(&berth_sock, true);
    let classic = Side::Docker(&docker_sock, false);
    let changing = big.join("src/d0/f0.bin");
    let mut change = |n: usize| -> anyhow::Result<()> {
        std::fs::write(&changing, format!("changed {n} {:?}", Instant::now()))?;
        Ok(())
    };
    let mut nothing = |_: usize| Ok(());
    let mut figures = Vec::new();
    let mut pairs: Vec<(&str, [(&str, Side); 2])> = vec![
        ("berth build vs dockerd's BuildKit", [("berth", berth_build), ("dockerd", buildkit)]),
        (
            "docker build (classic API): berth vs dockerd's classic builder",
            [("berth", berth_classic), ("dockerd", classic)],
        ),
        (
            "DOCKER_BUILDKIT=1 docker build (the session): berth vs dockerd's BuildKit",
            [("berth", berth_session), ("dockerd", buildkit)],
        ),
    ];
    if let Some((buildctl, addr)) = &o.buildkit {
        let standalone = Side::Buildctl(buildctl, addr);
        pairs.push((
            "berth build vs BuildKit 0.32 standalone (buildctl; its figures in the dockerd columns)",
            [("berth", berth_build), ("buildkitd", standalone)],
        ));
    }
    let mut memory =
        MemRow::new("daemon RSS peak during a cold big build (MiB; berth build vs BuildKit)");
    for (what, sides) in pairs {
        figures.push(figure(
            &format!("{what}: big build, cold (--no-cache)"),
            sides,
            o.runs,
            &big,
            &["--no-cache"],
            &mut nothing,
        )?);
        figures.push(figure(
            &format!("{what}: big build, nothing changed"),
            sides,
            o.runs,
            &big,
            &[],
            &mut nothing,
        )?);
        figures.push(figure(
            &format!("{what}: big build, one file changed"),
            sides,
            o.runs,
            &big,
            &[],
            &mut change,
        )?);
        figures.push(figure(
            &format!("{what}: small build (3 steps), cold"),
            sides,
            o.runs,
            &small,
            &["--no-cache"],
            &mut nothing,
        )?);
        figures.push(figure(
            &format!("{what}: small build, nothing changed"),
            sides,
            o.runs,
            &small,
            &[],
            &mut nothing,
        )?);
    }
    for _ in 0..3 {
        memory.push(
            "berth",
            peak_rss(berth.pid(), || berth_build.build(&big, &["--no-cache"]).map(|_| ()))?,
        );
        memory.push(
            "dockerd",
            peak_rss(dockerd.pid(), || buildkit.build(&big, &["--no-cache"]).map(|_| ()))?,
        );
    }
    // The floor: the two RUN commands in a plain container over the same files.
    let mut floor = Floor {
        name: "the RUN steps' work in one plain container (docker run on dockerd)".into(),
        samples: vec![],
    };
    let script = format!("{SPIN}; sha256sum /ctx/deps/* > /dev/null; {SPIN}; cat /ctx/src/*/* | sha256sum > /dev/null");
    let mount = format!("{}:/ctx:ro", big.display());
    for _ in 0..o.runs {
        let t = Instant::now();
        let out = crate::docker::docker(
            &docker_sock,
            &["run", "--rm", "--network", "none", "-v", &mount, &image, "sh", "-c", &script],
        )?;
        if !out.status.success() {
            bail!("floor run: {}", String::from_utf8_lossy(&out.stderr));
        }
        floor.samples.push(t.elapsed());
    }
    for d in [big.clone(), big.with_extension("bk"), small.with_extension("bk")] {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok((figures, vec![floor], vec![memory]))
}
