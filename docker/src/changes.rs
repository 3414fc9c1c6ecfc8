//! `GET /containers/{id}/changes` (`docker diff`: `[{"Path", "Kind"}]`,
//! 0 changed, 1 added, 2 deleted), `GET /containers/{id}/export`
//! (`docker export`: the container's filesystem as a tar stream) and
//! `POST /commit` (`docker commit`: its changes as a new image).

use crate::error::ApiResult;
use crate::http::{self, Body, Req};
use berth_docker_api::container::Change;
use berth_docker_api::image::ImageConfig;
use berth_engine::container::ChangeKind;
use berth_engine::Engine;
use hyper::{Response, StatusCode};

/// `GET /containers/{id}/changes`.
pub async fn changes(engine: &Engine, id: &str) -> ApiResult<Response<Body>> {
    let rec = crate::containers::find(engine, id)?;
    let all = engine.changes(&rec.id).await?;
    let items: Vec<Change> = all
        .iter()
        .map(|(path, kind)| {
            let kind = match kind {
                ChangeKind::Modified => 0,
                ChangeKind::Added => 1,
                ChangeKind::Deleted => 2,
            };
            Change { path: path.clone(), kind }
        })
        .collect();
    Ok(http::json(StatusCode::OK, &items))
}

/// `GET /containers/{id}/export`.
pub async fn export(engine: &Engine, id: &str) -> ApiResult<Response<Body>> {
    let rec = crate::containers::find(engine, id)?;
    Ok(http::stream_chunks("application/x-tar", engine.export(&rec.id).await?))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`
/// with the container config to apply (or none): 201 `{"Id"}`.
pub async fn commit(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let key = req.query("container").unwrap_or_default().to_owned();
    let rec = crate::containers::find(engine, &key)?;
    let repo = req.query("repo").unwrap_or_default();
    let reference = match req.query("tag").filter(|t| !t.is_empty()) {
        Some(t) if !repo.is_empty() => format!("{repo}:{t}"),
        _ => repo.to_owned(),
    };
    let request = berth_engine::image::CommitRequest {
        reference,
        comment: req.query("comment").unwrap_or_default().to_owned(),
        author: req.query("author").unwrap_or_default().to_owned(),
        changes: req.query_all("changes"),
    };
    // dockerd pauses unless told not to.
    let pause = !matches!(req.query("pause"), Some("0" | "false" | "False"));
    let config: Option<ImageConfig> = req.json().await?;
    let config = config.map(image_config);
    let opts = berth_engine::container::CommitOptions { request, pause, config };
    let img = engine.commit_container(&rec.id, opts).await?;
    Ok(http::json(StatusCode::CREATED, &berth_docker_api::IdResponse { id: img.id }))
}

/// A commit's config as the image config the engine writes.
fn image_config(c: ImageConfig) -> berth_engine::image::ImageConfig {
    let set = |m: Option<std::collections::BTreeMap<String, berth_docker_api::EmptyObject>>| {
        m.map(|m| {
            m.into_keys().map(|k| (k, serde_json::Value::Object(Default::default()))).collect()
        })
    };
    berth_engine::image::ImageConfig {
        user: c.user,
        exposed_ports: set(c.exposed_ports),
        env: c.env,
        entrypoint: c.entrypoint,
        cmd: c.cmd,
        working_dir: c.working_dir,
        labels: c.labels,
        stop_signal: c.stop_signal,
        healthcheck: c.healthcheck.map(crate::create::health),
        volumes: set(c.volumes),
        shell: c.shell,
        on_build: c.on_build,
    }
}
