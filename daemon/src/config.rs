//! berthd's configuration: TOML with embedded defaults, so berthd runs with
//! no config file at all; `--config`, `--root`, `--state` override.

use anyhow::Context;
use serde::Deserialize;
use std::path::PathBuf;

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(name = "berthd", version, about = "berth container engine daemon")]
pub struct Args {
    /// Config file (TOML). Missing keys take the defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Durable state (images, containers, logs).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Volatile state (sockets, bundles).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Log filter, e.g. `info` or `berth_engine=debug`.
    #[arg(long)]
    pub log_level: Option<String>,
}

/// The daemon's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub root: PathBuf,
    pub state: PathBuf,
    pub log_level: String,
    /// berth-shim binary; empty: next to berthd.
    pub shim_path: PathBuf,
    /// Parent cgroup for containers (cgroupfs driver).
    pub cgroup_parent: String,
    /// Seconds `stop` waits before SIGKILL by default.
    pub stop_timeout: u64,
    pub cni: CniSection,
    pub streaming: StreamingSection,
    pub registry: RegistrySection,
    pub metrics: MetricsSection,
    pub tracing: TracingSection,
    pub docker: DockerSection,
    pub builder: BuilderSection,
}

/// `[builder]`: what builds may ask for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuilderSection {
    /// Entitlements a build may be granted when it asks (`berth build
    /// --allow`), as buildkitd's `insecure-entitlements`:
    /// `security.insecure` lets `RUN --security=insecure` run privileged.
    pub insecure_entitlements: Vec<String>,
}

impl BuilderSection {
    pub fn grants(&self) -> anyhow::Result<berth_docker::BuildGrants> {
        let mut grants = berth_docker::BuildGrants::default();
        for e in &self.insecure_entitlements {
            match e.as_str() {
                berth_docker::SECURITY_INSECURE => grants.security_insecure = true,
                "network.host" => {}
                _ => anyhow::bail!(
                    "builder.insecure_entitlements: unknown entitlement {e:?} (security.insecure, network.host)"
                ),
            }
        }
        Ok(grants)
    }
}

/// `[docker]`: the Docker Engine API, and the default bridge its
/// containers get (docker0's counterpart, apart from the pods' network).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSection {
    /// The API's unix socket; empty: `<state>/docker.sock` (`/run/berth/docker.sock`).
    pub socket: PathBuf,
    /// The default bridge's device name.
    pub bridge: String,
    /// Its IPv4 range; the first address is the bridge's.
    pub bridge_subnet: String,
    /// Outbound NAT for it, as docker0 has (and for user-defined networks but internal ones).
    pub masquerade: bool,
    /// Where user-defined networks without `--subnet` get theirs, in
    /// ranges of `network_size` bits (Docker's default address pool).
    pub network_pool: String,
    pub network_size: u8,
    /// A TCP address for the API (`127.0.0.1:2376`); empty: none. Only
    /// with mutual TLS: `tls_ca` signs the clients' certificates,
    /// `tls_cert`/`tls_key` are the server's (dockerd's `--tlsverify`).
    pub tcp: String,
    pub tls_ca: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

impl DockerSection {
    /// The TCP listener's address and TLS files, if one is configured;
    /// an error for TCP without all of them.
    pub fn tcp_tls(
        &self,
    ) -> anyhow::Result<Option<(std::net::SocketAddr, berth_docker::tls::TlsFiles)>> {
        if self.tcp.is_empty() {
            return Ok(None);
        }
        let addr: std::net::SocketAddr = self.tcp.parse().with_context(|| {
            format!("docker.tcp {:?} is not an address such as 127.0.0.1:2376", self.tcp)
        })?;
        let missing: Vec<&str> =
            [("tls_ca", &self.tls_ca), ("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)]
                .iter()
                .filter(|(_, p)| p.as_os_str().is_empty())
                .map(|(k, _)| *k)
                .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "docker.tcp needs mutual TLS (whoever reaches the API is root): set docker.{}",
            missing.join(", docker.")
        );
        Ok(Some((
            addr,
            berth_docker::tls::TlsFiles {
                ca: self.tls_ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            },
        )))
    }
}

impl Default for DockerSection {
    fn default() -> Self {
        let b = berth_engine::BridgeConfig::default();
        Self {
            socket: PathBuf::new(),
            bridge: b.name,
            bridge_subnet: b.subnet,
            masquerade: b.masquerade,
            network_pool: b.network_pool,
            network_size: b.network_size,
            tcp: String::new(),
            tls_ca: PathBuf::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

/// `[tracing]`: OpenTelemetry traces over OTLP/gRPC, off unless an
/// endpoint is set (containerd's `otlp` tracing processor, the same knobs).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingSection {
    /// The OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; empty: no traces.
    pub endpoint: String,
    /// The share of traces berth starts that are recorded (0 to 1); a
    /// caller's sampled `traceparent` is always followed.
    pub sampling_ratio: f64,
    pub service_name: String,
}

impl Default for TracingSection {
    fn default() -> Self {
        Self { endpoint: String::new(), sampling_ratio: 1.0, service_name: "berthd".into() }
    }
}

/// `[metrics]`: Prometheus metrics over HTTP, off unless an address is set
/// (containerd serves them on 127.0.0.1:1338).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port` to serve `/metrics` on; empty: no metrics endpoint.
    pub address: String,
}

impl MetricsSection {
    pub fn socket_addr(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
        if self.address.is_empty() {
            return Ok(None);
        }
        self.address
            .parse()
            .map(Some)
            .with_context(|| format!("[metrics] address {:?} is not host:port", self.address))
    }
}

/// `[registry]`: pulls and pushes; `[registry.hosts."<host>"]` per registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrySection {
    /// Layers fetched at once per pull (and blobs uploaded at once per push).
    pub max_concurrent_downloads: usize,
    /// Seconds a transfer may go without receiving a byte before it fails.
    pub stall_timeout: u64,
    /// Times a broken blob download is resumed.
    pub retries: u32,
    /// Mirrors, plain HTTP and TLS verification per registry host.
    pub hosts: berth_registry::Hosts,
}

impl Default for RegistrySection {
    fn default() -> Self {
        Self {
            max_concurrent_downloads: 3,
            stall_timeout: 120,
            retries: 5,
            hosts: Default::default(),
        }
    }
}

/// `[streaming]`: the server behind CRI Exec and PortForward URLs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingSection {
    /// Address to listen on; kubelet proxies to it, so loopback is enough.
    pub address: String,
    /// Port; 0 picks a free one at start-up.
    pub port: u16,
}

