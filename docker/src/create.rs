//! `POST /containers/create`: Docker's `Config` and `HostConfig` as engine
//! create options. What berth can't do yet is refused by its Docker name
//! (a 400 the CLI shows), never dropped: the CLI sends every field, so only
//! values that differ from Docker's defaults count.

use crate::error::{ApiError, ApiResult};
use berth_docker_api::container::{CreateRequest, HealthConfig, PortMap};
use berth_docker_api::EmptyObject;
use berth_engine::container::DockerOptions;
use berth_engine::container::NetworkMode;
use berth_engine::model::{ContainerPort, PortRequest, Resources, Seccomp, Security};
use berth_engine::CreateOptions;
use std::collections::BTreeMap;

/// `Config.ExposedPorts` and `HostConfig.PortBindings` (`{"80/tcp": [{HostIp, HostPort}]}`;
/// `-p 80` comes as one binding without a host port: any free one).
fn ports(
    exposed: Option<&BTreeMap<String, EmptyObject>>,
    bindings: Option<&PortMap>,
) -> ApiResult<(Vec<ContainerPort>, Vec<PortRequest>)> {
    let exposed = exposed
        .into_iter()
        .flatten()
        .map(|(k, _)| k.parse::<ContainerPort>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut publish = Vec::new();
    for (key, list) in bindings.into_iter().flatten() {
        for b in list.iter().flatten() {
            publish.push(PortRequest::from_docker(key, &b.host_ip, &b.host_port)?);
        }
    }
    Ok((exposed, publish))
}

fn refuse(field: &str) -> ApiError {
    ApiError::bad_request(format!("{field} is not supported by berth yet"))
}

fn set<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

fn set_map<K, V>(v: &Option<BTreeMap<K, V>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Checks what berth can't do yet, then the engine's options.
pub fn options(body: CreateRequest, name: Option<String>) -> ApiResult<CreateOptions> {
    let c = body.config;
    let h = &body.host_config;
    // berth's default bridge (docker0's counterpart), the node's network,
    // or the container's own loopback; user-defined networks come later.
    let network = match h.network_mode.as_str() {
        "none" => NetworkMode::None,
        "" | "default" | "bridge" => NetworkMode::Bridge,
        "host" => NetworkMode::Host,
        other if other.starts_with("container:") => {
            NetworkMode::Container(other["container:".len()..].to_owned())
        }
        other => NetworkMode::User(other.to_owned()),
    };
    // The endpoint of the network it starts on (more come with `network connect`).
    let endpoints = body.networking_config.as_ref().and_then(|n| n.endpoints_config.as_ref());
    if endpoints.is_some_and(|e| e.len() > 1) {
        return Err(refuse(
            "NetworkingConfig with more than one network (connect the others after create)",
        ));
    }
    let endpoint = endpoints.and_then(|e| e.values().next());
    let network_aliases = endpoint.and_then(|e| e.aliases.clone()).unwrap_or_default();
    let ip = match endpoint
        .and_then(|e| e.ipam_config.as_ref())
        .map(|i| i.ipv4_address.as_str())
        .filter(|a| !a.is_empty())
    {
        Some(a) => Some(
            a.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {a}")))?,
        ),
        None => None,
    };
    let mac = [c.mac_address.as_str(), endpoint.map_or("", |e| e.mac_address.as_str())]
        .into_iter()
        .find(|m| !m.is_empty());
    let mac_address = mac
        .map(|m| m.parse().map_err(|e: berth_engine::Error| ApiError::bad_request(e.to_string())))
        .transpose()?;
    let checks: [(bool, &str); 11] = [
        (set_map(&h.sysctls), "HostConfig.Sysctls (--sysctl)"),
        (set(&h.devices), "HostConfig.Devices (--device)"),
        (
            !matches!(h.ipc_mode.as_str(), "" | "private" | "shareable"),
            "HostConfig.IpcMode (--ipc)",
        ),
        (!h.pid_mode.is_empty(), "HostConfig.PidMode (--pid)"),
        (!h.uts_mode.is_empty(), "HostConfig.UTSMode (--uts)"),
        (!h.userns_mode.is_empty(), "HostConfig.UsernsMode (--userns)"),
        (set(&h.links), "HostConfig.Links (--link)"),
        (set(&h.group_add), "HostConfig.GroupAdd (--group-add)"),
        (!matches!(h.runtime.as_str(), "" | "berth" | "runc"), "HostConfig.Runtime (--runtime)"),
        (h.memory_swap > 0 && h.memory_swap != h.memory, "HostConfig.MemorySwap (--memory-swap)"),
        (!c.domainname.is_empty(), "Config.Domainname (--domainname)"),
    ];
    if let Some((_, field)) = checks.iter().find(|(bad, _)| *bad) {
        return Err(refuse(field));
    }
    if c.image.is_empty() {
        return Err(ApiError::bad_request("Config.Image is required"));
    }
    let mounts = crate::mounts::Mounts::parse(
        h.binds.as_deref().unwrap_or_default(),
        h.mounts.as_deref().unwrap_or_default(),
        &h.tmpfs.clone().unwrap_or_default(),
        &c.volumes.clone().unwrap_or_default(),
    )?;
    let (exposed_ports, publish) = ports(c.exposed_ports.as_ref(), h.port_bindings.as_ref())?;
    let restart = berth_engine::model::RestartPolicy::from_docker(
        &h.restart_policy.name,
        h.restart_policy.maximum_retry_count,
    )?;
    let mut seccomp = Seccomp::RuntimeDefault;
    let mut no_new_privs = false;
    for opt in h.security_opt.iter().flatten() {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match (k, v) {
            ("seccomp", "unconfined") => seccomp = Seccomp::Unconfined,
            // The docker CLI reads `seccomp=FILE` and sends the profile.
            ("seccomp", profile) if profile.trim_start().starts_with('{') => {
                seccomp = Seccomp::inline(profile)
                    .map_err(|e| ApiError::bad_request(format!("invalid seccomp profile: {e}")))?
            }
            ("no-new-privileges", "" | "true") => no_new_privs = true,
            ("no-new-privileges", "false") => no_new_privs = false,
            _ => return Err(refuse(&format!("security option {opt:?}"))),
        }
    }
    // Docker's --cpus: NanoCpus as a quota over the default period.
    let (cpu_quota, cpu_period) = match h.nano_cpus {
        0 => (h.cpu_quota, h.cpu_period.max(0) as u64),
        n => (n / 10_000, 100_000),
    };
    Ok(CreateOptions {
        name,
        image: c.image,
        entrypoint: c.entrypoint,
        cmd: c.cmd.unwrap_or_default(),
        env: c.env.unwrap_or_default(),
        working_dir: Some(c.working_dir).filter(|w| !w.is_empty()),
        user: Some(c.user).filter(|u| !u.is_empty()),
        hostname: Some(c.hostname).filter(|h| !h.is_empty()),
        resources: Resources {
            memory_bytes: h.memory,
            cpu_quota,
            cpu_period,
            cpu_shares: h.cpu_shares.max(0) as u64,
            pids_limit: h.pids_limit.unwrap_or(0).max(0),
            cpuset_cpus: h.cpuset_cpus.clone(),
            cpuset_mems: h.cpuset_mems.clone(),
            oom_score_adj: (h.oom_score_adj != 0).then_some(h.oom_score_adj),
            ..Default::default()
        },
        read_only: h.readonly_rootfs,
        mounts: mounts.binds,
        // Attach* only say what `docker run` attaches to (attach.rs).
        stdio: berth_engine::container::Stdio {
            stdin: c.open_stdin,
            stdin_once: c.open_stdin && c.stdin_once,
            tty: c.tty,
        },
        labels: c.labels.unwrap_or_default(),
        stop_signal: Some(c.stop_signal).filter(|s| !s.is_empty()),
        ulimits: h
            .ulimits
            .iter()
            .flatten()
            .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
            .collect(),
        security: Security {
            privileged: h.privileged,
            cap_add: h.cap_add.clone().unwrap_or_default(),
            cap_drop: h.cap_drop.clone().unwrap_or_default(),
            no_new_privs,
            seccomp,
            ..Default::default()
        },
        docker: DockerOptions {
            network,
            restart,
            volumes: mounts.volumes,
            tmpfs: mounts.tmpfs,
            healthcheck: c.healthcheck.map(health),
            init: h.init == Some(true),
            dns: berth_engine::model::Dns {
                servers: h
                    .dns
                    .iter()
                    .flatten()
                    .map(|s| {
                        s.parse()
                            .map_err(|_| ApiError::bad_request(format!("{s} is not an ip address")))
                    })
                    .collect::<ApiResult<_>>()?,
                search: h.dns_search.clone().unwrap_or_default(),
                options: h.dns_options.clone().unwrap_or_default(),
            },
            extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
            volumes_from: h.volumes_from.clone().unwrap_or_default(),
            exposed_ports,
            publish,
            publish_all: h.publish_all_ports,
            network_aliases,
            ip,
            mac_address,
            auto_remove: h.auto_remove,
            stop_timeout: c.stop_timeout.filter(|t| *t >= 0).map(|t| t as u64),
        },
        ..Default::default()
    })
}

/// Docker's healthcheck as the engine's (the same fields: given or inherited).
pub(crate) fn health(h: HealthConfig) -> berth_engine::model::HealthConfig {
    berth_engine::model::HealthConfig {
        test: h.test,
        interval: h.interval,
        timeout: h.timeout,
        start_period: h.start_period,
        start_interval: h.start_interval,
        retries: h.retries,
    }
}
