//! The HTTP side: one connection pool per TLS policy, a token cache, and
//! [`Repository`] handles whose requests go to a repository's endpoints in
//! order (mirrors first), authenticating when challenged.

use crate::auth::{parse_challenge, Challenge, Credentials};
use crate::error::{transport, Error, Result};
use crate::hosts::{Endpoint, Hosts};
use crate::manifest::{self, Manifest};
use crate::{digest, Reference};
use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub hosts: Hosts,
    /// How long a transfer may go without receiving a byte before it fails.
    pub stall_timeout: Duration,
    /// How many times a broken blob transfer is resumed.
    pub retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self { hosts: Hosts::default(), stall_timeout: Duration::from_secs(120), retries: 5 }
    }
}

/// A registry client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
    verified: reqwest::Client,
    unverified: reqwest::Client,
    /// `host|scope` → the `Authorization` header that worked.
    tokens: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("cfg", &self.inner.cfg).finish_non_exhaustive()
    }
}

/// What a repository handle may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Self> {
        cfg.hosts.validate()?;
        let build = |skip_verify: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(cfg.stall_timeout.min(Duration::from_secs(30)))
                .read_timeout(cfg.stall_timeout)
                .danger_accept_invalid_certs(skip_verify)
                .build()
                .map_err(|e| transport("HTTP client", e))
        };
        Ok(Self {
            inner: Arc::new(Inner {
                verified: build(false)?,
                unverified: build(true)?,
                cfg,
                tokens: Mutex::default(),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// A handle on `reference`'s repository. Pushes go to the registry
    /// itself, never to a mirror.
    pub fn repository(
        &self,
        reference: &Reference,
        creds: Credentials,
        access: Access,
    ) -> Result<Repository> {
        let mut endpoints = self.inner.cfg.hosts.endpoints(&reference.domain)?;
        if access == Access::Push {
            endpoints.retain(|e| !e.mirror);
        }
        Ok(Repository {
            client: self.clone(),
            endpoints,
            path: reference.path.clone(),
            creds,
            access,
            extra_scopes: Vec::new(),
        })
    }

    /// Checks credentials against a registry as `docker login` does:
    /// `GET /v2/` on the registry itself (never a mirror), answering its
    /// challenge with them.
    pub async fn login(&self, domain: &str, creds: Credentials) -> Result<()> {
        let mut endpoints = self.inner.cfg.hosts.endpoints(domain)?;
        endpoints.retain(|e| !e.mirror);
        let Some(ep) = endpoints.first().cloned() else {
            return Err(Error::Invalid(format!("{domain}: no endpoint to log in to")));
        };
        let root = Repository {
            client: self.clone(),
            endpoints,
            path: String::new(),
            creds,
            access: Access::Pull,
            extra_scopes: Vec::new(),
        };
        let resp = root.send(&ep, |h| h.get(format!("{}/v2/", ep.base))).await?;
        check(resp, &format!("{domain}: login")).await.map(drop)
    }
}

/// One repository on one registry (through its endpoints).
#[derive(Clone)]
pub struct Repository {
    client: Client,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) path: String,
    creds: Credentials,
    access: Access,
    /// Other repositories to ask pull access to (cross-repo mounts).
    extra_scopes: Vec<String>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("endpoints", &self.endpoints)
            .field("path", &self.path)
            .field("creds", &self.creds)
            .finish()
    }
}

/// A fetched manifest with its digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
    pub manifest: Manifest,
}

impl Repository {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn stall_timeout(&self) -> Duration {
        self.client.inner.cfg.stall_timeout
    }

    pub(crate) fn retries(&self) -> u32 {
        self.client.inner.cfg.retries
    }

    /// Also asks for pull access to `path` (for cross-repo blob mounts).
    pub fn with_mount_source(mut self, path: &str) -> Self {
        let s = format!("repository:{path}:pull");
        if !self.extra_scopes.contains(&s) {
            self.extra_scopes.push(s);
        }
        self
    }

    fn scopes(&self) -> Vec<String> {
        let actions = if self.access == Access::Push { "pull,push" } else { "pull" };
        // The registry's root (logins) asks for no repository.
        let mut v: Vec<String> = (!self.path.is_empty())
            .then(|| format!("repository:{}:{actions}", self.path))
            .into_iter()
            .collect();
        v.extend(self.extra_scopes.iter().cloned());
        v
    }

