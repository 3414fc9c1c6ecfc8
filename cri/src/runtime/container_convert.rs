//! CRI container messages ↔ engine container types, converted once here.
//! What berth can't honour yet is refused with `Unimplemented`, never
//! silently dropped.

use berth_engine::model::container::Stdio;
use berth_engine::model::{
    BindMount, ContainerRecord, DeviceMount, EndReason, ImageVolume, NsMode, PidNamespace, PodLink,
    Propagation, Resources, SandboxRecord, Seccomp, Security, Status as State,
};
use berth_engine::CreateOptions;
use berth_proto::cri;
use std::collections::BTreeMap;
use tonic::Status;

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!("{what} is not supported by berth yet"))
}

/// The engine name of a pod's container: unique per pod, name and attempt,
/// so a second create of the same attempt is AlreadyExists.
fn engine_name(meta: &cri::ContainerMetadata, sandbox: &SandboxRecord) -> String {
    let p = &sandbox.config;
    format!("k8s_{}_{}_{}_{}_{}", meta.name, p.name, p.namespace, p.uid, meta.attempt)
}

pub(crate) fn resources(r: &cri::LinuxContainerResources) -> Result<Resources, Status> {
    if r.cpu_shares < 0 || r.cpu_period < 0 || r.memory_limit_in_bytes < 0 {
        return Err(Status::invalid_argument("resource limits must not be negative"));
    }
    Ok(Resources {
        memory_bytes: r.memory_limit_in_bytes,
        memory_swap_bytes: r.memory_swap_limit_in_bytes.max(0),
        // kubelet sends -1 for "no quota".
        cpu_quota: r.cpu_quota.max(0),
        cpu_period: r.cpu_period as u64,
        cpu_shares: r.cpu_shares as u64,
        pids_limit: 0,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        oom_score_adj: (r.oom_score_adj != 0).then(|| r.oom_score_adj.clamp(-1000, 1000) as i32),
        hugepages: r.hugepage_limits.iter().map(|h| (h.page_size.clone(), h.limit)).collect(),
        unified: r.unified.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    })
}

fn resources_back(r: &Resources) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: r.cpu_period as i64,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares as i64,
        memory_limit_in_bytes: r.memory_bytes,
        oom_score_adj: r.oom_score_adj.unwrap_or(0) as i64,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        hugepage_limits: r
            .hugepages
            .iter()
            .map(|(s, l)| cri::HugepageLimit { page_size: s.clone(), limit: *l })
            .collect(),
        unified: r.unified.clone().into_iter().collect(),
        memory_swap_limit_in_bytes: r.memory_swap_bytes,
    }
}

fn mount(m: cri::Mount) -> Result<BindMount, Status> {
    if !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty() {
        return Err(unsupported("an id-mapped mount"));
    }
    if !m.image_sub_path.is_empty() {
        return Err(Status::invalid_argument("image_sub_path needs an image"));
    }
    let propagation = match cri::MountPropagation::try_from(m.propagation) {
        Ok(cri::MountPropagation::PropagationPrivate) => Propagation::Private,
        Ok(cri::MountPropagation::PropagationHostToContainer) => Propagation::Slave,
        Ok(cri::MountPropagation::PropagationBidirectional) => Propagation::Shared,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown mount propagation {}",
                m.propagation
            )))
        }
    };
    // selinux_relabel is ignored: this node has no SELinux.
    Ok(BindMount {
        host_path: m.host_path.into(),
        container_path: m.container_path.into(),
        readonly: m.readonly,
        recursive_readonly: m.recursive_read_only,
        propagation,
        options: m.mount_options,
    })
}

/// An image volume (KEP-4639): read-only, the image's whole tree or a sub path of it.
fn image_volume(m: cri::Mount) -> Result<ImageVolume, Status> {
    let image = m
        .image
        .map(|i| i.image)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| Status::invalid_argument("an image volume needs an image"))?;
    if !m.host_path.is_empty() {
        return Err(Status::invalid_argument("an image volume has no host path"));
    }
    if !m.uid_mappings.is_empty()
        || !m.gid_mappings.is_empty()
        || m.propagation != cri::MountPropagation::PropagationPrivate as i32
    {
        return Err(Status::invalid_argument(
            "an image volume takes no id mappings or propagation",
        ));
    }
    Ok(ImageVolume {
        image,
        image_id: String::new(),
        container_path: m.container_path.into(),
        sub_path: m.image_sub_path,
    })
}

