//! Engine API image transfers: pull and push stream their progress as the
//! engine reports it; the last message carries the result.

use crate::status::IntoStatus;
use berth_engine::image::{LayerState, PullProgress, PullRequest, PushProgress, PushRequest};
use berth_engine::Engine;
use berth_proto::engine as pb;
use berth_registry::{Credentials, Platform};
use tokio::sync::mpsc;
use tonic::Status;

/// Credentials from the wire; empty means anonymous.
pub fn credentials(a: Option<pb::RegistryAuth>) -> Credentials {
    let Some(a) = a else { return Credentials::Anonymous };
    if !a.registry_token.is_empty() {
        Credentials::Bearer(a.registry_token)
    } else if !a.identity_token.is_empty() {
        Credentials::Identity { username: a.username, token: a.identity_token }
    } else if !a.username.is_empty() {
        Credentials::Basic { username: a.username, password: a.password }
    } else {
        Credentials::Anonymous
    }
}

fn state_name(s: LayerState) -> &'static str {
    match s {
        LayerState::Waiting => "waiting",
        LayerState::Downloading => "downloading",
        LayerState::Exists => "exists",
        LayerState::Done => "done",
    }
}

pub fn pull(engine: &Engine, r: pb::PullImageRequest) -> Result<mpsc::Receiver<Result<pb::PullEvent, Status>>, Status> {
    let platform = match r.platform.as_str() {
        "" => None,
        p => Some(Platform::parse(p).map_err(|e| Status::invalid_argument(e.to_string()))?),
    };
    let req = PullRequest { reference: r.reference, credentials: credentials(r.auth), platform };
    let (tx, rx) = mpsc::channel(64);
    let (ptx, mut prx) = mpsc::unbounded_channel();
    let engine = engine.clone();
    tokio::spawn(async move {
        let pulling = engine.images().pull(req, Some(ptx));
        tokio::pin!(pulling);
        let result = loop {
            tokio::select! {
                res = &mut pulling => break res,
                Some(p) = prx.recv() => {
                    if tx.send(Ok(event(p))).await.is_err() {
                        return; // The client left: dropping the future cancels the pull.
                    }
                }
            }
        };
        while let Ok(p) = prx.try_recv() {
            let _ = tx.send(Ok(event(p))).await;
        }
        let last = result.status().map(|img| pb::PullEvent { image: Some(crate::api::image_summary(&img)), ..Default::default() });
        let _ = tx.send(last).await;
    });
    Ok(rx)
}

fn event(p: PullProgress) -> pb::PullEvent {
    match p {
        PullProgress::Resolved { digest } => pb::PullEvent { resolved_digest: digest, ..Default::default() },
        PullProgress::Layer { digest, state, current, total } => pb::PullEvent {
            layer: Some(pb::LayerProgress { digest, state: state_name(state).into(), current, total }),
            ..Default::default()
        },
    }
}

pub fn push(engine: &Engine, r: pb::PushImageRequest) -> mpsc::Receiver<Result<pb::PushEvent, Status>> {
    let req = PushRequest { reference: r.reference, credentials: credentials(r.auth) };
    let (tx, rx) = mpsc::channel(64);
    let (ptx, mut prx) = mpsc::unbounded_channel();
    let engine = engine.clone();
    tokio::spawn(async move {
        let pushing = engine.images().push(req, Some(ptx));
        tokio::pin!(pushing);
        let result = loop {
            tokio::select! {
                res = &mut pushing => break res,
                Some(p) = prx.recv() => {
                    if tx.send(Ok(push_event(p))).await.is_err() {
                        return;
                    }
                }
            }
        };
        while let Ok(p) = prx.try_recv() {
            let _ = tx.send(Ok(push_event(p))).await;
        }
        if let Err(e) = result.status() {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

fn push_event(p: PushProgress) -> pb::PushEvent {
    match p {
        PushProgress::Blob { digest, how } => pb::PushEvent { blob_digest: digest, blob_status: how, ..Default::default() },
        PushProgress::Manifest { tag, digest, size } => pb::PushEvent { tag, digest, size, ..Default::default() },
    }
}
