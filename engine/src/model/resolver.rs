//! A container's own resolver settings (`--dns`, `--dns-search`,
//! `--dns-option`) and `--add-host` lines, with dockerd's checks.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A container's own resolver settings (empty: the node's resolv.conf).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<std::net::IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.search.is_empty() && self.options.is_empty()
    }

    /// Checks the search domains and options (one word each, no newline).
    pub fn check(&self) -> Result<()> {
        for w in self.search.iter().chain(&self.options) {
            if w.is_empty() || w.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::invalid(format!("invalid DNS search domain or option {w:?}")));
            }
        }
        Ok(())
    }

    /// The container's resolv.conf: its own settings over the node's.
    pub fn resolv_conf(&self, node: &str) -> String {
        let keep = |key: &'static str, mine: bool| {
            node.lines()
                .filter(move |l| !mine && l.split_whitespace().next() == Some(key))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        };
        let mut out = String::new();
        out.push_str(&keep("search", !self.search.is_empty()));
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        out.push_str(&keep("nameserver", !self.servers.is_empty()));
        out.extend(self.servers.iter().map(|s| format!("nameserver {s}\n")));
        out.push_str(&keep("options", !self.options.is_empty()));
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// One `--add-host` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHost {
    pub name: String,
    pub ip: std::net::IpAddr,
}

impl ExtraHost {
    /// Docker's `name:ip` (or `name=ip`); the name a hostname.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "invalid argument \"{s}\" for \"--add-host\" flag: invalid IP address in add-host"
            ))
        };
        let (name, ip) = s.split_once('=').or_else(|| s.split_once(':')).ok_or_else(bad)?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| bad())?;
        crate::container::check_hostname(name)
            .map_err(|_| Error::invalid(format!("invalid hostname {name:?} in add-host")))?;
        Ok(Self { name: name.to_owned(), ip })
    }
}
