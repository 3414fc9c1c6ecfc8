//! `berth rmi`: untag, and delete the image (and layers nothing else
//! uses) once it has no tags and no container uses it.

use super::reference::Reference;
use super::{content, ImageStore};
use crate::error::{Error, Missing, Result};

/// What `rmi` did.
#[derive(Debug, Default)]
pub struct RemoveOutcome {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
}

impl ImageStore {
    /// Removes `name`. `in_use(id)` says whether a container uses an image.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: impl Fn(&str) -> bool,
    ) -> Result<RemoveOutcome> {
        let img = self.resolve(name)?;
        let by_tag = Reference::parse(name)
            .ok()
            .map(|r| r.with_default_tag().canonical())
            .filter(|t| img.repo_tags.contains(t));
        let mut out = RemoveOutcome::default();
        let mut images = self.images.write().unwrap();
        let Some(rec) = images.get_mut(&img.id) else {
            return Err(Error::NotFound(Missing::Image(name.to_owned())));
        };
        match by_tag {
            // Removing one of several tags only untags.
            Some(tag) if rec.repo_tags.len() > 1 => {
                rec.repo_tags.retain(|t| *t != tag);
                out.untagged.push(tag);
                let snapshot = rec.clone();
                self.persist(&snapshot)?;
                return Ok(out);
            }
            _ => {}
        }
        if in_use(&img.id) {
            if !force || rec.repo_tags.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "conflict: unable to remove image {name}: image is being used by a container"
                )));
            }
            // Forced: untag, keep the image for its containers.
            out.untagged = std::mem::take(&mut rec.repo_tags);
            let snapshot = rec.clone();
            self.persist(&snapshot)?;
            return Ok(out);
        }
        if by_tag.is_none() && rec.repo_tags.len() > 1 && !force {
            return Err(Error::FailedPrecondition(format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", &img.hex()[..12])));
        }
        out.untagged = std::mem::take(&mut rec.repo_tags);
        let path = self.paths.image_record(img.hex())?;
        std::fs::remove_file(&path)
            .map_err(|e| Error::Io { context: format!("remove {}", path.display()), source: e })?;
        images.remove(&img.id);
        out.deleted.push(img.id.clone());
        // Layers and blobs no remaining image, lease or running pull holds.
        let still_used: std::collections::HashSet<&String> =
            images.values().flat_map(|i| i.layers.iter()).collect();
        for l in img.layers.iter().filter(|l| !still_used.contains(l) && !self.held(l)) {
            if let Ok(dir) = self.paths.layer(l.trim_start_matches("sha256:")) {
                let _ = std::fs::remove_dir_all(dir);
                out.deleted.push(l.clone());
            }
        }
        if !self.in_flight(None) {
            let blobs_used: std::collections::HashSet<&String> =
                images.values().flat_map(|i| i.blobs.iter()).collect();
            for b in img.blobs.iter().filter(|b| !blobs_used.contains(b) && !self.held(b)) {
                content::remove(&self.paths, b);
            }
        }
        Ok(out)
    }
}
