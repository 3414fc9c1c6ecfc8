//! The CNI configs of a Docker network (the default bridge, a user-defined
//! one), in two dirs: `conf`, the bridge plugin alone, for a sandbox that
//! publishes no port (most: the portmap plugin would be one more run at
//! each start and exit, for nothing); `conf-published`, bridge then
//! portmap, for one that does. Outbound NAT is not the plugin's (`ipMasq`
//! is a chain per container, made and deleted at each start and exit): it
//! is one rule per network ([`super::masquerade`]). A DEL replays what the
//! ADD cached, so a config rewritten in between changes nothing for it.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const FILE: &str = "10-network.conflist";

/// The dir of the config a sandbox's ADD uses.
pub(crate) fn dir(base: &Path, published: bool) -> PathBuf {
    base.join(if published { "conf-published" } else { "conf" })
}

/// Writes both configs of network `name` under `base`; `bridge` is its
/// bridge plugin's config.
pub(crate) fn write(base: &Path, name: &str, bridge: Value) -> std::io::Result<()> {
    let lists = [
        (false, json!({ "cniVersion": "1.0.0", "name": name, "plugins": [bridge.clone()] })),
        (true, json!({ "cniVersion": "1.0.0", "name": name, "plugins": [bridge, { "type": "portmap", "capabilities": { "portMappings": true } }] })),
    ];
    for (published, list) in lists {
        let d = dir(base, published);
        crate::paths::create_dir(&d, 0o700)?;
        berth_kernel::fs::atomic_write(&d.join(FILE), list.to_string().as_bytes())?;
        // What an older berth wrote there would come first by name.
        for old in std::fs::read_dir(&d)?.flatten().filter(|e| e.file_name() != FILE) {
            let _ = std::fs::remove_file(old.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_published_config_maps_ports() {
        let base = std::env::temp_dir().join(format!("berth-conflist-{}", std::process::id()));
        std::fs::create_dir_all(base.join("conf")).unwrap();
        std::fs::write(base.join("conf/10-bridge.conflist"), "{}").unwrap();
        super::write(&base, "n", serde_json::json!({ "type": "bridge", "ipMasq": false })).unwrap();
        let read = |p: bool| -> serde_json::Value { serde_json::from_slice(&std::fs::read(super::dir(&base, p).join(super::FILE)).unwrap()).unwrap() };
        let types = |v: serde_json::Value| v["plugins"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(types(read(false)), ["bridge"]);
        assert_eq!(types(read(true)), ["bridge", "portmap"]);
        assert!(!base.join("conf/10-bridge.conflist").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
