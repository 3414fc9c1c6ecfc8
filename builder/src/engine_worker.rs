//! The worker over berth's engine: each step prepares a snapshot over its
//! stage's layers, changes it (a RUN as an engine step, a COPY or mkdir
//! through descriptor-walked views), and commits it as a layer unless it
//! changed nothing; the snapshot goes either way.

use crate::transfer;
use crate::worker::{Base, CopyFrom, CopyStep, Made, Network, RunStep, Worker};
use crate::{BuildError, Event, Result};
use berth_engine::image::assemble::{NewImage, NewLayer};
use berth_engine::snapshot::Layout;
use berth_engine::task::step::{StepNetwork, StepRequest};
use berth_engine::Engine;
use futures::future::BoxFuture;
use std::future::Future;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Paths berth's shim makes in every step's root as mount points.
const MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// The engine as a build's worker.
pub struct EngineWorker {
    engine: Engine,
    /// Where step logs go while they run.
    logs: PathBuf,
}

impl std::fmt::Debug for EngineWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineWorker").field("logs", &self.logs).finish()
    }
}

impl EngineWorker {
    pub fn new(engine: Engine, logs: PathBuf) -> Self {
        Self { engine, logs }
    }

    /// A snapshot over `parents`, changed by `f`, committed unless unchanged.
    async fn layer<F, Fut>(&self, parents: &[String], f: F) -> Result<Option<Made>>
    where
        F: FnOnce(Layout) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let snap = self.engine.snapshots().prepare(parents)?;
        let layout = snap.layout();
        let made = async {
            f(layout.clone()).await?;
            let upper = layout.upper.clone();
            let same =
                tokio::task::spawn_blocking(move || transfer::unchanged(&upper, MOUNT_POINTS))
                    .await
                    .unwrap_or(false);
            if same {
                return Ok(None);
            }
            let c = self.engine.snapshots().commit(&layout, MOUNT_POINTS).await?;
            let layer = NewLayer {
                diff_id: c.diff_id.clone(),
                blob_digest: c.blob_digest.clone(),
                blob_size: c.blob_size,
                compression: c.compression,
            };
            Ok::<_, BuildError>(Some(Made { layer, lease: Some(c.lease) }))
        }
        .await;
        self.engine.remove_snapshot(snap)?;
        made
    }
}

