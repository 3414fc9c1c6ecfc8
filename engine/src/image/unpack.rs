//! One pass over a layer blob, on a blocking thread: the bytes are written
//! to a temp blob, hashed, decompressed and extracted into a temp layer dir
//! (rooted: `berth_kernel::layer`); only when both digests check out are
//! the layer dir and the blob renamed into place. Anything else leaves
//! nothing behind.

use super::content;
use crate::error::{Error, IoContext, Result};
use crate::paths::Paths;
use sha2::{Digest, Sha256};
use std::io::Read;

/// What the blob must turn out to be (pulls know; imports don't).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expect {
    pub blob_digest: Option<String>,
    pub diff_id: Option<String>,
    /// Extract (false: the layer is already unpacked; only store the blob).
    pub unpack: bool,
}

/// What a blob turned out to be.
#[derive(Debug, Clone)]
pub(crate) struct Unpacked {
    pub diff_id: String,
    pub blob_digest: String,
    pub blob_size: u64,
    /// Known when the blob was unpacked.
    pub compression: Option<berth_kernel::layer::Compression>,
}

/// How a failure of the extractor is reported.
pub(crate) type LayerErrorMap = fn(berth_kernel::layer::LayerError) -> Error;

/// A hostile or malformed tarball the caller handed in (import, load) is
/// the caller's error; `verb` prefixes the message.
pub(crate) fn input_error(verb: &str, e: berth_kernel::layer::LayerError) -> Error {
    match e {
        berth_kernel::layer::LayerError::Io(io) => Error::Io { context: verb.into(), source: io },
        other => Error::invalid(format!("{verb}: {other}")),
    }
}

/// Stores and (optionally) unpacks one layer blob read from `reader`.
pub(crate) fn layer(
    paths: &Paths,
    reader: impl Read,
    expect: &Expect,
    on_layer_error: LayerErrorMap,
) -> Result<Unpacked> {
    let mut blob = content::temp(paths)?;
    let (got, tmp_dir) = if expect.unpack {
        let tmp = paths.tmp().join(format!("layer-{}", hex::encode(rand::random::<[u8; 8]>())));
        crate::paths::create_dir(&tmp, 0o755).ctx(|| format!("create {}", tmp.display()))?;
        match berth_kernel::layer::extract(reader, &tmp, Some(&mut blob.file)) {
            Ok(i) => (
                Unpacked {
                    diff_id: i.diff_id,
                    blob_digest: i.blob_digest,
                    blob_size: i.blob_size,
                    compression: Some(i.compression),
                },
                Some(tmp),
            ),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(on_layer_error(e));
            }
        }
    } else {
        let mut hashing = HashCopy { inner: reader, hasher: Sha256::new(), count: 0 };
        std::io::copy(&mut hashing, &mut blob.file)
            .map_err(|e| Error::Unavailable(format!("layer download: {e}")))?;
        let digest = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
        (
            Unpacked {
                diff_id: expect.diff_id.clone().unwrap_or_default(),
                blob_digest: digest,
                blob_size: hashing.count,
                compression: None,
            },
            None,
        )
    };
    let cleanup = |e: Error| {
        if let Some(t) = &tmp_dir {
            let _ = std::fs::remove_dir_all(t);
        }
        e
    };
    if let Some(want) = &expect.blob_digest {
        if &got.blob_digest != want {
            return Err(cleanup(Error::BadContent(format!(
                "layer blob digest mismatch: got {}, expected {want}",
                got.blob_digest
            ))));
        }
    }
    if let Some(want) = &expect.diff_id {
        if &got.diff_id != want {
            return Err(cleanup(Error::BadContent(format!(
                "layer {}: uncompressed digest {} does not match the image config's diff id {want}",
                got.blob_digest, got.diff_id
            ))));
        }
    }
    if let Some(tmp) = tmp_dir {
        let dest = paths.layer(got.diff_id.trim_start_matches("sha256:"))?;
        if dest.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        } else if let Err(e) = std::fs::rename(&tmp, &dest) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Io {
                context: format!("rename layer into {}", dest.display()),
                source: e,
            });
        }
    }
    content::commit(paths, blob, &got.blob_digest)?;
    Ok(got)
}

/// A layer's blob written and hashed, not yet stored: [`Hashed::adopt`]
/// stores it once its writer is known to have finished whole.
pub(crate) struct Hashed {
    blob: content::TempBlob,
    digest: String,
    size: u64,
}

/// Writes the blob of a layer whose files are already on disk, hashing it.
pub(crate) fn hash(paths: &Paths, reader: impl Read) -> Result<Hashed> {
    let mut blob = content::temp(paths)?;
    let mut hashing = HashCopy { inner: reader, hasher: Sha256::new(), count: 0 };
    std::io::copy(&mut hashing, &mut blob.file)
        .map_err(|e| Error::Io { context: "write the layer".into(), source: e })?;
    let digest = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
    Ok(Hashed { blob, digest, size: hashing.count })
}

impl Hashed {
    /// Stores the blob, with `dir` (a build step's upper dir, nothing
    /// mounted on it) moved into the layer store as the layer's files — or
    /// removed, when the store has that layer already. Nothing is
    /// extracted: no file is written twice.
    pub(crate) fn adopt(self, paths: &Paths, dir: &std::path::Path) -> Result<Unpacked> {
        let dest = paths.layer(self.digest.trim_start_matches("sha256:"))?;
        if dest.exists() {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            std::fs::rename(dir, &dest)
                .ctx(|| format!("move {} into {}", dir.display(), dest.display()))?;
        }
        content::commit(paths, self.blob, &self.digest)?;
        Ok(Unpacked {
            diff_id: self.digest.clone(),
            blob_digest: self.digest,
            blob_size: self.size,
            compression: Some(berth_kernel::layer::Compression::None),
        })
    }
}

struct HashCopy<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashCopy<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
