//! `berth tag`: one more name for an image (taken from any image that had it).

use super::record::ImageRecord;
use super::reference::Reference;
use super::ImageStore;
use crate::error::{Error, Result};

impl ImageStore {
    pub fn tag(&self, source: &str, target: &str) -> Result<ImageRecord> {
        let img = self.resolve(source)?;
        let t = Reference::parse(target)?;
        if t.digest.is_some() {
            return Err(Error::invalid(format!("tag {target}: a tag can't carry a digest")));
        }
        let mut rec = img;
        rec.repo_tags = vec![t.with_default_tag().canonical()];
        self.add(rec)
    }
}
