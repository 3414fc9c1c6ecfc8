//! Remove and prune: only volumes no container names (409 otherwise, as
//! dockerd: "volume is in use").

use super::{users, VolumeRecord};
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// Removes a volume no container uses; `force` only forgives a missing one.
    #[tracing::instrument(level = "info", skip_all, fields(volume = %name))]
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        match self.volume(name) {
            Ok(_) => {}
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        }
        let aside = self.set_aside(name)?;
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(aside))
            .await?
            .map_err(|e| Error::Io { context: format!("remove volume {name}"), source: e })?;
        tracing::info!(volume = %name, "volume removed");
        Ok(())
    }

    /// Renames the volume's dir aside while no container can start using it.
    fn set_aside(&self, name: &str) -> Result<std::path::PathBuf> {
        self.inner.containers.holding(|containers| {
            let using = users(containers.map(|e| e.record()), name);
            self.inner.volumes.set_aside(name, &using)
        })
    }

    /// Removes the unused volumes (`anonymous_only`: those made for one
    /// container, as dockerd from API 1.42 unless `all`); what went, and the bytes.
    pub async fn prune_volumes(
        &self,
        anonymous_only: bool,
        keep: impl Fn(&VolumeRecord) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        let mut gone = Vec::new();
        let mut bytes = 0;
        for v in self.volumes()? {
            if (anonymous_only && !v.anonymous)
                || keep(&v)
                || !self.volume_users(&v.name).is_empty()
            {
                continue;
            }
            let size = berth_kernel::fs::disk_usage(&self.volume_data(&v.name)?).bytes;
            match self.remove_volume(&v.name, false).await {
                Ok(()) => {
                    gone.push(v.name);
                    bytes += size;
                }
                // Taken into use meanwhile: kept.
                Err(Error::FailedPrecondition(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((gone, bytes))
    }

    /// A removed container's anonymous volumes (`rm -v`, `--rm`), unless
    /// another container names them too.
    pub(crate) async fn remove_anonymous_volumes(&self, rec: &crate::model::ContainerRecord) {
        for v in rec.config.volumes.iter().filter(|v| v.anonymous) {
            if let Err(e) = self.remove_volume(&v.name, true).await {
                tracing::warn!(container = %rec.id, volume = %v.name, error = %e, "keep the container's anonymous volume");
            }
        }
    }
}
