//! The node's packet filter as the engine uses it: outbound NAT per
//! network, isolation between networks, published ports. `Iptables` is the
//! node's; unit tests use a fake that records what was asked.

use super::publish::Forward;

pub trait PacketFilter: Send + Sync + 'static {
    /// Outbound NAT for a network's range (`on`), or none.
    fn masquerade(&self, bridge: &str, subnet: &str, on: bool);
    fn release_masquerade(&self, bridge: &str);
    /// Keeps a network's bridge apart from the others.
    fn isolate(&self, bridge: &str, default_bridge: &str);
    fn release_isolation(&self, bridge: &str);
    /// The node's chain of published ports (once per node, idempotent).
    fn setup_publish(&self);
    /// Publishes a sandbox's forwards: all or none.
    fn publish(
        &self,
        sandbox: &str,
        bridge: &str,
        subnet: &str,
        forwards: &[Forward],
    ) -> std::io::Result<()>;
    /// Takes back whatever the sandbox published.
    fn unpublish(&self, sandbox: &str) -> std::io::Result<()>;
}

/// The node's iptables.
#[derive(Debug, Default)]
pub struct Iptables;

impl PacketFilter for Iptables {
    fn masquerade(&self, bridge: &str, subnet: &str, on: bool) {
        super::masquerade::set(bridge, subnet, on)
    }
    fn release_masquerade(&self, bridge: &str) {
        super::masquerade::release(bridge)
    }
    fn isolate(&self, bridge: &str, default_bridge: &str) {
        super::isolation::isolate(bridge, default_bridge)
    }
    fn release_isolation(&self, bridge: &str) {
        super::isolation::release(bridge)
    }
    fn setup_publish(&self) {
        super::publish::setup()
    }
    fn publish(
        &self,
        sandbox: &str,
        bridge: &str,
        subnet: &str,
        forwards: &[Forward],
    ) -> std::io::Result<()> {
        super::publish::publish(sandbox, bridge, subnet, forwards)
    }
    fn unpublish(&self, sandbox: &str) -> std::io::Result<()> {
        super::publish::unpublish(sandbox)
    }
}

/// A filter that only records what it was asked (unit tests).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Recorded(pub std::sync::Mutex<Vec<String>>);

#[cfg(test)]
impl PacketFilter for Recorded {
    fn masquerade(&self, bridge: &str, subnet: &str, on: bool) {
        self.0.lock().unwrap().push(format!("masquerade {bridge} {subnet} {on}"));
    }
    fn release_masquerade(&self, bridge: &str) {
        self.0.lock().unwrap().push(format!("release_masquerade {bridge}"));
    }
    fn isolate(&self, bridge: &str, default_bridge: &str) {
        self.0.lock().unwrap().push(format!("isolate {bridge} {default_bridge}"));
    }
    fn release_isolation(&self, bridge: &str) {
        self.0.lock().unwrap().push(format!("release_isolation {bridge}"));
    }
    fn setup_publish(&self) {
        self.0.lock().unwrap().push("setup_publish".into());
    }
    fn publish(&self, sandbox: &str, _: &str, _: &str, f: &[Forward]) -> std::io::Result<()> {
        self.0.lock().unwrap().push(format!("publish {sandbox} {}", f.len()));
        Ok(())
    }
    fn unpublish(&self, sandbox: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push(format!("unpublish {sandbox}"));
        Ok(())
    }
}
