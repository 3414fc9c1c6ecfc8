//! The image store: image records (`images/<hex>.json`) over layers
//! unpacked once into `layers/<hex>/` and shared by every image and
//! container that uses them (as overlay lower dirs).

pub mod assemble;
mod changes;
pub(crate) mod commit;
pub(crate) mod content;
mod history;
mod import;
mod load;
mod login;
mod prune;
mod pull;
mod push;
mod remove;
mod save;
#[cfg(test)]
mod store_tests;
mod tag;
pub(crate) mod unpack;

pub(crate) use crate::model::image as record;
pub use crate::model::image::{ImageConfig, ImageRecord};
pub use berth_registry::reference;
pub use commit::CommitRequest;
pub use history::HistoryEntry;
pub use import::ImportRequest;
pub use load::Loaded;
pub use prune::PruneOutcome;
pub use pull::{LayerState, PullProgress, PullRequest};
pub use push::{PushProgress, PushRequest};
pub use remove::RemoveOutcome;
pub use save::SavePlan;

use crate::error::{Error, IoContext, Missing, Result};
use crate::paths::Paths;
use reference::Reference;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// Images by id, with their tags.
pub struct ImageStore {
    paths: Paths,
    images: RwLock<HashMap<String, ImageRecord>>,
    /// Built on first use: loading the system's TLS roots stays off the start-up path.
    client: std::sync::OnceLock<berth_registry::Client>,
    client_config: berth_registry::ClientConfig,
    max_concurrent_downloads: usize,
    /// Blob digest → the lock pulls of that blob share.
    inflight: std::sync::Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    stats: PullStats,
    /// Every digest the quarantined image records spell out: never collected.
    quarantined: std::collections::HashSet<String>,
    /// Layers and blobs held by what has no image record yet (snapshots, builds).
    leases: std::sync::Arc<crate::snapshot::lease::LeaseTable>,
}

/// The `sha256:<hex>` digests a file spells out, however damaged it is.
fn digests_in(path: &std::path::Path) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("sha256:") {
        let hex: String = rest[i + 7..].chars().take(64).collect();
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(format!("sha256:{hex}"));
        }
        rest = &rest[i + 7..];
    }
    out
}

/// What pulls did since start-up (for metrics).
#[derive(Debug, Default)]
pub struct PullStats {
    pub succeeded: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    /// Layer bytes fetched from registries.
    pub bytes: std::sync::atomic::AtomicU64,
    /// Each pull's duration.
    pub durations: crate::histogram::Histogram,
}

impl ImageStore {
    /// Loads every record; half-written imports (temp dirs) are removed.
    pub fn open(paths: &Paths, registry: &crate::config::RegistryConfig) -> Result<Self> {
        for d in [paths.images(), paths.layers(), paths.tmp(), paths.blobs()] {
            crate::paths::create_dir(&d, 0o700).ctx(|| format!("create {}", d.display()))?;
        }
        let _ = std::fs::remove_dir_all(paths.tmp());
        crate::paths::create_dir(&paths.tmp(), 0o700).ctx(|| "create tmp dir".into())?;
        let mut images = HashMap::new();
        let mut quarantined = std::collections::HashSet::new();
        for entry in std::fs::read_dir(paths.images()).ctx(|| "read images dir".into())? {
            let path = entry.ctx(|| "read images dir".into())?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if name.ends_with(&format!(".json{}", crate::store::QUARANTINE_SUFFIX)) {
                quarantined.extend(digests_in(&path));
                continue;
            }
            let Some(hex) = name.strip_suffix(".json") else { continue };
            let why = match crate::store::read::<ImageRecord>(&path) {
                crate::store::Loaded::Record(r) if r.hex() == hex => {
                    images.insert(r.id.clone(), r);
                    continue;
                }
                crate::store::Loaded::Record(r) => {
                    format!("it names image {}, not its file's", r.id)
                }
                crate::store::Loaded::Unreadable(why) => why,
                crate::store::Loaded::Missing => continue,
            };
            // Its layers and blobs stay, whoever else lets go of them: the
            // record keeps them (by the digests it still spells out).
            match crate::store::quarantine(&path, &why, "image", hex) {
                Ok(aside) => quarantined.extend(digests_in(&aside)),
                Err(e) => {
                    tracing::error!(image = %hex, error = %e, "could not set the unreadable record aside");
                    quarantined.extend(digests_in(&path));
                }
            }
        }
        registry.client.hosts.validate()?;
        Ok(Self {
            paths: paths.clone(),
            images: RwLock::new(images),
            client: std::sync::OnceLock::new(),
            client_config: registry.client.clone(),
            max_concurrent_downloads: registry.max_concurrent_downloads,
            inflight: Default::default(),
            stats: PullStats::default(),
            quarantined,
            leases: Default::default(),
        })
    }

