//! The create body of `create` and `run`: Docker's flags as the API's
//! `Config`, `HostConfig` and `NetworkingConfig`, as the docker CLI sends
//! them (what berth can't do yet is sent too, and refused by the daemon).

use super::{bad, CreateArgs};
use crate::units::{parse_bytes, parse_cpus};
use crate::Failure;
use berth_docker_api::container::{
    BindOptions, Config, CreateRequest, EndpointConfig, EndpointIpamConfig, HealthConfig,
    HostConfig, Mount, NetworkingConfig, RestartPolicy, TmpfsOptions, Ulimit, VolumeOptions,
};
use std::collections::BTreeMap;

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
pub(in crate::cmd) fn restart_policy(s: &str) -> Result<RestartPolicy, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| "maximum retry count must be an integer".to_owned())?,
        ),
        None => (s, 0),
    };
    Ok(RestartPolicy { name: name.to_owned(), maximum_retry_count: count })
}

fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_owned())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// `nofile=1024[:2048]` as Docker's `{Name, Soft, Hard}`.
pub(super) fn ulimit(u: &str) -> Result<Ulimit, Failure> {
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
pub(super) fn body(a: &CreateArgs, attach_stdin: bool) -> Result<CreateRequest, Failure> {
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
        crate::cmd::ports::create_fields(&a.publish, &a.expose).map_err(bad)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_as_docker_reads_them() {
        let u = |name: &str, soft, hard| Ulimit { name: name.into(), soft, hard };
        assert_eq!(ulimit("nofile=256:512").unwrap(), u("nofile", 256, 512));
        assert_eq!(ulimit("nproc=10").unwrap(), u("nproc", 10, 10));
        assert!(ulimit("nofile").is_err());
        assert!(ulimit("nofile=x").is_err());
    }
}