    pub(crate) fn url(&self, ep: &Endpoint, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", ep.base, self.path)
    }

    fn http(&self, ep: &Endpoint) -> &reqwest::Client {
        if ep.skip_verify {
            &self.client.inner.unverified
        } else {
            &self.client.inner.verified
        }
    }

    /// Sends a request to one endpoint, answering one auth challenge.
    pub(crate) async fn send(
        &self,
        ep: &Endpoint,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        // Tokens are cached per credentials: one caller's access is never another's.
        let key = format!("{}|{}|{}", ep.host, self.scopes().join(" "), self.creds.fingerprint());
        let cached = self.client.inner.tokens.lock().unwrap().get(&key).cloned();
        let initial = match (&cached, &self.creds) {
            (Some(h), _) => Some(h.clone()),
            (None, Credentials::Bearer(t)) => Some(format!("Bearer {t}")),
            _ => None,
        };
        let go = |auth: Option<&str>| {
            let mut rb = build(self.http(ep));
            if let Some(a) = auth {
                rb = rb.header(AUTHORIZATION, a);
            }
            rb.send()
        };
        let resp = go(initial.as_deref()).await.map_err(|e| transport(&ep.host, e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_challenge);
        let header = match challenge {
            Some(Challenge::Bearer { realm, service, .. }) => {
                self.fetch_token(ep, &realm, service.as_deref()).await?
            }
            Some(Challenge::Basic) => match self.creds.basic_header() {
                Some(h) => h,
                None => {
                    return Err(Error::Unauthorized(format!(
                        "{}: authentication required (basic)",
                        ep.host
                    )))
                }
            },
            None => {
                return Err(Error::Unauthorized(format!(
                    "{}: unauthorized, with no usable challenge",
                    ep.host
                )))
            }
        };
        let resp = go(Some(&header)).await.map_err(|e| transport(&ep.host, e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let who = if matches!(self.creds, Credentials::Anonymous) {
                "authentication required"
            } else {
                "the credentials were refused"
            };
            return Err(Error::Unauthorized(format!("{}: {who}", ep.host)));
        }
        self.client.inner.tokens.lock().unwrap().insert(key, header);
        Ok(resp)
    }

    /// The bearer token flow: GET (or, with a refresh token, POST) to the realm.
    async fn fetch_token(
        &self,
        ep: &Endpoint,
        realm: &str,
        service: Option<&str>,
    ) -> Result<String> {
        let url = reqwest::Url::parse(realm)
            .map_err(|_| Error::Invalid(format!("{}: malformed token realm", ep.host)))?;
        let realm_host = url.host_str().unwrap_or("");
        // Credentials go only over TLS, to loopback, or where the registry itself is plain HTTP by configuration.
        let may_send_secrets = url.scheme() == "https"
            || realm_host == "localhost"
            || realm_host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|i| i.is_loopback())
            || ep.base.starts_with("http://");
        let http = self.http(ep);
        let scopes = self.scopes();
        let rb = match &self.creds {
            Credentials::Identity { token, .. } if may_send_secrets => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", token.clone()),
                    ("client_id", "berth".to_owned()),
                ];
                if let Some(s) = service {
                    form.push(("service", s.to_owned()));
                }
                form.push(("scope", scopes.join(" ")));
                http.post(url).form(&form)
            }
            creds => {
                let mut q: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    q.push(("service", s));
                }
                for s in &scopes {
                    q.push(("scope", s));
                }
                let mut rb = http.get(url).query(&q);
                if let (Some(h), true) = (creds.basic_header(), may_send_secrets) {
                    rb = rb.header(AUTHORIZATION, h);
                }
                rb
            }
        };
        let resp =
            rb.send().await.map_err(|e| transport(&format!("{}: token request", ep.host), e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized(format!(
                "{}: the token service refused the credentials ({status})",
                ep.host
            )));
        }
        if !status.is_success() {
            return Err(Error::Unavailable(format!(
                "{}: token service answered {status}",
                ep.host
            )));
        }
        let body = read_limited(resp, 1 << 20, &ep.host).await?;
        #[derive(serde::Deserialize)]
        struct Tok {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Tok = serde_json::from_slice(&body)
            .map_err(|_| Error::Invalid(format!("{}: malformed token response", ep.host)))?;
        let token = t.token.or(t.access_token).filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::Invalid(format!("{}: token response without a token", ep.host))
        })?;
        Ok(format!("Bearer {token}"))
    }

    /// Tries each endpoint in order; a mirror's failure falls through to
    /// the next one, the last endpoint's error is returned.
    pub(crate) async fn on_endpoints<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut(Endpoint) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last = None;
        for ep in &self.endpoints {
            match f(ep.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if ep.mirror => {
                    tracing::debug!(mirror = %ep.host, error = %e, "{what}: mirror failed, trying the next endpoint");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Unavailable(format!("{what}: no endpoint configured"))))
    }

    /// Fetches a manifest by tag or digest, verifying a digest reference.
    pub async fn manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let want = reference.starts_with("sha256:").then_some(reference);
        if let Some(d) = want {
            digest::check(d)?;
        }
        self.on_endpoints("manifest", |ep| async move {
            let url = self.url(&ep, &format!("manifests/{reference}"));
            let resp = self.send(&ep, |h| h.get(&url).header(ACCEPT, manifest::ACCEPT)).await?;
            let resp = check(resp, &format!("manifest {}:{reference}", self.path)).await?;
            let ct =
                resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let bytes = read_limited(resp, manifest::MAX_MANIFEST, &ep.host).await?;
            let dgst = digest::of(&bytes);
            if let Some(w) = want {
                if dgst != w {
                    return Err(Error::Invalid(format!(
                        "manifest digest mismatch: {} served {dgst} for {w}",
                        ep.host
                    )));
                }
            }
            let manifest = Manifest::parse(&bytes, ct.as_deref())?;
            let media_type = match &manifest {
                Manifest::Image(m) => {
                    m.media_type.clone().unwrap_or_else(|| manifest::OCI_MANIFEST.into())
                }
                Manifest::Index(i) => {
                    i.media_type.clone().unwrap_or_else(|| manifest::OCI_INDEX.into())
                }
            };
            Ok(FetchedManifest { digest: dgst, media_type, bytes, manifest })
        })
        .await
    }

    /// Fetches a small blob (an image config) whole, verifying its digest.
    pub async fn blob_bytes(&self, dgst: &str, max: usize) -> Result<Bytes> {
        digest::check(dgst)?;
        self.on_endpoints("blob", |ep| async move {
            let url = self.url(&ep, &format!("blobs/{dgst}"));
            let resp =
                check(self.send(&ep, |h| h.get(&url)).await?, &format!("blob {dgst}")).await?;
            let bytes = read_limited(resp, max, &ep.host).await?;
            digest::verify(&bytes, dgst)
                .map_err(|e| Error::Invalid(format!("{}: {e}", ep.host)))?;
            Ok(bytes)
        })
        .await
    }
}

