//! Host ports for `-p` and `-P`: chosen at each start, held with the
//! container's network while it runs, given back at its exit (its DNAT
//! rules, `network/publish.rs`, go with its sandbox), as dockerd's.
//!
//! One table (`Inner::ports`) says which container holds which host
//! socket; a start takes its ports in it before its network is made, so
//! two starts can't take the same one, and start-up fills it from the
//! records of containers that have a sandbox. A port some other program of the node listens on is refused
//! too: berth binds it for a moment first, as Docker's proxy would.

use crate::error::{Error, Result};
use crate::model::ports::{ContainerPort, HostPorts, PortRequest, PublishedPort};
use crate::Engine;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Who holds which host port.
#[derive(Debug, Default)]
pub(crate) struct PortTable {
    held: Vec<(PublishedPort, String)>,
    /// Where the next search for a free ephemeral port begins.
    cursor: u16,
}

impl PortTable {
    /// Whether `p` clashes with a held port or one of `also` (the pods').
    fn clash(&self, also: &[PublishedPort], p: &PublishedPort) -> bool {
        self.held.iter().map(|(h, _)| h).chain(also).any(|h| h.clashes(p))
    }
}

/// The node's ephemeral ports (where Docker picks `-P`'s from too).
fn ephemeral_range() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text.split_whitespace().filter_map(|w| w.parse::<u16>().ok());
    match (it.next(), it.next()) {
        (Some(a), Some(b)) if a > 0 && a <= b => (a, b),
        _ => (32768, 60999),
    }
}

/// Whether the node lets us have the socket now (nothing else listens on it).
fn probe(p: &PublishedPort) -> std::io::Result<()> {
    let addr = SocketAddrV4::new(p.host_ip, p.host_port);
    match p.container.protocol {
        crate::model::ports::Protocol::Tcp => std::net::TcpListener::bind(addr).map(drop),
        crate::model::ports::Protocol::Udp => std::net::UdpSocket::bind(addr).map(drop),
    }
}

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
    /// Takes a host port for each request, in the container's name; all or none.
    pub(crate) fn take_ports(
        &self,
        id: &str,
        name: &str,
        wanted: &[PortRequest],
    ) -> Result<Vec<PublishedPort>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let pods = self.pods_host_ports();
        let mut table = self.inner.ports.lock().unwrap();
        if table.cursor == 0 {
            // Not where another daemon of the node (a test's) starts.
            table.cursor = rand::random();
        }
        let mut taken = Vec::new();
        let result = (|| {
            for r in wanted {
                // Pods' host ports (the CRI's port mappings) count as held too.
                let p = self.take_port(&mut table, &pods, id, name, r)?;
                table.held.push((p, id.to_owned()));
                taken.push(p);
            }
            Ok(())
        })();
        if let Err(e) = result {
            table.held.retain(|(_, holder)| holder != id);
            return Err(e);
        }
        Ok(taken)
    }

    /// The host ports of the CRI's pods.
    fn pods_host_ports(&self) -> Vec<PublishedPort> {
        let sandboxes = self.inner.sandboxes.read().unwrap();
        let records = sandboxes
            .values()
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

    fn take_port(
        &self,
        table: &mut PortTable,
        pods: &[PublishedPort],
        id: &str,
        name: &str,
        r: &PortRequest,
    ) -> Result<PublishedPort> {
        let host_ip = r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let endpoint =
            format!("driver failed programming external connectivity on endpoint {name} ({id})");
        let at = |port| PublishedPort { container: r.container, host_ip, host_port: port };
        match r.host_ports {
            HostPorts::Range { first, last } if first == last => {
                let p = at(first);
                if table.clash(pods, &p) {
                    return Err(Error::AlreadyExists(format!("{endpoint}: Bind for {host_ip}:{first} failed: port is already allocated")));
                }
                probe(&p).map_err(|e| {
                    Error::AlreadyExists(format!(
                        "{endpoint}: Error starting userland proxy: listen {}4 {host_ip}:{first}: bind: {}",
                        r.container.protocol.as_str(),
                        bind_error(&e)
                    ))
                })?;
                Ok(p)
            }
            HostPorts::Range { first, last } => (first..=last)
                .map(at)
                .find(|p| !table.clash(pods, p) && probe(p).is_ok())
                .ok_or_else(|| Error::AlreadyExists(format!("{endpoint}: Bind for {host_ip}:{first}-{last} failed: port is already allocated"))),
            HostPorts::Any => {
                let (lo, hi) = ephemeral_range();
                let span = u32::from(hi - lo) + 1;
                let start = u32::from(table.cursor.wrapping_sub(lo)) % span;
                let found = (0..span).map(|i| at(lo + ((start + i) % span) as u16)).find(|p| !table.clash(pods, p) && probe(p).is_ok());
                let p = found.ok_or_else(|| Error::AlreadyExists(format!("{endpoint}: no free host port for {}: all ports are allocated", r.container)))?;
                table.cursor = p.host_port.wrapping_add(1);
                Ok(p)
            }
        }
    }

    /// Gives back what a container held (exited, removed, or its start undone).
    pub(crate) fn release_ports(&self, id: &str) {
        self.inner.ports.lock().unwrap().held.retain(|(_, holder)| holder != id);
    }

    /// Start-up: the ports a recorded container's sandbox maps (a running
    /// one's; an exited one's until the sweep releases it).
    pub(crate) fn hold_recorded_ports(&self, rec: &super::ContainerRecord) {
        if rec.config.network.sandbox().is_some() {
            self.inner
                .ports
                .lock()
                .unwrap()
                .held
                .extend(rec.config.ports.iter().map(|p| (*p, rec.id.clone())));
        }
    }
}

/// The words Go prints for the errors a bind gets.
fn bind_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => e.to_string(),
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
