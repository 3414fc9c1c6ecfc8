//! Create: reserve the name, resolve the image's config against the
//! request, make the container's dirs and persist the record — each step
//! with its undo.

pub use super::create_options::{CreateOptions, DockerOptions, NetworkMode};
use super::{ContainerConfig, ContainerRecord, Entry};
use crate::error::{Error, IoContext, Missing, Result};
use crate::paths::{check_name, create_dir};
use crate::undo::Undo;
use crate::Engine;
use std::path::{Component, PathBuf};

/// Docker's minimum memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

pub(crate) fn check_hostname(h: &str) -> Result<()> {
    // RFC 1123 labels of at most 63, and the kernel's HOST_NAME_MAX (64) in all.
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field("hostname", format!("invalid hostname {h:?}")))
    }
}

/// What a container of a user-namespaced pod can't have (as Kubernetes
/// validates it): the node's privileges, its PID namespace, mounts that
/// send mounts back to the node.
fn check_in_user_namespace(opts: &CreateOptions) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::invalid(format!(
            "a container in a pod with its own user namespace can't be {what}"
        )))
    };
    if opts.security.privileged {
        return refuse("privileged");
    }
    if opts.security.pid == super::PidNamespace::Node {
        return refuse("in the node's PID namespace");
    }
    if opts.mounts.iter().any(|m| m.propagation == super::Propagation::Shared) {
        return refuse("given a bidirectional mount");
    }
    Ok(())
}

fn check(opts: &CreateOptions) -> Result<()> {
    if let Some(n) = &opts.name {
        check_name(n)?;
    }
    if let Some(w) = &opts.working_dir {
        if !w.is_empty() && !w.starts_with('/') {
            return Err(Error::invalid_field(
                "working_dir",
                format!("the working directory {w:?} is invalid, it needs to be an absolute path"),
            ));
        }
    }
    for e in &opts.env {
        if e.is_empty() || e.starts_with('=') || e.contains('\0') {
            return Err(Error::invalid_field("env", format!("invalid environment variable {e:?}")));
        }
    }
    if let Some(h) = &opts.hostname {
        check_hostname(h)?;
    }
    let r = &opts.resources;
    if r.memory_bytes < 0 || (r.memory_bytes > 0 && r.memory_bytes < MIN_MEMORY) {
        return Err(Error::invalid_field(
            "resources.memory",
            "minimum memory limit allowed is 6MB",
        ));
    }
    if r.cpu_quota < 0 || r.pids_limit < 0 {
        return Err(Error::invalid("resource limits must not be negative"));
    }
    if let Some(s) = &opts.stop_signal {
        super::StopSignal::parse(s)?;
    }
    for u in &opts.ulimits {
        super::Ulimit::parse(u)?;
    }
    if let Some(l) = &opts.log_path {
        if l.as_os_str().is_empty()
            || l.is_absolute()
            || l.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::invalid(format!(
                "log path {} must be relative to the pod's log directory, without \"..\"",
                l.display()
            )));
        }
    }
    for m in &opts.mounts {
        m.check()?;
    }
    super::volumes::check(opts)?;
    opts.docker.check(opts.hostname.is_some())?;
    for d in &opts.devices {
        d.check()?;
    }
    opts.security.check()
}

/// A Docker-like random name.
fn random_name() -> String {
    const ADJ: [&str; 12] = [
        "brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nimble", "proud", "quiet",
        "swift", "wise",
    ];
    const NOUN: [&str; 12] = [
        "anchor", "buoy", "cove", "dock", "harbor", "jetty", "keel", "mast", "pier", "quay",
        "sail", "wharf",
    ];
    let r: [u8; 4] = rand::random();
    format!(
        "{}_{}_{:04x}",
        ADJ[r[0] as usize % 12],
        NOUN[r[1] as usize % 12],
        u16::from_be_bytes([r[2], r[3]])
    )
}