fn image_volume_back(v: &ImageVolume) -> cri::Mount {
    cri::Mount {
        container_path: v.container_path.display().to_string(),
        readonly: true,
        image: Some(cri::ImageSpec { image: v.image.clone(), ..Default::default() }),
        image_sub_path: v.sub_path.clone(),
        ..Default::default()
    }
}

fn mount_back(m: &BindMount) -> cri::Mount {
    let propagation = match m.propagation {
        Propagation::Private => cri::MountPropagation::PropagationPrivate,
        Propagation::Slave => cri::MountPropagation::PropagationHostToContainer,
        Propagation::Shared => cri::MountPropagation::PropagationBidirectional,
    };
    cri::Mount {
        container_path: m.container_path.display().to_string(),
        host_path: m.host_path.display().to_string(),
        readonly: m.readonly,
        recursive_read_only: m.recursive_readonly,
        propagation: propagation as i32,
        mount_options: m.options.clone(),
        ..Default::default()
    }
}

// The deprecated path field is still what older kubelets send.
#[allow(deprecated)]
fn seccomp(sc: &cri::LinuxContainerSecurityContext) -> Result<Seccomp, Status> {
    use cri::security_profile::ProfileType;
    let localhost = |path: &str| {
        if path.is_empty() {
            return Err(Status::invalid_argument(
                "a Localhost seccomp profile needs its path (localhost_ref)",
            ));
        }
        Ok(Seccomp::localhost(std::path::Path::new(path))?)
    };
    match &sc.seccomp {
        Some(p) => match ProfileType::try_from(p.profile_type) {
            Ok(ProfileType::Unconfined) => Ok(Seccomp::Unconfined),
            Ok(ProfileType::RuntimeDefault) => Ok(Seccomp::RuntimeDefault),
            Ok(ProfileType::Localhost) => localhost(&p.localhost_ref),
            Err(_) => Err(Status::invalid_argument(format!(
                "unknown seccomp profile type {}",
                p.profile_type
            ))),
        },
        // No profile at all is Unconfined, as in containerd and CRI-O.
        None => match sc.seccomp_profile_path.as_str() {
            "" | "unconfined" => Ok(Seccomp::Unconfined),
            "runtime/default" | "docker/default" => Ok(Seccomp::RuntimeDefault),
            other => match other.strip_prefix("localhost/") {
                Some(path) => localhost(path),
                None => Err(Status::invalid_argument(format!("unknown seccomp profile {other:?}"))),
            },
        },
    }
}

/// The user string the engine resolves in the container: a username, or
/// uid[:gid]. A group needs a user (as in containerd and CRI-O: kubelet
/// validates `runAsGroup` only together with `runAsUser`).
fn user(sc: &cri::LinuxContainerSecurityContext) -> Result<Option<String>, Status> {
    let group = sc.run_as_group.as_ref().map(|g| g.value);
    let user = if !sc.run_as_username.is_empty() {
        Some(sc.run_as_username.clone())
    } else {
        sc.run_as_user.as_ref().map(|u| u.value.to_string())
    };
    match (user, group) {
        (Some(u), Some(g)) => Ok(Some(format!("{u}:{g}"))),
        (Some(u), None) => Ok(Some(u)),
        (None, Some(g)) => Err(Status::invalid_argument(format!(
            "run_as_group {g} is set without run_as_user or run_as_username"
        ))),
        (None, None) => Ok(None),
    }
}

