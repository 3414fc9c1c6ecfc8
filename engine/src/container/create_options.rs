//! What a create asks for: what every container has, and in one part of
//! its own what only the Docker front asks for (a container outside pods:
//! its network, ports, DNS, volumes, restart policy, healthcheck, init).
//! A pod's container has none of that: its pod's, or kubelet's.

use super::{BindMount, DeviceMount, PodLink, Resources, Security};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A container to create.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub image: String,
    /// `Some`: replaces the image's entrypoint (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub resources: Resources,
    pub read_only: bool,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    /// `--ulimit name=soft[:hard]`.
    pub ulimits: Vec<String>,
    /// The pod (CRI): the container joins its namespaces and cgroup parent.
    pub pod: Option<PodLink>,
    pub annotations: BTreeMap<String, String>,
    /// CRI `log_path`, relative to the pod's log directory.
    pub log_path: Option<PathBuf>,
    pub mounts: Vec<BindMount>,
    pub devices: Vec<DeviceMount>,
    pub image_volumes: Vec<super::ImageVolume>,
    pub security: Security,
    pub stdio: super::Stdio,
    /// What only a container outside pods has.
    pub docker: DockerOptions,
}

/// A Docker-front container's own settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerOptions {
    /// The network of a container outside pods.
    pub network: NetworkMode,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--stop-timeout`, seconds.
    pub stop_timeout: Option<u64>,
    /// `--restart`.
    pub restart: super::RestartPolicy,
    /// Volumes (`-v name:/path`, `-v /path`, `--mount type=volume`).
    pub volumes: Vec<crate::model::VolumeRequest>,
    pub tmpfs: Vec<crate::model::TmpfsMount>,
    /// `Config.Healthcheck`, over the image's.
    pub healthcheck: Option<crate::model::HealthConfig>,
    /// `--init`.
    pub init: bool,
    /// `--dns*`: the container's own resolv.conf.
    pub dns: crate::model::Dns,
    /// `--add-host name:ip`.
    pub extra_hosts: Vec<String>,
    /// `--volumes-from ctr[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `--expose`.
    pub exposed_ports: Vec<crate::model::ContainerPort>,
    /// `-p`: host ports for container ports (on the default bridge only).
    pub publish: Vec<crate::model::PortRequest>,
    /// `-P`.
    pub publish_all: bool,
    /// `--network-alias` (user-defined networks only).
    pub network_aliases: Vec<String>,
    /// `--ip` (user-defined networks only).
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--mac-address` (a network of its own only).
    pub mac_address: Option<crate::model::MacAddress>,
}

/// The network a container outside pods asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own namespace, loopback only.
    #[default]
    None,
    /// An address on berth's default bridge.
    Bridge,
    /// The node's network.
    Host,
    /// A user-defined network, by name or id.
    User(String),
    /// Another container's network, by name or id.
    Container(String),
}

impl DockerOptions {
    /// A pod's container asks for none of it.
    pub(super) fn check_in_pod(&self) -> Result<()> {
        let refuse = |what: &str| Err(Error::invalid(format!("a pod's container {what}")));
        if self.network != NetworkMode::None {
            return refuse("has the pod's network");
        }
        if !self.restart.is_no() {
            return refuse("has no restart policy: kubelet restarts it");
        }
        if !self.volumes.is_empty() || !self.tmpfs.is_empty() || !self.volumes_from.is_empty() {
            return refuse("has the pod's volumes");
        }
        if !self.publish.is_empty() || self.publish_all || !self.exposed_ports.is_empty() {
            return refuse("has the pod's port mappings");
        }
        if !self.dns.is_empty() || !self.extra_hosts.is_empty() {
            return refuse("has the pod's DNS and hosts");
        }
        // The rest (--rm, healthcheck, init, aliases, address, stop timeout):
        // none of it is a pod container's.
        if *self != DockerOptions::default() {
            return refuse("has no Docker-only settings (auto-remove, healthcheck, init, network aliases, address, stop timeout)");
        }
        Ok(())
    }

    /// dockerd's refusals, in its words; `hostname`: the request sets one.
    pub(super) fn check(&self, hostname: bool) -> Result<()> {
        let invalid = |m: &str| Err(Error::invalid(m));
        if !self.restart.is_no() && self.auto_remove {
            return invalid("can't create 'AutoRemove' container with restart policy");
        }
        self.dns.check()?;
        for h in &self.extra_hosts {
            super::ExtraHost::parse(h)?;
        }
        let user_network = matches!(self.network, NetworkMode::User(_));
        if !user_network && self.ip.is_some() {
            return invalid("user specified IP address is supported on user defined networks only");
        }
        if !user_network && !self.network_aliases.is_empty() {
            return invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            );
        }
        for a in &self.network_aliases {
            crate::model::check_alias(a)?;
        }
        let shared = matches!(self.network, NetworkMode::Host | NetworkMode::Container(_));
        if shared && !self.dns.is_empty() {
            return invalid("conflicting options: dns and the network mode");
        }
        if shared && self.mac_address.is_some() {
            return invalid("conflicting options: mac-address and the network mode");
        }
        if matches!(self.network, NetworkMode::Container(_)) {
            // The namespace, and what is in it, are the other container's.
            let conflict = |what: &str| invalid(&format!("conflicting options: {what}"));
            if hostname {
                return conflict("hostname and the network mode");
            }
            if !self.extra_hosts.is_empty() {
                return conflict("custom host-to-IP mapping and the network mode");
            }
            if !self.publish.is_empty() || self.publish_all {
                return conflict("port publishing and the container type network mode");
            }
            if !self.exposed_ports.is_empty() {
                return conflict("port exposing and the container type network mode");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<()>) -> String {
        match r {
            Err(Error::InvalidArgument(m)) => m.reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pods_container_takes_none_of_the_rest_either() {
        let cases = [
            DockerOptions { auto_remove: true, ..Default::default() },
            DockerOptions { init: true, ..Default::default() },
            DockerOptions { stop_timeout: Some(3), ..Default::default() },
            DockerOptions { network_aliases: vec!["a".into()], ..Default::default() },
        ];
        for o in cases {
            let m = refused(o.check_in_pod());
            assert!(m.contains("no Docker-only settings"), "{m}");
        }
    }

    #[test]
    fn a_pods_container_takes_no_docker_settings() {
        assert!(DockerOptions::default().check_in_pod().is_ok());
        let cases = [
            (DockerOptions { network: NetworkMode::Bridge, ..Default::default() }, "network"),
            (
                DockerOptions {
                    restart: super::super::RestartPolicy::Always,
                    ..Default::default()
                },
                "restart",
            ),
            (DockerOptions { volumes_from: vec!["c".into()], ..Default::default() }, "volumes"),
            (DockerOptions { publish_all: true, ..Default::default() }, "port mappings"),
            (DockerOptions { extra_hosts: vec!["a:10.0.0.1".into()], ..Default::default() }, "DNS"),
        ];
        for (o, word) in cases {
            let m = refused(o.check_in_pod());
            assert!(m.starts_with("a pod's container") && m.contains(word), "{m}");
        }
    }

    #[test]
    fn dockerds_refusals_in_its_words() {
        let joined =
            || DockerOptions { network: NetworkMode::Container("db".into()), ..Default::default() };
        assert!(joined().check(false).is_ok());
        assert_eq!(
            refused(joined().check(true)),
            "conflicting options: hostname and the network mode"
        );
        let o = DockerOptions { publish_all: true, ..joined() };
        assert_eq!(
            refused(o.check(false)),
            "conflicting options: port publishing and the container type network mode"
        );
        let o = DockerOptions { ip: Some([10, 0, 0, 9].into()), ..Default::default() };
        assert_eq!(
            refused(o.check(false)),
            "user specified IP address is supported on user defined networks only"
        );
        let o = DockerOptions {
            auto_remove: true,
            restart: super::super::RestartPolicy::Always,
            ..Default::default()
        };
        assert_eq!(
            refused(o.check(false)),
            "can't create 'AutoRemove' container with restart policy"
        );
        let o = DockerOptions {
            ip: Some([10, 0, 0, 9].into()),
            network: NetworkMode::User("n".into()),
            ..Default::default()
        };
        assert!(o.check(false).is_ok());
    }
}
