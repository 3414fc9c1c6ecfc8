//! CRI pod sandbox messages ↔ engine sandbox types, converted once here.

use berth_engine::model::sandbox::{
    Dns, IdMapping, NamespaceModes, NsMode, PortMapping, SandboxOptions, SandboxRecord,
    SandboxState, UserNamespace,
};
use berth_proto::cri;
use tonic::Status;

pub(crate) fn ns_mode(v: i32) -> Result<NsMode, Status> {
    Ok(match cri::NamespaceMode::try_from(v) {
        Ok(cri::NamespaceMode::Pod) => NsMode::Pod,
        Ok(cri::NamespaceMode::Container) => NsMode::Container,
        Ok(cri::NamespaceMode::Node) => NsMode::Node,
        Ok(cri::NamespaceMode::Target) => NsMode::Target,
        Err(_) => return Err(Status::invalid_argument(format!("unknown namespace mode {v}"))),
    })
}

fn ns_mode_back(m: NsMode) -> i32 {
    (match m {
        NsMode::Pod => cri::NamespaceMode::Pod,
        NsMode::Container => cri::NamespaceMode::Container,
        NsMode::Node => cri::NamespaceMode::Node,
        NsMode::Target => cri::NamespaceMode::Target,
    }) as i32
}

pub(crate) fn state_back(s: SandboxState) -> i32 {
    (match s {
        SandboxState::Ready => cri::PodSandboxState::SandboxReady,
        SandboxState::NotReady => cri::PodSandboxState::SandboxNotready,
    }) as i32
}

pub(crate) fn state(v: i32) -> Result<SandboxState, Status> {
    match cri::PodSandboxState::try_from(v) {
        Ok(cri::PodSandboxState::SandboxReady) => Ok(SandboxState::Ready),
        Ok(cri::PodSandboxState::SandboxNotready) => Ok(SandboxState::NotReady),
        Err(_) => Err(Status::invalid_argument(format!("unknown sandbox state {v}"))),
    }
}

/// `userns_options` → the pod's own user namespace, or none for the
/// node's. A pod's own needs POD mode and exactly one uid and one gid
/// mapping (as containerd and CRI-O take it); the engine checks that the
/// mapping covers the pod's root.
pub(crate) fn user_namespace(
    u: Option<&cri::UserNamespace>,
) -> Result<Option<UserNamespace>, Status> {
    let Some(u) = u else { return Ok(None) };
    match cri::NamespaceMode::try_from(u.mode) {
        Ok(cri::NamespaceMode::Node) if u.uids.is_empty() && u.gids.is_empty() => Ok(None),
        Ok(cri::NamespaceMode::Node) => {
            Err(Status::invalid_argument("a user namespace of mode NODE takes no id mappings"))
        }
        Ok(cri::NamespaceMode::Pod) => {
            let one = |what: &str, maps: &[cri::IdMapping]| match maps {
                [m] => Ok(IdMapping {
                    container_id: m.container_id,
                    host_id: m.host_id,
                    length: m.length,
                }),
                _ => Err(Status::invalid_argument(format!(
                    "a pod's user namespace takes exactly one {what} mapping, not {}",
                    maps.len()
                ))),
            };
            Ok(Some(UserNamespace { uids: one("uid", &u.uids)?, gids: one("gid", &u.gids)? }))
        }
        Ok(m) => Err(Status::invalid_argument(format!(
            "user namespace mode {} is not supported: POD or NODE",
            m.as_str_name()
        ))),
        Err(_) => Err(Status::invalid_argument(format!("unknown namespace mode {}", u.mode))),
    }
}

/// The pod's user namespace as CRI's `userns_options` (NODE when it has none).
pub(crate) fn user_namespace_back(u: Option<&UserNamespace>) -> cri::UserNamespace {
    let map = |m: IdMapping| {
        vec![cri::IdMapping { host_id: m.host_id, container_id: m.container_id, length: m.length }]
    };
    match u {
        Some(u) => cri::UserNamespace {
            mode: cri::NamespaceMode::Pod as i32,
            uids: map(u.uids),
            gids: map(u.gids),
        },
        None => cri::UserNamespace { mode: cri::NamespaceMode::Node as i32, ..Default::default() },
    }
}

