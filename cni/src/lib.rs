//! CNI networking for pod sandboxes: the runtime side of the CNI spec
//! (1.0/1.1, and the 0.x results older plugins return).
//!
//! - [`config`]: the network config list berth uses — the first valid
//!   `.conflist`/`.conf`/`.json` in the config dir, by file name.
//! - [`invoke`]: one plugin call (`ADD`, `DEL`, `CHECK`, `STATUS`): the
//!   plugin found by type in the plugin dirs, the spec's environment, the
//!   plugin's config on stdin with `prevResult` and the `runtimeConfig`
//!   capabilities it declares.
//! - [`cache`]: what ADD used and returned, per sandbox, so DEL works with
//!   the same config after a daemon restart or a config change.
//!
//! Plugins are separate processes; nothing here joins a namespace.

pub mod cache;
pub mod config;
pub mod invoke;
pub mod result;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use config::NetworkList;
pub use result::Ips;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable network config: the network is not ready.
    #[error("no CNI network config in {0}")]
    NoConfig(PathBuf),
    #[error("invalid network config {path}: {msg}")]
    BadConfig { path: PathBuf, msg: String },
    #[error("plugin {plugin}: {msg}")]
    Plugin { plugin: String, msg: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where configs, plugins and the result cache live.
#[derive(Debug, Clone)]
pub struct CniConfig {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
    pub cache_dir: PathBuf,
    /// How long one plugin call may take.
    pub plugin_timeout: Duration,
}

/// One pod's attachment to the network.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The sandbox id (CNI_CONTAINERID).
    pub id: String,
    pub netns: PathBuf,
    pub ifname: String,
    /// CNI_ARGS pairs (kubelet's K8S_POD_* keys).
    pub args: Vec<(String, String)>,
    /// Capability arguments (`portMappings`, `bandwidth`, `dns`, `ips`).
    pub runtime_config: serde_json::Map<String, Value>,
}

/// One plugin call's answer, boxed (the trait is used as an object).
pub type Call<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<Value>>> + Send + 'a>>;

/// What runs a plugin: the node's executables ([`Exec`]), or a fake in
/// the engine's unit tests. Everything else here (the config, the cache,
/// the order of calls, the undo of a half-done ADD) is the same for both.
pub trait Plugins: Send + Sync + std::fmt::Debug + 'static {
    fn call<'a>(
        &'a self,
        cfg: &'a CniConfig,
        net: &'a NetworkList,
        plugin: &'a Value,
        command: &'a str,
        a: Option<&'a Attachment>,
        prev: Option<&'a Value>,
    ) -> Call<'a>;
}

/// The plugins' executables in the plugin dirs ([`invoke::call`]).
#[derive(Debug, Default)]
pub struct Exec;

impl Plugins for Exec {
    fn call<'a>(
        &'a self,
        cfg: &'a CniConfig,
        net: &'a NetworkList,
        plugin: &'a Value,
        command: &'a str,
        a: Option<&'a Attachment>,
        prev: Option<&'a Value>,
    ) -> Call<'a> {
        Box::pin(invoke::call(cfg, net, plugin, command, a, prev))
    }
}

/// The CNI front of the engine.
#[derive(Debug, Clone)]
pub struct Cni {
    cfg: CniConfig,
    plugins: std::sync::Arc<dyn Plugins>,
}

impl Cni {
    pub fn new(cfg: CniConfig) -> Self {
        Self::with_plugins(cfg, std::sync::Arc::new(Exec))
    }

    /// With the given plugin runner.
    pub fn with_plugins(cfg: CniConfig, plugins: std::sync::Arc<dyn Plugins>) -> Self {
        Self { cfg, plugins }
    }

    pub fn config(&self) -> &CniConfig {
        &self.cfg
    }

    /// The network in use.
    pub fn network(&self) -> Result<NetworkList> {
        config::load(&self.cfg.conf_dir)
    }

    /// Whether pods can be networked: a config exists, and (for 1.1
    /// configs) every plugin answers STATUS.
    pub async fn status(&self) -> Result<()> {
        let net = self.network()?;
        if net.supports_status() {
            for p in &net.plugins {
                self.plugins.call(&self.cfg, &net, p, "STATUS", None, None).await?;
            }
        }
        Ok(())
    }

    /// ADD through every plugin of the list; the arguments are cached before
    /// the first plugin runs (a DEL is owed from then on), the result after.
    pub async fn add(&self, a: &Attachment) -> Result<Ips> {
        if a.args.iter().any(|(k, v)| k.contains([';', '=']) || v.contains(';')) {
            return Err(Error::Plugin {
                plugin: "args".into(),
                msg: "CNI_ARGS keys and values may not contain ';' or '='".into(),
            });
        }
        let net = self.network()?;
        // The intent first: from here on a DEL is owed, even if we die in
        // the middle of a plugin (an address may already be allocated).
        cache::store(
            &self.cfg.cache_dir,
            &a.id,
            &cache::Entry { network: net.raw.clone(), attachment: a.into(), result: Value::Null },
        )?;
        let mut prev: Option<Value> = None;
        for p in &net.plugins {
            let out = self.plugins.call(&self.cfg, &net, p, "ADD", Some(a), prev.as_ref()).await;
            let out = out.and_then(|r| {
                berth_kernel::failpoint::hit("cni.add.after_plugin").map(|()| r).map_err(|msg| {
                    Error::Plugin { plugin: p["type"].as_str().unwrap_or_default().to_owned(), msg }
                })
            });
            match out {
                Ok(r) => prev = r.or(prev),
                Err(e) => {
                    // Leave nothing half set up.
                    if self.del_with(&net, a, prev.as_ref()).await.is_ok() {
                        cache::remove(&self.cfg.cache_dir, &a.id);
                    }
                    return Err(e);
                }
            }
        }
        let result = prev.unwrap_or(Value::Null);
        cache::store(
            &self.cfg.cache_dir,
            &a.id,
            &cache::Entry {
                network: net.raw.clone(),
                attachment: a.into(),
                result: result.clone(),
            },
        )?;
        Ok(result::ips(&result))
    }

