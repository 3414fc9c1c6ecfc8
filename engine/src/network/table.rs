//! The part that owns the user-defined networks in memory: their records
//! by id, their DNS servers, and the lock that serializes creates and
//! removals (a name is checked and taken under it).

use crate::error::{Error, Missing, Result};
use crate::model::network::NetworkRecord;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock};

#[derive(Default)]
pub(crate) struct Networks {
    records: RwLock<HashMap<String, NetworkRecord>>,
    dns: Mutex<HashMap<String, super::dns_serve::DnsServer>>,
    changes: Mutex<()>,
}

impl Networks {
    /// Held across a create or a removal.
    pub(crate) fn change(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap()
    }

    /// Every network, by name.
    pub(crate) fn all(&self) -> Vec<NetworkRecord> {
        let mut all: Vec<NetworkRecord> = self.records.read().unwrap().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// By name, then by unique id prefix (dockerd's order and words).
    pub(crate) fn find(&self, key: &str) -> Result<NetworkRecord> {
        let nets = self.records.read().unwrap();
        if let Some(n) = nets.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let by_id: Vec<&NetworkRecord> =
            nets.values().filter(|n| !key.is_empty() && n.id.starts_with(key)).collect();
        match by_id.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NotFound(Missing::Network(key.to_owned()))),
            _ => Err(Error::invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                by_id.len()
            ))),
        }
    }

    pub(crate) fn insert(&self, n: NetworkRecord) {
        self.records.write().unwrap().insert(n.id.clone(), n);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.records.write().unwrap().remove(id);
    }

    /// The network's DNS server, kept until [`Networks::stop_dns`].
    pub(crate) fn keep_dns(&self, id: &str, server: super::dns_serve::DnsServer) {
        self.dns.lock().unwrap().insert(id.to_owned(), server);
    }

    pub(crate) fn stop_dns(&self, id: &str) {
        self.dns.lock().unwrap().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::network::Subnet;

    fn net(id: &str, name: &str) -> NetworkRecord {
        NetworkRecord {
            id: id.repeat(64 / id.len()),
            name: name.into(),
            subnet: Subnet { addr: "10.1.0.0".parse().unwrap(), prefix: 24 },
            gateway: "10.1.0.1".parse().unwrap(),
            bridge: format!("br-{name}"),
            internal: false,
            labels: Default::default(),
            created_at: 0,
        }
    }

    #[test]
    fn networks_are_found_by_name_then_unique_id_prefix() {
        let nets = Networks::default();
        nets.insert(net("ab", "front"));
        nets.insert(net("ac", "back"));
        nets.insert(net("ad", "ab"));
        assert_eq!(nets.find("back").unwrap().name, "back");
        // A name wins over an id prefix.
        assert_eq!(nets.find("ab").unwrap().name, "ab");
        assert_eq!(nets.find("aca").unwrap().name, "back");
        assert!(
            matches!(nets.find("a"), Err(Error::InvalidArgument(m)) if m.reason.contains("ambiguous"))
        );
        assert!(matches!(nets.find("zz"), Err(Error::NotFound(Missing::Network(_)))));
        assert!(matches!(nets.find(""), Err(Error::NotFound(_))));
        let names: Vec<String> = nets.all().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["ab", "back", "front"]);
        nets.remove(&"ac".repeat(32));
        assert!(nets.find("back").is_err());
    }
}
