//! A new image from a base (or none: `FROM scratch`) and layers already
//! stored: its config (the base's, with a new `config`, `rootfs` and
//! history appended), an OCI manifest of the base's layer blobs and the
//! new ones, stored with its tags. `docker commit` and builds make their
//! images here.

use super::record::{ImageConfig, ImageRecord};
use super::reference::Reference;
use super::{content, ImageStore};
use crate::error::{Error, Result};
use berth_kernel::layer::Compression;
use berth_proto::time::rfc3339_nanos as rfc3339;
use berth_registry::manifest as mt;
use serde::Serialize;
use std::time::SystemTime;

/// A stored layer to add (a committed snapshot's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLayer {
    pub diff_id: String,
    pub blob_digest: String,
    pub blob_size: u64,
    pub compression: Option<Compression>,
}

/// One history entry to append.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewHistory {
    /// When the step made its result (unix nanos); `None`: the image's time.
    #[serde(skip)]
    pub created: Option<i64>,
    pub created_by: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// What the new image is made of.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub base: Option<ImageRecord>,
    pub layers: Vec<NewLayer>,
    pub config: ImageConfig,
    pub history: Vec<NewHistory>,
    pub created: SystemTime,
    pub author: String,
    /// The container it was committed from.
    pub container: String,
    pub tags: Vec<Reference>,
}

#[derive(Serialize)]
struct HistoryOut<'a> {
    created: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    author: &'a str,
    #[serde(flatten)]
    entry: &'a NewHistory,
}

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
    /// Stores the new image and tags it.
    pub fn assemble(&self, new: NewImage) -> Result<ImageRecord> {
        let now = berth_proto::time::rfc3339_nanos(new.created);
        let (mut cfg, mut layers, mut all_layers, base_size) = match &new.base {
            Some(base) => {
                let stored = content::image_manifest(&self.paths, base, &base.id)?;
                let cfg: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&base.config_json)
                        .map_err(|e| Error::BadContent(format!("the image's config: {e}")))?;
                let layers: Vec<(Option<Compression>, String, u64)> = stored
                    .manifest
                    .layers
                    .iter()
                    .map(|d| (compression_of(&d.media_type), d.digest.clone(), d.size))
                    .collect();
                (cfg, layers, base.layers.clone(), base.size)
            }
            None => {
                let host = berth_registry::manifest::Platform::host();
                let mut cfg = serde_json::Map::new();
                cfg.insert("architecture".into(), host.architecture.into());
                cfg.insert("os".into(), host.os.into());
                if let Some(v) = host.variant {
                    cfg.insert("variant".into(), v.into());
                }
                (cfg, Vec::new(), Vec::new(), 0)
            }
        };
        cfg.insert("created".into(), now.clone().into());
        cfg.insert("config".into(), encode(&new.config)?);
        if !new.container.is_empty() {
            cfg.insert("container".into(), new.container.clone().into());
        }
        if !new.author.is_empty() {
            cfg.insert("author".into(), new.author.clone().into());
        }
        let mut history = match cfg.remove("history") {
            Some(serde_json::Value::Array(h)) => h,
            _ => Vec::new(),
        };
        for h in &new.history {
            let created = h.created.map(|n| rfc3339(berth_proto::time::from_unix_nanos(n)));
            let created = created.as_deref().unwrap_or(&now);
            history.push(encode(&HistoryOut { created, author: &new.author, entry: h })?);
        }
        cfg.insert("history".into(), history.into());
        all_layers.extend(new.layers.iter().map(|l| l.diff_id.clone()));
        #[derive(Serialize)]
        struct RootFs<'a> {
            r#type: &'static str,
            diff_ids: &'a [String],
        }
        cfg.insert("rootfs".into(), encode(&RootFs { r#type: "layers", diff_ids: &all_layers })?);
        let config_json = serde_json::Value::Object(cfg).to_string();

        let id = berth_registry::digest::of(config_json.as_bytes());
        layers.extend(new.layers.iter().map(|l| {
            (l.compression.filter(|c| *c != Compression::None), l.blob_digest.clone(), l.blob_size)
        }));
        let manifest = super::import::oci_manifest(&id, config_json.len() as u64, &layers);
        let manifest_digest = berth_registry::digest::of(manifest.as_bytes());
        content::put(&self.paths, &id, config_json.as_bytes())?;
        content::put(&self.paths, &manifest_digest, manifest.as_bytes())?;
        let mut blobs = vec![manifest_digest.clone(), id.clone()];
        blobs.extend(layers.iter().map(|l| l.1.clone()));
        let rec = ImageRecord {
            id,
            repo_tags: new.tags.iter().map(|r| r.canonical()).collect(),
            repo_digests: Vec::new(),
            manifest: Some(manifest_digest),
            manifest_media_type: Some(mt::OCI_MANIFEST.into()),
            blobs,
            layers: all_layers,
            config: new.config,
            created_unix_nanos: berth_proto::time::unix_nanos(new.created),
            size: base_size + new.layers.iter().map(|l| l.blob_size).sum::<u64>(),
            config_json,
        };
        self.add(rec)
    }
}

fn encode(v: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::system("encode the image config", e))
}
