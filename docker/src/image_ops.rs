//! The rest of Docker's image endpoints over the one store: history, push
//! (Docker's progress messages), save (`/images/get`, `/images/{name}/get`:
//! the archive `docker load` and berth read), load, and prune.

use crate::error::no_such_image;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use crate::images::{credentials, message, short};
use berth_docker_api::image;
use berth_docker_api::progress::{Aux, Message, Progress};
use berth_engine::image::reference::{familiar, Reference};
use berth_engine::image::{PushProgress, PushRequest};
use berth_engine::Engine;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

/// `GET /images/{name}/history`: newest step first.
pub async fn history(engine: &Engine, name: &str) -> ApiResult<Response<Body>> {
    let (eng, n) = (engine.clone(), name.to_owned());
    let steps = tokio::task::spawn_blocking(move || eng.images().history(&n))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| no_such_image(e, name))?;
    let tags: Vec<String> = engine
        .images()
        .resolve(name)
        .map(|i| i.repo_tags.iter().map(|t| familiar(t)).collect())
        .unwrap_or_default();
    let items: Vec<image::HistoryItem> = steps
        .iter()
        .enumerate()
        .map(|(i, h)| image::HistoryItem {
            id: if h.id.is_empty() { "<missing>".to_owned() } else { h.id.clone() },
            created: h.created_unix,
            created_by: h.created_by.clone(),
            tags: (i == 0 && !tags.is_empty()).then(|| tags.clone()),
            size: h.size as i64,
            comment: h.comment.clone(),
        })
        .collect();
    Ok(http::json(StatusCode::OK, &items))
}

/// `POST /images/{name}/push?tag=`: Docker's progress messages; a failure
/// is the stream's last message, as dockerd sends it.
pub async fn push(engine: &Engine, name: &str, req: &Req) -> ApiResult<Response<Body>> {
    let tag = req.query("tag").filter(|t| !t.is_empty()).unwrap_or("latest");
    let reference = Reference::parse(&format!("{name}:{tag}"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let canonical = reference.canonical();
    if engine.images().resolve(&canonical).is_err() {
        return Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {}",
            familiar(&reference.repository())
        )));
    }
    let push = PushRequest { reference: canonical, credentials: credentials(req)? };
    let (ptx, mut prx) = mpsc::unbounded_channel();
    let eng = engine.clone();
    let mut job = tokio::spawn(async move { eng.images().push(push, Some(ptx)).await });
    let (tx, rx) = mpsc::channel(64);
    let first = format!("The push refers to repository [{}]", familiar(&reference.repository()));
    let _ = tx.try_send(message(&Message::status(first, "")));
    tokio::spawn(async move {
        let progress = |p: PushProgress| match p {
            PushProgress::Blob { digest, how } => {
                let mut m = Message::status(how, short(&digest));
                m.progress_detail = Some(Progress::default());
                vec![m]
            }
            PushProgress::Manifest { tag, digest, size } => {
                let text = format!("{tag}: digest: {digest} size: {size}");
                let aux = Aux {
                    tag: Some(tag),
                    digest: Some(digest),
                    size: Some(size),
                    ..Default::default()
                };
                let summary = Message {
                    progress_detail: Some(Progress::default()),
                    aux: Some(aux),
                    ..Default::default()
                };
                vec![Message::status(text, ""), summary]
            }
        };
        let result = loop {
            tokio::select! {
                res = &mut job => break res,
                Some(p) = prx.recv() => for m in progress(p) {
                    if tx.send(message(&m)).await.is_err() {
                        job.abort();
                        return;
                    }
                },
            }
        };
        while let Ok(p) = prx.try_recv() {
            for m in progress(p) {
                let _ = tx.send(message(&m)).await;
            }
        }
        let err = match result {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        let _ = tx.send(message(&Message::error(err))).await;
    });
    Ok(http::stream("application/json", rx))
}

/// `GET /images/get?names=…` (repeated) and `GET /images/{name}/get`: the
/// archive, streamed as it is written.
pub fn save(engine: &Engine, names: Vec<String>) -> ApiResult<Response<Body>> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let plan =
        engine.images().plan_save(&names).map_err(|e| no_such_image(e, &names.join(", ")))?;
    let mut chunks = engine.save_images(plan);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(c) = chunks.recv().await {
            match c {
                Ok(b) => {
                    if tx.send(Bytes::from(b)).await.is_err() {
                        return;
                    }
                }
                // Mid-stream, a cut archive is all a client can be told.
                Err(e) => return tracing::warn!(error = %e, "save"),
            }
        }
    });
    Ok(http::stream("application/x-tar", rx))
}

/// `POST /images/load?quiet=`: an archive in the body (Docker's or an OCI layout).
pub async fn load(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let mut upload = req.body_stream();
    let loaded = match engine.images().load(upload.chunks()).await {
        Ok(l) => l,
        Err(e) => {
            upload.finished().await;
            return Err(e.into());
        }
    };
    let mut out = Vec::new();
    for l in loaded {
        if l.tags.is_empty() {
            out.extend_from_slice(&message(&Message::stream(format!(
                "Loaded image ID: {}\n",
                l.id
            ))));
        }
        for t in &l.tags {
            out.extend_from_slice(&message(&Message::stream(format!(
                "Loaded image: {}\n",
                familiar(t)
            ))));
        }
    }
    Ok(http::text(StatusCode::OK, "application/json", out))
}

/// `POST /images/prune?filters=`: dangling images, or every unused one with `dangling=false`.
pub async fn prune(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    for key in filters.keys() {
        if key != "dangling" {
            return Err(ApiError::bad_request(format!(
                "image prune filter {key:?} is not supported by berth yet"
            )));
        }
    }
    let all = filters
        .get("dangling")
        .is_some_and(|v| v.iter().any(|d| matches!(d.as_str(), "false" | "0")));
    let eng = engine.clone();
    let out = tokio::task::spawn_blocking(move || eng.prune_images(all))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let items = crate::images::deleted_items(&out.untagged, &out.deleted);
    let answer = image::PruneResponse {
        images_deleted: (!items.is_empty()).then_some(items),
        space_reclaimed: out.reclaimed,
    };
    Ok(http::json(StatusCode::OK, &answer))
}
