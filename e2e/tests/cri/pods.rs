//! Pod sandboxes through CRI: pinned namespaces (no pause process),
//! hostname, DNS, sysctls, filters, idempotency, restart.

use berth_e2e::{mounts_under, Daemon};
use berth_proto::cri;
use std::process::Command;
use tonic::Code;

fn config(name: &str, attempt: u32) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt,
        }),
        hostname: format!("{name}-host"),
        log_directory: format!("/var/log/pods/default_{name}"),
        dns_config: Some(cri::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["default.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
        labels: [("app".to_string(), name.to_string()), ("tier".to_string(), "web".to_string())]
            .into(),
        annotations: [("note".to_string(), "hi".to_string())].into(),
        linux: Some(cri::LinuxPodSandboxConfig {
            sysctls: [
                ("net.ipv4.ip_unprivileged_port_start".to_string(), "80".to_string()),
                ("kernel.shm_rmid_forced".to_string(), "1".to_string()),
            ]
            .into(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    pid: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn run_req(c: cri::PodSandboxConfig) -> cri::RunPodSandboxRequest {
    cri::RunPodSandboxRequest { config: Some(c), runtime_handler: String::new() }
}

fn nsenter(args: &[&str]) -> String {
    let out = Command::new("nsenter").args(args).output().unwrap();
    assert!(out.status.success(), "nsenter {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn sandbox_lifecycle_with_pinned_namespaces() {
    let d = Daemon::start_bare();
    let (mut rt, _) = d.cri().await;
    let id =
        rt.run_pod_sandbox(run_req(config("web", 0))).await.unwrap().into_inner().pod_sandbox_id;
    assert_eq!(id.len(), 64);

    let st = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.clone(),
            verbose: true,
        })
        .await
        .unwrap()
        .into_inner();
    let s = st.status.unwrap();
    assert_eq!(s.state, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(s.metadata.unwrap().name, "web");
    assert_eq!(s.labels["tier"], "web");
    assert_eq!(s.annotations["note"], "hi");
    assert!(st.info["info"].contains("ip_unprivileged_port_start"));

    // The namespaces are pinned by bind mounts, and set up from inside.
    let state = d.dir.join("run/sandboxes").join(&id);
    let net = state.join("net").display().to_string();
    let uts = state.join("uts").display().to_string();
    let ipc = state.join("ipc").display().to_string();
    assert_eq!(mounts_under(&state).len(), 3);
    assert_eq!(nsenter(&[&format!("--uts={uts}"), "hostname"]), "web-host");
    assert_eq!(
        nsenter(&[&format!("--net={net}"), "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]),
        "80"
    );
    assert_eq!(nsenter(&[&format!("--ipc={ipc}"), "cat", "/proc/sys/kernel/shm_rmid_forced"]), "1");
    assert!(nsenter(&[&format!("--net={net}"), "ip", "-o", "link"]).contains("lo: <LOOPBACK,UP"));
    // ... and not the host's.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap().trim(),
        "80"
    );
    let resolv = std::fs::read_to_string(state.join("resolv.conf")).unwrap();
    assert_eq!(resolv, "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");

    // Same name and attempt: AlreadyExists; the next attempt is fine.
    let e = rt.run_pod_sandbox(run_req(config("web", 0))).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let id2 =
        rt.run_pod_sandbox(run_req(config("web", 1))).await.unwrap().into_inner().pod_sandbox_id;
    let other =
        rt.run_pod_sandbox(run_req(config("db", 0))).await.unwrap().into_inner().pod_sandbox_id;

    // Filters: label selector, state, id prefix.
    let lister = rt.clone();
    let list = |f: cri::PodSandboxFilter| {
        let mut rt = lister.clone();
        async move {
            rt.list_pod_sandbox(cri::ListPodSandboxRequest { filter: Some(f) })
                .await
                .unwrap()
                .into_inner()
                .items
        }
    };
    assert_eq!(list(Default::default()).await.len(), 3);
    assert_eq!(
        list(cri::PodSandboxFilter {
            label_selector: [("app".into(), "web".into())].into(),
            ..Default::default()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        list(cri::PodSandboxFilter { id: other[..10].into(), ..Default::default() }).await[0].id,
        other
    );

    // Stop releases every mount; it and remove are idempotent.
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id.clone() }).await.unwrap();
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id.clone() }).await.unwrap();
    assert!(mounts_under(&state).is_empty());
    let notready = cri::PodSandboxFilter {
        state: Some(cri::PodSandboxStateValue {
            state: cri::PodSandboxState::SandboxNotready as i32,
        }),
        ..Default::default()
    };
    assert_eq!(list(notready).await.len(), 1);
    for sid in [&id, &id2, &other] {
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: sid.to_string() })
            .await
            .unwrap();
    }
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id.clone() })
        .await
        .unwrap();
    let e = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest { pod_sandbox_id: id, verbose: false })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(list(Default::default()).await.is_empty());
    assert!(mounts_under(&d.dir).is_empty());
    assert_eq!(std::fs::read_dir(d.dir.join("run/sandboxes")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(d.dir.join("root/sandboxes")).unwrap().count(), 0);
}

