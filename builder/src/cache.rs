//! The layer cache: a step's key → the layer it made (or none: a step that
//! changed no file) and when. One small record per key under `<root>/builder/cache`,
//! written atomically, read at start; every layer it names is held by one
//! lease, so no image removal or prune takes it. A key whose layer is gone
//! anyway is a miss.

use berth_engine::image::assemble::NewLayer;
use berth_engine::snapshot::lease::{Lease, LeaseTable};
use berth_kernel::layer::Compression;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    schema: u32,
    layer: Option<StoredLayer>,
    /// When the step ran (unix nanos): its history time whenever it is reused.
    #[serde(default)]
    created: i64,
}

/// A cached step's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub layer: Option<NewLayer>,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLayer {
    diff_id: String,
    blob_digest: String,
    blob_size: u64,
    compression: String,
}

impl From<&NewLayer> for StoredLayer {
    fn from(l: &NewLayer) -> Self {
        let compression = match l.compression {
            Some(Compression::Gzip) => "gzip",
            Some(Compression::Zstd) => "zstd",
            _ => "none",
        };
        Self {
            diff_id: l.diff_id.clone(),
            blob_digest: l.blob_digest.clone(),
            blob_size: l.blob_size,
            compression: compression.into(),
        }
    }
}

impl From<StoredLayer> for NewLayer {
    fn from(l: StoredLayer) -> Self {
        let compression = match l.compression.as_str() {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        };
        Self { diff_id: l.diff_id, blob_digest: l.blob_digest, blob_size: l.blob_size, compression }
    }
}

/// The build cache.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    entries: Mutex<HashMap<String, Hit>>,
    lease: Mutex<Lease>,
}

impl Cache {
    /// Loads the cache kept in `dir`.
    pub fn open(dir: PathBuf, leases: &Arc<LeaseTable>) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut lease = leases.hold([]);
        let mut entries = HashMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = name.strip_suffix(".json") else {
                let _ = std::fs::remove_file(e.path());
                continue;
            };
            let rec: Option<Record> =
                std::fs::read(e.path()).ok().and_then(|b| serde_json::from_slice(&b).ok());
            match rec {
                Some(r) if r.schema == 1 => {
                    let layer = r.layer.map(NewLayer::from);
                    if let Some(l) = &layer {
                        lease.add(l.diff_id.clone());
                        lease.add(l.blob_digest.clone());
                    }
                    entries.insert(key.to_owned(), Hit { layer, created: r.created });
                }
                _ => {
                    tracing::warn!(record = %e.path().display(), "unreadable build cache record skipped")
                }
            }
        }
        Ok(Self { dir, entries: Mutex::new(entries), lease: Mutex::new(lease) })
    }

    /// The step's result if cached and its layer (if any) still `stored`.
    pub fn get(&self, key: &str, stored: impl Fn(&NewLayer) -> bool) -> Option<Hit> {
        let hit = self.entries.lock().unwrap().get(key).cloned()?;
        hit.layer.as_ref().is_none_or(stored).then_some(hit)
    }

    /// Every record: its key and result.
    pub fn entries(&self) -> Vec<(String, Hit)> {
        let mut all: Vec<_> =
            self.entries.lock().unwrap().iter().map(|(k, h)| (k.clone(), h.clone())).collect();
        all.sort_by_key(|(_, h)| std::cmp::Reverse(h.created));
        all
    }

    /// Forgets the records of `keys`; the lease on their layers, for the
    /// image store to release (what no image uses goes).
    pub fn remove(&self, keys: &[String]) -> Lease {
        let mut digests = Vec::new();
        let mut entries = self.entries.lock().unwrap();
        for k in keys {
            if let Some(Hit { layer: Some(l), .. }) = entries.remove(k) {
                digests.extend([l.diff_id, l.blob_digest]);
            }
            let _ = std::fs::remove_file(self.dir.join(format!("{k}.json")));
        }
        self.lease.lock().unwrap().split(&digests)
    }

    /// Records a step's result.
    pub fn put(&self, key: &str, layer: Option<&NewLayer>, created: i64) {
        let rec = Record { schema: 1, layer: layer.map(StoredLayer::from), created };
        let path = self.dir.join(format!("{key}.json"));
        let tmp = self.dir.join(format!(".{key}.tmp"));
        let written = serde_json::to_vec(&rec)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "build cache record not written");
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        if let Some(l) = layer {
            let mut lease = self.lease.lock().unwrap();
            lease.add(l.diff_id.clone());
            lease.add(l.blob_digest.clone());
        }
        self.entries.lock().unwrap().insert(key.to_owned(), Hit { layer: layer.cloned(), created });
    }
}
