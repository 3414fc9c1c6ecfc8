//! A volume as berth records it (Docker's local driver): a directory of
//! berth's own under the root, never a path a client or an image names.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The persisted record (`volumes/<name>/volume.json`; data in `_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: i64,
    /// Made for one container (`-v /path`, an image's `VOLUME`): its removal
    /// with `rm -v` or `--rm` takes the volume too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
    /// The local driver's options as given (`type`, `device`, `o`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Where the data is when the options say it is elsewhere than `_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

/// What the local driver's options make of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum VolumeSource {
    /// `type=none o=bind device=/path`: a directory of the node.
    Bind { device: PathBuf },
    /// `type=tmpfs [o=size=64m,…]`: a tmpfs in each container that mounts
    /// it (dockerd mounts one on the node that concurrent users share).
    Tmpfs { options: Vec<String> },
}

impl VolumeSource {
    /// Reads the local driver's options with dockerd's refusals; `None`
    /// for none (a plain volume).
    pub fn from_options(opts: &BTreeMap<String, String>) -> Result<Option<Self>> {
        if let Some(k) =
            opts.keys().find(|k| !["type", "device", "o", "size"].contains(&k.as_str()))
        {
            return Err(Error::invalid_field("mounts", format!("invalid option key: {k:?}")));
        }
        if opts.is_empty() {
            return Ok(None);
        }
        let o: Vec<String> = opts
            .get("o")
            .map(|o| o.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let device = opts.get("device").map(String::as_str).unwrap_or_default();
        match opts.get("type").map(String::as_str).unwrap_or_default() {
            "none" | "" if o.iter().any(|x| x == "bind" || x == "rbind") => {
                if !device.starts_with('/') {
                    return Err(Error::invalid_field("mounts", format!("invalid volume device {device:?}: a bind volume's device is an absolute path of the node")));
                }
                Ok(Some(VolumeSource::Bind { device: PathBuf::from(device) }))
            }
            "none" | "" => Err(Error::invalid_field("mounts", "missing required option: o=bind for a volume of type none")),
            "tmpfs" => {
                let mut options: Vec<String> = o;
                if let Some(s) = opts.get("size") {
                    options.push(format!("size={s}"));
                }
                Ok(Some(VolumeSource::Tmpfs { options }))
            }
            t => Err(Error::invalid_field("mounts", format!("volume type {t:?} is not supported by berth yet (none with o=bind, and tmpfs, are)"))),
        }
    }
}

impl crate::store::Record for VolumeRecord {
    const KIND: &'static str = "volume";
    const SCHEMA: u32 = 1;
}

/// A container's use of a volume, fixed at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUse {
    pub name: String,
    pub container_path: PathBuf,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// What a create asks of a volume: a name (made if missing) or none (an
/// anonymous one), where, and whether an empty volume first takes the
/// image's content there (Docker's copy-up; `nocopy` says no).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeRequest {
    pub name: Option<String>,
    pub container_path: PathBuf,
    pub readonly: bool,
    pub copy_up: bool,
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_volume_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name.len() <= crate::paths::MAX_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field("mounts", format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// A tmpfs mounted in the container (`--tmpfs`, `--mount type=tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsMount {
    pub container_path: PathBuf,
    /// Mount options (`size=64m`, `mode=1777`, `ro`, ...), checked at create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn volume_names_as_docker_allows_them() {
        for ok in ["data", "my_vol-1.x", "a1"] {
            super::check_volume_name(ok).unwrap();
        }
        for bad in ["a", "-x", "../etc", "a/b", "", "x y"] {
            assert!(super::check_volume_name(bad).is_err(), "{bad}");
        }
    }
}
