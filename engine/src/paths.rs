//! Every path berth uses, in one place, and the validation that an id or
//! name is safe before it becomes part of a path (no `/`, `..` or NUL).
//!
//! Durable state lives under the root dir (`/var/lib/berth`): records,
//! layers, container upper dirs and logs. Volatile state lives under the
//! state dir (`/run/berth`): the API socket and each container's bundle
//! (OCI spec, shim socket, exit record).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Longest container name accepted: room for the CRI front's
/// `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` at its limits
/// (253 + 253 + 63 + 64 + 10 and the separators, 652).
pub const MAX_NAME: usize = 1024;

/// The directory layout of one engine instance.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub state: PathBuf,
}

/// Checks a container id: 64 lowercase hex digits.
pub fn check_id(id: &str) -> Result<()> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid container id {id:?}")))
    }
}

/// Checks a container name as Docker does: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most {MAX_NAME} characters")))
    }
}

/// Checks a sha256 hex digest (of an image or layer).
pub fn check_digest_hex(hex: &str) -> Result<()> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid digest {hex:?}")))
    }
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>, state: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), state: state.into() }
    }

    pub fn socket(&self) -> PathBuf {
        self.state.join("berth.sock")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    pub fn image_record(&self, hex: &str) -> Result<PathBuf> {
        check_digest_hex(hex)?;
        Ok(self.images().join(format!("{hex}.json")))
    }
    /// The content store: blobs by digest (manifests, configs, layer blobs).
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
    pub fn blob(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| Error::invalid(format!("invalid digest {digest:?}")))?;
        check_digest_hex(hex)?;
        Ok(self.blobs().join(hex))
    }
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub fn layer(&self, hex: &str) -> Result<PathBuf> {
        check_digest_hex(hex)?;
        Ok(self.layers().join(hex))
    }
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    /// Durable per-container dir: record, upper/work dirs, log.
    pub fn container(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.containers().join(id))
    }
    pub fn container_record(&self, id: &str) -> Result<PathBuf> {
        Ok(self.container(id)?.join("container.json"))
    }
    /// Volatile per-container dir: the shim's bundle.
    pub fn bundle(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.state.join("containers").join(id))
    }
    pub fn bundles(&self) -> PathBuf {
        self.state.join("containers")
    }
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }
    /// Durable per-volume dir: the record, and the data in `_data`.
    pub fn volume(&self, name: &str) -> Result<PathBuf> {
        crate::model::volume::check_volume_name(name)?;
        Ok(self.volumes().join(name))
    }
    pub fn sandboxes(&self) -> PathBuf {
        self.root.join("sandboxes")
    }
    /// Durable per-sandbox dir: the record.
    pub fn sandbox(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.sandboxes().join(id))
    }
    pub fn sandbox_states(&self) -> PathBuf {
        self.state.join("sandboxes")
    }
    /// berth's default bridge: its CNI config (written at every start) and
    /// its address allocations (volatile, like the namespaces they are in).
    pub fn bridge_network(&self) -> PathBuf {
        self.state.join("bridge-network")
    }
    pub fn networks(&self) -> PathBuf {
        self.root.join("networks")
    }
    /// Durable per-network dir: the record.
    pub fn network(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.networks().join(id))
    }
    /// Volatile per-network dir: its CNI config (written at every start) and
    /// address allocations (volatile, like the namespaces they are in).
    pub fn network_state(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.state.join("networks").join(id))
    }
    /// Volatile per-sandbox dir: pinned namespaces, hosts, hostname, resolv.conf.
    pub fn sandbox_state(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.sandbox_states().join(id))
    }
}

/// Creates a directory (and parents) with the given mode.
pub fn create_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(mode).create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_checked() {
        assert!(check_id(&"a".repeat(64)).is_ok());
        for bad in ["../x", "a/b", "", "ABC", &"a".repeat(63), "x\0y"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("web-1.a_b").is_ok());
        for bad in ["../x", "a/b", "", "-x", ".x", "a\0b", &"a".repeat(MAX_NAME + 1)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let p = Paths::new("/r", "/s");
        assert!(p.container("../../etc").is_err());
        assert!(p.layer("../x").is_err());
    }
}