impl Default for StreamingSection {
    fn default() -> Self {
        Self { address: "127.0.0.1".into(), port: 0 }
    }
}

impl StreamingSection {
    pub fn socket_addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        let ip: std::net::IpAddr = self.address.parse().with_context(|| {
            format!("streaming address {:?} is not an IP address", self.address)
        })?;
        Ok((ip, self.port).into())
    }
}

/// `[cni]`: pod networking.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CniSection {
    /// Network configs; the first valid file by name is used.
    pub conf_dir: PathBuf,
    /// Where plugin binaries are looked up, in order.
    pub bin_dirs: Vec<PathBuf>,
    /// Seconds one plugin call may take.
    pub plugin_timeout: u64,
}

impl Default for CniSection {
    fn default() -> Self {
        Self {
            conf_dir: "/etc/cni/net.d".into(),
            bin_dirs: vec!["/opt/cni/bin".into(), "/usr/lib/cni".into()],
            plugin_timeout: 60,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            root: "/var/lib/berth".into(),
            state: "/run/berth".into(),
            log_level: "info".into(),
            shim_path: PathBuf::new(),
            cgroup_parent: "berth".into(),
            stop_timeout: 10,
            cni: CniSection::default(),
            streaming: StreamingSection::default(),
            registry: RegistrySection::default(),
            metrics: MetricsSection::default(),
            tracing: TracingSection::default(),
            docker: DockerSection::default(),
            builder: BuilderSection::default(),
        }
    }
}

