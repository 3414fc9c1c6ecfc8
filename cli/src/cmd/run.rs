//! create and run: Docker's flags as a `POST /containers/create` body.
//! What berth can't do yet (`-p`, `--init`, …) is sent as Docker
//! sends it and refused by the daemon by name, never dropped here.
//! `run` attaches and waits before it starts, so nothing is missed.

use super::containers::{attach_path, path};
use crate::client::Client;
use crate::streams::{self, Resize, Streams};
use crate::units::{parse_bytes, parse_cpus};
use crate::Failure;
use hyper::Method;
use serde_json::{json, Map, Value};

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
fn healthcheck(a: &CreateArgs) -> Result<Value, String> {
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
        return Ok(json!({ "Test": ["NONE"] }));
    }
    if !any {
        return Ok(Value::Null);
    }
    let test = a.health_cmd.as_ref().map(|c| json!(["CMD-SHELL", c]));
    Ok(
        json!({ "Test": test, "Interval": interval, "Timeout": timeout, "StartPeriod": start_period, "StartInterval": start_interval, "Retries": retries }),
    )
}

/// Docker's `--restart name[:max-retries]` as the API's `RestartPolicy`
/// (the daemon checks the name).
pub(super) fn restart_policy(s: &str) -> Result<Value, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| "maximum retry count must be an integer".to_owned())?,
        ),
        None => (s, 0),
    };
    Ok(json!({ "Name": name, "MaximumRetryCount": count }))
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
fn ulimit(u: &str) -> Result<Value, Failure> {
    let invalid =
        || bad(format!("invalid argument {u:?} for \"--ulimit\" flag: expected name=soft[:hard]"));
    let (name, limits) = u.split_once('=').ok_or_else(invalid)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.parse().map_err(|_| invalid())?;
    let hard: i64 = hard.parse().map_err(|_| invalid())?;
    Ok(json!({ "Name": name, "Soft": soft, "Hard": hard }))
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
fn mount_spec(spec: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let (mut bind, mut volume, mut tmpfs) = (Map::new(), Map::new(), Map::new());
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
            "type" => drop(m.insert("Type".into(), json!(val()?))),
            "source" | "src" => drop(m.insert("Source".into(), json!(val()?))),
            "target" | "dst" | "destination" => drop(m.insert("Target".into(), json!(val()?))),
            "readonly" | "ro" => drop(m.insert("ReadOnly".into(), json!(flag()?))),
            "consistency" => drop(m.insert("Consistency".into(), json!(val()?))),
            "bind-propagation" => drop(bind.insert("Propagation".into(), json!(val()?))),
            "volume-nocopy" => drop(volume.insert("NoCopy".into(), json!(flag()?))),
            "tmpfs-size" => {
                drop(tmpfs.insert("SizeBytes".into(), json!(crate::units::parse_bytes(&val()?)?)))
            }
            "tmpfs-mode" => drop(tmpfs.insert(
                "Mode".into(),
                json!(u32::from_str_radix(&val()?, 8)
                        .map_err(|e| format!("invalid tmpfs-mode: {e}"))?),
            )),
            other => return Err(format!("unexpected key '{other}' in '{spec}'")),
        }
    }
    if !m.contains_key("Type") {
        m.insert("Type".into(), json!("volume"));
    }
    for (key, opts) in [("BindOptions", bind), ("VolumeOptions", volume), ("TmpfsOptions", tmpfs)] {
        if !opts.is_empty() {
            m.insert(key.into(), Value::Object(opts));
        }
    }
    Ok(Value::Object(m))
}

/// `NetworkingConfig`: the aliases and address on the network it starts on.
fn networking_config(a: &CreateArgs) -> Value {
    if a.network_alias.is_empty() && a.ip.is_none() {
        return Value::Null;
    }
    let ipam = a.ip.as_ref().map(|ip| json!({ "IPv4Address": ip }));
    json!({ "EndpointsConfig": { a.network.clone(): { "Aliases": a.network_alias, "IPAMConfig": ipam } } })
}

