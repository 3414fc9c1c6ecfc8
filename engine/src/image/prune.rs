//! `berth image prune`: removes dangling images (no tags), or with `all`
//! every image no container uses, with the layers and blobs only they held.

use super::ImageStore;
use crate::error::{Error, Result};

/// What a prune removed.
#[derive(Debug, Default)]
pub struct PruneOutcome {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
    /// Bytes freed in the layer and blob stores.
    pub reclaimed: u64,
}

impl ImageStore {
    /// Prunes; `in_use(id)` says whether a container uses an image.
    /// Walks the store to measure what was freed: blocking.
    pub fn prune(&self, all: bool, in_use: impl Fn(&str) -> bool) -> Result<PruneOutcome> {
        let usage = || {
            berth_kernel::fs::disk_usage(&self.paths.layers()).bytes
                + berth_kernel::fs::disk_usage(&self.paths.blobs()).bytes
        };
        let before = usage();
        let mut out = PruneOutcome::default();
        for img in
            self.list().into_iter().filter(|i| (all || i.repo_tags.is_empty()) && !in_use(&i.id))
        {
            match self.remove(&img.id, true, &in_use) {
                Ok(r) => {
                    out.untagged.extend(r.untagged);
                    out.deleted.extend(r.deleted);
                }
                // Removed meanwhile, or taken by a new container: not ours to prune.
                Err(Error::NotFound(_) | Error::FailedPrecondition(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.reclaimed = before.saturating_sub(usage());
        Ok(out)
    }
}
