//! berth's engine: images, containers, their state machine and persisted
//! records, and supervision of the per-container shims.
//!
//! Both fronts (CRI, and the Docker Engine API the CLI uses) drive one
//! [`Engine`], a facade over parts that own their state: the image store,
//! tasks (`task/`), snapshots (`snapshot/`), containers and sandboxes
//! (`table.rs`), networks, volumes and host ports. Where it meets the node
//! is a [`Seams`]. Wire types stop at the fronts: everything here takes and
//! returns domain types, and errors are [`Error`]s that each front maps to
//! its codes in one place.

mod boot;
pub mod bridge;
pub mod config;
pub mod container;
pub mod error;
pub mod histogram;
mod host;
pub mod image;
pub mod model;
pub mod network;
pub mod paths;
pub mod sandbox;
pub mod seccomp;
mod shim_client;
pub mod snapshot;
pub mod spec;
pub mod store;
mod table;
pub mod task;
#[cfg(test)]
mod testing;
mod undo;
pub mod volume;

pub use config::{BridgeConfig, EngineConfig};
pub use container::{CreateOptions, LogRecord, WaitOutcome};
pub use error::{Error, Missing, Result};
pub use model::{ContainerRecord, Status};

use container::Entry;
use image::ImageStore;
use paths::Paths;
use std::sync::Arc;

pub use berth_kernel::fs::{disk_usage, Usage};

/// The host's cgroup layout (`legacy`, `hybrid` or `unified`).
pub fn cgroup_setup() -> String {
    berth_kernel::cgroup::setup_name()
}

/// Whether this kernel can make a bind mount read-only recursively.
pub fn recursive_read_only_mounts() -> bool {
    berth_kernel::mount_attr::supported()
}

/// Whether pods can have user namespaces of their own: they need idmapped
/// mounts, which come with the same `mount_setattr`.
pub fn user_namespaces() -> bool {
    berth_kernel::mount_attr::supported()
}

/// Passes the failpoint `name` (see `berth_kernel::failpoint`).
pub(crate) fn failpoint(name: &str) -> Result<()> {
    berth_kernel::failpoint::hit(name).map_err(Error::Internal)
}

/// The engine; cheap to clone (a handle on shared state).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: EngineConfig,
    paths: Paths,
    images: ImageStore,
    /// Processes in prepared roots, each under its shim.
    tasks: task::Tasks,
    /// Writable roots over layers, for processes without a container.
    snapshots: snapshot::Snapshots,
    /// Containers by id, and their names.
    containers: table::Table<Entry>,
    /// Pod sandboxes by id, and their name keys (name, namespace, uid, attempt).
    sandboxes: table::Table<sandbox::SandboxEntry>,
    events: tokio::sync::broadcast::Sender<container::events::ContainerEvent>,
    /// Volumes on disk.
    volumes: volume::Volumes,
    /// The node's packet filter.
    filter: Arc<dyn network::filter::PacketFilter>,
    /// Sandboxes' namespaces, pinned.
    pins: Arc<dyn sandbox::pins::NamespacePins>,
    /// What runs CNI plugins.
    plugins: Arc<dyn berth_cni::Plugins>,
    /// Which container holds which published host port.
    ports: container::Ports,
    /// User-defined networks, their DNS servers.
    networks: network::Networks,
}

/// Where the engine meets the node, as seams: the real ones, or fakes in
/// unit tests (which then need no root and change nothing on the node).
pub struct Seams {
    /// Runs tasks under their shims.
    pub runtime: Arc<dyn task::TaskRuntime>,
    /// The node's packet filter.
    pub filter: Arc<dyn network::filter::PacketFilter>,
    /// Pins sandboxes' namespaces.
    pub pins: Arc<dyn sandbox::pins::NamespacePins>,
    /// Runs CNI plugins.
    pub plugins: Arc<dyn berth_cni::Plugins>,
}

impl Seams {
    /// The node's own: `berth-shim` and iptables.
    pub fn node(cfg: &EngineConfig) -> Self {
        Self {
            runtime: Arc::new(task::ShimRuntime::new(cfg.shim_path.clone())),
            filter: Arc::new(network::filter::Iptables),
            pins: Arc::new(sandbox::pins::ShimPins { shim_path: cfg.shim_path.clone() }),
            plugins: Arc::new(berth_cni::Exec),
        }
    }
}

impl Engine {
    /// Opens the stores under the configured dirs and reconnects to every
    /// live shim (in parallel, with bounded timeouts).
    pub async fn open(cfg: EngineConfig) -> Result<Self> {
        let seams = Seams::node(&cfg);
        Self::open_with(cfg, seams).await
    }

