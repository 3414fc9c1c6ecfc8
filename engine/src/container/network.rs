//! A bridged container's network (the default bridge, user-defined
//! networks): made at each start, released at each exit, as dockerd's
//! endpoints. A created or exited container holds no sandbox, address or
//! host port; it keeps only what it asked for (networks, aliases, `--ip`,
//! `-p`).
//!
//! At start: the host ports are taken, then the sandbox made on the first
//! network (berth's own nat rules publish them, `network/publish.rs`), then one interface per network
//! it was connected to, and all of it recorded before the shim runs; each
//! step's undo runs if a later one fails. At exit (and when the start
//! fails after it): the sandbox removed (its CNI DELs, extras first), the
//! ports given back, then the record says so. A crash between the two
//! leaves a record naming a sandbox that is gone: the next start (or
//! exit) makes nothing of it, and start-up sweeps any sandbox no live
//! container names.

use super::{ContainerNetwork, ContainerRecord, Entry};
use crate::error::Result;
use crate::model::{NetworkLink, SandboxRecord};
use crate::Engine;

impl Engine {
    /// The container's sandbox for this run: the one it has if that is
    /// ready (a running container's, adopted), else a new one, recorded.
    pub(super) async fn make_network(
        &self,
        entry: &Entry,
    ) -> Result<(ContainerRecord, SandboxRecord)> {
        let rec = entry.record();
        if let Some(s) =
            rec.config.network.sandbox().and_then(|s| self.any_sandbox(s).ok()).map(|s| s.record())
        {
            if s.pin("net").is_some() && s.state == crate::sandbox::SandboxState::Ready {
                return Ok((rec, s));
            }
        }
        // One the node's restart took (its address released first).
        self.release_network(entry).await;
        let mut rec = entry.record();
        rec.config.ports =
            self.take_ports(&rec.id, &rec.name, &super::ports::wanted(&rec.config))?;
        let first = rec.config.network.own_link().cloned();
        let sandbox = async {
            let net = first.as_ref().map(|l| self.network(&l.network)).transpose()?;
            self.run_container_sandbox(
                &rec.id,
                &rec.config,
                net.as_ref().map(|n| (n, first.as_ref().and_then(|l| l.ip))),
            )
            .await
        };
        let sid = match sandbox.await {
            Ok(sid) => sid,
            Err(e) => {
                self.release_ports(&rec.id);
                return Err(e);
            }
        };
        let address = self.sandbox_ipv4(&sid);
        // The networks it was connected to, each on its interface.
        let s = match self.any_sandbox(&sid) {
            Ok(s) => s.record(),
            Err(e) => return Err(self.unmake_network(&sid, &rec.id, e).await),
        };
        let mut links: Vec<NetworkLink> =
            first.into_iter().map(|l| NetworkLink { address, ..l }).collect();
        for l in rec.config.network.extra_links() {
            let attached = match self.network(&l.network) {
                Ok(n) => self.attach_extra(&s, &n, l).await,
                Err(e) => Err(e),
            };
            match attached {
                Ok(a) => links.push(NetworkLink { address: a, ..l.clone() }),
                Err(e) => return Err(self.unmake_network(&sid, &rec.id, e).await),
            }
        }
        let ports = rec.config.ports.clone();
        let made = |r: &mut ContainerRecord| {
            r.config.ports = ports;
            match &mut r.config.network {
                ContainerNetwork::User { sandbox, links: l }
                | ContainerNetwork::Bridge { sandbox, links: l } => {
                    *sandbox = sid.clone();
                    *l = links;
                }
                _ => {}
            }
        };
        match self.commit(entry, made) {
            Ok(r) => Ok((r, s)),
            Err(e) => Err(self.unmake_network(&sid, &rec.id, e).await),
        }
    }

    /// The undo of an unrecorded [`Engine::make_network`]; `e` is why.
    async fn unmake_network(&self, sid: &str, id: &str, e: crate::Error) -> crate::Error {
        if let Err(e) = self.remove_container_sandbox(sid).await {
            tracing::warn!(container = %id, sandbox = sid, error = %e, "undo the container's new network; swept at the next start-up");
        }
        self.release_ports(id);
        e
    }

