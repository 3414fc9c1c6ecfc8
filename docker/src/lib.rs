//! The Docker Engine API front: berthd serves it on `<state>/docker.sock`
//! (`[docker] socket`), so the unmodified `docker` CLI, docker-compose and
//! the Docker SDKs drive the same engine kubelet drives through the CRI.
//!
//! A thin adapter, as the CRI front is: `version.rs` negotiates the API
//! version (1.24–1.47; `Api-Version` on every answer), `error.rs` is the one
//! place engine errors become Docker's status codes and `{"message"}`,
//! `http.rs` holds the request and answer helpers (bounded JSON bodies,
//! streamed answers), and one file per group of endpoints turns requests
//! into engine calls: `system.rs` (`/_ping`, `/version`, `/info`),
//! `images.rs` (list, inspect, pull with Docker's progress messages, tag,
//! remove), `containers.rs` (list, create with `create.rs`, start, stop,
//! restart, kill, wait, remove, inspect, logs), `archive.rs` (`docker cp`), `changes.rs` (diff, export, commit), `/auth` for `docker login`. Endpoints berth doesn't serve yet are
//! refused by name (501), never ignored.
//!
//! The socket is root-equivalent: mode 0660 and group `docker` when that
//! group exists, else 0600 — as dockerd sets it.

#![recursion_limit = "256"]

mod archive;
mod attach;
mod build;
mod build_v2;
mod changes;
mod containers;
mod contexts;
mod create;
mod documents;
pub mod error;
mod events;
mod exec;
mod hijack;
mod http;
mod image_ops;
mod images;
mod mounts;
mod networks;
mod ports;
mod session;
mod stats;
mod system;
pub mod tls;
mod top;
mod update;
pub mod version;
mod volumes;

use berth_engine::Engine;
use error::{ApiError, ApiResult};
use http::{Body, Req};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tracing::Instrument;

/// Binds the API socket at `path` with dockerd's mode and group.
pub fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    match nix::unistd::Group::from_name("docker").ok().flatten() {
        Some(g) => {
            nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(g.gid))
                .map_err(std::io::Error::from)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        }
        None => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?,
    }
    Ok(listener)
}

/// What the front keeps beside the engine: Docker's execs, which live in
/// dockerd's memory only, as here.
pub(crate) struct Front {
    pub engine: Engine,
    pub execs: exec::Execs,
    pub journal: std::sync::Arc<events::Journal>,
    pub builder: std::sync::Arc<berth_builder::Builder>,
    /// BuildKit sessions clients hold open (`/session`).
    pub sessions: std::sync::Arc<session::Sessions>,
    /// Builds by the id their client gave (`/build/cancel`).
    pub builds: std::sync::Arc<build::Named>,
}

