//! `/_ping`, `/version`, `/info`: what clients ask first, the version
//! negotiation (the `Api-Version` header on every answer) and `docker info`.

use crate::error::ApiResult;
use crate::http::{self, Body, Req};
use crate::version::{CURRENT, MIN};
use berth_docker_api::{container, image, system, volume};
use berth_engine::{Engine, Status};
use hyper::{Method, Response, StatusCode};
use std::collections::BTreeMap;

pub fn ping(req: &Req) -> Response<Body> {
    let mut r = http::text(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        if req.method == Method::HEAD { "" } else { "OK" },
    );
    r.headers_mut()
        .insert("Cache-Control", "no-cache, no-store, must-revalidate".parse().expect("ascii"));
    r.headers_mut().insert("Pragma", "no-cache".parse().expect("ascii"));
    r
}

fn uname() -> (String, String) {
    nix::sys::utsname::uname()
        .map(|u| {
            (u.release().to_string_lossy().into_owned(), u.machine().to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

pub fn version() -> Response<Body> {
    let (kernel, _) = uname();
    let v = env!("CARGO_PKG_VERSION");
    let details = BTreeMap::from([
        ("ApiVersion".to_owned(), CURRENT.to_string()),
        ("MinAPIVersion".to_owned(), MIN.to_string()),
        ("Os".to_owned(), "linux".to_owned()),
        ("Arch".to_owned(), berth_engine::seccomp::go_arch().to_owned()),
        ("KernelVersion".to_owned(), kernel.clone()),
    ]);
    let doc = system::Version {
        platform: system::Platform { name: "berth".into() },
        components: vec![system::ComponentVersion {
            name: "Engine".into(),
            version: v.into(),
            details: Some(details),
        }],
        version: v.into(),
        api_version: CURRENT.to_string(),
        min_api_version: MIN.to_string(),
        os: "linux".into(),
        arch: berth_engine::seccomp::go_arch().into(),
        kernel_version: kernel,
        ..Default::default()
    };
    http::json(StatusCode::OK, &doc)
}

pub fn info(engine: &Engine) -> ApiResult<Response<Body>> {
    let containers = crate::containers::docker_front(engine.list(true)?);
    let count = |s: Status| containers.iter().filter(|c| c.state.status == s).count();
    let (kernel, machine) = uname();
    let host =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse::<u64>().unwrap_or(0) * 1024)
            })
        })
        .unwrap_or(0);
    let cgroup = berth_engine::cgroup_setup();
    let running = count(Status::Running);
    let info = system::Info {
        containers: containers.len(),
        containers_running: running,
        containers_stopped: containers.len() - running,
        images: engine.images().list().len(),
        driver: "overlay".into(),
        driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
        plugins: system::Plugins {
            volume: Vec::new(),
            network: vec!["host".into(), "none".into()],
            log: vec!["json-file".into()],
        },
        memory_limit: true,
        swap_limit: true,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        ipv4_forwarding: true,
        system_time: berth_proto::time::rfc3339_nanos(std::time::SystemTime::now()),
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: if cgroup.contains("unified") || cgroup == "Unified" { "2" } else { "1" }
            .into(),
        kernel_version: kernel,
        operating_system: os_name(),
        os_type: "linux".into(),
        architecture: machine,
        ncpu: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        mem_total: mem,
        docker_root_dir: engine.config().root.display().to_string(),
        name: host,
        server_version: env!("CARGO_PKG_VERSION").into(),
        runtimes: BTreeMap::from([(
            "berth".to_owned(),
            system::Runtime { path: engine.config().shim_path.display().to_string() },
        )]),
        default_runtime: "berth".into(),
        swarm: system::SwarmInfo { local_node_state: "inactive".into(), ..Default::default() },
        live_restore_enabled: true,
        security_options: vec!["name=seccomp,profile=builtin".into()],
        registry_config: system::RegistryConfig {
            insecure_registry_cidrs: vec!["127.0.0.0/8".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    Ok(http::json(StatusCode::OK, &info))
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

/// `POST /auth` (`docker login`): checks the credentials against the
/// registry. berthd keeps nothing: the client stores them, as with dockerd.
pub async fn auth(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let a: system::AuthConfig = req.json().await?;
    let server = a
        .serveraddress
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2");
    let server =
        if server.is_empty() || server == "index.docker.io" { "docker.io" } else { server };
    let creds = berth_registry::Credentials::from_fields(
        &a.username,
        &a.password,
        "",
        &a.identitytoken,
        &a.registrytoken,
    )
    .unwrap_or_default();
    engine.images().login(server, creds).await.map_err(crate::error::login)?;
    let answer =
        system::AuthResponse { status: "Login Succeeded".into(), identity_token: String::new() };
    Ok(http::json(StatusCode::OK, &answer))
}

/// `GET /system/df`: images (with how many containers use each),
/// containers (their writable layers), volumes (size, how many use each),
/// the build cache's records.
pub async fn df(engine: &Engine, builder: &berth_builder::Builder) -> ApiResult<Response<Body>> {
    let containers = crate::containers::docker_front(engine.list(true)?);
    let all = engine.list(true)?;
    let images: Vec<image::Summary> = engine
        .images()
        .list()
        .iter()
        .map(|i| image::Summary {
            shared_size: 0,
            containers: all.iter().filter(|c| c.image_id == i.id).count() as i64,
            ..crate::images::summary(i)
        })
        .collect();
    let layers: u64 = engine.images().list().iter().map(|i| i.size).sum();
    let mut volumes = Vec::new();
    for v in engine.volumes()? {
        let mut doc = crate::volumes::document(engine, &v);
        let size = engine.volume_size(&v.name).await?;
        let users = all.iter().filter(|c| c.config.volumes.iter().any(|u| u.name == v.name));
        doc.usage_data =
            Some(volume::UsageData { size: size as i64, ref_count: users.count() as i64 });
        volumes.push(doc);
    }
    let sizes = engine.container_stats(containers.clone()).await?;
    let now = std::time::SystemTime::now();
    let ctrs = containers
        .iter()
        .zip(sizes)
        .map(|(c, s)| system_summary(crate::documents::summary(engine, c, now), s.writable.bytes))
        .collect();
    let usage = system::DiskUsage {
        layers_size: layers,
        images,
        containers: ctrs,
        volumes,
        build_cache: crate::build::cache_usage(builder),
    };
    Ok(http::json(hyper::StatusCode::OK, &usage))
}

/// A container's summary with its writable layer's size.
fn system_summary(c: container::Summary, writable: u64) -> container::Summary {
    container::Summary { size_rw: Some(writable as i64), size_root_fs: Some(writable as i64), ..c }
}
