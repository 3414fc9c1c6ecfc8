//! An HTTP/1.1 client for berthd's Docker Engine API over its unix socket,
//! as the docker CLI is one: one connection per request, JSON in and out,
//! streamed bodies for archives and progress, and hijacked connections for
//! attach and exec. Errors from the daemon keep their HTTP status.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;

/// The request body types the CLI sends.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A hijacked connection (attach, exec).
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// A failed call: the daemon's answer (its status and message), or no daemon.
#[derive(Debug)]
pub struct ApiError {
    /// `None`: the daemon could not be reached, or the exchange broke.
    pub status: Option<StatusCode>,
    pub message: String,
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        self.status == Some(StatusCode::NOT_FOUND)
    }
}

impl From<ApiError> for crate::Failure {
    fn from(e: ApiError) -> Self {
        match e.status {
            Some(_) => crate::Failure::new(format!("Error response from daemon: {}", e.message)),
            None => crate::Failure::new(e.message),
        }
    }
}

/// berthd's Docker API socket.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
}

fn broken(e: impl std::fmt::Display) -> ApiError {
    ApiError { status: None, message: format!("Error: talking to the daemon: {e}") }
}

/// A typed request body (`berth_docker_api`) as JSON.
pub fn json_body(v: &impl Serialize) -> Body {
    Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// No body.
pub fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync()
}

/// A body read from `input` as it is sent; a read failure cuts the request.
pub fn reader_body(input: impl tokio::io::AsyncRead + Send + 'static) -> Body {
    let frames = tokio_stream::StreamExt::map(
        tokio_util::io::ReaderStream::with_capacity(input, 256 * 1024),
        |c| c.map(Frame::data),
    );
    BodyExt::boxed_unsync(StreamBody::new(frames))
}

/// `key=value&…`, URL-encoded.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, &v);
    }
    s.finish()
}

impl Client {
    /// `unix:///path` or `/path`; TCP is for the docker CLI (with TLS), not this one.
    pub fn new(host: &str) -> Result<Self, crate::Failure> {
        match host.strip_prefix("unix://").or(host.starts_with('/').then_some(host)) {
            Some(p) => Ok(Client { path: PathBuf::from(p) }),
            None => Err(crate::Failure::new(format!(
                "Error: unsupported host {host:?}: use unix:///path/to/docker.sock"
            ))),
        }
    }

    /// Sends one request; any answer (even an error status) is returned.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response<Incoming>, ApiError> {
        let stream = tokio::net::UnixStream::connect(&self.path).await.map_err(|_| ApiError {
            status: None,
            message: format!(
                "Cannot connect to the berth daemon at unix://{}. Is berthd running?",
                self.path.display()
            ),
        })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(broken)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut req = Request::builder().method(method).uri(path).header("Host", "berthd");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.header("Content-Type", "application/json").body(body).map_err(broken)?;
        sender.send_request(req).await.map_err(broken)
    }

    /// Sends a request and keeps only successful answers (2xx, 304): an
    /// error status becomes the daemon's message.
    pub async fn checked(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response<Incoming>, ApiError> {
        let resp = self.send(method, path, headers, body).await?;
        let status = resp.status();
        if status.is_success()
            || status == StatusCode::NOT_MODIFIED
            || status == StatusCode::SWITCHING_PROTOCOLS
        {
            return Ok(resp);
        }
        let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let message = serde_json::from_slice::<berth_docker_api::ErrorResponse>(&bytes)
            .ok()
            .map(|e| e.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
        Err(ApiError { status: Some(status), message })
    }

    /// A call whose answer is a typed body (its default for an empty one);
    /// `body` from [`json_body`].
    pub async fn json<T: DeserializeOwned + Default>(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<T, ApiError> {
        let resp = self.checked(method, path, &[], body.unwrap_or_else(empty)).await?;
        let bytes = resp.into_body().collect().await.map_err(broken)?.to_bytes();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(&bytes).map_err(broken)
    }

    /// A call whose answer, if any, is not needed.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<(), ApiError> {
        let resp = self.checked(method, path, &[], body.unwrap_or_else(empty)).await?;
        let _ = resp.into_body().collect().await;
        Ok(())
    }

    /// `GET path` as a typed body.
    pub async fn get<T: DeserializeOwned + Default>(&self, path: &str) -> Result<T, ApiError> {
        self.json(Method::GET, path, None).await
    }

    /// `POST path` without a body; the answer is dropped.
    pub async fn post(&self, path: &str) -> Result<StatusCode, ApiError> {
        let resp = self.checked(Method::POST, path, &[], empty()).await?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// Upgrades the connection with `headers` (a BuildKit session: `Upgrade: h2c`).
    pub async fn hijack_with(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Upgraded, ApiError> {
        let resp = self.checked(Method::POST, path, headers, empty()).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(broken(format!(
                "the daemon answered {} where it should have upgraded the connection",
                resp.status()
            )));
        }
        hyper::upgrade::on(resp).await.map(TokioIo::new).map_err(broken)
    }

    /// Upgrades the connection (`Upgrade: tcp`), as attach and exec start do.
    pub async fn hijack(&self, path: &str, body: Option<Body>) -> Result<Upgraded, ApiError> {
        let headers = [("Connection", "Upgrade".to_owned()), ("Upgrade", "tcp".to_owned())];
        let resp = self.checked(Method::POST, path, &headers, body.unwrap_or_else(empty)).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(broken(format!(
                "the daemon answered {} where it should have upgraded the connection",
                resp.status()
            )));
        }
        hyper::upgrade::on(resp).await.map(TokioIo::new).map_err(broken)
    }
}

/// The next chunk of a streamed body; `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, ApiError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(broken(e)),
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    return Ok(Some(d));
                }
            }
        }
    }
}

/// Splits a body of JSON documents (one per line, as Docker's progress
/// and event streams are) and hands each to `each` as it arrives; a line
/// that isn't one is skipped.
pub async fn each_json<T: DeserializeOwned>(
    mut body: Incoming,
    mut each: impl FnMut(T) -> Result<(), crate::Failure>,
) -> Result<(), crate::Failure> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            if let Ok(v) = serde_json::from_slice::<T>(&line) {
                each(v)?;
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<T>(&buf) {
        each(v)?;
    }
    Ok(())
}

/// A container or exec id or name as one path segment (a `/` in it can't
/// reach another route).
pub fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An image reference in a path: the image routes take the rest of the
/// path, so its `/` stay (and `:` and `@` stay readable).
pub fn image_seg(s: &str) -> String {
    seg(s).replace("%2F", "/").replace("%3A", ":").replace("%40", "@")
}