fn blocking_err(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> BuildError {
    move |e| BuildError::Invalid(format!("{what}: {e}"))
}

impl Worker for EngineWorker {
    fn image<'a>(
        &'a self,
        name: &'a str,
        pull: bool,
        credentials: &'a berth_registry::Credentials,
    ) -> BoxFuture<'a, Result<Base>> {
        Box::pin(async move {
            let found = if pull { None } else { self.engine.images().resolve(name).ok() };
            let img = match found {
                Some(img) => img,
                None => {
                    let r = berth_registry::Reference::parse(name)
                        .map_err(|e| {
                            BuildError::Invalid(format!("invalid reference {name:?}: {e}"))
                        })?
                        .with_default_tag();
                    let pull = berth_engine::image::PullRequest {
                        reference: r.canonical(),
                        credentials: credentials.clone(),
                        platform: None,
                    };
                    self.engine.images().pull(pull, None).await?
                }
            };
            Ok(Base {
                id: img.id,
                layers: img.layers,
                config: img.config,
                created: img.created_unix_nanos,
            })
        })
    }

    fn run<'a>(
        &'a self,
        parents: &'a [String],
        step: RunStep,
        events: UnboundedSender<Event>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        Box::pin(self.layer(parents, move |layout| async move {
            let log = self.logs.join(format!("{}.log", hex::encode(rand::random::<[u8; 8]>())));
            std::fs::write(&log, b"").map_err(|source| BuildError::Io { context: "step log".into(), source })?;
            let req = StepRequest {
                layout,
                args: step.args.clone(),
                env: step.env,
                working_dir: step.working_dir,
                user: step.user,
                network: match step.network {
                    Network::Bridge(id) => StepNetwork::Bridge(id),
                    Network::Host => StepNetwork::Host,
                    Network::None => StepNetwork::None,
                },
                insecure: false,
                log: log.clone(),
            };
            let running = self.engine.run_step(req, cancel);
            tokio::pin!(running);
            let mut tail = LogTail::default();
            let code = loop {
                tokio::select! {
                    r = &mut running => break r,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => tail.read(&log, &events),
                }
            };
            tail.read(&log, &events);
            let _ = std::fs::remove_file(&log);
            match code {
                Ok(0) => Ok(()),
                Ok(code) => Err(BuildError::StepFailed { command: step.args.join(" "), code }),
                Err(berth_engine::Error::Cancelled) => Err(BuildError::Cancelled),
                Err(e) => Err(e.into()),
            }
        }))
    }

    fn copy<'a>(
        &'a self,
        parents: &'a [String],
        step: CopyStep,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        Box::pin(async move {
            let what = step.dest.what;
            let from = match &step.from {
                CopyFrom::Layers(l) => Some(self.engine.snapshots().prepare(l)?),
                CopyFrom::Context(_) => None,
            };
            let from_layout = from.as_ref().map(|s| s.layout());
            let done = self
                .layer(parents, |layout| async move {
                    tokio::task::spawn_blocking(move || {
                        let to = layout
                            .view(false, &[])
                            .map_err(|e| BuildError::Invalid(format!("{what}: {e}")))?;
                        let src = match (&step.from, from_layout) {
                            (_, Some(l)) => l.view(true, &[]),
                            (CopyFrom::Context(dir), None) => berth_kernel::cp::View::of_dir(dir),
                            (CopyFrom::Layers(_), None) => unreachable!("prepared above"),
                        }
                        .map_err(|e| BuildError::Invalid(format!("{what}: {e}")))?;
                        transfer::copy(&src, &step.sources, &to, &step.dest)
                    })
                    .await
                    .map_err(blocking_err("COPY"))?
                })
                .await;
            if let Some(s) = from {
                self.engine.remove_snapshot(s)?;
            }
            done
        })
    }

    fn mkdir<'a>(
        &'a self,
        parents: &'a [String],
        path: String,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        Box::pin(self.layer(parents, |layout| async move {
            tokio::task::spawn_blocking(move || {
                let view = layout
                    .view(false, &[])
                    .map_err(|e| BuildError::Invalid(format!("WORKDIR: {e}")))?;
                transfer::mkdir(&view, &path, (0, 0))
            })
            .await
            .map_err(blocking_err("WORKDIR"))?
        }))
    }

    fn assemble(&self, base: Option<&str>, mut image: NewImage) -> Result<String> {
        image.base = base.map(|b| self.engine.images().resolve(b)).transpose()?;
        Ok(self.engine.images().assemble(image)?.id)
    }

    fn stored(&self, l: &NewLayer) -> bool {
        let paths = self.engine.paths();
        paths.layer(l.diff_id.trim_start_matches("sha256:")).is_ok_and(|d| d.is_dir())
            && paths.blob(&l.blob_digest).is_ok_and(|b| b.is_file())
    }

    fn bridge<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move { Ok(self.engine.step_sandbox(name).await?) })
    }

    fn remove_bridge<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { Ok(self.engine.remove_step_sandbox(id).await?) })
    }
}

/// Follows a step's CRI log file, line by line.
#[derive(Default)]
struct LogTail {
    offset: u64,
    partial: String,
}

impl LogTail {
    fn read(&mut self, log: &std::path::Path, events: &UnboundedSender<Event>) {
        use std::io::{Read, Seek};
        let Ok(mut f) = std::fs::File::open(log) else { return };
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = String::new();
        if f.read_to_string(&mut buf).is_err() {
            return;
        }
        let Some(end) = buf.rfind('\n') else { return };
        self.offset += (end + 1) as u64;
        for line in buf[..end].lines() {
            // `<time> <stream> <P|F> <text>`
            let mut parts = line.splitn(4, ' ');
            let (_, _, tag, text) =
                (parts.next(), parts.next(), parts.next(), parts.next().unwrap_or(""));
            self.partial.push_str(text);
            if tag != Some("P") {
                let _ = events.send(Event::Output(std::mem::take(&mut self.partial)));
            }
        }
    }
}
