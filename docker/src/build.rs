//! `POST /build`, the classic build API (docker CLI 20.10's default, Docker
//! 28's CLI without buildx, docker-py, docker-compose 1.29): the body is the
//! context as a tar, the query says the rest, and the answer is the JSON
//! stream these clients print — `Step 1/7 : …`, ` ---> Using cache`, the
//! steps' output, `Successfully built`, `Successfully tagged`, the image id
//! as `aux`, or `errorDetail` with a failed step's exit code. Behind it is
//! berth's own builder, not a copy of dockerd's classic one.

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use crate::images::message;
use base64::Engine as _;
use berth_builder::context::Context;
use berth_builder::{BuildError, BuildRequest, Builder, Event};
use berth_docker_api::build::BuildEvent;
use berth_docker_api::progress::{Aux, ErrorDetail, Message};
use berth_docker_api::system::AuthConfig;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

fn json_map<T: serde::de::DeserializeOwned + Default>(req: &Req, key: &str) -> ApiResult<T> {
    match req.query(key).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} parameter: {e}"))),
    }
}

/// `X-Registry-Config`: base64url JSON of registry → auth.
fn registry_config(req: &Req) -> ApiResult<BTreeMap<String, berth_registry::Credentials>> {
    let Some(raw) = req.headers.get("x-registry-config").and_then(|v| v.to_str().ok()) else {
        return Ok(BTreeMap::new());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Config header"))?;
    // The BuildKit path sends `null` (its credentials come over the session).
    let all: Option<HashMap<String, AuthConfig>> = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Config header"))?;
    let all = all.unwrap_or_default();
    Ok(all
        .into_iter()
        .filter_map(|(registry, a)| {
            let c = berth_registry::Credentials::from_fields(
                &a.username,
                &a.password,
                &a.auth,
                &a.identitytoken,
                &a.registrytoken,
            )?;
            let host = registry.trim_start_matches("https://").trim_start_matches("http://");
            let host = host.split('/').next().unwrap_or(host);
            let host = if host == "index.docker.io" { "docker.io" } else { host };
            Some((host.to_owned(), c))
        })
        .collect())
}

/// An integer query parameter (dockerd's build limits).
fn number(req: &Req, key: &str) -> ApiResult<Option<i64>> {
    req.query(key)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().map_err(|_| ApiError::bad_request(format!("invalid {key} {v:?}"))))
        .transpose()
}

/// RUN steps' limits: `memory`, `memswap`, `cpushares`, `cpuperiod`,
/// `cpuquota`, `cpusetcpus`.
fn resources(req: &Req) -> ApiResult<berth_engine::model::Resources> {
    let n = |k| number(req, k).map(|v| v.unwrap_or(0));
    Ok(berth_engine::model::Resources {
        memory_bytes: n("memory")?,
        memory_swap_bytes: n("memswap")?,
        cpu_shares: n("cpushares")?.max(0) as u64,
        cpu_period: n("cpuperiod")?.max(0) as u64,
        cpu_quota: n("cpuquota")?,
        cpuset_cpus: req.query("cpusetcpus").unwrap_or_default().to_owned(),
        ..Default::default()
    })
}

