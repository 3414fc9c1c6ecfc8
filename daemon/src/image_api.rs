//! Engine API image operations beyond the simple ones: pull and push
//! stream their progress as the engine reports it (the last message
//! carries the result); save and load stream archives; history, inspect
//! and prune walk the store off the runtime's threads.

use crate::status::IntoStatus;
use berth_engine::image::{LayerState, PullProgress, PullRequest, PushProgress, PushRequest};
use berth_engine::Engine;
use berth_proto::engine as pb;
use berth_registry::{Credentials, Platform};
use tokio::sync::mpsc;
use tonic::Status;

/// Credentials from the wire; empty means anonymous.
fn credentials(a: Option<pb::RegistryAuth>) -> Credentials {
    a.and_then(|a| Credentials::from_fields(&a.username, &a.password, "", &a.identity_token, &a.registry_token)).unwrap_or_default()
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
    let engine = engine.clone();
    Ok(forward(
        move |ptx| async move { engine.images().pull(req, Some(ptx)).await },
        event,
        |result| Some(result.status().map(|img| pb::PullEvent { image: Some(crate::api::image_summary(&img)), ..Default::default() })),
    ))
}

fn event(p: PullProgress) -> pb::PullEvent {
    match p {
        PullProgress::Resolved { digest } => pb::PullEvent { resolved_digest: digest, ..Default::default() },
        PullProgress::Layer { digest, state, current, total } => {
            pb::PullEvent { layer: Some(pb::LayerProgress { digest, state: state_name(state).into(), current, total }), ..Default::default() }
        }
    }
}

pub fn push(engine: &Engine, r: pb::PushImageRequest) -> mpsc::Receiver<Result<pb::PushEvent, Status>> {
    let req = PushRequest { reference: r.reference, credentials: credentials(r.auth) };
    let engine = engine.clone();
    forward(move |ptx| async move { engine.images().push(req, Some(ptx)).await }, push_event, |result| result.status().err().map(Err))
}

/// Runs `work`, which reports progress on the sender it is given, and
/// streams each report as `wire(p)`, then what `last` makes of the result.
/// A client that goes away drops the work (and so cancels it).
fn forward<P, R, W, Fut>(
    work: impl FnOnce(mpsc::UnboundedSender<P>) -> Fut + Send + 'static,
    wire: fn(P) -> W,
    last: impl FnOnce(berth_engine::Result<R>) -> Option<Result<W, Status>> + Send + 'static,
) -> mpsc::Receiver<Result<W, Status>>
where
    P: Send + 'static,
    R: Send + 'static,
    W: Send + 'static,
    Fut: std::future::Future<Output = berth_engine::Result<R>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let (ptx, mut prx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let working = work(ptx);
        tokio::pin!(working);
        let result = loop {
            tokio::select! {
                res = &mut working => break res,
                Some(p) = prx.recv() => {
                    if tx.send(Ok(wire(p))).await.is_err() {
                        return;
                    }
                }
            }
        };
        while let Ok(p) = prx.try_recv() {
            let _ = tx.send(Ok(wire(p))).await;
        }
        if let Some(m) = last(result) {
            let _ = tx.send(m).await;
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

/// Streams the archive of `names`; a failure after the first chunk ends
/// the stream with its status.
pub fn save(engine: &Engine, names: Vec<String>) -> Result<mpsc::Receiver<Result<pb::DataChunk, Status>>, Status> {
    let plan = engine.images().plan_save(&names).status()?;
    let mut chunks = engine.save_images(plan);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(c) = chunks.recv().await {
            if tx.send(c.map(|data| pb::DataChunk { data }).map_err(Status::from)).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// The bytes of a client's upload stream (`first`, then each message's
/// `data(m)`) as the engine reads them; the handle reports a broken upload.
pub(crate) fn feed<T: Send + 'static>(
    mut stream: tonic::Streaming<T>,
    first: Vec<u8>,
    data: fn(T) -> Vec<u8>,
) -> (mpsc::Receiver<std::io::Result<bytes::Bytes>>, tokio::task::JoinHandle<Result<(), Status>>) {
    let (tx, rx) = mpsc::channel(16);
    let feeder = tokio::spawn(async move {
        if !first.is_empty() && tx.send(Ok(first.into())).await.is_err() {
            return Ok(());
        }
        while let Some(m) = stream.message().await? {
            if tx.send(Ok(data(m).into())).await.is_err() {
                break;
            }
        }
        Ok(())
    });
    (rx, feeder)
}

/// Loads an archive arriving in chunks.
pub async fn load(engine: &Engine, stream: tonic::Streaming<pb::DataChunk>) -> Result<pb::LoadImagesResponse, Status> {
    let (rx, feeder) = feed(stream, Vec::new(), |c| c.data);
    let result = engine.images().load(rx).await;
    // A broken upload is the real cause of a truncated archive.
    if let Ok(Err(e)) = feeder.await {
        return Err(e);
    }
    let images = result.status()?.into_iter().map(|l| pb::LoadedImage { id: l.id, tags: l.tags }).collect();
    Ok(pb::LoadImagesResponse { images })
}

/// Runs blocking store work off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(format!("image task: {e}")))?.status()
}

pub async fn history(engine: &Engine, name: String) -> Result<pb::ImageHistoryResponse, Status> {
    let engine = engine.clone();
    let entries = blocking(move || engine.images().history(&name)).await?;
    let entries = entries.into_iter().map(|h| pb::HistoryEntry { id: h.id, created_unix: h.created_unix, created_by: h.created_by, size: h.size, comment: h.comment }).collect();
    Ok(pb::ImageHistoryResponse { entries })
}

pub fn inspect(engine: &Engine, name: &str) -> Result<pb::InspectImageResponse, Status> {
    let doc = engine.images().inspect(name).status()?;
    Ok(pb::InspectImageResponse { json: doc.to_string() })
}

pub async fn prune(engine: &Engine, all: bool) -> Result<pb::PruneImagesResponse, Status> {
    let engine = engine.clone();
    let out = blocking(move || engine.prune_images(all)).await?;
    Ok(pb::PruneImagesResponse { untagged: out.untagged.iter().map(|t| berth_engine::image::reference::familiar(t)).collect(), deleted: out.deleted, reclaimed: out.reclaimed })
}

pub async fn login(engine: &Engine, r: pb::LoginRequest) -> Result<(), Status> {
    engine.images().login(&r.registry, credentials(r.auth)).await.status()
}