fn security(sc: &cri::LinuxContainerSecurityContext) -> Result<Security, Status> {
    let seccomp = seccomp(sc)?;
    let ns = sc.namespace_options.clone().unwrap_or_default();
    let pid = match super::sandbox_convert::ns_mode(ns.pid)? {
        NsMode::Container => PidNamespace::Container,
        NsMode::Pod => PidNamespace::Pod,
        NsMode::Node => PidNamespace::Node,
        NsMode::Target => PidNamespace::Target(ns.target_id),
    };
    let caps = sc.capabilities.clone().unwrap_or_default();
    if !caps.add_ambient_capabilities.is_empty() {
        return Err(unsupported("ambient capabilities"));
    }
    let groups = sc
        .supplemental_groups
        .iter()
        .map(|g| {
            u32::try_from(*g)
                .map_err(|_| Status::invalid_argument(format!("invalid supplemental group {g}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Security {
        privileged: sc.privileged,
        cap_add: caps.add_capabilities,
        cap_drop: caps.drop_capabilities,
        no_new_privs: sc.no_new_privs,
        // kubelet sends the default lists for the Default proc mount; none means berth's defaults.
        masked_paths: Some(sc.masked_paths.clone()).filter(|p| !p.is_empty()),
        readonly_paths: Some(sc.readonly_paths.clone()).filter(|p| !p.is_empty()),
        supplemental_groups: groups,
        groups_strict: sc.supplemental_groups_policy
            == cri::SupplementalGroupsPolicy::Strict as i32,
        pid,
        seccomp,
    })
}

/// CreateContainerRequest → engine options.
pub(crate) fn options(
    req: cri::CreateContainerRequest,
    sandbox: &SandboxRecord,
) -> Result<CreateOptions, Status> {
    let config =
        req.config.ok_or_else(|| Status::invalid_argument("container config is required"))?;
    let meta = config
        .metadata
        .clone()
        .ok_or_else(|| Status::invalid_argument("container metadata is required"))?;
    if meta.name.is_empty() {
        return Err(Status::invalid_argument("container metadata.name is required"));
    }
    super::limits::container_name(&meta.name)?;
    super::limits::labels_and_annotations(&config.labels, &config.annotations)?;
    let image = config
        .image
        .as_ref()
        .map(|i| i.image.clone())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| Status::invalid_argument("container image is required"))?;
    if !config.cdi_devices.is_empty() {
        return Err(unsupported("CDI devices"));
    }
    let linux = config.linux.clone().unwrap_or_default();
    let sc = linux.security_context.clone().unwrap_or_default();
    // POD joins the pod's PID namespace when the pod has one.
    let security = security(&sc)?;
    // A container has its pod's users: its own userns_options, if given, must say so.
    if let Some(u) = sc.namespace_options.as_ref().and_then(|n| n.userns_options.as_ref()) {
        if super::sandbox_convert::user_namespace(Some(u))? != sandbox.config.namespaces.user {
            return Err(Status::invalid_argument("a container's user namespace must be its pod's"));
        }
    }
    let res = linux.resources.as_ref().map(resources).transpose()?.unwrap_or_default();
    let (image_volumes, binds): (Vec<cri::Mount>, Vec<cri::Mount>) =
        config.mounts.clone().into_iter().partition(|m| m.image.is_some());
    Ok(CreateOptions {
        name: Some(engine_name(&meta, sandbox)),
        user: user(&sc)?,
        image,
        entrypoint: (!config.command.is_empty()).then(|| config.command.clone()),
        cmd: config.args.clone(),
        env: config.envs.iter().map(env).collect::<Result<_, _>>()?,
        stop_signal: stop_signal(config.stop_signal)?,
        working_dir: Some(config.working_dir.clone()).filter(|w| !w.is_empty()),
        resources: res,
        read_only: sc.readonly_rootfs,
        labels: config.labels.clone().into_iter().collect(),
        annotations: config.annotations.clone().into_iter().collect(),
        pod: Some(PodLink {
            sandbox_id: sandbox.id.clone(),
            name: meta.name,
            attempt: meta.attempt,
        }),
        log_path: Some(config.log_path.clone()).filter(|p| !p.is_empty()).map(Into::into),
        mounts: binds.into_iter().map(mount).collect::<Result<_, _>>()?,
        image_volumes: image_volumes.into_iter().map(image_volume).collect::<Result<_, _>>()?,
        devices: config
            .devices
            .into_iter()
            .map(|d| DeviceMount {
                host_path: d.host_path.into(),
                container_path: d.container_path.into(),
                permissions: if d.permissions.is_empty() { "rwm".into() } else { d.permissions },
            })
            .collect(),
        security,
        stdio: Stdio { stdin: config.stdin, stdin_once: config.stdin_once, tty: config.tty },
        ..Default::default()
    })
}

pub(crate) fn state_back(s: State) -> i32 {
    (match s {
        State::Created => cri::ContainerState::ContainerCreated,
        State::Running => cri::ContainerState::ContainerRunning,
        State::Exited => cri::ContainerState::ContainerExited,
        State::Unknown | State::Quarantined => cri::ContainerState::ContainerUnknown,
    }) as i32
}

pub(crate) fn state(v: i32) -> Result<State, Status> {
    Ok(match cri::ContainerState::try_from(v) {
        Ok(cri::ContainerState::ContainerCreated) => State::Created,
        Ok(cri::ContainerState::ContainerRunning) => State::Running,
        Ok(cri::ContainerState::ContainerExited) => State::Exited,
        Ok(cri::ContainerState::ContainerUnknown) => State::Unknown,
        Err(_) => return Err(Status::invalid_argument(format!("unknown container state {v}"))),
    })
}

pub(crate) fn metadata(r: &ContainerRecord) -> cri::ContainerMetadata {
    let pod = r.config.pod.clone().unwrap_or_default();
    cri::ContainerMetadata { name: pod.name, attempt: pod.attempt }
}

pub(crate) fn labels(m: &BTreeMap<String, String>) -> std::collections::HashMap<String, String> {
    m.clone().into_iter().collect()
}

/// An engine container as a ListContainers item.
pub(crate) fn item(r: &ContainerRecord) -> cri::Container {
    cri::Container {
        id: r.id.clone(),
        pod_sandbox_id: r.config.pod.as_ref().map(|p| p.sandbox_id.clone()).unwrap_or_default(),
        metadata: Some(metadata(r)),
        image: Some(cri::ImageSpec { image: r.image.clone(), ..Default::default() }),
        image_ref: r.image_id.clone(),
        state: state_back(r.state.status),
        created_at: r.created_at,
        labels: labels(&r.config.labels),
        annotations: labels(&r.config.annotations),
        image_id: r.image_id.clone(),
    }
}

/// Why a container is where it is: kubelet shows these reasons.
fn reason(r: &ContainerRecord) -> (&'static str, String) {
    let s = &r.state;
    match s.status {
        State::Exited if s.end == EndReason::NodeRestarted => ("NodeRestarted", s.error.clone()),
        State::Exited if s.oom_killed => ("OOMKilled", s.error.clone()),
        State::Exited if s.exit_code == 0 => ("Completed", s.error.clone()),
        State::Exited => ("Error", s.error.clone()),
        State::Created if !s.error.is_empty() => ("StartError", s.error.clone()),
        State::Unknown => ("Unknown", s.error.clone()),
        State::Quarantined => ("Quarantined", s.error.clone()),
        _ => ("", String::new()),
    }
}

/// The identity the container's process runs with, read from /proc while it runs.
fn process_user(pid: i32) -> Option<cri::ContainerUser> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| {
            v.split_whitespace().map(|n| n.parse::<i64>().unwrap_or(0)).collect::<Vec<_>>()
        })
    };
    let uid = *field("Uid:")?.first()?;
    let gid = *field("Gid:")?.first()?;
    let groups = field("Groups:").unwrap_or_default();
    Some(cri::ContainerUser {
        linux: Some(cri::LinuxContainerUser { uid, gid, supplemental_groups: groups }),
    })
}

