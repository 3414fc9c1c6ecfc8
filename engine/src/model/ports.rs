//! Published ports (Docker's `--expose`, `-p`, `-P`): what a container
//! exposes, what it asks to publish, and the host ports it was given.
//! Parsed from Docker's strings here, once; the rest of berth sees types.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The transports a published port can have.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// A port of the container: Docker's `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerPort {
    pub port: u16,
    pub protocol: Protocol,
}

impl FromStr for ContainerPort {
    type Err = Error;

    /// `80`, `80/tcp`, `53/udp`.
    fn from_str(s: &str) -> Result<Self> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(Error::invalid_field(
                    "ports",
                    format!("invalid proto: {other} (berth publishes tcp and udp)"),
                ))
            }
        };
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(Error::invalid_field("ports", format!("invalid containerPort: {port}")))
            }
        };
        Ok(Self { port, protocol })
    }
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

impl TryFrom<String> for ContainerPort {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ContainerPort> for String {
    fn from(p: ContainerPort) -> String {
        p.to_string()
    }
}

/// Host ports a request accepts: one, a range (the first free one), or any
/// (one of the node's ephemeral ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HostPorts {
    #[default]
    Any,
    Range {
        first: u16,
        last: u16,
    },
}

impl HostPorts {
    /// Docker's `HostPort`: ``, `8080`, `8000-8010`.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Ok(Self::Any);
        }
        let bad = || Error::invalid_field("ports", format!("invalid hostPort: {s}"));
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let (first, last): (u16, u16) =
            (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        match (first, last) {
            (0, 0) => Ok(Self::Any),
            (f, l) if f > 0 && f <= l => Ok(Self::Range { first: f, last: l }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for HostPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => Ok(()),
            Self::Range { first, last } if first == last => write!(f, "{first}"),
            Self::Range { first, last } => write!(f, "{first}-{last}"),
        }
    }
}

/// One binding asked for: Docker's `PortBindings` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    pub container: ContainerPort,
    /// `None`: every address of the node (Docker's empty `HostIp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<Ipv4Addr>,
    pub host_ports: HostPorts,
}

impl PortRequest {
    /// Docker's `PortBindings` key and `{HostIp, HostPort}`.
    pub fn from_docker(key: &str, host_ip: &str, host_port: &str) -> Result<Self> {
        let container = key.parse()?;
        let host_ip = match host_ip {
            "" | "0.0.0.0" => None,
            ip => {
                match ip.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(a)) => Some(a),
                    Ok(std::net::IpAddr::V6(_)) => {
                        return Err(Error::invalid_field(
                            "ports",
                            format!("host IP {ip}: berth publishes on IPv4 addresses only"),
                        ))
                    }
                    Err(_) => {
                        return Err(Error::invalid_field("ports", format!("invalid host IP: {ip}")))
                    }
                }
            }
        };
        Ok(Self { container, host_ip, host_ports: HostPorts::parse(host_port)? })
    }
}

/// A host port the container was given (Docker's `NetworkSettings.Ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container: ContainerPort,
    /// `0.0.0.0`: every address of the node.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

impl PublishedPort {
    /// Whether two bindings would take the same host socket.
    pub fn clashes(&self, other: &PublishedPort) -> bool {
        self.container.protocol == other.container.protocol
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_port_strings() {
        assert_eq!(
            "80".parse::<ContainerPort>().unwrap(),
            ContainerPort { port: 80, protocol: Protocol::Tcp }
        );
        assert_eq!("53/UDP".parse::<ContainerPort>().unwrap().to_string(), "53/udp");
        for bad in ["0", "x/tcp", "80/sctp", "70000", ""] {
            assert!(bad.parse::<ContainerPort>().is_err(), "{bad}");
        }
        assert_eq!(HostPorts::parse("").unwrap(), HostPorts::Any);
        assert_eq!(HostPorts::parse("8080").unwrap(), HostPorts::Range { first: 8080, last: 8080 });
        assert_eq!(HostPorts::parse("8000-8010").unwrap().to_string(), "8000-8010");
        for bad in ["x", "10-5", "0-5", "-1", "65536"] {
            assert!(HostPorts::parse(bad).is_err(), "{bad}");
        }
        assert!(PortRequest::from_docker("80/tcp", "::1", "8080").is_err());
        assert_eq!(
            PortRequest::from_docker("80/tcp", "127.0.0.1", "8080").unwrap().host_ip,
            Some(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn clashes_on_the_same_socket_only() {
        let p = |ip: [u8; 4], port, protocol| PublishedPort {
            container: ContainerPort { port: 80, protocol },
            host_ip: ip.into(),
            host_port: port,
        };
        assert!(p([0, 0, 0, 0], 80, Protocol::Tcp).clashes(&p([127, 0, 0, 1], 80, Protocol::Tcp)));
        assert!(!p([127, 0, 0, 2], 80, Protocol::Tcp).clashes(&p(
            [127, 0, 0, 1],
            80,
            Protocol::Tcp
        )));
        assert!(!p([0, 0, 0, 0], 80, Protocol::Tcp).clashes(&p([0, 0, 0, 0], 80, Protocol::Udp)));
        assert!(!p([0, 0, 0, 0], 80, Protocol::Tcp).clashes(&p([0, 0, 0, 0], 81, Protocol::Tcp)));
    }
}
