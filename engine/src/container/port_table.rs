//! The part that owns which container holds which host port (`-p`, `-P`).
//! A take is all or none, under one lock, so two starts can't take the
//! same port; a port some other program of the node listens on is refused
//! too: it is bound for a moment first, as Docker's proxy would (the
//! probe is the seam the tests replace).

use crate::error::{Error, Result};
use crate::model::ports::{HostPorts, PortRequest, Protocol, PublishedPort};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Mutex;

/// Whether the node lets us have the socket now.
pub(crate) type Probe = fn(&PublishedPort) -> std::io::Result<()>;

pub(crate) struct Ports {
    table: Mutex<Table>,
    probe: Probe,
    /// The node's ephemeral ports (where Docker picks `-P`'s from too).
    ephemeral: (u16, u16),
}

#[derive(Default)]
struct Table {
    held: Vec<(PublishedPort, String)>,
    /// Where the next search for a free ephemeral port begins.
    cursor: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self::new(bind_probe, ephemeral_range())
    }
}

impl Ports {
    pub(crate) fn new(probe: Probe, ephemeral: (u16, u16)) -> Self {
        // Not where another daemon of the node (a test's) starts.
        let table = Table { held: Vec::new(), cursor: rand::random() };
        Self { table: Mutex::new(table), probe, ephemeral }
    }

