//! BuildKit's session, as dockerd serves it to the docker CLI's BuildKit
//! path (`DOCKER_BUILDKIT=1`): `POST /session` is hijacked (`101`,
//! `Upgrade: h2c`) and berthd becomes an HTTP/2 gRPC *client* on that
//! connection, calling the services the CLI exposes (its
//! `X-Docker-Expose-Session-Grpc-Method` headers): the file sync that
//! sends the context and the Dockerfile, and the secrets. A build names
//! its session (`/build?version=2&session=…`) and waits for it.

pub mod filesync;
pub mod ssh;
pub mod wire;

use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Req};
use bytes::{Buf, Bytes, BytesMut};
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long a build waits for the session it names to be dialled.
const SESSION_WAIT: Duration = Duration::from_secs(10);
/// The largest gRPC message berth accepts from a session.
const MAX_MESSAGE: usize = 16 << 20;

/// The failures of a session's calls.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session: {0}")]
    Transport(#[from] h2::Error),
    #[error("session: {0}")]
    Protocol(String),
    #[error("session: the client answered {code}: {message}")]
    Status { code: String, message: String },
}

/// A client's open session.
#[derive(Clone)]
pub struct Session {
    send: h2::client::SendRequest<Bytes>,
    methods: Vec<String>,
}

/// The sessions clients hold open, by their id.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    changed: tokio::sync::Notify,
}

impl Sessions {
    /// The session `id`, waiting a little for it to be dialled.
    pub async fn get(&self, id: &str) -> Option<Session> {
        let deadline = tokio::time::Instant::now() + SESSION_WAIT;
        loop {
            let changed = self.changed.notified();
            if let Some(s) = self.open.lock().ok()?.get(id).cloned() {
                return Some(s);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }

    fn insert(&self, id: &str, s: Session) {
        if let Ok(mut open) = self.open.lock() {
            open.insert(id.to_owned(), s);
        }
        self.changed.notify_waiters();
    }

    fn remove(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }
}

/// `POST /session`: the answer is `101`; the connection is then the
/// session's until the client closes it.
pub fn open(sessions: &std::sync::Arc<Sessions>, req: &mut Req) -> ApiResult<Response<Body>> {
    let header = |k: &str| req.headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let id = header("x-docker-expose-session-uuid")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("no X-Docker-Expose-Session-Uuid header"))?;
    let methods: Vec<String> = req
        .headers
        .get_all("x-docker-expose-session-grpc-method")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|m| m.trim().to_owned()))
        .collect();
    let upgrade = req.upgrade.take().ok_or_else(|| {
        ApiError::bad_request(
            "/session hijacks the connection: send Connection: Upgrade and Upgrade: h2c",
        )
    })?;
    let sessions = sessions.clone();
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(u) => hyper_util::rt::TokioIo::new(u),
            Err(e) => return tracing::debug!(error = %e, "session: no upgrade"),
        };
        let (send, conn) = match h2::client::Builder::new()
            .max_frame_size(1 << 20)
            .initial_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake::<_, Bytes>(io)
            .await
        {
            Ok(c) => c,
            Err(e) => return tracing::debug!(error = %e, "session: no HTTP/2"),
        };
        sessions.insert(&id, Session { send, methods });
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, session = %id, "session ended");
        }
        sessions.remove(&id);
    });
    let mut r = crate::http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert("Connection", "Upgrade".parse().expect("ascii"));
    h.insert("Upgrade", "h2c".parse().expect("ascii"));
    Ok(r)
}

impl Session {
    /// Whether the client serves `method` (`/moby.filesync.v1.FileSync/DiffCopy`).
    pub fn serves(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// Opens a streaming call of `method` with gRPC metadata `headers`.
    pub async fn call(&self, method: &str, headers: &[(&str, &str)]) -> Result<Call, SessionError> {
        let mut req = hyper::Request::post(format!("http://localhost{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(()).map_err(|e| SessionError::Protocol(e.to_string()))?;
        let mut send = self.send.clone().ready().await?;
        let (response, stream) = send.send_request(req, false)?;
        Ok(Call {
            tx: CallSend { send: stream },
            rx: CallRecv { response: Some(response), recv: None, buf: BytesMut::new() },
        })
    }
}

/// One call in flight: messages out, messages in.
pub struct Call {
    tx: CallSend,
    rx: CallRecv,
}

/// A call's sending half.
pub struct CallSend {
    send: h2::SendStream<Bytes>,
}

/// A call's receiving half.
pub struct CallRecv {
    response: Option<h2::client::ResponseFuture>,
    recv: Option<h2::RecvStream>,
    buf: BytesMut,
}

impl Call {
    pub fn send<M: prost::Message>(&mut self, m: &M) -> Result<(), SessionError> {
        self.tx.send(m)
    }

    pub fn close_send(&mut self) -> Result<(), SessionError> {
        self.tx.close_send()
    }

    pub async fn recv<M: prost::Message + Default>(&mut self) -> Result<Option<M>, SessionError> {
        self.rx.recv().await
    }

    /// The two halves, to send and receive at once.
    pub fn split(self) -> (CallSend, CallRecv) {
        (self.tx, self.rx)
    }
}

impl CallSend {
    /// Sends one message.
    pub fn send<M: prost::Message>(&mut self, m: &M) -> Result<(), SessionError> {
        let body = m.encode_to_vec();
        let mut framed = Vec::with_capacity(5 + body.len());
        framed.push(0);
        framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
        framed.extend_from_slice(&body);
        self.send.send_data(framed.into(), false)?;
        Ok(())
    }

    /// No more messages from berth.
    pub fn close_send(&mut self) -> Result<(), SessionError> {
        self.send.send_data(Bytes::new(), true)?;
        Ok(())
    }
}

impl CallRecv {
    /// The next message; `None` when the client ended the call well.
    pub async fn recv<M: prost::Message + Default>(&mut self) -> Result<Option<M>, SessionError> {
        if self.recv.is_none() {
            let Some(response) = self.response.take() else { return Ok(None) };
            let response = response.await?;
            status(response.headers())?;
            self.recv = Some(response.into_body());
        }
        let recv = self.recv.as_mut().expect("set above");
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf[0] != 0 {
                    return Err(SessionError::Protocol(
                        "compressed messages are not supported".into(),
                    ));
                }
                if len > MAX_MESSAGE {
                    return Err(SessionError::Protocol(format!("a message of {len} bytes")));
                }
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    let body = self.buf.split_to(len).freeze();
                    return M::decode(body)
                        .map(Some)
                        .map_err(|e| SessionError::Protocol(e.to_string()));
                }
            }
            match recv.data().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    let _ = recv.flow_control().release_capacity(chunk.len());
                    self.buf.extend_from_slice(&chunk);
                }
                None => {
                    if let Some(trailers) = recv.trailers().await? {
                        status(&trailers)?;
                    }
                    return match self.buf.is_empty() {
                        true => Ok(None),
                        false => Err(SessionError::Protocol("a message cut short".into())),
                    };
                }
            }
        }
    }
}

/// A gRPC status other than OK, as an error.
fn status(headers: &hyper::HeaderMap) -> Result<(), SessionError> {
    match headers.get("grpc-status").and_then(|v| v.to_str().ok()) {
        None | Some("0") => Ok(()),
        Some(code) => Err(SessionError::Status {
            code: code.to_owned(),
            message: headers
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .map(percent_decode)
                .unwrap_or_default(),
        }),
    }
}

/// gRPC's `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}
