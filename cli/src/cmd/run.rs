//! create and run.

use crate::client::Client;
use crate::units::{parse_bytes, parse_cpus};
use crate::Failure;
use berth_proto::engine as pb;
use tokio_stream::StreamExt;

#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help (-h is --hostname, as in Docker).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to pass the current value).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Overwrite the image's entrypoint.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    user: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Memory limit (e.g. 64m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// Tune the container's pids limit.
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Mount the container's root filesystem read-only.
    #[arg(long = "read-only")]
    read_only: bool,
    /// Set metadata (key=value).
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Ulimit options (name=soft[:hard], e.g. nofile=1024:2048).
    #[arg(long)]
    ulimit: Vec<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Seconds to wait before killing the container on stop.
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<i64>,
    /// Give extended privileges to this container.
    #[arg(long)]
    privileged: bool,
    /// Add Linux capabilities (or ALL).
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities (or ALL).
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Security options: seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges[=true|false].
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateArgs,
}

fn bad(m: String) -> Failure {
    Failure { message: format!("Error: {m}"), code: 125 }
}

fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_owned())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

fn request(a: CreateArgs) -> Result<pb::CreateContainerRequest, Failure> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| bad(format!("open {f}: {e}")))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            env.extend(env_entry(line));
        }
    }
    env.extend(a.env.iter().filter_map(|e| env_entry(e)));
    let mut labels = std::collections::HashMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let memory_bytes = a.memory.as_deref().map(parse_bytes).transpose().map_err(bad)?.unwrap_or(0);
    let (cpu_quota, cpu_period) = a.cpus.as_deref().map(parse_cpus).transpose().map_err(bad)?.unwrap_or((0, 0));
    if a.pids_limit.is_some_and(|p| p < -1) {
        return Err(bad("invalid --pids-limit".into()));
    }
    let (seccomp, no_new_privileges) = security_opts(&a.security_opt)?;
    Ok(pb::CreateContainerRequest {
        name: a.name.unwrap_or_default(),
        image: a.image,
        entrypoint_set: a.entrypoint.is_some(),
        entrypoint: a.entrypoint.map(|e| vec![e]).unwrap_or_default(),
        cmd: a.command,
        env,
        working_dir: a.workdir.unwrap_or_default(),
        user: a.user.unwrap_or_default(),
        hostname: a.hostname.unwrap_or_default(),
        resources: Some(pb::Resources { memory_bytes, cpu_quota, cpu_period, cpu_shares: a.cpu_shares.unwrap_or(0), pids_limit: a.pids_limit.filter(|p| *p > 0).unwrap_or(0) }),
        read_only: a.read_only,
        labels,
        auto_remove: a.rm,
        stop_signal: a.stop_signal.unwrap_or_default(),
        stop_timeout: a.stop_timeout.unwrap_or(-1),
        ulimits: a.ulimit,
        privileged: a.privileged,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        seccomp,
        no_new_privileges,
    })
}

/// `--security-opt` values, as Docker reads them: a seccomp profile file is
/// read here and its text sent.
fn security_opts(opts: &[String]) -> Result<(String, Option<bool>), Failure> {
    let (mut seccomp, mut nnp) = (String::new(), None);
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o, ""));
        match (k, v) {
            ("seccomp", "unconfined") => seccomp = "unconfined".into(),
            ("seccomp", "") => return Err(bad(format!("invalid --security-opt {o:?}: seccomp needs a profile or \"unconfined\""))),
            ("seccomp", path) => seccomp = std::fs::read_to_string(path).map_err(|e| bad(format!("opening seccomp profile ({path}) failed: {e}")))?,
            ("no-new-privileges", "" | "true") => nnp = Some(true),
            ("no-new-privileges", "false") => nnp = Some(false),
            _ => return Err(bad(format!("invalid --security-opt {o:?}"))),
        }
    }
    Ok((seccomp, nnp))
}

pub async fn create(c: &mut Client, a: CreateArgs) -> Result<i32, Failure> {
    let id = c.create_container(request(a)?).await.map_err(run_failure)?.into_inner().id;
    println!("{id}");
    Ok(0)
}

fn run_failure(s: tonic::Status) -> Failure {
    Failure { message: format!("berth: Error response from daemon: {}", s.message()), code: 125 }
}

/// The exit code Docker gives a container whose command could not start.
async fn start_failure_code(c: &mut Client, id: &str) -> i32 {
    match c.inspect_container(pb::ContainerRef { id: id.into() }).await {
        Ok(r) => serde_json::from_str::<serde_json::Value>(&r.into_inner().json).ok().and_then(|v| v["State"]["ExitCode"].as_i64()).filter(|c| *c != 0).unwrap_or(125) as i32,
        Err(_) => 125,
    }
}

pub async fn run(c: &mut Client, host: &str, a: RunArgs) -> Result<i32, Failure> {
    let auto_remove = a.create.rm;
    let id = c.create_container(request(a.create)?).await.map_err(run_failure)?.into_inner().id;
    if a.detach {
        if let Err(s) = c.start_container(pb::ContainerRef { id: id.clone() }).await {
            let code = start_failure_code(c, &id).await;
            if auto_remove {
                let _ = c.remove_container(pb::RemoveContainerRequest { id: id.clone(), force: true }).await;
            }
            return Err(Failure { code, ..run_failure(s) });
        }
        println!("{id}");
        return Ok(0);
    }
    // Attach before starting: the wait and the log follower are in place
    // first, so nothing is missed even if the container exits at once.
    // With --rm, return only once the container is gone, as Docker does.
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let mut wait = c.wait_container(pb::WaitRequest { id: id.clone(), condition: condition.into() }).await?.into_inner();
    let _registered = wait.next().await;
    let logs = c.container_logs(pb::LogsRequest { id: id.clone(), follow: true, tail: -1, since_offset: 0 }).await?.into_inner();
    if let Err(s) = c.start_container(pb::ContainerRef { id: id.clone() }).await {
        let code = start_failure_code(c, &id).await;
        if auto_remove {
            let _ = c.remove_container(pb::RemoveContainerRequest { id: id.clone(), force: true }).await;
        }
        return Err(Failure { code, ..run_failure(s) });
    }
    super::logs::print_stream(host, &id, logs, false).await?;
    match wait.next().await {
        Some(Ok(ev)) if ev.exited => Ok(ev.exit_code),
        Some(Err(s)) => Err(s.into()),
        _ => {
            // The daemon went away mid-run: ask again.
            let mut c = crate::client::connect(host).await?;
            let mut w = c.wait_container(pb::WaitRequest { id, condition: "not-running".into() }).await?.into_inner();
            let _ = w.next().await;
            match w.next().await {
                Some(Ok(ev)) => Ok(ev.exit_code),
                _ => Err(Failure { message: "Error: lost the daemon while waiting".into(), code: 125 }),
            }
        }
    }
}