#[tokio::test]
async fn bad_sandbox_configs_are_refused_and_leave_nothing() {
    let d = Daemon::start_bare();
    let (mut rt, _) = d.cri().await;
    let with_sysctl = |k: &str, v: &str| {
        let mut c = config("bad", 0);
        c.linux.as_mut().unwrap().sysctls = [(k.to_string(), v.to_string())].into();
        run_req(c)
    };
    // CRI-O CVE-2022-0811: a second key smuggled through the value.
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    for (k, v) in [
        ("kernel.shm_rmid_forced", "1+kernel.core_pattern=|/tmp/pwn"),
        ("kernel.core_pattern", "|/tmp/pwn"),
        ("vm.swappiness", "1"),
        ("net.ipv4.ip_forward", "1\nx"),
    ] {
        let e = rt.run_pod_sandbox(with_sysctl(k, v)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{k}={v:?}: {e:?}");
    }
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(), core_pattern);
    let mut host_net = with_sysctl("net.ipv4.ip_forward", "1");
    host_net
        .config
        .as_mut()
        .unwrap()
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .network = cri::NamespaceMode::Node as i32;
    assert_eq!(rt.run_pod_sandbox(host_net).await.unwrap_err().code(), Code::InvalidArgument);

    let mut handler = run_req(config("bad", 0));
    handler.runtime_handler = "kata".into();
    let e = rt.run_pod_sandbox(handler).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("runtime handler"), "{e:?}");

    let mut target_pid = config("bad", 0);
    target_pid
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .pid = cri::NamespaceMode::Target as i32;
    assert_eq!(
        rt.run_pod_sandbox(run_req(target_pid)).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let mut no_meta = config("bad", 0);
    no_meta.metadata = None;
    assert_eq!(
        rt.run_pod_sandbox(run_req(no_meta)).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Nothing was created, mounted or reserved.
    assert!(rt
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .items
        .is_empty());
    assert!(mounts_under(&d.dir).is_empty());
    assert_eq!(std::fs::read_dir(d.dir.join("run/sandboxes")).unwrap().count(), 0);
    rt.run_pod_sandbox(run_req(config("bad", 0))).await.unwrap();
}

#[tokio::test]
async fn sandboxes_survive_a_daemon_restart_and_a_lost_pin_means_notready() {
    let mut d = Daemon::start_bare();
    let (mut rt, _) = d.cri().await;
    let keep =
        rt.run_pod_sandbox(run_req(config("keep", 0))).await.unwrap().into_inner().pod_sandbox_id;
    let lost =
        rt.run_pod_sandbox(run_req(config("lost", 0))).await.unwrap().into_inner().pod_sandbox_id;
    d.kill9();
    // As after a reboot: the pins of one sandbox are gone.
    for m in mounts_under(&d.dir.join("run/sandboxes").join(&lost)) {
        nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH).unwrap();
    }
    d.restart();
    let (mut rt, _) = d.cri().await;
    let asker = rt.clone();
    let state = |id: &str| {
        let mut rt = asker.clone();
        let id = id.to_owned();
        async move {
            rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id,
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap()
            .state
        }
    };
    assert_eq!(state(&keep).await, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(state(&lost).await, cri::PodSandboxState::SandboxNotready as i32);
    // Names stay reserved across the restart.
    assert_eq!(
        rt.run_pod_sandbox(run_req(config("keep", 0))).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    for id in [keep, lost] {
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id }).await.unwrap();
    }
    assert!(mounts_under(&d.dir).is_empty());
}
