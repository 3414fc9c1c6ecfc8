//! One way to keep records on disk, for every kind of record (containers,
//! sandboxes, and the volumes and networks to come):
//!
//! - **commit**: temp file, fsync, rename, fsync of the dir; callers publish
//!   to memory only after it returns;
//! - **a schema version in every record** (`"schema": N` beside its
//!   fields). Records of older versions are read (version 0: written
//!   before versions existed, the same shape as 1) and brought up to date by
//!   [`Record::upgrade`];
//! - **quarantine, never delete**: a record that can't be read, or that a
//!   newer berth wrote (after a downgrade), is renamed aside with a log
//!   line and everything next to it stays: the owner shows up in a state
//!   that says so until someone removes it on purpose;
//! - **one lookup rule**: exact id, then unique id prefix; a prefix that
//!   matches more than one is an error, never a guess.

use crate::error::{Error, IoContext, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A kind of record.
pub trait Record: Serialize + DeserializeOwned {
    /// What it is, for messages ("container", "pod sandbox").
    const KIND: &'static str;
    /// The schema this berth writes. Raising it needs an [`Record::upgrade`]
    /// from the previous one and a fixture of the old format in the tests.
    const SCHEMA: u32;

    /// Turns a record of schema `from` (< `SCHEMA`) into the current shape.
    fn upgrade(
        from: u32,
        value: serde_json::Value,
    ) -> std::result::Result<serde_json::Value, String> {
        let _ = from;
        Ok(value)
    }
}

/// The field that carries the schema.
const SCHEMA_FIELD: &str = "schema";
/// What a quarantined record file is renamed to (`<name>.quarantined`).
pub const QUARANTINE_SUFFIX: &str = ".quarantined";

/// Writes `rec` durably at `path`.
pub fn commit<T: Record>(path: &Path, rec: &T) -> Result<()> {
    let mut value = serde_json::to_value(rec)
        .map_err(|e| Error::Internal(format!("encode {}: {e}", T::KIND)))?;
    match value.as_object_mut() {
        Some(o) => o.insert(SCHEMA_FIELD.into(), T::SCHEMA.into()),
        None => return Err(Error::Internal(format!("a {} record must be a JSON object", T::KIND))),
    };
    let data = serde_json::to_vec_pretty(&value).map_err(|e| Error::Internal(e.to_string()))?;
    berth_kernel::fs::atomic_write(path, &data).ctx(|| format!("write {}", path.display()))
}

/// What reading one record found.
#[derive(Debug)]
pub enum Loaded<T> {
    Record(T),
    /// No file: an operation that never got as far as its record.
    Missing,
    /// A file that is not a record this berth can read.
    Unreadable(String),
}

/// Reads the record at `path`.
pub fn read<T: Record>(path: &Path) -> Loaded<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return Loaded::Unreadable(format!("read: {e}")),
    };
    match decode::<T>(&bytes) {
        Ok(r) => Loaded::Record(r),
        Err(e) => Loaded::Unreadable(e),
    }
}

fn decode<T: Record>(bytes: &[u8]) -> std::result::Result<T, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value.as_object_mut().ok_or("not a JSON object")?;
    let schema = match obj.remove(SCHEMA_FIELD) {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(format!("bad {SCHEMA_FIELD} {v}"))?,
    };
    if schema > T::SCHEMA {
        return Err(format!(
            "written by a newer berth (schema {schema}; this one reads up to {})",
            T::SCHEMA
        ));
    }
    if schema < T::SCHEMA {
        value =
            T::upgrade(schema, value).map_err(|e| format!("upgrade from schema {schema}: {e}"))?;
    }
    serde_json::from_value(value).map_err(|e| format!("schema {schema}: {e}"))
}

