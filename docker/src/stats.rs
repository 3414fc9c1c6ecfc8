//! `GET /containers/{id}/stats`: Docker's stats document from the
//! container's cgroup (CPU time against the machine's, memory with the
//! inactive file cache the CLI subtracts, pids) and its interfaces. A
//! stream sends one a second, each with the one before as `precpu_stats`;
//! `stream=false` waits for a second sample, as dockerd does, so the CLI
//! can show a CPU share (`one-shot` skips it).

use crate::containers::find;
use crate::error::ApiResult;
use crate::http::{self, Body, Req};
use berth_engine::model::ContainerRecord;
use berth_engine::Engine;
use hyper::Response;
use serde_json::{json, Value};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(1);

/// One reading: the document's parts that the next reading's `precpu_stats` repeats.
struct Sample {
    read: String,
    cpu: Value,
    doc: Value,
}

async fn sample(engine: &Engine, id: &str) -> Option<Sample> {
    let rec: ContainerRecord = engine.inspect(id).ok()?;
    let stats = engine.container_stats(vec![rec.clone()]).await.ok()?.pop()?;
    let usage = &stats.cgroup;
    let online = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let running = rec.state.status == berth_engine::Status::Running;
    let cpu = if running {
        json!({
            "cpu_usage": { "total_usage": usage.cpu_ns.unwrap_or(0), "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
            "system_cpu_usage": berth_engine::container::system_cpu_ns().unwrap_or(0),
            "online_cpus": online,
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
        })
    } else {
        json!({ "cpu_usage": { "total_usage": 0 }, "throttling_data": {} })
    };
    let memory = match &usage.memory {
        Some(m) => json!({
            "usage": m.usage,
            "limit": m.limit.or_else(berth_engine::container::memory_total).unwrap_or(0),
            // The CLI shows usage minus this (cgroup v1): the working set.
            "stats": { "total_inactive_file": m.usage.saturating_sub(m.working_set), "rss": m.rss, "pgfault": m.page_faults, "pgmajfault": m.major_page_faults },
        }),
        None => json!({}),
    };
    let networks: serde_json::Map<String, Value> = engine
        .container_network_usage(&rec)
        .await
        .into_iter()
        .map(|c| (c.name, json!({ "rx_bytes": c.rx_bytes, "rx_errors": c.rx_errors, "tx_bytes": c.tx_bytes, "tx_errors": c.tx_errors, "rx_packets": 0, "tx_packets": 0, "rx_dropped": 0, "tx_dropped": 0 })))
        .collect();
    let read =
        berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(stats.timestamp));
    let mut doc = json!({
        "id": rec.id,
        "name": format!("/{}", rec.name),
        "pids_stats": if running { json!({ "current": usage.pids.unwrap_or(0) }) } else { json!({}) },
        "blkio_stats": { "io_service_bytes_recursive": null, "io_serviced_recursive": null },
        "num_procs": 0,
        "storage_stats": {},
        "memory_stats": memory,
    });
    if !networks.is_empty() {
        doc["networks"] = Value::Object(networks);
    }
    Some(Sample { read, cpu, doc })
}

fn document(now: &Sample, before: Option<&Sample>) -> bytes::Bytes {
    let mut doc = now.doc.clone();
    doc["read"] = json!(now.read);
    doc["cpu_stats"] = now.cpu.clone();
    doc["preread"] =
        json!(before.map(|b| b.read.clone()).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()));
    doc["precpu_stats"] = before
        .map(|b| b.cpu.clone())
        .unwrap_or_else(|| json!({ "cpu_usage": { "total_usage": 0 }, "throttling_data": {} }));
    let mut b = serde_json::to_vec(&doc).unwrap_or_default();
    b.push(b'\n');
    b.into()
}

/// `?stream&one-shot`.
pub async fn stats(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let stream = req.query("stream").is_none_or(|v| matches!(v, "1" | "true" | "True" | "TRUE"));
    let one_shot = req.flag("one-shot");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let engine = engine.clone();
    tokio::spawn(async move {
        let mut before: Option<Sample> = None;
        loop {
            let Some(now) = sample(&engine, &c.id).await else { return };
            if !stream && before.is_none() && !one_shot {
                // A second reading to measure the CPU against.
                before = Some(now);
                tokio::select! {
                    _ = tokio::time::sleep(INTERVAL) => continue,
                    _ = tx.closed() => return,
                }
            }
            if tx.send(document(&now, before.as_ref())).await.is_err() || !stream {
                return;
            }
            before = Some(now);
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(http::stream("application/json", rx))
}
