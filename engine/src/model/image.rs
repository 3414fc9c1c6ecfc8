//! The persisted image record and the part of the OCI image config berth
//! applies to containers. Image config is data, never instructions: nothing
//! in it can name a host path (a `VOLUME` is a container path that gets an
//! anonymous volume of berth's own).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The OCI/Docker image config's `config` object (the fields berth uses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<super::health::HealthConfig>,
    /// `VOLUME`: container paths that get an anonymous volume each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `SHELL`: what runs shell forms in builds from this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// `ONBUILD`: instructions a build `FROM` this image runs first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
}

impl crate::store::Record for ImageRecord {
    const KIND: &'static str = "image";
    /// 0: before schemas; 1: the same shape, with `schema`.
    const SCHEMA: u32 = 1;
}

/// An image as the store keeps it (`images/<hex>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the image config JSON.
    pub id: String,
    /// Canonical references (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `repository@digest` of the manifest (or index) each pull resolved.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Digest of the image manifest in the content store.
    #[serde(default)]
    pub manifest: Option<String>,
    /// Media type of that manifest.
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    /// Every content-store blob the image holds on to (indexes, manifest,
    /// config, layer blobs), for garbage collection.
    #[serde(default)]
    pub blobs: Vec<String>,
    /// Layer diff ids, bottom first.
    pub layers: Vec<String>,
    pub config: ImageConfig,
    pub created_unix_nanos: i64,
    pub size: u64,
    /// The image config JSON exactly as hashed into `id`.
    pub config_json: String,
}

impl ImageRecord {
    pub fn hex(&self) -> &str {
        self.id.strip_prefix("sha256:").unwrap_or(&self.id)
    }
}

/// The parts of an image config file berth reads; the rest is kept verbatim
/// in [`ImageRecord::config_json`].
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ImageConfig>,
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<HistoryItem>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One step of how the image was built.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct HistoryItem {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

impl ConfigFile {
    /// Parses an image config and checks its diff ids.
    pub(crate) fn parse(bytes: &[u8], what: &str) -> crate::error::Result<Self> {
        let cfg: ConfigFile = serde_json::from_slice(bytes)
            .map_err(|e| crate::error::Error::BadContent(format!("image config {what}: {e}")))?;
        for d in &cfg.rootfs.diff_ids {
            berth_registry::digest::check(d)?;
        }
        Ok(cfg)
    }
}
