//! `network connect` and `disconnect`: one more interface (`eth1`,
//! `eth2`…) in a container's network sandbox, attached with that
//! network's CNI config, or that interface taken away again.
//!
//! An extra attachment's CNI id is `<sandbox>-<ifname>` (its own result
//! cache entry, so DEL replays exactly its ADD); the sandbox's DEL takes
//! its extras first, and the start-up sweep counts them as the sandbox's.
//! The link is recorded after the ADD and before the DEL's answer goes
//! out; a failed record undoes the ADD. Names follow at once: the DNS
//! answers from the records.

use crate::error::{Error, Result};
use crate::model::network::NetworkLink;
use crate::model::{ContainerNetwork, NetworkRecord, SandboxRecord};
use crate::Engine;
use std::net::Ipv4Addr;
use tracing::Instrument;

/// The CNI id of a sandbox's extra attachment.
pub(crate) fn attachment_id(sandbox: &str, ifname: &str) -> String {
    format!("{sandbox}-{ifname}")
}

/// The sandbox a cached CNI id belongs to (itself for a sandbox's own).
pub(crate) fn attachment_owner(id: &str) -> &str {
    id.split_once('-').map_or(id, |(s, _)| s)
}

/// What `network connect` asks for.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
}

impl Engine {
    /// Connects a container (any state but removed) to one more network:
    /// at once if it runs, at its next start if not.
    #[tracing::instrument(level = "info", skip_all, fields(network = %network, container = %container))]
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        how: Connect,
    ) -> Result<()> {
        let net = self.network(network)?;
        let entry = self.lookup(container)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        for a in &how.aliases {
            crate::model::check_alias(a)?;
        }
        if let Some(ip) = how.ip {
            if !net.subnet.is_host(ip) || ip == net.gateway {
                return Err(Error::invalid(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
        // dockerd's words for the modes that have no bridge.
        match &rec.config.network {
            ContainerNetwork::None => {
                return Err(Error::FailedPrecondition("container cannot be connected to multiple networks with one of the networks in private (none) mode".into()))
            }
            ContainerNetwork::Host | ContainerNetwork::Container { .. } => {
                return Err(Error::FailedPrecondition("container sharing network namespace with another container or host cannot be connected to any other network".into()))
            }
            ContainerNetwork::Bridge { .. } | ContainerNetwork::User { .. } => {}
        }
        let links = rec.config.network.links();
        if links.iter().any(|l| l.network == net.id) {
            return Err(Error::PermissionDenied(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, net.name
            )));
        }
        let ifname = (1..)
            .map(|n| format!("eth{n}"))
            .find(|i| !links.iter().any(|l| &l.ifname == i))
            .expect("a free interface name");
        // A container that doesn't run has no sandbox: its start attaches it.
        let s = self.live_sandbox(&rec);
        let mut link = NetworkLink {
            network: net.id.clone(),
            aliases: how.aliases,
            ip: how.ip,
            address: None,
            ifname,
        };
        if let Some(s) = &s {
            link.address = self.attach_extra(s, &net, &link).await?;
        }
        let added = link.clone();
        let committed = self.commit(&entry, |r| {
            if let Some(links) = r.config.network.links_mut() {
                links.push(added);
            }
        });
        if let Err(e) = committed {
            if let Some(s) = &s {
                let _ = self.detach_extra(s, &link.ifname).await;
            }
            return Err(e);
        }
        tracing::info!(container = %rec.id, network = %net.name, ifname = %link.ifname, address = ?link.address, "connected");
        Ok(())
    }

    /// Takes a container off a network it was connected to.
    #[tracing::instrument(level = "info", skip_all, fields(network = %network, container = %container))]
    pub async fn disconnect_network(&self, network: &str, container: &str) -> Result<()> {
        let net = self.network(network)?;
        let entry = self.lookup(container)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        let not_connected = || {
            Error::FailedPrecondition(format!(
                "container {} is not connected to network {}",
                rec.id, net.name
            ))
        };
        let links = rec.config.network.links();
        let Some(i) = links.iter().position(|l| l.network == net.id) else {
            return Err(not_connected());
        };
        if rec.config.network.own_link().is_some_and(|l| l.network == net.id) {
            return Err(Error::FailedPrecondition(format!("{} is the network container {} was created on: disconnecting it is not supported by berth yet", net.name, rec.name)));
        }
        let ifname = links[i].ifname.clone();
        if let Some(s) = self.live_sandbox(&rec) {
            self.detach_extra(&s, &ifname).await?;
        }
        self.commit(&entry, |r| {
            if let Some(links) = r.config.network.links_mut() {
                links.retain(|l| l.network != net.id);
            }
        })?;
        tracing::info!(container = %rec.id, network = %net.name, %ifname, "disconnected");
        Ok(())
    }

    /// The container's sandbox, if it has a ready one (it runs).
    fn live_sandbox(&self, rec: &crate::model::ContainerRecord) -> Option<SandboxRecord> {
        let s = self.any_sandbox(rec.config.network.sandbox()?).ok()?.record();
        (s.state == crate::model::SandboxState::Ready).then_some(s)
    }

    /// CNI ADD of `link` into the sandbox's namespace; the address it got.
    pub(crate) async fn attach_extra(
        &self,
        s: &SandboxRecord,
        net: &NetworkRecord,
        link: &NetworkLink,
    ) -> Result<Option<Ipv4Addr>> {
        let netns = s.pin("net").ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "the network sandbox of container {} is not ready",
                s.config.name
            ))
        })?;
        let mut runtime_config = serde_json::Map::new();
        if let Some(ip) = link.ip {
            runtime_config.insert("ips".into(), serde_json::json!([ip.to_string()]));
        }
        let a = berth_cni::Attachment {
            id: attachment_id(&s.id, &link.ifname),
            netns,
            ifname: link.ifname.clone(),
            args: Vec::new(),
            runtime_config,
        };
        let ips = self
            .network_cni(&net.id)?
            .add(&a)
            .instrument(tracing::info_span!("cni_add", attachment = %a.id))
            .await
            .map_err(|e| Error::system("CNI", e))?;
        Ok(ips.iter().find_map(|ip| ip.parse().ok()))
    }

    /// CNI DEL of the sandbox's extra interface (nothing cached: nothing to do).
    pub(crate) async fn detach_extra(&self, s: &SandboxRecord, ifname: &str) -> Result<()> {
        let netns = self.paths().sandbox_state(&s.id)?.join("net");
        let id = attachment_id(&s.id, ifname);
        self.cni()
            .del(&id, &netns)
            .instrument(tracing::info_span!("cni_del", attachment = %id))
            .await
            .map_err(|e| Error::system("CNI", e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn extra_attachments_belong_to_their_sandbox() {
        let id = super::attachment_id("abc123", "eth1");
        assert_eq!(super::attachment_owner(&id), "abc123");
        assert_eq!(super::attachment_owner("abc123"), "abc123");
    }
}
