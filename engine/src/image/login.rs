//! `berth login`: checks credentials against a registry before the CLI
//! stores them (berthd itself never keeps them).

use super::ImageStore;
use crate::error::{Error, Result};
use berth_registry::{Credentials, Reference};
use tracing::Instrument;

impl ImageStore {
    /// Logs in to `registry` (a host, `host:port`, or `docker.io`).
    pub async fn login(&self, registry: &str, creds: Credentials) -> Result<()> {
        if matches!(creds, Credentials::Anonymous) {
            return Err(Error::invalid("login: a username and password (or a token) are required"));
        }
        // Docker's rule for what names a registry host; docker.io's aliases are folded by the CLI.
        let hostlike = registry.contains('.') || registry.contains(':') || registry == "localhost";
        let domain = match Reference::parse(&format!("{registry}/x")) {
            Ok(r) if hostlike && !registry.contains('/') => r.domain,
            _ => return Err(Error::invalid(format!("login: {registry:?} is not a registry host"))),
        };
        let span = tracing::info_span!("login", registry = %domain);
        self.client()?.login(&domain, creds).instrument(span).await.map_err(Error::from)
    }
}
