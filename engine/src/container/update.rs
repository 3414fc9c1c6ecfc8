//! UpdateContainerResources and ReopenContainerLog: changes to a live
//! container — its cgroup limits, and the log file its shim writes.

use super::{Resources, Status};
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// New limits: applied to the live cgroup (if running), then recorded.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn update_resources(&self, key: &str, resources: Resources) -> Result<()> {
        let resources = super::limits::for_this_node(resources)?;
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        let mut next = entry.record();
        next.config.resources = resources;
        if next.state.status == Status::Running {
            let linux = crate::spec::limits(&next)?;
            let path = self.cgroup_path(&next);
            tokio::task::spawn_blocking(move || {
                berth_kernel::cgroup::Cgroup::new(std::path::Path::new(&path))
                    .and_then(|cg| cg.apply(&linux))
            })
            .await?
            .map_err(|e| Error::invalid(format!("update resources: {e}")))?;
        }
        let resources = next.config.resources;
        let rec = self.commit(&entry, |r| r.config.resources = resources)?;
        self.emit(&rec, super::events::EventKind::Updated);
        Ok(())
    }

    /// Makes the shim reopen the log file (after kubelet rotated it).
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn reopen_log(&self, key: &str) -> Result<()> {
        let rec = self.lookup(key)?.record();
        if rec.state.status != Status::Running {
            return Err(Error::FailedPrecondition(format!("container {} is not running", rec.id)));
        }
        let bundle = self.paths().bundle(&rec.id)?;
        self.tasks()
            .reopen_log(&bundle)
            .await
            .map_err(|e| Error::Internal(format!("reopen log: {e}")))
    }
}
