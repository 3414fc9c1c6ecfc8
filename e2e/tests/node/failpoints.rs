//! Failpoints (containerd's `integration/failpoint` is the model): every
//! step of run-sandbox, create, start and remove made to fail, and made to
//! kill berthd on the spot; after each, nothing is left behind (mounts,
//! netns, addresses, processes, dirs, CNI cache entries) and the next
//! request succeeds.

use berth_e2e::cri::{container, create, pod_config, run_pod, start, status};
use berth_e2e::{cgroup_pids, dir_names, mounts_under, CriRuntime, Daemon};
use berth_proto::cri;

const ACTIONS: [&str; 2] = ["error", "abort"];

/// A pod with its own PID namespace (so a pod init is at stake too).
fn pod(d: &Daemon, name: &str) -> cri::PodSandboxConfig {
    let mut p = pod_config(d, name);
    p.linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .pid = cri::NamespaceMode::Pod as i32;
    p
}

/// Processes other than berthd whose command line names the test's dir:
/// shims, pins, pod inits (but those of recorded pods).
fn stray_processes(d: &Daemon) -> Vec<String> {
    let dir = d.dir.display().to_string();
    let inits: Vec<String> = d.pod_init_pids().iter().map(|p| p.to_string()).collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if inits.contains(&e.file_name().to_string_lossy().into_owned()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        if cmd.contains(&dir) && !cmd.contains("berthd.toml") && !zombie {
            out.push(cmd);
        }
    }
    out
}

/// Everything a failed or crashed step may not leave.
fn assert_nothing_left(d: &Daemon, sandboxes: usize, containers: usize, what: &str) {
    let ok = d.eventually(std::time::Duration::from_secs(5), || {
        stray_processes(d).is_empty() && cgroup_pids(&d.cgroup_parent).is_empty()
    });
    assert!(
        ok,
        "{what}: processes left: {:?} {:?}",
        stray_processes(d),
        cgroup_pids(&d.cgroup_parent)
    );
    // Only the pins of recorded pods.
    let pods = dir_names(&d.root().join("sandboxes"));
    let mounts: Vec<_> = mounts_under(&d.dir)
        .into_iter()
        .filter(|m| !pods.iter().any(|p| m.starts_with(d.dir.join("run/sandboxes").join(p))))
        .collect();
    assert!(mounts.is_empty(), "{what}: mounts left: {mounts:?}");
    let ipam = d.dir.join("cni/ipam").join(&d.network);
    let addresses: Vec<String> =
        dir_names(&ipam).into_iter().filter(|n| n.starts_with(&d.subnet)).collect();
    assert_eq!(addresses.len(), sandboxes, "{what}: addresses {addresses:?}");
    assert_eq!(dir_names(&d.root().join("cni-cache")).len(), sandboxes, "{what}: CNI cache");
    assert_eq!(dir_names(&d.root().join("sandboxes")).len(), sandboxes, "{what}: sandbox dirs");
    assert_eq!(
        dir_names(&d.dir.join("run/sandboxes")).len(),
        sandboxes,
        "{what}: sandbox state dirs"
    );
    assert_eq!(dir_names(&d.root().join("containers")).len(), containers, "{what}: container dirs");
    assert!(dir_names(&d.dir.join("run/containers")).is_empty(), "{what}: bundles");
}

/// Runs `op` with `point` armed as `action`; afterwards berthd runs with
/// nothing armed (restarted if the failpoint killed it).
async fn with_failpoint<T>(
    d: &mut Daemon,
    point: &str,
    action: &str,
    op: impl AsyncFnOnce(&mut CriRuntime) -> Result<T, tonic::Status>,
) {
    d.arm(&format!("{point}={action}"));
    let (mut rt, _) = d.cri().await;
    let r = op(&mut rt).await;
    assert!(r.is_err(), "{point}={action}: the request must fail");
    if action == "abort" {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !d.exited() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(d.exited(), "{point}: berthd should have died");
    }
    drop(rt);
    d.disarm();
}

#[tokio::test]
async fn run_pod_sandbox_at_every_step() {
    let mut d = Daemon::start();
    for point in [
        "run_sandbox.after_dirs",
        "run_sandbox.after_pin",
        "cni.add.after_plugin",
        "run_sandbox.after_network",
    ] {
        for action in ACTIONS {
            let cfg = pod(&d, &format!("p-{}-{action}", point.replace(['.', '_'], "-")));
            let c = cfg.clone();
            with_failpoint(&mut d, point, action, async move |rt| {
                rt.run_pod_sandbox(cri::RunPodSandboxRequest {
                    config: Some(c),
                    runtime_handler: String::new(),
                })
                .await
            })
            .await;
            let what = format!("{point}={action}");
            assert_nothing_left(&d, 0, 0, &what);
            // The next request succeeds, with the same name.
            let (mut rt, _) = d.cri().await;
            let id = run_pod(&mut rt, cfg).await;
            assert_nothing_left_but_pod(&d, &what);
            rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id.clone() })
                .await
                .unwrap();
            rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
                .unwrap();
            assert_nothing_left(&d, 0, 0, &format!("{what}, then a pod made and removed"));
        }
    }
}

