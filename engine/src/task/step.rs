//! A step: one process run to its end in a snapshot, with no container
//! record (a build's RUN step). It is confined as a container is (Docker's
//! capabilities, masked and read-only paths, the default seccomp profile,
//! no new privileges unless asked), its output goes to a log file the
//! caller names, and a cancelled step is killed with everything in its
//! cgroup before its bundle goes. Bundles live under `<state>/steps`;
//! what a berthd that stopped mid-step left is killed and swept at start.

use super::TaskSpec;
use crate::error::{Error, IoContext, Result};
use crate::model::{ContainerConfig, ContainerNetwork, ContainerRecord, Seccomp, Security};
use crate::snapshot::Layout;
use crate::Engine;
use berth_proto::shim::ShimConfig;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// The network a step sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StepNetwork {
    /// The node's (`--network host`).
    Host,
    /// Only loopback.
    #[default]
    None,
    /// An address on berth's default bridge, in the namespace a sandbox of
    /// [`Engine::step_sandbox`] holds (Docker's default for builds).
    Bridge(String),
}

/// What a step runs, and where.
#[derive(Debug, Clone)]
pub struct StepRequest {
    pub layout: Layout,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    /// `user[:group]`, resolved in the snapshot's own passwd and group files.
    pub user: String,
    pub network: StepNetwork,
    /// `--security=insecure`: privileged.
    pub insecure: bool,
    /// Where its output goes (CRI log lines).
    pub log: PathBuf,
    /// Host dirs bound in (a build's cache mounts, context binds).
    pub binds: Vec<crate::model::BindMount>,
    pub tmpfs: Vec<crate::model::volume::TmpfsMount>,
    /// Layers mounted read-only (a stage's or an image's files).
    pub layer_mounts: Vec<LayerMount>,
    /// More /etc/hosts lines: (name, address).
    pub extra_hosts: Vec<(String, String)>,
    /// Its cgroup's limits (a build's `--memory`, `--cpu-*`).
    pub resources: crate::model::Resources,
    /// `/dev/shm`'s size in bytes (`--shm-size`; 0: the default 64 MiB).
    pub shm_size: u64,
}

/// Layers mounted read-only at a path, or their `sub_path` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMount {
    /// Diff ids, bottom first.
    pub layers: Vec<String>,
    pub sub_path: String,
    pub destination: PathBuf,
}

/// `/dev/shm` of another size than the spec's: a tmpfs over it.
fn shm(size: u64) -> Option<crate::model::volume::TmpfsMount> {
    (size > 0).then(|| crate::model::volume::TmpfsMount {
        container_path: "/dev/shm".into(),
        options: vec![
            "nosuid".into(),
            "noexec".into(),
            "nodev".into(),
            "mode=1777".into(),
            format!("size={size}"),
        ],
    })
}

impl Engine {
    fn steps_dir(&self) -> PathBuf {
        self.paths().state.join("steps")
    }

    /// Runs a step to its end; its exit code. `cancel` kills it.
    pub async fn run_step(&self, req: StepRequest, cancel: CancellationToken) -> Result<i32> {
        if req.args.is_empty() {
            return Err(Error::invalid("no command specified"));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        let bundle = self.steps_dir().join(&id);
        crate::paths::create_dir(&self.steps_dir(), 0o700).ctx(|| "create steps dir".into())?;
        // The bridge's namespace, resolv.conf and addresses.
        let bridge = match &req.network {
            StepNetwork::Bridge(sid) => {
                let s = self.observe(&*self.any_sandbox(sid)?);
                let ns = s.pin("net").ok_or_else(|| {
                    Error::FailedPrecondition(format!("the build's network {sid} is not ready"))
                })?;
                Some((ns, self.paths().sandbox_state(sid)?.join("resolv.conf"), s.ips.clone()))
            }
            _ => None,
        };
        self.tasks().prepare(&bundle)?;
        let config = ContainerConfig {
            args: req.args.clone(),
            env: req.env.clone(),
            working_dir: req.working_dir.clone(),
            user: req.user.clone(),
            hostname: "buildkitsandbox".into(),
            network: match req.network {
                StepNetwork::Host => ContainerNetwork::Host,
                // The bridge's namespace is joined by path, as a container's own sandbox's.
                StepNetwork::None | StepNetwork::Bridge(_) => ContainerNetwork::None,
            },
            mounts: req.binds.clone(),
            tmpfs: shm(req.shm_size).into_iter().chain(req.tmpfs.iter().cloned()).collect(),
            resources: req.resources.clone(),
            security: Security {
                privileged: req.insecure,
                no_new_privs: !req.insecure,
                seccomp: Seccomp::RuntimeDefault,
                ..Default::default()
            },
            ..Default::default()
        };
        let rec =
            ContainerRecord::new(id.clone(), id.clone(), String::new(), String::new(), config);
        let ctx = crate::spec::SpecContext {
            net_ns_path: bridge.as_ref().map(|b| b.0.clone()),
            cgroup_path: self.cgroup_path(&rec),
            node: crate::host::facts(),
            devices: crate::host::devices(&rec),
            ..Default::default()
        };
        let ran = async {
            let spec = crate::spec::build(&rec, &ctx)?;
            let mut etc = vec![];
            let own: String = bridge
                .iter()
                .flat_map(|b| b.2.iter())
                .map(|ip| format!("{}\tbuildkitsandbox\n", ip.split('/').next().unwrap_or(ip)))
                .collect();
            let extra: String =
                req.extra_hosts.iter().map(|(name, ip)| format!("{ip}\t{name}\n")).collect();
            let hosts = format!(
                "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}{extra}"
            );
            let files: [(&str, Vec<u8>); 2] =
                [("hostname", b"buildkitsandbox\n".to_vec()), ("hosts", hosts.into_bytes())];
            for (name, body) in files {
                std::fs::write(bundle.join(name), body).ctx(|| format!("write {name}"))?;
                etc.push((bundle.join(name), format!("/etc/{name}")));
            }
            match &bridge {
                Some((_, resolv, _)) => etc.push((resolv.clone(), "/etc/resolv.conf".into())),
                None if req.network == StepNetwork::Host => {
                    etc.push(("/etc/resolv.conf".into(), "/etc/resolv.conf".into()))
                }
                None => {}
            }
            let shim = ShimConfig {
                id: id.clone(),
                lower_dirs: req.layout.lower.clone(),
                upper_dir: req.layout.upper.clone(),
                work_dir: req.layout.work.clone(),
                rootfs: bundle.join("rootfs"),
                log_path: req.log.clone(),
                user: Some(req.user.clone()).filter(|u| !u.is_empty()),
                etc_files: etc,
                groups_strict: false,
                stdin: false,
                stdin_once: false,
                tty: false,
                image_volumes: self.layer_mounts(&bundle, &req.layer_mounts)?,
                hold_output: false,
                init: false,
            };
            let task = TaskSpec { bundle: bundle.clone(), spec, shim };
            let shim_pid = match self.tasks().start(&task).await {
                Ok(s) => s.shim_pid,
                Err(Error::StartFailed { message, exit_code }) => {
                    let line = format!("{} stderr F {message}\n", berth_proto::time::rfc3339_nanos(std::time::SystemTime::now()));
                    let _ = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&req.log)
                        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
                    return Ok(exit_code);
                }
                Err(e) => return Err(e),
            };
            // From the shim while it lives, else from the exit record it left.
            let waited = crate::container::monitor::wait_exit(self.tasks(), &bundle, shim_pid);
            tokio::select! {
                (exit, _) = waited => Ok(exit.exit_code),
                _ = cancel.cancelled() => {
                    let _ = self.tasks().kill(&bundle, libc::SIGKILL, true).await;
                    let _ = self.tasks().wait(&bundle).await;
                    Err(Error::Cancelled)
                }
            }
        }
        .await;
        let _ = self.tasks().delete(&bundle);
        ran
    }

