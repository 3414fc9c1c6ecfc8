//! berth's kept build contexts (`/berth/contexts/{id}`), which `berth build`
//! syncs by diff before it builds from one with `/build?berthcontext={id}`
//! (see `berth_docker_api::build`). The builder keeps them; this maps the
//! wire types to its record and back.

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_builder::kept::SyncRequest;
use berth_builder::Builder;
use berth_docker_api::build::{ContextEntry, ContextListing, ContextSync, ContextSynced};
use hyper::{Response, StatusCode};
use std::io::BufRead;
use std::sync::Arc;

/// The first line of a sync, at most this long.
const MAX_LINE: u64 = 64 << 20;

/// `GET /berth/contexts/{id}`.
pub async fn listing(builder: &Arc<Builder>, id: &str) -> ApiResult<Response<Body>> {
    let lock = builder.kept().lock(id)?;
    let _read = lock.read().await;
    let (b, id2) = (builder.clone(), id.to_owned());
    let state = tokio::task::spawn_blocking(move || b.kept().state(&id2))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    // The client's own record; one it can't have written is no record.
    let entries: Vec<ContextEntry> = match state.client_state.is_empty() {
        true => Vec::new(),
        false => serde_json::from_str(&state.client_state).unwrap_or_default(),
    };
    Ok(http::json(StatusCode::OK, &ContextListing { generation: state.generation, entries }))
}

/// `POST /berth/contexts/{id}`: a [`ContextSync`] line, then a tar.
pub async fn sync(builder: &Arc<Builder>, id: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let lock = builder.kept().lock(id)?;
    let mut upload = req.body_stream();
    let chunks = upload.chunks();
    let _write = lock.write().await;
    let (b, id) = (builder.clone(), id.to_owned());
    let synced = tokio::task::spawn_blocking(move || {
        let mut body = std::io::BufReader::new(berth_engine::bridge::ChunkReader::new(chunks));
        let mut line = Vec::new();
        std::io::Read::take(&mut body, MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(|e| ApiError::bad_request(format!("reading the sync: {e}")))?;
        let sync: ContextSync = serde_json::from_slice(&line)
            .map_err(|e| ApiError::bad_request(format!("invalid context sync: {e}")))?;
        let client_state = serde_json::to_string(&sync.entries)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let req =
            SyncRequest { base: sync.base, reset: sync.reset, removed: sync.removed, client_state };
        Ok::<_, ApiError>(b.kept().sync(&id, &req, body)?)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    upload.finished().await;
    Ok(http::json(StatusCode::OK, &ContextSynced { generation: synced? }))
}