    /// A host port for each request, held in `id`'s name; all or none.
    /// `pods`: ports held outside this table (the CRI's port mappings).
    pub(crate) fn take(
        &self,
        id: &str,
        name: &str,
        wanted: &[PortRequest],
        pods: &[PublishedPort],
    ) -> Result<Vec<PublishedPort>> {
        let mut table = self.table.lock().unwrap();
        let mut taken = Vec::new();
        for r in wanted {
            match self.take_one(&mut table, pods, id, name, r) {
                Ok(p) => {
                    table.held.push((p, id.to_owned()));
                    taken.push(p);
                }
                Err(e) => {
                    table.held.retain(|(_, holder)| holder != id);
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    /// Gives back what a container held (exited, removed, or its start undone).
    pub(crate) fn release(&self, id: &str) {
        self.table.lock().unwrap().held.retain(|(_, holder)| holder != id);
    }

    /// Start-up: ports a recorded container holds.
    pub(crate) fn hold(&self, id: &str, ports: &[PublishedPort]) {
        self.table.lock().unwrap().held.extend(ports.iter().map(|p| (*p, id.to_owned())));
    }

    fn take_one(
        &self,
        table: &mut Table,
        pods: &[PublishedPort],
        id: &str,
        name: &str,
        r: &PortRequest,
    ) -> Result<PublishedPort> {
        let host_ip = r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let endpoint =
            format!("driver failed programming external connectivity on endpoint {name} ({id})");
        let at = |port| PublishedPort { container: r.container, host_ip, host_port: port };
        let clash = |table: &Table, p: &PublishedPort| {
            table.held.iter().map(|(h, _)| h).chain(pods).any(|h| h.clashes(p))
        };
        let free = |table: &Table, p: &PublishedPort| !clash(table, p) && (self.probe)(p).is_ok();
        match r.host_ports {
            HostPorts::Range { first, last } if first == last => {
                let p = at(first);
                if clash(table, &p) {
                    return Err(Error::AlreadyExists(format!(
                        "{endpoint}: Bind for {host_ip}:{first} failed: port is already allocated"
                    )));
                }
                (self.probe)(&p).map_err(|e| {
                    Error::AlreadyExists(format!(
                        "{endpoint}: Error starting userland proxy: listen {}4 {host_ip}:{first}: bind: {}",
                        r.container.protocol.as_str(),
                        bind_error(&e)
                    ))
                })?;
                Ok(p)
            }
            HostPorts::Range { first, last } => {
                (first..=last).map(at).find(|p| free(table, p)).ok_or_else(|| {
                    Error::AlreadyExists(format!(
                        "{endpoint}: Bind for {host_ip}:{first}-{last} failed: port is already allocated"
                    ))
                })
            }
            HostPorts::Any => {
                let (lo, hi) = self.ephemeral;
                let span = u32::from(hi - lo) + 1;
                let start = u32::from(table.cursor.wrapping_sub(lo)) % span;
                let mut candidates = (0..span).map(|i| at(lo + ((start + i) % span) as u16));
                let p = candidates.find(|p| free(table, p)).ok_or_else(|| {
                    Error::AlreadyExists(format!(
                        "{endpoint}: no free host port for {}: all ports are allocated",
                        r.container
                    ))
                })?;
                table.cursor = p.host_port.wrapping_add(1);
                Ok(p)
            }
        }
    }
}

/// Binds the socket for a moment: nothing else of the node listens on it.
fn bind_probe(p: &PublishedPort) -> std::io::Result<()> {
    let addr = SocketAddrV4::new(p.host_ip, p.host_port);
    match p.container.protocol {
        Protocol::Tcp => std::net::TcpListener::bind(addr).map(drop),
        Protocol::Udp => std::net::UdpSocket::bind(addr).map(drop),
    }
}

/// The node's ephemeral port range.
fn ephemeral_range() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text.split_whitespace().filter_map(|w| w.parse::<u16>().ok());
    match (it.next(), it.next()) {
        (Some(a), Some(b)) if a > 0 && a <= b => (a, b),
        _ => (32768, 60999),
    }
}

/// The words Go prints for the errors a bind gets.
fn bind_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node's port 7001 is someone else's; the rest are free.
    fn node(p: &PublishedPort) -> std::io::Result<()> {
        if p.host_port == 7001 {
            return Err(std::io::Error::from_raw_os_error(libc::EADDRINUSE));
        }
        Ok(())
    }

    fn ports() -> Ports {
        Ports::new(node, (7000, 7003))
    }

    fn req(spec: &str) -> PortRequest {
        let (host, container) = spec.split_once(':').unwrap_or(("", spec));
        let host_ports = match host.split_once('-') {
            _ if host.is_empty() => HostPorts::Any,
            Some((a, b)) => {
                HostPorts::Range { first: a.parse().unwrap(), last: b.parse().unwrap() }
            }
            None => HostPorts::Range { first: host.parse().unwrap(), last: host.parse().unwrap() },
        };
        PortRequest { container: container.parse().unwrap(), host_ip: None, host_ports }
    }

    fn hosts(taken: &[PublishedPort]) -> Vec<u16> {
        taken.iter().map(|p| p.host_port).collect()
    }

    #[test]
    fn a_held_port_is_refused_as_dockerd_refuses_it() {
        let t = ports();
        assert_eq!(hosts(&t.take("a", "web", &[req("8080:80/tcp")], &[]).unwrap()), [8080]);
        let e = t.take("b", "db", &[req("8080:81/tcp")], &[]).unwrap_err().to_string();
        assert!(e.contains("endpoint db (b)") && e.contains("port is already allocated"), "{e}");
        // Another protocol is another socket.
        assert!(t.take("b", "db", &[req("8080:81/udp")], &[]).is_ok());
        // Given back at the exit, it can be taken again.
        t.release("a");
        assert!(t.take("c", "x", &[req("8080:80/tcp")], &[]).is_ok());
    }

    #[test]
    fn a_port_another_program_listens_on_is_refused_with_go_s_words() {
        let e = ports().take("a", "web", &[req("7001:80/tcp")], &[]).unwrap_err().to_string();
        assert!(e.ends_with("listen tcp4 0.0.0.0:7001: bind: address already in use"), "{e}");
    }

    #[test]
    fn a_take_is_all_or_none() {
        let t = ports();
        t.hold("other", &t.take("other", "o", &[req("9000:90/tcp")], &[]).unwrap());
        let e = t.take("a", "web", &[req("8080:80/tcp"), req("9000:91/tcp")], &[]);
        assert!(e.is_err());
        // Its first port was given back with the failure.
        assert!(t.take("b", "db", &[req("8080:80/tcp")], &[]).is_ok());
    }

    #[test]
    fn pods_ports_count_as_held() {
        let pod = t_port(8443);
        let e = ports().take("a", "web", &[req("8443:443/tcp")], &[pod]).unwrap_err();
        assert!(e.to_string().contains("port is already allocated"));
    }

    fn t_port(host: u16) -> PublishedPort {
        PublishedPort {
            container: "443/tcp".parse().unwrap(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: host,
        }
    }

    #[test]
    fn any_port_and_ranges_skip_held_and_busy_ones_until_none_is_left() {
        let t = ports();
        // 7001 is the node's: a range skips it.
        assert_eq!(hosts(&t.take("r", "r", &[req("7001-7002:80/tcp")], &[]).unwrap()), [7002]);
        let mut got = Vec::new();
        for id in ["a", "b"] {
            got.extend(hosts(&t.take(id, id, &[req("80/tcp")], &[]).unwrap()));
        }
        got.sort();
        assert_eq!(got, [7000, 7003], "the free ones of 7000-7003");
        let e = t.take("c", "c", &[req("80/tcp")], &[]).unwrap_err().to_string();
        assert!(e.contains("all ports are allocated"), "{e}");
    }
}
