//! update: a running or stopped container's resources.

use super::for_each;
use crate::client::Client;
use crate::units::{parse_bytes, parse_cpus};
use crate::Failure;
use hyper::Method;
use serde_json::{Map, Value};

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 64m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Tune the container's pids limit (-1 for unlimited).
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub async fn update(c: &Client, a: UpdateArgs) -> Result<i32, Failure> {
    let bad = |m: String| Failure::new(format!("Error: {m}"));
    let mut body = Map::new();
    if let Some(m) = &a.memory {
        body.insert("Memory".into(), parse_bytes(m).map_err(bad)?.into());
    }
    if let Some(cpus) = &a.cpus {
        body.insert("NanoCpus".into(), (parse_cpus(cpus).map_err(bad)?.0 * 10_000).into());
    }
    if let Some(s) = a.cpu_shares {
        body.insert("CpuShares".into(), s.into());
    }
    if let Some(s) = &a.cpuset_cpus {
        body.insert("CpusetCpus".into(), s.clone().into());
    }
    if let Some(p) = a.pids_limit {
        body.insert("PidsLimit".into(), p.into());
    }
    if let Some(r) = &a.restart {
        body.insert("RestartPolicy".into(), super::run::restart_policy(r).map_err(bad)?);
    }
    if body.is_empty() {
        return Err(Failure::new("You must provide one or more flags when using this command."));
    }
    let body = Value::Object(body);
    for_each(&a.containers, |n| {
        let body = body.clone();
        async move {
            c.json(Method::POST, &super::containers::path(n, "/update")?, Some(&body)).await?;
            Ok(())
        }
    })
    .await
}
