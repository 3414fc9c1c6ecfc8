//! Wait: until the container is not running, until its next exit, or
//! until it has exited and been removed (`run --rm`).

use super::{ContainerState, Status};
use crate::error::{Error, Result};
use crate::Engine;
use tokio::sync::watch;

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOutcome {
    pub exit_code: i32,
    pub oom_killed: bool,
}

/// A registered wait: created synchronously, so a caller can start the
/// container only after it is in place.
pub struct Waiter {
    rx: watch::Receiver<ContainerState>,
    next_exit: bool,
    removed: bool,
    exits_at_start: u64,
}

impl Engine {
    /// Registers a wait; `condition` is `not-running` (default), `next-exit`
    /// or `removed` (the next exit, then the container's removal).
    pub fn waiter(&self, key: &str, condition: &str) -> Result<Waiter> {
        let (next_exit, removed) = match condition {
            "" | "not-running" => (false, false),
            "next-exit" => (true, false),
            "removed" => (true, true),
            other => return Err(Error::invalid(format!("invalid wait condition {other:?}"))),
        };
        let entry = self.lookup(key)?;
        let rx = entry.subscribe();
        let exits_at_start = rx.borrow().exits;
        Ok(Waiter { rx, next_exit, removed, exits_at_start })
    }
}

impl Waiter {
    /// Waits; a container removed meanwhile reports its last known exit.
    pub async fn wait(mut self) -> WaitOutcome {
        let (next_exit, base) = (self.next_exit, self.exits_at_start);
        let done = |s: &ContainerState| {
            if next_exit {
                s.exits > base
            } else {
                s.status != Status::Running
            }
        };
        let got = self.rx.wait_for(done).await.map(|s| s.clone()).ok();
        let state = got.unwrap_or_else(|| self.rx.borrow().clone());
        if self.removed {
            // The channel closes when the container's entry is dropped.
            while self.rx.changed().await.is_ok() {}
        }
        WaitOutcome { exit_code: state.exit_code, oom_killed: state.oom_killed }
    }
}