    /// What pulls did since start-up.
    pub fn pull_stats(&self) -> &PullStats {
        &self.stats
    }

    /// Finds an image by reference, full id (`sha256:...` or hex) or unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let images = self.images.read().unwrap();
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&ImageRecord> =
                images.values().filter(|r| r.hex().starts_with(hex)).collect();
            if hits.len() == 1 {
                return Ok(hits[0].clone());
            }
        }
        if let Ok(r) = Reference::parse(name) {
            let found = match &r.digest {
                // By digest: the manifest (or index) a pull resolved, whatever the tag says.
                Some(d) => {
                    let want = format!("{}@{d}", r.repository());
                    images.values().find(|i| {
                        i.repo_digests.contains(&want)
                            || i.manifest.as_deref() == Some(d.as_str())
                                && i.repo_tags
                                    .iter()
                                    .any(|t| t.starts_with(&format!("{}:", r.repository())))
                    })
                }
                None => {
                    let want = r.with_default_tag().canonical();
                    images.values().find(|i| i.repo_tags.contains(&want))
                }
            };
            if let Some(img) = found {
                return Ok(img.clone());
            }
        }
        Err(Error::NotFound(Missing::Image(name.to_owned())))
    }

    /// The registry client.
    pub(crate) fn client(&self) -> Result<&berth_registry::Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = berth_registry::Client::new(self.client_config.clone())?;
        Ok(self.client.get_or_init(|| c))
    }

    pub fn list(&self) -> Vec<ImageRecord> {
        let mut v: Vec<ImageRecord> = self.images.read().unwrap().values().cloned().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.created_unix_nanos));
        v
    }

    /// Overlay lower dirs for an image, topmost first
    /// ([`crate::snapshot::lower_dirs`]).
    pub fn lower_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        crate::snapshot::lower_dirs(&self.paths, &image.layers)
    }

    /// Stores a record and moves its tags over from any other image.
    pub(crate) fn add(&self, rec: ImageRecord) -> Result<ImageRecord> {
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
                for (mine, theirs) in [
                    (&mut m.repo_tags, &rec.repo_tags),
                    (&mut m.repo_digests, &rec.repo_digests),
                    (&mut m.blobs, &rec.blobs),
                ] {
                    for t in theirs {
                        if !mine.contains(t) {
                            mine.push(t.clone());
                        }
                    }
                }
                if m.manifest.is_none() {
                    m.manifest = rec.manifest.clone();
                    m.manifest_media_type = rec.manifest_media_type.clone();
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

    fn persist(&self, rec: &ImageRecord) -> Result<()> {
        crate::store::commit(&self.paths.image_record(rec.hex())?, rec)
    }

    /// Whether a quarantined image record names `digest` (a layer or blob).
    pub(crate) fn quarantined_uses(&self, digest: &str) -> bool {
        self.quarantined.contains(digest)
    }

    /// The leases on this store's content.
    pub fn leases(&self) -> &std::sync::Arc<crate::snapshot::lease::LeaseTable> {
        &self.leases
    }

    /// Whether a removal must keep `digest` whoever else lets go of it: a
    /// lease, a running pull or a quarantined record holds it.
    fn held(&self, digest: &str) -> bool {
        self.leases.holds(digest) || self.in_flight(Some(digest)) || self.quarantined_uses(digest)
    }

    /// Ends a lease, then removes the layers and blobs it held that no
    /// image and nothing else holds now (an image removed meanwhile, or a
    /// build's layer no image took).
    /// Returns the bytes of blobs removed.
    pub fn release(&self, lease: crate::snapshot::lease::Lease) -> u64 {
        let digests = lease.digests().to_vec();
        drop(lease);
        let images = self.images.read().unwrap();
        let used: std::collections::HashSet<&String> =
            images.values().flat_map(|i| i.layers.iter().chain(i.blobs.iter())).collect();
        let mut freed = 0;
        for d in digests.iter().filter(|d| !used.contains(d) && !self.held(d)) {
            if let Ok(dir) = self.paths.layer(d.trim_start_matches("sha256:")) {
                let _ = std::fs::remove_dir_all(dir);
            }
            freed += self.paths.blob(d).ok().and_then(|b| b.metadata().ok()).map_or(0, |m| m.len());
            content::remove(&self.paths, d);
        }
        freed
    }

    /// Whether a stored image uses layer `diff_id`.
    pub fn layer_in_use(&self, diff_id: &str) -> bool {
        self.images.read().unwrap().values().any(|i| i.layers.iter().any(|l| l == diff_id))
    }
}
