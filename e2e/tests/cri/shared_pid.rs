//! Pods with one PID namespace for all their containers (CRI `pid: POD`,
//! shareProcessNamespace): berth's own pod init is PID 1, reaps orphans,
//! exposes nothing of the host, and takes the pod with it when it dies.

use berth_e2e::cri::{
    container, create, exec, ino, out, pod_config, run_pod, start, status, wait_state,
};
use berth_e2e::{mounts_under, Daemon};
use berth_proto::cri;
use std::time::Duration;

fn shared_pid_pod(d: &Daemon, name: &str) -> cri::PodSandboxConfig {
    let mut c = pod_config(d, name);
    c.linux.as_mut().unwrap().security_context.as_mut().unwrap().namespace_options = None; // pid: POD, the CRI default
    c
}

fn shared(mut c: cri::ContainerConfig) -> cri::ContainerConfig {
    let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
    sc.namespace_options =
        Some(cri::NamespaceOption { pid: cri::NamespaceMode::Pod as i32, ..Default::default() });
    c
}

async fn pod_state(rt: &mut berth_e2e::CriRuntime, id: &str) -> i32 {
    rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
        pod_sandbox_id: id.into(),
        verbose: false,
    })
    .await
    .unwrap()
    .into_inner()
    .status
    .unwrap()
    .state
}

#[tokio::test]
async fn containers_share_the_pods_pid_namespace_under_berths_init() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, shared_pid_pod(&d, "shared")).await;
    let inits = d.pod_init_pids();
    assert_eq!(inits.len(), 1, "one pod init");
    let init = inits[0];
    let pin = d.dir.join("run/sandboxes").join(&pod).join("pid");
    assert_eq!(ino(format!("/proc/{init}/ns/pid")), ino(&pin));
    assert_ne!(ino(format!("/proc/{init}/ns/pid")), ino("/proc/self/ns/pid"));
    // The init holds no capabilities and no descriptors beyond /dev/null.
    let st = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    for line in ["CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1"] {
        assert!(st.contains(line), "{line} in\n{st}");
    }
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{init}/fd"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_link(e.path()).unwrap())
        .collect();
    assert!(fds.iter().all(|p| p == std::path::Path::new("/dev/null")), "{fds:?}");

    let a = create(&mut rt, &pod, shared(container("a", &["sleep", "1000"]))).await.unwrap();
    let b = create(&mut rt, &pod, shared(container("b", &["sleep", "2000"]))).await.unwrap();
    start(&mut rt, &a).await;
    start(&mut rt, &b).await;
    // b sees a's process, and PID 1 is the pod init.
    assert_eq!(out(&mut rt, &b, &["cat", "/proc/1/comm"]).await, "berth-pod-init");
    let ps = out(&mut rt, &b, &["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).await;
    assert!(ps.contains("sleep 1000") && ps.contains("sleep 2000"), "{ps}");
    // Nothing of the host behind the init's root (it is not dumpable, and empty).
    let r = exec(&mut rt, &b, &["ls", "/proc/1/root/"]).await;
    assert_ne!(r.exit_code, 0, "{}", String::from_utf8_lossy(&r.stdout));
    let host_view = std::fs::read_dir(format!("/proc/{init}/root")).unwrap().count();
    assert_eq!(host_view, 0, "the init's root is an empty tmpfs");
    // Orphans are reparented to the init and reaped: no zombie stays.
    out(&mut rt, &a, &["sh", "-c", "(sleep 0.2 &) ; true"]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let zombies =
        out(&mut rt, &a, &["sh", "-c", "grep -l '^State:.Z' /proc/[0-9]*/status || true"]).await;
    assert_eq!(zombies, "", "zombies in the pod");

    // Restart: the init and the pod stay.
    let mut d = d;
    d.restart();
    let (mut rt, _) = d.cri().await;
    assert_eq!(pod_state(&mut rt, &pod).await, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(d.pod_init_pids(), vec![init]);

    // Stop: containers, init and pins go.
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    assert!(
        d.eventually(Duration::from_secs(5), || d.pod_init_pids().is_empty()),
        "the pod init is gone"
    );
    assert!(mounts_under(&d.dir).is_empty(), "nothing stays mounted: {:?}", mounts_under(&d.dir));
    for c in [&a, &b] {
        assert_eq!(status(&mut rt, c).await.state, cri::ContainerState::ContainerExited as i32);
    }
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}

#[tokio::test]
async fn a_dead_pod_init_takes_the_pod_down() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, shared_pid_pod(&d, "fragile")).await;
    let c = create(&mut rt, &pod, shared(container("c", &["sleep", "1000"]))).await.unwrap();
    start(&mut rt, &c).await;
    let init = d.pod_init_pids()[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    // The kernel kills the rest of the namespace; the pod is NOTREADY.
    let st = wait_state(&mut rt, &c, cri::ContainerState::ContainerExited).await;
    assert_eq!(st.state, cri::ContainerState::ContainerExited as i32);
    assert_eq!(pod_state(&mut rt, &pod).await, cri::PodSandboxState::SandboxNotready as i32);
    // A container can no longer be created in it; stop and remove clean up.
    let e = create(&mut rt, &pod, shared(container("late", &["true"]))).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
    assert!(mounts_under(&d.dir).is_empty(), "nothing stays mounted: {:?}", mounts_under(&d.dir));
}
