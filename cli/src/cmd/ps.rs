//! ps: `GET /containers/json` as Docker's table, or `--format`.

use crate::client::{query, Client};
use crate::units::{ago, short_id};
use crate::Failure;
use berth_docker_api::container;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container ids.
    #[arg(short, long)]
    quiet: bool,
    /// Filter output (id=, name=, label=, status=, exited=, ancestor=, before=, since=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Show the last N created containers (all states).
    #[arg(short = 'n', long)]
    last: Option<i64>,
    /// Show the latest created container (all states).
    #[arg(short, long)]
    latest: bool,
    /// Format with a Go template: table, json, or {{.ID}}, {{.Names}}, {{.Label "k"}}…
    #[arg(long)]
    format: Option<String>,
    /// Also the CRI's containers (Kubernetes pods), which Docker clients don't see.
    #[arg(long)]
    all_namespaces: bool,
}

const DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        f => crate::table::docker_header(f),
    }
}

/// One row of `ps`, as its `--format` templates see it.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    image: String,
    command: String,
    created_at: String,
    running_for: String,
    status: String,
    state: String,
    ports: String,
    names: String,
    labels: String,
    mounts: String,
    networks: String,
    size: String,
    /// For `{{.Label "k"}}`.
    #[serde(rename = "_labels")]
    label_map: BTreeMap<String, String>,
}

/// One row with Docker's fields for templates.
fn row(c: &container::Summary, no_trunc: bool) -> Row {
    let mut cmd = c.command.clone();
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    let names: Vec<&str> = c.names.iter().map(|n| n.trim_start_matches('/')).collect();
    let labels = c.labels.clone().unwrap_or_default();
    let label_text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let networks: Vec<&str> =
        c.network_settings.networks.iter().flat_map(|m| m.keys().map(String::as_str)).collect();
    Row {
        id: if no_trunc { c.id.as_str() } else { short_id(&c.id) }.to_owned(),
        image: c.image.clone(),
        command: format!("\"{cmd}\""),
        created_at: crate::units::local_time(c.created),
        running_for: ago(c.created),
        status: c.status.clone(),
        state: c.state.clone(),
        ports: String::new(),
        names: names.join(","),
        labels: label_text.join(","),
        mounts: String::new(),
        networks: networks.join(","),
        size: String::new(),
        label_map: labels,
    }
}

pub async fn ps(c: &Client, a: PsArgs) -> Result<i32, Failure> {
    let mut q = vec![("filters", super::filters_json(&a.filter)?)];
    let limit = if a.latest { Some(1) } else { a.last.filter(|n| *n > 0) };
    if a.all || limit.is_some() {
        q.push(("all", "1".into()));
    }
    if let Some(n) = limit {
        q.push(("limit", n.to_string()));
    }
    if a.all_namespaces {
        q.push(("namespaces", "all".into()));
    }
    let list: Vec<container::Summary> = c.get(&format!("/containers/json?{}", query(q))).await?;
    if a.quiet {
        for s in &list {
            println!("{}", if a.no_trunc { s.id.as_str() } else { short_id(&s.id) });
        }
        return Ok(0);
    }
    let rows: Vec<Row> = list.iter().map(|s| row(s, a.no_trunc)).collect();
    crate::table::print(&rows, a.format.as_deref(), DEFAULT, header)
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    Ok(0)
}
