//! CRI containers in pods: create/start/status/list/stop/remove, the pod's
//! namespaces and cgroup parent, CRI logs under the pod's log directory,
//! ExecSync, live resource updates, log reopening, security contexts.

use berth_e2e::cri::{
    container, create, exec, ino, out, pod_config, run_pod, start, status, wait_state,
};
use berth_e2e::{mounts_under, Daemon};
use berth_proto::cri;
use std::time::{Duration, Instant};
use tonic::Code;

#[tokio::test]
async fn container_lifecycle_in_a_pod() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "web")).await;
    let app = container("app", &["sh", "-c", "echo hello; echo oops >&2; hostname; sleep 1000"]);
    let id = create(&mut rt, &pod, app.clone()).await.unwrap();
    assert_eq!(create(&mut rt, &pod, app.clone()).await.unwrap_err().code(), Code::AlreadyExists);
    assert_eq!(
        create(&mut rt, &"f".repeat(64), app.clone()).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut bad = app.clone();
    bad.image = Some(cri::ImageSpec { image: "no-such-image".into(), ..Default::default() });
    bad.metadata.as_mut().unwrap().attempt = 9;
    assert_eq!(create(&mut rt, &pod, bad).await.unwrap_err().code(), Code::NotFound);

    let s = status(&mut rt, &id).await;
    assert_eq!(s.state, cri::ContainerState::ContainerCreated as i32);
    assert_eq!(s.metadata.as_ref().unwrap().name, "app");
    start(&mut rt, &id).await;
    let s = status(&mut rt, &id).await;
    assert_eq!(s.state, cri::ContainerState::ContainerRunning as i32);
    assert!(s.started_at > 0 && s.labels["app"] == "app" && s.annotations["note"] == "x");
    let log = d.dir.join("logs/web/app/0.log");
    assert_eq!(s.log_path, log.display().to_string());

    // CRI log format in the pod's log directory; the pod's hostname.
    assert!(d.eventually(Duration::from_secs(10), || std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count()
        >= 3));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.ends_with(" stdout F hello")), "{text}");
    assert!(text.lines().any(|l| l.ends_with(" stderr F oops")), "{text}");
    assert!(text.lines().any(|l| l.ends_with(" stdout F web-host")), "{text}");

    // The pod's pinned namespaces, its own pid namespace, the pod's cgroup parent.
    let pid: i32 = serde_json::from_str::<serde_json::Value>(
        &rt.container_status(cri::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: true,
        })
        .await
        .unwrap()
        .into_inner()
        .info["info"],
    )
    .unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    let pins = d.dir.join("run/sandboxes").join(&pod);
    for ns in ["net", "ipc", "uts"] {
        assert_eq!(ino(format!("/proc/{pid}/ns/{ns}")), ino(pins.join(ns)), "{ns}");
    }
    assert_ne!(ino(format!("/proc/{pid}/ns/pid")), ino("/proc/self/ns/pid"));
    // In its cgroup in every v1 controller hierarchy (the init moves itself in,
    // see kernel::cgroup), with the device rules applied before it ran.
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1_lines: Vec<&str> =
        cgroup.lines().filter(|l| !l.starts_with("0::") && !l.contains(":name=")).collect();
    assert!(
        !v1_lines.is_empty()
            && v1_lines.iter().all(|l| l.ends_with(&format!("/{}/pod-web/{id}", d.cgroup_parent))),
        "{cgroup}"
    );
    let devices = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/devices/{}/pod-web/{id}/devices.list",
        d.cgroup_parent
    ))
    .unwrap();
    assert!(!devices.contains("a *:* rwm"), "{devices}");
    // An exec joins the same cgroups (its own cgroup namespace view is the root).
    let seen = out(&mut rt, &id, &["cat", "/proc/self/cgroup"]).await;
    assert!(
        seen.lines()
            .filter(|l| !l.starts_with("0::") && !l.contains(":name="))
            .all(|l| l.ends_with(":/")),
        "{seen}"
    );

    // ExecSync: output, exit code, the container's env and pid namespace, timeout.
    let r = exec(&mut rt, &id, &["sh", "-c", "echo out; echo err >&2; exit 3"]).await;
    assert_eq!(
        (r.stdout.as_slice(), r.stderr.as_slice(), r.exit_code),
        (&b"out\n"[..], &b"err\n"[..], 3)
    );
    assert_eq!(out(&mut rt, &id, &["sh", "-c", "echo $FOO"]).await, "bar");
    let init = out(&mut rt, &id, &["cat", "/proc/1/cmdline"]).await;
    // The shell execs its last command: pid 1 is the sleep.
    assert!(init.starts_with("sleep"), "{init:?}");
    assert_eq!(out(&mut rt, &id, &["hostname"]).await, "web-host");
    assert_eq!(exec(&mut rt, &id, &["no-such-command"]).await.exit_code, 127);
    let t = Instant::now();
    let e = rt
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.clone(),
            cmd: vec!["sleep".into(), "30".into()],
            timeout: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    assert!(t.elapsed() < Duration::from_secs(10));
    // The timed-out process is gone.
    assert!(d.eventually(Duration::from_secs(5), || {
        let pids = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/pids/{}/pod-web/{id}/cgroup.procs",
            d.cgroup_parent
        ))
        .unwrap_or_default();
        pids.lines().count() == 1
    }));

    // Live resource update.
    rt.update_container_resources(cri::UpdateContainerResourcesRequest {
        container_id: id.clone(),
        linux: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_shares: 512,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let mem = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/{}/pod-web/{id}/memory.limit_in_bytes",
        d.cgroup_parent
    ))
    .unwrap();
    assert_eq!(mem.trim(), (64u64 << 20).to_string());
    let st = status(&mut rt, &id).await;
    assert_eq!(st.resources.unwrap().linux.unwrap().memory_limit_in_bytes, 64 << 20);

    // Log rotation: kubelet renames the file and asks for a reopen.
    std::fs::rename(&log, log.with_extension("log.1")).unwrap();
    rt.reopen_container_log(cri::ReopenContainerLogRequest { container_id: id.clone() })
        .await
        .unwrap();
    assert!(log.exists());

    // Exits: Completed and Error.
    let done = create(&mut rt, &pod, container("done", &["true"])).await.unwrap();
    let fail = create(&mut rt, &pod, container("fail", &["sh", "-c", "exit 2"])).await.unwrap();
    start(&mut rt, &done).await;
    start(&mut rt, &fail).await;
    let s = wait_state(&mut rt, &done, cri::ContainerState::ContainerExited).await;
    assert_eq!((s.exit_code, s.reason.as_str()), (0, "Completed"));
    let s = wait_state(&mut rt, &fail, cri::ContainerState::ContainerExited).await;
    assert_eq!((s.exit_code, s.reason.as_str()), (2, "Error"));
    assert!(s.finished_at >= s.started_at);

    // Filters.
    let lister = rt.clone();
    let list = |f: cri::ContainerFilter| {
        let mut rt = lister.clone();
        async move {
            rt.list_containers(cri::ListContainersRequest { filter: Some(f) })
                .await
                .unwrap()
                .into_inner()
                .containers
        }
    };
    assert_eq!(
        list(cri::ContainerFilter { pod_sandbox_id: pod.clone(), ..Default::default() })
            .await
            .len(),
        3
    );
    let running = list(cri::ContainerFilter {
        state: Some(cri::ContainerStateValue {
            state: cri::ContainerState::ContainerRunning as i32,
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(running.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let labelled = list(cri::ContainerFilter {
        label_selector: [("app".to_string(), "fail".to_string())].into(),
        ..Default::default()
    })
    .await;
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].pod_sandbox_id, pod);

    // Stop honours the timeout (sh as pid 1 ignores SIGTERM), then SIGKILL.
    rt.stop_container(cri::StopContainerRequest { container_id: id.clone(), timeout: 1 })
        .await
        .unwrap();
    let s = status(&mut rt, &id).await;
    assert_eq!(
        (s.state, s.exit_code, s.reason.as_str()),
        (cri::ContainerState::ContainerExited as i32, 137, "Error")
    );
    assert_eq!(
        rt.exec_sync(cri::ExecSyncRequest {
            container_id: id.clone(),
            cmd: vec!["true".into()],
            timeout: 1
        })
        .await
        .unwrap_err()
        .code(),
        Code::FailedPrecondition
    );

    // Remove: idempotent.
    rt.remove_container(cri::RemoveContainerRequest { container_id: done.clone() }).await.unwrap();
    rt.remove_container(cri::RemoveContainerRequest { container_id: done.clone() }).await.unwrap();
    rt.stop_container(cri::StopContainerRequest { container_id: done.clone(), timeout: 0 })
        .await
        .unwrap();
    assert_eq!(
        rt.container_status(cri::ContainerStatusRequest { container_id: done, verbose: false })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Stopping the pod kills what still runs; removing it removes its containers.
    start(&mut rt, &id).await;
    assert_eq!(status(&mut rt, &id).await.state, cri::ContainerState::ContainerRunning as i32);
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    assert_eq!(status(&mut rt, &id).await.state, cri::ContainerState::ContainerExited as i32);
    assert!(mounts_under(&d.dir.join("run")).is_empty());
    let mut again = container("late", &["true"]);
    again.log_path.clear();
    assert_eq!(create(&mut rt, &pod, again).await.unwrap_err().code(), Code::FailedPrecondition);
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod.clone() })
        .await
        .unwrap();
    assert!(list(cri::ContainerFilter::default()).await.is_empty());
    assert!(d.berth(&["ps", "-a", "-q"]).ok().stdout.trim().is_empty());
}

#[tokio::test]
async fn security_context_mounts_devices_and_shared_pid() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "sec")).await;
    let host_dir = d.dir.join("data");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "from host").unwrap();

    let mut c = container("main", &["sleep", "1000"]);
    let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
    sc.run_as_user = Some(cri::Int64Value { value: 1000 });
    sc.run_as_group = Some(cri::Int64Value { value: 2000 });
    sc.supplemental_groups = vec![3000];
    sc.readonly_rootfs = true;
    sc.no_new_privs = true;
    sc.capabilities = Some(cri::Capability {
        drop_capabilities: vec!["ALL".into()],
        add_capabilities: vec!["NET_BIND_SERVICE".into()],
        ..Default::default()
    });
    c.mounts = vec![
        cri::Mount {
            container_path: "/data".into(),
            host_path: host_dir.display().to_string(),
            readonly: true,
            ..Default::default()
        },
        cri::Mount {
            container_path: "/scratch".into(),
            host_path: d.dir.join("made-by-berth").display().to_string(),
            ..Default::default()
        },
    ];
    c.devices = vec![cri::Device {
        container_path: "/dev/mynull".into(),
        host_path: "/dev/null".into(),
        permissions: "rw".into(),
    }];
    let main = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &main).await;
    assert!(d.dir.join("made-by-berth").is_dir(), "a missing mount source becomes a directory");
    // Merge policy: the image's memberships of uid 1000 (alice) stay.
    assert_eq!(
        out(&mut rt, &main, &["id"]).await,
        "uid=1000(alice) gid=2000 groups=10(wheel),29(audio),2000,3000"
    );
    let st = status(&mut rt, &main).await;
    let user = st.user.unwrap().linux.unwrap();
    assert_eq!((user.uid, user.gid), (1000, 2000));
    assert!(user.supplemental_groups.contains(&3000));
    // NET_BIND_SERVICE only (bit 10).
    let caps = out(&mut rt, &main, &["grep", "CapBnd", "/proc/self/status"]).await;
    assert!(caps.ends_with("0000000000000400"), "{caps}");
    assert_eq!(
        out(&mut rt, &main, &["grep", "NoNewPrivs", "/proc/self/status"]).await,
        "NoNewPrivs:\t1"
    );
    assert_eq!(out(&mut rt, &main, &["cat", "/data/f"]).await, "from host");
    assert_ne!(exec(&mut rt, &main, &["touch", "/data/g"]).await.exit_code, 0);
    assert_ne!(exec(&mut rt, &main, &["touch", "/rootfs-file"]).await.exit_code, 0);
    assert_eq!(out(&mut rt, &main, &["sh", "-c", "echo x > /dev/mynull && echo ok"]).await, "ok");

    // TARGET pid mode: the debug container sees the target's processes.
    let mut dbg = container("debug", &["sleep", "1000"]);
    dbg.linux.as_mut().unwrap().security_context.as_mut().unwrap().namespace_options =
        Some(cri::NamespaceOption {
            pid: cri::NamespaceMode::Target as i32,
            target_id: main.clone(),
            ..Default::default()
        });
    let dbg = create(&mut rt, &pod, dbg).await.unwrap();
    start(&mut rt, &dbg).await;
    let ps = out(&mut rt, &dbg, &["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).await;
    assert!(ps.contains("sleep 1000"), "{ps}");
    assert_eq!(
        out(&mut rt, &dbg, &["cat", "/proc/1/cmdline"]).await.trim_end_matches('\0'),
        "sleep\u{0}1000"
    );

    // Privileged: every capability, the host's devices, writable sysfs.
    let mut p = container("priv", &["sleep", "1000"]);
    p.linux.as_mut().unwrap().security_context.as_mut().unwrap().privileged = true;
    let p = create(&mut rt, &pod, p).await.unwrap();
    start(&mut rt, &p).await;
    let caps = out(&mut rt, &p, &["grep", "CapEff", "/proc/self/status"]).await;
    // Every capability the node grants (this one withholds CAP_SYS_RESOURCE).
    let host = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("CapBnd"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(caps.ends_with(&host), "{caps} vs {host}");
    assert_eq!(out(&mut rt, &p, &["sh", "-c", "test -c /dev/kmsg && echo yes"]).await, "yes");

    // Unsupported features are refused, not ignored.
    let mut ambient = container("ambient", &["sh"]);
    ambient.linux.as_mut().unwrap().security_context.as_mut().unwrap().capabilities =
        Some(cri::Capability {
            add_ambient_capabilities: vec!["NET_RAW".into()],
            ..Default::default()
        });
    assert_eq!(create(&mut rt, &pod, ambient).await.unwrap_err().code(), Code::Unimplemented);
    let mut esc = container("escape", &["sh"]);
    esc.log_path = "../../../etc/evil.log".into();
    assert_eq!(create(&mut rt, &pod, esc).await.unwrap_err().code(), Code::InvalidArgument);
    let mut cap = container("cap", &["sh"]);
    cap.linux.as_mut().unwrap().security_context.as_mut().unwrap().capabilities =
        Some(cri::Capability { add_capabilities: vec!["NOPE".into()], ..Default::default() });
    assert_eq!(create(&mut rt, &pod, cap).await.unwrap_err().code(), Code::InvalidArgument);

    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
    assert!(mounts_under(&d.dir.join("run")).is_empty());
}

#[tokio::test]
async fn a_lost_shim_leaves_no_cgroup_under_the_pod() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "lost")).await;
    let id = create(&mut rt, &pod, container("app", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &id).await;
    let cgroup =
        std::path::PathBuf::from(format!("/sys/fs/cgroup/pids/{}/pod-lost/{id}", d.cgroup_parent));
    assert!(cgroup.is_dir());
    for pid in d.shim_pids() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let s = wait_state(&mut rt, &id, cri::ContainerState::ContainerUnknown).await;
    assert_eq!(s.state, cri::ContainerState::ContainerUnknown as i32);
    // The container's own cgroup (under the pod's parent, not the engine's) is removed.
    assert!(
        d.eventually(Duration::from_secs(10), || !cgroup.exists()),
        "{} is left",
        cgroup.display()
    );
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}