/// The request's settings, checked before the context is read.
fn request(req: &Req) -> ApiResult<(BuildRequest, String, bool)> {
    let session = req.query("version") == Some("2");
    let client_session = |r: &str| session && r == "client-session";
    if req.query("remote").is_some_and(|r| !(r.is_empty() || client_session(r))) {
        return Err(ApiError::bad_request(
            "remote build contexts are not supported by berth: send the context as the body",
        ));
    }
    if session && req.query("session").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("a BuildKit build (version=2) names its session"));
    }
    if req.query("outputs").is_some_and(|o| !o.is_empty() && o != "[]") {
        return Err(ApiError::bad_request(
            "build outputs are not supported by berth's classic API",
        ));
    }
    // The first value, as dockerd reads it (docker-py sends a second one).
    let dockerfile = req.query_all("dockerfile").into_iter().next().filter(|d| !d.is_empty());
    let dockerfile = dockerfile.unwrap_or_else(|| "Dockerfile".into());
    // default (bridge), host, none, or a user-defined network (checked when a RUN joins it).
    let network = req.query("networkmode").unwrap_or("default").to_owned();
    if network.starts_with("container:") {
        return Err(ApiError::bad_request("container network mode is not supported for builds"));
    }
    let build_args: BTreeMap<String, Option<String>> = json_map(req, "buildargs")?;
    let cache_from: Vec<String> = json_map(req, "cachefrom")?;
    let extra_hosts = req
        .query_all("extrahosts")
        .iter()
        .map(|h| match h.split_once(':') {
            Some((name, ip)) if ip.parse::<std::net::IpAddr>().is_ok() => {
                Ok((name.to_owned(), ip.to_owned()))
            }
            _ => Err(ApiError::bad_request(format!("invalid extra host {h:?}: expected name:ip"))),
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let build = BuildRequest {
        tags: req.query_all("t"),
        build_args,
        labels: json_map(req, "labels")?,
        target: req.query("target").map(str::to_owned),
        no_cache: req.flag("nocache"),
        cache_from,
        extra_hosts,
        // dockerd's BoolValue: anything but "", 0, false, no, off, none.
        pull: req.query("pull").is_some_and(|p| {
            !matches!(p.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off" | "none")
        }),
        network: if network == "bridge" { "default".into() } else { network },
        platform: req.query("platform").map(str::to_owned),
        credentials: registry_config(req)?,
        resources: resources(req)?,
        shm_size: number(req, "shmsize")?.unwrap_or(0).max(0) as u64,
        // berth build's `--allow` (the classic clients send none).
        allow: req.query_all("allow"),
        ..Default::default()
    };
    for t in &build.tags {
        berth_registry::Reference::parse(t)
            .map_err(|e| ApiError::bad_request(format!("invalid reference format: {t}: {e}")))?;
    }
    Ok((build, dockerfile, req.flag("q")))
}

fn line(text: impl Into<String>) -> Bytes {
    message(&Message::stream(text))
}

/// How the answer words a build's events: the classic stream dockerd
/// writes (the docker CLI, docker-py, compose), or berth's typed events
/// (`berth build`, which draws them as BuildKit does).
#[derive(Debug)]
enum Wording {
    Classic {
        quiet: bool,
    },
    Berth,
    /// BuildKit's progress (the docker CLI's `DOCKER_BUILDKIT=1` path).
    Trace(crate::build_v2::Trace),
}

impl Wording {
    fn event(&mut self, e: Event) -> Option<Bytes> {
        match self {
            Wording::Trace(t) => t.event(e),
            Wording::Classic { quiet: true } => None,
            Wording::Classic { quiet: false } => Some(line(match e {
                Event::Step { number, total, text, .. } => {
                    format!("Step {number}/{total} : {text}\n")
                }
                Event::Cached { .. } => " ---> Using cache\n".into(),
                // As dockerd's classic builder shows a step's stderr: in red.
                Event::Output { text, stderr: true, .. } => format!("\x1b[91m{text}\n\x1b[0m"),
                Event::Output { text, stderr: false, .. } => format!("{text}\n"),
                Event::StepDone { id, .. } => format!(" ---> {id}\n"),
                Event::Warning(w) => format!("{w}\n"),
            })),
            Wording::Berth => Some(event_line(&match e {
                Event::Step { number, total, text, label, line } => {
                    BuildEvent::Step { number, total, label, text, line }
                }
                Event::Cached { number } => BuildEvent::Cached { number },
                Event::Output { number, text, stderr } => {
                    BuildEvent::Output { number, text, stderr }
                }
                Event::StepDone { number, id } => BuildEvent::Done { number, id },
                Event::Warning(text) => BuildEvent::Warning { text },
            })),
        }
    }

    fn built(self, b: berth_builder::Built) -> Vec<Bytes> {
        let aux = Message {
            aux: Some(Aux { id: Some(b.id.clone()), ..Default::default() }),
            ..Default::default()
        };
        match self {
            Wording::Trace(t) => t.built(b),
            Wording::Berth => vec![event_line(&BuildEvent::Built { id: b.id, tags: b.tags })],
            Wording::Classic { quiet: true } => {
                vec![message(&aux), line(format!("{}\n", b.id))]
            }
            Wording::Classic { quiet: false } => {
                let mut out = vec![
                    message(&aux),
                    line(format!("Successfully built {}\n", crate::images::short(&b.id))),
                ];
                out.extend(b.tags.iter().map(|t| line(format!("Successfully tagged {t}\n"))));
                out
            }
        }
    }

    fn failed(&self, e: &BuildError) -> Vec<Bytes> {
        let (code, step) = match e {
            BuildError::StepFailed { code, step, .. } => (Some(*code as i64), Some(*step)),
            _ => (None, None),
        };
        let m = e.to_string();
        match self {
            Wording::Trace(t) => t.failed(e),
            Wording::Berth => vec![event_line(&BuildEvent::Failed { message: m, code, step })],
            Wording::Classic { .. } => vec![message(&Message {
                error_detail: Some(ErrorDetail { code, message: m.clone() }),
                error: m,
                ..Default::default()
            })],
        }
    }
}

fn event_line(e: &BuildEvent) -> Bytes {
    let mut v = serde_json::to_vec(e).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// Builds a client named (`buildid`), for `POST /build/cancel?id=`.
#[derive(Debug, Default)]
pub(crate) struct Named {
    running: std::sync::Mutex<HashMap<String, tokio_util::sync::CancellationToken>>,
}

impl Named {
    fn insert(&self, id: &str, cancel: tokio_util::sync::CancellationToken) {
        if let Ok(mut r) = self.running.lock() {
            r.insert(id.to_owned(), cancel);
        }
    }

    fn remove(&self, id: &str) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(id);
        }
    }
}

/// `POST /build/cancel?id=`: the build stops as if its client had gone
/// (the docker CLI's BuildKit path sends it on Ctrl-C); an unknown id is no error.
pub fn cancel(named: &Named, req: &Req) -> Response<Body> {
    let id = req.query("id").unwrap_or_default();
    if let Some(c) = named.running.lock().ok().and_then(|r| r.get(id).cloned()) {
        c.cancel();
    }
    http::empty(StatusCode::OK)
}

/// Where a build's files are, held until it ends: a context extracted
/// for it (removed after), or a kept one (`berthcontext`, read-locked).
pub(crate) enum Held {
    Fresh(Context),
    Kept(tokio::sync::OwnedRwLockReadGuard<()>),
}

/// The classic body: the context as a tar, the Dockerfile in it.
async fn fresh(
    builder: &Arc<Builder>,
    req: &mut Req,
    dockerfile: String,
) -> ApiResult<(Held, String)> {
    // The whole context is read before the answer starts (a client still
    // sending must not see its request answered).
    let mut upload = req.body_stream();
    let chunks = upload.chunks();
    let hint = format!("{:?} {dockerfile}", req.query_all("t"));
    let b = builder.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let ctx = b.context_from_tar(&hint, berth_engine::bridge::ChunkReader::new(chunks))?;
        let text = ctx.read(&dockerfile)?.ok_or_else(|| {
            BuildError::Invalid(format!("Cannot locate specified Dockerfile: {dockerfile}"))
        })?;
        ctx.apply_ignore()?;
        Ok::<_, BuildError>((ctx, text))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    upload.finished().await;
    let (ctx, text) = prepared.map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((Held::Fresh(ctx), text))
}

/// berth's body: the Dockerfile's text and the secrets, the context kept
/// (synced by diff).
async fn kept(
    builder: &Arc<Builder>,
    req: &mut Req,
    id: &str,
    build: &mut BuildRequest,
) -> ApiResult<(Held, String)> {
    let lock = builder.kept().lock(id)?;
    let inputs: berth_docker_api::build::BuildInputs = req.json().await?;
    for s in inputs.secrets {
        let data = base64::engine::general_purpose::STANDARD
            .decode(s.data.as_bytes())
            .map_err(|_| ApiError::bad_request(format!("secret {}: invalid base64", s.id)))?;
        build.secrets.insert(s.id, berth_builder::Secret(data));
    }
    let held = lock.read_owned().await;
    if !builder.kept().dir(id).is_dir() {
        return Err(ApiError::bad_request(format!("no kept context {id}: sync it first")));
    }
    Ok((Held::Kept(held), inputs.dockerfile))
}

/// `POST /build`.
pub async fn build(
    builder: &Arc<Builder>,
    sessions: &crate::session::Sessions,
    named: &Arc<Named>,
    req: &mut Req,
) -> ApiResult<Response<Body>> {
    let build_id = req.query("buildid").filter(|b| !b.is_empty()).map(str::to_owned);
    let (mut build, dockerfile, quiet) = request(req)?;
    let session = req.query("session").filter(|_| req.query("version") == Some("2"));
    let session = session.map(str::to_owned);
    let (held, text) = match req.query("berthcontext").map(str::to_owned) {
        Some(id) => {
            build.context = builder.kept().dir(&id);
            let (held, text) = kept(builder, req, &id, &mut build).await?;
            // berth build's session: the ssh agents it forwards.
            if let Some(sid) = req.query("session").filter(|s| !s.is_empty()) {
                let s = sessions
                    .get(sid)
                    .await
                    .ok_or_else(|| ApiError::bad_request(format!("no active session for {sid}")))?;
                crate::build_v2::ssh_agents(&s, &text, &mut build).await?;
            }
            (held, text)
        }
        None if session.is_some() => {
            let id = session.as_deref().unwrap_or_default();
            crate::build_v2::from_session(builder, sessions, id, &dockerfile, &mut build).await?
        }
        None => {
            let (held, text) = fresh(builder, req, dockerfile).await?;
            if let Held::Fresh(ctx) = &held {
                build.context = ctx.dir().to_path_buf();
            }
            (held, text)
        }
    };
    build.dockerfile = text;

    let mut wording = match (&held, &session) {
        (Held::Kept(_), _) => Wording::Berth,
        (Held::Fresh(_), Some(_)) => Wording::Trace(crate::build_v2::Trace::new(quiet)),
        (Held::Fresh(_), None) => Wording::Classic { quiet },
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let builder = builder.clone();
    let named = named.clone();
    tokio::spawn(async move {
        let (etx, mut erx) = mpsc::unbounded_channel();
        let cancel = tokio_util::sync::CancellationToken::new();
        if let Some(id) = &build_id {
            named.insert(id, cancel.clone());
        }
        // A client that goes away cancels its build: its steps are killed
        // and their snapshots removed before the build's future ends.
        let watch = {
            let (tx, cancel) = (tx.clone(), cancel.clone());
            tokio::spawn(async move {
                tx.closed().await;
                cancel.cancel();
            })
        };
        let forward = async {
            while let Some(e) = erx.recv().await {
                if let Some(line) = wording.event(e) {
                    if tx.send(line).await.is_err() {
                        break;
                    }
                }
            }
        };
        let run = async {
            let r = builder.build(&build, &etx, &cancel).await;
            drop(etx);
            r
        };
        let (built, _) = tokio::join!(run, forward);
        watch.abort();
        if let Some(id) = &build_id {
            named.remove(id);
        }
        let lines = match built {
            Ok(b) => wording.built(b),
            Err(e) => {
                tracing::info!(error = %e, "build failed");
                wording.failed(&e)
            }
        };
        for l in lines {
            let _ = tx.send(l).await;
        }
        // The answer ends here; a fresh context's files go after it.
        drop(tx);
        match held {
            Held::Fresh(ctx) => drop(tokio::task::spawn_blocking(move || drop(ctx)).await),
            Held::Kept(lock) => drop(lock),
        }
    });
    Ok(http::stream("application/json", rx))
}

/// `POST /build/prune?all=&keep-storage=&filters={"until":…}`.
pub fn prune(builder: &Builder, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    let mut until = None;
    for (key, values) in &filters {
        match key.as_str() {
            "until" => {
                for v in values {
                    until = Some(until_nanos(v).ok_or_else(|| {
                        ApiError::bad_request(format!("invalid until filter {v:?}"))
                    })?);
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "build cache prune filter {other:?} is not supported by berth yet"
                )))
            }
        }
    }
    let keep_storage = match req.query("keep-storage").filter(|v| !v.is_empty()) {
        Some(v) => {
            v.parse().map_err(|_| ApiError::bad_request(format!("invalid keep-storage {v:?}")))?
        }
        None => 0,
    };
    let out =
        builder.prune(&berth_builder::PruneRequest { all: req.flag("all"), until, keep_storage });
    let answer = berth_docker_api::system::BuildPruneResponse {
        caches_deleted: out.deleted,
        space_reclaimed: out.reclaimed,
    };
    Ok(http::json(StatusCode::OK, &answer))
}

/// The build cache's records as `GET /system/df` lists them.
pub fn cache_usage(builder: &Builder) -> Vec<berth_docker_api::system::BuildCache> {
    let time = |n: i64| berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(n));
    builder
        .cache_records()
        .into_iter()
        .map(|r| berth_docker_api::system::BuildCache {
            id: r.id[..25.min(r.id.len())].to_owned(),
            kind: "regular".into(),
            description: String::new(),
            in_use: r.in_use,
            shared: r.shared,
            size: r.size as i64,
            created_at: time(r.created),
            last_used_at: Some(time(r.created)),
            usage_count: 1,
        })
        .collect()
}

/// `until`: a duration back from now (`24h`), an RFC 3339 time or Unix seconds.
fn until_nanos(v: &str) -> Option<i64> {
    let now = berth_proto::time::unix_nanos(std::time::SystemTime::now());
    berth_proto::time::parse_go_duration(v)
        .map(|d| now - d)
        .or_else(|| berth_proto::time::parse_rfc3339_nanos(v))
        .or_else(|| v.parse::<i64>().ok().map(|s| s * 1_000_000_000))
}
