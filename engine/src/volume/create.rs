//! Create: a named volume (an existing one is returned as it is, as
//! dockerd does) or an anonymous one (a random 64-hex name).

use super::VolumeRecord;
use crate::error::Result;
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
        self.inner.volumes.create(name, labels, options)
    }
}
