//! Containers as Docker clients see them. Only the Docker front's own: the
//! CRI's pod containers are kept apart, as nerdctl keeps namespaces apart.
//! This slice lists them (`docker ps`); the lifecycle endpoints come next.

use crate::error::ApiResult;
use crate::http::{self, Body, Req};
use berth_engine::model::ContainerRecord;
use berth_engine::{Engine, Status};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The containers Docker clients see: not the CRI's.
pub fn docker_front(all: Vec<ContainerRecord>) -> Vec<ContainerRecord> {
    all.into_iter().filter(|c| c.config.pod.is_none()).collect()
}

fn state_name(s: Status) -> &'static str {
    match s {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
        Status::Unknown | Status::Quarantined => "dead",
    }
}

fn summary(c: &ContainerRecord, now: std::time::SystemTime) -> Value {
    json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": c.config.args.join(" "),
        "Created": c.created_at / 1_000_000_000,
        "Ports": [],
        "Labels": c.config.labels,
        "State": state_name(c.state.status),
        "Status": c.status_text(now),
        "HostConfig": { "NetworkMode": "none" },
        "NetworkSettings": { "Networks": {} },
        "Mounts": [],
    })
}

/// `GET /containers/json`: running ones, or all with `all`; `limit`;
/// filters `id`, `name`, `status`, `label`.
pub fn list(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    let mut found = docker_front(engine.list(true, &[])?);
    if !req.flag("all") && !filters.contains_key("status") {
        found.retain(|c| c.state.status == Status::Running);
    }
    let any = |key: &str, f: &dyn Fn(&str) -> bool| filters.get(key).is_none_or(|vals| vals.iter().any(|v| f(v)));
    found.retain(|c| {
        any("id", &|v| c.id.starts_with(v))
            && any("name", &|v| c.name.contains(v.trim_start_matches('/')))
            && any("status", &|v| v == state_name(c.state.status))
            && any("label", &|v| match v.split_once('=') {
                Some((k, val)) => c.config.labels.get(k).is_some_and(|x| x == val),
                None => c.config.labels.contains_key(v),
            })
    });
    found.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    if let Some(n) = req.query("limit").and_then(|l| l.parse::<usize>().ok()).filter(|n| *n > 0) {
        found.truncate(n);
    }
    let now = std::time::SystemTime::now();
    Ok(http::json(StatusCode::OK, &Value::Array(found.iter().map(|c| summary(c, now)).collect())))
}
