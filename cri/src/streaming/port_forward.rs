//! portforward.k8s.io over SPDY (`kubectl port-forward`, `crictl
//! port-forward`): for every local connection the client opens a pair of
//! streams, error and data, with the same `requestid` and `port` headers.
//! Each pair gets a TCP connection to that port on the pod's loopback;
//! a failure is written to the error stream as text.

use super::spdy::{Incoming, Writer, REFUSED_STREAM};
use berth_engine::Engine;
use berth_proto::cri;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinSet;

/// Pairs whose other half has not come yet, at most.
const MAX_HALF_PAIRS: usize = 1024;

#[derive(Default)]
struct Pair {
    error: Option<Incoming>,
    data: Option<Incoming>,
}

/// The pair key: the request id, or for old clients that send none, the
/// error stream's id (the data stream follows it, two ids later).
fn request_id(s: &Incoming, data: bool) -> String {
    match s.header("requestid") {
        Some(r) => r.to_owned(),
        None if data => format!("#{}", s.id.saturating_sub(2)),
        None => format!("#{}", s.id),
    }
}

pub(super) async fn serve(
    engine: &Engine,
    req: cri::PortForwardRequest,
    w: Writer,
    mut incoming: Receiver<Incoming>,
) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut forwards = JoinSet::new();
    // Ends when the client hangs up; dropping the set ends its forwards.
    while let Some(s) = incoming.recv().await {
        let data = match s.header("streamtype") {
            Some("data") => true,
            Some("error") => false,
            _ => {
                let _ = w.reset(s.id, REFUSED_STREAM).await;
                continue;
            }
        };
        let key = request_id(&s, data);
        let pair = pairs.entry(key.clone()).or_default();
        let slot = if data { &mut pair.data } else { &mut pair.error };
        if slot.is_some() {
            let _ = w.reset(s.id, REFUSED_STREAM).await;
            continue;
        }
        *slot = Some(s);
        if matches!(pairs.get(&key), Some(Pair { error: Some(_), data: Some(_) })) {
            if let Some(Pair { error: Some(error), data: Some(data) }) = pairs.remove(&key) {
                forwards.spawn(forward(engine.clone(), req.clone(), w.clone(), error, data));
            }
        } else if pairs.len() > MAX_HALF_PAIRS {
            tracing::info!("port-forward: too many half-open stream pairs; closing");
            return;
        }
        while forwards.try_join_next().is_some() {}
    }
}

/// One forwarded connection.
async fn forward(
    engine: Engine,
    req: cri::PortForwardRequest,
    w: Writer,
    error: Incoming,
    mut data: Incoming,
) {
    let port = data.header("port").and_then(|p| p.parse::<u16>().ok()).filter(|p| *p != 0);
    let result = match port {
        None => Err(format!("invalid port {:?}", data.header("port").unwrap_or_default())),
        Some(p) if !req.port.is_empty() && !req.port.contains(&(p as i32)) => {
            Err(format!("port {p} was not requested for forwarding"))
        }
        Some(p) => match engine.pod_connect(&req.pod_sandbox_id, p).await {
            Ok(conn) => {
                copy(conn, &w, &mut data).await;
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
    };
    if let Err(msg) = result {
        let msg = format!(
            "error forwarding port {} to pod {}: {msg}",
            data.header("port").unwrap_or_default(),
            req.pod_sandbox_id
        );
        tracing::info!(error = %msg, "port-forward");
        let _ = w.data(error.id, msg.as_bytes()).await;
    }
    let _ = w.close(data.id).await;
    let _ = w.close(error.id).await;
}

/// Both directions until the pod's side ends (or the client's does, and
/// the pod has nothing more to say).
async fn copy(conn: tokio::net::TcpStream, w: &Writer, data: &mut Incoming) {
    let (mut rd, mut wr) = conn.into_split();
    let id = data.id;
    let rx = &mut data.data;
    let to_pod = async {
        while let Some(d) = rx.recv().await {
            if wr.write_all(&d).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
        // Keep the pod's side open until it answers and closes.
        std::future::pending::<()>().await
    };
    let from_pod = async {
        let mut buf = vec![0u8; 32 << 10];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 || w.data(id, &buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = to_pod => {}
        _ = from_pod => {}
    }
}
