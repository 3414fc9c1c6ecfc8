//! Containers as Docker clients see them. Only the Docker front's own: the
//! CRI's pod containers are kept apart, as nerdctl keeps namespaces apart.
//! List, create (`create.rs`), start, stop, restart, kill, wait, remove,
//! inspect and logs; attach (`attach.rs`) and exec (`exec.rs`) hijack the
//! connection (`hijack.rs`).

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::container::EndpointIpamConfig;
use berth_docker_api::container::{
    Config, CreateResponse, HealthConfig, HostConfig, PruneResponse, RestartPolicy, Summary,
    SummaryHostConfig, SummaryNetworkSettings, Ulimit, WaitResponse,
};
use berth_docker_api::inspect::{
    ContainerInspect, EndpointSettings, Health, HealthcheckResult, MountPoint, NetworkSettings,
    State,
};
use berth_engine::model::ContainerRecord;
use berth_engine::{Engine, Status};
use hyper::{Response, StatusCode};
use std::collections::BTreeMap;

/// The containers Docker clients see: not the CRI's.
pub fn docker_front(all: Vec<ContainerRecord>) -> Vec<ContainerRecord> {
    all.into_iter().filter(|c| c.config.pod.is_none()).collect()
}

fn state_name(c: &ContainerRecord) -> &'static str {
    match c.state.status {
        Status::Running if c.state.paused => "paused",
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited if c.state.restarting => "restarting",
        Status::Exited => "exited",
        Status::Unknown | Status::Quarantined => "dead",
    }
}

/// An endpoint with no address (host, none).
fn bare_endpoint() -> EndpointSettings {
    EndpointSettings::default()
}

