//! Test harness for berth's end-to-end tests.
//!
//! Each test starts its own `berthd` in private directories with its own
//! cgroup parent, drives it through the public socket with the `berth`
//! CLI (as a user would), and on drop — also when the test panics — kills
//! every shim and container it started, stops the daemon, removes its
//! cgroups and deletes its directories.
//!
//! Images are built from Debian's `busybox-static` (`/bin/busybox`).

mod clients;
pub mod cri;
mod node;
pub mod registry;
pub mod spdy;
pub mod tmux;
pub mod token;
pub mod websocket;

pub use clients::{busybox_tarball, Run};
pub use node::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the workspace's binaries are (`BERTH_BIN_DIR` overrides).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BERTH_BIN_DIR") {
        return d.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// CRI clients.
pub type CriRuntime =
    berth_proto::cri::runtime_service_client::RuntimeServiceClient<tonic::transport::Channel>;
pub type CriImages =
    berth_proto::cri::image_service_client::ImageServiceClient<tonic::transport::Channel>;

/// A gRPC channel over a unix socket (berthd's, or another runtime's).
pub async fn unix_channel(
    path: PathBuf,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_static("http://cri.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let p = path.clone();
            async move { tokio::net::UnixStream::connect(p).await.map(hyper_util::rt::TokioIo::new) }
        }))
        .await
}

/// A private berthd.
pub struct Daemon {
    pub dir: PathBuf,
    pub cgroup_parent: String,
    /// This daemon's CNI network: its name, bridge and /24 (`10.x.y`).
    pub network: String,
    pub bridge: String,
    pub subnet: String,
    /// Where its user-defined networks get their ranges: a /24 (`10.x.y`) in /27s.
    pub network_pool: String,
    /// The default bridge of Docker's containers, and its /24 (`10.x.y`).
    pub docker_bridge: String,
    pub docker_subnet: String,
    /// `BERTH_FAILPOINTS` for the next (re)start; see `berth_kernel::failpoint`.
    pub failpoints: Option<String>,
    /// More environment for the next (re)start (and the shims it starts).
    pub env: Vec<(String, String)>,
    /// A program berthd is started through (`nohup`), for the next (re)start.
    pub wrapper: Option<String>,
    child: Option<Child>,
}

