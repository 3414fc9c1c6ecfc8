//! Images: the list's summaries, inspect, history, removal and prune.

use crate::container::HealthConfig;
use crate::{null_default, EmptyObject, Labels};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One image of `GET /images/json` (and of `/system/df`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Summary {
    pub id: String,
    pub parent_id: String,
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    pub created: i64,
    pub size: i64,
    pub shared_size: i64,
    pub virtual_size: i64,
    pub labels: Option<Labels>,
    /// How many containers use it; -1 when not counted.
    pub containers: i64,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Inspect {
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub author: String,
    pub config: Option<ImageConfig>,
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    pub os: String,
    pub size: i64,
    #[serde(deserialize_with = "null_default")]
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS", deserialize_with = "null_default")]
    pub root_fs: RootFs,
    #[serde(deserialize_with = "null_default")]
    pub metadata: Metadata,
}

/// An image's `Config`: what its containers run unless told otherwise. The
/// same keys as the OCI image config's `config` object, so it reads that too;
/// a commit's body is one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageConfig {
    pub user: Option<String>,
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<Labels>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GraphDriver {
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(deserialize_with = "null_default")]
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Metadata {
    pub last_tag_time: String,
}

/// One step of `GET /images/{name}/history`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HistoryItem {
    /// `<missing>` for a step without an image of its own.
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Option<Vec<String>>,
    pub size: i64,
    pub comment: String,
}

/// One entry of a removal or a prune: an untagged name or a deleted id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeleteItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `POST /images/prune`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PruneResponse {
    pub images_deleted: Option<Vec<DeleteItem>>,
    pub space_reclaimed: u64,
}
