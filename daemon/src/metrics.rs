//! Prometheus metrics (off unless `[metrics] address` is set): the gRPC
//! server's per-request layer (`crate::grpc::PerRequest`) times every
//! request by method and code here, and `/metrics` renders
//! those with what the engine knows at scrape time (containers and pods by
//! state, shims, pulls) in Prometheus' text format. Nothing is computed
//! between scrapes but the per-request counters.

use berth_engine::histogram::{Histogram, Snapshot, BOUNDS};
use berth_engine::Engine;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codegen::http;

/// Per (method, gRPC code): a latency histogram.
#[derive(Debug, Default)]
pub struct Rpcs {
    by: Mutex<BTreeMap<(String, String), Arc<Histogram>>>,
}

impl Rpcs {
    pub(crate) fn observe(&self, method: &str, code: &str, seconds: f64) {
        let h = self
            .by
            .lock()
            .unwrap()
            .entry((method.to_owned(), code.to_owned()))
            .or_default()
            .clone();
        h.observe(seconds);
    }
}

/// The gRPC code of a response whose status came with its headers (every
/// error of a unary call, and a passed deadline); others end OK unless
/// their trailers say not.
pub(crate) fn code_of<B>(r: &http::Response<B>) -> String {
    match r
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    {
        Some(n) => format!("{:?}", tonic::Code::from_i32(n)),
        None => "Ok".into(),
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, s: &Snapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, n) in BOUNDS
        .iter()
        .map(|b| b.to_string())
        .chain(std::iter::once("+Inf".to_string()))
        .zip(&s.cumulative)
    {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", s.sum_seconds);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", s.cumulative.last().copied().unwrap_or(0));
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Everything, in Prometheus' text format (0.0.4).
pub fn render(rpcs: &Rpcs, engine: &Engine) -> String {
    let mut out = String::new();
    let by: Vec<((String, String), Snapshot)> =
        rpcs.by.lock().unwrap().iter().map(|(k, h)| (k.clone(), h.snapshot())).collect();
    header(
        &mut out,
        "berth_grpc_requests_total",
        "counter",
        "gRPC requests handled, by method and code.",
    );
    for ((method, code), s) in &by {
        let _ = writeln!(
            out,
            "berth_grpc_requests_total{{method=\"{method}\",grpc_code=\"{code}\"}} {}",
            s.cumulative.last().copied().unwrap_or(0)
        );
    }
    header(
        &mut out,
        "berth_grpc_request_duration_seconds",
        "histogram",
        "Time until each gRPC request's response began, by method and code.",
    );
    for ((method, code), s) in &by {
        histogram(
            &mut out,
            "berth_grpc_request_duration_seconds",
            &format!("method=\"{method}\",grpc_code=\"{code}\""),
            s,
        );
    }

    let containers = engine.list(true).unwrap_or_default();
    let mut states: BTreeMap<&str, usize> =
        ["created", "running", "exited", "unknown", "quarantined"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
    for c in &containers {
        *states.entry(c.state.status.as_str()).or_default() += 1;
    }
    header(&mut out, "berth_containers", "gauge", "Containers by state.");
    for (state, n) in &states {
        let _ = writeln!(out, "berth_containers{{state=\"{state}\"}} {n}");
    }
    let pods = engine.list_sandboxes(&Default::default());
    let ready = pods.iter().filter(|p| p.state == berth_engine::model::SandboxState::Ready).count();
    header(&mut out, "berth_pod_sandboxes", "gauge", "Pod sandboxes by state.");
    let _ = writeln!(out, "berth_pod_sandboxes{{state=\"ready\"}} {ready}\nberth_pod_sandboxes{{state=\"notready\"}} {}", pods.len() - ready);
    header(&mut out, "berth_shims", "gauge", "berth-shim processes (one per running container).");
    let _ = writeln!(out, "berth_shims {}", states["running"]);

    let p = engine.images().pull_stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    header(&mut out, "berth_image_pulls_total", "counter", "Image pulls, by result.");
    let _ = writeln!(out, "berth_image_pulls_total{{result=\"succeeded\"}} {}\nberth_image_pulls_total{{result=\"failed\"}} {}", load(&p.succeeded), load(&p.failed));
    header(
        &mut out,
        "berth_image_pull_bytes_total",
        "counter",
        "Layer bytes fetched from registries.",
    );
    let _ = writeln!(out, "berth_image_pull_bytes_total {}", load(&p.bytes));
    header(
        &mut out,
        "berth_image_pull_duration_seconds",
        "histogram",
        "Time each image pull took.",
    );
    histogram(&mut out, "berth_image_pull_duration_seconds", "", &p.durations.snapshot());
    out
}

/// Serves `GET /metrics` on `listener` (HTTP/1.1, one request per
/// connection, requests capped at 8 KiB).
pub async fn serve(listener: tokio::net::TcpListener, rpcs: Arc<Rpcs>, engine: Engine) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let (rpcs, engine) = (rpcs.clone(), engine.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    conn.read(&mut buf[n..]),
                )
                .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                    Ok(Ok(k)) => n += k,
                }
            }
            let line =
                String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned();
            let mut words = line.split_whitespace();
            let (status, body) =
                match (words.next(), words.next().map(|p| p.split('?').next().unwrap_or(p))) {
                    (Some("GET"), Some("/metrics")) => ("200 OK", render(&rpcs, &engine)),
                    (Some("GET"), _) => ("404 Not Found", "not found: try /metrics\n".to_owned()),
                    _ => ("405 Method Not Allowed", "GET only\n".to_owned()),
                };
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
        });
    }
}
