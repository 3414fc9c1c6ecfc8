//! Volumes (Docker's local driver): `volumes/<name>/volume.json` beside
//! the data in `_data`. A volume is in use while any container (running or
//! not) names it; the check and a removal happen under the containers'
//! lock, and a new container is listed before it checks its volumes are
//! still there, so neither can slip past the other. A removal renames the dir aside first
//! (one step), then deletes it; what a crash leaves (a dir without a
//! record, a dir set aside) goes at the next start.

mod create;
mod remove;
mod store;

pub(crate) use store::Volumes;

use crate::error::Result;
pub use crate::model::volume::{
    check_volume_name, TmpfsMount, VolumeRecord, VolumeRequest, VolumeUse,
};
use crate::Engine;
use std::path::PathBuf;

impl Engine {
    /// Where a volume's data is (what containers bind).
    pub fn volume_data(&self, name: &str) -> Result<PathBuf> {
        self.inner.volumes.data(name)
    }

    /// One volume, by name.
    pub fn volume(&self, name: &str) -> Result<VolumeRecord> {
        self.inner.volumes.get(name)
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        self.inner.volumes.all()
    }

    /// The bytes a volume's data takes on disk.
    pub async fn volume_size(&self, name: &str) -> Result<u64> {
        let path = self.volume_data(name)?;
        Ok(tokio::task::spawn_blocking(move || berth_kernel::fs::disk_usage(&path).bytes).await?)
    }

    /// The ids of the containers that name the volume.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        users(self.inner.containers.all().iter().map(|e| e.record()), name)
    }

    /// Start-up: removals and creates a crash cut short.
    pub(crate) fn sweep_volumes(&self) {
        self.inner.volumes.sweep()
    }
}

fn users(
    containers: impl Iterator<Item = crate::model::ContainerRecord>,
    name: &str,
) -> Vec<String> {
    containers.filter(|c| c.config.volumes.iter().any(|v| v.name == name)).map(|c| c.id).collect()
}
