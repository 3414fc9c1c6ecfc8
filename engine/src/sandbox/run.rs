//! RunPodSandbox: reserve the name, write the pod's files, pin its
//! namespaces through `berth-shim pin`, persist — each step with its undo.

use super::{name_key, Dns, NsMode, SandboxEntry, SandboxOptions, SandboxRecord, SandboxState};
use crate::error::{Error, IoContext, Result};
use crate::undo::Undo;
use crate::Engine;
use std::path::PathBuf;
use tracing::Instrument;

/// Runtime handlers berth knows (RuntimeClass handler names).
pub const RUNTIME_HANDLERS: [&str; 2] = ["", "berth"];

fn check(o: &SandboxOptions) -> Result<Vec<(String, String)>> {
    for (what, v) in [("name", &o.name), ("namespace", &o.namespace), ("uid", &o.uid)] {
        if v.is_empty() {
            return Err(Error::invalid(format!("pod sandbox metadata.{what} is required")));
        }
    }
    if !RUNTIME_HANDLERS.contains(&o.runtime_handler.as_str()) {
        return Err(Error::invalid(format!(
            "unknown runtime handler {:?}: berth has \"\" (default) and \"berth\"",
            o.runtime_handler
        )));
    }
    if !o.hostname.is_empty() {
        crate::container::check_hostname(&o.hostname)?;
    }
    if o.namespaces.pid == NsMode::Target {
        return Err(Error::invalid(
            "a pod's PID namespace is per pod, per container or the node's, not TARGET",
        ));
    }
    if o.namespaces.network == NsMode::Container || o.namespaces.ipc == NsMode::Container {
        return Err(Error::invalid("network and IPC namespaces are per pod or per node"));
    }
    if let Some(u) = &o.namespaces.user {
        u.check()?;
        // As Kubernetes: a pod with its own users shares no namespace with the node.
        if [o.namespaces.network, o.namespaces.pid, o.namespaces.ipc].contains(&NsMode::Node) {
            return Err(Error::invalid("a pod with its own user namespace can't use the node's network, PID or IPC namespace"));
        }
    }
    super::network::check_annotations(o)?;
    if !o.cgroup_parent.is_empty() && o.cgroup_parent.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::invalid(format!("invalid cgroup parent {:?}", o.cgroup_parent)));
    }
    for s in o.dns.servers.iter().chain(&o.dns.searches).chain(&o.dns.options) {
        if s.is_empty() || s.contains(['\n', '\r', '\0']) {
            return Err(Error::invalid(format!("invalid DNS setting {s:?}")));
        }
    }
    super::sysctl::check(
        &o.sysctls,
        o.namespaces.network == NsMode::Node,
        o.namespaces.ipc == NsMode::Node,
    )
}

