//! A pod's network through CNI: ADD when the sandbox is created (after its
//! namespaces are pinned), DEL when it stops (before they are released).
//! kubelet's CNI_ARGS and the capability arguments are passed (each plugin
//! gets the ones it declares); the pod's IPs come from the result.
//!
//! | capability     | from                                                        |
//! |----------------|-------------------------------------------------------------|
//! | `portMappings` | the pod's port mappings with a host port                    |
//! | `dns`          | the pod's DNS config                                        |
//! | `bandwidth`    | annotations `kubernetes.io/ingress-bandwidth`, `…/egress-bandwidth` (bits/s, as for containerd and CRI-O) |
//! | `ips`          | annotation `berth.dev/ips`: comma-separated IPs, optionally with a prefix |
//! | `mac`          | annotation `berth.dev/mac`: the interface's hardware address (`--mac-address`) |

use super::{NsMode, SandboxOptions};
use crate::error::{Error, Result};
use crate::Engine;
use serde_json::{json, Value};
use std::path::Path;
use tracing::Instrument;

fn map_err(e: berth_cni::Error) -> Error {
    match e {
        berth_cni::Error::NoConfig(dir) => Error::FailedPrecondition(format!(
            "network plugin is not ready: no CNI network config in {}",
            dir.display()
        )),
        other => Error::system("CNI", other),
    }
}

/// Pod annotations that shape its traffic (Kubernetes' own keys).
pub const INGRESS_BANDWIDTH: &str = "kubernetes.io/ingress-bandwidth";
pub const EGRESS_BANDWIDTH: &str = "kubernetes.io/egress-bandwidth";
/// Pod annotation asking IPAM for these addresses (the `ips` capability).
pub const IPS: &str = "berth.dev/ips";
/// Pod annotation asking for this hardware address on `eth0` (the `mac` capability).
pub const MAC: &str = "berth.dev/mac";

