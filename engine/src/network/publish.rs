//! Published ports of Docker containers (`-p`, `-P`), as dockerd programs
//! them: nat rules of berth's own, not the portmap plugin's. portmap runs
//! `iptables` some twenty times per ADD and more per DEL (~40 ms to publish,
//! ~100 ms to take back on this kind of node); here a start writes all of a
//! sandbox's rules in one `iptables-restore --noflush` transaction, and an
//! exit lists the table once and deletes them in another. (Pods' `hostPort`s
//! stay with the node's CNI config and its portmap, as kubelet expects.)
//!
//! Every rule carries the comment `berth-ports <sandbox id>`, so what a
//! sandbox published is found from the kernel's table alone: after a
//! daemon crash, for a sandbox never recorded (its cached CNI attachment
//! leads the start-up sweep here), and several daemons on one node never
//! touch each other's. Per mapping, in the nat table:
//!
//! - `BERTH-PORTS` (jumped to from PREROUTING and OUTPUT for local
//!   destinations): `[-d <host ip>] -p <proto> --dport <host port> -j DNAT
//!   --to-destination <container ip>:<port>`, so the port answers on every
//!   local address (127.0.0.1 too: the bridge gets `route_localnet`) from
//!   the node, from other networks (isolation lets DNAT'd traffic pass) and
//!   from beyond.
//! - POSTROUTING: traffic to the container's port from its own bridge's
//!   range (hairpin: itself and its neighbours, through a node address) or
//!   from the node's loopback is masqueraded, so the reply comes back the
//!   way it went.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};

/// The chain every local destination goes through.
pub(crate) const CHAIN: &str = "BERTH-PORTS";

/// One host port forwarded to a container's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The host address it is bound to; None: every address of the node.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub to: Ipv4Addr,
    pub port: u16,
}

fn comment(sandbox: &str) -> String {
    format!("berth-ports {sandbox}")
}

/// The `-A` lines of a sandbox's forwards (`subnet`: its bridge's range).
fn rules(sandbox: &str, subnet: &str, forwards: &[Forward]) -> Vec<String> {
    let c = comment(sandbox);
    let mut out = Vec::new();
    let mut masq = Vec::new();
    for f in forwards {
        let dst = f.host_ip.map(|ip| format!(" -d {ip}/32")).unwrap_or_default();
        out.push(format!("-A {CHAIN}{dst} -p {p} -m {p} --dport {} -m comment --comment \"{c}\" -j DNAT --to-destination {}:{}", f.host_port, f.to, f.port, p = f.protocol));
        for from in [subnet, "127.0.0.0/8"] {
            let r = format!("-A POSTROUTING -s {from} -d {}/32 -p {p} -m {p} --dport {} -m comment --comment \"{c}\" -j MASQUERADE", f.to, f.port, p = f.protocol);
            if !masq.contains(&r) {
                masq.push(r);
            }
        }
    }
    out.extend(masq);
    out
}

/// Runs one `iptables-restore --noflush` transaction on the nat table.
fn restore(lines: &[String]) -> std::io::Result<()> {
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = String::from("*nat\n");
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    input.push_str("COMMIT\n");
    child.stdin.take().expect("piped").write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "iptables-restore: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Serializes [`setup`] among the node's berthds (tests run several).
const SETUP_LOCK: &str = "/run/berth-ports.lock";

/// Makes `BERTH-PORTS` and one jump to it from each of PREROUTING and
/// OUTPUT, once per node (idempotent, and one jump each however many
/// berthds start at once; left in place when berthd stops, as CNI's own
/// chains are).
pub(crate) fn setup() {
    let ipt = |args: &[&str]| super::iptables(&[&["-t", "nat"][..], args].concat());
    // Held until the end: check and append are two runs of iptables.
    // 0600: a lock others could take would hold berthd's start-up.
    let _lock = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .truncate(false)
        .write(true)
        .open(SETUP_LOCK)
        .ok()
        .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
    let _ = ipt(&["-N", CHAIN]);
    for from in ["PREROUTING", "OUTPUT"] {
        let jump = [from, "-m", "addrtype", "--dst-type", "LOCAL", "-j", CHAIN];
        let listed = format!("-A {}", jump.join(" "));
        let out = Command::new("iptables")
            .args(["-w", "-t", "nat", "-S", from])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        let copies = out
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().filter(|l| *l == listed).count())
            .unwrap_or(0);
        for _ in 1..copies {
            ipt(&[&["-D"][..], &jump].concat());
        }
        if copies == 0 && !ipt(&[&["-A"][..], &jump].concat()) {
            tracing::warn!("iptables: the chain of published ports could not be set up; published ports won't answer");
            return;
        }
    }
}

/// Publishes a sandbox's forwards on `bridge` (range `subnet`): all or none.
pub(crate) fn publish(
    sandbox: &str,
    bridge: &str,
    subnet: &str,
    forwards: &[Forward],
) -> std::io::Result<()> {
    if forwards.is_empty() {
        return Ok(());
    }
    // DNAT'd loopback traffic leaves through the bridge only with this.
    let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    if std::fs::read(&localnet).map(|v| v.first() != Some(&b'1')).unwrap_or(true) {
        std::fs::write(&localnet, b"1")?;
    }
    restore(&rules(sandbox, subnet, forwards))
}

/// Takes back whatever the sandbox published (nothing: nothing to do).
pub(crate) fn unpublish(sandbox: &str) -> std::io::Result<()> {
    let out = Command::new("iptables")
        .args(["-w", "-t", "nat", "-S"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let mark = format!("--comment \"{}\"", comment(sandbox));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&mark))
        .filter_map(|l| l.strip_prefix("-A "))
        .map(|r| format!("-D {r}"))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    restore(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_is_one_dnat_and_its_masquerades() {
        let f = |host_ip, host_port| Forward {
            protocol: "tcp",
            host_ip,
            host_port,
            to: Ipv4Addr::new(10, 1, 0, 2),
            port: 80,
        };
        let r = rules("abc", "10.1.0.0/24", &[f(Some(Ipv4Addr::LOCALHOST), 8080), f(None, 8081)]);
        assert_eq!(r.len(), 4, "{r:#?}");
        assert_eq!(r[0], "-A BERTH-PORTS -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -m comment --comment \"berth-ports abc\" -j DNAT --to-destination 10.1.0.2:80");
        assert!(r[1].starts_with("-A BERTH-PORTS -p tcp -m tcp --dport 8081 "));
        assert_eq!(r[2], "-A POSTROUTING -s 10.1.0.0/24 -d 10.1.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment \"berth-ports abc\" -j MASQUERADE");
        assert!(r[3].starts_with("-A POSTROUTING -s 127.0.0.0/8 "));
    }
}
