//! `GET /containers/{id}/stats`: Docker's stats document from the
//! container's cgroup (CPU time against the machine's, memory with the
//! inactive file cache the CLI subtracts, pids) and its interfaces. A
//! stream sends one a second, each with the one before as `precpu_stats`;
//! `stream=false` waits for a second sample, as dockerd does, so the CLI
//! can show a CPU share (`one-shot` skips it).

use crate::containers::find;
use crate::error::ApiResult;
use crate::http::{self, Body, Req};
use berth_docker_api::stats::{CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats, Stats};
use berth_engine::model::ContainerRecord;
use berth_engine::Engine;
use hyper::Response;
use std::collections::BTreeMap;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(1);

/// One reading; the next reading's `precpu_stats` repeats its `cpu_stats`.
struct Sample(Stats);

async fn sample(engine: &Engine, id: &str) -> Option<Sample> {
    let rec: ContainerRecord = engine.inspect(id).ok()?;
    let stats = engine.container_stats(vec![rec.clone()]).await.ok()?.pop()?;
    let usage = &stats.cgroup;
    let online = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let running = rec.state.status == berth_engine::Status::Running;
    let cpu_stats = if running {
        CpuStats {
            cpu_usage: CpuUsage { total_usage: usage.cpu_ns.unwrap_or(0), ..Default::default() },
            system_cpu_usage: Some(berth_engine::container::system_cpu_ns().unwrap_or(0)),
            online_cpus: Some(online as u32),
            throttling_data: Default::default(),
        }
    } else {
        CpuStats::default()
    };
    let memory_stats = match &usage.memory {
        Some(m) => MemoryStats {
            usage: Some(m.usage),
            limit: Some(m.limit.or_else(berth_engine::container::memory_total).unwrap_or(0)),
            // The CLI shows usage minus this (cgroup v1): the working set.
            stats: Some(BTreeMap::from([
                ("total_inactive_file".to_owned(), m.usage.saturating_sub(m.working_set)),
                ("rss".to_owned(), m.rss),
                ("pgfault".to_owned(), m.page_faults),
                ("pgmajfault".to_owned(), m.major_page_faults),
            ])),
        },
        None => MemoryStats::default(),
    };
    let networks: BTreeMap<String, NetworkStats> = engine
        .container_network_usage(&rec)
        .await
        .into_iter()
        .map(|c| {
            let n = NetworkStats {
                rx_bytes: c.rx_bytes,
                rx_errors: c.rx_errors,
                tx_bytes: c.tx_bytes,
                tx_errors: c.tx_errors,
                ..Default::default()
            };
            (c.name, n)
        })
        .collect();
    let read =
        berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(stats.timestamp));
    let pids_stats =
        PidsStats { current: running.then(|| usage.pids.unwrap_or(0)), ..Default::default() };
    Some(Sample(Stats {
        read,
        id: rec.id.clone(),
        name: format!("/{}", rec.name),
        pids_stats,
        cpu_stats,
        memory_stats,
        networks: (!networks.is_empty()).then_some(networks),
        ..Default::default()
    }))
}

fn document(now: &Sample, before: Option<&Sample>) -> bytes::Bytes {
    let doc = Stats {
        preread: before.map_or_else(|| "0001-01-01T00:00:00Z".into(), |b| b.0.read.clone()),
        precpu_stats: before.map(|b| b.0.cpu_stats.clone()).unwrap_or_default(),
        ..now.0.clone()
    };
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
