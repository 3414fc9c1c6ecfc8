//! update: a running or stopped container's resources.

use super::for_each;
use crate::client::{json_body, Client};
use crate::units::{parse_bytes, parse_cpus};
use crate::Failure;
use berth_docker_api::container::UpdateRequest;
use hyper::Method;

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
    let body = UpdateRequest {
        memory: a.memory.as_deref().map(parse_bytes).transpose().map_err(bad)?,
        nano_cpus: a
            .cpus
            .as_deref()
            .map(|c| parse_cpus(c).map(|(quota, _)| quota * 10_000))
            .transpose()
            .map_err(bad)?,
        cpu_shares: a.cpu_shares.map(|s| s as i64),
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        restart_policy: a
            .restart
            .as_deref()
            .map(super::run::restart_policy)
            .transpose()
            .map_err(bad)?,
        ..Default::default()
    };
    if body == UpdateRequest::default() {
        return Err(Failure::new("You must provide one or more flags when using this command."));
    }
    for_each(&a.containers, |n| {
        let body = json_body(&body);
        async move {
            c.call(Method::POST, &super::containers::path(n, "/update")?, Some(body)).await?;
            Ok(())
        }
    })
    .await
}
