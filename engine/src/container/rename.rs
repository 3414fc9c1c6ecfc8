//! Rename (Docker's `rename`): a container outside pods gets a new name,
//! reserved before the record changes and the old one given back after.

use crate::error::{Error, Result};
use crate::paths::check_name;
use crate::Engine;

impl Engine {
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/');
        check_name(new_name)?;
        let entry = self.lookup(key)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        if rec.config.pod.is_some() {
            return Err(Error::invalid("a pod's container is named by its pod"));
        }
        if rec.name == new_name {
            return Err(Error::invalid(format!(
                "Renaming a container with the same name as its current name: {new_name}"
            )));
        }
        let names = &self.inner.containers;
        names
            .claim_name(new_name, &rec.id)
            .map_err(|other| super::create::name_in_use(new_name, &other))?;
        match self.commit(&entry, |r| r.name = new_name.to_owned()) {
            Ok(renamed) => {
                names.release_name(&rec.name, &rec.id);
                self.emit_renamed(
                    &renamed,
                    super::events::EventKind::Renamed,
                    Some(rec.name.clone()),
                );
                Ok(())
            }
            Err(e) => {
                names.release_name(new_name, &rec.id);
                Err(e)
            }
        }
    }
}
