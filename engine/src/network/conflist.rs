//! The CNI config of a Docker network (the default bridge, a user-defined
//! one): the bridge plugin alone. Published ports are berth's own rules
//! ([`super::publish`]), outbound NAT one rule per network
//! ([`super::masquerade`]): the portmap plugin and the bridge plugin's
//! `ipMasq` would be ~20 and ~10 iptables runs at each start and exit. A
//! DEL replays what the ADD cached, so a config rewritten in between (or an
//! older berth's, with those plugins) changes nothing for it.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const FILE: &str = "10-network.conflist";

/// The dir of the network's config, under its state dir `base`.
pub(crate) fn dir(base: &Path) -> PathBuf {
    base.join("conf")
}

/// Writes the config of network `name` under `base`; `bridge` is its
/// bridge plugin's config.
pub(crate) fn write(base: &Path, name: &str, bridge: Value) -> std::io::Result<()> {
    let d = dir(base);
    crate::paths::create_dir(&d, 0o700)?;
    let list = json!({ "cniVersion": "1.0.0", "name": name, "plugins": [bridge] });
    berth_kernel::fs::atomic_write(&d.join(FILE), list.to_string().as_bytes())?;
    // What an older berth wrote there would come first by name.
    for old in std::fs::read_dir(&d)?.flatten().filter(|e| e.file_name() != FILE) {
        let _ = std::fs::remove_file(old.path());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_is_the_bridge_alone_and_replaces_older_ones() {
        let base = std::env::temp_dir().join(format!("berth-conflist-{}", std::process::id()));
        std::fs::create_dir_all(base.join("conf")).unwrap();
        std::fs::write(base.join("conf/10-bridge.conflist"), "{}").unwrap();
        super::write(&base, "n", serde_json::json!({ "type": "bridge", "ipMasq": false })).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(super::dir(&base).join(super::FILE)).unwrap())
                .unwrap();
        assert_eq!(
            v["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["type"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["bridge"]
        );
        assert!(!base.join("conf/10-bridge.conflist").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
