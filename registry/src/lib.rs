//! A client for OCI Distribution (Docker Registry HTTP API v2): image
//! references parsed as Docker parses them, manifests and indexes with
//! platform selection, streamed and resumable blob downloads, bearer and
//! basic auth, mirrors with fallback, and uploads for push.
//!
//! The client verifies what it can verify itself (manifest and config
//! digests, sizes); layer blobs stream out to the caller, which hashes
//! them while unpacking (one pass over the data).

pub mod auth;
mod blob;
mod client;
pub mod digest;
pub mod error;
pub mod hosts;
pub mod manifest;
pub mod reference;
mod upload;

pub use auth::Credentials;
pub use blob::BlobStream;
pub use client::{Access, Client, ClientConfig, FetchedManifest, Repository};
pub use error::{Error, Result};
pub use hosts::{Endpoint, HostConfig, Hosts};
pub use manifest::{Descriptor, ImageManifest, Index, Manifest, Platform};
pub use reference::Reference;
