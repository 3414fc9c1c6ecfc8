//! Snapshots: a writable root over parent layers, for a process that has
//! no container record (a build's RUN step), as containerd's snapshotter:
//! [`Snapshots::prepare`] (an upper and work dir over the parents, which
//! the snapshot leases so no image removal takes them meanwhile) →
//! [`Snapshots::commit`] (its changes as an OCI layer, whiteouts
//! included, leased until an image takes it) → [`Snapshots::remove`].
//! Nothing is mounted here: the task's shim mounts the overlay inside the
//! task's own mount namespace, as a container's.
//!
//! A build's snapshots are volatile: `<root>/snapshots/<key>`, swept at
//! start. A container's is kept as long as the container, in its own dir
//! ([`Snapshots::prepare_kept`] at `containers/<id>/fs`), and its record
//! holds its image; its start, `diff`, `export`, `cp` and `commit` all
//! read it as a [`Layout`]. Unpacking a pulled layer and committing a
//! snapshot run through the same one-pass unpacker ([`diff`]).

pub(crate) mod diff;
pub mod lease;

use crate::error::{Error, IoContext, Missing, Result};
use crate::image::unpack::Unpacked;
use crate::paths::Paths;
pub use berth_kernel::cp::changes::ChangeKind;
use berth_kernel::cp::{CpError, Mount, View};
use lease::{Lease, LeaseTable};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a snapshot's files are: what an overlay of it mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The parents' layer dirs, topmost first.
    pub lower: Vec<PathBuf>,
    /// Where its changes go.
    pub upper: PathBuf,
    /// The overlay's work dir.
    pub work: PathBuf,
}

impl Layout {
    fn in_dir(dir: &Path, lower: Vec<PathBuf>) -> Self {
        Self { lower, upper: dir.join("upper"), work: dir.join("work") }
    }

    /// Its changes over its parents, by path (blocking).
    pub fn changes(&self) -> Result<Vec<(String, ChangeKind)>, CpError> {
        berth_kernel::cp::changes::changes(&self.upper, &self.lower)
    }

    /// Its files mounted read-only or not, detached, with `mounts` over them
    /// (blocking).
    pub fn view(&self, read_only: bool, mounts: &[Mount]) -> Result<View, CpError> {
        View::detached(&self.lower, &self.upper, &self.work, read_only, mounts)
    }
}

/// Overlay lower dirs for `parents` (diff ids, bottom first, as an image
/// lists them), topmost first. A layer repeated appears once, at its
/// topmost place: overlayfs refuses a dir twice, and applying a layer
/// again over itself changes nothing.
pub fn lower_dirs(paths: &Paths, parents: &[String]) -> Result<Vec<PathBuf>> {
    let mut seen = std::collections::HashSet::new();
    parents
        .iter()
        .rev()
        .filter(|d| seen.insert(d.as_str()))
        .map(|d| paths.layer(d.strip_prefix("sha256:").unwrap_or(d)))
        .collect()
}

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
    /// Where its files are.
    pub fn layout(&self) -> Layout {
        Layout::in_dir(&self.dir, self.lower.clone())
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
        let lower = lower_dirs(&self.paths, parents)?;
        if let Some(l) = lower.iter().find(|l| !l.is_dir()) {
            let hex = l.file_name().unwrap_or_default().to_string_lossy();
            return Err(Error::NotFound(Missing::Other(format!(
                "layer sha256:{hex} is not stored"
            ))));
        }
        let key = hex::encode(rand::random::<[u8; 32]>());
        let dir = self.dir.join(&key);
        make_dirs(&dir, None)?;
        let mut lower = lower;
        if lower.is_empty() {
            // Over nothing (`FROM scratch`): overlayfs wants a lower dir, an empty one.
            let empty = dir.join("empty");
            crate::paths::create_dir(&empty, 0o755)
                .ctx(|| format!("create {}", empty.display()))?;
            lower.push(empty);
        }
        Ok(Snapshot { key, dir, lower, lease })
    }

    /// Makes a snapshot kept in `dir` (a container's own, removed with it),
    /// its root owned by `owner` (a user-namespaced pod's root); the parents
    /// are held by the caller's record, so no lease is taken.
    pub fn prepare_kept(&self, dir: &Path, owner: Option<(u32, u32)>) -> Result<()> {
        make_dirs(dir, owner)
    }

    /// The layout of a snapshot kept in `dir` over `parents`.
    pub fn kept(&self, dir: &Path, parents: &[String]) -> Result<Layout> {
        Ok(Layout::in_dir(dir, lower_dirs(&self.paths, parents)?))
    }

    /// The snapshot's changes as a stored layer (`skip`: paths left out
    /// while empty, such as the runtime's mount points).
    pub async fn commit(&self, s: &Layout, skip: &[&str]) -> Result<Committed> {
        let Unpacked { diff_id, blob_digest, blob_size, compression } =
            diff::layer_of(&self.paths, s.upper.clone(), skip).await?;
        let lease = self.leases.hold([diff_id.clone(), blob_digest.clone()]);
        Ok(Committed { diff_id, blob_digest, blob_size, compression, lease })
    }

    /// As [`Snapshots::commit`] for a volatile snapshot that is removed
    /// next and has nothing mounted: its upper dir is moved into the layer
    /// store instead of being copied there.
    pub async fn commit_taking(&self, s: &Snapshot, skip: &[&str]) -> Result<Committed> {
        let Unpacked { diff_id, blob_digest, blob_size, compression } =
            diff::layer_taking(&self.paths, s.layout().upper, skip).await?;
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

/// A snapshot's dir, its upper dir (owned by `owner`) and work dir; on
/// failure none of them is left.
/// The snapshot's dir must not exist yet; its parent must.
fn make_dirs(dir: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let new = |p: &Path, mode| std::fs::DirBuilder::new().mode(mode).create(p);
    let context = || format!("create snapshot {}", dir.display());
    new(dir, 0o700).ctx(context)?;
    let made = new(&dir.join("upper"), 0o755)
        .and_then(|_| match owner {
            Some((uid, gid)) => std::os::unix::fs::chown(dir.join("upper"), Some(uid), Some(gid)),
            None => Ok(()),
        })
        .and_then(|_| new(&dir.join("work"), 0o700));
    made.map_err(|e| {
        let _ = std::fs::remove_dir_all(dir);
        Error::Io { context: context(), source: e }
    })
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
