//! `docker commit`: a container's upper dir becomes one more layer over
//! its image's (`snapshot::diff`: stored, hashed and extracted in one
//! pass, as a pull's layers are). The image gets a config (the
//! base's, with the container's settings, the request's and `--change`s),
//! an OCI manifest of the base's layer blobs and the new one, and its tag.

use super::changes;
use super::record::{ImageConfig, ImageRecord};
use super::reference::Reference;
use super::ImageStore;
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::time::SystemTime;

/// What the new image is.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]`; empty: an untagged image.
    pub reference: String,
    pub comment: String,
    pub author: String,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
}

/// What the container brings: its settings and where its changes are.
pub(crate) struct CommitSource {
    pub config: ImageConfig,
    pub upper: PathBuf,
    /// The history line: the container's command.
    pub created_by: String,
    pub container: String,
    /// Container paths the runtime made (mount points), left out while empty.
    pub runtime_paths: &'static [&'static str],
}

/// Paths berth's shim makes in every container as mount points.
pub(crate) const MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

impl ImageStore {
    /// Checks the request before any layer is written.
    pub fn check_commit(
        &self,
        req: &CommitRequest,
        config: &mut ImageConfig,
    ) -> Result<Option<Reference>> {
        let reference = match req.reference.as_str() {
            "" => None,
            r => {
                let r = Reference::parse(r)?;
                if r.digest.is_some() {
                    return Err(Error::invalid("commit: a reference with a digest can't be a tag"));
                }
                Some(r.with_default_tag())
            }
        };
        for c in &req.changes {
            changes::apply(config, c)?;
        }
        Ok(reference)
    }

    /// Writes the new layer and stores the image.
    pub(crate) async fn commit(
        &self,
        base: &ImageRecord,
        req: CommitRequest,
        mut src: CommitSource,
    ) -> Result<ImageRecord> {
        let reference = self.check_commit(&req, &mut src.config)?;
        let layer =
            crate::snapshot::diff::layer_of(&self.paths, src.upper.clone(), src.runtime_paths)
                .await?;
        self.assemble(super::assemble::NewImage {
            base: Some(base.clone()),
            layers: vec![super::assemble::NewLayer {
                diff_id: layer.diff_id,
                blob_digest: layer.blob_digest,
                blob_size: layer.blob_size,
                compression: layer.compression,
            }],
            config: src.config,
            history: vec![super::assemble::NewHistory {
                created: None,
                created_by: src.created_by,
                comment: req.comment,
                empty_layer: false,
            }],
            created: SystemTime::now(),
            author: req.author,
            container: src.container,
            tags: reference.into_iter().collect(),
        })
    }
}