impl Daemon {
    /// Starts a daemon with a busybox image imported as `busybox`.
    pub fn start() -> Self {
        let d = Self::start_bare();
        d.import_busybox("busybox", &[r#"CMD ["sh"]"#]);
        d
    }

    /// Starts a daemon with an empty store.
    pub fn start_bare() -> Self {
        Self::start_bare_with("")
    }

    /// Starts a daemon with an empty store and `extra` appended to its
    /// config file (whole TOML sections, e.g. `[registry]`; keys before any
    /// header land in `[docker]`, the base config's last section).
    pub fn start_bare_with(extra: &str) -> Self {
        let tag = hex(6);
        let dir = PathBuf::from(format!("/tmp/berth-test-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let b = u64::from_str_radix(&tag, 16).unwrap();
        let mut d = Daemon {
            dir,
            cgroup_parent: format!("berth-test-{tag}"),
            network: format!("berth-test-{tag}"),
            bridge: format!("bt{tag}"),
            subnet: format!("10.{}.{}", 200 + (b >> 8) % 50, b & 0xff),
            docker_bridge: format!("bd{tag}"),
            docker_subnet: format!("10.{}.{}", 150 + (b >> 8) % 50, b & 0xff),
            network_pool: format!("10.{}.{}", 100 + (b >> 8) % 50, b & 0xff),
            failpoints: None,
            env: Vec::new(),
            wrapper: None,
            child: None,
        };
        std::fs::write(
            d.dir.join("berthd.toml"),
            format!(
                "root = \"{0}/root\"\nstate = \"{0}/run\"\ncgroup_parent = \"{1}\"\nlog_level = \"info,berth_engine=debug,berth_cri=debug,berthd=debug,berth_cni=debug\"\n[cni]\nconf_dir = \"{0}/cni/net.d\"\nbin_dirs = [\"/usr/lib/cni\"]\n[docker]\nbridge = \"{2}\"\nbridge_subnet = \"{3}.0/24\"\nmasquerade = false\nnetwork_pool = \"{4}.0/24\"\nnetwork_size = 27\n",
                d.dir.display(),
                d.cgroup_parent,
                d.docker_bridge,
                d.docker_subnet,
                d.network_pool,
            ) + extra,
        )
        .unwrap();
        d.write_network();
        d.spawn();
        d
    }

    /// A private bridge network: its own bridge, /24 and IPAM dir; no
    /// masquerading and no default route (pods reach the host and each other).
    /// Port mappings, traffic shaping and requested IPs as capabilities.
    fn write_network(&self) {
        let conf = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.network,
            "plugins": [
                {
                    "type": "bridge", "bridge": self.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
                    "capabilities": { "ips": true },
                    "ipam": { "type": "host-local", "ranges": [[{ "subnet": format!("{}.0/24", self.subnet) }]], "dataDir": self.dir.join("cni/ipam") }
                },
                { "type": "portmap", "capabilities": { "portMappings": true } },
                { "type": "bandwidth", "capabilities": { "bandwidth": true } }
            ]
        });
        std::fs::create_dir_all(self.cni_conf().parent().unwrap()).unwrap();
        std::fs::write(self.cni_conf(), conf.to_string()).unwrap();
    }

    /// The network config file (remove it to make the network not ready).
    pub fn cni_conf(&self) -> PathBuf {
        self.dir.join("cni/net.d/10-test.conflist")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("run/berth.sock")
    }

    /// The Docker Engine API's socket.
    pub fn docker_socket(&self) -> PathBuf {
        self.dir.join("run/docker.sock")
    }

    /// The daemon's durable root (images, layers, blobs).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("berthd.log"))
            .unwrap();
        let _ = std::fs::remove_file(self.socket());
        let mut cmd = match &self.wrapper {
            Some(w) => {
                let mut c = Command::new(w);
                c.arg(bin_dir().join("berthd"));
                c
            }
            None => Command::new(bin_dir().join("berthd")),
        };
        match &self.failpoints {
            Some(f) => cmd.env("BERTH_FAILPOINTS", f),
            None => cmd.env_remove("BERTH_FAILPOINTS"),
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .arg("--config")
            .arg(self.dir.join("berthd.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start berthd (run `cargo build --workspace` first)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // The socket file appears at bind(), a moment before listen(): wait
        // until a connection is taken, on both fronts' sockets.
        let up = |p: PathBuf| std::os::unix::net::UnixStream::connect(p).is_ok();
        while !up(self.socket()) || !up(self.docker_socket()) {
            assert!(Instant::now() < deadline, "berthd did not come up; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    /// SIGKILLs the daemon (containers and shims keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the daemon gracefully (SIGTERM).
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }

    /// Restarts the daemon with `spec` armed (`name=error|abort,...`).
    pub fn arm(&mut self, spec: &str) {
        self.failpoints = Some(spec.to_owned());
        self.restart();
    }

    /// Whether the daemon process has exited (an `abort` failpoint fired).
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Restarts the daemon with nothing armed.
    pub fn disarm(&mut self) {
        self.failpoints = None;
        self.restart();
    }

    /// Starts the daemon again on the same dirs.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// A node restart as berthd finds it: the daemon, every shim, pod init
    /// and container process killed, the volatile state dir gone; then
    /// berthd starts again.
    pub fn power_cut(&mut self) {
        self.kill9();
        for pid in self
            .shim_pids()
            .into_iter()
            .chain(self.pod_init_pids())
            .chain(cgroup_pids(&self.cgroup_parent))
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(self
            .eventually(Duration::from_secs(10), || cgroup_pids(&self.cgroup_parent).is_empty()));
        let run = self.dir.join("run");
        for m in mounts_under(&run) {
            nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH).unwrap();
        }
        std::fs::remove_dir_all(&run).unwrap();
        self.restart();
    }

    /// Polls `f` until it is true or `timeout` passes.
    pub fn eventually(&self, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        f()
    }

    /// Pids of the shims this daemon started (alive or not).
    pub fn shim_pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.join("run/containers")) {
            for e in rd.flatten() {
                if let Ok(p) = std::fs::read_to_string(e.path().join("shim.pid")) {
                    out.extend(p.trim().parse::<i32>().ok());
                }
            }
        }
        out
    }

    /// Pids of the pod inits (pod-wide PID namespaces) this daemon started
    /// and that are still running.
    pub fn pod_init_pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.join("root/sandboxes")) {
            for e in rd.flatten() {
                let rec: Option<serde_json::Value> = std::fs::read(e.path().join("sandbox.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let pid = rec.and_then(|r| r["init_pid"].as_i64()).map(|p| p as i32);
                out.extend(pid.filter(|p| {
                    alive(*p)
                        && std::fs::read_to_string(format!("/proc/{p}/comm"))
                            .is_ok_and(|c| c.trim() == "berth-pod-init")
                }));
            }
        }
        out
    }
}

impl Daemon {
    /// Port-mapping and masquerading rules a killed daemon left: every NAT
    /// rule naming this daemon's networks, bridges or address ranges (the
    /// pods', the default bridge's, the user-defined networks' pool), and
    /// the per-sandbox chains they are in or jump to, with every jump to those.
    fn release_nat_rules(&self) {
        let nat = || {
            Command::new("iptables")
                .args(["-w", "-t", "nat", "-S"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let marks = [
            self.network.clone(),
            self.docker_bridge.clone(),
            format!("{}.", self.docker_subnet),
            format!("{}.", self.network_pool),
            format!("{}.", self.subnet),
        ];
        let mut chains = Vec::new();
        for rule in nat()
            .lines()
            .filter(|l| l.starts_with("-A ") && marks.iter().any(|m| l.contains(m.as_str())))
        {
            let words = shell_words(&rule[3..]);
            // The chain of one sandbox's mappings goes once nothing jumps to it.
            if words[0].starts_with("CNI-DN-") {
                chains.push(words[0].clone());
            }
            if let Some(w) = words.windows(2).find(|w| w[0] == "-j" && w[1].starts_with("CNI-DN-"))
            {
                chains.push(w[1].clone());
            }
            let args: Vec<String> =
                ["-w", "-t", "nat", "-D"].iter().map(|a| a.to_string()).chain(words).collect();
            let _ = Command::new("iptables").args(&args).status();
        }
        chains.sort();
        chains.dedup();
        if chains.is_empty() {
            return;
        }
        for rule in nat().lines().filter(|l| l.starts_with("-A ")) {
            let words = shell_words(&rule[3..]);
            if words.windows(2).any(|w| w[0] == "-j" && chains.contains(&w[1])) {
                let args: Vec<String> =
                    ["-w", "-t", "nat", "-D"].iter().map(|a| a.to_string()).chain(words).collect();
                let _ = Command::new("iptables").args(&args).status();
            }
        }
        for chain in chains {
            let _ = Command::new("iptables").args(["-w", "-t", "nat", "-F", &chain]).status();
            let _ = Command::new("iptables").args(["-w", "-t", "nat", "-X", &chain]).status();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        // Every process left in our cgroups (containers), every shim and pod init.
        for pid in self
            .shim_pids()
            .into_iter()
            .chain(cgroup_pids(&self.cgroup_parent))
            .chain(self.pod_init_pids())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while (!cgroup_pids(&self.cgroup_parent).is_empty()
            || self.shim_pids().iter().any(|p| alive(*p)))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_cgroups(&self.cgroup_parent);
        for m in mounts_under(&self.dir) {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        // The network: the bridge (veths went with their namespaces), and any
        // port-mapping rule a failed test left.
        for bridge in [&self.bridge, &self.docker_bridge] {
            if Path::new(&format!("/sys/class/net/{bridge}")).exists() {
                let _ = Command::new("ip").args(["link", "del", bridge]).status();
            }
        }
        // The isolation chains of the default bridge and of every network still recorded.
        let mut isolated = vec![self.docker_bridge.clone()];
        for id in dir_names(&self.root().join("networks")) {
            let rec = std::fs::read(self.root().join("networks").join(&id).join("network.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            if let Some(b) = rec.as_ref().and_then(|r| r["bridge"].as_str()) {
                isolated.push(b.to_owned());
            }
        }
        for bridge in isolated {
            release_isolation(&bridge);
        }
        // User-defined networks' bridges a failed test left (their ranges are this daemon's).
        for dev in
            dir_names(Path::new("/sys/class/net")).into_iter().filter(|n| n.starts_with("br-"))
        {
            let addrs = Command::new("ip")
                .args(["-4", "-o", "addr", "show", "dev", &dev])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if addrs.contains(&format!(" {}.", self.network_pool)) {
                let _ = Command::new("ip").args(["link", "del", &dev]).status();
            }
        }
        self.release_nat_rules();
        if std::thread::panicking() {
            eprintln!("---- berthd log ----\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Random lowercase hex.
pub fn hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// Splits an `iptables -S` rule into arguments (double quotes group words).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match ch {
            // iptables -S escapes a quote inside a quoted word.
            '\\' if quoted => cur.extend(chars.next()),
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
