//! The Debian package, as a node operator uses it: `apt install ./berth_*.deb`,
//! berthd from /usr/bin runs a container, an upgrade to the next package
//! (berthd restarted, as systemd's `KillMode=process` restart does) keeps
//! it running and controllable, and a purge takes the package away.

use berth_e2e::{busybox_tarball, cgroup_pids, hex, remove_cgroups};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Builds the package of the debug binaries as `version`.
fn deb(version: &str, out: &Path) -> PathBuf {
    let path = run(Command::new(repo().join("deploy/deb.sh"))
        .args(["--debug", "--version", version, "--out"])
        .arg(out));
    PathBuf::from(path.trim())
}

fn apt_install(deb: &Path) {
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "--allow-downgrades"])
        .arg(deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
}

/// The installed berthd on a private root, state and cgroup parent; the
/// package, its daemon, containers and cgroups go however the test ends.
struct Node {
    dir: PathBuf,
    cgroup_parent: String,
    bridge: String,
    berthd: Option<Child>,
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("berthd.toml")
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("berthd.log"))
            .unwrap();
        self.berthd = Some(
            Command::new("/usr/bin/berthd")
                .arg("--config")
                .arg(self.config())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let sock = self.dir.join("run/docker.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(Instant::now() < deadline, "the installed berthd did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as systemd stops it (KillMode=process: berthd only).
    fn stop(&mut self) {
        if let Some(mut c) = self.berthd.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }

    fn berth(&self, args: &[&str]) -> String {
        run(Command::new("/usr/bin/berth")
            .args(args)
            .env("BERTH_HOST", format!("unix://{}", self.dir.join("run/docker.sock").display())))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.berthd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in cgroup_pids(&self.cgroup_parent) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cgroup_pids(&self.cgroup_parent).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_cgroups(&self.cgroup_parent);
        berth_e2e::release_isolation(&self.bridge);
        if Path::new(&format!("/sys/class/net/{}", self.bridge)).exists() {
            let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
        }
        let _ = Command::new("apt-get")
            .args(["purge", "-y", "-q", "berth"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn install_run_upgrade_and_purge_the_debian_package() {
    let tag = hex(6);
    let dir = PathBuf::from(format!("/tmp/berth-test-pkg-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut node = Node {
        dir: dir.clone(),
        cgroup_parent: format!("berth-test-{tag}"),
        bridge: format!("bp{tag}"),
        berthd: None,
    };
    // A default bridge of the test's own: the node's `berth0` (and its isolation chain) is not the test's.
    let b = u64::from_str_radix(&tag, 16).unwrap();
    std::fs::write(
        node.config(),
        format!(
            "root = \"{0}/root\"\nstate = \"{0}/run\"\ncgroup_parent = \"{1}\"\n[docker]\nbridge = \"{2}\"\nbridge_subnet = \"10.{3}.{4}.0/24\"\nmasquerade = false\n",
            dir.display(),
            node.cgroup_parent,
            node.bridge,
            150 + (b >> 8) % 50,
            b & 0xff
        ),
    )
    .unwrap();

    // The node's own CNI configs and crictl.yaml are the node's: install and purge leave them as they were.
    let node_files = || {
        (berth_e2e::dir_names(Path::new("/etc/cni/net.d")), std::fs::read("/etc/crictl.yaml").ok())
    };
    let before = node_files();
    apt_install(&deb("0.1.0~test1", &dir.join("debs")));
    assert!(
        !berth_e2e::dir_names(Path::new("/etc/cni/net.d")).is_empty(),
        "a node without a network gets the default one"
    );
    for f in [
        "/usr/bin/berthd",
        "/usr/bin/berth-shim",
        "/usr/bin/berth",
        "/etc/berth/berthd.toml",
        "/usr/share/doc/berth/kubelet.md",
    ] {
        assert!(Path::new(f).exists(), "{f}");
    }
    let unit = std::fs::read_to_string("/lib/systemd/system/berthd.service").unwrap();
    for line in [
        "KillMode=process",
        "Delegate=yes",
        "LimitNOFILE=infinity",
        "TasksMax=infinity",
        "ExecStart=/usr/bin/berthd --config /etc/berth/berthd.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
    assert!(run(Command::new("dpkg-query").args(["-W", "-f=${Version}", "berth"]))
        .starts_with("0.1.0~test1"));

    node.start();
    let tarball = dir.join("busybox.tar");
    std::fs::write(&tarball, busybox_tarball()).unwrap();
    node.berth(&["import", "-c", "CMD [\"sh\"]", tarball.to_str().unwrap(), "busybox"]);
    // The node's own loopback only: no default bridge on the test machine.
    node.berth(&["run", "-d", "--network", "none", "--name", "kept", "busybox", "sleep", "1000"]);
    let pid = node.berth(&["inspect", "-f", "{{.State.Pid}}", "kept"]);

    // The next package, installed while the container runs; berthd restarts.
    apt_install(&deb("0.1.0~test2", &dir.join("debs")));
    assert!(run(Command::new("dpkg-query").args(["-W", "-f=${Version}", "berth"]))
        .starts_with("0.1.0~test2"));
    node.stop();
    node.start();
    assert_eq!(node.berth(&["inspect", "-f", "{{.State.Status}}", "kept"]).trim(), "running");
    assert_eq!(
        node.berth(&["inspect", "-f", "{{.State.Pid}}", "kept"]),
        pid,
        "the same process, adopted"
    );
    node.berth(&["stop", "-t", "0", "kept"]);
    assert_eq!(node.berth(&["inspect", "-f", "{{.State.Status}}", "kept"]).trim(), "exited");
    node.berth(&["rm", "kept"]);
    node.stop();

    run(Command::new("apt-get")
        .args(["purge", "-y", "-q", "berth"])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    for f in ["/usr/bin/berthd", "/etc/berth/berthd.toml", "/lib/systemd/system/berthd.service"] {
        assert!(!Path::new(f).exists(), "{f} is gone");
    }
    assert_eq!(node_files(), before, "what the node had before is there, nothing else");
}
