//! ps: `GET /containers/json` as Docker's table, or `--format`.

use crate::client::{query, Client};
use crate::units::{ago, short_id};
use crate::Failure;
use serde_json::{json, Map, Value};

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

/// `key=value` flags as the API's `{"key": ["value", …]}`.
pub(crate) fn filters_json(filters: &[String]) -> Result<String, Failure> {
    let mut m: Map<String, Value> = Map::new();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            Failure::new(format!("Error: bad format of filter (expected name=value): {f}"))
        })?;
        if let Some(a) = m.entry(k.to_ascii_lowercase()).or_insert_with(|| json!([])).as_array_mut()
        {
            a.push(json!(v));
        }
    }
    Ok(Value::Object(m).to_string())
}

fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        f => crate::table::docker_header(f),
    }
}

/// One row with Docker's fields for templates.
fn row(c: &Value, no_trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or_default();
    let mut cmd = c["Command"].as_str().unwrap_or_default().to_owned();
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    let names: Vec<&str> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .map(|n| n.trim_start_matches('/'))
        .collect();
    let labels = c["Labels"].as_object().cloned().unwrap_or_default();
    let label_text: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    let created = c["Created"].as_i64().unwrap_or(0);
    let networks: Vec<&str> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    json!({
        "ID": if no_trunc { id } else { short_id(id) },
        "Image": c["Image"],
        "Command": format!("\"{cmd}\""),
        "CreatedAt": crate::units::local_time(created),
        "RunningFor": ago(created),
        "Status": c["Status"],
        "State": c["State"],
        "Ports": "",
        "Names": names.join(","),
        "Labels": label_text.join(","),
        "Mounts": "",
        "Networks": networks.join(","),
        "Size": "",
        "_labels": labels,
    })
}

pub async fn ps(c: &Client, a: PsArgs) -> Result<i32, Failure> {
    let mut q = vec![("filters", filters_json(&a.filter)?)];
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
    let list = c.get(&format!("/containers/json?{}", query(q))).await?;
    let list: &[Value] = list.as_array().map_or(&[], Vec::as_slice);
    if a.quiet {
        for s in list {
            let id = s["Id"].as_str().unwrap_or_default();
            println!("{}", if a.no_trunc { id } else { short_id(id) });
        }
        return Ok(0);
    }
    let rows: Vec<Value> = list.iter().map(|s| row(s, a.no_trunc)).collect();
    crate::table::print(&rows, a.format.as_deref(), DEFAULT, header)
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    Ok(0)
}
