//! What the solver needs from below, as a trait: the engine's worker
//! (`engine_worker.rs`) in berthd, a fake in the solver's unit tests.
//! Each step is given its stage's layers (diff ids, bottom first) and
//! answers with the layer it made, or none when it changed no file.

use crate::{Event, Result};
use berth_engine::image::assemble::{NewImage, NewLayer};
use berth_engine::image::ImageConfig;
use futures::future::BoxFuture;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// A base image: `FROM` or `COPY --from` an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    pub id: String,
    /// Diff ids, bottom first.
    pub layers: Vec<String>,
    pub config: ImageConfig,
    /// Unix nanos.
    pub created: i64,
}

/// The network a RUN step sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The build's own namespace on the default bridge ([`Worker::bridge`]).
    Bridge(String),
    Host,
    None,
}

/// A RUN step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// Its number in the build (its events name it).
    pub number: usize,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub network: Network,
    pub mounts: Vec<crate::mounts::RunMount>,
    /// More /etc/hosts lines: (name, address).
    pub extra_hosts: Vec<(String, String)>,
    pub resources: berth_engine::model::Resources,
    pub shm_size: u64,
    /// `--security=insecure`, granted and asked for: privileged.
    pub insecure: bool,
}

/// Where a COPY's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFrom {
    /// The build context (a dir berthd made).
    Context(PathBuf),
    /// A stage's or an image's layers.
    Layers(Vec<String>),
}

/// A COPY or ADD step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStep {
    pub from: CopyFrom,
    /// Paths in the source (globs already expanded).
    pub sources: Vec<crate::transfer::Source>,
    pub dest: crate::transfer::Dest,
}

/// A layer a step made, held against garbage collection until the
/// solver's cache takes it.
#[derive(Debug)]
pub struct Made {
    pub layer: NewLayer,
    pub lease: Option<berth_engine::snapshot::lease::Lease>,
}

/// The solver's view of the node.
pub trait Worker: Send + Sync + 'static {
    /// An image by name: the store's, or pulled (always, with `pull`).
    fn image<'a>(
        &'a self,
        name: &'a str,
        pull: bool,
        credentials: &'a berth_registry::Credentials,
    ) -> BoxFuture<'a, Result<Base>>;
    /// Whether an image of that name is stored (never pulls).
    fn has_image(&self, name: &str) -> bool;
    /// Runs a step over `parents`; its output lines go to `events`.
    fn run<'a>(
        &'a self,
        parents: &'a [String],
        step: RunStep,
        events: UnboundedSender<Event>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Option<Made>>>;
    /// Copies files over `parents`.
    fn copy<'a>(
        &'a self,
        parents: &'a [String],
        step: CopyStep,
    ) -> BoxFuture<'a, Result<Option<Made>>>;
    /// Makes a directory (WORKDIR) over `parents` if it is not one.
    fn mkdir<'a>(
        &'a self,
        parents: &'a [String],
        path: String,
    ) -> BoxFuture<'a, Result<Option<Made>>>;
    /// Stores the image; its id.
    fn assemble(&self, base: Option<&str>, image: NewImage) -> Result<String>;
    /// Whether a layer the cache names is still stored.
    fn stored(&self, layer: &NewLayer) -> bool;
    /// Lets go of cached layers: what no image uses is removed; the bytes freed.
    fn release(&self, lease: berth_engine::snapshot::lease::Lease) -> u64;
    /// Whether an image uses the layer.
    fn in_image(&self, diff_id: &str) -> bool;
    /// A namespace for a build's RUN steps: on the default bridge, or on a
    /// user-defined network.
    fn bridge<'a>(
        &'a self,
        name: &'a str,
        network: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String>>;
    /// Removes a build's bridge namespace.
    fn remove_bridge<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
}
