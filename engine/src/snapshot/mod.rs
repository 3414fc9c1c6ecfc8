//! Snapshots: a writable root over parent layers, for a process that has
//! no container record (a build's RUN step), as containerd's snapshotter:
//! [`Snapshots::prepare`] (an upper and work dir over the parents, which
//! the snapshot leases so no image removal takes them meanwhile) →
//! [`Snapshots::commit`] (its changes as an OCI layer, whiteouts
//! included, leased until an image takes it) → [`Snapshots::remove`].
//! Nothing is mounted here: the task's shim mounts the overlay inside the
//! task's own mount namespace, as a container's.
//!
//! Active snapshots are volatile: `<root>/snapshots/<key>`, swept at start.
//! Containers keep their upper dirs under their own dir (`containers/<id>/fs`)
//! and hold their image by their record; `docker commit` writes its layer
//! through the same [`diff`].

pub(crate) mod diff;
pub mod lease;

use crate::error::{Error, IoContext, Missing, Result};
use crate::image::unpack::Unpacked;
use crate::paths::Paths;
use lease::{Lease, LeaseTable};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A writable snapshot over its parents.
#[derive(Debug)]
pub struct Snapshot {
    key: String,
    dir: PathBuf,
    lower: Vec<PathBuf>,
    lease: Lease,
}

impl Snapshot {
    pub fn key(&self) -> &str {
        &self.key
    }
    /// Where its changes go (the overlay's upper dir).
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    /// The overlay's work dir.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// The parents' layer dirs as overlay lower dirs, topmost first.
    pub fn lower(&self) -> &[PathBuf] {
        &self.lower
    }
}

/// A committed snapshot's layer, leased until an image takes it.
#[derive(Debug)]
pub struct Committed {
    pub diff_id: String,
    pub blob_digest: String,
    pub blob_size: u64,
    pub compression: Option<berth_kernel::layer::Compression>,
    pub lease: Lease,
}

/// The snapshots part.
#[derive(Debug)]
pub struct Snapshots {
    paths: Paths,
    dir: PathBuf,
    leases: Arc<LeaseTable>,
}

impl Snapshots {
    /// Sweeps what a berthd that stopped mid-build left.
    pub fn open(paths: &Paths, leases: Arc<LeaseTable>) -> Result<Self> {
        let dir = paths.root.join("snapshots");
        let _ = std::fs::remove_dir_all(&dir);
        crate::paths::create_dir(&dir, 0o700).ctx(|| format!("create {}", dir.display()))?;
        Ok(Self { paths: paths.clone(), dir, leases })
    }

    /// A new snapshot over `parents` (layer diff ids, bottom first, as an
    /// image lists them). A parent that isn't stored is NotFound.
    pub fn prepare(&self, parents: &[String]) -> Result<Snapshot> {
        // Leased before they are looked at: none can go in between.
        let lease = self.leases.hold(parents.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        let mut lower = Vec::new();
        for d in parents.iter().rev().filter(|d| seen.insert(d.as_str())) {
            let dir = self.paths.layer(d.strip_prefix("sha256:").unwrap_or(d))?;
            if !dir.is_dir() {
                return Err(Error::NotFound(Missing::Other(format!("layer {d} is not stored"))));
            }
            lower.push(dir);
        }
        let key = hex::encode(rand::random::<[u8; 32]>());
        let dir = self.dir.join(&key);
        let made = crate::paths::create_dir(&dir, 0o700)
            .and_then(|_| crate::paths::create_dir(&dir.join("upper"), 0o755))
            .and_then(|_| crate::paths::create_dir(&dir.join("work"), 0o700));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(Error::Io {
                context: format!("create snapshot {}", dir.display()),
                source: e,
            });
        }
        Ok(Snapshot { key, dir, lower, lease })
    }

    /// The snapshot's changes as a stored layer (`skip`: paths left out
    /// while empty, such as the runtime's mount points).
    pub async fn commit(&self, s: &Snapshot, skip: &'static [&'static str]) -> Result<Committed> {
        let Unpacked { diff_id, blob_digest, blob_size, compression } =
            diff::layer_of(&self.paths, s.upper(), skip).await?;
        let lease = self.leases.hold([diff_id.clone(), blob_digest.clone()]);
        Ok(Committed { diff_id, blob_digest, blob_size, compression, lease })
    }

    /// Removes the snapshot's dirs; its lease on the parents is handed back
    /// for the image store to release.
    pub fn remove(&self, s: Snapshot) -> Result<Lease> {
        remove_dir(&s.dir)?;
        Ok(s.lease)
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::Io { context: format!("remove snapshot {}", dir.display()), source: e })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
