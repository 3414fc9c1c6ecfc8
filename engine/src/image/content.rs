//! The content store: blobs by digest under `blobs/sha256/<hex>`. A blob is
//! written to a temp file in the store's `tmp/` and renamed into place only
//! once its digest is verified, so a present blob is always whole.

use crate::error::{Error, IoContext, Missing, Result};
use crate::paths::Paths;
use std::io::Write;
use std::path::PathBuf;

/// A blob being written; removed unless committed.
pub(crate) struct TempBlob {
    pub path: PathBuf,
    pub file: std::io::BufWriter<std::fs::File>,
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn has(paths: &Paths, digest: &str) -> bool {
    paths.blob(digest).is_ok_and(|p| p.exists())
}

pub(crate) fn read(paths: &Paths, digest: &str) -> Result<Vec<u8>> {
    let p = paths.blob(digest)?;
    std::fs::read(&p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::NotFound(Missing::Other(format!("blob {digest} is not in the content store")))
        }
        _ => Error::Io { context: format!("read {}", p.display()), source: e },
    })
}

pub(crate) fn temp(paths: &Paths) -> Result<TempBlob> {
    let path = paths.tmp().join(format!("blob-{}", hex::encode(rand::random::<[u8; 8]>())));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .ctx(|| format!("create {}", path.display()))?;
    Ok(TempBlob { path, file: std::io::BufWriter::with_capacity(256 * 1024, file) })
}

/// Moves a verified temp blob into place.
pub(crate) fn commit(paths: &Paths, mut tmp: TempBlob, digest: &str) -> Result<()> {
    tmp.file.flush().ctx(|| format!("write {}", tmp.path.display()))?;
    let dest = paths.blob(digest)?;
    std::fs::rename(&tmp.path, &dest).ctx(|| format!("rename blob into {}", dest.display()))
}

/// Stores a small blob (manifest, config) after checking its digest.
pub(crate) fn put(paths: &Paths, digest: &str, data: &[u8]) -> Result<()> {
    berth_registry::digest::verify(data, digest)?;
    if has(paths, digest) {
        return Ok(());
    }
    let mut t = temp(paths)?;
    t.file.write_all(data).ctx(|| format!("write {}", t.path.display()))?;
    commit(paths, t, digest)
}

/// Removes a blob; absent is fine.
pub(crate) fn remove(paths: &Paths, digest: &str) {
    if let Ok(p) = paths.blob(digest) {
        let _ = std::fs::remove_file(p);
    }
}

/// An image's manifest as stored: digest, media type, bytes, parsed.
pub(crate) struct StoredManifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub manifest: berth_registry::manifest::ImageManifest,
}

/// Reads and parses the manifest of `img` (`name` is for messages).
pub(crate) fn image_manifest(
    paths: &Paths,
    img: &super::ImageRecord,
    name: &str,
) -> Result<StoredManifest> {
    let (Some(digest), Some(media_type)) = (img.manifest.clone(), img.manifest_media_type.clone())
    else {
        return Err(Error::FailedPrecondition(format!(
            "{name}: the image has no manifest in the store; pull or import it again"
        )));
    };
    let bytes = read(paths, &digest)?;
    let berth_registry::manifest::Manifest::Image(manifest) =
        berth_registry::manifest::Manifest::parse(&bytes, Some(&media_type))?
    else {
        return Err(Error::BadContent(format!("{digest} is not an image manifest")));
    };
    Ok(StoredManifest { digest, media_type, bytes, manifest })
}
