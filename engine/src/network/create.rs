//! `network create`: a name of its own, a range that overlaps no other
//! network's (the default bridge's included) nor a route of the node's,
//! then the record, the CNI config and the DNS.

use crate::error::{Error, Result};
use crate::model::network::{check_network_name, NetworkRecord, Subnet};
use crate::Engine;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreate {
    pub name: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// The node's IPv4 routes (`/proc/net/route`), as ranges.
fn node_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel's words in its byte order (little-endian here); the
            // default route (mask 0) is no range of its own.
            (mask != 0).then(|| Subnet {
                addr: Ipv4Addr::from(dest.to_le_bytes()),
                prefix: mask.count_ones() as u8,
            })
        })
        .collect()
}

impl Engine {
    /// Creates a network; returns its record.
    #[tracing::instrument(level = "info", skip_all, fields(network = %req.name))]
    pub fn create_network(&self, req: NetworkCreate) -> Result<NetworkRecord> {
        check_network_name(&req.name)?;
        if req.gateway.is_some() && req.subnet.is_none() {
            return Err(Error::invalid("a gateway needs the subnet it is in (--subnet)"));
        }
        let _serial = self.inner.networks.change();
        if self.network(&req.name).is_ok() {
            return Err(Error::AlreadyExists(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let mut taken: Vec<Subnet> = self.networks().iter().map(|n| n.subnet).collect();
        if let Some((addr, prefix)) = self.config().bridge.range() {
            taken.push(Subnet { addr, prefix });
        }
        let subnet = match req.subnet {
            Some(s) => {
                if taken.iter().any(|t| t.overlaps(s)) {
                    return Err(Error::PermissionDenied(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                s
            }
            None => {
                let b = &self.config().bridge;
                let pool: Subnet = b.network_pool.parse()?;
                let routes = node_routes();
                (0..)
                    .map_while(|i| pool.nth(b.network_size, i))
                    .find(|s| !taken.iter().chain(&routes).any(|t| t.overlaps(*s)))
                    .ok_or_else(|| Error::FailedPrecondition("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into()))?
            }
        };
        let gateway = req.gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.is_host(gateway) {
            return Err(Error::invalid(format!("no matching subnet for gateway {gateway}")));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        let n = NetworkRecord {
            bridge: super::bridge_name(&id),
            id,
            name: req.name,
            subnet,
            gateway,
            internal: req.internal,
            labels: req.labels,
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
        };
        let dir = self.paths().network(&n.id)?;
        crate::paths::create_dir(&dir, 0o700)
            .map_err(|e| Error::system("create the network's dir", e))?;
        if let Err(e) = crate::store::commit(&dir.join(super::RECORD), &n)
            .and_then(|()| self.write_network_config(&n))
        {
            self.release_network_dirs(&n.id);
            return Err(e);
        }
        self.start_dns(&n);
        self.inner.filter.isolate(&n.bridge, &self.config().bridge.name);
        self.inner.networks.insert(n.clone());
        tracing::info!(network = %n.id, subnet = %n.subnet, "network created");
        Ok(n)
    }
}
