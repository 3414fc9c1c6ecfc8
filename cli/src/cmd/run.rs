//! create and run: Docker's flags as a `POST /containers/create` body.
//! What berth can't do yet (`-p`, `--init`, …) is sent as Docker
//! sends it and refused by the daemon by name, never dropped here.
//! `run` attaches and waits before it starts, so nothing is missed.

use super::containers::{attach_path, path};
use crate::client::{json_body, Client};
use crate::streams::{self, Resize, Streams};
use crate::units::{parse_bytes, parse_cpus};
use crate::Failure;
use berth_docker_api::container::{
    BindOptions, Config, CreateRequest, CreateResponse, EndpointConfig, EndpointIpamConfig,
    HealthConfig, HostConfig, Mount, NetworkingConfig, RestartPolicy, TmpfsOptions, Ulimit,
    VolumeOptions,
};
use hyper::Method;
use std::collections::BTreeMap;

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

/// Docker's `--health-*` flags as the API's `Healthcheck` (null: the image's).
fn healthcheck(a: &CreateArgs) -> Result<Option<HealthConfig>, String> {
    let dur = |flag: &str, v: &Option<String>| -> Result<i64, String> {
        match v {
            None => Ok(0),
            Some(v) => berth_proto::time::parse_go_duration(v).ok_or_else(|| {
                format!("invalid argument {v:?} for \"--{flag}\" flag: invalid duration")
            }),
        }
    };
    let (interval, timeout) =
        (dur("health-interval", &a.health_interval)?, dur("health-timeout", &a.health_timeout)?);
    let (start_period, start_interval) = (
        dur("health-start-period", &a.health_start_period)?,
        dur("health-start-interval", &a.health_start_interval)?,
    );
    let retries = a.health_retries.unwrap_or(0);
    let any = a.health_cmd.is_some()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || start_interval != 0
        || retries != 0;
    if a.no_healthcheck {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }));
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(HealthConfig {
        test: a.health_cmd.as_ref().map(|c| vec!["CMD-SHELL".to_owned(), c.clone()]),
        interval: Some(interval),
        timeout: Some(timeout),
        start_period: Some(start_period),
        start_interval: Some(start_interval),
        retries: Some(retries),
    }))
}

/// Docker's `--restart name[:max-retries]` as the API's `RestartPolicy`
/// (the daemon checks the name).
pub(super) fn restart_policy(s: &str) -> Result<RestartPolicy, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| "maximum retry count must be an integer".to_owned())?,
        ),
        None => (s, 0),
    };
    Ok(RestartPolicy { name: name.to_owned(), maximum_retry_count: count })
}

fn daemon_failure(e: crate::client::ApiError) -> Failure {
    Failure { code: 125, ..Failure::from(e) }.prefixed("berth: ")
}

fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_owned())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// `nofile=1024[:2048]` as Docker's `{Name, Soft, Hard}`.
fn ulimit(u: &str) -> Result<Ulimit, Failure> {
    let invalid =
        || bad(format!("invalid argument {u:?} for \"--ulimit\" flag: expected name=soft[:hard]"));
    let (name, limits) = u.split_once('=').ok_or_else(invalid)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.parse().map_err(|_| invalid())?;
    let hard: i64 = hard.parse().map_err(|_| invalid())?;
    Ok(Ulimit { name: name.to_owned(), soft, hard })
}

/// `--security-opt`, as the docker CLI sends it: a seccomp profile file is
/// read here and its text sent.
fn security_opts(opts: &[String]) -> Result<Vec<String>, Failure> {
    opts.iter()
        .map(|o| match o.split_once(['=', ':']) {
            Some(("seccomp", path)) if path != "unconfined" && !path.is_empty() => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad(format!("opening seccomp profile ({path}) failed: {e}")))?;
                Ok(format!("seccomp={text}"))
            }
            _ => Ok(o.clone()),
        })
        .collect()
}

/// Docker's `--mount` CSV as the API's `Mount`.
fn mount_spec(spec: &str) -> Result<Mount, String> {
    let mut m = Mount { kind: "volume".into(), ..Default::default() };
    let (mut bind, mut volume, mut tmpfs) = (None, None, None);
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').map_or((field, None), |(k, v)| (k, Some(v)));
        let flag = || match v {
            None | Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(format!("invalid value for {k}: {other}")),
        };
        let val = || {
            v.map(str::to_owned)
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))
        };
        match k {
            "type" => m.kind = val()?,
            "source" | "src" => m.source = val()?,
            "target" | "dst" | "destination" => m.target = val()?,
            "readonly" | "ro" => m.read_only = flag()?,
            "consistency" => m.consistency = val()?,
            "bind-propagation" => {
                bind.get_or_insert_with(BindOptions::default).propagation = val()?
            }
            "volume-nocopy" => volume.get_or_insert_with(VolumeOptions::default).no_copy = flag()?,
            "tmpfs-size" => {
                tmpfs.get_or_insert_with(TmpfsOptions::default).size_bytes =
                    crate::units::parse_bytes(&val()?)?
            }
            "tmpfs-mode" => {
                tmpfs.get_or_insert_with(TmpfsOptions::default).mode =
                    u32::from_str_radix(&val()?, 8)
                        .map_err(|e| format!("invalid tmpfs-mode: {e}"))?
            }
            other => return Err(format!("unexpected key '{other}' in '{spec}'")),
        }
    }
    m.bind_options = bind;
    m.volume_options = volume;
    m.tmpfs_options = tmpfs;
    Ok(m)
}