/// Entrypoint and cmd as Docker combines them.
fn command(opts: &CreateOptions, img: &crate::image::ImageConfig) -> (Vec<String>, Vec<String>) {
    let entrypoint = match &opts.entrypoint {
        Some(e) => e.iter().filter(|s| !s.is_empty()).cloned().collect(),
        None => img.entrypoint.clone().unwrap_or_default(),
    };
    // A new entrypoint drops the image's cmd unless the user gave one.
    let cmd = if !opts.cmd.is_empty() {
        opts.cmd.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        img.cmd.clone().unwrap_or_default()
    };
    (entrypoint, cmd)
}

/// The image's env overlaid by the request's (by key).
fn merge_env(image: &[String], user: &[String]) -> Vec<String> {
    let key =
        |e: &str| e.split_once('=').map(|(k, _)| k.to_owned()).unwrap_or_else(|| e.to_owned());
    let mut out: Vec<String> =
        image.iter().filter(|e| !user.iter().any(|u| key(u) == key(e))).cloned().collect();
    out.extend(user.iter().cloned());
    out
}

impl Engine {
    /// Creates a container; returns its id.
    #[tracing::instrument(level = "info", skip_all, fields(image = %opts.image, name = ?opts.name))]
    pub async fn create(&self, opts: CreateOptions) -> Result<String> {
        // Before `--volumes-from` turns into volumes.
        if opts.pod.is_some() {
            opts.docker.check_in_pod()?;
        }
        let mut opts = self.with_volumes_from(opts)?;
        check(&opts)?;
        opts.resources = super::limits::for_this_node(opts.resources)?;
        let image = self.images().resolve(&opts.image)?;
        let (entrypoint, cmd) = command(&opts, &image.config);
        let args: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        if args.is_empty() {
            return Err(Error::invalid_field("args", "no command specified"));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        let name = opts.name.clone().unwrap_or_else(random_name);
        // A pod's container: its sandbox must be ready, and stays locked
        // until the record exists (so a pod removal sees every container).
        let pod = match &opts.pod {
            Some(link) => {
                let entry = self.sandbox(&link.sandbox_id)?;
                let guard = entry.op.clone().lock_owned().await;
                let sandbox = entry.record();
                if sandbox.state != crate::sandbox::SandboxState::Ready {
                    return Err(Error::FailedPrecondition(format!(
                        "pod sandbox {} is not ready",
                        sandbox.id
                    )));
                }
                if sandbox.config.namespaces.user.is_some() {
                    check_in_user_namespace(&opts)?;
                }
                Some((sandbox, guard))
            }
            None => None,
        };
        let sandbox = pod.as_ref().map(|(s, _)| s);
        let log_path = match (&opts.log_path, sandbox) {
            (None, _) => None,
            (Some(rel), Some(s)) if !s.config.log_directory.is_empty() => {
                Some(PathBuf::from(&s.config.log_directory).join(rel))
            }
            (Some(_), _) => return Err(Error::invalid("a log path needs the pod's log directory")),
        };
        let devices = opts
            .devices
            .iter()
            .map(|d| d.check_host().map(|_| d.clone()))
            .collect::<Result<Vec<_>>>()?;
        let image_volumes = opts
            .image_volumes
            .iter()
            .map(|v| self.resolve_image_volume(v))
            .collect::<Result<Vec<_>>>()?;
        for m in &opts.mounts {
            // As containerd does: a missing host path becomes a directory.
            if std::fs::symlink_metadata(&m.host_path).is_err() {
                std::fs::create_dir_all(&m.host_path)
                    .ctx(|| format!("create mount source {}", m.host_path.display()))?;
            }
        }
        let cgroup_parent = sandbox
            .map(|s| s.config.cgroup_parent.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.config().cgroup_parent);
        let cgroup_path = format!("/{}/{id}", cgroup_parent.trim_matches('/'));
        // The container whose network it joins (a pod's is none of the Docker front's).
        let joined = match &opts.docker.network {
            NetworkMode::Container(key) => {
                let t = self.lookup(key)?.record();
                if t.config.pod.is_some() {
                    return Err(Error::NotFound(Missing::Container(key.clone())));
                }
                Some(t)
            }
            _ => None,
        };
        let hostname = match sandbox {
            Some(s) if s.config.namespaces.network == crate::sandbox::NsMode::Node => {
                crate::host::node_hostname().unwrap_or_default()
            }
            Some(s) => s.config.hostname.clone(),
            None if joined.is_some() => {
                joined.as_ref().map(|t| t.config.hostname.clone()).unwrap_or_default()
            }
            // As Docker: the node's name on the node's network.
            None if opts.docker.network == NetworkMode::Host && opts.hostname.is_none() => {
                crate::host::node_hostname().unwrap_or_default()
            }
            None => opts.hostname.clone().unwrap_or_else(|| id[..12].to_owned()),
        };
        // A user-defined network, and the address asked for in it.
        let user_net = match &opts.docker.network {
            NetworkMode::User(key) => {
                let n = self.network(key)?;
                if let Some(ip) = opts.docker.ip {
                    if !n.subnet.is_host(ip) || ip == n.gateway {
                        return Err(Error::invalid(format!(
                            "no configured subnet or ip-range contain the IP address {ip}"
                        )));
                    }
                }
                Some(n)
            }
            _ => None,
        };
        let mut undo = Undo::default();

        self.inner.containers.claim_name(&name, &id).map_err(|other| name_in_use(&name, &other))?;
        let (me, n, i) = (self.clone(), name.clone(), id.clone());
        undo.push(move || me.inner.containers.release_name(&n, &i));

        let dir = self.paths().container(&id)?;
        create_dir(&dir, 0o700).ctx(|| format!("create {}", dir.display()))?;
        let d = dir.clone();
        undo.push(move || {
            let _ = std::fs::remove_dir_all(&d);
        });
        // The merged root is the upper dir's: owned by a user-namespaced
        // pod's root. The image's layers are idmapped at start, never chowned.
        let owner = sandbox.and_then(|s| s.config.namespaces.user).map(|u| u.host_root());
        self.snapshots().prepare_kept(&self.snapshot_dir(&id)?, owner)?;
        // A pod's volumes are kubelet's; a Docker-front container's are berth's.
        let (volume_binds, volume_tmpfs, volumes) = if opts.pod.is_none() {
            self.make_volumes(&opts, &image.config, &mut undo)?
        } else {
            Default::default()
        };
        // The log exists from the start, so a follower can attach before start.
        std::fs::File::create(dir.join("container.log")).ctx(|| "create log".into())?;

        let mut config = ContainerConfig {
            args,
            entrypoint,
            cmd,
            env: {
                let mut env = merge_env(image.config.env.as_deref().unwrap_or_default(), &opts.env);
                // As Docker and containerd do for a terminal.
                if opts.stdio.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
                    env.push("TERM=xterm".into());
                }
                env
            },
            working_dir: opts
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or(image.config.working_dir.clone())
                .unwrap_or_else(|| "/".into()),
            user: opts.user.clone().or(image.config.user.clone()).unwrap_or_default(),
            hostname,
            resources: opts.resources.clone(),
            read_only: opts.read_only,
            labels: {
                let mut l = image.config.labels.clone().unwrap_or_default();
                l.extend(opts.labels.clone());
                l
            },
            auto_remove: opts.docker.auto_remove,
            // The image's is data like the rest of its config: a bad one is refused here.
            stop_signal: match opts.stop_signal.as_deref().or(image.config.stop_signal.as_deref()) {
                Some(s) => super::StopSignal::parse(s)?,
                None => super::StopSignal::default(),
            },
            stop_timeout: opts.docker.stop_timeout,
            ulimits: opts.ulimits.iter().map(|u| super::Ulimit::parse(u)).collect::<Result<_>>()?,
            pod: opts.pod.clone(),
            annotations: opts.annotations.clone(),
            log_path,
            mounts: opts.mounts.iter().cloned().chain(volume_binds).collect(),
            volumes,
            tmpfs: opts.docker.tmpfs.iter().cloned().chain(volume_tmpfs).collect(),
            devices,
            image_volumes,
            security: opts.security.clone(),
            cgroup_path,
            stdio: opts.stdio,
            network: super::ContainerNetwork::None,
            restart: opts.docker.restart,
            init: opts.docker.init,
            dns: opts.docker.dns.clone(),
            extra_hosts: opts
                .docker
                .extra_hosts
                .iter()
                .map(|h| super::ExtraHost::parse(h))
                .collect::<Result<_>>()?,
            // kubelet probes pods' containers itself.
            healthcheck: if opts.pod.is_none() {
                crate::model::HealthConfig::resolve(
                    opts.docker.healthcheck.as_ref(),
                    image.config.healthcheck.as_ref(),
                )?
            } else {
                None
            },
            exposed_ports: Vec::new(),
            publish: opts.docker.publish.clone(),
            publish_all: opts.docker.publish_all,
            ports: Vec::new(),
            mac_address: opts.docker.mac_address,
        };
        if opts.pod.is_none() {
            config.exposed_ports = super::ports::exposed(
                &image.config,
                &opts.docker.exposed_ports,
                &opts.docker.publish,
            );
        }
        // Only what it asks for: a bridged container's sandbox, address and
        // host ports come with each start and go with its exit (dockerd's
        // endpoints), so a created or stopped one holds none of them.
        config.network = match (&opts.docker.network, &user_net) {
            (NetworkMode::User(_), Some(n)) => {
                let link = crate::model::NetworkLink {
                    network: n.id.clone(),
                    aliases: opts.docker.network_aliases.clone(),
                    ip: opts.docker.ip,
                    address: None,
                    ifname: "eth0".into(),
                };
                super::ContainerNetwork::User { sandbox: String::new(), links: vec![link] }
            }
            (NetworkMode::Bridge, _) => {
                super::ContainerNetwork::Bridge { sandbox: String::new(), links: Vec::new() }
            }
            (NetworkMode::Host, _) => super::ContainerNetwork::Host,
            (NetworkMode::Container(_), _) => super::ContainerNetwork::Container {
                target: joined.map(|t| t.id).unwrap_or_default(),
            },
            _ => super::ContainerNetwork::None,
        };
        let rec =
            ContainerRecord::new(id.clone(), name, opts.image.clone(), image.id.clone(), config);
        self.list_new(&rec)?;
        self.emit(&rec, super::events::EventKind::Created);
        undo.disarm();
        drop(pod);
        tracing::info!(container = %id, "created");
        Ok(id)
    }

