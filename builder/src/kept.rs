//! Contexts kept between builds: `berth build` syncs a directory into one
//! (only what changed since the last build: BuildKit's local source, sent
//! by diff), so an unchanged context costs a listing, not a 40 MB tar that
//! is written, hashed and removed every time. One per client directory
//! (`id`: a digest the client makes of its path). What the client says
//! about its files (their modes, sizes, times) is its own record, kept
//! here as it sent it and handed back for the next diff; the server only
//! applies what arrives. A build reads its context under the id's read
//! lock, a sync writes under its write lock, so no build sees a half-synced
//! context. Removed paths and the tar are applied by descriptor inside the
//! context's root (`berth_kernel::cp::View`), as every context is.

use crate::{BuildError, Result};
use berth_kernel::cp::View;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::RwLock;

/// At most this many contexts are kept; the least recently synced go first.
const KEEP: usize = 16;

/// The kept contexts, each `<dir>/<id>/` with its record `<dir>/<id>.json`.
#[derive(Debug)]
pub struct KeptContexts {
    dir: PathBuf,
    locks: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

/// What a sync changes.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// The generation the client's diff was made against.
    pub base: u64,
    /// Start over: the context is emptied before the tar is applied.
    pub reset: bool,
    /// Paths to take out (before the tar is applied).
    pub removed: Vec<String>,
    /// The client's record of its files after this sync (opaque here).
    pub client_state: String,
}

/// A kept context's record (versioned).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeptState {
    pub version: u32,
    /// Bumped by every sync.
    pub generation: u64,
    /// What the client said about its files at the last sync.
    pub client_state: String,
}

const VERSION: u32 = 1;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

impl KeptContexts {
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        // What a sync stopped midway left (its temp files).
        for e in std::fs::read_dir(&dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Self { dir, locks: Mutex::default() })
    }

    fn check(id: &str) -> Result<()> {
        match id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            true => Ok(()),
            false => Err(BuildError::Invalid(format!("invalid context id {id:?}"))),
        }
    }

    /// The id's lock: builds read under it, syncs write.
    pub fn lock(&self, id: &str) -> Result<Arc<RwLock<()>>> {
        Self::check(id)?;
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Ok(locks.entry(id.to_owned()).or_default().clone())
    }

    /// The context's dir (what COPY reads).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn record(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The context's record; a context never synced is generation 0 (blocking).
    pub fn state(&self, id: &str) -> Result<KeptState> {
        Self::check(id)?;
        match std::fs::read(self.record(id)) {
            Ok(b) => match serde_json::from_slice::<KeptState>(&b) {
                Ok(s) if s.version == VERSION && self.dir(id).is_dir() => Ok(s),
                // Another version's record, or its dir gone: start over.
                _ => Ok(KeptState { version: VERSION, ..Default::default() }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(KeptState { version: VERSION, ..Default::default() })
            }
            Err(e) => Err(io("read the context's record")(e)),
        }
    }

    /// Applies a sync (blocking; the caller holds the id's write lock).
    /// A diff made against another generation is refused: the client lists again.
    pub fn sync(&self, id: &str, req: &SyncRequest, tar: impl Read) -> Result<u64> {
        let state = self.state(id)?;
        if req.base != state.generation && !req.reset {
            return Err(BuildError::Conflict(format!(
                "the context changed since generation {} (now {}): list it again",
                req.base, state.generation
            )));
        }
        let dir = self.dir(id);
        // Until the new record is written, the old one no longer describes the dir.
        let _ = std::fs::remove_file(self.record(id));
        if req.reset {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("empty the context")(e))
                }
                _ => {}
            }
        }
        if !dir.is_dir() {
            self.evict(id);
            std::fs::create_dir(&dir).map_err(io("create the context"))?;
        }
        let view = View::of_dir(&dir).map_err(|e| BuildError::Invalid(format!("context: {e}")))?;
        for p in &req.removed {
            view.remove(p).map_err(|e| BuildError::Invalid(format!("context: remove {p}: {e}")))?;
        }
        crate::context::extract(&dir, tar)?;
        let generation = state.generation + 1;
        let next =
            KeptState { version: VERSION, generation, client_state: req.client_state.clone() };
        let bytes = serde_json::to_vec(&next).map_err(|e| BuildError::Invalid(e.to_string()))?;
        berth_kernel::fs::replace(&self.record(id), &bytes)
            .map_err(io("write the context's record"))?;
        Ok(generation)
    }

    /// Makes room for a new context: the least recently synced that no
    /// build holds go, beyond the last `KEEP - 1`.
    fn evict(&self, new: &str) {
        let mut kept: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = name.strip_suffix(".json")?.to_owned();
                (id != new).then_some((e.metadata().ok()?.modified().ok()?, id))
            })
            .collect();
        kept.sort();
        let excess = (kept.len() + 1).saturating_sub(KEEP);
        for (_, id) in kept.into_iter().take(excess) {
            self.remove_unused(&id);
        }
    }

    /// Removes the context unless a build or a sync holds it; its bytes.
    fn remove_unused(&self, id: &str) -> Option<u64> {
        let lock = self.lock(id).ok()?;
        let _held = lock.try_write().ok()?;
        let bytes = dir_size(&self.dir(id));
        let _ = std::fs::remove_file(self.record(id));
        let _ = std::fs::remove_dir_all(self.dir(id));
        Some(bytes)
    }

    /// Removes every context no build holds (`builder prune`): their ids and bytes.
    pub fn prune(&self) -> Vec<(String, u64)> {
        let ids: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name().to_string_lossy().strip_suffix(".json").map(str::to_owned)
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| Some((self.remove_unused(&id)?, id)))
            .map(|(b, id)| (id, b))
            .collect()
    }
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn syncs_apply_diffs_against_their_generation_only() {
        let tmp = tempfile::tempdir().unwrap();
        let kept = KeptContexts::open(tmp.path().join("k")).unwrap();
        assert_eq!(kept.state(ID).unwrap().generation, 0);
        let first = SyncRequest { client_state: "s1".into(), ..Default::default() };
        let g = kept.sync(ID, &first, &tarball(&[("a/x", "1"), ("b", "2")])[..]).unwrap();
        assert_eq!(g, 1);
        let second = SyncRequest {
            base: 1,
            removed: vec!["a".into(), "../../etc".into()],
            client_state: "s2".into(),
            ..Default::default()
        };
        kept.sync(ID, &second, &tarball(&[("b", "3")])[..]).unwrap();
        let dir = kept.dir(ID);
        assert!(!dir.join("a").exists());
        assert_eq!(std::fs::read_to_string(dir.join("b")).unwrap(), "3");
        let s = kept.state(ID).unwrap();
        assert_eq!((s.generation, s.client_state.as_str()), (2, "s2"));
        // A diff made against generation 1 is stale now.
        let stale = SyncRequest { base: 1, ..Default::default() };
        assert!(matches!(kept.sync(ID, &stale, &[][..]), Err(BuildError::Conflict(_))));
        assert!(kept.lock("../x").is_err());
        assert_eq!(kept.prune().len(), 1);
        assert!(!dir.exists());
    }
}
