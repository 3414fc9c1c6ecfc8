//! A container as berth records it: its configuration, its state, and the
//! values with meaning (status, end reason, stop signal, limits).

use super::pod::{BindMount, DeviceMount, ImageVolume, PodLink, Security};
pub use super::resolver::{Dns, ExtraHost};
pub use super::restart_policy::{
    RestartPolicy, RESTART_FIRST_DELAY, RESTART_MAX_DELAY, RESTART_RESET_AFTER,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
    /// The shim vanished without leaving an exit record.
    Unknown,
    /// Its record could not be read (damaged, or written by a newer berth):
    /// it was set aside with everything of the container kept; only a
    /// removal on purpose goes on from here.
    Quarantined,
}

/// Why a container that ran is no longer running, beside its exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Its process exited or was killed: the exit code says how.
    #[default]
    Exited,
    /// Its shim vanished without an exit record.
    ShimLost,
    /// The node restarted while it ran (exit code 255, as containerd says).
    NodeRestarted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Unknown => "unknown",
            Status::Quarantined => "quarantined",
        }
    }
    pub fn can_start(self) -> bool {
        self != Status::Running
    }
    pub fn can_kill(self) -> bool {
        self == Status::Running
    }
    pub fn can_remove(self, force: bool) -> bool {
        self != Status::Running || force
    }
}

/// Resource limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_bytes: i64,
    pub cpu_quota: i64,
    pub cpu_period: u64,
    pub cpu_shares: u64,
    pub pids_limit: i64,
    /// Bytes of memory plus swap; 0: same as `memory_bytes` (no swap).
    #[serde(default)]
    pub memory_swap_bytes: i64,
    #[serde(default)]
    pub cpuset_cpus: String,
    #[serde(default)]
    pub cpuset_mems: String,
    /// `None`: inherited from the shim (the daemon's).
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    /// Hugepage size (`2MB`, `1GB`) → limit in bytes.
    #[serde(default)]
    pub hugepages: BTreeMap<String, u64>,
    /// cgroup v2 files → values (only on a unified host).
    #[serde(default)]
    pub unified: BTreeMap<String, String>,
}

/// The network of a container outside pods (Docker's `NetworkMode`); a
/// pod's containers have the pod's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum ContainerNetwork {
    /// A namespace of its own with only loopback (`--network none`).
    #[default]
    None,
    /// The node's network namespace (`--network host`), with the node's
    /// hostname, hosts and resolv.conf.
    Host,
    /// An address on berth's default bridge: while the container runs, the
    /// namespace is held by a sandbox of its own
    /// ([`super::sandbox::SandboxOwner::Container`]); `sandbox` is empty
    /// when it has none (created, or exited: as dockerd's endpoints).
    /// `links`: the user-defined networks `network connect` added (`eth1`,
    /// `eth2`…), as a user network's extra links.
    Bridge {
        sandbox: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        links: Vec<super::network::NetworkLink>,
    },
    /// User-defined networks (the first one's is the sandbox's own
    /// interface, `eth0`; `network connect` adds more), each link's address
    /// only while the sandbox is there.
    User { sandbox: String, links: Vec<super::network::NetworkLink> },
    /// Another container's network namespace, with its hostname, hosts
    /// and resolv.conf (`--network container:<name>`); joined at each start.
    Container { target: String },
}

impl ContainerNetwork {
    /// The sandbox holding the container's network, if one does now.
    pub fn sandbox(&self) -> Option<&str> {
        match self {
            ContainerNetwork::Bridge { sandbox, .. } | ContainerNetwork::User { sandbox, .. } => {
                Some(sandbox.as_str()).filter(|s| !s.is_empty())
            }
            ContainerNetwork::None
            | ContainerNetwork::Host
            | ContainerNetwork::Container { .. } => None,
        }
    }

    /// Whether the container's network is a bridge's (the default or a
    /// user-defined one): a sandbox of its own while it runs.
    pub fn bridged(&self) -> bool {
        matches!(self, ContainerNetwork::Bridge { .. } | ContainerNetwork::User { .. })
    }

    /// The network as it is without its sandbox: no sandbox, no addresses
    /// (the links, and what they asked for, stay).
    pub fn released(&mut self) {
        match self {
            ContainerNetwork::Bridge { sandbox, links }
            | ContainerNetwork::User { sandbox, links } => {
                sandbox.clear();
                for l in links {
                    l.address = None;
                }
            }
            ContainerNetwork::None
            | ContainerNetwork::Host
            | ContainerNetwork::Container { .. } => {}
        }
    }

