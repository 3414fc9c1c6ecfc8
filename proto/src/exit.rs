//! The exit record a shim writes (atomically) when its container exits, so a
//! daemon that was down at that moment still learns the real exit code.

use serde::{Deserialize, Serialize};

/// Contents of `<bundle>/exit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub oom_killed: bool,
    pub finished_unix_nanos: i64,
    /// Empty, `OOMKilled`, or why the shim could not run the container.
    #[serde(default)]
    pub reason: String,
}

impl From<&ExitRecord> for crate::shim::Exit {
    fn from(e: &ExitRecord) -> Self {
        Self {
            exit_code: e.exit_code,
            oom_killed: e.oom_killed,
            finished_unix_nanos: e.finished_unix_nanos,
            reason: e.reason.clone(),
        }
    }
}

impl From<&crate::shim::Exit> for ExitRecord {
    fn from(e: &crate::shim::Exit) -> Self {
        Self {
            exit_code: e.exit_code,
            oom_killed: e.oom_killed,
            finished_unix_nanos: e.finished_unix_nanos,
            reason: e.reason.clone(),
        }
    }
}
