//! A container as Docker shows it: the list's summary and inspect's
//! document (its state's names, network settings, mounts and health), from
//! the engine's record.

use berth_docker_api::container::{
    Config, EndpointIpamConfig, HealthConfig, HostConfig, RestartPolicy, Summary,
    SummaryHostConfig, SummaryNetworkSettings, Ulimit,
};
use berth_docker_api::inspect::{
    ContainerInspect, EndpointSettings, Health, HealthcheckResult, MountPoint, NetworkSettings,
    State,
};
use berth_engine::model::ContainerRecord;
use berth_engine::{Engine, Status};
use std::collections::BTreeMap;

pub(crate) fn state_name(c: &ContainerRecord) -> &'static str {
    match c.state.status {
        Status::Running if c.state.paused => "paused",
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited if c.state.restarting => "restarting",
        Status::Exited => "exited",
        Status::Unknown | Status::Quarantined => "dead",
    }
}

/// The container's network as Docker shows it: the mode, and its
/// `NetworkSettings` (the address on the default bridge, if it has one).
fn network(engine: &Engine, c: &ContainerRecord) -> (String, NetworkSettings) {
    let mac = c.config.mac_address.map(|m| m.to_string()).unwrap_or_default();
    let only = |name: &str| NetworkSettings {
        networks: BTreeMap::from([(name.to_owned(), EndpointSettings::default())]),
        ..Default::default()
    };
    if c.config.network == berth_engine::model::ContainerNetwork::Host {
        return ("host".into(), only("host"));
    }
    if let berth_engine::model::ContainerNetwork::Container { target } = &c.config.network {
        return (format!("container:{target}"), NetworkSettings::default());
    }
    if !c.config.network.bridged() {
        return ("none".into(), only("none"));
    }
    // Its user networks' endpoints (on the default bridge: the ones connected since).
    let mut networks = BTreeMap::new();
    for l in c.config.network.links() {
        let Ok(n) = engine.network(&l.network) else { continue };
        let mut aliases = l.aliases.clone();
        aliases.push(c.id[..12].to_owned());
        let e = EndpointSettings {
            network_id: n.id,
            ip_address: l.address.map(|a| a.to_string()).unwrap_or_default(),
            ip_prefix_len: n.subnet.prefix,
            gateway: n.gateway.to_string(),
            aliases: Some(aliases),
            mac_address: if l.ifname == "eth0" { mac.clone() } else { String::new() },
            ipam_config: l.ip.map(|ip| EndpointIpamConfig { ipv4_address: ip.to_string() }),
            ..Default::default()
        };
        networks.insert(n.name, e);
    }
    if let Some(own) = c.config.network.own_link() {
        let mode = engine.network(&own.network).map(|n| n.name).unwrap_or_default();
        // (Docker's top-level address fields are the default bridge's only.)
        return (mode, NetworkSettings { networks, ..Default::default() });
    }
    let addr = engine
        .container_ips(c)
        .into_iter()
        .find(|ip| !ip.contains(':'))
        .map(|ip| ip.split('/').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let bridge = &engine.config().bridge;
    let (gateway, prefix) = match (addr.is_empty(), bridge.gateway(), bridge.range()) {
        (false, Some(g), Some((_, p))) => (g.to_string(), p),
        _ => (String::new(), 0),
    };
    let endpoint = EndpointSettings {
        ip_address: addr.clone(),
        ip_prefix_len: prefix,
        gateway: gateway.clone(),
        network_id: "bridge".into(),
        mac_address: mac.clone(),
        ..Default::default()
    };
    networks.insert("bridge".into(), endpoint);
    let settings = NetworkSettings {
        ip_address: addr,
        ip_prefix_len: prefix,
        gateway,
        mac_address: mac,
        networks,
        ..Default::default()
    };
    ("default".into(), settings)
}

/// The container's mounts as Docker lists them: volumes, binds, tmpfs.
fn mounts(c: &ContainerRecord) -> Vec<MountPoint> {
    let cfg = &c.config;
    let mut out: Vec<MountPoint> = cfg
        .mounts
        .iter()
        .map(|m| {
            let volume = cfg.volume_at(&m.container_path);
            MountPoint {
                kind: if volume.is_some() { "volume" } else { "bind" }.into(),
                name: volume.map(|v| v.name.clone()).unwrap_or_default(),
                source: m.host_path.display().to_string(),
                destination: m.container_path.display().to_string(),
                driver: if volume.is_some() { "local".into() } else { String::new() },
                mode: String::new(),
                rw: !m.readonly,
                propagation: if volume.is_some() { "" } else { m.propagation.option() }.into(),
            }
        })
        .collect();
    out.extend(cfg.tmpfs.iter().map(|t| MountPoint {
        kind: "tmpfs".into(),
        destination: t.container_path.display().to_string(),
        mode: t.options.join(","),
        rw: !t.options.iter().any(|o| o == "ro"),
        ..Default::default()
    }));
    out
}

/// The container's health, as Docker names it: `none` without a healthcheck.
pub(crate) fn health_name(engine: &Engine, c: &ContainerRecord) -> &'static str {
    match engine.health(&c.id).ok().flatten() {
        Some(h) if c.config.healthcheck.is_some() && c.state.status == Status::Running => {
            h.status.as_str()
        }
        _ => "none",
    }
}