    /// Its user-defined networks (on the default bridge: the ones
    /// connected since).
    pub fn links(&self) -> &[super::network::NetworkLink] {
        match self {
            ContainerNetwork::User { links, .. } | ContainerNetwork::Bridge { links, .. } => links,
            _ => &[],
        }
    }

    /// The user network the sandbox itself is made on (its `eth0`): a user
    /// network container's first link; None on the default bridge.
    pub fn own_link(&self) -> Option<&super::network::NetworkLink> {
        match self {
            ContainerNetwork::User { links, .. } => links.first(),
            _ => None,
        }
    }

    /// The links `network connect` added, each its own interface beside the sandbox's.
    pub fn extra_links(&self) -> &[super::network::NetworkLink] {
        match self {
            ContainerNetwork::User { links, .. } => links.get(1..).unwrap_or_default(),
            ContainerNetwork::Bridge { links, .. } => links,
            _ => &[],
        }
    }

    /// The links, to change (None: a mode without user networks).
    pub fn links_mut(&mut self) -> Option<&mut Vec<super::network::NetworkLink>> {
        match self {
            ContainerNetwork::User { links, .. } | ContainerNetwork::Bridge { links, .. } => {
                Some(links)
            }
            _ => None,
        }
    }
}

/// What a container runs, fixed at create time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Entrypoint followed by cmd: what is executed.
    pub args: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub resources: Resources,
    pub read_only: bool,
    pub labels: BTreeMap<String, String>,
    pub auto_remove: bool,
    pub stop_signal: StopSignal,
    /// Seconds; `None`: the engine default.
    pub stop_timeout: Option<u64>,
    /// Resource limits (setrlimit), e.g. `nofile`.
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// The pod this container belongs to (CRI containers only).
    #[serde(default)]
    pub pod: Option<PodLink>,
    /// The network of a container outside pods.
    #[serde(default)]
    pub network: ContainerNetwork,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The CRI log file (under the pod's log directory); `None`: the
    /// container's own `container.log`.
    #[serde(default)]
    pub log_path: Option<std::path::PathBuf>,
    #[serde(default)]
    pub mounts: Vec<BindMount>,
    #[serde(default)]
    pub devices: Vec<DeviceMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_volumes: Vec<ImageVolume>,
    #[serde(default)]
    pub security: Security,
    /// The cgroup (cgroupfs path, from the root of each hierarchy).
    #[serde(default)]
    pub cgroup_path: String,
    #[serde(default)]
    pub stdio: Stdio,
    /// The volumes it names (their binds are in `mounts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<super::volume::VolumeUse>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<super::volume::TmpfsMount>,
    /// `--dns`, `--dns-search`, `--dns-option`: the container's own resolv.conf.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
    /// `--add-host name:ip`: more lines in its /etc/hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<ExtraHost>,
    /// `--init`: berth's own PID 1 reaps, forwards signals, passes the exit code on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// Probed while it runs (Docker's healthcheck; never for pods').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<super::health::Healthcheck>,
    /// What happens when it exits (Docker's `--restart`; never for pods').
    #[serde(default, skip_serializing_if = "RestartPolicy::is_no")]
    pub restart: RestartPolicy,
    /// The image's `EXPOSE`, `--expose` and the published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<super::ports::ContainerPort>,
    /// `-p` as asked (Docker's `PortBindings`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<super::ports::PortRequest>,
    /// `-P`: every exposed port on a host port of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish_all: bool,
    /// The host ports it holds with its network while it runs (taken at
    /// each start, given back at its exit, as dockerd's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<super::ports::PublishedPort>,
    /// `--mac-address`: its first interface's hardware address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<super::network::MacAddress>,
}

impl ContainerConfig {
    /// The volume mounted at `p`, if the bind there is one of a volume's.
    pub fn volume_at(&self, p: &std::path::Path) -> Option<&super::volume::VolumeUse> {
        self.volumes.iter().find(|v| v.container_path == p)
    }

    /// The container without its network's live resources: no sandbox, no
    /// addresses, no host ports (what it asked for stays).
    pub fn release_network(&mut self) {
        self.network.released();
        self.ports.clear();
    }
}

/// The signal that asks a container to stop (image `StopSignal`, `--stop-signal`,
/// CRI `stop_signal`): parsed once at create, stored by name (`"SIGTERM"`, as
/// records always held it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal(pub nix::sys::signal::Signal);

