//! Start: write the bundle (OCI spec, shim config, /etc files), launch the
//! shim, and record the running container — or the reason it didn't start.

use super::{Entry, Status};
use crate::error::{Error, IoContext, Result};
use crate::Engine;
use berth_proto::shim::{ShimConfig, SHIM_FILE};
use std::sync::Arc;
use tracing::Instrument;

/// Who starts a container: a start on purpose begins its restart count
/// anew; its restart policy's start goes on counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Starter {
    OnPurpose,
    RestartPolicy,
}

impl Engine {
    /// Starts a created or exited container. Starting a running one is a no-op.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn start(&self, key: &str) -> Result<()> {
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        self.start_locked(&entry, Starter::OnPurpose).await
    }

    /// Starts the container of `entry`, whose operation lock the caller
    /// holds: its network for this run first (a bridged one's), given
    /// back if the start fails after.
    pub(super) async fn start_locked(&self, entry: &Arc<Entry>, by: Starter) -> Result<()> {
        let rec = entry.record();
        if rec.state.status == Status::Quarantined {
            return Err(Error::FailedPrecondition(format!(
                "container {} is quarantined: {}",
                rec.id, rec.state.error
            )));
        }
        if !rec.state.status.can_start() {
            return Ok(());
        }
        let network = match rec.config.network.bridged() {
            true => Some(self.make_network(entry).await?),
            false => None,
        };
        let started = self.launch(entry, by, network).await;
        if started.is_err() {
            self.release_network(entry).await;
        }
        started
    }

    /// The rest of a start, with the container's network made.
    async fn launch(
        &self,
        entry: &Arc<Entry>,
        by: Starter,
        network: Option<(super::ContainerRecord, crate::model::SandboxRecord)>,
    ) -> Result<()> {
        let (rec, network) = match network {
            Some((rec, s)) => (rec, Some(s)),
            None => (entry.record(), None),
        };
        let id = rec.id.clone();
        let image = self.images().resolve(&rec.image_id)?;
        let bundle = self.paths().bundle(&id)?;
        self.tasks().prepare(&bundle)?;

        let sandbox = match &rec.config.pod {
            Some(link) => Some(self.observe(&*self.sandbox(&link.sandbox_id)?)),
            None => None,
        };
        if let Some(s) = &sandbox {
            if s.state != crate::sandbox::SandboxState::Ready {
                return Err(Error::FailedPrecondition(format!(
                    "pod sandbox {} is not ready",
                    s.id
                )));
            }
        }
        let pid_ns_path = match &rec.config.security.pid {
            super::PidNamespace::Target(target) => Some(self.target_pid_ns(target)?),
            _ => None,
        };
        // Another container's network: its namespace and /etc files, found at each start.
        let joined = match &rec.config.network {
            super::ContainerNetwork::Container { target } => Some(self.joined_network(target)?),
            _ => None,
        };
        let ctx = crate::spec::SpecContext {
            cgroup_path: self.cgroup_path(&rec),
            sandbox: sandbox.as_ref(),
            pid_ns_path,
            net_ns_path: network
                .as_ref()
                .and_then(|s| s.pin("net"))
                .or_else(|| joined.as_ref().map(|j| j.0.clone())),
            node: crate::host::facts(),
            devices: crate::host::devices(&rec),
        };
        let spec = crate::spec::build(&rec, &ctx)?;
        let mut etc_files = match (&sandbox, joined) {
            // The pod's files, shared by its containers.
            (Some(s), _) => {
                let dir = self.paths().sandbox_state(&s.id)?;
                ["hostname", "hosts", "resolv.conf"]
                    .iter()
                    .map(|f| (dir.join(f), format!("/etc/{f}")))
                    .collect::<Vec<_>>()
            }
            // The joined container's, as dockerd shares them.
            (None, Some((_, files))) => files,
            (None, None) => {
                let hostname = &rec.config.hostname;
                std::fs::write(bundle.join("hostname"), format!("{hostname}\n"))
                    .ctx(|| "write hostname".into())?;
                let mut files = vec![
                    (bundle.join("hostname"), "/etc/hostname".to_owned()),
                    (bundle.join("hosts"), "/etc/hosts".to_owned()),
                ];
                let host_net = rec.config.network == super::ContainerNetwork::Host;
                // resolv.conf: the node's (a copy on the node's network, the
                // bridge sandbox's file on the bridge), or the container's own
                // settings over it; none without a network unless it has some.
                let node_resolv = match &network {
                    Some(s) => Some(self.paths().sandbox_state(&s.id)?.join("resolv.conf")),
                    None if host_net => Some(std::path::PathBuf::from("/etc/resolv.conf")),
                    None => None,
                };
                // On a user-defined network the embedded DNS stays the
                // nameserver; `--dns` servers are its upstreams for this
                // container (as Docker's 127.0.0.11), the rest applies.
                let user_net = matches!(rec.config.network, super::ContainerNetwork::User { .. });
                let dns = &match user_net {
                    true => crate::model::Dns { servers: Vec::new(), ..rec.config.dns.clone() },
                    false => rec.config.dns.clone(),
                };
                let own_resolv = match node_resolv {
                    Some(node) if dns.is_empty() && !host_net => {
                        files.push((node, "/etc/resolv.conf".to_owned()));
                        None
                    }
                    Some(node) if dns.is_empty() => Some(std::fs::read(node).unwrap_or_default()),
                    None if dns.is_empty() => None,
                    node => Some(
                        dns.resolv_conf(&String::from_utf8_lossy(
                            &node.and_then(|n| std::fs::read(n).ok()).unwrap_or_default(),
                        ))
                        .into_bytes(),
                    ),
                };
                if let Some(conf) = own_resolv {
                    std::fs::write(bundle.join("resolv.conf"), conf)
                        .ctx(|| "write resolv.conf".into())?;
                    files.push((bundle.join("resolv.conf"), "/etc/resolv.conf".to_owned()));
                }
                let mut hosts = match &network {
                    // The node's, as Docker copies them for a host-network container.
                    None if host_net => String::from_utf8_lossy(&std::fs::read("/etc/hosts").unwrap_or_default()).into_owned(),
                    // As docker0 gives them: its address under its name.
                    Some(s) => {
                        let own: String = s.ips.iter().map(|ip| format!("{}\t{hostname}\n", ip.split('/').next().unwrap_or(ip))).collect();
                        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}")
                    }
                    None => format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
                };
                for h in &rec.config.extra_hosts {
                    hosts.push_str(&format!("{}\t{}\n", h.ip, h.name));
                }
                std::fs::write(bundle.join("hosts"), hosts).ctx(|| "write hosts".into())?;
                files
            }
        };
        // A user's mount at the same place wins.
        etc_files.retain(|(_, dest)| {
            !rec.config.mounts.iter().any(|m| m.container_path == std::path::Path::new(dest))
        });
        let layout = self.layout_of(&id, &image)?;
        let shim = ShimConfig {
            id: id.clone(),
            lower_dirs: layout.lower,
            upper_dir: layout.upper,
            work_dir: layout.work,
            rootfs: bundle.join("rootfs"),
            log_path: self.log_path(&rec)?,
            user: Some(rec.config.user.clone()).filter(|u| !u.is_empty()),
            etc_files,
            groups_strict: rec.config.security.groups_strict,
            stdin: rec.config.stdio.stdin,
            stdin_once: rec.config.stdio.stdin_once,
            tty: rec.config.stdio.tty,
            image_volumes: self.image_volumes(&rec, &bundle)?,
            hold_output: entry.attach_pending.load(std::sync::atomic::Ordering::SeqCst) > 0,
            init: rec.config.init,
        };
        // The shim's start-up, up to its report (the container's exec).
        let task = crate::task::TaskSpec { bundle: bundle.clone(), spec, shim };
        let started = self
            .tasks()
            .start(&task)
            .instrument(tracing::info_span!("shim_start", container = %id))
            .await;
        let started = match started {
            Ok(started) => started,
            Err(Error::StartFailed { message, exit_code }) => {
                let m = message.clone();
                self.commit(entry, |r| {
                    r.state.exit_code = exit_code;
                    r.state.error = m;
                    r.state.restarting = false;
                    if r.state.status != Status::Created {
                        r.state.status = Status::Exited;
                    }
                })?;
                return Err(Error::StartFailed { message, exit_code });
            }
            Err(e) => return Err(e),
        };
        let now = match started.started_unix_nanos {
            0 => berth_proto::time::unix_nanos(std::time::SystemTime::now()),
            t => t,
        };
        let shim_pid = started.shim_pid;
        let protocol = started.protocol;
        if by == Starter::OnPurpose {
            *entry.restart_delay.lock().unwrap() = std::time::Duration::ZERO;
        }
        entry.stopping.store(false, std::sync::atomic::Ordering::SeqCst);
        let committed = crate::failpoint("start.before_record").and_then(|()| {
            self.commit(entry, |r| {
                r.state.status = Status::Running;
                r.state.pid = started.pid;
                r.state.shim_pid = shim_pid;
                r.state.shim_protocol = protocol;
                r.state.started_at = now;
                r.state.finished_at = 0;
                r.state.exit_code = 0;
                r.state.oom_killed = false;
                r.state.paused = false;
                r.state.error.clear();
                r.state.restarting = false;
                r.state.stopped_on_purpose = false;
                if by == Starter::OnPurpose {
                    r.state.restart_count = 0;
                }
            })
        });
        if let Err(e) = committed {
            // Unrecorded, the container must not run on.
            self.reap_unfinished_start(&rec).await;
            return Err(e);
        }
        self.emit(&rec, super::events::EventKind::Started);
        tracing::info!(container = %id, pid = started.pid, shim_pid, "started");
        self.monitor(id, shim_pid);
        self.watch_health(entry);
        Ok(())
    }

    /// The shim's view of the container's image volumes, their staging dirs made.
    fn image_volumes(
        &self,
        rec: &super::ContainerRecord,
        bundle: &std::path::Path,
    ) -> Result<Vec<berth_proto::shim::ImageVolume>> {
        let mounts = rec
            .config
            .image_volumes
            .iter()
            .map(|v| {
                Ok(crate::task::step::LayerMount {
                    layers: self.images().resolve(&v.image_id)?.layers,
                    sub_path: v.sub_path.clone(),
                    destination: v.container_path.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.layer_mounts(bundle, &mounts)
    }

    /// The network namespace and /etc files of the running container
    /// `key` (`--network container:<key>`).
    fn joined_network(
        &self,
        key: &str,
    ) -> Result<(std::path::PathBuf, Vec<(std::path::PathBuf, String)>)> {
        let t = self
            .lookup(key)
            .map_err(|_| {
                Error::FailedPrecondition(format!(
                    "the container {key} whose network this one joins is gone"
                ))
            })?
            .record();
        if t.state.status != Status::Running || t.state.pid <= 0 {
            return Err(Error::FailedPrecondition(format!(
                "cannot join network of a non running container: {}",
                t.id
            )));
        }
        let pinned = t
            .config
            .network
            .sandbox()
            .and_then(|s| self.any_sandbox(s).ok())
            .and_then(|s| s.record().pin("net"));
        let netns = pinned.unwrap_or_else(|| format!("/proc/{}/ns/net", t.state.pid).into());
        let shim = self.paths().bundle(&t.id)?.join(SHIM_FILE);
        let cfg: ShimConfig = serde_json::from_slice(
            &std::fs::read(&shim).ctx(|| format!("read {}", shim.display()))?,
        )
        .map_err(|e| Error::system("read the joined container's shim.json", e))?;
        Ok((netns, cfg.etc_files))
    }

    /// The PID namespace of a running container (TARGET mode).
    fn target_pid_ns(&self, key: &str) -> Result<std::path::PathBuf> {
        let target = self.lookup(key)?.record();
        if target.state.status != Status::Running || target.state.pid <= 0 {
            return Err(Error::FailedPrecondition(format!(
                "target container {key} is not running"
            )));
        }
        Ok(format!("/proc/{}/ns/pid", target.state.pid).into())
    }
}
