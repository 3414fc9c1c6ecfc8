//! berth's own build-context endpoints, beside Docker's `/build`: a context
//! berthd keeps between builds, which `berth build` brings up to date by
//! diff instead of sending it whole each time (as BuildKit's session sends
//! a local source). `GET /berth/contexts/{id}` lists what the client said
//! about its files at the last sync; `POST /berth/contexts/{id}` carries a
//! [`ContextSync`] as its first line and then a tar of what changed;
//! `POST /build?berthcontext={id}` builds from it, a [`BuildInputs`] as
//! the body (the Dockerfile's text and the build's secrets).

use serde::{Deserialize, Serialize};

/// A file of the client's context, as it stood when it was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextEntry {
    /// Relative, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    pub size: u64,
    /// Modification time, unix nanoseconds.
    pub mtime: i64,
    /// A symlink's target.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    #[default]
    File,
    Dir,
    Symlink,
}

/// `GET /berth/contexts/{id}`: the kept context's generation (0: none
/// kept) and its files as the client last described them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextListing {
    pub generation: u64,
    pub entries: Vec<ContextEntry>,
}

/// The first line of `POST /berth/contexts/{id}`: the diff's base (a
/// listing's generation; another one now is a 409 and the client lists
/// again), whether to start over, what to remove, and the client's files
/// after the sync. The tar of what is new or changed follows the line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextSync {
    pub base: u64,
    pub reset: bool,
    pub removed: Vec<String>,
    pub entries: Vec<ContextEntry>,
}

/// The answer to a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextSynced {
    pub generation: u64,
}

/// The body of `POST /build?berthcontext={id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildInputs {
    pub dockerfile: String,
    /// `--secret`s, for `RUN --mount=type=secret`.
    pub secrets: Vec<BuildSecret>,
}

/// One secret: its id and its bytes, base64 (standard alphabet).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildSecret {
    pub id: String,
    pub data: String,
}

impl std::fmt::Debug for BuildSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildSecret").field("id", &self.id).finish_non_exhaustive()
    }
}

/// One line of the answer to `POST /build?berthcontext={id}`: berth's own
/// progress events, which `berth build` draws as BuildKit does (a live
/// view, or `#N` lines), instead of the classic stream's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum BuildEvent {
    /// A step starts: its number among all steps, its stage and place
    /// (`build 2/3`), its text and its line in the Dockerfile.
    Step {
        number: usize,
        total: usize,
        label: String,
        text: String,
        line: usize,
    },
    Cached {
        number: usize,
    },
    Output {
        number: usize,
        text: String,
        stderr: bool,
    },
    Done {
        number: usize,
        id: String,
    },
    Warning {
        text: String,
    },
    /// The image, and its tags.
    Built {
        id: String,
        tags: Vec<String>,
    },
    /// The build failed (in step `step`, when one failed).
    Failed {
        message: String,
        code: Option<i64>,
        step: Option<usize>,
    },
}
