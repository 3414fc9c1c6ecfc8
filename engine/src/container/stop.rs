//! Stop: the stop signal, a grace period, then SIGKILL to every process.
//! A stop is on purpose: no restart policy brings the container back
//! before its next start.

use super::Status;
use crate::error::{Error, Result};
use crate::Engine;
use std::time::Duration;

/// How long to wait for the exit after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(10);

impl Engine {
    /// Stops a container; `timeout: None` uses the container's (or the engine's) default.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn stop(&self, key: &str, timeout: Option<Duration>) -> Result<()> {
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        self.stop_on_purpose(&entry, timeout).await
    }

    /// A stop asked for (Docker's `stop` event once it ran and exited).
    async fn stop_on_purpose(&self, entry: &super::Entry, timeout: Option<Duration>) -> Result<()> {
        let ran = entry.record().state.status == Status::Running;
        self.stop_locked(entry, timeout).await?;
        if ran {
            self.emit(&entry.record(), super::events::EventKind::StoppedOnPurpose);
        }
        Ok(())
    }

    /// A restart on purpose (Docker's `restart`): a stop if it runs, then a start.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn restart(&self, key: &str, timeout: Option<Duration>) -> Result<()> {
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        if entry.record().state.status == Status::Running {
            self.stop_on_purpose(&entry, timeout).await?;
        }
        self.start_locked(&entry, super::start::Starter::OnPurpose).await?;
        self.emit(&entry.record(), super::events::EventKind::Restarted);
        Ok(())
    }

    /// Stops the container of `entry`, whose operation lock the caller holds.
    pub(super) async fn stop_locked(
        &self,
        entry: &super::Entry,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let rec = entry.record();
        if rec.state.status != Status::Running {
            // Waiting for its restart: the wait ends here.
            if rec.state.restarting {
                self.commit(entry, |r| {
                    r.state.restarting = false;
                    r.state.stopped_on_purpose = true;
                })?;
            }
            return Ok(());
        }
        entry.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let timeout = timeout
            .or(rec.config.stop_timeout.map(Duration::from_secs))
            .unwrap_or(self.config().default_stop_timeout);
        let bundle = self.paths().bundle(&rec.id)?;
        let sig = rec.config.stop_signal.0;
        let mut events = entry.subscribe();
        let exited = |s: &super::ContainerState| s.status != Status::Running;
        if !timeout.is_zero() {
            // A shim that is already gone has exited; the monitor will say so.
            let _ = self.tasks().kill(&bundle, sig as i32, false).await;
            self.emit(&rec, super::events::EventKind::Killed(sig as i32));
            self.thaw_if_paused(entry).await;
            if tokio::time::timeout(timeout, events.wait_for(exited)).await.is_ok() {
                return Ok(());
            }
        }
        let _ = self.tasks().kill(&bundle, libc::SIGKILL, true).await;
        self.emit(&rec, super::events::EventKind::Killed(libc::SIGKILL));
        self.thaw_if_paused(entry).await;
        let waited = tokio::time::timeout(KILL_GRACE, events.wait_for(exited)).await.is_ok();
        if waited {
            Ok(())
        } else {
            Err(Error::DeadlineExceeded(format!("container {} did not exit after SIGKILL", rec.id)))
        }
    }
}
