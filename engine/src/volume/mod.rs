//! Volumes (Docker's local driver): `volumes/<name>/volume.json` beside
//! the data in `_data`. A volume is in use while any container (running or
//! not) names it; the check and a removal happen under the containers'
//! lock, and a new container is listed before it checks its volumes are
//! still there, so neither can slip past the other. A removal renames the dir aside first
//! (one step), then deletes it; what a crash leaves (a dir without a
//! record, a dir set aside) goes at the next start.

mod create;
mod remove;

use crate::error::{Error, Missing, Result};
pub use crate::model::volume::{
    check_volume_name, TmpfsMount, VolumeRecord, VolumeRequest, VolumeUse,
};
use crate::store::{self, Loaded};
use crate::Engine;
use std::path::PathBuf;

const RECORD: &str = "volume.json";
/// The prefix of a volume dir being removed.
const REMOVING: &str = ".removing-";

impl Engine {
    /// Where a volume's data is (what containers bind).
    pub fn volume_data(&self, name: &str) -> Result<PathBuf> {
        Ok(self.paths().volume(name)?.join("_data"))
    }

    /// One volume, by name.
    pub fn volume(&self, name: &str) -> Result<VolumeRecord> {
        let not_found = || Error::NotFound(Missing::Volume(name.to_owned()));
        let dir = self.paths().volume(name).map_err(|_| not_found())?;
        match store::read::<VolumeRecord>(&dir.join(RECORD)) {
            Loaded::Record(r) => Ok(r),
            Loaded::Missing => Err(not_found()),
            Loaded::Unreadable(why) => {
                Err(Error::Internal(format!("the record of volume {name} is unreadable: {why}")))
            }
        }
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(self.paths().volumes())
            .map_err(|e| Error::Io { context: "read the volumes dir".into(), source: e })?;
        for item in rd.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if check_volume_name(&name).is_err() {
                continue;
            }
            if let Loaded::Record(r) = store::read::<VolumeRecord>(&item.path().join(RECORD)) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The bytes a volume's data takes on disk.
    pub async fn volume_size(&self, name: &str) -> Result<u64> {
        let path = self.volume_data(name)?;
        Ok(tokio::task::spawn_blocking(move || berth_kernel::fs::disk_usage(&path).bytes).await?)
    }

    /// The ids of the containers that name the volume.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        let containers = self.inner.containers.read().unwrap();
        users(containers.values().map(|e| e.record()), name)
    }

    /// Start-up: removals and creates a crash cut short.
    pub(crate) fn sweep_volumes(&self) {
        let Ok(rd) = std::fs::read_dir(self.paths().volumes()) else { return };
        for item in rd.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let unfinished = name.starts_with(REMOVING)
                || (check_volume_name(&name).is_ok()
                    && matches!(
                        store::read::<VolumeRecord>(&item.path().join(RECORD)),
                        Loaded::Missing
                    ));
            if unfinished && !store::is_quarantined(&item.path(), RECORD) {
                tracing::info!(volume = %name, "sweeping an unfinished volume dir");
                let _ = std::fs::remove_dir_all(item.path());
            }
        }
    }
}

fn users(
    containers: impl Iterator<Item = crate::model::ContainerRecord>,
    name: &str,
) -> Vec<String> {
    containers.filter(|c| c.config.volumes.iter().any(|v| v.name == name)).map(|c| c.id).collect()
}