/// RunPodSandboxRequest → engine options.
pub(crate) fn options(req: cri::RunPodSandboxRequest) -> Result<SandboxOptions, Status> {
    let config =
        req.config.ok_or_else(|| Status::invalid_argument("pod sandbox config is required"))?;
    let meta = config
        .metadata
        .ok_or_else(|| Status::invalid_argument("pod sandbox metadata is required"))?;
    super::limits::pod_metadata(&meta.name, &meta.namespace, &meta.uid)?;
    super::limits::labels_and_annotations(&config.labels, &config.annotations)?;
    let linux = config.linux.unwrap_or_default();
    let ns = linux
        .security_context
        .as_ref()
        .and_then(|s| s.namespace_options.clone())
        .unwrap_or_default();
    let user = user_namespace(ns.userns_options.as_ref())?;
    let dns = config.dns_config.unwrap_or_default();
    let port_mappings = config
        .port_mappings
        .into_iter()
        .map(|p| {
            let protocol = match cri::Protocol::try_from(p.protocol) {
                Ok(cri::Protocol::Tcp) => "tcp",
                Ok(cri::Protocol::Udp) => "udp",
                Ok(cri::Protocol::Sctp) => "sctp",
                Err(_) => {
                    return Err(Status::invalid_argument(format!(
                        "unknown protocol {}",
                        p.protocol
                    )))
                }
            };
            Ok(PortMapping {
                protocol: protocol.into(),
                container_port: p.container_port,
                host_port: p.host_port,
                host_ip: p.host_ip,
            })
        })
        .collect::<Result<_, Status>>()?;
    Ok(SandboxOptions {
        owner: berth_engine::sandbox::SandboxOwner::Pod,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        attempt: meta.attempt,
        hostname: config.hostname,
        log_directory: config.log_directory,
        runtime_handler: req.runtime_handler,
        labels: config.labels.into_iter().collect(),
        annotations: config.annotations.into_iter().collect(),
        cgroup_parent: linux.cgroup_parent,
        dns: Dns { servers: dns.servers, searches: dns.searches, options: dns.options },
        port_mappings,
        sysctls: linux.sysctls.into_iter().collect(),
        namespaces: NamespaceModes {
            network: ns_mode(ns.network)?,
            pid: ns_mode(ns.pid)?,
            ipc: ns_mode(ns.ipc)?,
            target_id: ns.target_id,
            user,
        },
        network: None,
    })
}

pub(crate) fn metadata(r: &SandboxRecord) -> cri::PodSandboxMetadata {
    let c = &r.config;
    cri::PodSandboxMetadata {
        name: c.name.clone(),
        uid: c.uid.clone(),
        namespace: c.namespace.clone(),
        attempt: c.attempt,
    }
}

/// An engine sandbox as a ListPodSandbox item.
pub(crate) fn item(r: &SandboxRecord) -> cri::PodSandbox {
    cri::PodSandbox {
        id: r.id.clone(),
        metadata: Some(metadata(r)),
        state: state_back(r.state),
        created_at: r.created_at,
        labels: r.config.labels.clone().into_iter().collect(),
        annotations: r.config.annotations.clone().into_iter().collect(),
        runtime_handler: r.config.runtime_handler.clone(),
    }
}

/// An engine sandbox as a PodSandboxStatus.
pub(crate) fn status(r: &SandboxRecord) -> cri::PodSandboxStatus {
    let n = &r.config.namespaces;
    cri::PodSandboxStatus {
        id: r.id.clone(),
        metadata: Some(metadata(r)),
        state: state_back(r.state),
        created_at: r.created_at,
        network: Some(cri::PodSandboxNetworkStatus {
            ip: r.ips.first().cloned().unwrap_or_default(),
            additional_ips: r.ips.iter().skip(1).map(|ip| cri::PodIp { ip: ip.clone() }).collect(),
        }),
        linux: Some(cri::LinuxPodSandboxStatus {
            namespaces: Some(cri::Namespace {
                options: Some(cri::NamespaceOption {
                    network: ns_mode_back(n.network),
                    pid: ns_mode_back(n.pid),
                    ipc: ns_mode_back(n.ipc),
                    target_id: n.target_id.clone(),
                    userns_options: Some(user_namespace_back(n.user.as_ref())),
                }),
            }),
        }),
        labels: r.config.labels.clone().into_iter().collect(),
        annotations: r.config.annotations.clone().into_iter().collect(),
        runtime_handler: r.config.runtime_handler.clone(),
    }
}
