//! `berth-shim pin`: a short-lived, single-threaded helper that creates a
//! pod's namespaces and pins them (see `berth_kernel::pin`). berthd runs it
//! rather than unsharing itself: a multi-threaded daemon must not.

use berth_kernel::pin::{create, IdMap, Ns, PinRequest, UserNs};

/// `CONTAINER:HOST:LENGTH`.
fn id_map(s: &str) -> Option<IdMap> {
    let mut it = s.split(':').map(|n| n.parse::<u32>().ok());
    match (it.next()?, it.next()?, it.next()?, it.next()) {
        (Some(container_id), Some(host_id), Some(length), None) => {
            Some(IdMap { container_id, host_id, length })
        }
        _ => None,
    }
}

/// Parses the arguments, pins, prints `ok` or the error; returns the exit code.
pub fn pin(args: &[String]) -> i32 {
    let mut req = PinRequest::default();
    let (mut uids, mut gids) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let val = it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--dir" => req.dir = val.into(),
            "--ns" => {
                for n in val.split(',').filter(|n| !n.is_empty()) {
                    match Ns::parse(n) {
                        Some(ns) => req.namespaces.push(ns),
                        None => return fail(&format!("unknown namespace {n:?}")),
                    }
                }
            }
            "--hostname" => req.hostname = Some(val),
            "--uid-map" | "--gid-map" => match id_map(&val) {
                Some(m) if a == "--uid-map" => uids = Some(m),
                Some(m) => gids = Some(m),
                None => return fail(&format!("bad id map {val:?}: CONTAINER:HOST:LENGTH")),
            },
            "--sysctl" => match val.split_once('=') {
                Some((k, v)) => req.sysctls.push((k.to_owned(), v.to_owned())),
                None => return fail(&format!("bad sysctl {val:?}")),
            },
            other => return fail(&format!("unknown argument {other:?}")),
        }
    }
    if req.dir.as_os_str().is_empty() {
        return fail("--dir is required");
    }
    req.userns = match (uids, gids) {
        (Some(uids), Some(gids)) => Some(UserNs { uids, gids }),
        (None, None) => None,
        _ => return fail("--uid-map and --gid-map go together"),
    };
    match create(&req) {
        Ok(p) => {
            match p.init_pid {
                Some(pid) => println!("ok {pid}"),
                None => println!("ok"),
            }
            0
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(msg: &str) -> i32 {
    println!("error: {msg}");
    1
}
