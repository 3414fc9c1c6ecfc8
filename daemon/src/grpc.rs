//! The gRPC server on the CRI socket: tonic's routes (the CRI runtime and
//! image services) served by hyper's HTTP/2 connection, with
//! berth's own layer: a `rpc{method}` span per request, the client's
//! deadline (`grpc-timeout`), and the metrics when they are on.
//!
//! Why not tonic's transport server: it answers a request whose
//! `grpc-timeout` passed with CANCELLED, where gRPC (and grpc-go, so
//! containerd and CRI-O) answer DEADLINE_EXCEEDED — critest checks that
//! code, and kubelet treats the two differently. Here the deadline is ours.

use crate::metrics::{code_of, Rpcs};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::codegen::http;
use tracing::Instrument;

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_timeout(v: &str) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Each request: its span, its deadline, and (when metrics are on) its
/// latency by method and code — a passed deadline counted too.
#[derive(Debug, Clone, Default)]
pub struct PerRequest {
    pub rpcs: Option<Arc<Rpcs>>,
    /// Traces are exported: spans get OpenTelemetry's names and the caller's parent.
    pub traced: bool,
}

impl<S> tower::Layer<S> for PerRequest {
    type Service = PerRequestService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PerRequestService { inner, rpcs: self.rpcs.clone(), traced: self.traced }
    }
}

#[derive(Debug, Clone)]
pub struct PerRequestService<S> {
    inner: S,
    rpcs: Option<Arc<Rpcs>>,
    traced: bool,
}

impl<S, B, R> tower::Service<http::Request<B>> for PerRequestService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.uri().path().to_owned();
        let span = if self.traced {
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let span = tracing::info_span!("rpc", method = %method, otel.name = %method, otel.kind = "server", rpc.system = "grpc");
            let _ = span.set_parent(crate::telemetry::caller(req.headers()));
            span
        } else {
            tracing::info_span!("rpc", method = %method)
        };
        let deadline =
            req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_timeout);
        let rpcs = self.rpcs.clone();
        let t0 = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let r = match deadline {
                    None => fut.await,
                    Some(d) => match tokio::time::timeout(d, fut).await {
                        Ok(r) => r,
                        Err(_) => {
                            Ok(tonic::Status::deadline_exceeded("the client's deadline passed")
                                .into_http())
                        }
                    },
                };
                if let Some(rpcs) = rpcs {
                    let code = r.as_ref().map(code_of).unwrap_or_else(|_| "Unknown".into());
                    rpcs.observe(&method, &code, t0.elapsed().as_secs_f64());
                }
                r
            }
            .instrument(span),
        )
    }
}

/// Serves `routes` on `listener` until `stop` resolves, then lets the
/// connections finish for at most `grace`.
pub async fn serve<S>(
    listener: tokio::net::UnixListener,
    service: S,
    stop: impl Future<Output = ()>,
    grace: Duration,
) where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "API connection ended");
                    }
                });
            }
            () = &mut stop => break,
        }
    }
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::parse_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_timeout("1000u"), Some(Duration::from_millis(1)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "S", "123456789S", "12x", "-1S"] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }
}
