//! Pod sysctls: only namespaced keys, and nothing that could smuggle a
//! second key in (CRI-O CVE-2022-0811: `1+kernel.core_pattern=|/x`).

use crate::error::{Error, Result};

/// Keys namespaced by IPC.
const IPC_PREFIXES: [&str; 5] =
    ["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.", "kernel.shm_rmid_forced"];

/// Checks (and normalizes `a/b/c` to `a.b.c`) a pod's sysctls.
pub fn check(
    sysctls: &[(String, String)],
    host_network: bool,
    host_ipc: bool,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in sysctls {
        let key = k.replace('/', ".");
        let key_ok = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !key.split('.').any(|c| c.is_empty() || c == "..");
        if !key_ok {
            return Err(Error::invalid_field("sysctls", format!("invalid sysctl key {k:?}")));
        }
        if v.is_empty() || v.bytes().any(|b| matches!(b, b'+' | b'=' | b'\n' | b'\r' | 0)) {
            return Err(Error::invalid_field(
                "sysctls",
                format!("invalid value {v:?} for sysctl {k}"),
            ));
        }
        let net = key.starts_with("net.");
        let ipc = IPC_PREFIXES.iter().any(|p| key.starts_with(p));
        if !net && !ipc {
            return Err(Error::invalid_field(
                "sysctls",
                format!("sysctl {k} is not namespaced and can't be set for a pod"),
            ));
        }
        if net && host_network {
            return Err(Error::invalid_field(
                "sysctls",
                format!("sysctl {k} can't be set for a pod on the host network"),
            ));
        }
        if ipc && host_ipc {
            return Err(Error::invalid_field(
                "sysctls",
                format!("sysctl {k} can't be set for a pod in the host IPC namespace"),
            ));
        }
        out.push((key, v.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> Result<Vec<(String, String)>> {
        check(&[(k.into(), v.into())], false, false)
    }

    #[test]
    fn a_bad_sysctl_names_its_field() {
        let e = one("kernel.core_pattern", "|/tmp/x").unwrap_err();
        assert!(
            matches!(&e, crate::Error::InvalidArgument(i) if i.field == Some("sysctls")),
            "{e:?}"
        );
    }

    #[test]
    fn namespaced_keys_pass() {
        assert_eq!(
            one("net/ipv4/ip_forward", "1").unwrap(),
            [("net.ipv4.ip_forward".to_string(), "1".to_string())]
        );
        assert!(one("kernel.shm_rmid_forced", "1").is_ok());
        assert!(one("net.ipv4.ip_local_port_range", "1024 65000").is_ok());
    }

    #[test]
    fn injection_and_host_keys_are_refused() {
        assert!(one("kernel.shm_rmid_forced", "1+kernel.core_pattern=|/tmp/x").is_err());
        assert!(one("kernel.core_pattern", "|/tmp/x").is_err());
        assert!(one("vm.overcommit_memory", "1").is_err());
        assert!(one("net..x", "1").is_err());
        assert!(one("net.ipv4.ip_forward", "1\nkernel.x=1").is_err());
        assert!(check(&[("net.ipv4.ip_forward".into(), "1".into())], true, false).is_err());
        assert!(check(&[("kernel.msgmax".into(), "1".into())], false, true).is_err());
    }
}