/// Maps an error status to an [`Error`], with the registry's own message.
pub(crate) async fn check(resp: Response, what: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.bytes().await.unwrap_or_default();
    let detail = registry_message(&body).unwrap_or_else(|| status.to_string());
    let msg = format!("{what}: {detail}");
    Err(match status {
        StatusCode::NOT_FOUND => Error::NotFound(msg),
        StatusCode::UNAUTHORIZED => Error::Unauthorized(msg),
        StatusCode::FORBIDDEN => Error::Denied(msg),
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => Error::Unavailable(msg),
        _ => Error::Invalid(msg),
    })
}

/// The first message of a registry's `{"errors":[{"code","message"}]}` body.
fn registry_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("errors")?.get(0)?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
    Some(format!("{code} {message}").trim().chars().take(300).collect())
}

/// Reads a body, refusing more than `max` bytes.
pub(crate) async fn read_limited(mut resp: Response, max: usize, host: &str) -> Result<Bytes> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(Error::Invalid(format!("{host}: response larger than {max} bytes")));
    }
    let mut buf = Vec::new();
    while let Some(c) = resp.chunk().await.map_err(|e| transport(host, e))? {
        if buf.len() + c.len() > max {
            return Err(Error::Invalid(format!("{host}: response larger than {max} bytes")));
        }
        buf.extend_from_slice(&c);
    }
    Ok(buf.into())
}

/// A header's value, if it is text.
pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) const PUT: Method = Method::PUT;