/// resolv.conf from the pod's DNS config; the host's when it has none.
fn resolv_conf(dns: &Dns) -> String {
    if dns.servers.is_empty() && dns.searches.is_empty() && dns.options.is_empty() {
        return std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    }
    let mut s = String::new();
    if !dns.searches.is_empty() {
        s.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for n in &dns.servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !dns.options.is_empty() {
        s.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    s
}

impl Engine {
    /// Creates a READY sandbox; returns its id.
    #[tracing::instrument(level = "info", skip_all, fields(pod = %o.name, namespace = %o.namespace))]
    pub async fn run_sandbox(&self, mut o: SandboxOptions) -> Result<String> {
        let sysctls = check(&o)?;
        let key = name_key(&o.name, &o.namespace, &o.uid, o.attempt);
        let id = hex::encode(rand::random::<[u8; 32]>());
        let mut undo = Undo::default();
        self.inner.sandboxes.claim_name(&key, &id).map_err(|other| {
            Error::AlreadyExists(format!(
                "pod sandbox name {key:?} is already reserved for {other}"
            ))
        })?;
        let (me, k, i) = (self.clone(), key.clone(), id.clone());
        undo.push(move || me.inner.sandboxes.release_name(&k, &i));

        let dir = self.paths().sandbox(&id)?;
        let state = self.paths().sandbox_state(&id)?;
        for d in [&dir, &state] {
            crate::paths::create_dir(d, 0o711).ctx(|| format!("create {}", d.display()))?;
            let d = d.clone();
            undo.push(move || {
                let _ = std::fs::remove_dir_all(d);
            });
        }
        crate::failpoint("run_sandbox.after_dirs")?;
        if o.hostname.is_empty() {
            // As containerd: the node's hostname (a pod name may be longer
            // than a hostname can be).
            o.hostname = crate::host::node_hostname()?;
        }
        let hostname = o.hostname.clone();
        std::fs::write(state.join("hostname"), format!("{hostname}\n"))
            .ctx(|| "write hostname".into())?;
        std::fs::write(state.join("hosts"), format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n")).ctx(|| "write hosts".into())?;
        std::fs::write(state.join("resolv.conf"), resolv_conf(&o.dns))
            .ctx(|| "write resolv.conf".into())?;

        let mut kinds = Vec::new();
        if o.namespaces.network != NsMode::Node {
            kinds.extend(["net", "uts"]);
        }
        if o.namespaces.ipc != NsMode::Node {
            kinds.push("ipc");
        }
        if o.namespaces.pid == NsMode::Pod {
            kinds.push("pid");
        }
        let mut pins: Vec<PathBuf> = kinds.iter().map(|k| state.join(k)).collect();
        if o.namespaces.user.is_some() {
            pins.push(state.join("user"));
        }
        let mut init_pid = None;
        if !kinds.is_empty() {
            let req = super::pins::PinRequest {
                dir: &state,
                kinds: &kinds,
                hostname: (o.namespaces.network != NsMode::Node).then_some(hostname.as_str()),
                sysctls: &sysctls,
                user: o.namespaces.user.as_ref(),
            };
            init_pid =
                self.inner.pins.pin(req).instrument(tracing::info_span!("pin_namespaces")).await?;
            let (p, me) = (pins.clone(), self.clone());
            let pid_pin = state.join("pid");
            undo.push(move || {
                if let Some(pid) = init_pid {
                    me.inner.pins.kill_init(pid, &pid_pin);
                }
                me.inner.pins.release(&p)
            });
        }

        crate::failpoint("run_sandbox.after_pin")?;
        o.sysctls = sysctls;
        let netns = state.join("net");
        let ips = self.network_add(&id, &o, &netns).await?;
        if let Err(e) = crate::failpoint("run_sandbox.after_network") {
            let _ = self.network_del(&id, &netns).await;
            return Err(e);
        }
        let rec = SandboxRecord {
            id: id.clone(),
            config: o,
            created_at: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
            state: SandboxState::Ready,
            pins,
            ips,
            init_pid,
            quarantined: false,
        };
        if let Err(e) = self.sandbox_persist(&rec) {
            // Before the undo stack releases the namespaces the plugins set up.
            let _ = self.network_del(&id, &netns).await;
            return Err(e);
        }
        self.inner.sandboxes.insert(&id, SandboxEntry::new(rec));
        undo.disarm();
        tracing::info!(sandbox = %id, "pod sandbox ready");
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NamespaceModes;

    #[test]
    fn resolv_conf_from_dns_config() {
        let d = Dns {
            servers: vec!["10.0.0.10".into()],
            searches: vec!["ns.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(resolv_conf(&d), "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n");
    }

    #[test]
    fn options_are_checked() {
        let ok = SandboxOptions {
            name: "p".into(),
            namespace: "n".into(),
            uid: "u".into(),
            ..Default::default()
        };
        assert!(check(&ok).is_ok());
        for bad in [
            SandboxOptions { name: String::new(), ..ok.clone() },
            SandboxOptions { runtime_handler: "kata".into(), ..ok.clone() },
            SandboxOptions { hostname: "a_b".into(), ..ok.clone() },
            SandboxOptions { cgroup_parent: "/kubepods/../../x".into(), ..ok.clone() },
            SandboxOptions {
                dns: Dns {
                    options: vec!["ndots:5\nnameserver 1.2.3.4".into()],
                    ..Default::default()
                },
                ..ok.clone()
            },
            SandboxOptions {
                sysctls: vec![("kernel.core_pattern".into(), "x".into())],
                ..ok.clone()
            },
            SandboxOptions {
                namespaces: NamespaceModes { pid: NsMode::Target, ..Default::default() },
                ..ok.clone()
            },
        ] {
            assert!(check(&bad).is_err(), "{bad:?}");
        }
    }
}
