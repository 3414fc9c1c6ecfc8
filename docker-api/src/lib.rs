//! The Docker Engine API's request and response bodies as typed values.
//!
//! One set of types for both sides of the socket: berthd's Docker front
//! (`berth-docker`) writes and reads them, and every client — the berth
//! CLI, and Compose next — reads and writes the same ones, so the two can't
//! drift apart. The shapes follow Moby's Go types (`api/types`), which are
//! what dockerd writes: a field without `omitempty` is always present, as
//! `null` when unset, and clients rely on that (docker-py reads
//! `Config.Cmd` and gets `None`, not a `KeyError`). That is why these are
//! berth's own rather than `bollard-stubs` (the models generated from
//! Docker's OpenAPI file): those skip every unset field and would make a
//! server drop keys dockerd always writes. The tests use `bollard-stubs`
//! the other way round, to check that every key written here is one
//! Docker's API defines.
//!
//! Reading is lenient, as clients of several dockerd versions must be: a
//! missing field is its default, and so is a `null` where Go clients send
//! one for an empty list or map.

pub mod build;
pub mod container;
pub mod exec;
pub mod filters;
pub mod image;
pub mod inspect;
pub mod network;
pub mod progress;
pub mod stats;
pub mod system;
pub mod volume;

mod nulls;
pub use nulls::{null_default, EmptyObject};

use serde::{Deserialize, Serialize};

/// Every error answer: `{"message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorResponse {
    pub message: String,
}

/// `{"Id": "..."}`: what creates and commits answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct IdResponse {
    pub id: String,
}

/// `{"Warnings": [...]}`: what an update answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WarningsResponse {
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// Key/value labels, sorted as dockerd's maps are written.
pub type Labels = std::collections::BTreeMap<String, String>;