impl Default for StopSignal {
    fn default() -> Self {
        Self(nix::sys::signal::Signal::SIGTERM)
    }
}

impl StopSignal {
    /// Docker's forms: `SIGTERM`, `TERM`, `term`, `15`.
    pub fn parse(s: &str) -> Result<Self> {
        berth_kernel::signal::parse(s).map(Self).map_err(Error::invalid)
    }
    pub fn name(self) -> &'static str {
        self.0.as_str()
    }
}

impl Serialize for StopSignal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // Older berths took an image's StopSignal unchecked and stopped with
        // SIGTERM when it was no signal: such a record still loads, as that.
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s).unwrap_or_default())
    }
}

/// What the container's stdio is beyond its log (CRI `stdin`, `stdin_once`, `tty`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stdio {
    /// stdin stays open for attachments.
    pub stdin: bool,
    /// ... until the first attachment that wrote to it ends.
    pub stdin_once: bool,
    /// A terminal (from the container's devpts) instead of pipes.
    pub tty: bool,
}

/// One `--ulimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The rlimit names Docker accepts.
pub const ULIMIT_NAMES: [&str; 16] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

impl Ulimit {
    /// Parses `name=soft[:hard]`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("invalid ulimit {s:?}: expected name=soft[:hard]"));
        let (name, vals) = s.split_once('=').ok_or_else(bad)?;
        if !ULIMIT_NAMES.contains(&name) {
            return Err(Error::invalid(format!("invalid ulimit type: {name}")));
        }
        let num = |v: &str| {
            if v == "-1" || v == "unlimited" {
                Ok(u64::MAX)
            } else {
                v.parse::<u64>().map_err(|_| bad())
            }
        };
        let (soft, hard) = match vals.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(vals)?, num(vals)?),
        };
        if soft > hard {
            return Err(Error::invalid(format!(
                "ulimit {name}: soft limit {soft} is above the hard limit {hard}"
            )));
        }
        Ok(Self { name: name.to_owned(), soft, hard })
    }
}

/// The runtime state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    pub pid: i32,
    pub shim_pid: i32,
    pub started_at: i64,
    pub finished_at: i64,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    /// Exits seen so far; `wait next-exit` waits for it to grow.
    pub exits: u64,
    /// Why the last run ended.
    #[serde(default)]
    pub end: EndReason,
    /// The protocol of the shim of the current (or last) run; 0 in records
    /// from before shims said, which means protocol 1.
    #[serde(default)]
    pub shim_protocol: u32,
    /// Running, with every process frozen (Docker's pause).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Restarts by the restart policy since the last start on purpose.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restart_count: u32,
    /// Exited and waiting for the restart its policy asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarting: bool,
    /// The last run was ended by a stop or kill on purpose (Docker's
    /// `HasBeenManuallyStopped`): no restart follows it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_on_purpose: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The persisted record (`containers/<id>/container.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub config: ContainerConfig,
    pub created_at: i64,
    pub state: ContainerState,
}

impl crate::store::Record for ContainerRecord {
    const KIND: &'static str = "container";
    /// 0: before schemas; 1: the same shape, with `schema`.
    const SCHEMA: u32 = 1;
}

impl ContainerRecord {
    /// What is shown of a container whose record was quarantined: its id,
    /// the name if the damaged record still says it, and why.
    pub(crate) fn quarantined(id: &str, name: Option<String>, why: String) -> Self {
        let mut r = Self::new(
            id.to_owned(),
            name.unwrap_or_else(|| id.to_owned()),
            String::new(),
            String::new(),
            ContainerConfig::default(),
        );
        r.state.status = Status::Quarantined;
        r.state.error = format!("the container's record was quarantined: {why}");
        r
    }

    pub fn new(
        id: String,
        name: String,
        image: String,
        image_id: String,
        config: ContainerConfig,
    ) -> Self {
        Self {
            id,
            name,
            image,
            image_id,
            config,
            created_at: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
            state: ContainerState::default(),
        }
    }
}

impl ContainerRecord {
    /// Docker's STATUS column at `now`: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
    pub fn status_text(&self, now: std::time::SystemTime) -> String {
        let now = berth_proto::time::unix_nanos(now);
        let ago = |t: i64| human(std::time::Duration::from_nanos((now - t).max(0) as u64));
        match self.state.status {
            Status::Created => "Created".into(),
            Status::Running if self.state.paused => {
                format!("Up {} (Paused)", ago(self.state.started_at))
            }
            Status::Running => format!("Up {}", ago(self.state.started_at)),
            Status::Exited if self.state.restarting => {
                format!("Restarting ({}) {} ago", self.state.exit_code, ago(self.state.finished_at))
            }
            Status::Exited => {
                format!("Exited ({}) {} ago", self.state.exit_code, ago(self.state.finished_at))
            }
            Status::Unknown => "Unknown".into(),
            Status::Quarantined => "Quarantined".into(),
        }
    }
}

