//! The embedded DNS of a user-defined network (Docker's 127.0.0.11, here on
//! the network's gateway, port 53, UDP and TCP: `dns_serve`): containers find each other by
//! name, alias and short id. Answers come from the engine's records at the
//! moment of the query, so they follow starts, stops, connects and
//! removals with nothing to keep in step.
//!
//! A single-label name (or one under the node's search domains) that no
//! container on the network has is NXDOMAIN at once, never forwarded: such
//! a name is never a public one. Other names go to the asker's `--dns`
//! servers, or the node's resolvers (berthd runs in the node's namespace,
//! so 127.0.0.53 works too), except on an `--internal` network, which is
//! REFUSED. The asker is known by its address on the network.

use crate::Engine;
use std::net::{Ipv4Addr, SocketAddr};

const TTL: u32 = 600;
pub(super) const TYPE_A: u16 = 1;
pub(super) const CLASS_IN: u16 = 1;
pub(super) const NOERROR: u8 = 0;
pub(super) const SERVFAIL: u8 = 2;
pub(super) const NXDOMAIN: u8 = 3;
pub(super) const NOTIMP: u8 = 4;
pub(super) const REFUSED: u8 = 5;

/// One query's question.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Question {
    pub id: u16,
    /// Lowercase, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub(super) flags: u16,
    /// Where the question ends in the packet.
    end: usize,
}

/// The question of a standard query; `None` for anything else or a bad packet.
pub(crate) fn parse(p: &[u8]) -> Option<Question> {
    if p.len() < 12 || p[2] & 0x80 != 0 || u16::from_be_bytes([p[4], p[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*p.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        // No compression in a question; labels of at most 63.
        if len > 63 {
            return None;
        }
        labels.push(std::str::from_utf8(p.get(i..i + len)?).ok()?.to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*p.get(i)?, *p.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*p.get(i + 2)?, *p.get(i + 3)?]);
    Some(Question {
        id: u16::from_be_bytes([p[0], p[1]]),
        name: labels.join("."),
        qtype,
        qclass,
        flags: u16::from_be_bytes([p[2], p[3]]),
        end: i + 4,
    })
}

/// The answer to `q` (asked in `query`): `rcode`, and A records for `addrs`.
pub(crate) fn answer(query: &[u8], q: &Question, rcode: u8, addrs: &[Ipv4Addr]) -> Vec<u8> {
    let opcode_rd = q.flags & 0x7900;
    let flags = 0x8000 | opcode_rd | 0x0400 | 0x0080 | u16::from(rcode);
    let mut out = Vec::with_capacity(q.end + addrs.len() * 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for a in addrs {
        // The name: a pointer to the question's.
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&a.octets());
    }
    out
}

/// An error answer for a packet we could only read the id of.
pub(super) fn refuse(query: &[u8], rcode: u8) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut out = query[..12].to_vec();
    out[2] = 0x80 | (query[2] & 0x79);
    out[3] = 0x80 | rcode;
    out[4..12].fill(0);
    Some(out)
}

/// What the node's resolv.conf says: its nameservers, search domains and options.
#[derive(Debug, Default)]
pub(crate) struct NodeResolver {
    pub servers: Vec<SocketAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The node's resolv.conf as last read, and what it was then (inode, size,
/// mtime): read again only when it changes.
type Cached = Option<((u64, u64, i64, i64), std::sync::Arc<NodeResolver>)>;
static NODE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);

impl NodeResolver {
    fn read() -> Self {
        Self::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
    }

    /// The node's resolvers now (a `stat` per call, a read when it changed).
    pub(crate) fn current() -> std::sync::Arc<Self> {
        use std::os::unix::fs::MetadataExt;
        let seen = std::fs::metadata("/etc/resolv.conf")
            .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
            .unwrap_or_default();
        let mut cache = NODE.lock().unwrap();
        match &*cache {
            Some((at, r)) if *at == seen => r.clone(),
            _ => {
                let r = std::sync::Arc::new(Self::read());
                *cache = Some((seen, r.clone()));
                r
            }
        }
    }

    fn parse(text: &str) -> Self {
        let mut r = Self::default();
        for l in text.lines() {
            let mut w = l.split_whitespace();
            match w.next() {
                Some("nameserver") => r.servers.extend(
                    w.next()
                        .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                        .map(|ip| SocketAddr::new(ip, 53)),
                ),
                Some("search" | "domain") => {
                    r.search = w.map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect()
                }
                Some("options") => r.options.extend(w.map(str::to_owned)),
                _ => {}
            }
        }
        r
    }
}

/// What the network knows of a name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Its containers' addresses there.
    Found(Vec<Ipv4Addr>),
    /// A name of the network's kind that nobody has: NXDOMAIN.
    Local,
    /// A name for the node's resolvers.
    Elsewhere,
}