/// `NetworkingConfig`: the aliases and address on the network it starts on.
fn networking_config(a: &CreateArgs) -> Option<NetworkingConfig> {
    if a.network_alias.is_empty() && a.ip.is_none() {
        return None;
    }
    let endpoint = EndpointConfig {
        aliases: Some(a.network_alias.clone()),
        ipam_config: a.ip.clone().map(|ip| EndpointIpamConfig { ipv4_address: ip }),
        ..Default::default()
    };
    Some(NetworkingConfig {
        endpoints_config: Some(BTreeMap::from([(a.network.clone(), endpoint)])),
    })
}

/// The create body, and the name.
fn body(a: &CreateArgs, attach_stdin: bool) -> Result<CreateRequest, Failure> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| bad(format!("open {f}: {e}")))?;
        env.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(env_entry),
        );
    }
    env.extend(a.env.iter().filter_map(|e| env_entry(e)));
    let labels: BTreeMap<String, String> = a
        .label
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let memory = a.memory.as_deref().map(parse_bytes).transpose().map_err(bad)?.unwrap_or(0);
    let nano_cpus = a
        .cpus
        .as_deref()
        .map(parse_cpus)
        .transpose()
        .map_err(bad)?
        .map_or(0, |(quota, _)| quota * 10_000);
    if a.pids_limit.is_some_and(|p| p < -1) {
        return Err(bad("invalid --pids-limit".into()));
    }
    let ulimits = a.ulimit.iter().map(|u| ulimit(u)).collect::<Result<Vec<_>, _>>()?;
    if a.rm && a.restart.as_deref().is_some_and(|r| r != "no") {
        return Err(bad("Conflicting options: --restart and --rm".into()));
    }
    let restart = restart_policy(a.restart.as_deref().unwrap_or("")).map_err(bad)?;
    let (exposed_ports, port_bindings) =
        super::ports::create_fields(&a.publish, &a.expose).map_err(bad)?;
    let config = Config {
        hostname: a.hostname.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout: true,
        attach_stderr: true,
        tty: a.tty,
        open_stdin: a.interactive,
        stdin_once: attach_stdin,
        env: Some(env),
        cmd: (!a.command.is_empty()).then(|| a.command.clone()),
        // `--entrypoint ""` clears the image's.
        entrypoint: a.entrypoint.as_ref().map(|e| vec![e.clone()]),
        image: a.image.clone(),
        exposed_ports: Some(exposed_ports),
        labels: Some(labels),
        working_dir: a.workdir.clone().unwrap_or_default(),
        stop_signal: a.stop_signal.clone().unwrap_or_default(),
        stop_timeout: a.stop_timeout,
        healthcheck: healthcheck(a).map_err(bad)?,
        mac_address: a.mac_address.clone().unwrap_or_default(),
        ..Default::default()
    };
    let tmpfs = a.tmpfs.iter().map(|t| t.split_once(':').unwrap_or((t.as_str(), "")));
    let host_config = HostConfig {
        network_mode: a.network.clone(),
        auto_remove: a.rm,
        memory,
        nano_cpus,
        cpu_shares: a.cpu_shares.unwrap_or(0) as i64,
        cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
        pids_limit: a.pids_limit.filter(|p| *p > 0),
        readonly_rootfs: a.read_only,
        privileged: a.privileged,
        cap_add: Some(a.cap_add.clone()),
        cap_drop: Some(a.cap_drop.clone()),
        security_opt: Some(security_opts(&a.security_opt)?),
        ulimits: Some(ulimits),
        binds: Some(a.volume.clone()),
        dns: Some(a.dns.clone()),
        dns_search: Some(a.dns_search.clone()),
        dns_options: Some(a.dns_option.clone()),
        extra_hosts: Some(a.add_host.clone()),
        volumes_from: Some(a.volumes_from.clone()),
        mounts: Some(a.mount.iter().map(|m| mount_spec(m)).collect::<Result<_, _>>().map_err(bad)?),
        tmpfs: Some(tmpfs.map(|(p, o)| (p.to_owned(), o.to_owned())).collect()),
        port_bindings: Some(port_bindings),
        publish_all_ports: a.publish_all,
        restart_policy: restart,
        init: a.init.then_some(true),
        ..Default::default()
    };
    Ok(CreateRequest { config, host_config, networking_config: networking_config(a) })
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
    let body = body(a, attach_stdin)?;
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

    #[test]
    fn ulimits_as_docker_reads_them() {
        let u = |name: &str, soft, hard| Ulimit { name: name.into(), soft, hard };
        assert_eq!(ulimit("nofile=256:512").unwrap(), u("nofile", 256, 512));
        assert_eq!(ulimit("nproc=10").unwrap(), u("nproc", 10, 10));
        assert!(ulimit("nofile").is_err());
        assert!(ulimit("nofile=x").is_err());
    }
}
