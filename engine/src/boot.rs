//! Did the node restart since berthd last ran? Then no container of the
//! records can still run (its shim, its namespaces and its bundle under the
//! volatile state dir are gone), and recovery says so instead of waiting on
//! shims that will never answer.
//!
//! The durable root keeps the kernel's boot id of the last start; the node
//! restarted when that id differs from this boot's, or when the state dir
//! (a tmpfs on real nodes) is gone while the root still holds records.
//! A root without a boot id (the first start, or records of a berth from
//! before this check) is not taken as a restart: each shim is asked.

use crate::error::{IoContext, Result};
use crate::paths::Paths;

/// What start-up found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boot {
    /// Same boot as the last start (or no way to tell).
    Same,
    /// The node restarted since the last start.
    Restarted,
}

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn current() -> Option<String> {
    std::fs::read_to_string(BOOT_ID).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn recorded(paths: &Paths) -> std::path::PathBuf {
    paths.root.join("boot_id")
}

/// Compares this boot with the last start's; call before the state dir is made.
pub(crate) fn check(paths: &Paths) -> Boot {
    let Ok(last) = std::fs::read_to_string(recorded(paths)) else { return Boot::Same };
    let state_gone = !paths.state.exists();
    match current() {
        Some(now) if now != last.trim() => Boot::Restarted,
        _ if state_gone => Boot::Restarted,
        _ => Boot::Same,
    }
}

/// Records this boot for the next start.
pub(crate) fn record(paths: &Paths) -> Result<()> {
    match current() {
        Some(id) => berth_kernel::fs::atomic_write(&recorded(paths), format!("{id}\n").as_bytes())
            .ctx(|| "record the boot id".into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_boot_id_or_a_lost_state_dir_is_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("state"));
        std::fs::create_dir_all(&paths.root).unwrap();
        std::fs::create_dir_all(&paths.state).unwrap();
        assert_eq!(check(&paths), Boot::Same, "no boot id recorded yet");
        record(&paths).unwrap();
        assert_eq!(check(&paths), Boot::Same);
        std::fs::write(recorded(&paths), "another-boot\n").unwrap();
        assert_eq!(check(&paths), Boot::Restarted);
        record(&paths).unwrap();
        std::fs::remove_dir(&paths.state).unwrap();
        assert_eq!(check(&paths), Boot::Restarted);
    }
}
