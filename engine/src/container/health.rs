//! Healthchecks: while a container with one runs, one task probes it —
//! the command in the container (the exec helper, as ExecSync), every
//! interval (the start interval during the start period), cut at the
//! timeout. What the probes found is kept in memory, and recorded at each
//! change of status (`health.json`, of the run it belongs to: a berthd
//! that adopts the run goes on from there; a new run begins at
//! `starting`); each change of status is an event (Docker's
//! `health_status: …`). The probes of a run end with it.

use super::{Entry, Status};
use crate::error::{Error, Result};
use crate::model::health::{Health, HealthRecord, Probe, OUTPUT_LEN};
use crate::Engine;
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    /// Starts probing the run that just began (or was adopted).
    pub(super) fn watch_health(&self, entry: &Arc<Entry>) {
        let rec = entry.record();
        let Some(check) = rec.config.healthcheck.clone() else { return };
        let run = rec.state.exits;
        *entry.health.lock().unwrap() = Some(self.recorded_health(&rec).unwrap_or_default());
        let engine = self.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            let started = rec.state.started_at;
            loop {
                let now = berth_proto::time::unix_nanos(std::time::SystemTime::now());
                let in_start = ((now - started).max(0) as u64) < check.start_period_ns;
                let wait = if in_start {
                    check.start_interval_ns.min(check.interval_ns)
                } else {
                    check.interval_ns
                };
                tokio::time::sleep(Duration::from_nanos(wait)).await;
                let still = |e: &Entry| {
                    let r = e.record();
                    r.state.status == Status::Running && r.state.exits == run
                };
                if !still(&entry) {
                    return;
                }
                if entry.record().state.paused {
                    continue;
                }
                let start = berth_proto::time::unix_nanos(std::time::SystemTime::now());
                let timeout = Duration::from_nanos(check.timeout_ns);
                let (exit_code, output) =
                    match engine.exec_sync(&rec.id, check.command.clone(), timeout).await {
                        Ok(o) => {
                            let mut out = String::from_utf8_lossy(&o.stdout).into_owned();
                            out.push_str(&String::from_utf8_lossy(&o.stderr));
                            (o.exit_code, out)
                        }
                        Err(Error::DeadlineExceeded(_)) => {
                            (-1, format!("Health check exceeded timeout ({:?})", timeout))
                        }
                        Err(e) => (-1, e.to_string()),
                    };
                // An exit during the probe ends the watch, unrecorded.
                if !still(&entry) {
                    return;
                }
                let output: String = output.chars().take(OUTPUT_LEN).collect();
                let end = berth_proto::time::unix_nanos(std::time::SystemTime::now());
                let in_start = ((start - started).max(0) as u64) < check.start_period_ns;
                // A new status is written down before anyone sees it: what a
                // restarted berthd shows is never older than what was shown.
                let mut next = entry.health.lock().unwrap().clone();
                let changed = next.as_mut().and_then(|h| {
                    h.record(Probe { start, end, exit_code, output }, check.retries, in_start)
                });
                if let (Some(status), Some(h)) = (changed, &next) {
                    tracing::info!(container = %rec.id, status = status.as_str(), "health");
                    engine.record_health(&rec.id, run, h.clone()).await;
                }
                *entry.health.lock().unwrap() = next;
                if let Some(status) = changed {
                    engine.emit(&entry.record(), super::events::EventKind::Health(status));
                }
            }
        });
    }

    fn health_path(&self, id: &str) -> Result<std::path::PathBuf> {
        Ok(self.paths().container(id)?.join("health.json"))
    }

    /// The recorded health of the container's current run, if any.
    pub(super) fn recorded_health(&self, rec: &super::ContainerRecord) -> Option<Health> {
        rec.config.healthcheck.as_ref()?;
        match crate::store::read::<HealthRecord>(&self.health_path(&rec.id).ok()?) {
            crate::store::Loaded::Record(r) if r.run == rec.state.exits => Some(r.health),
            _ => None,
        }
    }

    /// Records the run's health (a failure is logged: the
    /// probes go on, a restarted berthd would begin at `starting`).
    async fn record_health(&self, id: &str, run: u64, health: Health) {
        let Ok(path) = self.health_path(id) else { return };
        let written = tokio::task::spawn_blocking(move || {
            crate::store::commit(&path, &HealthRecord { run, health })
        })
        .await;
        if let Ok(Err(e)) = written {
            tracing::warn!(error = %e, "record the container's health");
        }
    }

    /// What the probes of the container's current (or last) run found.
    pub fn health(&self, key: &str) -> Result<Option<Health>> {
        Ok(self.lookup(key)?.health.lock().unwrap().clone())
    }
}
