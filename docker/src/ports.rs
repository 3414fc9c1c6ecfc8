//! A container's ports as Docker shows them: `Config.ExposedPorts`,
//! `HostConfig.PortBindings` (what was asked), `NetworkSettings.Ports`
//! (what it holds; `docker port` reads it) and the list's `Ports`.

use berth_docker_api::container::{Port, PortBinding, PortMap};
use berth_docker_api::EmptyObject;
use berth_engine::model::ContainerConfig;
use std::collections::BTreeMap;

/// `Config.ExposedPorts`: `{"80/tcp": {}}`.
pub fn exposed(cfg: &ContainerConfig) -> BTreeMap<String, EmptyObject> {
    cfg.exposed_ports.iter().map(|p| (p.to_string(), EmptyObject {})).collect()
}

/// `HostConfig.PortBindings`, as asked.
pub fn bindings(cfg: &ContainerConfig) -> PortMap {
    let mut m = PortMap::new();
    for r in &cfg.publish {
        let binding = PortBinding {
            host_ip: r.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            host_port: r.host_ports.to_string(),
        };
        m.entry(r.container.to_string())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_default()
            .push(binding);
    }
    m
}

/// `NetworkSettings.Ports`: each exposed port with its host ports (or
/// null); none without a live network (created, exited), as dockerd's.
pub fn settings(cfg: &ContainerConfig) -> PortMap {
    if cfg.network.sandbox().is_none() {
        return PortMap::new();
    }
    let mut m: PortMap = cfg.exposed_ports.iter().map(|p| (p.to_string(), None)).collect();
    for p in &cfg.ports {
        let binding =
            PortBinding { host_ip: p.host_ip.to_string(), host_port: p.host_port.to_string() };
        m.entry(p.container.to_string()).or_default().get_or_insert_default().push(binding);
    }
    m
}

/// The list's `Ports`: published ones with their host side, the rest
/// bare; none without a live network.
pub fn summary(cfg: &ContainerConfig) -> Vec<Port> {
    if cfg.network.sandbox().is_none() {
        return Vec::new();
    }
    let mut out: Vec<Port> = cfg
        .ports
        .iter()
        .map(|p| Port {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container.port,
            public_port: Some(p.host_port),
            kind: p.container.protocol.as_str().into(),
        })
        .collect();
    out.extend(
        cfg.exposed_ports.iter().filter(|e| !cfg.ports.iter().any(|p| p.container == **e)).map(
            |e| Port {
                private_port: e.port,
                kind: e.protocol.as_str().into(),
                ..Default::default()
            },
        ),
    );
    out
}
