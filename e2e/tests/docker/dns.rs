//! The embedded DNS of a user-defined network as Docker's 127.0.0.11
//! answers: over UDP and TCP; a container's `--dns` servers are its
//! upstreams (the embedded DNS stays its nameserver, so names on the
//! network still resolve), `--dns-search` and `--dns-option` apply.
//! The upstream here is the test's own resolver on 127.0.0.2:53, which
//! answers every name with 192.0.2.7: no query leaves the node.

use berth_e2e::Daemon;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A standard A query for `name`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        p.push(l.len() as u8);
        p.extend_from_slice(l.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    p
}

/// The A records of an answer.
fn addresses(reply: &[u8]) -> Vec<Ipv4Addr> {
    let count = u16::from_be_bytes([reply[6], reply[7]]) as usize;
    // One question; each answer a name pointer, then 10 bytes, then 4 of address.
    let mut i = 12;
    while reply[i] != 0 {
        i += 1 + reply[i] as usize;
    }
    i += 5;
    (0..count)
        .map(|n| i + n * 16 + 12)
        .map(|at| Ipv4Addr::new(reply[at], reply[at + 1], reply[at + 2], reply[at + 3]))
        .collect()
}

/// The answer to a query: A 192.0.2.7 for the question asked.
fn fake_answer(q: &[u8]) -> Vec<u8> {
    let mut a = q.to_vec();
    a[2] = 0x81;
    a[3] = 0x80;
    a[6..8].copy_from_slice(&1u16.to_be_bytes());
    a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
    a
}

/// The test's resolver on 127.0.0.2:53, UDP and TCP; how many it answered on each.
struct Upstream {
    udp: Arc<AtomicUsize>,
    tcp: Arc<AtomicUsize>,
}

fn upstream() -> Upstream {
    let udp_sock =
        UdpSocket::bind("127.0.0.2:53").expect("127.0.0.2:53 is free for the test's resolver");
    let tcp_sock = TcpListener::bind("127.0.0.2:53").expect("127.0.0.2:53/tcp is free");
    let (udp, tcp) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let n = udp.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((len, peer)) = udp_sock.recv_from(&mut buf) {
            n.fetch_add(1, Ordering::SeqCst);
            let _ = udp_sock.send_to(&fake_answer(&buf[..len]), peer);
        }
    });
    let n = tcp.clone();
    std::thread::spawn(move || {
        for mut conn in tcp_sock.incoming().flatten() {
            let mut len = [0u8; 2];
            if conn.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
            if conn.read_exact(&mut q).is_ok() {
                n.fetch_add(1, Ordering::SeqCst);
                let a = fake_answer(&q);
                let _ = conn.write_all(&[&(a.len() as u16).to_be_bytes()[..], &a].concat());
            }
        }
    });
    Upstream { udp, tcp }
}

/// `bytes` as a printf(1) format that writes them.
fn printf_octal(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:03o}")).collect()
}

#[test]
fn the_embedded_dns_answers_over_tcp_and_forwards_to_the_containers_dns() {
    let d = Daemon::start();
    let up = upstream();
    d.docker(&["network", "create", "dnsnet"]).ok();
    let gateway = d
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            "dnsnet",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    d.docker(&["run", "-d", "--name", "db", "--network", "dnsnet", "busybox", "sleep", "1000"])
        .ok();
    let db: Ipv4Addr = d
        .docker(&["inspect", "-f", "{{.NetworkSettings.Networks.dnsnet.IPAddress}}", "db"])
        .ok()
        .stdout
        .trim()
        .parse()
        .unwrap();

    // TCP, from the node: a name on the network, two queries on one connection.
    let mut conn = std::net::TcpStream::connect_timeout(
        &format!("{gateway}:53").parse().unwrap(),
        Duration::from_secs(5),
    )
    .expect("the embedded DNS listens on TCP");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for id in [7u16, 8] {
        let q = query(id, "db");
        conn.write_all(&[&(q.len() as u16).to_be_bytes()[..], &q].concat()).unwrap();
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).unwrap();
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        conn.read_exact(&mut reply).unwrap();
        assert_eq!(u16::from_be_bytes([reply[0], reply[1]]), id);
        assert_eq!(addresses(&reply), [db]);
    }
    drop(conn);

    // --dns on the network: the embedded DNS stays the nameserver, the servers its upstreams.
    let own = [
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--dns",
        "127.0.0.2",
        "--dns-search",
        "corp.example",
        "--dns-option",
        "ndots:2",
        "busybox",
    ];
    let resolv = d.docker(&[&own[..], &["cat", "/etc/resolv.conf"]].concat()).ok().stdout;
    assert!(
        resolv.contains(&format!("nameserver {gateway}")) && !resolv.contains("127.0.0.2"),
        "{resolv}"
    );
    assert!(
        resolv.contains("search corp.example") && resolv.contains("options ndots:2"),
        "{resolv}"
    );
    let outside = d.docker(&[&own[..], &["nslookup", "outside.example"]].concat()).ok().stdout;
    assert!(outside.contains("192.0.2.7"), "forwarded to the container's --dns server: {outside}");
    assert!(up.udp.load(Ordering::SeqCst) >= 1);
    let inside = d.docker(&[&own[..], &["nslookup", "db"]].concat()).ok().stdout;
    assert!(inside.contains(&db.to_string()), "a name on the network still: {inside}");
    // Its search domain: `db.corp.example` is `db`.
    let searched = d.docker(&[&own[..], &["nslookup", "db.corp.example"]].concat()).ok().stdout;
    assert!(searched.contains(&db.to_string()), "{searched}");

    // TCP from a container with --dns: forwarded over TCP.
    let q = printf_octal(
        &[&(query(9, "tcp.example").len() as u16).to_be_bytes()[..], &query(9, "tcp.example")]
            .concat(),
    );
    let script = format!("printf '{q}' | nc -w 3 {gateway} 53 | od -An -tu1");
    let od = d
        .docker(&[&own[..4], &["--dns", "127.0.0.2", "busybox", "sh", "-c", &script]].concat())
        .ok()
        .stdout;
    let bytes: Vec<u8> = od.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert!(bytes.len() > 2, "an answer over TCP: {od}");
    assert_eq!(addresses(&bytes[2..]), [Ipv4Addr::new(192, 0, 2, 7)], "{od}");
    assert!(up.tcp.load(Ordering::SeqCst) >= 1, "the upstream was asked over TCP");

    // Without --dns a name of the network's kind nobody has is NXDOMAIN, never forwarded.
    let before = up.udp.load(Ordering::SeqCst);
    let gone = d.docker(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--dns",
        "127.0.0.2",
        "busybox",
        "nslookup",
        "nobody",
    ]);
    assert!(gone.code != 0, "{gone:?}");
    assert_eq!(up.udp.load(Ordering::SeqCst), before, "a single-label name is not forwarded");
    d.docker(&["rm", "-f", "db"]).ok();
    d.docker(&["network", "rm", "dnsnet"]).ok();
}
