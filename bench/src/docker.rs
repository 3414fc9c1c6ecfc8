//! The Docker figures: the same Debian `docker` CLI (20.10) against berthd's
//! Docker Engine API and against Debian's dockerd 20.10 (started here in
//! private dirs, its docker0 on a range of its own, no iptables, NAT or
//! forwarding — berth's default bridge is set up alike), one
//! command after the other, the order alternating every run. Each sample
//! is the CLI's whole run, as a user waits for it.

use crate::report::{Figure, Floor};
use crate::runtime::Runtime;
use anyhow::{bail, Context};
use berth_e2e::registry::{busybox_layer, push_image, Registry};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's dockerd in a private dir; stopped, its containers removed and
/// its dir deleted when dropped.
pub struct Dockerd {
    dir: PathBuf,
    child: Option<Child>,
    /// Its default bridge, if this run made it.
    bridge: Option<&'static str>,
}

/// dockerd's default bridge and its range (no NAT, no iptables: as berth's in the run).
const DOCKER0: &str = "docker0";
const DOCKER0_BIP: &str = "10.253.0.1/16";

impl Dockerd {
    pub fn start(base: &Path) -> anyhow::Result<Self> {
        let dir = base.join("dockerd");
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("dockerd.log"))?;
        let had_bridge = Path::new("/sys/class/net").join(DOCKER0).exists();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args([
                "--bip",
                DOCKER0_BIP,
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start dockerd (apt-get install docker.io)")?;
        let d = Dockerd { dir, child: Some(child), bridge: (!had_bridge).then_some(DOCKER0) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !docker(&d.socket(), &["version"]).map(|o| o.status.success()).unwrap_or(false) {
            if Instant::now() > deadline {
                bail!(
                    "dockerd did not come up: {}",
                    std::fs::read_to_string(d.dir.join("dockerd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(d)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        remove_all(&self.socket());
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(b) = self.bridge {
            let _ = Command::new("ip").args(["link", "del", b]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn docker(socket: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    let config = socket.with_file_name("docker-config");
    Command::new("/usr/bin/docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_API_VERSION")
        .stdin(Stdio::null())
        .output()
}

/// One CLI run, timed; an error unless it succeeded.
fn timed(socket: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = docker(socket, args)?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "docker {args:?} against {}: {}",
            socket.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn remove_all(socket: &Path) {
    if let Ok(out) = docker(socket, &["ps", "-aq"]) {
        let ids: Vec<String> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
        for chunk in ids.chunks(50) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk.iter().map(String::as_str));
            let _ = docker(socket, &args);
        }
    }
}

pub struct Options {
    pub runs: usize,
    pub containers: usize,
    pub pull_runs: usize,
}

/// Runs `args` on both, alternating which goes first, after a warm-up each.
fn figure(
    name: &str,
    sides: &[(&str, &Path); 2],
    runs: usize,
    args: &[&str],
) -> anyhow::Result<Figure> {
    let mut fig = Figure::new(name);
    for (_, s) in sides {
        timed(s, args)?;
    }
    for i in 0..runs {
        let order = if i % 2 == 0 { [sides[0], sides[1]] } else { [sides[1], sides[0]] };
        for (who, s) in order {
            fig.push(who, timed(s, args)?);
        }
    }
    eprintln!("  {name}: done");
    Ok(fig)
}

/// `docker run -d -p 127.0.0.1:PORT:80 … httpd` until the port answers from
/// the node (the container removed after, untimed).
fn published(sides: &[(&str, &Path); 2], runs: usize, image: &str) -> anyhow::Result<Figure> {
    let mut fig =
        Figure::new("docker run -d -p 127.0.0.1:P:80 busybox httpd, until the port answers");
    let once = |s: &Path| -> anyhow::Result<Duration> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let t = Instant::now();
        timed(
            s,
            &[
                "run",
                "-d",
                "--name",
                "bench-pub",
                "-p",
                &format!("127.0.0.1:{port}:80"),
                image,
                "sh",
                "-c",
                "echo ok > /tmp/i; exec httpd -f -p 80 -h /tmp",
            ],
        )?;
        let deadline = t + Duration::from_secs(20);
        loop {
            use std::io::{Read, Write};
            let answered = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(2)))?;
                c.write_all(b"GET /i HTTP/1.0\r\n\r\n")?;
                let mut body = String::new();
                c.read_to_string(&mut body)?;
                Ok(body.ends_with("ok\n"))
            });
            if answered.unwrap_or(false) {
                break;
            }
            if Instant::now() > deadline {
                bail!("port {port} never answered on {}", s.display());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let took = t.elapsed();
        timed(s, &["rm", "-f", "bench-pub"])?;
        Ok(took)
    };
    for (_, s) in sides {
        once(s)?;
    }
    for i in 0..runs {
        let order = if i % 2 == 0 { [sides[0], sides[1]] } else { [sides[1], sides[0]] };
        for (who, s) in order {
            fig.push(who, once(s)?);
        }
    }
    eprintln!("  published port: done");
    Ok(fig)
}

pub async fn run(
    berth: &Runtime,
    dockerd: &Dockerd,
    reg: &Registry,
    o: &Options,
) -> anyhow::Result<(Vec<Figure>, Vec<Floor>)> {
    push_image(
        &reg.addr,
        "bench/busybox",
        "v1",
        &[busybox_layer()],
        "amd64",
        serde_json::json!({ "Cmd": ["sh"] }),
    )
    .await;
    let image = format!("{}/bench/busybox:v1", reg.addr);
    let berth_sock = berth.dir.join("run/docker.sock");
    let sides: [(&str, &Path); 2] = [("berth", &berth_sock), ("dockerd", &dockerd.socket())];
    for (_, s) in &sides {
        timed(s, &["pull", "-q", &image])?;
    }
    let mut figures = Vec::new();
    figures.push(figure(
        "docker run --rm busybox true (default bridge)",
        &sides,
        o.runs,
        &["run", "--rm", &image, "true"],
    )?);
    figures.push(figure(
        "docker run --rm --network none busybox true",
        &sides,
        o.runs,
        &["run", "--rm", "--network", "none", &image, "true"],
    )?);
    for (_, s) in &sides {
        timed(
            s,
            &["run", "-d", "--name", "bench-exec", "--network", "none", &image, "sleep", "100000"],
        )?;
    }
    figures.push(figure(
        "docker exec (running container) true",
        &sides,
        o.runs,
        &["exec", "bench-exec", "true"],
    )?);
    for (_, s) in &sides {
        timed(s, &["rm", "-f", "bench-exec"])?;
    }
    figures.push(published(&sides, o.runs, &image)?);
    let (compose, compose_floor) = crate::compose::up(&sides, o.runs, &image, &berth.dir)?;
    figures.push(compose);
    figures.push(figure(
        "docker run --rm -v vol:/data busybox true",
        &sides,
        o.runs,
        &["run", "--rm", "-v", "benchvol:/data", &image, "true"],
    )?);
    for (_, s) in &sides {
        timed(s, &["volume", "rm", "benchvol"])?;
    }
    // A user-defined network with o.containers on it; one more finds a peer by name.
    // (Each its own range: two bridges with one range would share the node's route.)
    for ((_, s), subnet) in sides.iter().zip(["10.248.0.0/22", "10.249.0.0/22"]) {
        timed(s, &["network", "create", "--subnet", subnet, "benchnet"])?;
    }
    for i in 0..o.containers {
        for (_, s) in &sides {
            timed(
                s,
                &[
                    "run",
                    "-d",
                    "--network",
                    "benchnet",
                    "--name",
                    &format!("bench-net-{i}"),
                    &image,
                    "sleep",
                    "100000",
                ],
            )?;
        }
    }
    let last = format!("bench-net-{}", o.containers.saturating_sub(1));
    figures.push(figure(
        &format!(
            "docker run --rm --network net busybox nslookup <peer> ({} on the network)",
            o.containers
        ),
        &sides,
        o.runs,
        &["run", "--rm", "--network", "benchnet", &image, "nslookup", &last],
    )?);
    for (_, s) in &sides {
        remove_all(s);
        timed(s, &["network", "rm", "benchnet"])?;
    }
    eprintln!("  starting {} containers on each...", o.containers);
    for i in 0..o.containers {
        for (_, s) in &sides {
            timed(
                s,
                &[
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    &format!("bench-{i}"),
                    &image,
                    "sleep",
                    "100000",
                ],
            )?;
        }
    }
    figures.push(figure(
        &format!("docker ps ({} running)", o.containers),
        &sides,
        o.runs,
        &["ps"],
    )?);
    for (_, s) in &sides {
        remove_all(s);
    }

    let big = crate::pull::build_image(reg, 5, 32).await;
    let mut pull = Figure::new("docker pull (5 layers, 160 MiB)");
    for i in 0..=o.pull_runs {
        let order = if i % 2 == 0 { [sides[0], sides[1]] } else { [sides[1], sides[0]] };
        for (who, s) in order {
            nix::unistd::sync();
            let took = timed(s, &["pull", "-q", &big.reference])?;
            timed(s, &["rmi", &big.reference])?;
            // The first of each is a warm-up.
            if i > 0 {
                pull.push(who, took);
            }
        }
    }
    figures.push(pull);
    // What no engine can avoid: the CLI's own start-up and one round trip.
    let mut floor = Floor {
        name: "docker version (CLI start + one request, berth)".into(),
        samples: Vec::new(),
    };
    for _ in 0..o.runs {
        floor.samples.push(timed(&berth_sock, &["version", "--format", "{{.Server.Version}}"])?);
    }
    Ok((figures, vec![floor, compose_floor]))
}
