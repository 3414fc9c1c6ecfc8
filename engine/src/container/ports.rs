//! Host ports for `-p` and `-P`: chosen at each start, held with the
//! container's network while it runs, given back at its exit (its DNAT
//! rules, `network/publish.rs`, go with its sandbox), as dockerd's.
//!
//! One table (`port_table.rs`, the engine's `Ports`) says which container
//! holds which host socket; a start takes its ports in it before its
//! network is made, so two starts can't take the same one, and start-up
//! fills it from the records of containers that have a sandbox.

use crate::error::Result;
use crate::model::ports::{ContainerPort, HostPorts, PortRequest, PublishedPort};
use crate::Engine;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The container's exposed ports: the image's, `--expose`'s and the
/// published ones.
pub(crate) fn exposed(
    image: &crate::image::ImageConfig,
    exposed: &[ContainerPort],
    publish: &[PortRequest],
) -> Vec<ContainerPort> {
    // The image's are data: an entry berth can't read is skipped, not trusted.
    let from_image =
        image.exposed_ports.iter().flatten().filter_map(|(k, _)| k.parse::<ContainerPort>().ok());
    let all: BTreeSet<ContainerPort> = from_image
        .chain(exposed.iter().copied())
        .chain(publish.iter().map(|r| r.container))
        .collect();
    all.into_iter().collect()
}

/// The bindings a container wants at its start (`-P`: every exposed port
/// without a binding of its own gets any free host port). As Docker, only
/// a bridged container publishes (the node's network needs no mapping,
/// `none` has nothing to map to).
pub(crate) fn wanted(config: &crate::model::ContainerConfig) -> Vec<PortRequest> {
    if !config.network.bridged() {
        return Vec::new();
    }
    let mut wanted = config.publish.clone();
    if config.publish_all {
        let unbound = config
            .exposed_ports
            .iter()
            .filter(|p| !config.publish.iter().any(|r| r.container == **p));
        wanted.extend(unbound.map(|p| PortRequest {
            container: *p,
            host_ip: None,
            host_ports: HostPorts::Any,
        }));
    }
    wanted
}

impl Engine {
    /// Takes a host port for each request, in the container's name; all or
    /// none. Pods' host ports (the CRI's port mappings) count as held too.
    pub(crate) fn take_ports(
        &self,
        id: &str,
        name: &str,
        wanted: &[PortRequest],
    ) -> Result<Vec<PublishedPort>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.ports.take(id, name, wanted, &self.pods_host_ports())
    }

    /// The host ports of the CRI's pods.
    fn pods_host_ports(&self) -> Vec<PublishedPort> {
        let sandboxes = self.inner.sandboxes.all();
        let records = sandboxes
            .iter()
            .map(|s| s.record())
            .filter(|r| r.config.owner == crate::model::sandbox::SandboxOwner::Pod);
        records
            .flat_map(|r| r.config.port_mappings)
            .filter_map(|m| {
                let container = format!("{}/{}", m.container_port, m.protocol.to_ascii_lowercase())
                    .parse()
                    .ok()?;
                let host_port = u16::try_from(m.host_port).ok().filter(|p| *p > 0)?;
                Some(PublishedPort {
                    container,
                    host_ip: m.host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                    host_port,
                })
            })
            .collect()
    }

    /// Gives back what a container held (exited, removed, or its start undone).
    pub(crate) fn release_ports(&self, id: &str) {
        self.inner.ports.release(id);
    }

    /// Start-up: the ports a recorded container's sandbox maps (a running
    /// one's; an exited one's until the sweep releases it).
    pub(crate) fn hold_recorded_ports(&self, rec: &super::ContainerRecord) {
        if rec.config.network.sandbox().is_some() {
            self.inner.ports.hold(&rec.id, &rec.config.ports);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ports::Protocol;

    #[test]
    fn publish_all_takes_every_exposed_port_without_a_binding() {
        let image = crate::image::ImageConfig {
            exposed_ports: Some(
                [
                    ("80/tcp".to_string(), serde_json::json!({})),
                    ("bogus/x".into(), serde_json::json!({})),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let tcp = |port| ContainerPort { port, protocol: Protocol::Tcp };
        let own = PortRequest {
            container: tcp(443),
            host_ip: None,
            host_ports: HostPorts::Range { first: 8443, last: 8443 },
        };
        let exposed =
            exposed(&image, &[ContainerPort { port: 53, protocol: Protocol::Udp }], &[own]);
        assert_eq!(
            exposed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["53/udp", "80/tcp", "443/tcp"]
        );
        let mut config = crate::model::ContainerConfig {
            exposed_ports: exposed,
            publish: vec![own],
            publish_all: true,
            network: crate::model::ContainerNetwork::Bridge {
                sandbox: String::new(),
                links: Vec::new(),
            },
            ..Default::default()
        };
        let all = wanted(&config);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], own);
        assert!(all[1..].iter().all(|r| r.host_ports == HostPorts::Any));
        config.publish_all = false;
        assert_eq!(wanted(&config), [own]);
        config.network = crate::model::ContainerNetwork::Host;
        assert!(wanted(&config).is_empty(), "the node's network publishes nothing");
    }
}
