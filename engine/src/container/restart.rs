//! Restart policies (Docker's `--restart`), as dockerd's restart manager
//! follows them: after an exit the policy may ask for a restart, which
//! waits (100 ms, doubled for each restart, reset by a run of 10 s) with
//! the container EXITED and `restarting`; a stop, kill, removal or start
//! in the meantime ends the wait. At berthd's start-up, exited containers
//! whose policy says so are started again. Only Docker-front containers
//! have a policy: kubelet restarts pods' containers itself.

use super::start::Starter;
use super::{ContainerRecord, EndReason, Entry, RestartPolicy, Status};
use crate::error::Result;
use crate::Engine;
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    /// After the monitor recorded an exit: the restart its policy asks for.
    pub(super) fn after_exit(&self, entry: &Arc<Entry>, exited: &ContainerRecord) {
        let s = &exited.state;
        if exited.config.auto_remove || s.status != Status::Exited || s.end != EndReason::Exited {
            return;
        }
        if !exited.config.restart.restarts_after_exit(
            s.exit_code,
            s.restart_count,
            s.stopped_on_purpose,
        ) {
            return;
        }
        let ran = Duration::from_nanos((s.finished_at - s.started_at).max(0) as u64);
        let delay = {
            let mut d = entry.restart_delay.lock().unwrap();
            *d = RestartPolicy::next_delay(*d, ran);
            *d
        };
        let run = s.exits;
        if let Err(e) = self.commit(entry, |r| {
            r.state.restarting = true;
            r.state.restart_count += 1;
        }) {
            tracing::error!(container = %exited.id, error = %e, "could not record the pending restart");
            return;
        }
        self.restart_later(entry.clone(), run, delay);
    }

    /// Starts the container after `delay`, unless the run `run` ended its
    /// wait in the meantime (a stop, a start, a removal, another exit).
    fn restart_later(&self, entry: Arc<Entry>, run: u64, delay: Duration) {
        let engine = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = entry.op.lock().await;
            let rec = entry.record();
            let removed = engine.lookup(&rec.id).map(|e| !Arc::ptr_eq(&e, &entry)).unwrap_or(true);
            if removed
                || !rec.state.restarting
                || rec.state.exits != run
                || rec.state.status != Status::Exited
            {
                return;
            }
            tracing::info!(container = %rec.id, policy = %rec.config.restart, count = rec.state.restart_count, "restarting by its restart policy");
            if let Err(e) = engine.start_locked(&entry, Starter::RestartPolicy).await {
                tracing::warn!(container = %rec.id, error = %e, "the restart policy's start failed");
                let message = e.to_string();
                let _ = engine.commit(&entry, |r| {
                    r.state.restarting = false;
                    r.state.error = message;
                });
            }
        });
    }

    /// Start-up, after recovery: exited containers their policy brings back
    /// (and those whose restart was pending when berthd went down).
    pub(crate) fn restart_at_start_up(&self) {
        let entries: Vec<Arc<Entry>> = self.inner.containers.all();
        for entry in entries {
            let rec = entry.record();
            let s = &rec.state;
            let due = s.restarting
                || rec.config.restart.restarts_at_start_up(
                    s.exit_code,
                    s.restart_count,
                    s.stopped_on_purpose,
                );
            if rec.config.pod.is_none() && s.status == Status::Exited && due {
                // The start-up's start is its policy's: it waits as one.
                if !s.restarting && self.commit(&entry, |r| r.state.restarting = true).is_err() {
                    continue;
                }
                self.restart_later(entry.clone(), s.exits, Duration::ZERO);
            }
        }
    }

    /// A new restart policy (`docker update --restart`).
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn set_restart_policy(&self, key: &str, policy: RestartPolicy) -> Result<()> {
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        if !policy.is_no() && entry.record().config.auto_remove {
            return Err(crate::error::Error::invalid(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ));
        }
        let rec = self.commit(&entry, |r| r.config.restart = policy)?;
        self.emit(&rec, super::events::EventKind::Updated);
        Ok(())
    }
}
