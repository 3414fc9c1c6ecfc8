//! Containers as Docker clients see them. Only the Docker front's own: the
//! CRI's pod containers are kept apart, as nerdctl keeps namespaces apart.
//! List, create (`create.rs`), start, stop, restart, kill, wait, remove,
//! inspect and logs; attach (`attach.rs`) and exec (`exec.rs`) hijack the
//! connection (`hijack.rs`).

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::container::{CreateResponse, PruneResponse, Summary, WaitResponse};
use berth_engine::model::ContainerRecord;
use berth_engine::{Engine, Status};
use hyper::{Response, StatusCode};

/// The containers Docker clients see: not the CRI's.
pub fn docker_front(all: Vec<ContainerRecord>) -> Vec<ContainerRecord> {
    all.into_iter().filter(|c| c.config.pod.is_none()).collect()
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
            && any("status", &|v| v == crate::documents::state_name(c))
            && any("health", &|v| v == crate::documents::health_name(engine, c))
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
    let list: Vec<Summary> =
        found.iter().map(|c| crate::documents::summary(engine, c, now)).collect();
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
        return Err(crate::error::not_running(&c.id));
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

/// `GET /containers/{id}/json`: Docker's inspect document (the parts berth has).
pub fn inspect(engine: &Engine, key: &str) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    Ok(http::json(StatusCode::OK, &crate::documents::inspect(engine, &c)))
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
