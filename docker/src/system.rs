//! `/_ping`, `/version`, `/info`: what clients ask first, the version
//! negotiation (the `Api-Version` header on every answer) and `docker info`.

use crate::error::ApiResult;
use crate::http::{self, Body, Req};
use crate::version::{CURRENT, MIN};
use berth_engine::{Engine, Status};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

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
    http::json(
        StatusCode::OK,
        &json!({
            "Platform": { "Name": "berth" },
            "Components": [{ "Name": "Engine", "Version": v, "Details": { "ApiVersion": CURRENT.to_string(), "MinAPIVersion": MIN.to_string(), "Os": "linux", "Arch": berth_engine::seccomp::go_arch(), "KernelVersion": kernel } }],
            "Version": v,
            "ApiVersion": CURRENT.to_string(),
            "MinAPIVersion": MIN.to_string(),
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": berth_engine::seccomp::go_arch(),
            "KernelVersion": kernel,
            "BuildTime": "",
        }),
    )
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
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "ID": "",
            "Containers": containers.len(),
            "ContainersRunning": count(Status::Running),
            "ContainersPaused": 0,
            "ContainersStopped": containers.len() - count(Status::Running),
            "Images": engine.images().list().len(),
            "Driver": "overlay",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": { "Volume": [], "Network": ["host", "none"], "Log": ["json-file"] },
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "OomKillDisable": false,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": berth_proto::time::rfc3339_nanos(std::time::SystemTime::now()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if cgroup.contains("unified") || cgroup == "Unified" { "2" } else { "1" },
            "KernelVersion": kernel,
            "OperatingSystem": os_name(),
            "OSType": "linux",
            "Architecture": machine,
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem,
            "DockerRootDir": engine.config().root.display().to_string(),
            "Name": host,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": { "berth": { "path": engine.config().shim_path.display().to_string() } },
            "DefaultRuntime": "berth",
            "Swarm": { "LocalNodeState": "inactive", "ControlAvailable": false, "NodeID": "", "NodeAddr": "" },
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "RegistryConfig": { "IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": [] },
            "Warnings": [],
        }),
    ))
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

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthConfig {
    username: String,
    password: String,
    serveraddress: String,
    identitytoken: String,
    registrytoken: String,
}

/// `POST /auth` (`docker login`): checks the credentials against the
/// registry. berthd keeps nothing: the client stores them, as with dockerd.
pub async fn auth(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let a: AuthConfig = req.json().await?;
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
    engine.images().login(server, creds).await.map_err(|e| match e {
        berth_engine::Error::Unauthenticated(m) | berth_engine::Error::PermissionDenied(m) => {
            crate::error::ApiError::new(StatusCode::UNAUTHORIZED, m)
        }
        other => other.into(),
    })?;
    Ok(http::json(StatusCode::OK, &json!({ "Status": "Login Succeeded", "IdentityToken": "" })))
}

/// `GET /system/df`: images (with how many containers use each),
/// containers (their writable layers), volumes (size, how many use each),
/// no build cache yet.
pub async fn df(engine: &Engine) -> ApiResult<Response<Body>> {
    let containers = crate::containers::docker_front(engine.list(true)?);
    let all = engine.list(true)?;
    let images: Vec<serde_json::Value> = engine
        .images()
        .list()
        .iter()
        .map(|i| {
            let used = all.iter().filter(|c| c.image_id == i.id).count();
            json!({
                "Id": i.id,
                "ParentId": "",
                "RepoTags": i.repo_tags.iter().map(|t| berth_engine::image::reference::familiar(t)).collect::<Vec<_>>(),
                "RepoDigests": i.repo_digests.iter().map(|d| berth_engine::image::reference::familiar(d)).collect::<Vec<_>>(),
                "Created": i.created_unix_nanos / 1_000_000_000,
                "Size": i.size,
                "SharedSize": 0,
                "VirtualSize": i.size,
                "Labels": i.config.labels,
                "Containers": used,
            })
        })
        .collect();
    let layers: u64 = engine.images().list().iter().map(|i| i.size).sum();
    let mut volumes = Vec::new();
    for v in engine.volumes()? {
        let mut doc = crate::volumes::document(engine, &v);
        let size = engine.volume_size(&v.name).await?;
        doc["UsageData"] = json!({ "Size": size, "RefCount": all.iter().filter(|c| c.config.volumes.iter().any(|u| u.name == v.name)).count() });
        volumes.push(doc);
    }
    let sizes = engine.container_stats(containers.clone()).await?;
    let now = std::time::SystemTime::now();
    let ctrs: Vec<serde_json::Value> = containers
        .iter()
        .zip(sizes)
        .map(|(c, s)| {
            let mut v = crate::containers::summary(engine, c, now);
            v["SizeRw"] = json!(s.writable.bytes);
            v["SizeRootFs"] = json!(s.writable.bytes);
            v
        })
        .collect();
    Ok(http::json(
        hyper::StatusCode::OK,
        &json!({ "LayersSize": layers, "Images": images, "Containers": ctrs, "Volumes": volumes, "BuildCache": [] }),
    ))
}