/// Docker's STATUS, with the health of a running container that has a healthcheck.
fn status_text(engine: &Engine, c: &ContainerRecord, now: std::time::SystemTime) -> String {
    let text = c.status_text(now);
    match health_name(engine, c) {
        "none" => text,
        "starting" => format!("{text} (health: starting)"),
        h => format!("{text} ({h})"),
    }
}

/// `State.Health` of inspect.
fn health_doc(engine: &Engine, c: &ContainerRecord) -> Option<Health> {
    c.config.healthcheck.as_ref()?;
    let h = engine.health(&c.id).ok().flatten().unwrap_or_default();
    Some(Health {
        status: h.status.as_str().into(),
        failing_streak: h.failing_streak,
        log: h
            .log
            .iter()
            .map(|p| HealthcheckResult {
                start: time_or_zero(p.start),
                end: time_or_zero(p.end),
                exit_code: p.exit_code.into(),
                output: p.output.clone(),
            })
            .collect(),
    })
}

pub(crate) fn summary(engine: &Engine, c: &ContainerRecord, now: std::time::SystemTime) -> Summary {
    let (mode, settings) = network(engine, c);
    Summary {
        id: c.id.clone(),
        names: vec![format!("/{}", c.name)],
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        command: c.config.args.join(" "),
        created: c.created_at / 1_000_000_000,
        ports: crate::ports::summary(&c.config),
        size_rw: None,
        size_root_fs: None,
        labels: Some(c.config.labels.clone()),
        state: state_name(c).into(),
        status: status_text(engine, c, now),
        host_config: SummaryHostConfig { network_mode: mode },
        network_settings: SummaryNetworkSettings { networks: Some(settings.networks) },
        mounts: mounts(c),
    }
}

fn time_or_zero(nanos: i64) -> String {
    if nanos <= 0 {
        "0001-01-01T00:00:00Z".into()
    } else {
        berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(nanos))
    }
}

