//! The part that owns the volumes on disk: `<root>/volumes/<name>/`
//! with its record (`volume.json`) beside the data (`_data`), and the lock
//! under which a create checks a name and a removal sets a dir aside.

use super::{check_volume_name, VolumeRecord};
use crate::error::{Error, IoContext, Missing, Result};
use crate::paths::Paths;
use crate::store::{self, Loaded};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

const RECORD: &str = "volume.json";
/// The prefix of a volume dir being removed.
const REMOVING: &str = ".removing-";

pub(crate) struct Volumes {
    paths: Paths,
    changes: Mutex<()>,
}

impl Volumes {
    pub(crate) fn new(paths: Paths) -> Self {
        Self { paths, changes: Mutex::new(()) }
    }

    /// Where a volume's data is (what containers bind).
    pub(crate) fn data(&self, name: &str) -> Result<PathBuf> {
        Ok(self.paths.volume(name)?.join("_data"))
    }

    /// One volume, by name.
    pub(crate) fn get(&self, name: &str) -> Result<VolumeRecord> {
        let not_found = || Error::NotFound(Missing::Volume(name.to_owned()));
        let dir = self.paths.volume(name).map_err(|_| not_found())?;
        match store::read::<VolumeRecord>(&dir.join(RECORD)) {
            Loaded::Record(r) => Ok(r),
            Loaded::Missing => Err(not_found()),
            Loaded::Unreadable(why) => {
                Err(Error::Internal(format!("the record of volume {name} is unreadable: {why}")))
            }
        }
    }

    /// Every volume, by name.
    pub(crate) fn all(&self) -> Result<Vec<VolumeRecord>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(self.paths.volumes())
            .map_err(|e| Error::Io { context: "read the volumes dir".into(), source: e })?;
        for item in rd.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if check_volume_name(&name).is_err() {
                continue;
            }
            if let Loaded::Record(r) = store::read::<VolumeRecord>(&item.path().join(RECORD)) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates `name` (a new anonymous one for `None`); an existing one is
    /// returned as it is, as dockerd does.
    pub(crate) fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        let source = crate::model::volume::VolumeSource::from_options(&options)?;
        if let Some(crate::model::volume::VolumeSource::Tmpfs { options }) = &source {
            crate::container::check_tmpfs_options(options)?;
        }
        let (name, anonymous) = match name {
            Some(n) => (n.to_owned(), false),
            None => (hex::encode(rand::random::<[u8; 32]>()), true),
        };
        let dir = self.paths.volume(&name)?;
        let _guard = self.changes.lock().unwrap();
        match self.get(&name) {
            Ok(existing) => return Ok(existing),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        // The record last: a dir without one is a create that never finished.
        crate::paths::create_dir(&dir.join("_data"), 0o755)
            .ctx(|| format!("create {}", dir.display()))?;
        let rec = VolumeRecord {
            name,
            labels,
            created_at: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
            anonymous,
            options,
            source,
        };
        if let Err(e) = store::commit(&dir.join(RECORD), &rec) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::info!(volume = %rec.name, anonymous, "volume created");
        Ok(rec)
    }

    /// Renames the volume's dir aside (one step; its deletion is the
    /// caller's) unless `using` names containers that use it. The caller
    /// holds the containers' list while it calls: none can start naming the
    /// volume between its check and the rename.
    pub(crate) fn set_aside(&self, name: &str, using: &[String]) -> Result<PathBuf> {
        let dir = self.paths.volume(name)?;
        let suffix = hex::encode(rand::random::<[u8; 6]>());
        let aside = self.paths.volumes().join(format!("{REMOVING}{name}-{suffix}"));
        let _guard = self.changes.lock().unwrap();
        if !using.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "remove {name}: volume is in use - [{}]",
                using.join(", ")
            )));
        }
        std::fs::rename(&dir, &aside)
            .map_err(|e| Error::Io { context: format!("remove volume {name}"), source: e })?;
        Ok(aside)
    }

    /// Start-up: removals and creates a crash cut short.
    pub(crate) fn sweep(&self) {
        let Ok(rd) = std::fs::read_dir(self.paths.volumes()) else { return };
        for item in rd.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let unfinished = name.starts_with(REMOVING)
                || (check_volume_name(&name).is_ok()
                    && matches!(
                        store::read::<VolumeRecord>(&item.path().join(RECORD)),
                        Loaded::Missing
                    ));
            if unfinished && !store::is_quarantined(&item.path(), RECORD) {
                tracing::info!(volume = %name, "sweeping an unfinished volume dir");
                let _ = std::fs::remove_dir_all(item.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volumes() -> (tempfile::TempDir, Volumes) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("state"));
        std::fs::create_dir_all(paths.volumes()).unwrap();
        (dir, Volumes::new(paths))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_create_of_an_existing_name_returns_it_as_it_is() {
        let (_d, v) = volumes();
        let first = v.create(Some("data"), labels(&[("a", "1")]), BTreeMap::new()).unwrap();
        let again = v.create(Some("data"), labels(&[("b", "2")]), BTreeMap::new()).unwrap();
        assert_eq!(again.labels, first.labels);
        assert!(!first.anonymous);
        assert!(v.data("data").unwrap().is_dir());
        let anon = v.create(None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert!(anon.anonymous && anon.name.len() == 64);
        let names: Vec<String> = v.all().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_owned()));
    }

    #[test]
    fn bad_names_and_options_are_refused_and_missing_ones_are_not_found() {
        let (_d, v) = volumes();
        assert!(v.create(Some("../x"), BTreeMap::new(), BTreeMap::new()).is_err());
        let bad = labels(&[("type", "nfs")]);
        assert!(v.create(Some("x"), BTreeMap::new(), bad).is_err());
        assert!(matches!(v.get("nope"), Err(Error::NotFound(Missing::Volume(n))) if n == "nope"));
        assert!(matches!(v.get("../etc"), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_volume_in_use_is_not_set_aside() {
        let (_d, v) = volumes();
        v.create(Some("data"), BTreeMap::new(), BTreeMap::new()).unwrap();
        let e = v.set_aside("data", &["c1".into()]).unwrap_err().to_string();
        assert!(e.contains("volume is in use - [c1]"), "{e}");
        let aside = v.set_aside("data", &[]).unwrap();
        assert!(aside.is_dir());
        assert!(v.get("data").is_err());
        // What a crash would leave goes at the next start.
        v.sweep();
        assert!(!aside.exists());
    }

    #[test]
    fn a_create_cut_short_is_swept_at_the_next_start() {
        let (_d, v) = volumes();
        let unfinished = v.data("half").unwrap();
        std::fs::create_dir_all(&unfinished).unwrap();
        v.create(Some("whole"), BTreeMap::new(), BTreeMap::new()).unwrap();
        v.sweep();
        assert!(!unfinished.parent().unwrap().exists());
        assert!(v.get("whole").is_ok());
    }
}
