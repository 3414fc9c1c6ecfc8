//! Docker's progress stream (`JSONMessage`): one object per line for pull,
//! push, load, import and build; an error is the stream's last message.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<Progress>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<Aux>,
}

impl Message {
    /// A status line (`Pulling fs layer`), for a layer when `id` is set.
    pub fn status(status: impl Into<String>, id: impl Into<String>) -> Self {
        Message { status: status.into(), id: id.into(), ..Default::default() }
    }

    /// Output for the client to print as it is (`Loaded image: …\n`).
    pub fn stream(text: impl Into<String>) -> Self {
        Message { stream: text.into(), ..Default::default() }
    }

    /// The stream's last message when it failed.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Message {
            error_detail: Some(ErrorDetail { code: None, message: message.clone() }),
            error: message,
            ..Default::default()
        }
    }

    /// The message as one line of the stream.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// Bytes done of a layer; `{}` when there is nothing to count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    /// A failed build step's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

/// What a message carries for the client besides text: a pushed tag's
/// digest, or a built image's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Aux {
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "Tag", skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(rename = "Digest", skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(rename = "Size", skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// BuildKit's progress, as the docker CLI reads it from a session build
/// (`/build?version=2`): `id` `moby.buildkit.trace`, `aux` the base64 of
/// a protobuf `StatusResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TraceMessage {
    pub id: String,
    pub aux: String,
}
