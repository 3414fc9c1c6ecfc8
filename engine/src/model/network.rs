//! User-defined networks as berth records them (Docker's `bridge` driver):
//! a Linux bridge of the network's own, an IPv4 range and its gateway,
//! and a container's link to one (its aliases and asked-for address).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 range: `10.1.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(self, other: Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first host address (Docker's default gateway).
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The `n`th range of `prefix` bits inside this one, if there is one.
    pub fn nth(self, prefix: u8, n: u32) -> Option<Subnet> {
        if prefix < self.prefix || prefix > 30 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        (u64::from(n) < count).then(|| Subnet {
            addr: Ipv4Addr::from(u32::from(self.addr) + (n << (32 - u32::from(prefix)))),
            prefix,
        })
    }

    /// Whether `ip` is a host address of the range (not its network or broadcast address).
    pub fn is_host(self, ip: Ipv4Addr) -> bool {
        let broadcast = u32::from(self.addr) | !self.mask();
        self.contains(ip) && ip != self.addr && u32::from(ip) != broadcast
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::invalid(format!("invalid subnet {s}: an IPv4 range such as 10.1.0.0/24"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let (addr, prefix): (Ipv4Addr, u8) =
            (a.parse().map_err(|_| bad())?, p.parse().map_err(|_| bad())?);
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let net = Subnet { addr, prefix };
        // Docker takes the range a host address is in.
        Ok(Subnet { addr: Ipv4Addr::from(u32::from(addr) & net.mask()), prefix })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// The persisted record (`networks/<id>/network.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// The Linux bridge (`br-<id[..12]>`, as Docker names them).
    pub bridge: String,
    /// `--internal`: no route out, no NAT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: i64,
}

impl crate::store::Record for NetworkRecord {
    const KIND: &'static str = "network";
    const SCHEMA: u32 = 1;
}

/// A container's link to a user-defined network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkLink {
    /// The network's id.
    pub network: String,
    /// `--network-alias`: more names it answers to there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `--ip`: the address asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// The address it got (once its interface is made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Addr>,
    /// Its interface in the container (`eth0`, `eth1`...).
    pub ifname: String,
}

/// The names Docker keeps for itself.
pub const PREDEFINED: [&str; 4] = ["bridge", "host", "none", "default"];

/// Docker's rule for network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and not a predefined one.
pub fn check_network_name(name: &str) -> Result<()> {
    let ok = name.len() <= 128
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(Error::invalid(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if PREDEFINED.contains(&name) {
        return Err(Error::PermissionDenied(format!(
            "{name} is a pre-defined network and cannot be created"
        )));
    }
    Ok(())
}

/// A DNS name a container answers to (a name or an alias): one or more labels.
pub fn check_alias(alias: &str) -> Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= 253
        && alias.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid network alias {alias:?}")))
    }
}

/// An interface's hardware address (`--mac-address`): six bytes, written
/// `02:42:ac:11:00:02` (`-` between them is read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl FromStr for MacAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("invalid MAC address: {s}"));
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl Serialize for MacAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mac_addresses_are_six_bytes() {
        let m: super::MacAddress = "02:42:AC:11:00:09".parse().unwrap();
        assert_eq!(m.to_string(), "02:42:ac:11:00:09");
        assert_eq!("02-42-ac-11-00-09".parse::<super::MacAddress>().unwrap(), m);
        for bad in
            ["", "02:42:ac:11:00", "02:42:ac:11:00:09:01", "zz:42:ac:11:00:09", "2:42:ac:11:00:09"]
        {
            assert!(bad.parse::<super::MacAddress>().is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn subnets() {
        let s: Subnet = "10.1.2.3/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert_eq!(s.first_host(), Ipv4Addr::new(10, 1, 2, 1));
        assert!(
            s.is_host(Ipv4Addr::new(10, 1, 2, 9))
                && !s.is_host(Ipv4Addr::new(10, 1, 2, 255))
                && !s.is_host(Ipv4Addr::new(10, 1, 3, 1))
        );
        assert!(
            s.overlaps("10.1.0.0/16".parse().unwrap())
                && !s.overlaps("10.1.3.0/24".parse().unwrap())
        );
        let pool: Subnet = "172.30.0.0/16".parse().unwrap();
        assert_eq!(pool.nth(24, 3).unwrap().to_string(), "172.30.3.0/24");
        assert!(pool.nth(24, 256).is_none());
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/31", "x/24", "fd00::/64"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(check_network_name("proj_default").is_ok());
        for bad in ["", "-x", "a b", "bridge", "host"] {
            assert!(check_network_name(bad).is_err(), "{bad}");
        }
        assert!(check_alias("db").is_ok() && check_alias("db.internal").is_ok());
        assert!(check_alias("a..b").is_err() && check_alias("a b").is_err());
    }
}
