//! `docker commit`: a new image from a container's changes. The image's
//! config is the container's (its command, environment, user, working
//! dir, labels and ports over its image's), then the request's own
//! config, then `--change`s; the container is paused meanwhile if it runs
//! (dockerd's default), and its operation lock held while its upper dir
//! is read, so no start or removal changes it under the copy.

use super::Status;
use crate::error::{Error, Result};
use crate::image::{CommitRequest, ImageConfig, ImageRecord};
use crate::Engine;

/// `POST /commit` as the engine takes it.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub request: CommitRequest,
    /// Freeze a running container while its changes are read.
    pub pause: bool,
    /// The request's config: each field set replaces the container's.
    pub config: Option<ImageConfig>,
}

impl Engine {
    /// Commits the container's changes as a new image.
    #[tracing::instrument(level = "info", skip_all, fields(container = %key))]
    pub async fn commit_container(&self, key: &str, opts: CommitOptions) -> Result<ImageRecord> {
        let entry = self.lookup(key)?;
        let rec = entry.record();
        if rec.state.status == Status::Quarantined {
            return Err(Error::FailedPrecondition(format!(
                "container {} is quarantined: {}",
                rec.id, rec.state.error
            )));
        }
        let image = self.images().resolve(&rec.image_id)?;
        let mut config = image.config.clone();
        let c = &rec.config;
        config.env = Some(c.env.clone());
        config.cmd = Some(c.cmd.clone()).filter(|v| !v.is_empty());
        config.entrypoint = Some(c.entrypoint.clone()).filter(|v| !v.is_empty());
        config.working_dir =
            Some(c.working_dir.clone()).filter(|v| !v.is_empty()).or(config.working_dir);
        config.user = Some(c.user.clone()).filter(|v| !v.is_empty()).or(config.user);
        if !c.labels.is_empty() {
            config.labels.get_or_insert_with(Default::default).extend(c.labels.clone());
        }
        if !c.exposed_ports.is_empty() {
            let ports = config.exposed_ports.get_or_insert_with(Default::default);
            ports.extend(c.exposed_ports.iter().map(|p| (p.to_string(), serde_json::json!({}))));
        }
        if let Some(o) = opts.config {
            macro_rules! over {
                ($($f:ident),*) => { $( if o.$f.is_some() { config.$f = o.$f; } )* };
            }
            over!(
                user,
                exposed_ports,
                env,
                entrypoint,
                cmd,
                working_dir,
                labels,
                stop_signal,
                healthcheck,
                volumes
            );
        }
        let pause = opts.pause && rec.state.status == Status::Running && !rec.state.paused;
        if pause {
            self.pause(&rec.id).await?;
        }
        let committed = async {
            let _op = entry.op.lock().await;
            let src = crate::image::commit::CommitSource {
                config,
                upper: self.snapshots().kept(&self.snapshot_dir(&rec.id)?, &[])?.upper,
                created_by: c.args.join(" "),
                container: rec.id.clone(),
                runtime_paths: crate::image::commit::MOUNT_POINTS,
            };
            self.images().commit(&image, opts.request, src).await
        }
        .await;
        if pause {
            if let Err(e) = self.unpause(&rec.id).await {
                tracing::warn!(container = %rec.id, error = %e, "unpause after commit");
            }
        }
        let img = committed?;
        tracing::info!(container = %rec.id, image = %img.id, "committed");
        self.emit(&entry.record(), super::events::EventKind::Committed);
        Ok(img)
    }
}
