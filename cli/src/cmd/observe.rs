//! top, stats, events: what runs, what it uses, what happened.

use super::containers::path;
use crate::client::{each_json, query, Client};
use crate::units::{binary_size, human_size, time_arg};
use crate::Failure;
use berth_docker_api::container::{self, TopResponse};
use berth_docker_api::stats::Stats;
use berth_docker_api::system;
use hyper::Method;
use std::io::IsTerminal;

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    container: String,
    /// ps options (berth shows ps -ef's columns).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub async fn top(c: &Client, a: TopArgs) -> Result<i32, Failure> {
    let mut p = path(&a.container, "/top")?;
    if !a.ps_args.is_empty() {
        p.push_str(&format!("?{}", query([("ps_args", a.ps_args.join(" "))])));
    }
    let v: TopResponse = c.get(&p).await?;
    let mut lines = vec![v.titles.join("\t")];
    lines.extend(v.processes.iter().map(|row| row.join("\t")));
    print!("{}", crate::table::align(&lines));
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Print one sample and exit.
    #[arg(long)]
    no_stream: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Format with a Go template: table, json, or {{.Name}}, {{.CPUPerc}}, {{.MemUsage}}…
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

const STATS_DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn stats_header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "Container" => "CONTAINER".into(),
        f => crate::table::docker_header(f),
    }
}

/// One `docker stats` row from a stats document, as the docker CLI
/// computes it (CPU from the two samples, memory without the page cache).
fn stats_row(s: &Stats, no_trunc: bool) -> StatsRow {
    let (now, before) = (&s.cpu_stats, &s.precpu_stats);
    let cpu = now.cpu_usage.total_usage as f64 - before.cpu_usage.total_usage as f64;
    let system =
        now.system_cpu_usage.unwrap_or(0) as f64 - before.system_cpu_usage.unwrap_or(0) as f64;
    let online = f64::from(now.online_cpus.unwrap_or(1));
    let cpu_perc = if cpu > 0.0 && system > 0.0 { cpu / system * online * 100.0 } else { 0.0 };
    let m = &s.memory_stats;
    let inactive = m.stats.as_ref().and_then(|s| s.get("total_inactive_file")).copied();
    let used = m.usage.unwrap_or(0).saturating_sub(inactive.unwrap_or(0));
    let limit = m.limit.unwrap_or(0);
    let mem_perc = if limit > 0 { used as f64 / limit as f64 * 100.0 } else { 0.0 };
    let (mut rx, mut tx) = (0u64, 0u64);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes;
        tx += n.tx_bytes;
    }
    let id = s.id.as_str();
    StatsRow {
        id: if no_trunc { id } else { crate::units::short_id(id) }.to_owned(),
        container: crate::units::short_id(id).to_owned(),
        name: s.name.trim_start_matches('/').to_owned(),
        cpu_perc: format!("{cpu_perc:.2}%"),
        mem_usage: format!("{} / {}", binary_size(used), binary_size(limit)),
        mem_perc: format!("{mem_perc:.2}%"),
        net_io: format!("{} / {}", human_size(rx), human_size(tx)),
        block_io: "0B / 0B".into(),
        pids: s.pids_stats.current.unwrap_or(0).to_string(),
    }
}

/// One row of `stats`, as its `--format` templates see it.
#[derive(serde::Serialize)]
struct StatsRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "CPUPerc")]
    cpu_perc: String,
    #[serde(rename = "MemUsage")]
    mem_usage: String,
    #[serde(rename = "MemPerc")]
    mem_perc: String,
    #[serde(rename = "NetIO")]
    net_io: String,
    #[serde(rename = "BlockIO")]
    block_io: String,
    #[serde(rename = "PIDs")]
    pids: String,
}

pub async fn stats(c: &Client, a: StatsArgs) -> Result<i32, Failure> {
    let names: Vec<String> = if a.containers.is_empty() {
        let list: Vec<container::Summary> =
            c.get(&format!("/containers/json?all={}", u8::from(a.all))).await?;
        list.into_iter().map(|c| c.id).collect()
    } else {
        a.containers.clone()
    };
    let tty = std::io::stdout().is_terminal();
    loop {
        let mut rows = Vec::new();
        for n in &names {
            // One sample with a second one behind it, for the CPU's rate.
            let s: Stats = c.get(&format!("{}?stream=0", path(n, "/stats")?)).await?;
            rows.push(stats_row(&s, a.no_trunc));
        }
        if !a.no_stream && tty {
            print!("\x1b[2J\x1b[H");
        }
        crate::table::print(&rows, a.format.as_deref(), STATS_DEFAULT, stats_header)
            .map_err(|e| Failure::new(format!("Error: {e}")))?;
        if a.no_stream {
            return Ok(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Show events since a time (RFC 3339, Unix seconds, or a duration like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Stream events until a time.
    #[arg(long)]
    until: Option<String>,
    /// Filter events (container=, event=, image=, label=, type=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format with a Go template: json, or {{.Action}}, {{.Actor.ID}}…
    #[arg(long)]
    format: Option<String>,
}

/// Docker's event line: `<time> <type> <action> <id> (attributes)`.
fn event_line(e: &system::Event) -> String {
    let at = berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(e.time_nano));
    let attrs: Vec<String> = e.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{at} {} {} {} ({})", e.kind, e.action, e.actor.id, attrs.join(", "))
}

pub async fn events(c: &Client, a: EventsArgs) -> Result<i32, Failure> {
    let mut q = vec![("filters", super::filters_json(&a.filter)?)];
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            q.push((k, time_arg(v).map_err(|e| Failure::new(format!("Error: {e}")))?));
        }
    }
    let resp = c
        .checked(Method::GET, &format!("/events?{}", query(q)), &[], crate::client::empty())
        .await?;
    each_json(resp.into_body(), |e: system::Event| {
        let fail = |e: String| Failure::new(format!("Error: {e}"));
        match a.format.as_deref() {
            None => println!("{}", event_line(&e)),
            Some("json") => println!("{}", serde_json::to_string(&e).unwrap_or_default()),
            Some(f) => {
                let doc = serde_json::to_value(&e).map_err(|e| fail(e.to_string()))?;
                println!("{}", crate::template::render(f, &doc).map_err(fail)?)
            }
        }
        Ok(())
    })
    .await?;
    Ok(0)
}
