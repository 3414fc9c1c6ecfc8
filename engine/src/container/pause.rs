//! Pause and unpause (Docker's): every process of a running container
//! frozen through its cgroup's freezer, then thawed. The container stays
//! RUNNING with `paused` set; a stop or kill thaws it after the signal, so
//! the signal is taken, and an exit clears it.

use super::Status;
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn pause(&self, key: &str) -> Result<()> {
        self.set_paused(key, true).await
    }

    #[tracing::instrument(level = "info", skip(self))]
    pub async fn unpause(&self, key: &str) -> Result<()> {
        self.set_paused(key, false).await
    }

    async fn set_paused(&self, key: &str, paused: bool) -> Result<()> {
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        if rec.state.status != Status::Running {
            return Err(Error::FailedPrecondition(format!("Container {} is not running", rec.id)));
        }
        match (rec.state.paused, paused) {
            (true, true) => {
                return Err(Error::FailedPrecondition(format!(
                    "Container {} is already paused",
                    rec.id
                )))
            }
            (false, false) => {
                return Err(Error::FailedPrecondition(format!(
                    "Container {} is not paused",
                    rec.id
                )))
            }
            _ => {}
        }
        self.freeze(&rec, paused).await?;
        let rec = self.commit(&entry, |r| r.state.paused = paused)?;
        self.emit(
            &rec,
            if paused {
                super::events::EventKind::Paused
            } else {
                super::events::EventKind::Unpaused
            },
        );
        Ok(())
    }

    /// Thaws a paused container (after a stop or kill signal was sent).
    pub(crate) async fn thaw_if_paused(&self, entry: &super::Entry) {
        let rec = entry.record();
        if !rec.state.paused {
            return;
        }
        if let Err(e) = self.freeze(&rec, false).await {
            tracing::warn!(container = %rec.id, error = %e, "thaw a paused container");
            return;
        }
        if let Err(e) = self.commit(entry, |r| r.state.paused = false) {
            tracing::warn!(container = %rec.id, error = %e, "record the thaw");
        }
    }

    /// Freezes or thaws the container's cgroup.
    pub(crate) async fn freeze(&self, rec: &super::ContainerRecord, frozen: bool) -> Result<()> {
        let path = self.cgroup_path(rec);
        tokio::task::spawn_blocking(move || {
            berth_kernel::cgroup::Cgroup::new(std::path::Path::new(&path))
                .and_then(|cg| cg.freeze(frozen))
        })
        .await?
        .map_err(|e| {
            Error::system(if frozen { "freeze the container" } else { "thaw the container" }, e)
        })
    }
}