/// Renames an unreadable record aside (never deletes it) and logs why;
/// returns where it went.
pub fn quarantine(path: &Path, why: &str, kind: &str, id: &str) -> Result<PathBuf> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(QUARANTINE_SUFFIX);
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside).ctx(|| format!("quarantine {}", path.display()))?;
    tracing::error!(kind, id, record = %aside.display(), reason = why, "quarantined an unreadable record: nothing of it was removed; remove it on purpose once it is understood");
    Ok(aside)
}

/// Whether `dir` holds a quarantined `file`.
pub fn is_quarantined(dir: &Path, file: &str) -> bool {
    dir.join(format!("{file}{QUARANTINE_SUFFIX}")).exists()
}

/// The one lookup rule: `key` as an exact id, else as the prefix of exactly
/// one id. `None`: no match; a prefix of several is InvalidArgument.
pub fn find_id<'a>(
    ids: impl Iterator<Item = &'a String> + Clone,
    key: &str,
    kind: &str,
) -> Result<Option<String>> {
    if key.is_empty() {
        return Ok(None);
    }
    if let Some(id) = ids.clone().find(|id| id.as_str() == key) {
        return Ok(Some(id.clone()));
    }
    if !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let mut hits = ids.filter(|id| id.starts_with(key));
    match (hits.next(), hits.next()) {
        (Some(id), None) => Ok(Some(id.clone())),
        (Some(_), Some(_)) => {
            Err(Error::invalid(format!("multiple {kind}s match {key:?}; use more of the id")))
        }
        (None, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Thing {
        id: String,
        #[serde(default)]
        size: u32,
    }

    impl Record for Thing {
        const KIND: &'static str = "thing";
        const SCHEMA: u32 = 2;
        fn upgrade(
            from: u32,
            mut v: serde_json::Value,
        ) -> std::result::Result<serde_json::Value, String> {
            if from < 2 {
                // Schema 2 renamed "bytes" to "size".
                if let Some(b) = v.as_object_mut().and_then(|o| o.remove("bytes")) {
                    v["size"] = b;
                }
            }
            Ok(v)
        }
    }

    #[test]
    fn round_trip_with_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("thing.json");
        commit(&p, &Thing { id: "a".into(), size: 3 }).unwrap();
        let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(raw["schema"], 2);
        assert!(matches!(read::<Thing>(&p), Loaded::Record(Thing { size: 3, .. })));
    }

    #[test]
    fn older_records_are_upgraded_newer_and_broken_ones_are_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("thing.json");
        std::fs::write(&p, r#"{"id":"a","bytes":7}"#).unwrap();
        assert!(matches!(read::<Thing>(&p), Loaded::Record(Thing { size: 7, .. })));
        std::fs::write(&p, r#"{"id":"a","schema":3}"#).unwrap();
        assert!(matches!(read::<Thing>(&p), Loaded::Unreadable(e) if e.contains("newer berth")));
        std::fs::write(&p, r#"{"id":"a","si"#).unwrap();
        assert!(matches!(read::<Thing>(&p), Loaded::Unreadable(_)));
        assert!(matches!(read::<Thing>(&dir.path().join("none.json")), Loaded::Missing));
        let aside = quarantine(&p, "test", "thing", "a").unwrap();
        assert!(aside.exists() && !p.exists() && is_quarantined(dir.path(), "thing.json"));
    }

    #[test]
    fn one_lookup_rule() {
        let ids: Vec<String> = ["abc1", "abc2", "def"].iter().map(|s| s.to_string()).collect();
        assert_eq!(find_id(ids.iter(), "def", "x").unwrap().as_deref(), Some("def"));
        assert_eq!(find_id(ids.iter(), "abc1", "x").unwrap().as_deref(), Some("abc1"));
        assert_eq!(find_id(ids.iter(), "d", "x").unwrap().as_deref(), Some("def"));
        assert!(matches!(find_id(ids.iter(), "abc", "x"), Err(Error::InvalidArgument(_))));
        assert_eq!(find_id(ids.iter(), "zz", "x").unwrap(), None);
        assert_eq!(find_id(ids.iter(), "", "x").unwrap(), None);
    }
}