/// A TCP listener and the mutual-TLS acceptor its connections go through.
pub struct TcpTls {
    pub listener: tokio::net::TcpListener,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// How long a TCP client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What berthd's `[builder]` section grants builds.
pub use berth_builder::{Grants as BuildGrants, SECURITY_INSECURE};

/// Serves the API on `listener` (and on `tcp`, with mutual TLS) until
/// `stop`, then lets requests finish for `grace`. Connections may be
/// upgraded (attach and exec are hijacked).
pub async fn serve(
    engine: Engine,
    listener: tokio::net::UnixListener,
    tcp: Option<TcpTls>,
    grants: BuildGrants,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let journal = events::Journal::follow(&engine);
    let builder = match berth_builder::Builder::open(engine.clone()) {
        Ok(b) => std::sync::Arc::new(b.granting(grants)),
        Err(e) => {
            tracing::error!(error = %e, "the builder could not open its cache; the Docker API is not served");
            return;
        }
    };
    let front = std::sync::Arc::new(Front {
        engine,
        execs: exec::Execs::default(),
        journal,
        builder,
        sessions: Default::default(),
        builds: Default::default(),
    });
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let tcp_accept = async {
            match &tcp {
                Some(t) => t.listener.accept().await.map(|(s, peer)| (s, peer, t.acceptor.clone())),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            c = listener.accept() => match c {
                Ok((stream, _)) => {
                    conns.spawn(connection(front.clone(), stream, stop_rx.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            c = tcp_accept => match c {
                Ok((stream, peer, acceptor)) => {
                    let (front, stop_rx) = (front.clone(), stop_rx.clone());
                    conns.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => connection(front, tls, stop_rx).await,
                            Ok(Err(e)) => tracing::info!(%peer, error = %e, "docker API: TLS handshake refused"),
                            Err(_) => tracing::info!(%peer, "docker API: TLS handshake timed out"),
                        }
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            _ = &mut stop => break,
        }
        while conns.try_join_next().is_some() {}
    }
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
}

/// One client connection, until it closes or the server stops.
async fn connection<I>(
    front: std::sync::Arc<Front>,
    io: I,
    mut stop_rx: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let front = front.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&front, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(1 << 20);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service).with_upgrades();
    tokio::pin!(conn);
    let done = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop_rx.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = done {
        tracing::debug!(error = %e, "docker API connection");
    }
}

async fn handle(front: &Front, mut req: Request<Incoming>) -> Response<Body> {
    let span = tracing::info_span!("docker", method = %req.method(), path = %req.uri().path(), api = tracing::field::Empty);
    async move {
        tracing::debug!("request");
        // Only attach and exec take it: the connection becomes theirs.
        let upgrade = req
            .headers()
            .contains_key(hyper::header::UPGRADE)
            .then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let routed = version::split(parts.uri.path()).map(|(version, path)| Req {
            method: parts.method.clone(),
            version,
            path,
            query: http::parse_query(parts.uri.query()),
            raw_query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            body: Some(body),
            upgrade,
        });
        let answer = match routed {
            Ok(r) => route(front, r).await,
            Err(e) => Err(e),
        };
        answer.unwrap_or_else(|e| {
            tracing::info!(status = e.status.as_u16(), error = %e.message, "refused");
            http::error(&e)
        })
    }
    .instrument(span)
    .await
}

async fn route(front: &Front, mut req: Req) -> ApiResult<Response<Body>> {
    tracing::Span::current().record("api", tracing::field::display(req.version));
    let engine = &front.engine;
    let path = req.path.clone();
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    match (&req.method, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(&req)),
        (&Method::GET, ["version"]) => Ok(system::version()),
        (&Method::GET, ["info"]) => system::info(engine),
        (&Method::POST, ["auth"]) => system::auth(engine, &mut req).await,
        (&Method::GET, ["containers", "json"]) => containers::list(engine, &req),
        (&Method::POST, ["containers", "create"]) => containers::create(engine, &mut req).await,
        (&Method::POST, ["containers", id, "start"]) => containers::start(engine, id).await,
        (&Method::POST, ["containers", id, "stop"]) => containers::stop(engine, id, &req).await,
        (&Method::POST, ["containers", id, "restart"]) => {
            containers::restart(engine, id, &req).await
        }
        (&Method::POST, ["containers", id, "kill"]) => containers::kill(engine, id, &req).await,
        (&Method::POST, ["containers", id, "wait"]) => containers::wait(engine, id, &req).await,
        (&Method::DELETE, ["containers", id]) => containers::remove(engine, id, &req).await,
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(engine, id),
        (&Method::GET, ["containers", id, "logs"]) => containers::logs(engine, id, &req).await,
        (&Method::POST, ["containers", id, "attach"]) => attach::attach(engine, id, &mut req).await,
        (&Method::POST, ["containers", id, "resize"]) => attach::resize(engine, id, &req).await,
        (&Method::POST, ["containers", id, "rename"]) => containers::rename(engine, id, &req).await,
        (&Method::POST, ["containers", id, "update"]) => update::update(engine, id, &mut req).await,
        (&Method::POST, ["containers", id, "pause"]) => containers::pause(engine, id, true).await,
        (&Method::POST, ["containers", id, "unpause"]) => {
            containers::pause(engine, id, false).await
        }
        (&Method::HEAD, ["containers", id, "archive"]) => archive::stat(engine, id, &req).await,
        (&Method::GET, ["containers", id, "archive"]) => archive::get(engine, id, &req).await,
        (&Method::PUT, ["containers", id, "archive"]) => archive::put(engine, id, &mut req).await,
        (&Method::POST, ["commit"]) => changes::commit(engine, &mut req).await,
        (&Method::POST, ["build"]) => {
            build::build(&front.builder, &front.sessions, &front.builds, &mut req).await
        }
        (&Method::POST, ["build", "cancel"]) => Ok(build::cancel(&front.builds, &req)),
        (&Method::POST, ["session"]) => session::open(&front.sessions, &mut req),
        (&Method::POST, ["build", "prune"]) => build::prune(&front.builder, &req),
        (&Method::GET, ["berth", "contexts", id]) => contexts::listing(&front.builder, id).await,
        (&Method::POST, ["berth", "contexts", id]) => {
            contexts::sync(&front.builder, id, &mut req).await
        }
        (&Method::GET, ["containers", id, "changes"]) => changes::changes(engine, id).await,
        (&Method::GET, ["containers", id, "export"]) => changes::export(engine, id).await,
        (&Method::GET, ["containers", id, "top"]) => top::top(engine, id, &req).await,
        (&Method::GET, ["containers", id, "stats"]) => stats::stats(engine, id, &req).await,
        (&Method::GET, ["events"]) => events::events(front, &req),
        (&Method::POST, ["containers", id, "exec"]) => exec::create(front, id, &mut req).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(front, id, &mut req).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(front, id, &req),
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(front, id),
        (&Method::GET, ["images", "json"]) => images::list(engine, &req),
        (&Method::POST, ["images", "create"]) => images::create(engine, &mut req).await,
        (&Method::GET, ["images", "get"]) => image_ops::save(engine, req.query_all("names")),
        (&Method::POST, ["images", "load"]) => image_ops::load(engine, &mut req).await,
        (&Method::POST, ["images", "prune"]) => image_ops::prune(engine, &req).await,
        (&Method::POST, ["containers", "prune"]) => containers::prune(engine, &req).await,
        (&Method::GET, ["system", "df"]) => system::df(engine, &front.builder).await,
        (&Method::POST, ["networks", "create"]) => networks::create(engine, &mut req).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune(engine, &req),
        (&Method::GET, ["networks"]) => networks::list(engine, &req),
        (&Method::GET, ["networks", id]) => networks::inspect(engine, id),
        (&Method::DELETE, ["networks", id]) => networks::remove(engine, id),
        (&Method::POST, ["networks", id, "connect"]) => {
            networks::connect(engine, id, &mut req).await
        }
        (&Method::POST, ["networks", id, "disconnect"]) => {
            networks::disconnect(engine, id, &mut req).await
        }
        (&Method::POST, ["volumes", "create"]) => volumes::create(engine, &mut req).await,
        (&Method::GET, ["volumes"]) => volumes::list(engine, &req),
        (&Method::POST, ["volumes", "prune"]) => volumes::prune(engine, &req).await,
        (&Method::GET, ["volumes", name]) => volumes::inspect(engine, name),
        (&Method::DELETE, ["volumes", name]) => volumes::remove(engine, name, &req).await,
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            images::inspect(engine, &name.join("/"))
        }
        (&Method::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            image_ops::history(engine, &name.join("/")).await
        }
        (&Method::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            image_ops::save(engine, vec![name.join("/")])
        }
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            image_ops::push(engine, &name.join("/"), &req).await
        }
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(engine, &name.join("/"), &req)
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::remove(engine, &name.join("/"), &req)
        }
        (m, [first, ..]) if KNOWN.contains(first) => Err(ApiError::new(
            hyper::StatusCode::NOT_IMPLEMENTED,
            format!("{m} /{} is not supported by berth yet", req.path.join("/")),
        )),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Docker's endpoint groups: what berth doesn't serve of them is refused by name.
const KNOWN: [&str; 17] = [
    "containers",
    "images",
    "exec",
    "networks",
    "volumes",
    "build",
    "events",
    "system",
    "auth",
    "commit",
    "plugins",
    "swarm",
    "nodes",
    "services",
    "tasks",
    "secrets",
    "distribution",
];
