//! The worker over berth's engine: each step prepares a snapshot over its
//! stage's layers, changes it (a RUN as an engine step, a COPY or mkdir
//! through descriptor-walked views), and commits it as a layer unless it
//! changed nothing; the snapshot goes either way.

use crate::mounts::{RunMount, Sharing};
use crate::transfer;
use crate::worker::{Base, CopyFrom, CopyStep, Made, Network, RunStep, Worker};
use crate::{BuildError, Event, Result};
use berth_engine::image::assemble::{NewImage, NewLayer};
use berth_engine::model::{BindMount, TmpfsMount};
use berth_engine::snapshot::Layout;
use berth_engine::task::step::{LayerMount, StepNetwork, StepRequest};
use berth_engine::Engine;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// Paths berth's shim makes in every step's root as mount points.
const MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// The engine as a build's worker.
pub struct EngineWorker {
    engine: Engine,
    /// Where step logs go while they run.
    logs: PathBuf,
    /// Cache mounts' dirs, by a hash of their id.
    cache_mounts: PathBuf,
    /// `sharing=locked` cache mounts, one step at a time each.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where secret mounts' tmpfs dirs are made (swept at start).
    secrets: PathBuf,
    /// Where ssh mounts' sockets are made.
    ssh_dir: PathBuf,
}

impl std::fmt::Debug for EngineWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineWorker").field("logs", &self.logs).finish()
    }
}

/// A step's mounts as the engine takes them.
#[derive(Default)]
struct Mounts {
    binds: Vec<BindMount>,
    tmpfs: Vec<TmpfsMount>,
    layers: Vec<LayerMount>,
    /// Secrets asked for as environment variables (`NAME=value`).
    env: Vec<String>,
}

/// What a step holds while it runs: its `sharing=locked` caches' locks,
/// its secrets' tmpfs dirs (unmounted and removed when dropped).
#[derive(Default)]
struct Held {
    _locks: Vec<OwnedMutexGuard<()>>,
    _secrets: Vec<berth_kernel::secret_fs::SecretDir>,
    _agents: Vec<crate::ssh::Forwarded>,
}

fn bind(source: PathBuf, target: &str, readonly: bool) -> BindMount {
    BindMount {
        host_path: source,
        container_path: target.into(),
        readonly,
        recursive_readonly: false,
        propagation: Default::default(),
        options: vec![],
    }
}

