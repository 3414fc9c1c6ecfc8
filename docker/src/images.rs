//! Images over the Docker API: list, inspect, pull (`POST /images/create`
//! with Docker's progress messages), tag, remove. One store with the CRI:
//! kubelet and `docker` see the same images.

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use base64::Engine as _;
use berth_docker_api::image;
use berth_docker_api::progress::{Message, Progress};
use berth_docker_api::system::AuthConfig;
use berth_engine::image::reference::{familiar, Reference};
use berth_engine::image::{LayerState, PullProgress, PullRequest};
use berth_engine::model::ImageRecord;
use berth_engine::Engine;
use berth_registry::Credentials;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

pub(crate) fn summary(img: &ImageRecord) -> image::Summary {
    image::Summary {
        id: img.id.clone(),
        parent_id: String::new(),
        repo_tags: img.repo_tags.iter().map(|t| familiar(t)).collect(),
        repo_digests: img.repo_digests.iter().map(|d| familiar(d)).collect(),
        created: img.created_unix_nanos / 1_000_000_000,
        size: img.size as i64,
        shared_size: -1,
        virtual_size: img.size as i64,
        labels: img.config.labels.clone(),
        containers: -1,
    }
}

/// The parts of an image's config file that inspect shows; its `config`
/// object is shown as it is (data, never acted on here).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct ConfigFile {
    architecture: String,
    os: String,
    variant: String,
    author: String,
    comment: String,
    config: Option<image::ImageConfig>,
}

/// Docker's `image inspect` document.
fn inspect_doc(engine: &Engine, name: &str) -> berth_engine::Result<image::Inspect> {
    let img = engine.images().resolve(name)?;
    let file: ConfigFile = serde_json::from_str(&img.config_json).unwrap_or_default();
    let lower: Vec<String> =
        engine.images().lower_dirs(&img)?.iter().map(|p| p.display().to_string()).collect();
    let created = berth_proto::time::from_unix_nanos(img.created_unix_nanos);
    Ok(image::Inspect {
        id: img.id.clone(),
        repo_tags: img.repo_tags.iter().map(|t| familiar(t)).collect(),
        repo_digests: img.repo_digests.iter().map(|t| familiar(t)).collect(),
        parent: String::new(),
        comment: file.comment,
        created: berth_proto::time::rfc3339_nanos(created),
        author: file.author,
        config: file.config,
        architecture: file.architecture,
        variant: file.variant,
        os: file.os,
        size: img.size as i64,
        graph_driver: image::GraphDriver {
            name: "overlay".into(),
            data: [("LowerDir".to_owned(), lower.join(":"))].into(),
        },
        root_fs: image::RootFs { kind: "layers".into(), layers: img.layers.clone() },
        metadata: image::Metadata { last_tag_time: "0001-01-01T00:00:00Z".into() },
    })
}

/// Docker's reference filter: a pattern over `name[:tag]`, `*` within a path component.
fn matches_reference(pattern: &str, tag: &str) -> bool {
    let (pat_name, pat_tag) = split_tag(pattern);
    let (name, t) = split_tag(tag);
    glob(pat_name, name) && pat_tag.is_none_or(|p| t.is_some_and(|t| glob(p, t)))
}

fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.rfind(':') {
        Some(i) if !s[i..].contains('/') => (&s[..i], Some(&s[i + 1..])),
        _ => (s, None),
    }
}

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i) && !tail[..*i].contains('/'))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// `GET /images/json`: filters `reference`, `dangling`, `label`.
pub fn list(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    let mut imgs = engine.images().list();
    if let Some(refs) = filters.get("reference") {
        imgs.retain(|i| {
            i.repo_tags.iter().any(|t| refs.iter().any(|p| matches_reference(p, &familiar(t))))
        });
    }
    if let Some(d) = filters.get("dangling") {
        let want = d.iter().any(|v| v == "true" || v == "1");
        imgs.retain(|i| i.repo_tags.is_empty() == want);
    }
    if let Some(labels) = filters.get("label") {
        imgs.retain(|i| {
            labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => {
                    i.config.labels.as_ref().and_then(|m| m.get(k)).is_some_and(|x| x == v)
                }
                None => i.config.labels.as_ref().is_some_and(|m| m.contains_key(l)),
            })
        });
    }
    imgs.sort_by_key(|i| std::cmp::Reverse(i.created_unix_nanos));
    let list: Vec<image::Summary> = imgs.iter().map(summary).collect();
    Ok(http::json(StatusCode::OK, &list))
}

