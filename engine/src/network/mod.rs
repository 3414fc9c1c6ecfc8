//! User-defined networks (Docker's `bridge` driver) on CNI: each is a
//! record (`<root>/networks/<id>/network.json`), a CNI config berthd writes
//! at every start (`<state>/networks/<id>/conf`: bridge `br-<id12>`,
//! host-local in `<state>/networks/<id>/ipam`), and an embedded
//! DNS on its gateway (`dns.rs`). A container on one has a sandbox of its
//! own whose CNI ADD is on that network's config; `network connect` adds
//! more interfaces to it (`connect.rs`).
//!
//! Create: the record first, then its config and DNS (a crash between
//! leaves a record whose config the next start writes). Remove (refused
//! while any container links to it): the record first, then the DNS, the
//! bridge and the dirs; what a crash leaves (dirs without a record) goes at
//! the next start. Networks are kept apart from each other and from the
//! default bridge (`isolation.rs`).

pub(crate) mod conflist;
pub(crate) mod connect;
mod create;
pub(crate) mod dns;
pub(crate) mod dns_serve;
pub mod filter;
pub(crate) mod isolation;
#[cfg(test)]
mod lifecycle_tests;
pub(crate) mod masquerade;
pub mod publish;
mod remove;
mod table;

pub use connect::Connect;
pub use create::NetworkCreate;
pub(crate) use table::Networks;

use crate::error::{Error, Result};
use crate::model::network::NetworkRecord;
use crate::store::{self, Loaded};
use crate::Engine;
use serde_json::json;

const RECORD: &str = "network.json";

/// The bridge device of a network (as Docker names them).
pub(crate) fn bridge_name(id: &str) -> String {
    format!("br-{}", &id[..12])
}

/// Runs `iptables -w <args>`; whether it succeeded.
fn iptables(args: &[&str]) -> bool {
    use std::process::{Command, Stdio};
    Command::new("iptables")
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Engine {
    /// Every user-defined network, by name.
    pub fn networks(&self) -> Vec<NetworkRecord> {
        self.inner.networks.all()
    }

    /// A network by name, id or unique id prefix.
    pub fn network(&self, key: &str) -> Result<NetworkRecord> {
        self.inner.networks.find(key)
    }

    /// The containers linked to a network (any state).
    pub fn network_users(&self, id: &str) -> Vec<crate::ContainerRecord> {
        self.inner
            .containers
            .all()
            .into_iter()
            .map(|e| e.record())
            .filter(|r| r.config.network.links().iter().any(|l| l.network == id))
            .collect()
    }

    /// The CNI of a network (DEL needs none: it replays what ADD cached).
    pub(crate) fn network_cni(&self, id: &str) -> Result<berth_cni::Cni> {
        let mut cfg = self.config().cni.clone();
        cfg.conf_dir = conflist::dir(&self.paths().network_state(id)?);
        Ok(berth_cni::Cni::with_plugins(cfg, self.inner.plugins.clone()))
    }

    /// Writes the network's CNI config and sets its outbound NAT.
    fn write_network_config(&self, n: &NetworkRecord) -> Result<()> {
        let dir = self.paths().network_state(&n.id)?;
        let routes = if n.internal { json!([]) } else { json!([{ "dst": "0.0.0.0/0" }]) };
        let bridge = json!({
            "type": "bridge", "bridge": n.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
            "capabilities": { "ips": true, "mac": true },
            "ipam": { "type": "host-local", "ranges": [[{ "subnet": n.subnet.to_string(), "gateway": n.gateway.to_string() }]], "routes": routes, "dataDir": dir.join("ipam") }
        });
        conflist::write(&dir, &format!("berth-net-{}", &n.id[..12]), bridge)
            .map_err(|e| Error::system("write the network's CNI config", e))?;
        self.inner.filter.masquerade(
            &n.bridge,
            &n.subnet.to_string(),
            self.config().bridge.masquerade && !n.internal,
        );
        Ok(())
    }

    /// Starts the network's DNS (a failure is logged: the network works without names).
    fn start_dns(&self, n: &NetworkRecord) {
        match dns_serve::serve(
            std::sync::Arc::downgrade(&self.inner),
            n.id.clone(),
            n.gateway,
            n.internal,
        ) {
            Ok(server) => self.inner.networks.keep_dns(&n.id, server),
            Err(e) => {
                tracing::warn!(network = %n.name, gateway = %n.gateway, error = %e, "the network's DNS could not start: containers won't find each other by name")
            }
        }
    }

    /// Start-up: every recorded network, its config and DNS; dirs a crash left go.
    pub(crate) fn load_networks(&self) -> Result<()> {
        let root = self.paths().networks();
        crate::paths::create_dir(&root, 0o700)
            .map_err(|e| Error::system("create the networks dir", e))?;
        for item in std::fs::read_dir(&root)
            .map_err(|e| Error::system("read the networks dir", e))?
            .flatten()
        {
            let id = item.file_name().to_string_lossy().into_owned();
            if crate::paths::check_id(&id).is_err() {
                continue;
            }
            match store::read::<NetworkRecord>(&item.path().join(RECORD)) {
                Loaded::Record(n) => {
                    self.write_network_config(&n)?;
                    self.start_dns(&n);
                    self.inner.filter.isolate(&n.bridge, &self.config().bridge.name);
                    self.inner.networks.insert(n);
                }
                Loaded::Missing if !store::is_quarantined(&item.path(), RECORD) => {
                    tracing::info!(network = %id, "sweeping an unfinished network");
                    self.release_network_dirs(&id);
                }
                _ => {
                    tracing::warn!(network = %id, "the network's record is unreadable; left as it is")
                }
            }
        }
        Ok(())
    }

    /// The bridge and dirs of a network without a record.
    fn release_network_dirs(&self, id: &str) {
        self.inner.filter.release_isolation(&bridge_name(id));
        self.inner.filter.release_masquerade(&bridge_name(id));
        if let Err(e) = berth_kernel::net::delete_bridge(&bridge_name(id)) {
            tracing::warn!(network = %id, error = %e, "delete the network's bridge");
        }
        for d in [self.paths().network_state(id), self.paths().network(id)].into_iter().flatten() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