/// The container's network as Docker shows it: the mode, and its
/// `NetworkSettings` (the address on the default bridge, if it has one).
fn network(engine: &Engine, c: &ContainerRecord) -> (String, NetworkSettings) {
    let mac = c.config.mac_address.map(|m| m.to_string()).unwrap_or_default();
    let only = |name: &str| NetworkSettings {
        networks: BTreeMap::from([(name.to_owned(), bare_endpoint())]),
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
fn health_name(engine: &Engine, c: &ContainerRecord) -> &'static str {
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

/// `GET /containers/json`: running ones, or all with `all`; `limit`;
/// filters `id`, `name`, `status`, `label`, `exited`, `ancestor`, `before`,
/// `since`. berth's own `namespaces=all`
/// (`berth ps --all-namespaces`) adds the CRI's pod containers.
pub fn list(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    if let Some(k) = filters.keys().find(|k| {
        !["id", "name", "status", "label", "exited", "ancestor", "before", "since", "health"]
            .contains(&k.as_str())
    }) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    if let Some(v) = filters.get("status").into_iter().flatten().find(|v| {
        !["created", "restarting", "running", "removing", "paused", "exited", "dead"]
            .contains(&v.as_str())
    }) {
        return Err(ApiError::bad_request(format!("Unrecognised filter value for status: {v}")));
    }
    let every = engine.list(true)?;
    // before/since: relative to another container's creation.
    let created_of = |key: &str| -> ApiResult<Option<i64>> {
        match filters.get(key).and_then(|v| v.first()) {
            Some(n) => Ok(Some(find(engine, n)?.created_at)),
            None => Ok(None),
        }
    };
    let (before, since) = (created_of("before")?, created_of("since")?);
    let mut found =
        if req.query("namespaces") == Some("all") { every } else { docker_front(every) };
    if !req.flag("all") && !filters.contains_key("status") && !filters.contains_key("exited") {
        found.retain(|c| c.state.status == Status::Running || c.state.restarting);
    }
    // As dockerd: one of the values of a key, but every label.
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        filters.get(key).is_none_or(|vals| vals.iter().any(|v| f(v)))
    };
    let all = |key: &str, f: &dyn Fn(&str) -> bool| {
        filters.get(key).is_none_or(|vals| vals.iter().all(|v| f(v)))
    };
    found.retain(|c| {
        any("id", &|v| c.id.starts_with(v))
            && any("name", &|v| c.name.contains(v.trim_start_matches('/')))
            && any("status", &|v| v == state_name(c))
            && any("health", &|v| v == health_name(engine, c))
            && any("exited", &|v| {
                c.state.status == Status::Exited && v.parse() == Ok(c.state.exit_code)
            })
            && any("ancestor", &|v| {
                c.image == v
                    || c.image_id
                        .trim_start_matches("sha256:")
                        .starts_with(v.trim_start_matches("sha256:"))
                    || c.image.strip_suffix(":latest") == Some(v)
            })
            && before.is_none_or(|t| c.created_at < t)
            && since.is_none_or(|t| c.created_at > t)
            && all("label", &|v| match v.split_once('=') {
                Some((k, val)) => c.config.labels.get(k).is_some_and(|x| x == val),
                None => c.config.labels.contains_key(v),
            })
    });
    found.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    if let Some(n) = req.query("limit").and_then(|l| l.parse::<usize>().ok()).filter(|n| *n > 0) {
        found.truncate(n);
    }
    let now = std::time::SystemTime::now();
    let list: Vec<Summary> = found.iter().map(|c| summary(engine, c, now)).collect();
    Ok(http::json(StatusCode::OK, &list))
}

/// A Docker-front container by id, id prefix or name; the CRI's are not found.
pub(crate) fn find(engine: &Engine, key: &str) -> ApiResult<ContainerRecord> {
    match engine.inspect(key) {
        Ok(r) if r.config.pod.is_none() => Ok(r),
        Ok(_) => Err(crate::error::no_such_container(key)),
        Err(e) => Err(crate::error::container(e, key)),
    }
}

/// `POST /containers/create?name=`.
pub async fn create(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let body: berth_docker_api::container::CreateRequest = req.json().await?;
    let name =
        req.query("name").filter(|n| !n.is_empty()).map(|n| n.trim_start_matches('/').to_owned());
    let opts = crate::create::options(body, name)?;
    let image = opts.image.clone();
    // The CLI answers a 404 from create with a pull and a retry: a missing
    // image is one; a container or network the request names is a bad parameter.
    let id = engine.create(opts).await.map_err(|e| crate::error::create(e, &image))?;
    Ok(http::json(StatusCode::CREATED, &CreateResponse { id, warnings: Vec::new() }))
}

/// `POST /containers/{id}/start`: 304 when it already runs.
pub async fn start(engine: &Engine, key: &str) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    if c.state.status == Status::Running {
        return Ok(http::empty(StatusCode::NOT_MODIFIED));
    }
    if let Err(e) = engine.start(&c.id).await {
        // As dockerd: an auto-removed container that can't start is gone too.
        if c.config.auto_remove {
            let _ = engine.remove(&c.id, true).await;
        }
        return Err(e.into());
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/stop?t=`: 304 when it isn't running.
pub async fn stop(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    // A container waiting for its restart is stopped by ending the wait.
    if c.state.status != Status::Running && !c.state.restarting {
        return Ok(http::empty(StatusCode::NOT_MODIFIED));
    }
    engine.stop(&c.id, stop_timeout(req)).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `t`: seconds to wait after the stop signal; absent or negative: the container's own.
fn stop_timeout(req: &Req) -> Option<std::time::Duration> {
    req.query("t")
        .or(req.query("timeout"))
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|t| *t >= 0)
        .map(|t| std::time::Duration::from_secs(t as u64))
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    engine.restart(&c.id, stop_timeout(req)).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=`: 409 when it isn't running.
pub async fn kill(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    // As dockerd: a bad signal is the request's fault, whatever the state.
    let signal = req.query("signal").unwrap_or("");
    if !signal.is_empty() {
        berth_engine::model::StopSignal::parse(signal)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if c.state.restarting {
        // As dockerd: the wait for the restart ends, no signal goes anywhere.
        engine.stop(&c.id, Some(std::time::Duration::ZERO)).await?;
        return Ok(http::empty(StatusCode::NO_CONTENT));
    }
    if c.state.status != Status::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", c.id),
        ));
    }
    engine.kill(&c.id, signal).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/wait?condition=`: the exit code once it holds.
/// As dockerd, the headers go out at once and the body when the condition
/// holds: `docker run` waits for them before it starts the container.
pub async fn wait(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let waiter = engine.waiter(&c.id, req.query("condition").unwrap_or(""))?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let out = tokio::select! {
            out = waiter.wait() => out,
            // The client went away: so does the wait.
            _ = tx.closed() => return,
        };
        let answer = WaitResponse { status_code: out.exit_code.into(), error: None };
        let mut body = serde_json::to_vec(&answer).unwrap_or_default();
        body.push(b'\n');
        let _ = tx.send(bytes::Bytes::from(body)).await;
    });
    Ok(http::stream("application/json", rx))
}

/// `DELETE /containers/{id}?force=`: 409 for a running one without force.
pub async fn remove(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    if c.state.status == Status::Running && !req.flag("force") {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("You cannot remove a running container {}. Stop the container before attempting removal or force remove", c.id)));
    }
    if c.state.restarting && !req.flag("force") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("You cannot remove a restarting container {}. Stop the container before attempting removal or force remove", c.id),
        ));
    }
    // `-v`: its anonymous volumes go with it.
    if req.flag("v") {
        engine.remove_with_volumes(&c.id, req.flag("force")).await?;
    } else {
        engine.remove(&c.id, req.flag("force")).await?;
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

fn time_or_zero(nanos: i64) -> String {
    if nanos <= 0 {
        "0001-01-01T00:00:00Z".into()
    } else {
        berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(nanos))
    }
}

/// `GET /containers/{id}/json`: Docker's inspect document (the parts berth has).
pub fn inspect(engine: &Engine, key: &str) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let s = &c.state;
    let running = s.status == Status::Running;
    let restart = &c.config.restart;
    let cfg = &c.config;
    let r = &cfg.resources;
    let (mode, mut settings) = network(engine, &c);
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
            status: state_name(&c).into(),
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
            health: health_doc(engine, &c),
        },
        image: c.image_id.clone(),
        name: format!("/{}", c.name),
        log_path: engine.log_path(&c).map(|p| p.display().to_string()).unwrap_or_default(),
        restart_count: s.restart_count,
        driver: "overlay".into(),
        platform: "linux".into(),
        host_config,
        config,
        network_settings: settings,
        mounts: mounts(&c),
        ..Default::default()
    };
    Ok(http::json(StatusCode::OK, &doc))
}

/// A time parameter as the CLI sends it: Unix seconds with an optional
/// fraction (`1700000000.5`), or RFC 3339; absent or 0: none.
pub(crate) fn time_param(req: &Req, key: &str) -> ApiResult<Option<i64>> {
    let Some(v) = req.query(key).filter(|v| !v.is_empty() && *v != "0") else { return Ok(None) };
    let bad =
        || ApiError::bad_request(format!("invalid {key} {v:?}: Unix seconds or an RFC 3339 time"));
    if let Some(t) = berth_proto::time::parse_rfc3339_nanos(v) {
        return Ok(Some(t));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 =
        if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
    Ok(Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos)))
}

/// `POST /containers/prune`: every stopped Docker-front container (filters
/// `label`, `until` are refused by name for now).
pub async fn prune(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    if let Some(k) = req.filters()?.keys().next() {
        return Err(ApiError::bad_request(format!(
            "container prune filter {k:?} is not supported by berth yet"
        )));
    }
    let stopped: Vec<ContainerRecord> = docker_front(engine.list(true)?)
        .into_iter()
        .filter(|c| c.state.status != Status::Running)
        .collect();
    let sizes = engine.container_stats(stopped.clone()).await?;
    let (mut deleted, mut reclaimed) = (Vec::new(), 0u64);
    for (c, s) in stopped.iter().zip(sizes) {
        match engine.remove(&c.id, false).await {
            Ok(()) => {
                deleted.push(c.id.clone());
                reclaimed += s.writable.bytes;
            }
            // Started or removed meanwhile: not this prune's.
            Err(berth_engine::Error::NotFound(_) | berth_engine::Error::FailedPrecondition(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(http::json(
        StatusCode::OK,
        &PruneResponse {
            containers_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        },
    ))
}

/// `POST /containers/{id}/pause` and `/unpause`: 409 when it isn't running
/// (or already is as asked).
pub async fn pause(engine: &Engine, key: &str, paused: bool) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    if paused {
        engine.pause(&c.id).await?
    } else {
        engine.unpause(&c.id).await?
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let name = req.query("name").unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::bad_request("Neither old nor new names may be empty"));
    }
    engine.rename(&c.id, name).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `GET /containers/{id}/logs?stdout&stderr&follow&tail&timestamps&since&until`.
pub async fn logs(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let (out, err) = (req.flag("stdout"), req.flag("stderr"));
    if !out && !err {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let (since, until) = (time_param(req, "since")?, time_param(req, "until")?);
    let tail = match req.query("tail") {
        None | Some("" | "all") => None,
        Some(n) => Some(
            n.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid tail {n:?}")))?,
        ),
    };
    let timestamps = req.flag("timestamps");
    // A terminal's output is one raw stream, as dockerd sends it.
    let tty = c.config.stdio.tty;
    let mut records = engine.logs(&c.id, req.flag("follow"), tail, 0).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(r) = records.recv().await {
            let at = berth_proto::time::parse_rfc3339_nanos(&r.timestamp).unwrap_or(0);
            if since.is_some_and(|t| at < t) {
                continue;
            }
            // Past `until`, a follower stops too, as dockerd's does.
            if until.is_some_and(|t| at > t) {
                return;
            }
            let stream = match r.stream {
                berth_proto::crilog::Stream::Stdout if out => 1,
                berth_proto::crilog::Stream::Stderr if err => 2,
                _ => continue,
            };
            let data =
                if timestamps { [r.timestamp.as_bytes(), b" ", &r.data].concat() } else { r.data };
            let chunk = if tty { data.into() } else { crate::hijack::frame(stream, &data) };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    Ok(http::stream(
        if tty {
            "application/vnd.docker.raw-stream"
        } else {
            "application/vnd.docker.multiplexed-stream"
        },
        rx,
    ))
}
