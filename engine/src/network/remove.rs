//! `network rm`: refused while any container links to it (dockerd's
//! "has active endpoints"); the record first, then the DNS, the bridge and
//! the dirs.

use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip_all, fields(network = %key))]
    pub fn remove_network(&self, key: &str) -> Result<()> {
        let _serial = self.inner.network_ops.lock().unwrap();
        let n = self.network(key)?;
        // Under the containers' lock: a create links a container to a network
        // it finds listed here, and lists it before it checks again.
        {
            let containers = self.inner.containers.read().unwrap();
            if containers
                .values()
                .any(|e| e.record().config.network.links().iter().any(|l| l.network == n.id))
            {
                return Err(Error::FailedPrecondition(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                )));
            }
            self.inner.networks.write().unwrap().remove(&n.id);
        }
        let record = self.paths().network(&n.id)?.join(super::RECORD);
        if let Err(e) = std::fs::remove_file(&record) {
            self.inner.networks.write().unwrap().insert(n.id.clone(), n.clone());
            return Err(Error::system("remove the network's record", e));
        }
        self.inner.dns.lock().unwrap().remove(&n.id);
        self.release_network_dirs(&n.id);
        tracing::info!(network = %n.id, "network removed");
        Ok(())
    }
}
