//! `berth history`: how an image was built, newest step first, from its
//! config's `history`, each step that made a layer paired with that
//! layer's size on disk (as `docker history` shows them).

use super::record::{ConfigFile, HistoryItem};
use super::ImageStore;
use crate::error::Result;

/// One build step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id on the newest step; empty (`<missing>`) below it.
    pub id: String,
    pub created_unix: i64,
    pub created_by: String,
    /// Bytes the step's layer occupies; 0 for steps without a layer.
    pub size: u64,
    pub comment: String,
}

impl ImageStore {
    /// The steps of `name`, newest first. Walks layer directories: blocking.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let img = self.resolve(name)?;
        let cfg = ConfigFile::parse(img.config_json.as_bytes(), &img.id)?;
        // Images without history (some tools omit it) get one step per layer.
        let steps = if cfg.history.is_empty() {
            vec![HistoryItem::default(); img.layers.len()]
        } else {
            cfg.history
        };
        let mut layers = img.layers.iter();
        let mut out: Vec<HistoryEntry> = steps
            .iter()
            .map(|h| {
                let size = match h.empty_layer {
                    true => 0,
                    false => layers
                        .next()
                        .and_then(|d| self.paths.layer(d.trim_start_matches("sha256:")).ok())
                        .map_or(0, |p| berth_kernel::fs::disk_usage(&p).bytes),
                };
                HistoryEntry {
                    id: String::new(),
                    created_unix: h
                        .created
                        .as_deref()
                        .and_then(berth_proto::time::parse_rfc3339_nanos)
                        .unwrap_or(0)
                        / 1_000_000_000,
                    created_by: h.created_by.clone().unwrap_or_default(),
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                }
            })
            .collect();
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = img.id.clone();
        }
        Ok(out)
    }
}
