//! A sandbox's namespaces, held open by bind mounts ("pins") in its state
//! dir: made by `berth-shim pin` (a fresh single-threaded process: berthd
//! itself never unshares), released by unmounting. `ShimPins` is the
//! node's; unit tests use files in place of mounts.

use super::UserNamespace;
use crate::error::{Error, IoContext, Result};
use futures::future::BoxFuture;
use std::path::{Path, PathBuf};

/// What to pin.
#[derive(Debug, Clone, Copy)]
pub struct PinRequest<'a> {
    /// The sandbox's state dir: each namespace is pinned at `<dir>/<kind>`.
    pub dir: &'a Path,
    /// `net`, `uts`, `ipc`, `pid`.
    pub kinds: &'a [&'a str],
    pub hostname: Option<&'a str>,
    pub sysctls: &'a [(String, String)],
    pub user: Option<&'a UserNamespace>,
}

pub trait NamespacePins: Send + Sync + 'static {
    /// Pins new namespaces; the pod init's pid when `kinds` has `pid`.
    fn pin<'a>(&'a self, req: PinRequest<'a>) -> BoxFuture<'a, Result<Option<i32>>>;
    /// Unmounts the pins (what is not pinned is skipped). Blocking.
    fn release(&self, pins: &[PathBuf]);
    fn is_pinned(&self, pin: &Path) -> bool;
    /// Kills a pod init, and with it its PID namespace. Blocking.
    fn kill_init(&self, pid: i32, pid_pin: &Path);
    /// The pod init holding a pinned PID namespace, if any.
    fn find_init(&self, pid_pin: &Path) -> Option<i32>;
}

/// The node's: `berth-shim pin`, bind mounts.
pub struct ShimPins {
    pub shim_path: PathBuf,
}

impl NamespacePins for ShimPins {
    fn pin<'a>(&'a self, r: PinRequest<'a>) -> BoxFuture<'a, Result<Option<i32>>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&self.shim_path);
            cmd.arg("pin").arg("--dir").arg(r.dir).arg("--ns").arg(r.kinds.join(","));
            if let Some(u) = r.user {
                for (flag, m) in [("--uid-map", u.uids), ("--gid-map", u.gids)] {
                    cmd.arg(flag).arg(format!("{}:{}:{}", m.container_id, m.host_id, m.length));
                }
            }
            if let Some(h) = r.hostname {
                cmd.arg("--hostname").arg(h);
            }
            for (k, v) in r.sysctls {
                cmd.arg("--sysctl").arg(format!("{k}={v}"));
            }
            let out = cmd
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .ctx(|| "run berth-shim pin".into())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut words = text.split_whitespace();
            if out.status.success() && words.next() == Some("ok") {
                match words.next().map(str::parse::<i32>) {
                    None => Ok(None),
                    Some(Ok(pid)) if pid > 0 => Ok(Some(pid)),
                    Some(_) => Err(Error::Internal(format!(
                        "pin pod namespaces: unexpected answer {:?}",
                        text.trim()
                    ))),
                }
            } else {
                Err(Error::Internal(format!(
                    "pin pod namespaces: {}",
                    text.trim().trim_start_matches("error: ")
                )))
            }
        })
    }

    fn release(&self, pins: &[PathBuf]) {
        berth_kernel::pin::release(pins)
    }

    fn is_pinned(&self, pin: &Path) -> bool {
        berth_kernel::pin::is_pinned(pin)
    }

    fn kill_init(&self, pid: i32, pid_pin: &Path) {
        berth_kernel::pod_init::kill(pid, pid_pin)
    }

    fn find_init(&self, pid_pin: &Path) -> Option<i32> {
        berth_kernel::pod_init::find(pid_pin)
    }
}
