//! The two runtimes under test, each started in private directories and
//! driven only through its CRI socket: berthd, and Debian's containerd
//! (CRI plugin built in, cgroupfs, overlayfs, plain HTTP to the local
//! registry through `certs.d/<host>/hosts.toml`).

use anyhow::{bail, Context};
use berth_proto::cri::image_service_client::ImageServiceClient;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub struct Runtime {
    pub name: &'static str,
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

pub type Images = ImageServiceClient<Channel>;

fn wait_for(path: &Path, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some(st) = child.try_wait()? {
            bail!("exited with {st}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        if Instant::now() > deadline {
            bail!("did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn spawn(cmd: &mut Command, log: &Path) -> anyhow::Result<Child> {
    let f = std::fs::File::create(log)?;
    Ok(cmd.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f).spawn()?)
}

impl Runtime {
    /// berthd from `bin_dir` (release build).
    pub fn berth(bin_dir: &Path, base: &Path) -> anyhow::Result<Self> {
        let dir = base.join("berth");
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("berthd.toml");
        std::fs::write(
            &config,
            format!(
                "root = \"{0}/root\"\nstate = \"{0}/run\"\ncgroup_parent = \"berth-bench\"\nlog_level = \"warn\"\n[cni]\nconf_dir = \"{1}/cni\"\nbin_dirs = [\"/usr/lib/cni\"]\n",
                dir.display(),
                base.display()
            ),
        )?;
        let log = dir.join("berthd.log");
        let mut child = spawn(Command::new(bin_dir.join("berthd")).arg("--config").arg(&config), &log).context("start berthd")?;
        let socket = dir.join("run/berth.sock");
        wait_for(&socket, &mut child, &log).context("berthd")?;
        Ok(Runtime { name: "berth", dir, socket, child: Some(child) })
    }

    /// Debian's containerd with its CRI plugin, configured like berth.
    pub fn containerd(base: &Path, registry: &str) -> anyhow::Result<Self> {
        let dir = base.join("containerd");
        let certs = dir.join("certs.d").join(registry);
        std::fs::create_dir_all(&certs)?;
        std::fs::write(
            certs.join("hosts.toml"),
            format!("server = \"http://{registry}\"\n[host.\"http://{registry}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"),
        )?;
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
    conf_dir = "{b}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"#,
                d = dir.display(),
                b = base.display(),
            ),
        )?;
        let log = dir.join("containerd.log");
        let mut child = spawn(Command::new("containerd").arg("--config").arg(&config), &log).context("start containerd (apt install containerd runc)")?;
        let socket = dir.join("containerd.sock");
        wait_for(&socket, &mut child, &log).context("containerd")?;
        Ok(Runtime { name: "containerd", dir, socket, child: Some(child) })
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
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything the runtime left mounted under its dirs (snapshots, pins), deepest first.
        for m in berth_e2e::mounts_under(&self.dir) {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
