//! The build cache as `docker builder prune` and `docker system df` see
//! it: its records, and their removal (never one a build is using now).

use super::Builder;
use crate::cache::Hit;

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneRequest {
    /// Every record, not only those whose layer no image uses.
    pub all: bool,
    /// Only records made before this (unix nanos).
    pub until: Option<i64>,
    /// Keep the newest records up to this many bytes.
    pub keep_storage: u64,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    pub deleted: Vec<String>,
    pub reclaimed: u64,
}

/// One record, as `system df` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub id: String,
    pub size: u64,
    pub created: i64,
    pub in_use: bool,
    /// An image uses its layer too.
    pub shared: bool,
}

fn size(h: &Hit) -> u64 {
    h.layer.as_ref().map_or(0, |l| l.blob_size)
}

impl Builder {
    /// The cache's records, newest first.
    pub fn cache_records(&self) -> Vec<CacheRecord> {
        let running = self.running.lock().unwrap();
        self.cache
            .entries()
            .into_iter()
            .map(|(k, h)| CacheRecord {
                in_use: running.contains_key(&k),
                shared: h.layer.as_ref().is_some_and(|l| self.worker.in_image(&l.diff_id)),
                size: size(&h),
                created: h.created,
                id: k,
            })
            .collect()
    }

    /// Removes records as asked.
    pub fn prune(&self, req: &PruneRequest) -> PruneOutcome {
        let mut kept = 0u64;
        let doomed: Vec<String> = self
            .cache_records()
            .into_iter()
            .filter(|r| {
                let removable = !r.in_use
                    && (req.all || !r.shared)
                    && req.until.is_none_or(|u| r.created < u)
                    && (req.keep_storage == 0 || kept + r.size > req.keep_storage);
                if !removable {
                    kept += r.size;
                }
                removable
            })
            .map(|r| r.id)
            .collect();
        let lease = self.cache.remove(&doomed);
        let mut reclaimed = self.worker.release(lease);
        let mut deleted = doomed;
        // Kept contexts are cache too (BuildKit's local sources), and no image uses them.
        if req.until.is_none() && req.keep_storage == 0 {
            for (id, bytes) in self.kept.prune().into_iter().chain(self.slots.prune()) {
                deleted.push(id);
                reclaimed += bytes;
            }
        }
        PruneOutcome { deleted, reclaimed }
    }
}
