//! The image store: image records (`images/<hex>.json`) over layers
//! unpacked once into `layers/<hex>/` and shared by every image and
//! container that uses them (as overlay lower dirs).

mod changes;
mod import;
pub mod record;
pub mod reference;
mod remove;

pub use import::ImportRequest;
pub use record::{ImageConfig, ImageRecord};
pub use remove::RemoveOutcome;

use crate::error::{Error, IoContext, Result};
use crate::paths::Paths;
use reference::Reference;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// Images by id, with their tags.
pub struct ImageStore {
    paths: Paths,
    images: RwLock<HashMap<String, ImageRecord>>,
}

impl ImageStore {
    /// Loads every record; half-written imports (temp dirs) are removed.
    pub fn open(paths: &Paths) -> Result<Self> {
        for d in [paths.images(), paths.layers(), paths.tmp()] {
            crate::paths::create_dir(&d, 0o700).ctx(|| format!("create {}", d.display()))?;
        }
        let _ = std::fs::remove_dir_all(paths.tmp());
        crate::paths::create_dir(&paths.tmp(), 0o700).ctx(|| "create tmp dir".into())?;
        let mut images = HashMap::new();
        for entry in std::fs::read_dir(paths.images()).ctx(|| "read images dir".into())? {
            let path = entry.ctx(|| "read images dir".into())?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice::<ImageRecord>(&b).map_err(|e| e.to_string())) {
                Ok(r) => {
                    images.insert(r.id.clone(), r);
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "skipping unreadable image record"),
            }
        }
        Ok(Self { paths: paths.clone(), images: RwLock::new(images) })
    }

    /// Finds an image by reference, full id (`sha256:...` or hex) or unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let images = self.images.read().unwrap();
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&ImageRecord> = images.values().filter(|r| r.hex().starts_with(hex)).collect();
            if hits.len() == 1 {
                return Ok(hits[0].clone());
            }
        }
        if let Ok(r) = Reference::parse(name) {
            let want = r.with_default_tag().canonical();
            if let Some(img) = images.values().find(|i| i.repo_tags.contains(&want)) {
                return Ok(img.clone());
            }
        }
        Err(Error::NotFound(format!("No such image: {name}")))
    }

    pub fn list(&self) -> Vec<ImageRecord> {
        let mut v: Vec<ImageRecord> = self.images.read().unwrap().values().cloned().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.created_unix_nanos));
        v
    }

    /// Overlay lower dirs for an image, topmost first.
    pub fn lower_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        image.layers.iter().rev().map(|d| self.paths.layer(d.strip_prefix("sha256:").unwrap_or(d))).collect()
    }

    fn persist(&self, rec: &ImageRecord) -> Result<()> {
        let path = self.paths.image_record(rec.hex())?;
        let data = serde_json::to_vec_pretty(rec).map_err(|e| Error::Internal(e.to_string()))?;
        berth_kernel::fs::atomic_write(&path, &data).ctx(|| format!("write {}", path.display()))
    }
}