/// `GET /images/{name}/json`.
pub fn inspect(engine: &Engine, name: &str) -> ApiResult<Response<Body>> {
    let doc = inspect_doc(engine, name).map_err(|e| crate::error::no_such_image(e, name))?;
    Ok(http::json(StatusCode::OK, &doc))
}

/// `X-Registry-Auth`: base64url JSON with `username`/`password` or `identitytoken`.
pub(crate) fn credentials(req: &Req) -> ApiResult<Credentials> {
    let Some(raw) =
        req.headers.get("x-registry-auth").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty())
    else {
        return Ok(Credentials::default());
    };
    // base64url as the CLI sends it (padded or not), else the standard alphabet.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw));
    let bytes = bytes.map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header"))?;
    let a: AuthConfig = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header"))?;
    Ok(Credentials::from_fields(
        &a.username,
        &a.password,
        &a.auth,
        &a.identitytoken,
        &a.registrytoken,
    )
    .unwrap_or_default())
}

/// One progress message as a line of the stream.
pub(crate) fn message(m: &Message) -> Bytes {
    let mut b = serde_json::to_vec(m).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

pub(crate) fn short(digest: &str) -> String {
    digest.trim_start_matches("sha256:").chars().take(12).collect()
}

fn progress_bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let done = (current.min(total) * width).checked_div(total).unwrap_or(0) as usize;
    let bar = if done >= width as usize {
        "=".repeat(width as usize)
    } else {
        format!("{}>{}", "=".repeat(done), " ".repeat(width as usize - done - 1))
    };
    format!("[{bar}] {}/{}", human_size(current), human_size(total))
}

fn human_size(b: u64) -> String {
    match b {
        0..=999 => format!("{b}B"),
        1000..=999_999 => format!("{:.1}kB", b as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}MB", b as f64 / 1e6),
        _ => format!("{:.2}GB", b as f64 / 1e9),
    }
}

fn layer_message(p: PullProgress) -> Option<Message> {
    match p {
        PullProgress::Resolved { .. } => None,
        PullProgress::Layer { digest, state, current, total } => {
            let status = match state {
                LayerState::Waiting => "Pulling fs layer",
                LayerState::Downloading => "Downloading",
                LayerState::Exists => "Already exists",
                LayerState::Done => "Pull complete",
            };
            let mut m = Message::status(status, short(&digest));
            m.progress_detail = Some(Progress::default());
            if state == LayerState::Downloading {
                m.progress_detail = Some(Progress { current: Some(current), total: Some(total) });
                m.progress = progress_bar(current, total);
            }
            Some(m)
        }
    }
}

/// `POST /images/create?fromImage=…&tag=…`: a pull. A failure before
/// anything was fetched (no such image, no access) is an HTTP error, as
/// dockerd answers it; once the stream runs, an error is its last message.
pub async fn create(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    if let Some(src) = req.query("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request(format!("fromSrc {src:?}: berth imports from the request body only (fromSrc=-), never from a URL")));
        }
        return import(engine, req).await;
    }
    let from = req
        .query("fromImage")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage is required"))?;
    let reference = match req.query("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_owned(),
    };
    let parsed = Reference::parse(&reference)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .with_default_tag();
    let platform = match req.query("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(
            berth_registry::Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let had = engine.images().resolve(&parsed.canonical()).ok().map(|i| i.id);
    let pull =
        PullRequest { reference: parsed.canonical(), credentials: credentials(req)?, platform };
    let (ptx, mut prx) = mpsc::unbounded_channel();
    let eng = engine.clone();
    let mut job = tokio::spawn(async move { eng.images().pull(pull, Some(ptx)).await });
    // Up to the first layer: an early failure is the request's. A pull
    // that is done by then (the image is up to date) has its result here.
    let mut done = None;
    let first = loop {
        tokio::select! {
            res = &mut job => {
                let res = res.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
                let (name, repo) = (familiar(&parsed.canonical()), familiar(&parsed.repository()));
                done = Some(Ok(Ok(res.map_err(|e| crate::error::pull(e, &name, &repo))?)));
                break None;
            }
            p = prx.recv() => match p {
                Some(PullProgress::Resolved { .. }) => continue,
                Some(p) => break Some(p),
                None => continue,
            }
        }
    };
    let (tx, rx) = mpsc::channel(64);
    let tag = parsed.tag.clone().unwrap_or_default();
    let name = familiar(&parsed.canonical());
    // As dockerd: the repository path without its registry (`library/busybox`).
    let _ = tx.try_send(message(&Message::status(format!("Pulling from {}", parsed.path), tag)));
    tokio::spawn(async move {
        if let Some(m) = first.and_then(layer_message) {
            let _ = tx.send(message(&m)).await;
        }
        let result = loop {
            if let Some(r) = done.take() {
                break r;
            }
            tokio::select! {
                res = &mut job => break res,
                Some(p) = prx.recv() => if let Some(m) = layer_message(p) {
                    if tx.send(message(&m)).await.is_err() {
                        // The client went away: so does the pull.
                        job.abort();
                        return;
                    }
                },
            }
        };
        while let Ok(p) = prx.try_recv() {
            if let Some(m) = layer_message(p) {
                let _ = tx.send(message(&m)).await;
            }
        }
        let last = match result {
            Ok(Ok(img)) => {
                let digest = img
                    .repo_digests
                    .first()
                    .and_then(|d| d.split_once('@'))
                    .map(|(_, d)| d.to_owned())
                    .unwrap_or_default();
                if !digest.is_empty() {
                    let _ =
                        tx.send(message(&Message::status(format!("Digest: {digest}"), ""))).await;
                }
                let status = if had.as_deref() == Some(img.id.as_str()) {
                    format!("Status: Image is up to date for {name}")
                } else {
                    format!("Status: Downloaded newer image for {name}")
                };
                Message::status(status, "")
            }
            Ok(Err(e)) => Message::error(e.to_string()),
            Err(e) => Message::error(e.to_string()),
        };
        let _ = tx.send(message(&last)).await;
    });
    Ok(http::stream("application/json", rx))
}

