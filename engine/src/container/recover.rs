//! Start-up: load every container record, sweep what a crash left half
//! done, and reattach to the shims of running containers. Exits that
//! happened while the daemon was down come from the shims' exit records.
//!
//! A record that can't be read is quarantined (see `crate::store`): the
//! container is listed as such, with all of its files, until it is removed
//! on purpose. After a node restart (`crate::boot`) no shim can be left:
//! running containers become exited with 255, their end `NodeRestarted`.

use super::{ContainerRecord, EndReason, Entry, Status};
use crate::boot::Boot;
use crate::error::{IoContext, Result};
use crate::store::{self, Loaded};
use crate::Engine;

const RECORD: &str = "container.json";

/// The name a damaged record may still say.
fn name_in(path: &std::path::Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["name"].as_str().map(str::to_owned)
}

impl Engine {
    pub(crate) async fn recover(&self, boot: Boot) -> Result<()> {
        self.sweep_steps().await;
        let dir = self.paths().containers();
        let mut running = Vec::new();
        // Exited while berthd was down (no shim left): recorded before the
        // API answers, so nobody sees them running.
        let mut ended = Vec::new();
        for item in std::fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
            let Ok(item) = item else { continue };
            let name = item.file_name().to_string_lossy().into_owned();
            if crate::paths::check_id(&name).is_err() {
                continue;
            }
            let rec_path = item.path().join(RECORD);
            let rec = match store::read::<ContainerRecord>(&rec_path) {
                Loaded::Record(r) if r.id == name => r,
                Loaded::Record(r) => self.quarantine(
                    &rec_path,
                    &name,
                    format!("it names container {:?}, not its dir's", r.id),
                )?,
                Loaded::Unreadable(why) => self.quarantine(&rec_path, &name, why)?,
                Loaded::Missing if store::is_quarantined(&item.path(), RECORD) => {
                    let name_in =
                        name_in(&item.path().join(format!("{RECORD}{}", store::QUARANTINE_SUFFIX)));
                    ContainerRecord::quarantined(
                        &name,
                        name_in,
                        "quarantined by an earlier start; see its .quarantined record".into(),
                    )
                }
                Loaded::Missing => {
                    // No record: a create or remove that never finished.
                    tracing::info!(container = %name, "sweeping leftover container dir");
                    let _ = std::fs::remove_dir_all(item.path());
                    if let Ok(b) = self.paths().bundle(&name) {
                        let _ = std::fs::remove_dir_all(b);
                    }
                    continue;
                }
            };
            let rec = if rec.state.status == Status::Running && boot == Boot::Restarted {
                self.ended_by_restart(rec)?
            } else {
                rec
            };
            if rec.state.status == Status::Running && super::monitor::is_shim(rec.state.shim_pid) {
                running.push((rec.id.clone(), rec.state.shim_pid));
            } else if rec.state.status == Status::Running {
                ended.push((rec.id.clone(), rec.state.shim_pid));
            } else if rec.state.status != Status::Quarantined {
                // (A quarantined one keeps everything, a live shim included.)
                self.reap_unfinished_start(&rec).await;
            }
            self.inner.containers.adopt_name(&rec.name, &rec.id);
            self.hold_recorded_ports(&rec);
            // Shown from the start, before its shim is adopted.
            let health =
                if rec.state.status == Status::Running { self.recorded_health(&rec) } else { None };
            let id = rec.id.clone();
            let entry = Entry::new(rec);
            *entry.health.lock().unwrap() = health;
            self.inner.containers.insert(&id, entry);
        }
        // Bundles without a record belong to nothing.
        if let Ok(rd) = std::fs::read_dir(self.paths().bundles()) {
            for b in rd.flatten() {
                if !self.inner.containers.contains(&b.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_dir_all(b.path());
                }
            }
        }
        for (id, shim_pid) in ended {
            self.follow_exit(&id, shim_pid).await;
        }
        // Each monitor reconnects (or reads the exit record) on its own task:
        // all shims are reattached in parallel and nobody waits on a slow one.
        for (id, shim_pid) in running {
            self.adopt(id, shim_pid);
        }
        Ok(())
    }

    /// Sets an unreadable record aside; what is shown of it instead.
    fn quarantine(&self, path: &std::path::Path, id: &str, why: String) -> Result<ContainerRecord> {
        let name = match store::quarantine(path, &why, "container", id) {
            Ok(aside) => name_in(&aside),
            // Left where it is (a read-only or failing disk): still shown, still kept.
            Err(e) => {
                tracing::error!(container = %id, error = %e, "could not set the unreadable record aside");
                name_in(path)
            }
        };
        Ok(ContainerRecord::quarantined(id, name, why))
    }

    /// A container not recorded as running has no business with a shim: a
    /// bundle left beside it is a start berthd died in the middle of (the
    /// shim may have started the process already). Nothing of it runs on.
    pub(crate) async fn reap_unfinished_start(&self, rec: &ContainerRecord) {
        let Ok(bundle) = self.paths().bundle(&rec.id) else { return };
        if !bundle.exists() {
            return;
        }
        let shim = std::fs::read_to_string(bundle.join(berth_proto::shim::PID_FILE))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        let cgroup = self.cgroup_path(rec);
        let id = rec.id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            use nix::sys::signal::{kill, Signal};
            use nix::unistd::Pid;
            if let Some(pid) = shim.filter(|p| super::monitor::is_shim(*p)) {
                tracing::info!(container = %id, shim = pid, "ending the shim of an unfinished start");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if let Ok(cg) = berth_kernel::cgroup::Cgroup::new(std::path::Path::new(&cgroup)) {
                for pid in cg.pids() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                for _ in 0..50 {
                    if cg.remove().is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            let _ = std::fs::remove_dir_all(&bundle);
        })
        .await;
    }

    /// A container that ran when the node went down: exited, 255.
    fn ended_by_restart(&self, mut rec: ContainerRecord) -> Result<ContainerRecord> {
        tracing::info!(container = %rec.id, "the node restarted while the container ran");
        rec.state.status = Status::Exited;
        rec.state.exit_code = 255;
        rec.state.end = EndReason::NodeRestarted;
        rec.state.finished_at = berth_proto::time::unix_nanos(std::time::SystemTime::now());
        rec.state.exits += 1;
        rec.state.error = "the node restarted while the container ran".into();
        self.persist(&rec)?;
        // Its cgroup, if the hierarchy kept it (it doesn't across a reboot).
        if let Ok(cg) =
            berth_kernel::cgroup::Cgroup::new(std::path::Path::new(&self.cgroup_path(&rec)))
        {
            let _ = cg.remove();
        }
        Ok(rec)
    }
}
