//! Start-up: load sandbox records; a READY sandbox whose pins are gone
//! (the node rebooted) or whose pod init died is NOTREADY; dirs without a
//! record are swept. A record that can't be read is quarantined (see
//! `crate::store`): the sandbox shows as NOTREADY, and its removal (kubelet's
//! or anyone's) runs CNI DEL from the cache and takes its dirs.

use super::{SandboxEntry, SandboxRecord, SandboxState};
use crate::error::{IoContext, Result};
use crate::store::{self, Loaded};
use crate::Engine;

pub(crate) const RECORD: &str = "sandbox.json";

/// Sets an unreadable record aside (left in place if even that fails: a
/// read-only or failing disk); what is shown of the sandbox instead.
fn quarantine(path: &std::path::Path, why: &str, id: &str) -> SandboxRecord {
    if let Err(e) = store::quarantine(path, why, "pod sandbox", id) {
        tracing::error!(sandbox = %id, error = %e, "could not set the unreadable record aside");
    }
    SandboxRecord::quarantined(id)
}

impl Engine {
    pub(crate) fn recover_sandboxes(&self) -> Result<()> {
        let dir = self.paths().sandboxes();
        for item in std::fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))?.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if crate::paths::check_id(&name).is_err() {
                continue;
            }
            let path = item.path().join(RECORD);
            let mut rec = match store::read::<SandboxRecord>(&path) {
                Loaded::Record(r) if r.id == name => r,
                Loaded::Record(r) => {
                    quarantine(&path, &format!("it names sandbox {:?}, not its dir's", r.id), &name)
                }
                Loaded::Unreadable(why) => quarantine(&path, &why, &name),
                Loaded::Missing if store::is_quarantined(&item.path(), RECORD) => {
                    SandboxRecord::quarantined(&name)
                }
                Loaded::Missing => {
                    let _ = std::fs::remove_dir_all(item.path());
                    self.release_leftover_pins(&name);
                    continue;
                }
            };
            if rec.quarantined {
                // Nothing of it may stay mounted while nobody knows its pins.
                self.release_leftover_pins(&name);
            }
            if rec.state == SandboxState::Ready
                && !(rec.pins.iter().all(|p| self.inner.pins.is_pinned(p)) && rec.init_alive())
            {
                self.inner.pins.release(&rec.pins);
                rec.state = SandboxState::NotReady;
                rec.pins.clear();
                rec.init_pid = None;
                self.sandbox_persist(&rec)?;
            }
            self.inner.sandboxes.adopt_name(&rec.name_key(), &rec.id);
            self.inner.sandboxes.insert(&rec.id.clone(), SandboxEntry::new(rec));
        }
        Ok(())
    }

    /// Every cached CNI attachment whose sandbox is unknown is a DEL owed by
    /// a RunPodSandbox that never finished (or a removal cut short): run it.
    pub(crate) async fn sweep_networks(&self) {
        let known: std::collections::HashSet<String> =
            self.inner.sandboxes.ids().into_iter().collect();
        let mut owners: Vec<String> = self
            .cni()
            .cached_ids()
            .iter()
            .map(|id| crate::network::connect::attachment_owner(id).to_owned())
            .filter(|o| !known.contains(o))
            .collect();
        owners.dedup();
        for id in owners {
            let Ok(state) = self.paths().sandbox_state(&id) else { continue };
            match self.network_del(&id, &state.join("net")).await {
                Ok(()) => {
                    tracing::info!(sandbox = %id, "released the network of a sandbox that was never finished")
                }
                Err(e) => {
                    tracing::warn!(sandbox = %id, error = %e, "CNI DEL for an unfinished sandbox failed; retried at the next start")
                }
            }
        }
    }

    /// A container's own sandbox whose container is gone (a create or a
    /// removal cut short) is removed: its address, namespace and dirs.
    pub(crate) async fn sweep_container_sandboxes(&self) {
        let used: std::collections::HashSet<String> = self
            .inner
            .containers
            .all()
            .into_iter()
            .filter_map(|e| e.record().config.network.sandbox().map(str::to_owned))
            .collect();
        let orphans: Vec<String> = self
            .inner
            .sandboxes
            .all()
            .into_iter()
            .map(|e| e.record())
            .filter(|r| r.config.owner == super::SandboxOwner::Container && !used.contains(&r.id))
            .map(|r| r.id)
            .collect();
        for id in orphans {
            match self.remove_container_sandbox(&id).await {
                Ok(()) => {
                    tracing::info!(sandbox = %id, "removed the network of a container that is gone")
                }
                Err(e) => {
                    tracing::warn!(sandbox = %id, error = %e, "remove the network of a container that is gone; retried at the next start")
                }
            }
        }
    }

    /// Unmounts whatever is pinned in a sandbox's state dir and removes it;
    /// a pod init still holding its PID namespace is killed first.
    fn release_leftover_pins(&self, id: &str) {
        if let Ok(s) = self.paths().sandbox_state(id) {
            let pid_pin = s.join("pid");
            let pins = &self.inner.pins;
            if pins.is_pinned(&pid_pin) {
                if let Some(pid) = pins.find_init(&pid_pin) {
                    pins.kill_init(pid, &pid_pin);
                }
            }
            if let Ok(rd) = std::fs::read_dir(&s) {
                let pins: Vec<_> =
                    rd.flatten().map(|e| e.path()).filter(|p| pins.is_pinned(p)).collect();
                self.inner.pins.release(&pins);
            }
            let _ = std::fs::remove_dir_all(s);
        }
    }
}
