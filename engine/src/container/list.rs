//! List: `ps` with Docker's filters (id, name, label, status, exited, ancestor).

use super::{ContainerRecord, Status};
use crate::error::{Error, Result};
use crate::Engine;

fn matches(rec: &ContainerRecord, key: &str, value: &str) -> bool {
    match key {
        "id" => rec.id.starts_with(value),
        "name" => rec.name.contains(value.trim_start_matches('/')),
        "label" => match value.split_once('=') {
            Some((k, v)) => rec.config.labels.get(k).is_some_and(|x| x == v),
            None => rec.config.labels.contains_key(value),
        },
        "status" => rec.state.status.as_str() == value,
        "exited" => rec.state.status == Status::Exited && value.parse() == Ok(rec.state.exit_code),
        "ancestor" => rec.image == value || rec.image_id.trim_start_matches("sha256:").starts_with(value.trim_start_matches("sha256:")),
        _ => false,
    }
}

impl Engine {
    /// Containers, newest first; only running ones unless `all` (or a status filter).
    pub fn list(&self, all: bool, filters: &[String]) -> Result<Vec<ContainerRecord>> {
        let mut parsed: Vec<(String, String)> = Vec::new();
        for f in filters {
            let (k, v) = f.split_once('=').ok_or_else(|| Error::InvalidArgument(format!("bad format of filter (expected name=value): {f}")))?;
            if !["id", "name", "label", "status", "exited", "ancestor"].contains(&k) {
                return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
            }
            if k == "status" && !["created", "running", "exited", "unknown"].contains(&v) {
                return Err(Error::InvalidArgument(format!("invalid filter 'status={v}'")));
            }
            parsed.push((k.to_owned(), v.to_owned()));
        }
        let all = all || parsed.iter().any(|(k, _)| k == "status" || k == "exited");
        let mut out: Vec<ContainerRecord> = self
            .inner
            .containers
            .read()
            .unwrap()
            .values()
            .map(|e| e.record())
            .filter(|r| all || r.state.status == Status::Running)
            // Docker: filters of one key are ORed, different keys ANDed — but every label must match.
            .filter(|r| {
                let keys: std::collections::BTreeSet<&str> = parsed.iter().map(|(k, _)| k.as_str()).collect();
                keys.iter().all(|k| {
                    let mut of_key = parsed.iter().filter(|(pk, _)| pk == k);
                    if *k == "label" {
                        of_key.all(|(_, v)| matches(r, k, v))
                    } else {
                        of_key.any(|(_, v)| matches(r, k, v))
                    }
                })
            })
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(out)
    }
}
