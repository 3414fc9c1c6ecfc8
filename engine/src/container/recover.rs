//! Start-up: load every container record, sweep what a crash left half
//! done, and reattach to the shims of running containers. Exits that
//! happened while the daemon was down come from the shims' exit records.

use super::{ContainerRecord, Entry, Status};
use crate::error::{IoContext, Result};
use crate::Engine;

impl Engine {
    pub(crate) async fn recover(&self) -> Result<()> {
        let dir = self.paths().containers();
        let mut running = Vec::new();
        for item in std::fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
            let Ok(item) = item else { continue };
            let name = item.file_name().to_string_lossy().into_owned();
            if crate::paths::check_id(&name).is_err() {
                continue;
            }
            let rec_path = item.path().join("container.json");
            let rec: ContainerRecord = match std::fs::read(&rec_path).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
                Some(r) => r,
                None => {
                    // No record: a create or remove that never finished.
                    tracing::info!(container = %name, "sweeping leftover container dir");
                    let _ = std::fs::remove_dir_all(item.path());
                    if let Ok(b) = self.paths().bundle(&name) {
                        let _ = std::fs::remove_dir_all(b);
                    }
                    continue;
                }
            };
            if rec.state.status == Status::Running {
                running.push((rec.id.clone(), rec.state.shim_pid));
            }
            self.inner.names.lock().unwrap().insert(rec.name.clone(), rec.id.clone());
            self.inner.containers.write().unwrap().insert(rec.id.clone(), Entry::new(rec));
        }
        // Bundles without a record belong to nothing.
        if let Ok(rd) = std::fs::read_dir(self.paths().bundles()) {
            let known = self.inner.containers.read().unwrap();
            for b in rd.flatten() {
                if !known.contains_key(&*b.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_dir_all(b.path());
                }
            }
        }
        // Each monitor reconnects (or reads the exit record) on its own task:
        // all shims are reattached in parallel and nobody waits on a slow one.
        for (id, shim_pid) in running {
            self.monitor(id, shim_pid);
        }
        Ok(())
    }
}