    /// [`Engine::open`] with the given seams.
    pub async fn open_with(cfg: EngineConfig, seams: Seams) -> Result<Self> {
        let paths = Paths::new(&cfg.root, &cfg.state);
        // Before the state dir is made: its absence is a sign of a reboot.
        let boot = boot::check(&paths);
        for (d, mode) in [
            (&paths.root, 0o711),
            (&paths.state, 0o711),
            (&paths.containers(), 0o700),
            (&paths.bundles(), 0o700),
            (&paths.sandboxes(), 0o700),
            (&paths.volumes(), 0o701),
            (&paths.sandbox_states(), 0o711),
        ] {
            paths::create_dir(d, mode)
                .map_err(|e| Error::Io { context: format!("create {}", d.display()), source: e })?;
        }
        let images = ImageStore::open(&paths, &cfg.registry)?;
        let tasks = task::Tasks::new(seams.runtime, cfg.start_timeout);
        let snapshots = snapshot::Snapshots::open(&paths, images.leases().clone())?;
        let volumes = volume::Volumes::new(paths.clone());
        let engine = Self {
            inner: Arc::new(Inner {
                cfg,
                paths,
                images,
                tasks,
                snapshots,
                containers: Default::default(),
                sandboxes: Default::default(),
                events: container::events::channel(),
                volumes,
                filter: seams.filter,
                pins: seams.pins,
                plugins: seams.plugins,
                ports: Default::default(),
                networks: Default::default(),
            }),
        };
        engine.write_bridge_config()?;
        let default_bridge = &engine.config().bridge.name;
        engine.inner.filter.isolate(default_bridge, default_bridge);
        engine.inner.filter.setup_publish();
        engine.load_networks()?;
        engine.recover_sandboxes()?;
        engine.sweep_networks().await;
        engine.sweep_volumes();
        engine.recover(boot).await?;
        engine.release_idle_networks().await;
        engine.sweep_container_sandboxes().await;
        boot::record(engine.paths())?;
        engine.restart_at_start_up();
        Ok(engine)
    }

    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    pub fn images(&self) -> &ImageStore {
        &self.inner.images
    }

    pub fn tasks(&self) -> &task::Tasks {
        &self.inner.tasks
    }

    pub fn snapshots(&self) -> &snapshot::Snapshots {
        &self.inner.snapshots
    }

    /// Removes a snapshot and releases what it held: a parent layer whose
    /// image was removed meanwhile goes now.
    pub fn remove_snapshot(&self, s: snapshot::Snapshot) -> Result<()> {
        let lease = self.inner.snapshots.remove(s)?;
        self.inner.images.release(lease);
        Ok(())
    }

    /// Removes an image unless a container uses it, in one step: the
    /// containers' lock is held (before the store's, the one order both are
    /// taken in) from the check to the removal, and a create checks its image
    /// again once it is listed, so no container can take the image meanwhile.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<image::RemoveOutcome> {
        self.inner.containers.holding(|all| {
            let used = images_in_use(all);
            self.inner.images.remove(name, force, |id| used.iter().any(|u| u == id))
        })
    }

    /// Prunes dangling images (or, with `all`, every unused one), in one
    /// step as [`Engine::remove_image`]. Blocking.
    pub fn prune_images(&self, all: bool) -> Result<image::PruneOutcome> {
        self.inner.containers.holding(|containers| {
            let used = images_in_use(containers);
            self.inner.images.prune(all, |id| used.iter().any(|u| u == id))
        })
    }

    /// Writes the archive of `plan` on a blocking thread: its chunks, then
    /// an error if the writing failed midway (a client that goes away stops it).
    pub fn save_images(
        &self,
        plan: image::SavePlan,
    ) -> tokio::sync::mpsc::Receiver<Result<Vec<u8>>> {
        let engine = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (btx, mut brx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        tokio::spawn(async move {
            let job = tokio::task::spawn_blocking(move || engine.images().save(&plan, btx));
            while let Some(b) = brx.recv().await {
                if tx.send(Ok(b)).await.is_err() {
                    break; // The writer fails and stops.
                }
            }
            drop(brx);
            let failed = match job.await {
                Ok(r) => r.err(),
                Err(e) => Some(Error::from(e)),
            };
            if let Some(e) = failed {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    /// Whether any container (in any state) uses the image `id`, as its
    /// root or as an image volume.
    pub fn image_in_use(&self, id: &str) -> bool {
        self.inner.containers.holding(images_in_use).iter().any(|u| u == id)
    }
}

/// Ids of every image the containers use (root or image volume).
fn images_in_use(containers: &mut dyn Iterator<Item = &Arc<Entry>>) -> Vec<String> {
    containers
        .map(|e| e.record())
        .flat_map(|r| {
            std::iter::once(r.image_id)
                .chain(r.config.image_volumes.into_iter().map(|v| v.image_id))
        })
        .collect()
}