/// An engine container as a ContainerStatus.
pub(crate) fn status(r: &ContainerRecord, log_path: String) -> cri::ContainerStatus {
    let (reason, message) = reason(r);
    cri::ContainerStatus {
        id: r.id.clone(),
        metadata: Some(metadata(r)),
        state: state_back(r.state.status),
        created_at: r.created_at,
        started_at: r.state.started_at,
        finished_at: r.state.finished_at,
        exit_code: r.state.exit_code,
        image: Some(cri::ImageSpec { image: r.image.clone(), ..Default::default() }),
        image_ref: r.image_id.clone(),
        reason: reason.into(),
        message,
        labels: labels(&r.config.labels),
        annotations: labels(&r.config.annotations),
        mounts: r
            .config
            .mounts
            .iter()
            .map(mount_back)
            .chain(r.config.image_volumes.iter().map(image_volume_back))
            .collect(),
        log_path,
        resources: Some(cri::ContainerResources {
            linux: Some(resources_back(&r.config.resources)),
            windows: None,
        }),
        image_id: r.image_id.clone(),
        user: (r.state.status == State::Running).then(|| process_user(r.state.pid)).flatten(),
        stop_signal: signal_back(r.config.stop_signal.name()),
    }
}

/// `KEY=VALUE`; values are bytes on the wire, and berth's environment is text.
fn env(kv: &cri::KeyValue) -> Result<String, Status> {
    let value = std::str::from_utf8(&kv.value).map_err(|_| {
        Status::invalid_argument(format!("environment variable {:?} is not valid UTF-8", kv.key))
    })?;
    Ok(format!("{}={value}", kv.key))
}

