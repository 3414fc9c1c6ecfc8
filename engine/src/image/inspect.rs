//! `berth image inspect`: an image as Docker's inspect shows it. The image
//! config's `config` object is shown verbatim (it is data, shown, never
//! acted on here).

use super::reference::familiar;
use super::ImageStore;
use crate::error::Result;
use serde_json::{json, Value};

impl ImageStore {
    /// Docker's `image inspect` document for `name`.
    pub fn inspect(&self, name: &str) -> Result<Value> {
        let img = self.resolve(name)?;
        let raw: Value = serde_json::from_str(&img.config_json).unwrap_or(Value::Null);
        let field = |k: &str| raw.get(k).cloned().unwrap_or_else(|| json!(""));
        let created = berth_proto::time::from_unix_nanos(img.created_unix_nanos);
        let lower: Vec<String> =
            self.lower_dirs(&img)?.iter().map(|p| p.display().to_string()).collect();
        let mut doc = json!({
            "Id": img.id,
            "RepoTags": img.repo_tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
            "RepoDigests": img.repo_digests.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
            "Parent": "",
            "Comment": field("comment"),
            "Created": berth_proto::time::rfc3339_nanos(created),
            "Author": field("author"),
            "Config": raw.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": field("architecture"),
            "Os": field("os"),
            "Size": img.size,
            "GraphDriver": { "Name": "overlay", "Data": { "LowerDir": lower.join(":") } },
            "RootFS": { "Type": "layers", "Layers": img.layers },
            "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
        });
        if let Some(v) = raw.get("variant").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            doc["Variant"] = v.clone();
        }
        Ok(doc)
    }
}