fn assert_nothing_left_but_pod(d: &Daemon, what: &str) {
    assert_eq!(dir_names(&d.root().join("sandboxes")).len(), 1, "{what}: one pod");
}

#[tokio::test]
async fn create_start_and_remove_at_every_step() {
    let mut d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod_id = run_pod(&mut rt, pod(&d, "steps")).await;
    drop(rt);
    for action in ACTIONS {
        // Create: the record is the last step.
        let p = pod_id.clone();
        with_failpoint(&mut d, "create.before_record", action, async move |rt| {
            create(rt, &p, container("c", &["sleep", "1000"])).await
        })
        .await;
        assert_nothing_left(&d, 1, 0, &format!("create.before_record={action}"));

        // Start: the shim and the container run before the record says so.
        let (mut rt, _) = d.cri().await;
        let id = create(&mut rt, &pod_id, container("c", &["sleep", "1000"])).await.unwrap();
        drop(rt);
        let i = id.clone();
        with_failpoint(&mut d, "start.before_record", action, async move |rt| {
            rt.start_container(cri::StartContainerRequest { container_id: i }).await
        })
        .await;
        assert_nothing_left(&d, 1, 1, &format!("start.before_record={action}"));
        let (mut rt, _) = d.cri().await;
        assert_eq!(status(&mut rt, &id).await.state, cri::ContainerState::ContainerCreated as i32);
        start(&mut rt, &id).await;
        assert_eq!(status(&mut rt, &id).await.state, cri::ContainerState::ContainerRunning as i32);
        rt.stop_container(cri::StopContainerRequest { container_id: id.clone(), timeout: 0 })
            .await
            .unwrap();
        drop(rt);

        // Remove: once the record is gone, the rest goes too.
        let i = id.clone();
        with_failpoint(&mut d, "remove.after_record", action, async move |rt| {
            rt.remove_container(cri::RemoveContainerRequest { container_id: i }).await
        })
        .await;
        assert_nothing_left(&d, 1, 0, &format!("remove.after_record={action}"));
    }
    for action in ACTIONS {
        let (mut rt, _) = d.cri().await;
        let p = run_pod(&mut rt, pod(&d, &format!("gone-{action}"))).await;
        drop(rt);
        let i = p.clone();
        with_failpoint(&mut d, "remove_sandbox.after_record", action, async move |rt| {
            rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: i }).await
        })
        .await;
        assert_nothing_left(&d, 1, 0, &format!("remove_sandbox.after_record={action}"));
    }
    let (mut rt, _) = d.cri().await;
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod_id }).await.unwrap();
    assert_nothing_left(&d, 0, 0, "the end");
}

#[tokio::test]
async fn pull_at_every_step() {
    let reg = berth_e2e::registry::Registry::start();
    let layers = [
        berth_e2e::registry::busybox_layer(),
        berth_e2e::registry::Layer::plain(berth_e2e::registry::tar(|b| {
            berth_e2e::registry::file(b, "top", b"top\n")
        })),
    ];
    berth_e2e::registry::push_image(
        &reg.addr,
        "steps",
        "v1",
        &layers,
        "amd64",
        serde_json::json!({}),
    )
    .await;
    let name = format!("{}/steps:v1", reg.addr);
    let mut d = Daemon::start_bare();
    for point in ["pull.layer", "pull.before_record"] {
        for action in ACTIONS {
            let n = name.clone();
            d.arm(&format!("{point}={action}"));
            let (_, mut images) = d.cri().await;
            assert!(
                berth_e2e::cri::pull_image(&mut images, &n, None).await.is_err(),
                "{point}={action}"
            );
            drop(images);
            d.disarm();
            let what = format!("{point}={action}");
            assert!(
                dir_names(&d.root().join("tmp")).is_empty(),
                "{what}: nothing half-pulled is left"
            );
            assert!(dir_names(&d.root().join("images")).is_empty(), "{what}: no image is recorded");
            assert!(!d.berth(&["images"]).ok().stdout.contains("steps"), "{what}");
            // The next pull completes (reusing what a cut-short one left whole).
            let (_, mut images) = d.cri().await;
            berth_e2e::cri::pull_image(&mut images, &name, None).await.unwrap();
            d.berth(&["rmi", &name]).ok();
        }
    }
}
