//! A part that owns what is known in memory of one kind of record
//! (containers, pod sandboxes): the entries by id and the names they hold.
//!
//! A name is claimed before anything of its holder is made and given back
//! last, so two creates can't take one name. Its two locks are only ever
//! taken in one order, entries then names, and only inside this file; what
//! must happen while no entry comes or goes (an image's removal checking
//! that no container uses it) runs inside [`Table::holding`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

pub(crate) struct Table<E> {
    entries: RwLock<HashMap<String, Arc<E>>>,
    /// Name → id.
    names: Mutex<HashMap<String, String>>,
}

impl<E> Default for Table<E> {
    fn default() -> Self {
        Self { entries: Default::default(), names: Default::default() }
    }
}

impl<E> Table<E> {
    /// Claims `name` for `id`; `Err` with the id that holds it already.
    pub(crate) fn claim_name(&self, name: &str, id: &str) -> Result<(), String> {
        let mut names = self.names.lock().unwrap();
        if let Some(other) = names.get(name) {
            return Err(other.clone());
        }
        names.insert(name.to_owned(), id.to_owned());
        Ok(())
    }

    /// Gives `name` back, if `id` holds it.
    pub(crate) fn release_name(&self, name: &str, id: &str) {
        let mut names = self.names.lock().unwrap();
        if names.get(name).is_some_and(|holder| holder == id) {
            names.remove(name);
        }
    }

    /// A name found in a record at recovery: the first record to hold it keeps it.
    pub(crate) fn adopt_name(&self, name: &str, id: &str) {
        self.names.lock().unwrap().entry(name.to_owned()).or_insert_with(|| id.to_owned());
    }

    pub(crate) fn insert(&self, id: &str, entry: Arc<E>) {
        self.entries.write().unwrap().insert(id.to_owned(), entry);
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<E>> {
        self.entries.write().unwrap().remove(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<E>> {
        self.entries.read().unwrap().get(id).cloned()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.entries.read().unwrap().contains_key(id)
    }

    /// Every id, in no order.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.entries.read().unwrap().keys().cloned().collect()
    }

    /// Every entry, in no order.
    pub(crate) fn all(&self) -> Vec<Arc<E>> {
        self.entries.read().unwrap().values().cloned().collect()
    }

    /// By exact id, then (with `by_name`) by name, then by unique id
    /// prefix — Docker's order — among the entries `keep` accepts.
    pub(crate) fn find(
        &self,
        key: &str,
        kind: &str,
        by_name: bool,
        keep: impl Fn(&E) -> bool,
    ) -> crate::Result<Option<Arc<E>>> {
        if key.is_empty() {
            return Ok(None);
        }
        let entries = self.entries.read().unwrap();
        if let Some(e) = entries.get(key).filter(|e| keep(e)) {
            return Ok(Some(e.clone()));
        }
        if by_name {
            let names = self.names.lock().unwrap();
            if let Some(e) = names.get(key.trim_start_matches('/')).and_then(|id| entries.get(id)) {
                if keep(e) {
                    return Ok(Some(e.clone()));
                }
            }
        }
        let keep = &keep;
        let ids = entries.iter().filter(move |(_, e)| keep(e)).map(|(id, _)| id);
        Ok(crate::store::find_id(ids, key, kind)?.map(|id| entries[&id].clone()))
    }

    /// Runs `f` over every entry while none can come or go.
    pub(crate) fn holding<R>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Arc<E>>) -> R) -> R {
        let entries = self.entries.read().unwrap();
        f(&mut entries.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(ids: &[(&str, &str)]) -> Table<String> {
        let t = Table::default();
        for (id, name) in ids {
            t.claim_name(name, id).unwrap();
            t.insert(id, Arc::new(id.to_string()));
        }
        t
    }

    fn found(t: &Table<String>, key: &str) -> Option<String> {
        t.find(key, "container", true, |_| true).unwrap().map(|e| e.to_string())
    }

    #[test]
    fn a_name_has_one_holder_until_its_holder_gives_it_back() {
        let t = table(&[("aaa1", "web")]);
        assert_eq!(t.claim_name("web", "bbb2"), Err("aaa1".to_owned()));
        // Only its holder gives it back.
        t.release_name("web", "bbb2");
        assert_eq!(t.claim_name("web", "bbb2"), Err("aaa1".to_owned()));
        t.release_name("web", "aaa1");
        assert_eq!(t.claim_name("web", "bbb2"), Ok(()));
        // At recovery the first record keeps it.
        t.adopt_name("web", "ccc3");
        assert_eq!(t.claim_name("web", "ddd4"), Err("bbb2".to_owned()));
    }

    #[test]
    fn lookups_go_by_id_then_name_then_unique_prefix() {
        let t = table(&[("abc1", "web"), ("abc2", "db"), ("def3", "abc1x")]);
        assert_eq!(found(&t, "abc1").as_deref(), Some("abc1"));
        assert_eq!(found(&t, "db").as_deref(), Some("abc2"));
        assert_eq!(found(&t, "/db").as_deref(), Some("abc2"));
        // A name wins over a prefix of another's id.
        assert_eq!(found(&t, "abc1x").as_deref(), Some("def3"));
        assert_eq!(found(&t, "de").as_deref(), Some("def3"));
        assert!(t.find("abc", "container", true, |_| true).is_err(), "ambiguous");
        assert_eq!(found(&t, "zzz"), None);
        assert_eq!(found(&t, ""), None);
        // Without names (the CRI's lookups), and only among those kept.
        assert_eq!(t.find("db", "container", false, |_| true).unwrap(), None);
        let only_2 = t.find("abc", "container", true, |e| e.as_str() == "abc2").unwrap();
        assert_eq!(only_2.as_deref().map(String::as_str), Some("abc2"));
    }

    #[test]
    fn entries_come_and_go_by_id() {
        let t = table(&[("abc1", "web")]);
        assert!(t.contains("abc1"));
        assert_eq!(t.holding(|all| all.count()), 1);
        assert!(t.remove("abc1").is_some());
        assert!(t.remove("abc1").is_none());
        assert!(t.get("abc1").is_none());
        assert!(t.all().is_empty());
    }
}
