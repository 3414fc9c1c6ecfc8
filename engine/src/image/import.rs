//! `berth import`: a rootfs tarball becomes a one-layer image.
//!
//! The tarball streams from the client straight into the rooted extractor
//! (one pass: decompress, hash, write). The layer is unpacked into a temp
//! dir and renamed into place only when complete, so a crash leaves no
//! half layer behind.

use super::changes;
use super::record::{ImageConfig, ImageRecord};
use super::reference::Reference;
use super::ImageStore;
use crate::error::{Error, IoContext, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
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

/// Reads chunks handed over from async code (the blocking side of a channel).
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl ImageStore {
    /// Validates the request before any data is read.
    pub fn check_import(&self, req: &ImportRequest) -> Result<(Option<Reference>, ImageConfig)> {
        let reference = if req.reference.is_empty() {
            None
        } else {
            let r = Reference::parse(&req.reference)?;
            if r.digest.is_some() {
                return Err(Error::InvalidArgument("import: a reference with a digest can't be a tag".into()));
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
    pub async fn import(&self, req: ImportRequest, data: mpsc::Receiver<Vec<u8>>) -> Result<ImageRecord> {
        let (reference, config) = self.check_import(&req)?;
        let paths = self.paths.clone();
        let reader = ChannelReader { rx: data, cur: Vec::new(), pos: 0 };
        let (diff_id, size) = tokio::task::spawn_blocking(move || unpack(&paths, reader))
            .await
            .map_err(|e| Error::Internal(format!("import task: {e}")))??;
        let created = SystemTime::now();
        let mut config = config;
        if config.env.is_none() {
            config.env = Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]);
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
        let id = format!("sha256:{}", hex::encode(Sha256::digest(config_json.as_bytes())));
        let mut rec = ImageRecord {
            id: id.clone(),
            repo_tags: Vec::new(),
            layers: vec![diff_id],
            config,
            created_unix_nanos: berth_proto::time::unix_nanos(created),
            size,
            config_json,
        };
        if let Some(r) = reference {
            rec.repo_tags.push(r.canonical());
        }
        self.add(rec)
    }

    /// Stores a record and moves its tags over from any other image.
    fn add(&self, rec: ImageRecord) -> Result<ImageRecord> {
        let mut images = self.images.write().unwrap();
        let mut changed = Vec::new();
        for other in images.values_mut().filter(|o| o.id != rec.id) {
            let before = other.repo_tags.len();
            other.repo_tags.retain(|t| !rec.repo_tags.contains(t));
            if other.repo_tags.len() != before {
                changed.push(other.clone());
            }
        }
        let merged = match images.get(&rec.id) {
            Some(existing) => {
                let mut m = existing.clone();
                for t in &rec.repo_tags {
                    if !m.repo_tags.contains(t) {
                        m.repo_tags.push(t.clone());
                    }
                }
                m
            }
            None => rec,
        };
        self.persist(&merged)?;
        for c in &changed {
            self.persist(c)?;
        }
        images.insert(merged.id.clone(), merged.clone());
        for c in changed {
            images.insert(c.id.clone(), c);
        }
        Ok(merged)
    }
}

/// Extracts into a temp dir, then renames it to its diff id.
fn unpack(paths: &crate::paths::Paths, reader: impl Read) -> Result<(String, u64)> {
    let tmp = paths.tmp().join(format!("layer-{}", hex::encode(rand::random::<[u8; 8]>())));
    crate::paths::create_dir(&tmp, 0o755).ctx(|| format!("create {}", tmp.display()))?;
    let result = berth_kernel::layer::extract(reader, &tmp);
    let info = match result {
        Ok(i) => i,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(match e {
                berth_kernel::layer::LayerError::Io(io) => Error::Io { context: "import".into(), source: io },
                other => Error::InvalidArgument(format!("import: {other}")),
            });
        }
    };
    let hex = info.diff_id.trim_start_matches("sha256:").to_owned();
    let dest = paths.layer(&hex)?;
    if dest.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        std::fs::rename(&tmp, &dest).ctx(|| format!("rename layer into {}", dest.display()))?;
    }
    Ok((info.diff_id, info.size))
}
