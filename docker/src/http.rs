//! Requests and answers: the query, bounded JSON bodies, JSON and
//! streamed answers, and the headers every dockerd answer carries.

use crate::error::{ApiError, ApiResult};
use crate::version::{ApiVersion, CURRENT};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Method, Response, StatusCode};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Largest JSON body taken (a container create with its whole config fits easily).
pub const MAX_BODY: usize = 4 << 20;

pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// One request, routed.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub version: ApiVersion,
    /// The path's segments after the version.
    pub path: Vec<String>,
    pub query: HashMap<String, String>,
    /// The query as sent, for parameters that repeat (`names=a&names=b`).
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Option<Incoming>,
    /// The connection, once answered with 101 (requests with `Upgrade` only).
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Req {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// Every value of a repeated parameter, in order.
    pub fn query_all(&self, key: &str) -> Vec<String> {
        form_urlencoded::parse(self.raw_query.as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    /// The body as it arrives, for uploads of any size (image archives),
    /// and a signal that it was read to its end. A consumer that stops
    /// early (a bad archive) leaves the rest to be read and dropped: a
    /// client still writing its upload would otherwise never see the
    /// answer, so an error is sent only once [`Upload::finished`] says so.
    pub fn body_stream(&mut self) -> Upload {
        let (tx, rx) = mpsc::channel(16);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        if let Some(mut body) = self.body.take() {
            tokio::spawn(async move {
                let mut forward = true;
                while let Some(frame) = body.frame().await {
                    let chunk = match frame {
                        Ok(f) => match f.into_data() {
                            Ok(d) => Ok(d),
                            Err(_) => continue,
                        },
                        Err(e) => Err(std::io::Error::other(e)),
                    };
                    let failed = chunk.is_err();
                    if forward && tx.send(chunk).await.is_err() {
                        forward = false;
                    }
                    if failed {
                        break;
                    }
                }
                let _ = done_tx.send(());
            });
        }
        Upload { rx: Some(rx), done }
    }

    /// A boolean query parameter as dockerd reads them: `1`, `true`, `True` are true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.query(key), Some("1" | "true" | "True" | "TRUE"))
    }

    /// The `filters` parameter: `{"name": ["a", "b"], …}` (or the old `{"name": {"a": true}}`).
    pub fn filters(&self) -> ApiResult<HashMap<String, Vec<String>>> {
        let Some(raw) = self.query("filters").filter(|f| !f.is_empty()) else {
            return Ok(HashMap::new());
        };
        let f = berth_docker_api::filters::Filters::parse(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        Ok(f.0.into_iter().collect())
    }

    /// The whole body, at most [`MAX_BODY`] bytes.
    pub async fn bytes(&mut self) -> ApiResult<Bytes> {
        Ok(match self.body.take() {
            Some(b) => Limited::new(b, MAX_BODY)
                .collect()
                .await
                .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?
                .to_bytes(),
            None => Bytes::new(),
        })
    }

    /// The body as JSON (`{}` when empty), at most [`MAX_BODY`] bytes.
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> ApiResult<T> {
        let bytes = self.bytes().await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(text)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    }
}

pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn with_headers(mut b: hyper::http::response::Builder) -> hyper::http::response::Builder {
    let h = b.headers_mut().expect("a fresh builder");
    h.insert("Api-Version", CURRENT.to_string().parse().expect("ascii"));
    h.insert("Docker-Experimental", "false".parse().expect("ascii"));
    h.insert("Ostype", "linux".parse().expect("ascii"));
    h.insert(
        "Server",
        concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)").parse().expect("ascii"),
    );
    b
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A typed body (`berth_docker_api`) as the answer's JSON.
pub fn json(status: StatusCode, v: &impl serde::Serialize) -> Response<Body> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    with_headers(Response::builder().status(status))
        .header("Content-Type", "application/json")
        .body(full(body))
        .expect("a valid response")
}

pub fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    with_headers(Response::builder().status(status))
        .header("Content-Type", content_type)
        .body(full(body))
        .expect("a valid response")
}

pub fn empty(status: StatusCode) -> Response<Body> {
    with_headers(Response::builder().status(status))
        .body(full(Bytes::new()))
        .expect("a valid response")
}

pub fn error(e: &ApiError) -> Response<Body> {
    json(e.status, &berth_docker_api::ErrorResponse { message: e.message.clone() })
}

/// A streamed answer: each message as it comes, until the sender goes.
pub fn stream(content_type: &str, rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let frames =
        tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |b| {
            Ok::<_, std::io::Error>(Frame::data(b))
        });
    with_headers(Response::builder().status(StatusCode::OK))
        .header("Content-Type", content_type)
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .expect("a valid response")
}

/// A streamed answer of the chunks a blocking writer hands over (a tar
/// being written), until it is done.
pub fn stream_chunks(content_type: &str, rx: mpsc::Receiver<Vec<u8>>) -> Response<Body> {
    let frames =
        tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |b| {
            Ok::<_, std::io::Error>(Frame::data(Bytes::from(b)))
        });
    with_headers(Response::builder().status(StatusCode::OK))
        .header("Content-Type", content_type)
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .expect("a valid response")
}

/// A request body being read ([`Req::body_stream`]).
pub struct Upload {
    rx: Option<mpsc::Receiver<std::io::Result<Bytes>>>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Upload {
    /// The chunks, for the consumer (once).
    pub fn chunks(&mut self) -> mpsc::Receiver<std::io::Result<Bytes>> {
        self.rx.take().unwrap_or_else(|| mpsc::channel(1).1)
    }

    /// Waits until the whole body was read (what the consumer left is dropped).
    pub async fn finished(mut self) {
        drop(self.rx.take());
        let _ = self.done.await;
    }
}