/// Docker's words for a duration (`Less than a second`, `5 minutes`).
fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1..=59 => format!("{s} seconds"),
        60..=3599 => format!("{} minutes", s / 60),
        3600..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::{RestartPolicy, StopSignal};
    use std::time::Duration;

    #[test]
    fn dns_settings_over_the_nodes() {
        let node = "search lan\nnameserver 10.0.0.53\noptions ndots:1\n";
        let d = super::Dns { servers: vec!["192.0.2.1".parse().unwrap()], ..Default::default() };
        assert_eq!(d.resolv_conf(node), "search lan\nnameserver 192.0.2.1\noptions ndots:1\n");
        let d = super::Dns {
            search: vec!["a.example".into()],
            options: vec!["ndots:2".into()],
            ..Default::default()
        };
        assert_eq!(
            d.resolv_conf(node),
            "search a.example\nnameserver 10.0.0.53\noptions ndots:2\n"
        );
        assert!(super::Dns { search: vec!["a\nnameserver 1.2.3.4".into()], ..Default::default() }
            .check()
            .is_err());
        assert_eq!(super::ExtraHost::parse("db:192.0.2.7").unwrap().ip.to_string(), "192.0.2.7");
        assert!(
            super::ExtraHost::parse("db:nope").is_err()
                && super::ExtraHost::parse("bad_name:1.2.3.4").is_err()
        );
    }

    #[test]
    fn restart_policies_as_docker_writes_and_follows_them() {
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure { max_retries: 3 }
        );
        assert_eq!(RestartPolicy::parse("unless-stopped").unwrap().to_string(), "unless-stopped");
        assert_eq!(RestartPolicy::from_docker("", 0).unwrap(), RestartPolicy::No);
        for (name, n, err) in [
            ("bogus", 0, "invalid restart policy 'bogus'"),
            ("always", 2, "maximum retry count cannot be used with restart policy 'always'"),
            ("on-failure", -1, "maximum retry count cannot be negative"),
        ] {
            assert!(
                RestartPolicy::from_docker(name, n).unwrap_err().to_string().contains(err),
                "{name} {n}"
            );
        }
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        let of2 = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(
            of2.restarts_after_exit(1, 1, false)
                && !of2.restarts_after_exit(1, 2, false)
                && !of2.restarts_after_exit(0, 0, false)
        );
        assert!(
            !RestartPolicy::Always.restarts_after_exit(0, 9, true),
            "a stop on purpose ends the restarts"
        );
        assert!(RestartPolicy::Always.restarts_at_start_up(0, 0, true));
        assert!(!RestartPolicy::UnlessStopped.restarts_at_start_up(137, 0, true));
        assert!(!RestartPolicy::No.restarts_at_start_up(1, 0, false));
        // 100 ms, doubled up to a minute; a run of 10 s starts over.
        let ms = Duration::from_millis;
        assert_eq!(RestartPolicy::next_delay(Duration::ZERO, ms(5)), ms(100));
        assert_eq!(RestartPolicy::next_delay(ms(100), ms(5)), ms(200));
        assert_eq!(RestartPolicy::next_delay(ms(40_000), ms(5)), Duration::from_secs(60));
        assert_eq!(RestartPolicy::next_delay(ms(3200), Duration::from_secs(10)), ms(100));
    }
    use nix::sys::signal::Signal;

    #[test]
    fn stop_signals_are_stored_by_name() {
        assert_eq!(serde_json::to_string(&StopSignal(Signal::SIGUSR1)).unwrap(), r#""SIGUSR1""#);
        assert_eq!(
            serde_json::from_str::<StopSignal>(r#""SIGQUIT""#).unwrap(),
            StopSignal(Signal::SIGQUIT)
        );
        assert_eq!(StopSignal::parse("hup").unwrap(), StopSignal(Signal::SIGHUP));
        assert!(StopSignal::parse("SIGNOPE").is_err());
        // What an older berth stored unchecked stops with SIGTERM, as it did then.
        assert_eq!(
            serde_json::from_str::<StopSignal>(r#""SIGNOPE""#).unwrap(),
            StopSignal::default()
        );
    }
}