    /// A sandbox holding a network namespace on the default bridge (or on
    /// the user-defined `network`), for a build's steps ([`StepNetwork::Bridge`]); removed with
    /// [`Engine::remove_step_sandbox`], or at the next start if berthd
    /// stopped first (as every container-owned sandbox no container uses).
    pub async fn step_sandbox(&self, name: &str, network: Option<&str>) -> Result<String> {
        let mut o = crate::sandbox::SandboxOptions {
            owner: crate::sandbox::SandboxOwner::Container,
            name: name.to_owned(),
            namespace: "berth.build".into(),
            uid: name.to_owned(),
            hostname: "buildkitsandbox".into(),
            namespaces: crate::model::NamespaceModes {
                pid: crate::sandbox::NsMode::Node,
                ipc: crate::sandbox::NsMode::Node,
                ..Default::default()
            },
            ..Default::default()
        };
        if let Some(key) = network {
            // A user-defined network: its embedded DNS finds its containers by name.
            let n = self.network(key)?;
            let node = crate::network::dns::NodeResolver::current();
            o.dns = crate::model::sandbox::Dns {
                servers: vec![n.gateway.to_string()],
                searches: node.search.clone(),
                options: node.options.clone(),
            };
            o.network = Some(n.id);
        }
        self.run_sandbox(o).await
    }

    /// Removes a build's network sandbox.
    pub async fn remove_step_sandbox(&self, id: &str) -> Result<()> {
        self.remove_container_sandbox(id).await
    }

    /// Layers mounted read-only, as the shim takes them (each with a
    /// staging dir in the task's bundle): a step's, or a container's image volumes.
    pub(crate) fn layer_mounts(
        &self,
        bundle: &std::path::Path,
        mounts: &[LayerMount],
    ) -> Result<Vec<berth_proto::shim::ImageVolume>> {
        mounts
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let staging = bundle.join("image-volumes").join(i.to_string());
                std::fs::create_dir_all(&staging)
                    .ctx(|| format!("create {}", staging.display()))?;
                Ok(berth_proto::shim::ImageVolume {
                    lower_dirs: crate::snapshot::lower_dirs(self.paths(), &m.layers)?,
                    staging,
                    sub_path: m.sub_path.clone(),
                    destination: m.destination.clone(),
                })
            })
            .collect()
    }

    /// Kills and removes what steps a stopped berthd left.
    pub(crate) async fn sweep_steps(&self) {
        let Ok(rd) = std::fs::read_dir(self.steps_dir()) else { return };
        for b in rd.flatten() {
            let bundle = b.path();
            if self.tasks().kill(&bundle, libc::SIGKILL, true).await.is_ok() {
                // Its shim writes the exit record as it goes: removed after that.
                let waited = self.tasks().wait(&bundle);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), waited).await;
            }
            for _ in 0..3 {
                if std::fs::remove_dir_all(&bundle).is_ok() || !bundle.exists() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
