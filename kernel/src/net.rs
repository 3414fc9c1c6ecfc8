//! The little networking a container's init does itself: bringing up `lo`
//! in a fresh network namespace (pod networks come from CNI), and reaching
//! into a pod's namespace for port forwarding and counters.
#![allow(unsafe_code)]

use std::io;

/// Sets IFF_UP on the loopback interface of the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked and closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: `sock` is an open socket and `req` a properly initialised ifreq
    // that outlives both ioctls; SIOCGIFFLAGS/SIOCSIFFLAGS read and write ifru_flags.
    let res = unsafe {
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: `sock` is ours and closed exactly once.
    unsafe { libc::close(sock) };
    res
}

/// The kernel's `SIOCBRDELBR` (linux/sockios.h; not in libc).
const SIOCBRDELBR: libc::c_ulong = 0x89a1;

/// Takes a Linux bridge down and deletes it (`ip link del`); a bridge that
/// is not there is fine. The bridge plugin makes a network's bridge; this
/// is its undo when the network goes.
pub fn delete_bridge(name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    if !std::path::Path::new("/sys/class/net").join(name).join("bridge").exists() {
        return Ok(());
    }
    // SAFETY: plain socket(2); the result is checked and closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    let cname =
        std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `sock` is an open socket; `req` is an initialised ifreq (NUL-
    // terminated name, zeroed past it) that outlives the flag ioctls, which
    // read and write ifru_flags; SIOCBRDELBR reads the NUL-terminated name
    // `cname` points to, alive until the end of this block.
    let res = unsafe {
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags &= !(libc::IFF_UP as libc::c_short);
            if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0
                || libc::ioctl(sock, SIOCBRDELBR, cname.as_ptr()) < 0
            {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: `sock` is ours and closed exactly once.
    unsafe { libc::close(sock) };
    match res {
        Err(e)
            if e.raw_os_error() == Some(libc::ENXIO) || e.raw_os_error() == Some(libc::ENODEV) =>
        {
            Ok(())
        }
        r => r,
    }
}

/// Runs `f` in the network namespace pinned at `netns`, on a thread of its
/// own: `setns` changes only the calling thread, and this one ends right
/// after, so no thread of berthd's pools is ever left in a pod's namespace.
/// Sockets made there stay in that namespace.
pub fn in_netns<T: Send + 'static>(
    netns: &std::path::Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = std::fs::File::open(netns)?;
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            drop(ns);
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("network namespace thread panicked"))?
}

/// Connects to `port` on the current namespace's loopback, IPv4 first,
/// then IPv6 (what `localhost` means in a pod).
pub fn connect_loopback(
    port: u16,
    timeout: std::time::Duration,
) -> io::Result<std::net::TcpStream> {
    let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    match std::net::TcpStream::connect_timeout(&v4, timeout) {
        Ok(s) => Ok(s),
        Err(e4) => std::net::TcpStream::connect_timeout(&v6, timeout).map_err(|_| e4),
    }
}

/// One interface's counters (`/proc/net/dev`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
}

/// The counters of every interface but `lo`, from `/proc/net/dev` text.
pub fn parse_net_dev(text: &str) -> Vec<InterfaceCounters> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let f: Vec<u64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
            let name = name.trim();
            (name != "lo" && f.len() >= 16).then(|| InterfaceCounters {
                name: name.to_owned(),
                rx_bytes: f[0],
                rx_errors: f[2],
                tx_bytes: f[8],
                tx_errors: f[10],
            })
        })
        .collect()
}

/// The interface counters of the network namespace pinned at `netns`.
pub fn counters_in(netns: &std::path::Path) -> io::Result<Vec<InterfaceCounters>> {
    // /proc/thread-self/net is the calling thread's namespace.
    in_netns(netns, || {
        std::fs::read_to_string("/proc/thread-self/net/dev").map(|t| parse_net_dev(&t))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn net_dev_counters() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    5000      40    2    0    0     0          0         0     7000      50    3    0    0     0       0          0\n";
        assert_eq!(
            super::parse_net_dev(text),
            vec![super::InterfaceCounters {
                name: "eth0".into(),
                rx_bytes: 5000,
                rx_errors: 2,
                tx_bytes: 7000,
                tx_errors: 3
            }]
        );
    }
}
