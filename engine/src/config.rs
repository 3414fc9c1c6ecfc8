//! Engine settings (the daemon fills them from its TOML config).

use std::path::PathBuf;
use std::time::Duration;

/// What the engine needs to know about its host.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub root: PathBuf,
    pub state: PathBuf,
    /// Path of the `berth-shim` binary.
    pub shim_path: PathBuf,
    /// Parent cgroup of every container (cgroupfs driver).
    pub cgroup_parent: String,
    /// How long `stop` waits after the stop signal when nobody says.
    pub default_stop_timeout: Duration,
    /// How long a shim may take to create a container.
    pub start_timeout: Duration,
    /// Pod networking.
    pub cni: berth_cni::CniConfig,
    /// Image pulls and pushes.
    pub registry: RegistryConfig,
    /// berth's default bridge, for containers outside pods (Docker's docker0).
    pub bridge: BridgeConfig,
}

/// berth's default bridge network: a Linux bridge with an address range of
/// its own (apart from the pods' CNI network), masquerading outbound
/// traffic as docker0 does. berthd writes its CNI config; the standard
/// bridge and host-local plugins do the work, and berth's own nat rules
/// publish ports (`network/publish.rs`).
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The bridge device.
    pub name: String,
    /// Its IPv4 range; the first address is the bridge's (the gateway).
    pub subnet: String,
    /// Outbound NAT for the range (and for user-defined networks but `--internal` ones).
    pub masquerade: bool,
    /// Where user-defined networks without `--subnet` get theirs (Docker's
    /// default address pool), in ranges of `network_size` bits.
    pub network_pool: String,
    pub network_size: u8,
}

impl BridgeConfig {
    /// The range's network address and prefix length, if `subnet` is one.
    pub fn range(&self) -> Option<(std::net::Ipv4Addr, u8)> {
        let (addr, prefix) = self.subnet.split_once('/')?;
        Some((addr.parse().ok()?, prefix.parse().ok().filter(|p| *p <= 32)?))
    }

    /// The bridge's own address, the range's first (the containers' gateway).
    pub fn gateway(&self) -> Option<std::net::Ipv4Addr> {
        self.range().map(|(net, _)| std::net::Ipv4Addr::from(u32::from(net) + 1))
    }
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            name: "berth0".into(),
            subnet: "172.29.0.0/16".into(),
            masquerade: true,
            network_pool: "172.30.0.0/16".into(),
            network_size: 24,
        }
    }
}

/// How images are fetched.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub client: berth_registry::ClientConfig,
    /// Layers downloaded at once per pull.
    pub max_concurrent_downloads: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self { client: berth_registry::ClientConfig::default(), max_concurrent_downloads: 3 }
    }
}

impl EngineConfig {
    pub fn new(
        root: impl Into<PathBuf>,
        state: impl Into<PathBuf>,
        shim_path: impl Into<PathBuf>,
    ) -> Self {
        let root: PathBuf = root.into();
        Self {
            root: root.clone(),
            state: state.into(),
            shim_path: shim_path.into(),
            cgroup_parent: "berth".into(),
            default_stop_timeout: Duration::from_secs(10),
            start_timeout: Duration::from_secs(30),
            cni: berth_cni::CniConfig {
                conf_dir: "/etc/cni/net.d".into(),
                bin_dirs: vec!["/opt/cni/bin".into(), "/usr/lib/cni".into()],
                cache_dir: root.join("cni-cache"),
                plugin_timeout: Duration::from_secs(60),
            },
            registry: RegistryConfig::default(),
            bridge: BridgeConfig::default(),
        }
    }
}
