//! `berth save`: images as one tar archive in both layouts at once, as
//! Docker (25 and later) writes them: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`) plus Docker's `manifest.json`, whose
//! paths point at the same blobs. Docker, podman, skopeo, containerd and
//! berth's own `load` read it. Blobs are streamed from the content store as
//! they are stored (compressed layers stay compressed).

use super::reference::{familiar, Reference};
use super::ImageStore;
use crate::error::{Error, IoContext, Result};
use berth_registry::manifest::{Descriptor, OCI_INDEX};
use std::collections::BTreeMap;
use std::io::Write;
use tokio::sync::mpsc;

/// Containerd's annotation for an image's full name in an index.
pub(crate) const IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a reference's tag in a layout.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What `save` will write, checked before the first byte goes out.
#[derive(Debug)]
pub struct SavePlan {
    images: Vec<Saved>,
}

#[derive(Debug)]
struct Saved {
    id: String,
    /// Canonical tags asked for (none when named by id).
    tags: Vec<String>,
    manifest: Descriptor,
    /// Config, then layers.
    blobs: Vec<Descriptor>,
}

impl ImageStore {
    /// Resolves every name and checks the store holds each image's blobs.
    pub fn plan_save(&self, names: &[String]) -> Result<SavePlan> {
        if names.is_empty() {
            return Err(Error::invalid("save: name at least one image"));
        }
        let mut images: Vec<Saved> = Vec::new();
        for name in names {
            let image = self.resolve(name)?;
            let tag = Reference::parse(name)
                .ok()
                .map(|r| r.with_default_tag().canonical())
                .filter(|t| image.repo_tags.contains(t));
            if let Some(s) = images.iter_mut().find(|s| s.id == image.id) {
                s.tags.extend(tag.filter(|t| !s.tags.contains(t)));
                continue;
            }
            let stored = super::content::image_manifest(&self.paths, &image, name)?;
            let m = stored.manifest;
            let blobs: Vec<Descriptor> = std::iter::once(m.config).chain(m.layers).collect();
            for b in &blobs {
                let p = self.paths.blob(&b.digest)?;
                if !p.exists() {
                    return Err(Error::FailedPrecondition(format!(
                        "{name}: blob {} is not in the content store; pull the image again",
                        b.digest
                    )));
                }
            }
            let manifest = Descriptor {
                media_type: stored.media_type,
                digest: stored.digest,
                size: stored.bytes.len() as u64,
                platform: None,
                annotations: BTreeMap::new(),
            };
            images.push(Saved { id: image.id, tags: tag.into_iter().collect(), manifest, blobs });
        }
        Ok(SavePlan { images })
    }

    /// Writes the archive to `tx` in chunks (blocking: run it off the runtime).
    pub fn save(&self, plan: &SavePlan, tx: mpsc::Sender<Vec<u8>>) -> Result<()> {
        let mut out = tar::Builder::new(std::io::BufWriter::with_capacity(
            256 * 1024,
            crate::bridge::ChannelWriter::new(tx),
        ));
        let broken = |e: std::io::Error| Error::Io { context: "write archive".into(), source: e };
        let dir = |b: &mut tar::Builder<_>, path: &str| -> Result<()> {
            let mut h = header(tar::EntryType::Directory, 0);
            h.set_mode(0o755);
            b.append_data(&mut h, path, std::io::empty()).map_err(broken)
        };
        dir(&mut out, "blobs/")?;
        dir(&mut out, "blobs/sha256/")?;
        let mut written = std::collections::HashSet::new();
        for s in &plan.images {
            for d in std::iter::once(&s.manifest).chain(&s.blobs) {
                if !written.insert(d.digest.clone()) {
                    continue;
                }
                let path = self.paths.blob(&d.digest)?;
                let file = std::fs::File::open(&path).ctx(|| format!("open {}", path.display()))?;
                let len = file.metadata().ctx(|| format!("stat {}", path.display()))?.len();
                let mut h = header(tar::EntryType::Regular, len);
                out.append_data(&mut h, blob_path(&d.digest), file).map_err(broken)?;
            }
        }
        let file = |b: &mut tar::Builder<_>, path: &str, data: Vec<u8>| -> Result<()> {
            let mut h = header(tar::EntryType::Regular, data.len() as u64);
            b.append_data(&mut h, path, data.as_slice()).map_err(broken)
        };
        file(&mut out, "index.json", index_json(plan))?;
        file(&mut out, "manifest.json", docker_manifest_json(plan))?;
        file(&mut out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())?;
        let mut inner = out.into_inner().map_err(broken)?;
        inner.flush().map_err(broken)
    }
}

/// `blobs/sha256/<hex>` for a digest.
pub(crate) fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h
}

/// One entry per tag (one bare entry for an image saved by id).
fn index_json(plan: &SavePlan) -> Vec<u8> {
    let mut manifests = Vec::new();
    for s in &plan.images {
        if s.tags.is_empty() {
            manifests.push(s.manifest.clone());
        }
        for t in &s.tags {
            let mut d = s.manifest.clone();
            d.annotations.insert(IMAGE_NAME.into(), t.clone());
            if let Ok(r) = Reference::parse(t) {
                d.annotations.insert(REF_NAME.into(), r.tag.unwrap_or_else(|| "latest".into()));
            }
            manifests.push(d);
        }
    }
    serde_json::to_vec(
        &serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests }),
    )
    .unwrap_or_default()
}

fn docker_manifest_json(plan: &SavePlan) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = plan
        .images
        .iter()
        .map(|s| {
            let tags: Vec<String> = s.tags.iter().map(|t| familiar(t)).collect();
            serde_json::json!({
                "Config": blob_path(&s.blobs[0].digest),
                "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(tags) },
                "Layers": s.blobs[1..].iter().map(|d| blob_path(&d.digest)).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_vec(&entries).unwrap_or_default()
}
