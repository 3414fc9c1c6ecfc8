//! A pod's network through CNI: ADD when the sandbox is created (after its
//! namespaces are pinned), DEL when it stops (before they are released).
//! kubelet's CNI_ARGS and the `portMappings` and `dns` capabilities are
//! passed; the pod's IPs come from the result.

use super::{NsMode, SandboxOptions};
use crate::error::{Error, Result};
use crate::Engine;
use serde_json::{json, Value};
use std::path::Path;

fn map_err(e: berth_cni::Error) -> Error {
    match e {
        berth_cni::Error::NoConfig(dir) => Error::FailedPrecondition(format!("network plugin is not ready: no CNI network config in {}", dir.display())),
        other => Error::Internal(format!("CNI: {other}")),
    }
}

/// The capability arguments a pod brings (plugins get the ones they declare).
fn runtime_config(o: &SandboxOptions) -> serde_json::Map<String, Value> {
    let mut rc = serde_json::Map::new();
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
        rc.insert("dns".into(), json!({ "servers": d.servers, "searches": d.searches, "options": d.options }));
    }
    rc
}

impl Engine {
    fn cni(&self) -> berth_cni::Cni {
        berth_cni::Cni::new(self.config().cni.clone())
    }

    /// Whether pods can get a network; the reason if not.
    pub async fn network_status(&self) -> std::result::Result<(), String> {
        self.cni().status().await.map_err(|e| e.to_string())
    }

    /// Attaches the pod's pinned netns; returns its IPs.
    pub(crate) async fn network_add(&self, id: &str, o: &SandboxOptions, netns: &Path) -> Result<Vec<String>> {
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
            runtime_config: runtime_config(o),
        };
        let ips = self.cni().add(&a).await.map_err(map_err)?;
        tracing::info!(sandbox = %id, ?ips, "pod network attached");
        Ok(ips)
    }

    /// Detaches the pod (idempotent: nothing cached, nothing to do).
    pub(crate) async fn network_del(&self, id: &str, netns: &Path) -> Result<()> {
        self.cni().del(id, netns).await.map_err(map_err)
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
                PortMapping { protocol: "tcp".into(), container_port: 80, host_port: 8080, host_ip: String::new() },
                PortMapping { protocol: "tcp".into(), container_port: 81, host_port: 0, host_ip: String::new() },
            ],
            ..Default::default()
        };
        let rc = runtime_config(&o);
        assert_eq!(rc["portMappings"].as_array().unwrap().len(), 1);
        assert!(rc.get("dns").is_none());
    }
}
