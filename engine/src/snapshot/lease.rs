//! Leases: content held against garbage collection while something that
//! has no image record yet uses it — a build's parent layers and the
//! layers it commits before its image is stored. An image removal or
//! prune keeps every leased layer and blob; the holder's release then
//! collects what no image took meanwhile ([`crate::image::ImageStore::release`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many leases hold each digest.
#[derive(Debug, Default)]
pub struct LeaseTable {
    held: Mutex<HashMap<String, usize>>,
}

impl LeaseTable {
    /// A lease on `digests` (layer diff ids or blob digests).
    pub fn hold(self: &Arc<Self>, digests: impl IntoIterator<Item = String>) -> Lease {
        let mut lease = Lease { table: self.clone(), digests: Vec::new() };
        for d in digests {
            lease.add(d);
        }
        lease
    }

    /// Whether a lease holds `digest`.
    pub fn holds(&self, digest: &str) -> bool {
        self.held.lock().unwrap().contains_key(digest)
    }
}

/// Content held until dropped.
#[derive(Debug)]
pub struct Lease {
    table: Arc<LeaseTable>,
    digests: Vec<String>,
}

impl Lease {
    /// Holds one more digest.
    pub fn add(&mut self, digest: String) {
        *self.table.held.lock().unwrap().entry(digest.clone()).or_default() += 1;
        self.digests.push(digest);
    }

    /// What the lease holds.
    pub fn digests(&self) -> &[String] {
        &self.digests
    }

    /// Moves one hold of each of `digests` it has to a lease of its own
    /// (for the image store to release while this one keeps the rest).
    pub fn split(&mut self, digests: &[String]) -> Lease {
        let mut out = Lease { table: self.table.clone(), digests: Vec::new() };
        for d in digests {
            if let Some(i) = self.digests.iter().position(|x| x == d) {
                out.digests.push(self.digests.swap_remove(i));
            }
        }
        out
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut held = self.table.held.lock().unwrap();
        for d in &self.digests {
            if let Some(n) = held.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    held.remove(d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_held_while_any_lease_on_it_lives() {
        let t = Arc::new(LeaseTable::default());
        let a = t.hold(["sha256:aa".to_string(), "sha256:bb".to_string()]);
        let mut b = t.hold(["sha256:bb".to_string()]);
        b.add("sha256:cc".into());
        assert!(t.holds("sha256:aa") && t.holds("sha256:bb") && t.holds("sha256:cc"));
        drop(a);
        assert!(!t.holds("sha256:aa") && t.holds("sha256:bb"));
        drop(b);
        assert!(!t.holds("sha256:bb") && !t.holds("sha256:cc"));
        assert!(t.held.lock().unwrap().is_empty());
    }
}