/// CRI's Signal enum as the signal name the engine takes (`SIGTERM`,
/// `SIGRTMIN+1`, `SIGRTMAX-2`); RUNTIME_DEFAULT leaves the image's or SIGTERM.
fn stop_signal(s: i32) -> Result<Option<String>, Status> {
    let sig = cri::Signal::try_from(s)
        .map_err(|_| Status::invalid_argument(format!("unknown stop signal {s}")))?;
    if sig == cri::Signal::RuntimeDefault {
        return Ok(None);
    }
    let name = match sig.as_str_name().trim_start_matches("SIGNAL_") {
        // Aliases, by their usual names.
        "SIGCLD" => "SIGCHLD",
        "SIGPOLL" => "SIGIO",
        "SIGIOT" => "SIGABRT",
        n => n,
    };
    Ok(Some(name.replace("PLUS", "+").replace("MINUS", "-")))
}

fn signal_back(name: &str) -> i32 {
    let wire = format!("SIGNAL_{}", name.replace('+', "PLUS").replace('-', "MINUS"));
    cri::Signal::from_str_name(&wire).unwrap_or(cri::Signal::RuntimeDefault) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_strings() {
        let sc = |u: Option<i64>, g: Option<i64>, name: &str| cri::LinuxContainerSecurityContext {
            run_as_user: u.map(|value| cri::Int64Value { value }),
            run_as_group: g.map(|value| cri::Int64Value { value }),
            run_as_username: name.into(),
            ..Default::default()
        };
        assert_eq!(user(&sc(Some(1000), None, "")).unwrap(), Some("1000".into()));
        assert_eq!(user(&sc(Some(1000), Some(50), "")).unwrap(), Some("1000:50".into()));
        assert_eq!(user(&sc(None, Some(50), "www")).unwrap(), Some("www:50".into()));
        assert_eq!(user(&sc(None, Some(50), "")).unwrap_err().code(), tonic::Code::InvalidArgument);
        assert_eq!(user(&sc(None, None, "www")).unwrap(), Some("www".into()));
        assert_eq!(user(&sc(None, None, "")).unwrap(), None);
    }

    #[test]
    fn seccomp_profiles() {
        let with = |t: cri::security_profile::ProfileType| cri::LinuxContainerSecurityContext {
            seccomp: Some(cri::SecurityProfile {
                profile_type: t as i32,
                localhost_ref: String::new(),
            }),
            ..Default::default()
        };
        assert_eq!(
            seccomp(&with(cri::security_profile::ProfileType::Unconfined)).unwrap(),
            Seccomp::Unconfined
        );
        assert_eq!(
            seccomp(&with(cri::security_profile::ProfileType::RuntimeDefault)).unwrap(),
            Seccomp::RuntimeDefault
        );
        assert_eq!(seccomp(&Default::default()).unwrap(), Seccomp::Unconfined);
        assert_eq!(
            seccomp(&with(cri::security_profile::ProfileType::Localhost)).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let missing = cri::LinuxContainerSecurityContext {
            seccomp: Some(cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::Localhost as i32,
                localhost_ref: "/nonexistent.json".into(),
            }),
            ..Default::default()
        };
        assert_eq!(seccomp(&missing).unwrap_err().code(), tonic::Code::InvalidArgument);
        #[allow(deprecated)]
        let old = cri::LinuxContainerSecurityContext {
            seccomp_profile_path: "runtime/default".into(),
            ..Default::default()
        };
        assert_eq!(seccomp(&old).unwrap(), Seccomp::RuntimeDefault);
    }

    #[test]
    fn stop_signals_both_ways() {
        assert_eq!(stop_signal(cri::Signal::RuntimeDefault as i32).unwrap(), None);
        for (sig, name) in [
            (cri::Signal::Sigterm, "SIGTERM"),
            (cri::Signal::Sigquit, "SIGQUIT"),
            (cri::Signal::Sigrtminplus1, "SIGRTMIN+1"),
            (cri::Signal::Sigrtmaxminus2, "SIGRTMAX-2"),
        ] {
            assert_eq!(stop_signal(sig as i32).unwrap().as_deref(), Some(name));
            assert_eq!(signal_back(name), sig as i32);
        }
        assert_eq!(stop_signal(999).unwrap_err().code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn kubelet_quota_minus_one_means_none() {
        let r = resources(&cri::LinuxContainerResources {
            cpu_quota: -1,
            cpu_period: 100_000,
            oom_score_adj: 1000,
            ..Default::default()
        })
        .unwrap();
        assert_eq!((r.cpu_quota, r.oom_score_adj), (0, Some(1000)));
        let r = resources(&cri::LinuxContainerResources::default()).unwrap();
        assert_eq!(r.oom_score_adj, None);
    }
}
