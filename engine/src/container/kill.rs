//! Kill: deliver a signal to a running container's init.

use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let sig = berth_kernel::signal::parse(if signal.is_empty() { "SIGKILL" } else { signal })
            .map_err(Error::invalid)?;
        let entry = self.lookup(key)?;
        let rec = entry.record();
        if !rec.state.status.can_kill() {
            return Err(Error::FailedPrecondition(format!("container {} is not running", rec.id)));
        }
        let bundle = self.paths().bundle(&rec.id)?;
        // As dockerd: a kill is on purpose, whatever the signal.
        entry.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.tasks()
            .kill(&bundle, sig as i32, sig == nix::sys::signal::Signal::SIGKILL)
            .await
            .map_err(|e| {
                Error::FailedPrecondition(format!("cannot kill container {}: {e}", rec.id))
            })?;
        self.emit(&rec, super::events::EventKind::Killed(sig as i32));
        // A paused container takes the signal once thawed (as dockerd does it).
        self.thaw_if_paused(&entry).await;
        Ok(())
    }
}
