//! The two runtimes under test, each started in private directories and
//! driven only through its CRI socket: berthd, and Debian's containerd
//! (CRI plugin built in, cgroupfs, overlayfs, plain HTTP to the local
//! registry through `certs.d/<host>/hosts.toml`).

use anyhow::{bail, Context};
use berth_proto::cri::image_service_client::ImageServiceClient;
use berth_proto::cri::runtime_service_client::RuntimeServiceClient;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub struct Runtime {
    pub name: &'static str,
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// The cgroup every pod of this runtime goes under.
    pub cgroup_parent: String,
    /// Its CNI network's bridge.
    bridge: String,
    /// How it is started (program, arguments), for restarts.
    argv: Vec<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
    /// Network namespaces in /run/netns before it started (containerd pins there).
    netns_before: Vec<String>,
}

pub type Images = ImageServiceClient<Channel>;
pub type Pods = RuntimeServiceClient<Channel>;

fn wait_for(path: &Path, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some(st) = child.try_wait()? {
            bail!("exited with {st}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        if Instant::now() > deadline {
            bail!("did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn spawn(argv: &[PathBuf], log: &Path) -> anyhow::Result<Child> {
    let f = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    Ok(Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f)
        .spawn()?)
}

/// The same CNI network for both runtimes — bridge, host-local IPAM,
/// portmap — each with its own bridge, /16 and IPAM dir. (No `promiscMode`:
/// the bridge plugin refuses it together with `hairpinMode`.)
fn write_network(dir: &Path, name: &str, bridge: &str, subnet: &str) -> anyhow::Result<PathBuf> {
    let conf_dir = dir.join("cni");
    std::fs::create_dir_all(&conf_dir)?;
    let conf = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
                "ipam": { "type": "host-local", "ranges": [[{ "subnet": subnet }]], "dataDir": dir.join("ipam") }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
        ]
    });
    std::fs::write(conf_dir.join("10-bench.conflist"), serde_json::to_vec_pretty(&conf)?)?;
    Ok(conf_dir)
}

fn netns_names() -> Vec<String> {
    berth_e2e::dir_names(Path::new("/run/netns"))
}

impl Runtime {
    /// berthd from `bin_dir` (release build).
    pub fn berth(bin_dir: &Path, base: &Path) -> anyhow::Result<Self> {
        let dir = base.join("berth");
        std::fs::create_dir_all(&dir)?;
        let tag = std::process::id();
        let conf_dir = write_network(&dir, "bench-berth", &format!("bbb{tag}"), "10.250.0.0/16")?;
        let config = dir.join("berthd.toml");
        std::fs::write(
            &config,
            format!(
                "root = \"{0}/root\"\nstate = \"{0}/run\"\ncgroup_parent = \"berth-bench-{tag}\"\nlog_level = \"warn\"\n[cni]\nconf_dir = \"{1}\"\nbin_dirs = [\"/usr/lib/cni\"]\n[docker]\nbridge = \"bbd{tag}\"\nbridge_subnet = \"10.252.0.0/16\"\nmasquerade = false\n",
                dir.display(),
                conf_dir.display()
            ),
        )?;
        let argv = vec![bin_dir.join("berthd"), "--config".into(), config];
        Self::start(
            "berth",
            dir.clone(),
            dir.join("run/berth.sock"),
            format!("berth-bench-{tag}"),
            format!("bbb{tag}"),
            argv,
            dir.join("berthd.log"),
        )
    }

    fn start(
        name: &'static str,
        dir: PathBuf,
        socket: PathBuf,
        cgroup_parent: String,
        bridge: String,
        argv: Vec<PathBuf>,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let mut rt = Runtime {
            name,
            dir,
            socket,
            cgroup_parent,
            bridge,
            argv,
            log,
            child: None,
            netns_before: netns_names(),
        };
        rt.spawn().with_context(|| format!("start {name}"))?;
        Ok(rt)
    }

    /// Starts the daemon and waits for its socket.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(&self.socket);
        let mut child = spawn(&self.argv, &self.log)?;
        let r = wait_for(&self.socket, &mut child, &self.log);
        self.child = Some(child);
        r
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Kills the daemon (SIGKILL: pods and shims stay) and starts it again;
    /// returns once its socket exists.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Debian's containerd with its CRI plugin, configured like berth.
    pub fn containerd(base: &Path, registry: &str) -> anyhow::Result<Self> {
        let dir = base.join("containerd");
        let tag = std::process::id();
        let conf_dir =
            write_network(&dir, "bench-containerd", &format!("bbc{tag}"), "10.251.0.0/16")?;
        let certs = dir.join("certs.d").join(registry);
        std::fs::create_dir_all(&certs)?;
        std::fs::write(certs.join("hosts.toml"), format!("server = \"http://{registry}\"\n[host.\"http://{registry}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"))?;
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{registry}/pause:bench"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{c}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"#,
                d = dir.display(),
                c = conf_dir.display(),
            ),
        )?;
        let argv = vec!["containerd".into(), "--config".into(), config];
        let (socket, log) = (dir.join("containerd.sock"), dir.join("containerd.log"));
        Self::start(
            "containerd",
            dir,
            socket,
            format!("berth-bench-containerd-{tag}"),
            format!("bbc{tag}"),
            argv,
            log,
        )
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match berth_e2e::unix_channel(self.socket.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() > deadline => return Err(e.into()),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn images(&self) -> anyhow::Result<Images> {
        Ok(Images::new(self.channel().await?))
    }

    pub async fn pods(&self) -> anyhow::Result<Pods> {
        Ok(Pods::new(self.channel().await?))
    }

    /// Every process this runtime added outside its daemon: shims (their
    /// command lines name our dirs) and whatever runs in its pods' cgroups.
    pub fn processes(&self) -> Vec<i32> {
        let me = self.dir.to_string_lossy().into_owned();
        let mut pids = berth_e2e::cgroup_pids(&self.cgroup_parent);
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == self.pid() {
                continue;
            }
            if std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&me))
            {
                pids.push(pid);
            }
        }
        pids.sort();
        pids.dedup();
        pids
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.kill();
        // Shims, pause processes, containers.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left: Vec<i32> =
                self.processes().into_iter().filter(|p| berth_e2e::alive(*p)).collect();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        berth_e2e::remove_cgroups(&self.cgroup_parent);
        // Network namespaces it pinned in /run/netns and did not remove.
        for ns in netns_names()
            .into_iter()
            .filter(|n| !self.netns_before.contains(n) && n.starts_with("cni-"))
        {
            let p = Path::new("/run/netns").join(&ns);
            let _ = nix::mount::umount2(p.as_path(), nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(p);
        }
        // Its bridges: the pods' and (berth) the Docker containers' default one.
        for bridge in [self.bridge.clone(), format!("bbd{}", std::process::id())] {
            if Path::new(&format!("/sys/class/net/{bridge}")).exists() {
                let _ = Command::new("ip").args(["link", "del", &bridge]).status();
            }
        }
        // The default bridge's isolation chain (the networks' go with their `network rm`).
        berth_e2e::release_isolation(&format!("bbd{}", std::process::id()));
        // Anything the runtime left mounted under its dirs (snapshots, pins), deepest first.
        for m in berth_e2e::mounts_under(&self.dir) {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
