//! Start-up: load sandbox records; a READY sandbox whose pins are gone
//! (the node rebooted) or whose pod init died is NOTREADY; dirs without a record are swept.

use super::{SandboxEntry, SandboxRecord, SandboxState};
use crate::error::{IoContext, Result};
use crate::Engine;

impl Engine {
    pub(crate) fn recover_sandboxes(&self) -> Result<()> {
        let dir = self.paths().sandboxes();
        for item in std::fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))?.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if crate::paths::check_id(&name).is_err() {
                continue;
            }
            let rec: Option<SandboxRecord> = std::fs::read(item.path().join("sandbox.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let Some(mut rec) = rec else {
                let _ = std::fs::remove_dir_all(item.path());
                if let Ok(s) = self.paths().sandbox_state(&name) {
                    if let Ok(rd) = std::fs::read_dir(&s) {
                        let pins: Vec<_> = rd.flatten().map(|e| e.path()).filter(|p| berth_kernel::pin::is_pinned(p)).collect();
                        berth_kernel::pin::release(&pins);
                    }
                    let _ = std::fs::remove_dir_all(s);
                }
                continue;
            };
            if rec.state == SandboxState::Ready && !(rec.pins.iter().all(|p| berth_kernel::pin::is_pinned(p)) && rec.init_alive()) {
                berth_kernel::pin::release(&rec.pins);
                rec.state = SandboxState::NotReady;
                rec.pins.clear();
                rec.init_pid = None;
                self.sandbox_persist(&rec)?;
            }
            self.inner.sandbox_names.lock().unwrap().insert(rec.name_key(), rec.id.clone());
            self.inner.sandboxes.write().unwrap().insert(rec.id.clone(), SandboxEntry::new(rec));
        }
        Ok(())
    }
}
