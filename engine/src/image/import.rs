//! `berth import`: a rootfs tarball becomes a one-layer image.
//!
//! The tarball streams from the client straight into the one-pass unpacker
//! (store the blob, decompress, hash, write), as a pulled layer does. The
//! image gets a real config and OCI manifest in the content store, so it
//! can be pushed and saved like a pulled one.

use super::changes;
use super::record::{ImageConfig, ImageRecord};
use super::reference::Reference;
use super::unpack::{self, Expect};
use super::{content, ImageStore};
use crate::bridge::ChunkReader;
use crate::error::{Error, Result};
use berth_kernel::layer::Compression;
use berth_registry::manifest as mt;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// Empty: an untagged image.
    pub reference: String,
    pub changes: Vec<String>,
    pub message: String,
}

impl ImageStore {
    /// Validates the request before any data is read.
    pub fn check_import(&self, req: &ImportRequest) -> Result<(Option<Reference>, ImageConfig)> {
        let reference = if req.reference.is_empty() {
            None
        } else {
            let r = Reference::parse(&req.reference)?;
            if r.digest.is_some() {
                return Err(Error::invalid("import: a reference with a digest can't be a tag"));
            }
            Some(r.with_default_tag())
        };
        let mut config = ImageConfig::default();
        for c in &req.changes {
            changes::apply(&mut config, c)?;
        }
        Ok((reference, config))
    }

    /// Imports a tarball arriving as chunks on `data`.
    pub async fn import(
        &self,
        req: ImportRequest,
        data: mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    ) -> Result<ImageRecord> {
        let (reference, config) = self.check_import(&req)?;
        let paths = self.paths.clone();
        let expect = Expect { unpack: true, ..Default::default() };
        let layer = tokio::task::spawn_blocking(move || {
            unpack::layer(&paths, ChunkReader::new(data), &expect, |e| {
                unpack::input_error("import", e)
            })
        })
        .await
        .map_err(|e| Error::system("import task", e))??;
        let diff_id = layer.diff_id.clone();
        let created = SystemTime::now();
        let mut config = config;
        if config.env.is_none() {
            config.env = Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]);
        }
        let config_json = serde_json::json!({
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "os": "linux",
            "created": berth_proto::time::rfc3339_nanos(created),
            "config": config,
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
            "history": [{ "created": berth_proto::time::rfc3339_nanos(created), "created_by": "berth import", "comment": req.message }],
        })
        .to_string();
        let id = berth_registry::digest::of(config_json.as_bytes());
        let manifest = oci_manifest(
            &id,
            config_json.len() as u64,
            &[(layer.compression, layer.blob_digest.clone(), layer.blob_size)],
        );
        let manifest_digest = berth_registry::digest::of(manifest.as_bytes());
        content::put(&self.paths, &id, config_json.as_bytes())?;
        content::put(&self.paths, &manifest_digest, manifest.as_bytes())?;
        let mut rec = ImageRecord {
            id: id.clone(),
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            manifest: Some(manifest_digest.clone()),
            manifest_media_type: Some(mt::OCI_MANIFEST.into()),
            blobs: vec![manifest_digest, id.clone(), layer.blob_digest.clone()],
            layers: vec![diff_id],
            config,
            created_unix_nanos: berth_proto::time::unix_nanos(created),
            size: layer.blob_size + config_json.len() as u64,
            config_json,
        };
        if let Some(r) = reference {
            rec.repo_tags.push(r.canonical());
        }
        self.add(rec)
    }
}

/// An OCI manifest for a config and layer blobs (compression, digest, size).
pub(crate) fn oci_manifest(
    config_digest: &str,
    config_size: u64,
    layers: &[(Option<Compression>, String, u64)],
) -> String {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(c, digest, size)| {
            let media = match c {
                Some(Compression::Gzip) => mt::OCI_LAYER_GZIP,
                Some(Compression::Zstd) => mt::OCI_LAYER_ZSTD,
                _ => mt::OCI_LAYER_TAR,
            };
            serde_json::json!({ "mediaType": media, "digest": digest, "size": size })
        })
        .collect();
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": { "mediaType": mt::OCI_CONFIG, "digest": config_digest, "size": config_size },
        "layers": layers,
    })
    .to_string()
}
