//! berth's image builder: a client of the engine, never part of it.
//!
//! A build is a Dockerfile ([`berth_dockerfile`]: the pure frontend),
//! a context dir (`context.rs`: a tar extracted inside its root,
//! `.dockerignore` applied before anything is hashed), and the solver
//! (`solve.rs`): the stages the target needs, each step either found in
//! the cache (`cache.rs`: keyed by the instruction, what it sees and the
//! content — never the mtime — of what it copies) or run: RUN through the
//! engine's steps (`Engine::run_step`, a confined process in a snapshot),
//! COPY and ADD through descriptor-walked views (`transfer.rs`), each
//! step's changes committed as a layer by the engine's snapshots. The
//! image is assembled in the engine's one store, so `docker run` and
//! kubelet use it at once.

mod cache;
pub mod context;
mod engine_worker;
mod fetch;
pub mod kept;
mod link;
pub mod mounts;
pub mod slots;
mod solve;
mod ssh;
mod transfer;
pub mod worker;

pub use cache::Cache;
pub use solve::prune::{CacheRecord, PruneOutcome, PruneRequest};
pub use solve::Builder;
pub use transfer::{Dest, Source};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context dir (what `COPY` reads).
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// `-t`, each `repo[:tag]`.
    pub tags: Vec<String>,
    /// `--build-arg`: `None` for a name given without a value (unset).
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--cache-from`: images whose build the cache may come from; when
    /// none of them is here, nothing is reused (dockerd's classic rule).
    pub cache_from: Vec<String>,
    /// `--add-host`: (name, address) lines added to RUN steps' /etc/hosts.
    pub extra_hosts: Vec<(String, String)>,
    /// `--pull`: the bases pulled even if present.
    pub pull: bool,
    /// `--network`: `default`, `host`, `none` or a user-defined network.
    pub network: String,
    pub platform: Option<String>,
    /// Credentials for pulls of bases (`X-Registry-Config`), by registry.
    pub credentials: BTreeMap<String, berth_registry::Credentials>,
    /// `--secret`: what `RUN --mount=type=secret,id=…` gets, by id.
    pub secrets: BTreeMap<String, Secret>,
    /// RUN steps' cgroup limits (`--memory`, `--cpu-*`, `--cpuset-cpus`).
    pub resources: berth_engine::model::Resources,
    /// RUN steps' `/dev/shm` size in bytes (0: 64 MiB).
    pub shm_size: u64,
    /// Entitlements asked for (`--allow security.insecure`).
    pub allow: Vec<String>,
    /// ssh agents the client forwards, by id (`default`).
    pub ssh: BTreeMap<String, SshSource>,
}

/// A build secret's bytes: in memory only, never printed (its `Debug`
/// says nothing), never in a cache key, a layer or the history.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a build reports as it goes (the fronts word it their way). Steps
/// are numbered across the stages built (1-based); events of stages that
/// run at once interleave, each naming its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step starts. `label`: its stage and place, as BuildKit shows it
    /// (`build 2/3`, or `2/3` in a one-stage Dockerfile); `line`: where it
    /// is in the Dockerfile (0 for an ONBUILD trigger's).
    Step { number: usize, total: usize, text: String, label: String, line: usize },
    /// The step's result was in the cache.
    Cached { number: usize },
    /// A RUN step's output line.
    Output { number: usize, text: String, stderr: bool },
    /// A step is done; `id`: a short name of its result.
    StepDone { number: usize, id: String },
    /// A warning (unused build args, …).
    Warning(String),
}

/// How a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Parse(#[from] berth_dockerfile::ParseError),
    /// The request or the Dockerfile asks for something wrong.
    #[error("{0}")]
    Invalid(String),
    /// A RUN step's command failed.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    StepFailed { command: String, code: i32, step: usize },
    /// A COPY or ADD source is not in the context (or the stage).
    #[error("{0}")]
    NotFound(String),
    /// An entitlement berthd's configuration does not grant.
    #[error("{0}")]
    Forbidden(String),
    /// A kept context changed under a client's diff.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Engine(#[from] berth_engine::Error),
    #[error("build cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// An ssh agent a client forwards (`--ssh default`): each connection a
/// RUN step makes to its socket becomes a stream to the client's agent.
pub trait SshAgent: Send + Sync {
    fn connect(&self) -> futures::future::BoxFuture<'_, std::io::Result<tokio::io::DuplexStream>>;
}

/// A forwarded agent, by reference (compared by identity).
#[derive(Clone)]
pub struct SshSource(pub Arc<dyn SshAgent>);

impl std::fmt::Debug for SshSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SshSource")
    }
}

impl PartialEq for SshSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SshSource {}

/// What berthd's configuration lets a build ask for (buildkitd's
/// `insecure-entitlements`): a build gets one only if it asks too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// `security.insecure`: `RUN --security=insecure` runs privileged.
    pub security_insecure: bool,
}

/// The entitlement a build asks for to run `RUN --security=insecure`.
pub const SECURITY_INSECURE: &str = "security.insecure";

/// The built image.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: String,
    pub tags: Vec<String>,
}
