//! `POST /build?version=2&session=…`, the docker CLI's BuildKit path
//! (`DOCKER_BUILDKIT=1`): no body; the Dockerfile, `.dockerignore` and
//! the context come over the client's session (`session/`), its secrets
//! too, and the answer is BuildKit's progress (`moby.buildkit.trace`,
//! which the CLI draws as it draws BuildKit's) then the image id
//! (`moby.image.id`). The build itself is the same as every front's.

use crate::build::Held;
use crate::error::{ApiError, ApiResult};
use crate::session::filesync::{self, Want};
use crate::session::wire::{StatusResponse, Vertex, VertexLog};
use crate::session::{Session, Sessions};
use base64::Engine as _;
use berth_builder::{BuildError, BuildRequest, Builder, Event};
use berth_docker_api::progress::{Aux, ErrorDetail, Message, TraceMessage};
use bytes::Bytes;
use hyper::StatusCode;
use sha2::Digest;
use std::collections::HashMap;
use std::sync::Arc;

const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";

/// The Dockerfile, the context (extracted for this build) and the secrets
/// it mounts, from the client's session.
pub(crate) async fn from_session(
    builder: &Arc<Builder>,
    sessions: &Sessions,
    id: &str,
    dockerfile: &str,
    build: &mut BuildRequest,
) -> ApiResult<(Held, String)> {
    let session = sessions.get(id).await.ok_or_else(|| {
        ApiError::bad_request(format!(
            "no active session for {id}: the client did not dial /session"
        ))
    })?;
    let name = dockerfile.trim_start_matches("./").to_owned();
    let want = Want {
        dir: "dockerfile",
        include: vec![name.clone()],
        follow: vec![name.clone()],
        ..Default::default()
    };
    let files = filesync::collect(&session, &want).await?;
    let text = files
        .into_iter()
        .find(|(p, _)| p.trim_start_matches('/') == name)
        .map(|(_, c)| String::from_utf8_lossy(&c).into_owned())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "failed to read dockerfile: open {name}: no such file or directory"
            ))
        })?;
    // .dockerignore first, so that what it excludes is never sent.
    let want = Want { dir: "context", include: vec![".dockerignore".into()], ..Default::default() };
    let ignore = filesync::collect(&session, &want).await?;
    let exclude: Vec<String> = ignore
        .iter()
        .flat_map(|(_, c)| {
            String::from_utf8_lossy(c).lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let ctx = context(builder, &session, exclude, &format!("{:?} {name}", build.tags)).await?;
    for id in berth_builder::mounts::secret_ids(&text) {
        if let Some(data) = secret(&session, &id).await? {
            build.secrets.insert(id, berth_builder::Secret(data));
        }
    }
    ssh_agents(&session, &text, build).await?;
    credentials(&session, &text, build).await?;
    build.context = ctx.dir().to_path_buf();
    Ok((Held::Fresh(ctx), text))
}

const CREDENTIALS: &str = "/moby.filesync.v1.Auth/Credentials";

/// The client's credentials for the registries of the images the
/// Dockerfile names (the docker CLI answers from its config, as for dockerd).
async fn credentials(
    session: &Session,
    dockerfile: &str,
    build: &mut BuildRequest,
) -> ApiResult<()> {
    if !session.serves(CREDENTIALS) {
        return Ok(());
    }
    let mut hosts: Vec<String> = berth_builder::mounts::image_names(dockerfile)
        .iter()
        .filter_map(|n| berth_registry::Reference::parse(n).ok())
        .map(|r| r.domain)
        .collect();
    hosts.sort();
    hosts.dedup();
    for host in hosts {
        if build.credentials.contains_key(&host) {
            continue;
        }
        // Docker Hub's host, as BuildKit asks for it.
        let asked = if host == "docker.io" { "registry-1.docker.io" } else { host.as_str() };
        let mut call = session.call(CREDENTIALS, &[]).await?;
        call.send(&crate::session::wire::CredentialsRequest { host: asked.to_owned() })?;
        call.close_send()?;
        let Ok(Some(c)) = call.recv::<crate::session::wire::CredentialsResponse>().await else {
            continue;
        };
        // A secret without a user name is an identity token.
        let (password, token) = match c.username.is_empty() {
            true => ("", c.secret.as_str()),
            false => (c.secret.as_str(), ""),
        };
        if let Some(creds) =
            berth_registry::Credentials::from_fields(&c.username, password, "", token, "")
        {
            build.credentials.insert(host, creds);
        }
    }
    Ok(())
}

/// The ssh agents the Dockerfile mounts that the client forwards.
pub(crate) async fn ssh_agents(
    session: &Session,
    dockerfile: &str,
    build: &mut BuildRequest,
) -> ApiResult<()> {
    for id in berth_builder::mounts::ssh_ids(dockerfile) {
        if crate::session::ssh::has_agent(session, &id).await? {
            let agent = crate::session::ssh::Agent { session: session.clone(), id: id.clone() };
            build.ssh.insert(id, berth_builder::SshSource(Arc::new(agent)));
        }
    }
    Ok(())
}

/// The context, received as a tar stream and extracted like a classic one.
async fn context(
    builder: &Arc<Builder>,
    session: &Session,
    exclude: Vec<String>,
    hint: &str,
) -> ApiResult<berth_builder::context::Context> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = tokio::task::spawn_blocking(move || {
        filesync::write_tar(rx, std::io::BufWriter::new(std::fs::File::from(w)))
    });
    let (b, hint) = (builder.clone(), hint.to_owned());
    let reader = tokio::task::spawn_blocking(move || {
        let ctx = b.context_from_tar(&hint, std::io::BufReader::new(std::fs::File::from(r)))?;
        ctx.apply_ignore()?;
        Ok::<_, BuildError>(ctx)
    });
    let want = Want { dir: "context", exclude, ..Default::default() };
    let received = filesync::receive(session, &want, &tx).await;
    drop(tx);
    let joined =
        |e: tokio::task::JoinError| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let written = writer.await.map_err(joined)?;
    let extracted = reader.await.map_err(joined)?;
    received?;
    written.map_err(|e| ApiError::bad_request(format!("the context: {e}")))?;
    extracted.map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A secret the client holds; `None` if it has none of that id.
async fn secret(session: &Session, id: &str) -> ApiResult<Option<Vec<u8>>> {
    if !session.serves(GET_SECRET) {
        return Ok(None);
    }
    let mut call = session.call(GET_SECRET, &[]).await?;
    call.send(&crate::session::wire::GetSecretRequest { id: id.to_owned() })?;
    call.close_send()?;
    match call.recv::<crate::session::wire::GetSecretResponse>().await {
        Ok(r) => Ok(r.map(|r| r.data)),
        // NotFound: the client was given no such secret.
        Err(crate::session::SessionError::Status { code, .. }) if code == "5" => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The progress as BuildKit words it: a vertex per step (named as
/// `berth build` names it), its output as logs.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    build: String,
    /// `q=1`: the image id is also the answer's only `stream` line (the CLI prints it).
    quiet: bool,
    steps: HashMap<usize, (String, prost_types::Timestamp)>,
}

fn now() -> prost_types::Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

impl Trace {
    pub fn new(quiet: bool) -> Self {
        Trace { build: hex::encode(rand::random::<[u8; 8]>()), quiet, steps: HashMap::new() }
    }

    fn digest(&self, number: usize) -> String {
        let h = sha2::Sha256::digest(format!("{} {number}", self.build));
        format!("sha256:{}", hex::encode(h))
    }

    fn vertex(&self, number: usize, f: impl FnOnce(&mut Vertex)) -> Vertex {
        let (name, started) = self.steps.get(&number).cloned().unwrap_or_default();
        let mut v = Vertex {
            digest: self.digest(number),
            name,
            started: Some(started),
            ..Default::default()
        };
        f(&mut v);
        v
    }

    pub fn event(&mut self, e: Event) -> Option<Bytes> {
        let status = match e {
            Event::Step { number, text, label, .. } => {
                self.steps.insert(number, (format!("[{label}] {text}"), now()));
                StatusResponse { vertexes: vec![self.vertex(number, |_| {})], logs: vec![] }
            }
            Event::Cached { number } => StatusResponse {
                vertexes: vec![self.vertex(number, |v| {
                    v.cached = true;
                    v.completed = Some(now());
                })],
                logs: vec![],
            },
            Event::Output { number, text, stderr } => StatusResponse {
                vertexes: vec![],
                logs: vec![VertexLog {
                    vertex: self.digest(number),
                    timestamp: Some(now()),
                    stream: if stderr { 2 } else { 1 },
                    msg: format!("{text}\n").into_bytes(),
                }],
            },
            Event::StepDone { number, .. } => StatusResponse {
                vertexes: vec![self.vertex(number, |v| v.completed = Some(now()))],
                logs: vec![],
            },
            Event::Warning(_) => return None,
        };
        Some(trace(&status))
    }

    pub fn built(self, b: berth_builder::Built) -> Vec<Bytes> {
        let at = now();
        let export = Vertex {
            digest: self.digest(usize::MAX),
            name: "exporting to image".into(),
            started: Some(at),
            completed: Some(at),
            ..Default::default()
        };
        let mut out = vec![trace(&StatusResponse { vertexes: vec![export], logs: vec![] })];
        if self.quiet {
            out.push(crate::images::message(&Message::stream(format!("{}\n", b.id))));
        }
        let aux = Message {
            id: "moby.image.id".into(),
            aux: Some(Aux { id: Some(b.id), ..Default::default() }),
            ..Default::default()
        };
        out.push(crate::images::message(&aux));
        out
    }

    pub fn failed(&self, e: &BuildError) -> Vec<Bytes> {
        let m = e.to_string();
        let mut out = Vec::new();
        if let BuildError::StepFailed { step, .. } = e {
            let v = self.vertex(*step, |v| {
                v.completed = Some(now());
                v.error = m.clone();
            });
            out.push(trace(&StatusResponse { vertexes: vec![v], logs: vec![] }));
        }
        out.push(crate::images::message(&Message {
            error_detail: Some(ErrorDetail { code: None, message: m.clone() }),
            error: m,
            ..Default::default()
        }));
        out
    }
}

fn trace(s: &StatusResponse) -> Bytes {
    let m = TraceMessage {
        id: "moby.buildkit.trace".into(),
        aux: base64::engine::general_purpose::STANDARD.encode(prost::Message::encode_to_vec(s)),
    };
    let mut v = serde_json::to_vec(&m).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}
