//! top, stats, events: what runs, what it uses, what happened.

use super::containers::path;
use crate::client::{each_json, query, Client};
use crate::units::{binary_size, human_size, time_arg};
use crate::Failure;
use hyper::Method;
use serde_json::{json, Value};
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
    let v = c.get(&p).await?;
    let titles: Vec<String> = v["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect();
    let mut lines = vec![titles.join("\t")];
    for row in v["Processes"].as_array().into_iter().flatten() {
        lines.push(
            row.as_array()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\t"),
        );
    }
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
fn stats_row(s: &Value, no_trunc: bool) -> Value {
    let id = s["id"].as_str().unwrap_or_default();
    let cpu = s["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0)
        - s["precpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let system = s["cpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0)
        - s["precpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let online = s["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
    let cpu_perc = if cpu > 0.0 && system > 0.0 { cpu / system * online * 100.0 } else { 0.0 };
    let m = &s["memory_stats"];
    let used = m["usage"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(m["stats"]["total_inactive_file"].as_u64().unwrap_or(0));
    let limit = m["limit"].as_u64().unwrap_or(0);
    let mem_perc = if limit > 0 { used as f64 / limit as f64 * 100.0 } else { 0.0 };
    let (mut rx, mut tx) = (0u64, 0u64);
    for n in s["networks"].as_object().into_iter().flat_map(|m| m.values()) {
        rx += n["rx_bytes"].as_u64().unwrap_or(0);
        tx += n["tx_bytes"].as_u64().unwrap_or(0);
    }
    json!({
        "ID": if no_trunc { id } else { crate::units::short_id(id) },
        "Container": crate::units::short_id(id),
        "Name": s["name"].as_str().unwrap_or_default().trim_start_matches('/'),
        "CPUPerc": format!("{cpu_perc:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(used), binary_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": "0B / 0B",
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    })
}

pub async fn stats(c: &Client, a: StatsArgs) -> Result<i32, Failure> {
    let names: Vec<String> = if a.containers.is_empty() {
        let list = c.get(&format!("/containers/json?all={}", u8::from(a.all))).await?;
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect()
    } else {
        a.containers.clone()
    };
    let tty = std::io::stdout().is_terminal();
    loop {
        let mut rows = Vec::new();
        for n in &names {
            // One sample with a second one behind it, for the CPU's rate.
            let s = c.get(&format!("{}?stream=0", path(n, "/stats")?)).await?;
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
fn event_line(e: &Value) -> String {
    let nanos = e["timeNano"].as_i64().unwrap_or(0);
    let at = berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(nanos));
    let mut attrs: Vec<String> = e["Actor"]["Attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    attrs.sort();
    format!(
        "{at} {} {} {} ({})",
        e["Type"].as_str().unwrap_or_default(),
        e["Action"].as_str().unwrap_or_default(),
        e["Actor"]["ID"].as_str().unwrap_or_default(),
        attrs.join(", ")
    )
}

pub async fn events(c: &Client, a: EventsArgs) -> Result<i32, Failure> {
    let mut q = vec![("filters", super::ps::filters_json(&a.filter)?)];
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            q.push((k, time_arg(v).map_err(|e| Failure::new(format!("Error: {e}")))?));
        }
    }
    let resp = c
        .checked(Method::GET, &format!("/events?{}", query(q)), &[], crate::client::empty())
        .await?;
    each_json(resp.into_body(), |e| {
        match a.format.as_deref() {
            None => println!("{}", event_line(&e)),
            Some("json") => println!("{e}"),
            Some(f) => println!(
                "{}",
                crate::template::render(f, &e).map_err(|e| Failure::new(format!("Error: {e}")))?
            ),
        }
        Ok(())
    })
    .await?;
    Ok(0)
}