/// A Kubernetes quantity (`10M`, `1.5Gi`, `100k`, `1e6`) as a whole number,
/// rounded up.
fn quantity(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    let v = (num * mult).ceil();
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

/// A bandwidth annotation in bits per second, within kubelet's bounds.
fn rate(key: &str, v: &str) -> Result<u64> {
    let bits = quantity(v)
        .ok_or_else(|| Error::invalid(format!("annotation {key}: {v:?} is not a quantity")))?;
    if !(1_000..=1_000_000_000_000_000).contains(&bits) {
        return Err(Error::invalid(format!(
            "annotation {key}: {v:?} is outside 1k..1P bits per second"
        )));
    }
    Ok(bits)
}

/// Checks the annotations berth turns into capability arguments.
pub(crate) fn check_annotations(o: &SandboxOptions) -> Result<()> {
    runtime_config(o).map(drop)
}

/// The capability arguments a pod brings (plugins get the ones they declare).
fn runtime_config(o: &SandboxOptions) -> Result<serde_json::Map<String, Value>> {
    let mut rc = serde_json::Map::new();
    let mut bw = serde_json::Map::new();
    // The burst containerd and CRI-O give: as large as the plugin accepts.
    for (key, rate_key, burst_key) in [
        (INGRESS_BANDWIDTH, "ingressRate", "ingressBurst"),
        (EGRESS_BANDWIDTH, "egressRate", "egressBurst"),
    ] {
        if let Some(v) = o.annotations.get(key) {
            bw.insert(rate_key.into(), json!(rate(key, v)?));
            bw.insert(burst_key.into(), json!(u32::MAX));
        }
    }
    if !bw.is_empty() {
        rc.insert("bandwidth".into(), Value::Object(bw));
    }
    if let Some(v) = o.annotations.get(IPS) {
        let ips: Vec<&str> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        for ip in &ips {
            let (addr, prefix) = ip.split_once('/').map_or((*ip, None), |(a, p)| (a, Some(p)));
            let parsed: Option<std::net::IpAddr> = addr.parse().ok();
            let max = if parsed.is_some_and(|a| a.is_ipv4()) { 32 } else { 128 };
            if parsed.is_none() || prefix.is_some_and(|p| p.parse::<u8>().map_or(true, |p| p > max))
            {
                return Err(Error::invalid(format!(
                    "annotation {IPS}: {ip:?} is not an IP address"
                )));
            }
        }
        if !ips.is_empty() {
            rc.insert("ips".into(), json!(ips));
        }
    }
    if let Some(v) = o.annotations.get(MAC) {
        let mac: crate::model::MacAddress = v
            .parse()
            .map_err(|_| Error::invalid(format!("annotation {MAC}: {v:?} is not a MAC address")))?;
        rc.insert("mac".into(), json!(mac.to_string()));
    }
    let ports: Vec<Value> = o
        .port_mappings
        .iter()
        .filter(|p| p.host_port > 0)
        .map(|p| json!({ "hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.protocol, "hostIP": p.host_ip }))
        .collect();
    if !ports.is_empty() {
        rc.insert("portMappings".into(), Value::Array(ports));
    }
    let d = &o.dns;
    if !d.servers.is_empty() || !d.searches.is_empty() || !d.options.is_empty() {
        rc.insert(
            "dns".into(),
            json!({ "servers": d.servers, "searches": d.searches, "options": d.options }),
        );
    }
    Ok(rc)
}

impl Engine {
    pub(crate) fn cni(&self) -> berth_cni::Cni {
        berth_cni::Cni::with_plugins(self.config().cni.clone(), self.inner.plugins.clone())
    }

    /// The CNI of a sandbox's network: the pods' configured one, or for a
    /// container's own sandbox its user-defined network's or berth's
    /// default bridge. (DEL needs none: it replays what ADD cached.)
    fn cni_for(&self, o: &SandboxOptions) -> Result<berth_cni::Cni> {
        if let Some(net) = &o.network {
            return self.network_cni(net);
        }
        let mut cfg = self.config().cni.clone();
        if o.owner == super::SandboxOwner::Container {
            cfg.conf_dir = crate::network::conflist::dir(&self.paths().bridge_network());
        }
        Ok(berth_cni::Cni::with_plugins(cfg, self.inner.plugins.clone()))
    }

    /// Writes the default bridge's CNI config and sets its outbound NAT
    /// (the settings may have changed).
    pub(crate) fn write_bridge_config(&self) -> Result<()> {
        let b = &self.config().bridge;
        let dir = self.paths().bridge_network();
        let bridge = json!({
            "type": "bridge", "bridge": b.name, "isGateway": true, "ipMasq": false, "hairpinMode": true,
            "capabilities": { "mac": true },
            "ipam": { "type": "host-local", "ranges": [[{ "subnet": b.subnet }]], "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": dir.join("ipam") }
        });
        crate::network::conflist::write(&dir, &format!("berth-bridge-{}", b.name), bridge)
            .map_err(|e| Error::system("write the default bridge's CNI config", e))?;
        self.inner.filter.masquerade(&b.name, &b.subnet, b.masquerade);
        Ok(())
    }

    /// Whether pods can get a network; the reason if not.
    pub async fn network_status(&self) -> std::result::Result<(), String> {
        self.cni().status().await.map_err(|e| e.to_string())
    }

    /// Attaches the pod's pinned netns; returns its IPs.
    pub(crate) async fn network_add(
        &self,
        id: &str,
        o: &SandboxOptions,
        netns: &Path,
    ) -> Result<Vec<String>> {
        if o.namespaces.network == NsMode::Node {
            return Ok(Vec::new());
        }
        let a = berth_cni::Attachment {
            id: id.to_owned(),
            netns: netns.to_owned(),
            ifname: "eth0".into(),
            args: vec![
                ("K8S_POD_NAMESPACE".into(), o.namespace.clone()),
                ("K8S_POD_NAME".into(), o.name.clone()),
                ("K8S_POD_INFRA_CONTAINER_ID".into(), id.to_owned()),
                ("K8S_POD_UID".into(), o.uid.clone()),
            ],
            runtime_config: runtime_config(o)?,
        };
        let ips = self
            .cni_for(o)?
            .add(&a)
            .instrument(tracing::info_span!("cni_add", pod = %id))
            .await
            .map_err(map_err)?;
        if o.owner == super::SandboxOwner::Container {
            if let Err(e) = self.publish(id, o, &ips).await {
                if let Err(e) = self.network_del(id, netns).await {
                    tracing::warn!(sandbox = %id, error = %e, "undo the network of a sandbox whose ports could not be published");
                }
                return Err(e);
            }
        }
        tracing::info!(sandbox = %id, ?ips, "pod network attached");
        Ok(ips)
    }

    /// A Docker container's published ports, to its address on its first
    /// network ([`crate::network::publish`]).
    async fn publish(&self, id: &str, o: &SandboxOptions, ips: &[String]) -> Result<()> {
        let Some(to) = ips.iter().find_map(|ip| ip.parse::<std::net::Ipv4Addr>().ok()) else {
            return Ok(());
        };
        let forwards: Vec<crate::network::publish::Forward> = o
            .port_mappings
            .iter()
            .filter(|p| p.host_port > 0)
            .map(|p| crate::network::publish::Forward {
                protocol: if p.protocol == "udp" { "udp" } else { "tcp" },
                host_ip: p
                    .host_ip
                    .parse()
                    .ok()
                    .filter(|ip: &std::net::Ipv4Addr| !ip.is_unspecified()),
                host_port: p.host_port as u16,
                to,
                port: p.container_port as u16,
            })
            .collect();
        if forwards.is_empty() {
            return Ok(());
        }
        let (bridge, subnet) = match &o.network {
            Some(net) => self.network(net).map(|n| (n.bridge, n.subnet.to_string()))?,
            None => (self.config().bridge.name.clone(), self.config().bridge.subnet.clone()),
        };
        let (id, filter) = (id.to_owned(), self.inner.filter.clone());
        tokio::task::spawn_blocking(move || filter.publish(&id, &bridge, &subnet, &forwards))
            .instrument(tracing::info_span!("publish_ports"))
            .await?
            .map_err(|e| Error::system("publish the container's ports", e))
    }

    /// Whether the sandbox's DELs (its extra interfaces' too) can do without its namespace.
    pub(crate) fn network_del_outlives_netns(&self, id: &str) -> bool {
        let cni = self.cni();
        cni.cached_ids()
            .into_iter()
            .filter(|c| crate::network::connect::attachment_owner(c) == id)
            .all(|c| cni.del_outlives_netns(&c))
    }

    /// Detaches the pod (idempotent: nothing cached, nothing to do): the
    /// interfaces `network connect` added first, then its own.
    pub(crate) async fn network_del(&self, id: &str, netns: &Path) -> Result<()> {
        let cni = self.cni();
        // A Docker container's published ports go before the attachment that
        // leads a sweep to them (a pod's hostPorts are its portmap's: none found).
        if cni.cached_capability(id, "portMappings").is_some() {
            let (sid, filter) = (id.to_owned(), self.inner.filter.clone());
            tokio::task::spawn_blocking(move || filter.unpublish(&sid))
                .await?
                .map_err(|e| Error::system("take back the container's published ports", e))?;
        }
        for extra in cni
            .cached_ids()
            .into_iter()
            .filter(|c| c != id && crate::network::connect::attachment_owner(c) == id)
        {
            cni.del(&extra, netns)
                .instrument(tracing::info_span!("cni_del", attachment = %extra))
                .await
                .map_err(map_err)?;
        }
        cni.del(id, netns)
            .instrument(tracing::info_span!("cni_del", pod = %id))
            .await
            .map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::PortMapping;

    #[test]
    fn only_published_ports_are_mapped() {
        let o = SandboxOptions {
            port_mappings: vec![
                PortMapping {
                    protocol: "tcp".into(),
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new(),
                },
                PortMapping {
                    protocol: "tcp".into(),
                    container_port: 81,
                    host_port: 0,
                    host_ip: String::new(),
                },
            ],
            ..Default::default()
        };
        let rc = runtime_config(&o).unwrap();
        assert_eq!(rc["portMappings"].as_array().unwrap().len(), 1);
        assert!(
            rc.get("dns").is_none() && rc.get("bandwidth").is_none() && rc.get("ips").is_none()
        );
    }

    #[test]
    fn quantities_like_kubernetes() {
        for (s, v) in [
            ("10M", 10_000_000),
            ("1Gi", 1 << 30),
            ("100k", 100_000),
            ("1.5M", 1_500_000),
            ("1e6", 1_000_000),
            ("2000", 2000),
            ("0.5Ki", 512),
        ] {
            assert_eq!(quantity(s), Some(v), "{s}");
        }
        for s in ["", "M", "10m?", "ten", "1x", "-5"] {
            assert_eq!(quantity(s), None, "{s}");
        }
    }

    #[test]
    fn bandwidth_and_ips_come_from_annotations() {
        let with = |pairs: &[(&str, &str)]| SandboxOptions {
            annotations: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        let rc = runtime_config(&with(&[
            (INGRESS_BANDWIDTH, "10M"),
            (EGRESS_BANDWIDTH, "1Mi"),
            (IPS, "10.1.0.9, fd00::9/64"),
        ]))
        .unwrap();
        assert_eq!(
            rc["bandwidth"],
            json!({"ingressRate": 10_000_000u64, "ingressBurst": u32::MAX, "egressRate": 1_048_576u64, "egressBurst": u32::MAX})
        );
        assert_eq!(rc["ips"], json!(["10.1.0.9", "fd00::9/64"]));
        for bad in [
            (INGRESS_BANDWIDTH, "fast"),
            (EGRESS_BANDWIDTH, "10"),
            (INGRESS_BANDWIDTH, "2E"),
            (IPS, "10.1.0.300"),
            (IPS, "10.1.0.1/33"),
            (IPS, "x"),
        ] {
            assert!(
                matches!(check_annotations(&with(&[bad])), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
