//! Network config lists: loaded from the config dir, first valid file by name.

use crate::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A network config list (a `.conf` becomes a list of one).
#[derive(Debug, Clone)]
pub struct NetworkList {
    pub name: String,
    pub cni_version: String,
    pub disable_check: bool,
    pub plugins: Vec<Value>,
    /// The list as loaded (what the cache keeps).
    pub raw: Value,
    pub path: PathBuf,
}

/// `1.1.0` → (1, 1, 0); unknown parts are 0.
pub fn version(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0))
}

impl NetworkList {
    pub fn supports_status(&self) -> bool {
        version(&self.cni_version) >= (1, 1, 0)
    }
    pub fn supports_check(&self) -> bool {
        version(&self.cni_version) >= (0, 4, 0)
    }
}

/// A plugin type names a binary in the plugin dirs, nothing else.
pub fn valid_type(t: &str) -> bool {
    !t.is_empty()
        && t != "."
        && t != ".."
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Parses a list (or a single-plugin `.conf`) from JSON.
pub fn from_value(mut v: Value, path: &Path) -> Result<NetworkList> {
    let bad = |msg: &str| Error::BadConfig { path: path.to_owned(), msg: msg.to_owned() };
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    if !obj.contains_key("plugins") {
        // A single plugin: wrap it.
        let mut single = obj.clone();
        let name = single.remove("name");
        let ver = single.remove("cniVersion");
        let mut list = serde_json::Map::new();
        list.insert("name".into(), name.unwrap_or(Value::Null));
        list.insert("cniVersion".into(), ver.unwrap_or(Value::Null));
        list.insert("plugins".into(), Value::Array(vec![Value::Object(single)]));
        v = Value::Object(list);
    }
    let name =
        v["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| bad("missing name"))?.to_owned();
    let cni_version = v["cniVersion"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("missing cniVersion"))?
        .to_owned();
    let plugins = v["plugins"]
        .as_array()
        .cloned()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("no plugins"))?;
    for p in &plugins {
        let t = p["type"].as_str().unwrap_or("");
        if !valid_type(t) {
            return Err(bad(&format!("invalid plugin type {t:?}")));
        }
    }
    Ok(NetworkList {
        name,
        cni_version,
        disable_check: v["disableCheck"].as_bool().unwrap_or(false),
        plugins,
        raw: v,
        path: path.to_owned(),
    })
}

/// The first valid config in `dir`, by file name (as libcni picks it).
pub fn load(dir: &Path) -> Result<NetworkList> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                matches!(p.extension().and_then(|e| e.to_str()), Some("conflist" | "conf" | "json"))
            })
            .collect(),
        Err(_) => return Err(Error::NoConfig(dir.to_owned())),
    };
    files.sort();
    for f in files {
        let parsed = std::fs::read(&f)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .ok_or_else(|| Error::BadConfig { path: f.clone(), msg: "unreadable JSON".into() });
        match parsed.and_then(|v| from_value(v, &f)) {
            Ok(list) => return Ok(list),
            Err(e) => tracing::warn!(error = %e, "skipping CNI config"),
        }
    }
    Err(Error::NoConfig(dir.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_valid_file_wins_and_conf_is_wrapped() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(load(d.path()), Err(Error::NoConfig(_))));
        std::fs::write(d.path().join("05-broken.conflist"), "{").unwrap();
        std::fs::write(
            d.path().join("10-single.conf"),
            json!({"cniVersion": "0.4.0", "name": "one", "type": "bridge", "bridge": "b0"})
                .to_string(),
        )
        .unwrap();
        std::fs::write(
            d.path().join("20-list.conflist"),
            json!({"cniVersion": "1.0.0", "name": "two", "plugins": [{"type": "loopback"}]})
                .to_string(),
        )
        .unwrap();
        let n = load(d.path()).unwrap();
        assert_eq!((n.name.as_str(), n.cni_version.as_str(), n.plugins.len()), ("one", "0.4.0", 1));
        assert_eq!(n.plugins[0]["bridge"], "b0");
        assert!(n.supports_check() && !n.supports_status());
    }

    #[test]
    fn plugin_types_cannot_name_paths() {
        for t in ["../../bin/sh", "/bin/sh", "", ".."] {
            let v = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": t}]});
            assert!(from_value(v, Path::new("x")).is_err(), "{t}");
        }
    }
}
