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
        Err(Error::InvalidArgument(format!(
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