    /// DEL in reverse order, with the config and result ADD used (from the
    /// cache). A netns that is already gone is fine: plugins clean what they
    /// can (IPAM, host-side rules).
    pub async fn del(&self, id: &str, netns: &Path) -> Result<()> {
        // Every successful ADD left an entry; without one there is nothing to undo.
        let Some(e) = cache::load(&self.cfg.cache_dir, id)? else { return Ok(()) };
        let net = config::from_value(e.network, Path::new("cache"))?;
        let mut a = e.attachment.into_attachment(id);
        a.netns = netns.to_owned();
        // Null: ADD never finished (the intent alone); DEL goes without a prevResult.
        let prev = Some(e.result).filter(|r| !r.is_null());
        self.del_with(&net, &a, prev.as_ref()).await?;
        cache::remove(&self.cfg.cache_dir, id);
        Ok(())
    }

    async fn del_with(
        &self,
        net: &NetworkList,
        a: &Attachment,
        prev: Option<&Value>,
    ) -> Result<()> {
        let mut first_err = None;
        for p in net.plugins.iter().rev() {
            if let Err(e) = self.plugins.call(&self.cfg, net, p, "DEL", Some(a), prev).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// A capability argument the attachment's ADD was given (from the cache).
    pub fn cached_capability(&self, id: &str, key: &str) -> Option<Value> {
        cache::load(&self.cfg.cache_dir, id)
            .ok()
            .flatten()?
            .attachment
            .runtime_config
            .get(key)
            .cloned()
    }

    /// Whether the cached attachment's DEL does all its work without its
    /// network namespace, so the namespace may go first (the kernel then
    /// takes its interfaces away in the background, without the wait a
    /// plugin's delete of them has). True only for plugins known to undo
    /// host-side state from the cache alone: `bridge` without `ipMasq`
    /// (IPAM gives the address back) and `portmap` (its rules come from the
    /// cached result). Nothing cached: true (there is nothing to undo).
    pub fn del_outlives_netns(&self, id: &str) -> bool {
        let Ok(Some(e)) = cache::load(&self.cfg.cache_dir, id) else { return true };
        let Ok(net) = config::from_value(e.network, Path::new("cache")) else { return false };
        net.plugins.iter().all(|p| match p["type"].as_str() {
            Some("bridge") => p["ipMasq"].as_bool() != Some(true),
            Some("portmap") => true,
            _ => false,
        })
    }

    /// Sandbox ids with a cached attachment (finished or not): each owes a DEL
    /// until it succeeds.
    pub fn cached_ids(&self) -> Vec<String> {
        cache::ids(&self.cfg.cache_dir)
    }

    /// CHECK the cached attachment against the network.
    pub async fn check(&self, id: &str) -> Result<()> {
        let Some(e) = cache::load(&self.cfg.cache_dir, id)? else {
            return Err(Error::Plugin {
                plugin: "check".into(),
                msg: format!("no cached attachment for {id}"),
            });
        };
        let net = config::from_value(e.network, Path::new("cache"))?;
        if net.disable_check || !net.supports_check() {
            return Ok(());
        }
        let a = e.attachment.into_attachment(id);
        for p in &net.plugins {
            self.plugins.call(&self.cfg, &net, p, "CHECK", Some(&a), Some(&e.result)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_known_plugins_let_the_netns_go_first() {
        let dir = std::env::temp_dir().join(format!("berth-cni-outlives-{}", std::process::id()));
        let cni = Cni::new(CniConfig {
            conf_dir: dir.clone(),
            bin_dirs: Vec::new(),
            cache_dir: dir.clone(),
            plugin_timeout: Duration::from_secs(1),
        });
        let a = cache::CachedAttachment {
            netns: "/n".into(),
            ifname: "eth0".into(),
            args: Vec::new(),
            runtime_config: Default::default(),
        };
        let with = |id: &str, plugins: Value| {
            let network = json!({ "cniVersion": "1.0.0", "name": "n", "plugins": plugins });
            cache::store(
                &dir,
                id,
                &cache::Entry { network, attachment: a.clone(), result: Value::Null },
            )
            .unwrap();
        };
        with("plain", json!([{ "type": "bridge", "ipMasq": false }, { "type": "portmap" }]));
        with("masq", json!([{ "type": "bridge", "ipMasq": true }]));
        with("other", json!([{ "type": "bridge" }, { "type": "tuning" }]));
        assert!(cni.del_outlives_netns("plain"));
        assert!(!cni.del_outlives_netns("masq"));
        assert!(!cni.del_outlives_netns("other"));
        assert!(cni.del_outlives_netns("nothing-cached"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
