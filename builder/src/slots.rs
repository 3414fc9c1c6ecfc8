//! Where classic contexts go: a few dirs kept between builds
//! (`<root>/builder/classic/<n>`). The classic API sends the whole context
//! every time; extracted over the last one a slot held
//! (`Context::in_slot`), its unchanged files are neither written nor
//! hashed again, and links to them from layers stay valid. A build takes
//! the free slot last used for the same hint (its tags and Dockerfile
//! name: most likely the same project), else the least recently used one;
//! with none free, a fresh dir as before.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const SLOTS: usize = 4;

#[derive(Debug, Default, Clone)]
struct Slot {
    hint: String,
    busy: bool,
    /// When it was last taken (a counter).
    used: u64,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    clock: u64,
}

/// The slots.
#[derive(Debug)]
pub struct Slots {
    dir: PathBuf,
    table: Arc<Mutex<Table>>,
}

/// A slot taken for one build; free again when dropped.
#[derive(Debug)]
pub struct Held {
    dir: PathBuf,
    index: usize,
    table: Arc<Mutex<Table>>,
}

impl Held {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.slots[self.index].busy = false;
    }
}

impl Slots {
    pub fn new(dir: PathBuf) -> Self {
        let table = Table { slots: vec![Slot::default(); SLOTS], clock: 0 };
        Self { dir, table: Arc::new(Mutex::new(table)) }
    }

    /// A free slot for a build (its dir made), or none.
    pub fn take(&self, hint: &str) -> Option<Held> {
        let index = {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let free = |s: &&Slot| !s.busy;
            let same = t.slots.iter().position(|s| !s.busy && s.hint == hint);
            let lru =
                t.slots.iter().enumerate().filter(|(_, s)| free(s)).min_by_key(|(_, s)| s.used);
            let index = same.or(lru.map(|(i, _)| i))?;
            t.clock += 1;
            let used = t.clock;
            t.slots[index] = Slot { hint: hint.to_owned(), busy: true, used };
            index
        };
        let held = Held { dir: self.dir.join(index.to_string()), index, table: self.table.clone() };
        std::fs::create_dir_all(&held.dir).ok()?;
        Some(held)
    }

    /// Removes the free slots' dirs (`builder prune`): their names and bytes.
    pub fn prune(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        for (i, s) in t.slots.iter_mut().enumerate().filter(|(_, s)| !s.busy) {
            let dir = self.dir.join(i.to_string());
            if dir.exists() {
                let bytes = crate::kept::dir_size(&dir);
                if std::fs::remove_dir_all(&dir).is_ok() {
                    out.push((format!("classic-context-{i}"), bytes));
                }
            }
            s.hint.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_gets_its_hint_s_slot_else_the_least_recently_used() {
        let tmp = tempfile::tempdir().unwrap();
        let slots = Slots::new(tmp.path().join("c"));
        let a = slots.take("app").unwrap();
        let b = slots.take("web").unwrap();
        assert_ne!(a.dir(), b.dir());
        let a_dir = a.dir().to_path_buf();
        drop(a);
        assert_eq!(slots.take("app").unwrap().dir(), a_dir);
        let held: Vec<Held> = (0..SLOTS - 1).map(|_| slots.take("x").unwrap()).collect();
        assert!(slots.take("y").is_none(), "all busy");
        drop(held);
        drop(b);
        assert_eq!(slots.prune().len(), SLOTS);
    }
}
