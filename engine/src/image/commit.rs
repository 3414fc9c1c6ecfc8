//! `docker commit`: a container's upper dir becomes one more layer over
//! its image's (`snapshot::diff`: stored, hashed and extracted in one
//! pass, as a pull's layers are). The image gets a config (the
//! base's, with the container's settings, the request's and `--change`s),
//! an OCI manifest of the base's layer blobs and the new one, and its tag.

use super::changes;
use super::record::{ImageConfig, ImageRecord};
use super::reference::Reference;
use super::{content, ImageStore};
use crate::error::{Error, Result};
use berth_kernel::layer::Compression;
use berth_registry::manifest as mt;
use std::path::PathBuf;
use std::time::SystemTime;

/// What the new image is.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]`; empty: an untagged image.
    pub reference: String,
    pub comment: String,
    pub author: String,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
}

/// What the container brings: its settings and where its changes are.
pub(crate) struct CommitSource {
    pub config: ImageConfig,
    pub upper: PathBuf,
    /// The history line: the container's command.
    pub created_by: String,
    pub container: String,
    /// Container paths the runtime made (mount points), left out while empty.
    pub runtime_paths: &'static [&'static str],
}

/// Paths berth's shim makes in every container as mount points.
pub(crate) const MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

fn compression_of(media_type: &str) -> Option<Compression> {
    if media_type.contains("gzip") {
        Some(Compression::Gzip)
    } else if media_type.contains("zstd") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

impl ImageStore {
    /// Checks the request before any layer is written.
    pub fn check_commit(
        &self,
        req: &CommitRequest,
        config: &mut ImageConfig,
    ) -> Result<Option<Reference>> {
        let reference = match req.reference.as_str() {
            "" => None,
            r => {
                let r = Reference::parse(r)?;
                if r.digest.is_some() {
                    return Err(Error::InvalidArgument(
                        "commit: a reference with a digest can't be a tag".into(),
                    ));
                }
                Some(r.with_default_tag())
            }
        };
        for c in &req.changes {
            changes::apply(config, c)?;
        }
        Ok(reference)
    }

    /// Writes the new layer and stores the image.
    pub(crate) async fn commit(
        &self,
        base: &ImageRecord,
        req: CommitRequest,
        mut src: CommitSource,
    ) -> Result<ImageRecord> {
        let reference = self.check_commit(&req, &mut src.config)?;
        let stored = content::image_manifest(&self.paths, base, &base.id)?;
        let layer =
            crate::snapshot::diff::layer_of(&self.paths, src.upper.clone(), src.runtime_paths)
                .await?;

        let created = SystemTime::now();
        let now = berth_proto::time::rfc3339_nanos(created);
        let mut cfg: serde_json::Value = serde_json::from_str(&base.config_json)
            .map_err(|e| Error::BadContent(format!("the image's config: {e}")))?;
        cfg["created"] = now.clone().into();
        cfg["config"] = serde_json::to_value(&src.config)
            .map_err(|e| Error::system("encode the image config", e))?;
        cfg["container"] = src.container.clone().into();
        if !req.author.is_empty() {
            cfg["author"] = req.author.clone().into();
        }
        let mut diff_ids: Vec<serde_json::Value> =
            cfg["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
        diff_ids.push(layer.diff_id.clone().into());
        cfg["rootfs"] = serde_json::json!({ "type": "layers", "diff_ids": diff_ids });
        let mut history: Vec<serde_json::Value> =
            cfg["history"].as_array().cloned().unwrap_or_default();
        let mut entry = serde_json::json!({ "created": now, "created_by": src.created_by, "comment": req.comment });
        if !req.author.is_empty() {
            entry["author"] = req.author.clone().into();
        }
        history.push(entry);
        cfg["history"] = history.into();
        let config_json = cfg.to_string();

        let id = berth_registry::digest::of(config_json.as_bytes());
        let mut layers: Vec<(Option<Compression>, String, u64)> = stored
            .manifest
            .layers
            .iter()
            .map(|d| (compression_of(&d.media_type), d.digest.clone(), d.size))
            .collect();
        layers.push((
            layer.compression.filter(|c| *c != Compression::None),
            layer.blob_digest.clone(),
            layer.blob_size,
        ));
        let manifest = super::import::oci_manifest(&id, config_json.len() as u64, &layers);
        let manifest_digest = berth_registry::digest::of(manifest.as_bytes());
        content::put(&self.paths, &id, config_json.as_bytes())?;
        content::put(&self.paths, &manifest_digest, manifest.as_bytes())?;
        let mut blobs = vec![manifest_digest.clone(), id.clone()];
        blobs.extend(layers.iter().map(|l| l.1.clone()));
        let mut all_layers = base.layers.clone();
        all_layers.push(layer.diff_id);
        let mut rec = ImageRecord {
            id,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            manifest: Some(manifest_digest),
            manifest_media_type: Some(mt::OCI_MANIFEST.into()),
            blobs,
            layers: all_layers,
            config: src.config,
            created_unix_nanos: berth_proto::time::unix_nanos(created),
            size: base.size + layer.blob_size,
            config_json,
        };
        if let Some(r) = reference {
            rec.repo_tags.push(r.canonical());
        }
        self.add(rec)
    }
}