    /// Start-up: the networks containers that don't run still hold (ended
    /// by the node's restart; recorded so by an older berth) go.
    pub(crate) async fn release_idle_networks(&self) {
        let idle: Vec<_> = self
            .inner
            .containers
            .all()
            .into_iter()
            .filter(|e| {
                let r = e.record();
                matches!(r.state.status, super::Status::Exited | super::Status::Created)
                    && r.config.network.sandbox().is_some()
            })
            .collect();
        for entry in idle {
            let _op = entry.op.lock().await;
            self.release_network(&entry).await;
        }
    }

    /// Gives back the container's sandbox, addresses and host ports (a
    /// failed start, a sandbox the node's restart took), recorded.
    pub(super) async fn release_network(&self, entry: &Entry) {
        let rec = entry.record();
        if self.free_network(&rec).await {
            if let Err(e) = self.commit(entry, |r| r.config.release_network()) {
                tracing::warn!(container = %rec.id, error = %e, "record the container's released network");
            }
        }
    }

    /// Removes the container's sandbox and gives back its host ports; the
    /// caller records it ([`crate::model::ContainerConfig::release_network`])
    /// if this says there was something and it went.
    pub(super) async fn free_network(&self, rec: &ContainerRecord) -> bool {
        if rec.config.network.sandbox().is_none() && rec.config.ports.is_empty() {
            return false;
        }
        if let Some(sid) = rec.config.network.sandbox() {
            if let Err(e) = self.remove_container_sandbox(sid).await {
                // The sandbox stays recorded as the container's until the next try.
                tracing::warn!(container = %rec.id, sandbox = sid, error = %e, "release the container's network; retried at its next start or exit");
                return false;
            }
        }
        self.release_ports(&rec.id);
        true
    }

    /// A sandbox of the container's own that holds its network namespace on
    /// the default bridge or its first network, with its published ports
    /// (no pod: the CRI never sees it).
    async fn run_container_sandbox(
        &self,
        id: &str,
        config: &super::ContainerConfig,
        user_net: Option<(&crate::model::NetworkRecord, Option<std::net::Ipv4Addr>)>,
    ) -> Result<String> {
        let port_mappings = config
            .ports
            .iter()
            .map(|p| crate::sandbox::PortMapping {
                protocol: p.container.protocol.as_str().into(),
                container_port: p.container.port.into(),
                host_port: p.host_port.into(),
                host_ip: if p.host_ip.is_unspecified() {
                    String::new()
                } else {
                    p.host_ip.to_string()
                },
            })
            .collect();
        let mut o = crate::sandbox::SandboxOptions {
            port_mappings,
            owner: crate::sandbox::SandboxOwner::Container,
            name: id.to_owned(),
            namespace: "berth.container".into(),
            uid: id.to_owned(),
            hostname: config.hostname.clone(),
            // Only the network (and its UTS, which the container doesn't use) is pinned.
            namespaces: crate::model::NamespaceModes {
                pid: crate::sandbox::NsMode::Node,
                ipc: crate::sandbox::NsMode::Node,
                ..Default::default()
            },
            ..Default::default()
        };
        if let Some(mac) = config.mac_address {
            o.annotations.insert(crate::sandbox::network::MAC.into(), mac.to_string());
        }
        if let Some((n, ip)) = user_net {
            // The network's embedded DNS, with the node's search domains and options.
            let node = crate::network::dns::NodeResolver::current();
            o.dns = crate::model::sandbox::Dns {
                servers: vec![n.gateway.to_string()],
                searches: node.search.clone(),
                options: node.options.clone(),
            };
            o.network = Some(n.id.clone());
            if let Some(ip) = ip {
                o.annotations.insert(crate::sandbox::network::IPS.into(), ip.to_string());
            }
        }
        self.run_sandbox(o).await
    }
}