/// Which of `names` (container name, aliases, short id → address) `name` is.
pub(crate) fn lookup(entries: &[(Vec<String>, Ipv4Addr)], search: &[String], name: &str) -> Lookup {
    let find = |n: &str| {
        entries
            .iter()
            .filter(|(names, _)| names.iter().any(|x| x.eq_ignore_ascii_case(n)))
            .map(|(_, a)| *a)
            .collect::<Vec<_>>()
    };
    let found = find(name);
    if !found.is_empty() {
        return Lookup::Found(found);
    }
    // `web.<search domain>`: the resolver's expansion of `web`.
    let short = search
        .iter()
        .find_map(|d| name.strip_suffix(d.as_str()).and_then(|n| n.strip_suffix('.')))
        .filter(|n| !n.is_empty());
    if let Some(short) = short {
        let found = find(short);
        if !found.is_empty() {
            return Lookup::Found(found);
        }
        if !short.contains('.') {
            return Lookup::Local;
        }
    }
    if !name.contains('.') {
        Lookup::Local
    } else {
        Lookup::Elsewhere
    }
}

/// Where a forwarded question goes: the asker's own `--dns` servers (as
/// Docker's embedded DNS takes them for its upstreams), else the node's.
pub(crate) type Upstreams = Vec<SocketAddr>;

impl Engine {
    /// The answer to `name` for the container at `peer` on the network:
    /// the running containers' names, aliases and short ids on this network,
    /// then on the asker's other networks (as Docker's DNS answers a
    /// container connected to several); and where to ask if none has it.
    pub(crate) fn dns_lookup(
        &self,
        network: &str,
        peer: Ipv4Addr,
        name: &str,
    ) -> (Lookup, Upstreams) {
        let all: Vec<crate::ContainerRecord> =
            self.inner.containers.all().iter().map(|e| e.record()).collect();
        // The asker by its address (held only while its sandbox is: its
        // first query may come before its start is recorded).
        let asker = all.iter().find(|r| {
            r.config.network.links().iter().any(|l| l.network == network && l.address == Some(peer))
        });
        let running: Vec<&crate::ContainerRecord> =
            all.iter().filter(|r| r.state.status == crate::Status::Running).collect();
        let mut nets = vec![network.to_owned()];
        if let Some(asker) = asker {
            nets.extend(
                asker
                    .config
                    .network
                    .links()
                    .iter()
                    .map(|l| l.network.clone())
                    .filter(|n| n != network),
            );
        }
        let node = NodeResolver::current();
        let own = asker.map(|a| &a.config.dns);
        let search = match own {
            Some(d) if !d.search.is_empty() => {
                d.search.iter().map(|s| s.trim_end_matches('.').to_ascii_lowercase()).collect()
            }
            _ => node.search.clone(),
        };
        let upstreams = match own {
            Some(d) if !d.servers.is_empty() => {
                d.servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect()
            }
            _ => node.servers.clone(),
        };
        let mut answer = Lookup::Elsewhere;
        for net in &nets {
            let entries: Vec<(Vec<String>, Ipv4Addr)> = running
                .iter()
                .filter_map(|r| {
                    let link = r.config.network.links().iter().find(|l| &l.network == net)?.clone();
                    let mut names = vec![r.name.clone(), r.id[..12].to_owned()];
                    names.extend(link.aliases);
                    Some((names, link.address?))
                })
                .collect();
            answer = lookup(&entries, &search, name);
            if matches!(answer, Lookup::Found(_)) {
                break;
            }
        }
        (answer, upstreams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            p.push(l.len() as u8);
            p.extend_from_slice(l.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        p
    }

    #[test]
    fn answers_a_queries_with_the_question_and_records() {
        let p = query("Web", TYPE_A);
        let q = parse(&p).unwrap();
        assert_eq!((q.id, q.name.as_str(), q.qtype), (0x1234, "web", TYPE_A));
        let a = answer(&p, &q, NOERROR, &[Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(&a[..4], &[0x12, 0x34, 0x85, 0x80], "response, authoritative, RD and RA");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[12..p.len()], &p[12..]);
        assert_eq!(&a[a.len() - 4..], &[10, 0, 0, 2]);
        assert_eq!(answer(&p, &q, NXDOMAIN, &[])[3] & 0x0f, NXDOMAIN);
        for bad in [
            &p[..11],
            &p[..p.len() - 1],
            &[0x12, 0x34, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1][..],
        ] {
            assert!(parse(bad).is_none());
        }
    }

    #[test]
    fn names_of_the_network_are_never_forwarded() {
        let entries = vec![
            (vec!["web".to_string(), "db-alias".into()], Ipv4Addr::new(10, 0, 0, 2)),
            (vec!["web".to_string()], Ipv4Addr::new(10, 0, 0, 3)),
        ];
        let search = vec!["corp.example".to_string()];
        assert_eq!(
            lookup(&entries, &search, "web"),
            Lookup::Found(vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)])
        );
        assert_eq!(
            lookup(&entries, &search, "db-alias.corp.example"),
            Lookup::Found(vec![Ipv4Addr::new(10, 0, 0, 2)])
        );
        assert_eq!(lookup(&entries, &search, "gone"), Lookup::Local);
        assert_eq!(lookup(&entries, &search, "gone.corp.example"), Lookup::Local);
        assert_eq!(lookup(&entries, &search, "example.org"), Lookup::Elsewhere);
    }
}
