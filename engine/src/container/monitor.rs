//! One lightweight task per running container waits on its shim's `Wait`
//! answer (or, if the shim vanished, on the exit record it left behind).

use super::{EndReason, Status};
use crate::Engine;
use berth_proto::exit::ExitRecord;
use std::path::Path;
use std::time::Duration;

impl Engine {
    pub(crate) fn monitor(&self, id: String, shim_pid: i32) {
        let engine = self.clone();
        tokio::spawn(async move { engine.follow_exit(&id, shim_pid).await });
    }

    /// Waits for the run of `shim_pid` to end, then records it (at once for
    /// a run whose shim is gone: its exit record, or a lost shim).
    pub(crate) async fn follow_exit(&self, id: &str, shim_pid: i32) {
        let Ok(bundle) = self.paths().bundle(id) else { return };
        let exit = wait_exit(self.tasks(), &bundle, shim_pid).await;
        self.on_exit(id, shim_pid, exit).await;
    }

    /// Takes over the running container of a shim an earlier berthd started
    /// (maybe an older berth): learns the shim's protocol, then monitors it.
    /// A shim too old to talk to is left running, its container Unknown
    /// (none is yet: protocol 1 is still spoken; the check is for the day
    /// `MIN_PROTOCOL` rises).
    pub(crate) fn adopt(&self, id: String, shim_pid: i32) {
        let engine = self.clone();
        tokio::spawn(async move {
            let Ok(bundle) = engine.paths().bundle(&id) else { return };
            if let (Ok(protocol), Ok(entry)) =
                (engine.tasks().version(&bundle).await, engine.lookup(&id))
            {
                if protocol < berth_proto::shim::MIN_PROTOCOL {
                    tracing::error!(container = %id, protocol, "the container's shim speaks a protocol this berthd no longer knows");
                    let _ = engine.commit(&entry, |r| {
                        r.state.status = Status::Unknown;
                        r.state.error = format!("its shim speaks protocol {protocol}; this berthd talks to {} and newer", berth_proto::shim::MIN_PROTOCOL);
                    });
                    return;
                }
                if entry.record().state.shim_protocol != protocol {
                    tracing::info!(container = %id, protocol, "adopted a shim");
                    let _ = engine.commit(&entry, |r| r.state.shim_protocol = protocol);
                }
            }
            if let Ok(entry) = engine.lookup(&id) {
                engine.watch_health(&entry);
            }
            engine.follow_exit(&id, shim_pid).await;
        });
    }

    /// Records an exit reported for the run started by `shim_pid`.
    pub(crate) async fn on_exit(&self, id: &str, shim_pid: i32, exit: (ExitRecord, EndReason)) {
        let Ok(entry) = self.lookup(id) else { return };
        let rec = entry.record();
        if rec.state.status != Status::Running || rec.state.shim_pid != shim_pid {
            return;
        }
        let (exit, end) = exit;
        let status = if end == EndReason::ShimLost { Status::Unknown } else { Status::Exited };
        let on_purpose = entry.stopping.swap(false, std::sync::atomic::Ordering::SeqCst);
        // Its network goes before the exit is seen: a stop's caller may
        // publish the same port at once (a lost shim's may still be in use).
        let freed = status == Status::Exited && self.free_network(&rec).await;
        let res = self.commit(&entry, |r| {
            if freed {
                r.config.release_network();
            }
            r.state.stopped_on_purpose = on_purpose;
            r.state.status = status;
            r.state.exit_code = exit.exit_code;
            r.state.oom_killed = exit.oom_killed;
            r.state.finished_at = exit.finished_unix_nanos;
            r.state.exits += 1;
            r.state.end = end;
            r.state.paused = false;
            if end == EndReason::ShimLost {
                r.state.error = "the container's shim exited without an exit record".into();
            }
        });
        let exited = match res {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(container = %id, error = %e, "could not record exit");
                return;
            }
        };
        if exited.state.oom_killed {
            self.emit(&exited, super::events::EventKind::OomKilled);
        }
        self.emit(&exited, super::events::EventKind::Stopped);
        // The bundle goes under the container's lock, unless a start (a
        // restart right after the stop this exit ended) has made a new one.
        {
            let _op = entry.op.lock().await;
            if entry.record().state.status != Status::Running {
                if let Ok(b) = self.paths().bundle(id) {
                    let _ = std::fs::remove_dir_all(b);
                }
            }
        }
        if status == Status::Unknown {
            // Nobody is left to clean the container's cgroup (or what runs in it).
            let path = self.cgroup_path(&rec);
            let _ = tokio::task::spawn_blocking(move || {
                if let Ok(cg) = berth_kernel::cgroup::Cgroup::new(std::path::Path::new(&path)) {
                    let _ = cg.remove_within(std::time::Duration::from_secs(3));
                }
            })
            .await;
        }
        tracing::info!(container = %id, exit_code = exit.exit_code, oom = exit.oom_killed, "exited");
        self.after_exit(&entry, &exited);
        if rec.config.auto_remove {
            let engine = self.clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = engine.remove_with_volumes(&id, true).await {
                    tracing::warn!(container = %id, error = %e, "auto-remove failed");
                }
            });
        }
    }
}

fn read_exit(bundle: &Path) -> Option<ExitRecord> {
    std::fs::read(bundle.join(berth_proto::shim::EXIT_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Whether `pid` is a live berth-shim (not a recycled pid, not a zombie).
pub(crate) fn is_shim(pid: i32) -> bool {
    pid > 0
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| c.windows(10).any(|w| w == b"berth-shim"))
            .unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// Waits for the container's exit: from the shim while it lives, else from
/// the exit record it left. A shim that died without one: `ShimLost`.
pub(crate) async fn wait_exit(
    tasks: &crate::task::Tasks,
    bundle: &Path,
    shim_pid: i32,
) -> (ExitRecord, EndReason) {
    loop {
        if let Ok(Some(e)) = tasks.wait(bundle).await {
            return (ExitRecord::from(&e), EndReason::Exited);
        }
        if let Some(e) = read_exit(bundle) {
            return (e, EndReason::Exited);
        }
        if !is_shim(shim_pid) {
            // It may have been writing the record as it went.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return match read_exit(bundle) {
                Some(e) => (e, EndReason::Exited),
                None => {
                    let lost = ExitRecord {
                        exit_code: 255,
                        oom_killed: false,
                        finished_unix_nanos: berth_proto::time::unix_nanos(
                            std::time::SystemTime::now(),
                        ),
                        reason: String::new(),
                    };
                    (lost, EndReason::ShimLost)
                }
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