    /// Persists and lists a new container's record.
    fn list_new(&self, rec: &ContainerRecord) -> Result<()> {
        crate::failpoint("create.before_record")?;
        self.persist(rec)?;
        self.inner.containers.insert(&rec.id, Entry::new(rec.clone()));
        // One step with image removal, which holds the containers' lock while
        // it checks and removes: an image that went before we were listed is
        // gone now, and the container with it (the undo takes its dirs).
        let mut images = std::iter::once(&rec.image_id)
            .chain(rec.config.image_volumes.iter().map(|v| &v.image_id));
        if let Some(gone) = images.find(|i| self.images().resolve(i).is_err()) {
            self.inner.containers.remove(&rec.id);
            return Err(Error::NotFound(Missing::Other(format!(
                "image {gone} was removed while the container was created"
            ))));
        }
        // Likewise its networks (a removal checks for users under the same lock).
        if let Some(gone) =
            rec.config.network.links().iter().find(|l| self.network(&l.network).is_err())
        {
            self.inner.containers.remove(&rec.id);
            return Err(Error::NotFound(Missing::Other(format!(
                "network {} was removed while the container was created",
                gone.network
            ))));
        }
        // Likewise its volumes: a removal checks for users and sets the
        // volume aside while it holds the containers' lock.
        if let Some(gone) = rec.config.volumes.iter().find(|v| self.volume(&v.name).is_err()) {
            self.inner.containers.remove(&rec.id);
            return Err(Error::NotFound(Missing::Other(format!(
                "volume {} was removed while the container was created",
                gone.name
            ))));
        }
        Ok(())
    }

