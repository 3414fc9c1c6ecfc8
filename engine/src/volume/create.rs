//! Create: a named volume (an existing one is returned as it is, as
//! dockerd does) or an anonymous one (a random 64-hex name).

use super::{VolumeRecord, RECORD};
use crate::error::{Error, IoContext, Result};
use crate::Engine;
use std::collections::BTreeMap;

impl Engine {
    /// Creates the volume `name` (a new anonymous one for `None`).
    #[tracing::instrument(level = "info", skip_all, fields(volume = ?name))]
    pub fn create_volume(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        self.create_volume_with(name, labels, BTreeMap::new())
    }

    /// The same, with the local driver's options (`type`, `device`, `o`).
    pub fn create_volume_with(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        let source = crate::model::volume::VolumeSource::from_options(&options)?;
        if let Some(crate::model::volume::VolumeSource::Tmpfs { options }) = &source {
            crate::container::check_tmpfs_options(options)?;
        }
        let (name, anonymous) = match name {
            Some(n) => (n.to_owned(), false),
            None => (hex::encode(rand::random::<[u8; 32]>()), true),
        };
        let dir = self.paths().volume(&name)?;
        let _guard = self.inner.volumes.lock().unwrap();
        match self.volume(&name) {
            Ok(existing) => return Ok(existing),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        // The record last: a dir without one is a create that never finished.
        crate::paths::create_dir(&dir.join("_data"), 0o755)
            .ctx(|| format!("create {}", dir.display()))?;
        let rec = VolumeRecord {
            name,
            labels,
            created_at: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
            anonymous,
            options,
            source,
        };
        if let Err(e) = crate::store::commit(&dir.join(RECORD), &rec) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::info!(volume = %rec.name, anonymous, "volume created");
        Ok(rec)
    }
}
