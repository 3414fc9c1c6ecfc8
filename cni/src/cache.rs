//! The result cache: per sandbox, the network list, the attachment's
//! arguments and the final result of ADD — written atomically, so DEL and
//! CHECK after a daemon restart use exactly what ADD used.

use crate::{Attachment, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What ADD used and returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub network: Value,
    pub attachment: CachedAttachment,
    pub result: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedAttachment {
    pub netns: PathBuf,
    pub ifname: String,
    pub args: Vec<(String, String)>,
    pub runtime_config: serde_json::Map<String, Value>,
}

impl From<&Attachment> for CachedAttachment {
    fn from(a: &Attachment) -> Self {
        Self {
            netns: a.netns.clone(),
            ifname: a.ifname.clone(),
            args: a.args.clone(),
            runtime_config: a.runtime_config.clone(),
        }
    }
}

impl CachedAttachment {
    pub fn into_attachment(self, id: &str) -> Attachment {
        Attachment {
            id: id.to_owned(),
            netns: self.netns,
            ifname: self.ifname,
            args: self.args,
            runtime_config: self.runtime_config,
        }
    }
}

fn path(dir: &Path, id: &str) -> Result<PathBuf> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::Plugin { plugin: "cache".into(), msg: format!("invalid id {id:?}") });
    }
    Ok(dir.join(format!("{id}.json")))
}

/// Records an ADD about to run (see [`crate::Cni::add`]), then its result:
/// atomic, not synced — it must survive a crash of berthd, and what the
/// plugins did (an address host-local wrote down, a veth, NAT rules) is no
/// more durable than it. The sandbox's record, which is synced, follows.
pub fn store(dir: &Path, id: &str, e: &Entry) -> Result<()> {
    let p = path(dir, id)?;
    std::fs::create_dir_all(dir)
        .map_err(|source| Error::Io { context: format!("create {}", dir.display()), source })?;
    let data = serde_json::to_vec(e)
        .map_err(|e| Error::Plugin { plugin: "cache".into(), msg: e.to_string() })?;
    berth_kernel::fs::replace(&p, &data)
        .map_err(|source| Error::Io { context: format!("write {}", p.display()), source })
}

pub fn load(dir: &Path, id: &str) -> Result<Option<Entry>> {
    let p = path(dir, id)?;
    match std::fs::read(&p) {
        Ok(b) => Ok(serde_json::from_slice(&b).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { context: format!("read {}", p.display()), source }),
    }
}

pub fn remove(dir: &Path, id: &str) {
    if let Ok(p) = path(dir, id) {
        let _ = std::fs::remove_file(p);
    }
}

/// Ids of every cached entry.
pub fn ids(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| {
            e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(str::to_owned)
        })
        .filter(|id| path(dir, id).is_ok())
        .collect()
}
