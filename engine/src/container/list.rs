//! List: every container record, newest first.

use super::{ContainerRecord, Status};
use crate::error::Result;
use crate::Engine;

impl Engine {
    /// Containers (both fronts'), newest first; only running ones unless
    /// `all`. Each front filters them its own way.
    pub fn list(&self, all: bool) -> Result<Vec<ContainerRecord>> {
        let mut out: Vec<ContainerRecord> = self
            .inner
            .containers
            .all()
            .into_iter()
            .map(|e| e.record())
            .filter(|r| all || r.state.status == Status::Running)
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(out)
    }
}
