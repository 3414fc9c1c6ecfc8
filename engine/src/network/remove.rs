//! `network rm`: refused while any container links to it (dockerd's
//! "has active endpoints"); the record first, then the DNS, the bridge and
//! the dirs.

use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip_all, fields(network = %key))]
    pub fn remove_network(&self, key: &str) -> Result<()> {
        let _serial = self.inner.networks.change();
        let n = self.network(key)?;
        // Under the containers' lock: a create links a container to a network
        // it finds listed here, and lists it before it checks again.
        self.inner.containers.holding(|containers| {
            let mut containers = containers.map(|e| e.record());
            if containers.any(|r| r.config.network.links().iter().any(|l| l.network == n.id)) {
                return Err(Error::FailedPrecondition(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                )));
            }
            self.inner.networks.remove(&n.id);
            Ok(())
        })?;
        let record = self.paths().network(&n.id)?.join(super::RECORD);
        if let Err(e) = std::fs::remove_file(&record) {
            self.inner.networks.insert(n.clone());
            return Err(Error::system("remove the network's record", e));
        }
        self.inner.networks.stop_dns(&n.id);
        self.release_network_dirs(&n.id);
        tracing::info!(network = %n.id, "network removed");
        Ok(())
    }
}