    /// An image volume's image, which must be in the store (kubelet pulls it
    /// first), and its sub path, which must be in the image.
    fn resolve_image_volume(&self, v: &super::ImageVolume) -> Result<super::ImageVolume> {
        v.check()?;
        let image = self.images().resolve(&v.image).map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(Missing::Other(format!(
                "the image {:?} of the image volume at {} is not present: pull it first",
                v.image,
                v.container_path.display()
            ))),
            e => e,
        })?;
        if !v.sub_path.is_empty() {
            let comps = berth_kernel::fs::clean_components(&v.sub_path)
                .map_err(|e| Error::invalid(e.to_string()))?;
            let lower = crate::snapshot::lower_dirs(self.paths(), &image.layers)?;
            let found = lower.iter().any(|l| {
                std::fs::symlink_metadata(comps.iter().fold(l.clone(), |p, c| p.join(c))).is_ok()
            });
            if !found {
                return Err(Error::invalid(format!(
                    "image sub path {:?} is not in the image {:?}",
                    v.sub_path, v.image
                )));
            }
        }
        Ok(super::ImageVolume { image_id: image.id, ..v.clone() })
    }

    /// The container's log file: the CRI log path if it has one.
    pub fn log_path(&self, rec: &ContainerRecord) -> Result<PathBuf> {
        match &rec.config.log_path {
            Some(p) => Ok(p.clone()),
            None => Ok(self.paths().container(&rec.id)?.join("container.log")),
        }
    }
}