/// `POST /images/create?fromSrc=-&repo=&tag=&changes=&message=`: a rootfs
/// tarball in the body becomes a one-layer image (`docker import`). The
/// request is checked before the body is read; the answer is the image id.
async fn import(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let repo = req.query("repo").unwrap_or_default();
    let reference = match req.query("tag").filter(|t| !t.is_empty()) {
        Some(t) if !repo.is_empty() => format!("{repo}:{t}"),
        _ => repo.to_owned(),
    };
    let import = berth_engine::image::ImportRequest {
        reference,
        changes: req.query_all("changes"),
        message: req.query("message").unwrap_or_default().to_owned(),
    };
    let mut upload = req.body_stream();
    let checked = engine.images().check_import(&import);
    let result = match checked {
        Ok(_) => engine.images().import(import, upload.chunks()).await,
        Err(e) => Err(e),
    };
    let img = match result {
        Ok(img) => img,
        Err(e) => {
            upload.finished().await;
            return Err(e.into());
        }
    };
    Ok(http::text(
        StatusCode::OK,
        "application/json",
        message(&Message::status(img.id, "")).to_vec(),
    ))
}

/// `POST /images/{name}/tag?repo=…&tag=…`.
pub fn tag(engine: &Engine, name: &str, req: &Req) -> ApiResult<Response<Body>> {
    let repo = req
        .query("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name (repo) is required"))?;
    let target = match req.query("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_owned(),
    };
    engine.images().tag(name, &target).map_err(|e| crate::error::no_such_image(e, name))?;
    Ok(http::empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force=`: what was untagged and deleted.
pub fn remove(engine: &Engine, name: &str, req: &Req) -> ApiResult<Response<Body>> {
    let out = engine
        .remove_image(name, req.flag("force"))
        .map_err(|e| crate::error::no_such_image(e, name))?;
    Ok(http::json(StatusCode::OK, &deleted_items(&out.untagged, &out.deleted)))
}

/// A removal's or a prune's entries: the names untagged, then the ids deleted.
pub(crate) fn deleted_items(untagged: &[String], deleted: &[String]) -> Vec<image::DeleteItem> {
    let untagged = untagged
        .iter()
        .map(|t| image::DeleteItem { untagged: Some(familiar(t)), ..Default::default() });
    let deleted = deleted
        .iter()
        .map(|d| image::DeleteItem { deleted: Some(d.clone()), ..Default::default() });
    untagged.chain(deleted).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters_as_docker_matches_them() {
        assert!(matches_reference("busybox", "busybox:latest"));
        assert!(matches_reference("busy*", "busybox:latest"));
        assert!(matches_reference("busybox:lat*", "busybox:latest"));
        assert!(!matches_reference("busybox:1.36", "busybox:latest"));
        assert!(!matches_reference("*box", "library/busybox:latest"), "* stays within a component");
        assert!(matches_reference("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"));
    }

    #[test]
    fn progress_as_the_cli_draws_it() {
        assert!(progress_bar(50, 100).starts_with("[=========================>"));
        assert!(progress_bar(100, 100).ends_with("] 100B/100B"));
        assert_eq!(human_size(1_500_000), "1.5MB");
    }
}
