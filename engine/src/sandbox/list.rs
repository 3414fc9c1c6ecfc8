//! ListPodSandbox: by id (or prefix), state and label selector; pods only.

use super::{SandboxOwner, SandboxRecord, SandboxState};
use crate::Engine;
use std::collections::BTreeMap;

/// ListPodSandbox's filter.
#[derive(Debug, Clone, Default)]
pub struct SandboxFilter {
    pub id: String,
    pub state: Option<SandboxState>,
    pub labels: BTreeMap<String, String>,
}

impl Engine {
    pub fn list_sandboxes(&self, f: &SandboxFilter) -> Vec<SandboxRecord> {
        let entries = self.inner.sandboxes.all();
        let mut out: Vec<SandboxRecord> = entries
            .iter()
            .map(|e| self.observe(e))
            // Containers' own sandboxes are no pods.
            .filter(|r| r.config.owner == SandboxOwner::Pod)
            .filter(|r| f.id.is_empty() || r.id.starts_with(&f.id))
            .filter(|r| f.state.is_none_or(|s| s == r.state))
            .filter(|r| f.labels.iter().all(|(k, v)| r.config.labels.get(k) == Some(v)))
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        out
    }
}