impl Config {
    /// Defaults, then the file, then flags.
    pub fn load(args: &Args) -> anyhow::Result<Self> {
        let mut cfg = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("read config {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parse config {}", p.display()))?
            }
            None => Config::default(),
        };
        if let Some(r) = &args.root {
            cfg.root = r.clone();
        }
        if let Some(s) = &args.state {
            cfg.state = s.clone();
        }
        if let Some(l) = &args.log_level {
            cfg.log_level = l.clone();
        }
        if cfg.docker.socket.as_os_str().is_empty() {
            cfg.docker.socket = cfg.state.join("docker.sock");
        }
        if cfg.shim_path.as_os_str().is_empty() {
            let exe = std::env::current_exe().context("locate berthd")?;
            cfg.shim_path = exe.with_file_name("berth-shim");
        }
        cfg.streaming.socket_addr()?;
        cfg.docker.tcp_tls()?;
        cfg.builder.grants()?;
        let b = &cfg.docker.bridge;
        anyhow::ensure!(
            !b.is_empty()
                && b.len() <= 15
                && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "docker.bridge {b:?} is not a device name (at most 15 letters, digits, - and _)"
        );
        let subnet_ok = cfg.engine().bridge.range().is_some_and(|(_, p)| (8..=30).contains(&p));
        anyhow::ensure!(
            subnet_ok,
            "docker.bridge_subnet {:?} is not an IPv4 range such as 172.29.0.0/16 (prefix 8 to 30)",
            cfg.docker.bridge_subnet
        );
        let pool = cfg.docker.network_pool.parse::<berth_engine::model::Subnet>().ok();
        anyhow::ensure!(
            pool.is_some_and(|p| p.prefix <= cfg.docker.network_size && cfg.docker.network_size <= 30),
            "docker.network_pool {:?} with docker.network_size {} is not an IPv4 range split into ranges of that many bits (at most 30)",
            cfg.docker.network_pool,
            cfg.docker.network_size
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&cfg.tracing.sampling_ratio),
            "tracing.sampling_ratio must be between 0 and 1, got {}",
            cfg.tracing.sampling_ratio
        );
        anyhow::ensure!(
            cfg.tracing.endpoint.is_empty()
                || cfg.tracing.endpoint.starts_with("http://")
                || cfg.tracing.endpoint.starts_with("https://"),
            "tracing.endpoint must be an http:// or https:// URL, got {:?}",
            cfg.tracing.endpoint
        );
        cfg.registry.hosts.validate().context("[registry.hosts]")?;
        anyhow::ensure!(
            cfg.registry.max_concurrent_downloads >= 1,
            "registry.max_concurrent_downloads must be at least 1"
        );
        anyhow::ensure!(
            cfg.registry.stall_timeout >= 1,
            "registry.stall_timeout must be at least 1 second"
        );
        for (what, p) in [("root", &cfg.root), ("state", &cfg.state)] {
            anyhow::ensure!(
                p.is_absolute(),
                "{what} dir must be an absolute path, got {}",
                p.display()
            );
        }
        anyhow::ensure!(
            !cfg.cgroup_parent.is_empty()
                && !cfg.cgroup_parent.split('/').any(|c| c == ".." || c == "."),
            "invalid cgroup_parent {:?}",
            cfg.cgroup_parent
        );
        Ok(cfg)
    }

    /// The engine's view of these settings.
    pub fn engine(&self) -> berth_engine::EngineConfig {
        let mut e = berth_engine::EngineConfig::new(&self.root, &self.state, &self.shim_path);
        e.cgroup_parent = self.cgroup_parent.trim_matches('/').to_owned();
        e.default_stop_timeout = std::time::Duration::from_secs(self.stop_timeout);
        e.bridge = berth_engine::BridgeConfig {
            name: self.docker.bridge.clone(),
            subnet: self.docker.bridge_subnet.clone(),
            masquerade: self.docker.masquerade,
            network_pool: self.docker.network_pool.clone(),
            network_size: self.docker.network_size,
        };
        e.cni = berth_cni::CniConfig {
            conf_dir: self.cni.conf_dir.clone(),
            bin_dirs: self.cni.bin_dirs.clone(),
            cache_dir: self.root.join("cni-cache"),
            plugin_timeout: std::time::Duration::from_secs(self.cni.plugin_timeout),
        };
        e.registry = berth_engine::config::RegistryConfig {
            client: berth_registry::ClientConfig {
                hosts: self.registry.hosts.clone(),
                stall_timeout: std::time::Duration::from_secs(self.registry.stall_timeout),
                retries: self.registry.retries,
            },
            max_concurrent_downloads: self.registry.max_concurrent_downloads,
        };
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_example_parses_and_matches_defaults() {
        let c: Config = toml::from_str(include_str!("../../deploy/berthd.toml")).unwrap();
        let d = Config::default();
        assert_eq!((c.root, c.state, c.cgroup_parent), (d.root, d.state, d.cgroup_parent));
        assert_eq!(
            (c.cni.conf_dir, c.cni.bin_dirs, c.cni.plugin_timeout),
            (d.cni.conf_dir, d.cni.bin_dirs, d.cni.plugin_timeout)
        );
        assert_eq!(
            (c.registry.max_concurrent_downloads, c.registry.stall_timeout),
            (d.registry.max_concurrent_downloads, d.registry.stall_timeout)
        );
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
        let hosts: Config = toml::from_str(
            "[registry.hosts.\"docker.io\"]\nmirrors = [\"http://127.0.0.1:5001\"]\n",
        )
        .unwrap();
        assert_eq!(
            hosts.registry.hosts.endpoints("docker.io").unwrap()[0].base,
            "http://127.0.0.1:5001"
        );
        assert_eq!(
            (
                c.tracing.endpoint.as_str(),
                c.tracing.sampling_ratio,
                c.tracing.service_name.as_str()
            ),
            ("", 1.0, "berthd")
        );
    }

    #[test]
    fn tracing_settings_are_checked() {
        let load = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("berthd.toml");
            std::fs::write(&p, text).unwrap();
            Config::load(&Args { config: Some(p), root: None, state: None, log_level: None })
                .map(|c| c.tracing)
        };
        assert!(load("[tracing]\nsampling_ratio = 1.5\n").is_err());
        assert!(load("[builder]\ninsecure_entitlements = [\"security.sandbox\"]\n").is_err());
        assert!(load("[builder]\ninsecure_entitlements = [\"security.insecure\"]\n").is_ok());
        assert!(load("[tracing]\nendpoint = \"127.0.0.1:4317\"\n").is_err());
        assert_eq!(
            load("[tracing]\nendpoint = \"http://127.0.0.1:4317\"\nsampling_ratio = 0.25\n")
                .unwrap()
                .sampling_ratio,
            0.25
        );
    }
}
