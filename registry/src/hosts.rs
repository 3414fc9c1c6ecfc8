//! Which endpoints serve a registry: its mirrors, in order, then the
//! registry itself (unless fallback is off), with plain HTTP or skipped
//! TLS verification only for hosts named in the configuration (and plain
//! HTTP for loopback registries, as Docker and containerd allow).

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Settings for one registry host (`[registries."<host>"]`), or for every
/// host without its own entry (`[registries._default]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Mirrors tried in order: `host[:port]` or `http(s)://host[:port]`.
    pub mirrors: Vec<String>,
    /// Whether the registry itself is tried after its mirrors.
    pub fallback: bool,
    /// Speak plain HTTP to this host.
    pub plain_http: bool,
    /// Accept any TLS certificate from this host.
    pub skip_verify: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self { mirrors: Vec::new(), fallback: true, plain_http: false, skip_verify: false }
    }
}

/// Host settings by registry host; `_default` applies to hosts without an entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Hosts(pub BTreeMap<String, HostConfig>);

/// One place to send requests for a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`.
    pub base: String,
    /// `host[:port]`, the key for tokens and settings.
    pub host: String,
    pub mirror: bool,
    pub skip_verify: bool,
}

const DEFAULT: &str = "_default";

fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .map(|(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host })
            .unwrap_or(host)
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Hosts {
    /// Checks the settings: mirror addresses are plain hosts or http(s)
    /// URLs, and the catch-all can't turn security off for every host.
    pub fn validate(&self) -> Result<()> {
        for (name, h) in &self.0 {
            if name == DEFAULT && (h.plain_http || h.skip_verify) {
                return Err(Error::InvalidReference("registries._default can't set plain_http or skip_verify: name the hosts they apply to".into()));
            }
            for m in &h.mirrors {
                split_url(m)?;
            }
        }
        Ok(())
    }

    fn setting(&self, host: &str) -> Option<&HostConfig> {
        self.0.get(host)
    }

    fn endpoint(&self, url_or_host: &str, mirror: bool) -> Result<Endpoint> {
        let (scheme, host) = split_url(url_or_host)?;
        let own = self.setting(&host);
        let plain = match scheme {
            Some(s) => s == "http",
            None => own.map(|h| h.plain_http).unwrap_or(false) || is_loopback(&host),
        };
        Ok(Endpoint {
            base: format!("{}://{host}", if plain { "http" } else { "https" }),
            skip_verify: own.is_some_and(|h| h.skip_verify),
            host,
            mirror,
        })
    }

    /// Endpoints for a registry domain (as references name it: `docker.io`).
    pub fn endpoints(&self, domain: &str) -> Result<Vec<Endpoint>> {
        let cfg =
            self.setting(domain).or_else(|| self.setting(DEFAULT)).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for m in &cfg.mirrors {
            out.push(self.endpoint(m, true)?);
        }
        if cfg.fallback || out.is_empty() {
            let upstream = if domain == "docker.io" { "registry-1.docker.io" } else { domain };
            let mut e = self.endpoint(upstream, false)?;
            // The registry's own entry decides for it, under its reference name.
            if let Some(own) = self.setting(domain) {
                if own.plain_http {
                    e.base = format!("http://{}", e.host);
                }
                e.skip_verify |= own.skip_verify;
            }
            out.push(e);
        }
        Ok(out)
    }
}

/// `http(s)://host[:port]` or `host[:port]` → (scheme, host).
fn split_url(s: &str) -> Result<(Option<&'static str>, String)> {
    let (scheme, rest) = if let Some(r) = s.strip_prefix("https://") {
        (Some("https"), r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (Some("http"), r)
    } else {
        (None, s)
    };
    let host = rest.trim_end_matches('/');
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !ok {
        return Err(Error::InvalidReference(format!(
            "invalid registry host {s:?}: want host[:port] or http(s)://host[:port]"
        )));
    }
    Ok((scheme, host.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(toml_like: &[(&str, HostConfig)]) -> Hosts {
        Hosts(toml_like.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn docker_hub_and_loopback() {
        let h = Hosts::default();
        let e = h.endpoints("docker.io").unwrap();
        assert_eq!(
            e,
            vec![Endpoint {
                base: "https://registry-1.docker.io".into(),
                host: "registry-1.docker.io".into(),
                mirror: false,
                skip_verify: false
            }]
        );
        assert_eq!(h.endpoints("127.0.0.1:5000").unwrap()[0].base, "http://127.0.0.1:5000");
        assert_eq!(h.endpoints("localhost:5000").unwrap()[0].base, "http://localhost:5000");
        assert_eq!(h.endpoints("[::1]:5000").unwrap()[0].base, "http://[::1]:5000");
        assert_eq!(h.endpoints("example.com:5000").unwrap()[0].base, "https://example.com:5000");
    }

    #[test]
    fn mirrors_then_upstream() {
        let mirror = HostConfig {
            mirrors: vec!["http://127.0.0.1:1".into(), "m.example".into()],
            ..Default::default()
        };
        let h = hosts(&[
            ("docker.io", mirror.clone()),
            ("m.example", HostConfig { plain_http: true, ..Default::default() }),
        ]);
        let e: Vec<String> =
            h.endpoints("docker.io").unwrap().into_iter().map(|e| e.base).collect();
        assert_eq!(e, ["http://127.0.0.1:1", "http://m.example", "https://registry-1.docker.io"]);
        let no_fallback = hosts(&[("_default", HostConfig { fallback: false, ..mirror })]);
        let e: Vec<String> =
            no_fallback.endpoints("quay.io").unwrap().into_iter().map(|e| e.base).collect();
        assert_eq!(e, ["http://127.0.0.1:1", "https://m.example"]);
    }

    #[test]
    fn default_cannot_disable_security() {
        assert!(hosts(&[("_default", HostConfig { plain_http: true, ..Default::default() })])
            .validate()
            .is_err());
        assert!(hosts(&[(
            "a",
            HostConfig { mirrors: vec!["ftp://x".into()], ..Default::default() }
        )])
        .validate()
        .is_err());
        assert!(hosts(&[("a", HostConfig { plain_http: true, ..Default::default() })])
            .validate()
            .is_ok());
    }
}
