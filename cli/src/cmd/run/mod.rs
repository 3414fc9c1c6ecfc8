//! create and run: Docker's flags as a `POST /containers/create` body.
//! What berth can't do yet (`-p`, `--init`, …) is sent as Docker
//! sends it and refused by the daemon by name, never dropped here.
//! `run` attaches and waits before it starts, so nothing is missed.

use super::containers::{attach_path, path};
use crate::client::{json_body, Client};
use crate::streams::{self, Resize, Streams};
use crate::Failure;
use berth_docker_api::container::CreateResponse;
use hyper::Method;

mod body;
pub(in crate::cmd) use body::restart_policy;

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
    /// Keep STDIN open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
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
    /// Network: bridge (berth's default bridge), host or none.
    #[arg(long, alias = "net", default_value = "default")]
    network: String,
    /// More names on a user-defined network.
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// The IPv4 address on a user-defined network.
    #[arg(long)]
    ip: Option<String>,
    /// The hardware address of its interface.
    #[arg(long)]
    mac_address: Option<String>,
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
    /// Pull the image before creating: missing (default), always, never.
    #[arg(long, default_value = "missing")]
    pull: String,
    /// Publish a port: [ip:][hostPort:]containerPort[/udp], either port a range.
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish every exposed port on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Expose a port or a range (`80`, `7000-7010/udp`).
    #[arg(long)]
    expose: Vec<String>,
    /// Bind mount a volume (name:/path, /host:/path[:ro], or /path for an anonymous one).
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=,target=,readonly,...).
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs directory (/path[:options]).
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option")]
    dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Mount volumes from the specified container (ctr[:ro|rw]).
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Restart policy to apply when a container exits (no, always,
    /// unless-stopped, on-failure[:max-retries]).
    #[arg(long)]
    restart: Option<String>,
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h).
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries")]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h).
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h).
    #[arg(long = "health-start-interval")]
    health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    init: bool,
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
    /// The keys that detach from the container (default ctrl-p,ctrl-q).
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Proxy received signals to the process (without a terminal).
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    #[command(flatten)]
    create: CreateArgs,
}

/// Docker's exit status for a failure of `run` itself.
fn bad(m: String) -> Failure {
    Failure { message: format!("berth: {m}"), code: 125 }
}

fn daemon_failure(e: crate::client::ApiError) -> Failure {
    Failure { code: 125, ..Failure::from(e) }.prefixed("berth: ")
}

/// Creates the container, pulling its image first when `--pull` says so.
async fn create_container(
    c: &Client,
    a: &CreateArgs,
    attach_stdin: bool,
) -> Result<String, Failure> {
    if !matches!(a.pull.as_str(), "missing" | "always" | "never") {
        return Err(bad(format!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            a.pull
        )));
    }
    let body = body::body(a, attach_stdin)?;
    let path = match &a.name {
        Some(n) => format!("/containers/create?{}", crate::client::query([("name", n.clone())])),
        None => "/containers/create".to_owned(),
    };
    if a.pull == "always" {
        super::transfer::pull_quietly(c, &a.image)
            .await
            .map_err(|f| Failure { code: 125, ..f.prefixed("berth: ") })?;
    }
    let send = || c.json::<CreateResponse>(Method::POST, &path, Some(json_body(&body)));
    match send().await {
        Ok(v) => Ok(v.id),
        Err(e)
            if e.is_not_found()
                && a.pull == "missing"
                && e.message.starts_with("No such image") =>
        {
            eprintln!("Unable to find image '{}' locally", a.image);
            super::transfer::pull_quietly(c, &a.image)
                .await
                .map_err(|f| Failure { code: 125, ..f.prefixed("berth: ") })?;
            Ok(send().await.map_err(daemon_failure)?.id)
        }
        Err(e) => Err(daemon_failure(e)),
    }
}

pub async fn create(c: &Client, a: CreateArgs) -> Result<i32, Failure> {
    let id = create_container(c, &a, false).await?;
    println!("{id}");
    Ok(0)
}

/// The exit code Docker's CLI gives a command that could not start,
/// from the daemon's words: 127 for one not found, 126 for one that can't
/// be executed, else 125.
fn start_failure_code(message: &str) -> i32 {
    if ["executable file not found", "no such file or directory"]
        .iter()
        .any(|m| message.contains(m))
    {
        127
    } else if ["permission denied", "is a directory"].iter().any(|m| message.contains(m)) {
        126
    } else {
        125
    }
}

/// Starts; a failure removes an `--rm` container, as Docker does.
async fn start(c: &Client, id: &str, auto_remove: bool) -> Result<(), Failure> {
    if let Err(e) = c.post(&path(id, "/start")?).await {
        let code = start_failure_code(&e.message);
        if auto_remove {
            let _ = c.call(Method::DELETE, &path(id, "?force=1")?, None).await;
        }
        return Err(Failure { code, ..daemon_failure(e) });
    }
    Ok(())
}

pub async fn run(c: &Client, a: RunArgs) -> Result<i32, Failure> {
    let auto_remove = a.create.rm;
    let s = Streams { tty: a.create.tty, stdin: a.create.interactive && !a.detach };
    let detach = streams::detach_sequence(a.detach_keys.as_deref())?;
    let id = create_container(c, &a.create, s.stdin).await?;
    if a.detach {
        start(c, &id, auto_remove).await?;
        println!("{id}");
        return Ok(0);
    }
    // Attach and wait first: nothing is missed even if it exits at once.
    // With --rm, return only once the container is gone, as Docker does.
    let io = c
        .hijack(&attach_path(&id, s.stdin, a.detach_keys.as_deref())?, None)
        .await
        .map_err(daemon_failure)?;
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let wait = c
        .checked(
            Method::POST,
            &path(&id, &format!("/wait?condition={condition}"))?,
            &[],
            crate::client::empty(),
        )
        .await
        .map_err(daemon_failure)?;
    start(c, &id, auto_remove).await?;
    let pumped =
        streams::pump(io, s, Some(Resize { client: c, path: path(&id, "/resize")? }), &detach);
    let kill = path(&id, "/kill")?;
    let ended = if a.sig_proxy && !s.tty {
        tokio::select! {
            ended = pumped => ended,
            () = streams::proxy_signals(c, &kill) => unreachable!("the proxy runs until the output ends"),
        }
    } else {
        pumped.await
    };
    match ended? {
        // It runs on without us, as after `docker run -it`'s Ctrl-P Ctrl-Q.
        streams::Ended::Detached => Ok(0),
        streams::Ended::Output => super::containers::exit_status(c, &id, wait).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_exit_as_docker_s_cli_says() {
        assert_eq!(
            start_failure_code(r#"exec: "nosuchcommand": executable file not found in $PATH"#),
            127
        );
        assert_eq!(start_failure_code("exec /etc/passwd: permission denied"), 126);
        assert_eq!(start_failure_code("cgroup: no space"), 125);
    }
}