/// dockerd's words for a name another container holds.
pub(crate) fn name_in_use(name: &str, holder: &str) -> Error {
    Error::AlreadyExists(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageConfig;
    use crate::model::Resources;

    #[test]
    fn entrypoint_and_cmd_combine_like_docker() {
        let img = ImageConfig {
            entrypoint: Some(vec!["/ep".into()]),
            cmd: Some(vec!["a".into()]),
            ..Default::default()
        };
        let o = |ep: Option<Vec<&str>>, cmd: Vec<&str>| CreateOptions {
            entrypoint: ep.map(|v| v.into_iter().map(String::from).collect()),
            cmd: cmd.into_iter().map(String::from).collect(),
            ..Default::default()
        };
        assert_eq!(command(&o(None, vec![]), &img), (vec!["/ep".into()], vec!["a".into()]));
        assert_eq!(command(&o(None, vec!["b"]), &img), (vec!["/ep".into()], vec!["b".into()]));
        assert_eq!(command(&o(Some(vec!["/x"]), vec![]), &img), (vec!["/x".into()], vec![]));
        assert_eq!(command(&o(Some(vec![""]), vec!["sh"]), &img), (vec![], vec!["sh".into()]));
    }

    #[test]
    fn env_merges_by_key() {
        let img = vec!["PATH=/bin".to_string(), "A=1".into()];
        assert_eq!(merge_env(&img, &["A=2".into(), "B=3".into()]), ["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = [
            CreateOptions { name: Some("../x".into()), ..Default::default() },
            CreateOptions { working_dir: Some("rel".into()), ..Default::default() },
            CreateOptions { hostname: Some("a_b".into()), ..Default::default() },
            CreateOptions {
                resources: Resources { memory_bytes: 1024, ..Default::default() },
                ..Default::default()
            },
            CreateOptions { stop_signal: Some("SIGNOPE".into()), ..Default::default() },
            CreateOptions { ulimits: vec!["nofiles=1".into()], ..Default::default() },
            CreateOptions { ulimits: vec!["nofile=10:5".into()], ..Default::default() },
            CreateOptions { ulimits: vec!["nofile=lots".into()], ..Default::default() },
            CreateOptions {
                docker: DockerOptions {
                    auto_remove: true,
                    restart: super::super::RestartPolicy::Always,
                    ..Default::default()
                },
                ..Default::default()
            },
        ];
        for o in bad {
            assert!(matches!(check(&o), Err(Error::InvalidArgument(_))), "{o:?}");
        }
    }
}
