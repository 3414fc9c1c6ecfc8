//! A container's ports as Docker shows them: `Config.ExposedPorts`,
//! `HostConfig.PortBindings` (what was asked), `NetworkSettings.Ports`
//! (what it holds; `docker port` reads it) and the list's `Ports`.

use berth_engine::model::ContainerConfig;
use serde_json::{json, Map, Value};

/// `Config.ExposedPorts`: `{"80/tcp": {}}`.
pub fn exposed(cfg: &ContainerConfig) -> Value {
    Value::Object(cfg.exposed_ports.iter().map(|p| (p.to_string(), json!({}))).collect())
}

/// `HostConfig.PortBindings`, as asked.
pub fn bindings(cfg: &ContainerConfig) -> Value {
    let mut m = Map::new();
    for r in &cfg.publish {
        let entry = m.entry(r.container.to_string()).or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(json!({ "HostIp": r.host_ip.map(|ip| ip.to_string()).unwrap_or_default(), "HostPort": r.host_ports.to_string() }));
        }
    }
    Value::Object(m)
}

/// `NetworkSettings.Ports`: each exposed port with its host ports (or
/// null); none without a live network (created, exited), as dockerd's.
pub fn settings(cfg: &ContainerConfig) -> Value {
    if cfg.network.sandbox().is_none() {
        return json!({});
    }
    let mut m: Map<String, Value> =
        cfg.exposed_ports.iter().map(|p| (p.to_string(), Value::Null)).collect();
    for p in &cfg.ports {
        let entry = m.entry(p.container.to_string()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Value::Array(list) = entry {
            list.push(
                json!({ "HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string() }),
            );
        }
    }
    Value::Object(m)
}

/// The list's `Ports`: published ones with their host side, the rest
/// bare; none without a live network.
pub fn summary(cfg: &ContainerConfig) -> Value {
    if cfg.network.sandbox().is_none() {
        return json!([]);
    }
    let mut out: Vec<Value> = cfg
        .ports
        .iter()
        .map(|p| json!({ "IP": p.host_ip.to_string(), "PrivatePort": p.container.port, "PublicPort": p.host_port, "Type": p.container.protocol.as_str() }))
        .collect();
    out.extend(
        cfg.exposed_ports
            .iter()
            .filter(|e| !cfg.ports.iter().any(|p| p.container == **e))
            .map(|e| json!({ "PrivatePort": e.port, "Type": e.protocol.as_str() })),
    );
    Value::Array(out)
}