/// The create body, and the name.
fn body(a: &CreateArgs, attach_stdin: bool) -> Result<Value, Failure> {
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
    let labels: Map<String, Value> = a
        .label
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .map(|(k, v)| (k.to_owned(), json!(v)))
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
    Ok(json!({
        "Hostname": a.hostname.clone().unwrap_or_default(),
        "User": a.user.clone().unwrap_or_default(),
        "AttachStdin": attach_stdin,
        "AttachStdout": true,
        "AttachStderr": true,
        "Tty": a.tty,
        "OpenStdin": a.interactive,
        "StdinOnce": attach_stdin,
        "Env": env,
        "Cmd": if a.command.is_empty() { Value::Null } else { json!(a.command) },
        "Entrypoint": a.entrypoint.as_ref().map_or(Value::Null, |e| if e.is_empty() { json!([""]) } else { json!([e]) }),
        "Image": a.image,
        "ExposedPorts": exposed_ports,
        "Labels": labels,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "StopSignal": a.stop_signal.clone().unwrap_or_default(),
        "StopTimeout": a.stop_timeout,
        "Healthcheck": healthcheck(a).map_err(bad)?,
        "NetworkingConfig": networking_config(a),
        "MacAddress": a.mac_address.clone().unwrap_or_default(),
        "HostConfig": {
            "NetworkMode": a.network,
            "AutoRemove": a.rm,
            "Memory": memory,
            "NanoCpus": nano_cpus,
            "CpuShares": a.cpu_shares.unwrap_or(0),
            "CpusetCpus": a.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": a.pids_limit.filter(|p| *p > 0),
            "ReadonlyRootfs": a.read_only,
            "Privileged": a.privileged,
            "CapAdd": a.cap_add,
            "CapDrop": a.cap_drop,
            "SecurityOpt": security_opts(&a.security_opt)?,
            "Ulimits": ulimits,
            "Binds": a.volume,
            "Dns": a.dns,
            "DnsSearch": a.dns_search,
            "DnsOptions": a.dns_option,
            "ExtraHosts": a.add_host,
            "VolumesFrom": a.volumes_from,
            "Mounts": a.mount.iter().map(|m| mount_spec(m)).collect::<Result<Vec<_>, _>>().map_err(bad)?,
            "Tmpfs": a.tmpfs.iter().map(|t| t.split_once(':').map_or((t.as_str(), ""), |(p, o)| (p, o))).map(|(p, o)| (p.to_owned(), json!(o))).collect::<Map<String, Value>>(),
            "PortBindings": port_bindings,
            "PublishAllPorts": a.publish_all,
            "RestartPolicy": restart,
            "Init": a.init.then_some(true),
        },
    }))
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
    match c.json(Method::POST, &path, Some(&body)).await {
        Ok(v) => Ok(v["Id"].as_str().unwrap_or_default().to_owned()),
        Err(e)
            if e.is_not_found()
                && a.pull == "missing"
                && e.message.starts_with("No such image") =>
        {
            eprintln!("Unable to find image '{}' locally", a.image);
            super::transfer::pull_quietly(c, &a.image)
                .await
                .map_err(|f| Failure { code: 125, ..f.prefixed("berth: ") })?;
            let v = c.json(Method::POST, &path, Some(&body)).await.map_err(daemon_failure)?;
            Ok(v["Id"].as_str().unwrap_or_default().to_owned())
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
            let _ = c.json(Method::DELETE, &path(id, "?force=1")?, None).await;
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
        assert_eq!(
            ulimit("nofile=256:512").unwrap(),
            json!({ "Name": "nofile", "Soft": 256, "Hard": 512 })
        );
        assert_eq!(ulimit("nproc=10").unwrap(), json!({ "Name": "nproc", "Soft": 10, "Hard": 10 }));
        assert!(ulimit("nofile").is_err());
        assert!(ulimit("nofile=x").is_err());
    }
}