/// Docker's inspect document of a container (the parts berth has).
pub(crate) fn inspect(engine: &Engine, c: &ContainerRecord) -> ContainerInspect {
    let s = &c.state;
    let running = s.status == Status::Running;
    let restart = &c.config.restart;
    let cfg = &c.config;
    let r = &cfg.resources;
    let (mode, mut settings) = network(engine, c);
    settings.ports = crate::ports::settings(cfg);
    let binds = cfg
        .mounts
        .iter()
        .filter(|m| cfg.volume_at(&m.container_path).is_none())
        .map(|m| {
            let ro = if m.readonly { ":ro" } else { "" };
            format!("{}:{}{ro}", m.host_path.display(), m.container_path.display())
        })
        .collect();
    let host_config = HostConfig {
        network_mode: mode,
        auto_remove: cfg.auto_remove,
        init: Some(cfg.init),
        dns: Some(cfg.dns.servers.iter().map(ToString::to_string).collect()),
        dns_search: Some(cfg.dns.search.clone()),
        dns_options: Some(cfg.dns.options.clone()),
        extra_hosts: Some(cfg.extra_hosts.iter().map(|h| format!("{}:{}", h.name, h.ip)).collect()),
        privileged: cfg.security.privileged,
        readonly_rootfs: cfg.read_only,
        cap_add: Some(cfg.security.cap_add.clone()),
        cap_drop: Some(cfg.security.cap_drop.clone()),
        memory: r.memory_bytes,
        cpu_shares: r.cpu_shares as i64,
        cpu_quota: r.cpu_quota,
        cpu_period: r.cpu_period as i64,
        cpuset_cpus: r.cpuset_cpus.clone(),
        pids_limit: Some(r.pids_limit),
        binds: Some(binds),
        tmpfs: Some(
            cfg.tmpfs
                .iter()
                .map(|t| (t.container_path.display().to_string(), t.options.join(",")))
                .collect(),
        ),
        ulimits: Some(
            cfg.ulimits
                .iter()
                .map(|u| Ulimit { name: u.name.clone(), soft: u.soft as i64, hard: u.hard as i64 })
                .collect(),
        ),
        restart_policy: RestartPolicy {
            name: restart.name().into(),
            maximum_retry_count: restart.max_retries().into(),
        },
        port_bindings: Some(crate::ports::bindings(cfg)),
        publish_all_ports: cfg.publish_all,
        ..Default::default()
    };
    let config = Config {
        hostname: cfg.hostname.clone(),
        mac_address: cfg.mac_address.map(|m| m.to_string()).unwrap_or_default(),
        user: cfg.user.clone(),
        tty: cfg.stdio.tty,
        open_stdin: cfg.stdio.stdin,
        stdin_once: cfg.stdio.stdin_once,
        env: Some(cfg.env.clone()),
        cmd: Some(cfg.cmd.clone()),
        entrypoint: (!cfg.entrypoint.is_empty()).then(|| cfg.entrypoint.clone()),
        image: c.image.clone(),
        working_dir: cfg.working_dir.clone(),
        labels: Some(cfg.labels.clone()),
        stop_signal: cfg.stop_signal.name().into(),
        stop_timeout: cfg.stop_timeout.map(|t| t as i64),
        exposed_ports: Some(crate::ports::exposed(cfg)),
        healthcheck: cfg.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(h.interval_ns as i64),
            timeout: Some(h.timeout_ns as i64),
            start_period: Some(h.start_period_ns as i64),
            start_interval: Some(h.start_interval_ns as i64),
            retries: Some(h.retries.into()),
        }),
        ..Default::default()
    };
    let doc = ContainerInspect {
        id: c.id.clone(),
        created: time_or_zero(c.created_at),
        path: cfg.args.first().cloned().unwrap_or_default(),
        args: cfg.args.iter().skip(1).cloned().collect(),
        state: State {
            status: state_name(c).into(),
            // As dockerd: a container waiting for its restart runs.
            running: running || s.restarting,
            paused: s.paused,
            restarting: s.restarting,
            oom_killed: s.oom_killed,
            dead: matches!(s.status, Status::Unknown | Status::Quarantined),
            pid: if running { s.pid.into() } else { 0 },
            exit_code: s.exit_code.into(),
            error: s.error.clone(),
            started_at: time_or_zero(s.started_at),
            finished_at: time_or_zero(s.finished_at),
            health: health_doc(engine, c),
        },
        image: c.image_id.clone(),
        name: format!("/{}", c.name),
        log_path: engine.log_path(c).map(|p| p.display().to_string()).unwrap_or_default(),
        restart_count: s.restart_count,
        driver: "overlay".into(),
        platform: "linux".into(),
        host_config,
        config,
        network_settings: settings,
        mounts: mounts(c),
        ..Default::default()
    };
    doc
}
