//! `/volumes`: create, list (filters `name`, `label`, `dangling`,
//! `driver`), inspect, remove (409 while a container names it) and prune,
//! as dockerd's local driver answers them, with its options: `type=none
//! o=bind device=/path` (a node directory) and `type=tmpfs o=…`.

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::volume::{self, Volume};
use berth_engine::model::VolumeRecord;
use berth_engine::Engine;
use hyper::{Response, StatusCode};

/// Docker's volume document.
pub(crate) fn document(engine: &Engine, v: &VolumeRecord) -> Volume {
    let mut labels = v.labels.clone();
    if v.anonymous {
        labels.insert("com.docker.volume.anonymous".into(), String::new());
    }
    let created = berth_proto::time::from_unix_nanos(v.created_at);
    Volume {
        name: v.name.clone(),
        driver: "local".into(),
        mountpoint: engine
            .volume_data(&v.name)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        created_at: berth_proto::time::rfc3339_nanos(created),
        labels: Some(labels),
        scope: "local".into(),
        options: Some(v.options.clone()),
        usage_data: None,
    }
}

/// `POST /volumes/create`: 201 with the volume (an existing one as it is).
pub async fn create(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let b: volume::CreateRequest = req.json().await?;
    if !matches!(b.driver.as_str(), "" | "local") {
        return Err(ApiError::not_found(format!("plugin \"{}\" not found", b.driver)));
    }
    let name = Some(b.name.as_str()).filter(|n| !n.is_empty());
    let v = engine.create_volume_with(
        name,
        b.labels.unwrap_or_default(),
        b.driver_opts.unwrap_or_default(),
    )?;
    Ok(http::json(StatusCode::CREATED, &document(engine, &v)))
}

/// `GET /volumes`.
pub fn list(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    if let Some(k) =
        filters.keys().find(|k| !["name", "label", "dangling", "driver"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let dangling = match filters.get("dangling").and_then(|v| v.first()).map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(v) => return Err(ApiError::bad_request(format!("invalid filter 'dangling={v}'"))),
    };
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        filters.get(key).is_none_or(|vals| vals.iter().any(|v| f(v)))
    };
    let vols: Vec<Volume> = engine
        .volumes()?
        .iter()
        .filter(|v| {
            any("name", &|n| v.name.contains(n))
                && any("driver", &|d| d == "local")
                && filters.get("label").is_none_or(|ls| ls.iter().all(|l| label_matches(v, l)))
                && dangling.is_none_or(|d| d == engine.volume_users(&v.name).is_empty())
        })
        .map(|v| document(engine, v))
        .collect();
    let answer = volume::ListResponse { volumes: Some(vols), warnings: Some(Vec::new()) };
    Ok(http::json(StatusCode::OK, &answer))
}

fn label_matches(v: &VolumeRecord, l: &str) -> bool {
    match l.split_once('=') {
        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
        None => v.labels.contains_key(l),
    }
}

/// `GET /volumes/{name}`.
pub fn inspect(engine: &Engine, name: &str) -> ApiResult<Response<Body>> {
    let v = engine.volume(name)?;
    Ok(http::json(StatusCode::OK, &document(engine, &v)))
}

/// `DELETE /volumes/{name}?force=`.
pub async fn remove(engine: &Engine, name: &str, req: &Req) -> ApiResult<Response<Body>> {
    engine.remove_volume(name, req.flag("force")).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`: the unused ones — every one before API 1.42,
/// from then on only anonymous ones unless `all=true`, as dockerd.
pub async fn prune(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    if let Some(k) = filters.keys().find(|k| !["label", "all"].contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let all = filters.get("all").and_then(|v| v.first()).is_some_and(|v| v == "true" || v == "1");
    let anonymous_only = req.version >= crate::version::ApiVersion(1, 42) && !all;
    let labels = filters.get("label").cloned().unwrap_or_default();
    let (gone, bytes) = engine
        .prune_volumes(anonymous_only, |v| !labels.iter().all(|l| label_matches(v, l)))
        .await?;
    let answer = volume::PruneResponse { volumes_deleted: Some(gone), space_reclaimed: bytes };
    Ok(http::json(StatusCode::OK, &answer))
}