fn blocking_err(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> BuildError {
    move |e| BuildError::Invalid(format!("{what}: {e}"))
}

impl EngineWorker {
    pub fn new(engine: Engine, logs: PathBuf, cache_mounts: PathBuf, secrets: PathBuf) -> Self {
        let ssh_dir = secrets.with_file_name("ssh");
        Self { engine, logs, cache_mounts, locks: Default::default(), secrets, ssh_dir }
    }

    /// A snapshot over `parents`, changed by `f`, committed unless
    /// unchanged; `mount_points` (the step's mounts) are left out while empty.
    async fn layer<F, Fut>(
        &self,
        parents: &[String],
        mount_points: Vec<String>,
        f: F,
    ) -> Result<Option<Made>>
    where
        F: FnOnce(Layout) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let snap = self.engine.snapshots().prepare(parents)?;
        let layout = snap.layout();
        let made = async {
            f(layout.clone()).await?;
            let mut skip: Vec<String> = MOUNT_POINTS.iter().map(|s| s.to_string()).collect();
            skip.extend(mount_points);
            let (upper, check) = (layout.upper.clone(), skip.clone());
            let same = tokio::task::spawn_blocking(move || {
                let check: Vec<&str> = check.iter().map(String::as_str).collect();
                transfer::unchanged(&upper, &check)
            })
            .await
            .unwrap_or(false);
            if same {
                return Ok(None);
            }
            let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
            // The step is over and nothing is mounted on its snapshot: its
            // upper dir becomes the layer's files (only the blob is written).
            let c = self.engine.snapshots().commit_taking(&snap, &skip).await?;
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

    /// A cache mount's dir, made on first use with its mode and owner.
    fn cache_dir(&self, id: &str, mode: u32, uid: u32, gid: u32) -> Result<PathBuf> {
        use sha2::Digest;
        let dir = self.cache_mounts.join(hex::encode(sha2::Sha256::digest(id.as_bytes())));
        if dir.is_dir() {
            return Ok(dir);
        }
        let io = |source| BuildError::Io { context: format!("cache mount {id}"), source };
        std::fs::create_dir_all(&self.cache_mounts).map_err(io)?;
        let tmp =
            self.cache_mounts.join(format!(".new-{}", hex::encode(rand::random::<[u8; 8]>())));
        std::fs::create_dir(&tmp).map_err(io)?;
        let made = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).and_then(|_| {
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(mode))
        });
        if let Err(e) = made {
            let _ = std::fs::remove_dir(&tmp);
            return Err(io(e));
        }
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another step made it meanwhile.
            let _ = std::fs::remove_dir(&tmp);
        }
        Ok(dir)
    }

    /// A secret as a read-only file on a tmpfs of its own (blocking).
    fn secret_file(
        &self,
        data: &crate::Secret,
        (mode, uid, gid): (u32, u32, u32),
    ) -> Result<(berth_kernel::secret_fs::SecretDir, PathBuf)> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| BuildError::Io { context: "secret mount".into(), source };
        std::fs::create_dir_all(&self.secrets).map_err(io)?;
        let dir = self.secrets.join(hex::encode(rand::random::<[u8; 8]>()));
        let size = (data.0.len() as u64).next_multiple_of(4096) + 4096;
        let held = berth_kernel::secret_fs::SecretDir::mount(&dir, size).map_err(io)?;
        let file = held.path().join("secret");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(io)?;
        f.write_all(&data.0).map_err(io)?;
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(io)?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(io)?;
        Ok((held, file))
    }

    /// The step's mounts as the engine takes them, and what the step holds
    /// while it runs.
    async fn mounts(&self, mounts: &[RunMount]) -> Result<(Mounts, Held)> {
        let mut out = Mounts::default();
        let mut guards = Vec::new();
        let mut secrets = Vec::new();
        let mut agents = Vec::new();
        for m in mounts {
            match m {
                RunMount::Cache { id, target, sharing, readonly, mode, uid, gid } => {
                    if *sharing == Sharing::Locked {
                        let lock =
                            self.locks.lock().unwrap().entry(id.clone()).or_default().clone();
                        guards.push(lock.lock_owned().await);
                    }
                    out.binds.push(bind(self.cache_dir(id, *mode, *uid, *gid)?, target, *readonly));
                }
                RunMount::Bind { source, target } => {
                    out.binds.push(bind(source.clone(), target, true))
                }
                RunMount::Layers { layers, sub_path, target } => out.layers.push(LayerMount {
                    layers: layers.clone(),
                    sub_path: sub_path.clone(),
                    destination: target.into(),
                }),
                RunMount::Tmpfs { target, size } => out.tmpfs.push(TmpfsMount {
                    container_path: target.into(),
                    options: size.iter().map(|s| format!("size={s}")).collect(),
                }),
                RunMount::Secret { target, env, data, mode, uid, gid } => {
                    if let Some(name) = env {
                        out.env.push(format!("{name}={}", String::from_utf8_lossy(&data.0)));
                    }
                    if let Some(target) = target {
                        let (held, file) = self.secret_file(data, (*mode, *uid, *gid))?;
                        out.binds.push(bind(file, target, true));
                        secrets.push(held);
                    }
                }
                RunMount::Ssh { target, agent, mode, uid, gid } => {
                    let f = crate::ssh::Forwarded::start(&self.ssh_dir, agent, *mode, *uid, *gid)?;
                    // The first agent is the one ssh finds by itself.
                    if agents.is_empty() {
                        out.env.push(format!("SSH_AUTH_SOCK={target}"));
                    }
                    out.binds.push(bind(f.socket().to_path_buf(), target, false));
                    agents.push(f);
                }
            }
        }
        Ok((out, Held { _locks: guards, _secrets: secrets, _agents: agents }))
    }

    /// Runs the step in `layout`, its output lines to `events`.
    async fn run_in(
        &self,
        layout: Layout,
        step: RunStep,
        mounts: Mounts,
        events: UnboundedSender<Event>,
        cancel: CancellationToken,
    ) -> Result<()> {
        let log = self.logs.join(format!("{}.log", hex::encode(rand::random::<[u8; 8]>())));
        std::fs::write(&log, b"")
            .map_err(|source| BuildError::Io { context: "step log".into(), source })?;
        let req = StepRequest {
            layout,
            args: step.args.clone(),
            env: step.env.into_iter().chain(mounts.env).collect(),
            working_dir: step.working_dir,
            user: step.user,
            network: match step.network {
                Network::Bridge(id) => StepNetwork::Bridge(id),
                Network::Host => StepNetwork::Host,
                Network::None => StepNetwork::None,
            },
            insecure: step.insecure,
            log: log.clone(),
            binds: mounts.binds,
            tmpfs: mounts.tmpfs,
            layer_mounts: mounts.layers,
            extra_hosts: step.extra_hosts,
            resources: step.resources,
            shm_size: step.shm_size,
        };
        let running = self.engine.run_step(req, cancel);
        tokio::pin!(running);
        let mut tail = LogTail { number: step.number, ..Default::default() };
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
            Ok(code) => Err(BuildError::StepFailed {
                command: step.args.join(" "),
                code,
                step: step.number,
            }),
            Err(berth_engine::Error::Cancelled) => Err(BuildError::Cancelled),
            Err(e) => Err(e.into()),
        }
    }

    async fn copy_in(&self, parents: &[String], step: CopyStep) -> Result<Option<Made>> {
        let what = step.dest.what;
        let from = match &step.from {
            CopyFrom::Layers(l) => Some(self.engine.snapshots().prepare(l)?),
            CopyFrom::Context(_) => None,
        };
        let from_layout = from.as_ref().map(|s| s.layout());
        let done = self
            .layer(parents, vec![], |layout| async move {
                tokio::task::spawn_blocking(move || {
                    let err =
                        |e: berth_kernel::cp::CpError| BuildError::Invalid(format!("{what}: {e}"));
                    let to = layout.view(false, &[]).map_err(err)?;
                    let (src, context) = match (&step.from, from_layout) {
                        (_, Some(l)) => (l.view(true, &[]).map_err(err)?, None),
                        (CopyFrom::Context(dir), None) => {
                            (berth_kernel::cp::View::of_dir(dir).map_err(err)?, Some(dir.clone()))
                        }
                        (CopyFrom::Layers(_), None) => unreachable!("prepared above"),
                    };
                    let linked =
                        transfer::copy(&src, context.as_deref(), &step.sources, &to, &step.dest)?;
                    // The overlay goes before its upper dir is written directly.
                    drop(to);
                    linked.iter().try_for_each(|plan| plan.apply(&layout.upper))
                })
                .await
                .map_err(blocking_err("COPY"))?
            })
            .await;
        if let Some(s) = from {
            self.engine.remove_snapshot(s)?;
        }
        done
    }
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
        Box::pin(async move {
            let (mounts, _locked) = self.mounts(&step.mounts).await?;
            let targets = step
                .mounts
                .iter()
                .map(|m| m.target().to_owned())
                .filter(|t| !t.is_empty())
                .collect();
            self.layer(parents, targets, move |layout| {
                self.run_in(layout, step, mounts, events, cancel)
            })
            .await
        })
    }

    fn copy<'a>(
        &'a self,
        parents: &'a [String],
        step: CopyStep,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        Box::pin(self.copy_in(parents, step))
    }

    fn mkdir<'a>(
        &'a self,
        parents: &'a [String],
        path: String,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        Box::pin(self.layer(parents, vec![], |layout| async move {
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

    fn release(&self, lease: berth_engine::snapshot::lease::Lease) -> u64 {
        self.engine.images().release(lease)
    }

    fn in_image(&self, diff_id: &str) -> bool {
        self.engine.images().layer_in_use(diff_id)
    }

    fn bridge<'a>(
        &'a self,
        name: &'a str,
        network: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move { Ok(self.engine.step_sandbox(name, network).await?) })
    }

    fn has_image(&self, name: &str) -> bool {
        self.engine.images().resolve(name).is_ok()
    }

    fn remove_bridge<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { Ok(self.engine.remove_step_sandbox(id).await?) })
    }
}

/// Follows a step's CRI log file, line by line.
#[derive(Default)]
struct LogTail {
    /// The step's number, for its events.
    number: usize,
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
            let (_, stream, tag, text) =
                (parts.next(), parts.next(), parts.next(), parts.next().unwrap_or(""));
            self.partial.push_str(text);
            if tag != Some("P") {
                let text = std::mem::take(&mut self.partial);
                let stderr = stream == Some("stderr");
                let _ = events.send(Event::Output { number: self.number, text, stderr });
            }
        }
    }
}
