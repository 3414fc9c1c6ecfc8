//! What critest v1.36 found, as berth's own regressions (CI can't run
//! critest): kubelet's size limits at their maximum and one past, a pod
//! without a hostname, ExecSync timeouts that leave nothing behind, mount
//! propagation both ways, recursive read-only mounts, RunAsGroup without a
//! user.

use berth_e2e::cri::{container, create, exec, out, pod_config, run_pod, start};
use berth_e2e::{mounts_under, Daemon};
use berth_proto::cri;
use std::path::PathBuf;
use std::process::Command;
use tonic::Code;

fn run_req(c: cri::PodSandboxConfig) -> cri::RunPodSandboxRequest {
    cri::RunPodSandboxRequest { config: Some(c), runtime_handler: String::new() }
}

fn sh(cmd: &str) {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Host mounts a test makes below `dir`: detached however the test ends.
struct HostMounts(PathBuf);

impl Drop for HostMounts {
    fn drop(&mut self) {
        for m in mounts_under(&self.0) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[tokio::test]
async fn kubelet_limits_at_their_maximum_and_one_past() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;

    // A pod name of 253, a namespace of 63, 256 KiB of annotations, label
    // values of 63 (and kubelet's own pod-name label of 253), no hostname.
    let name = format!("p{}", "x".repeat(252));
    let mut pod = pod_config(&d, "limits");
    let meta = pod.metadata.as_mut().unwrap();
    meta.name = name.clone();
    meta.namespace = "n".repeat(63);
    meta.uid = "0b4bd2a4-6f1d-4ab4-a8f5-2ab0a3b9a5c1".into();
    pod.hostname.clear();
    pod.labels =
        [("app".to_string(), "v".repeat(63)), ("io.kubernetes.pod.name".to_string(), name.clone())]
            .into();
    pod.annotations = [("big".to_string(), "a".repeat((256 << 10) - 3))].into();
    let id = run_pod(&mut rt, pod.clone()).await;
    let st = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.clone(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(st.metadata.unwrap().name, name);
    assert_eq!(st.annotations["big"].len(), (256 << 10) - 3);

    // A container name of 63 (and critest's longer ones); its hostname is the node's.
    for n in ["c".repeat(63), format!("container-for-execSync-timeout-test-{}", "u".repeat(36))] {
        let mut c = container(&n, &["sleep", "1000"]);
        c.annotations = [("big".to_string(), "b".repeat((256 << 10) - 3))].into();
        let cid = create(&mut rt, &id, c).await.unwrap();
        start(&mut rt, &cid).await;
        let node = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert_eq!(out(&mut rt, &cid, &["hostname"]).await, node);
    }

    // One past each limit: InvalidArgument, and nothing is left of the attempt.
    type Change = Box<dyn Fn(&mut cri::PodSandboxConfig)>;
    let one_past: Vec<(&str, Change)> = vec![
        ("pod name", Box::new(|p| p.metadata.as_mut().unwrap().name = "x".repeat(254))),
        ("namespace", Box::new(|p| p.metadata.as_mut().unwrap().namespace = "n".repeat(64))),
        (
            "annotations",
            Box::new(|p| p.annotations = [("big".to_string(), "a".repeat((256 << 10) - 2))].into()),
        ),
        ("label value", Box::new(|p| p.labels = [("app".to_string(), "v".repeat(254))].into())),
        ("hostname label", Box::new(|p| p.hostname = "h".repeat(64))),
    ];
    for (what, change) in one_past {
        let mut p = pod_config(&d, "past");
        change(&mut p);
        let e = rt.run_pod_sandbox(run_req(p)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
    }
    let e = create(&mut rt, &id, container(&"c".repeat(254), &["true"])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // A hostname of 63 is fine.
    let mut p = pod_config(&d, "host63");
    p.hostname = "h".repeat(63);
    let id63 = run_pod(&mut rt, p).await;
    let c = create(&mut rt, &id63, container("c", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &c).await;
    assert_eq!(out(&mut rt, &c, &["hostname"]).await, "h".repeat(63));

    let pods = rt
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(pods.len(), 2, "only the two pods that were accepted");
    for p in [id, id63] {
        rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: p.clone() })
            .await
            .unwrap();
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: p }).await.unwrap();
    }
}

#[tokio::test]
async fn exec_sync_timeout_leaves_no_process_behind() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "timeout")).await;
    let id = create(&mut rt, &pod, container("main", &["tail", "-f", "/dev/null"])).await.unwrap();
    start(&mut rt, &id).await;

    let e = rt
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.clone(),
            cmd: vec!["sleep".into(), "4321".into()],
            timeout: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    // Not even a zombie: the container's PID 1 (tail) never reaps.
    let procs = out(&mut rt, &id, &["sh", "-c", "cat /proc/[0-9]*/comm"]).await;
    assert!(!procs.lines().any(|l| l == "sleep"), "{procs}");
    // A command that finishes in time still answers.
    assert_eq!(exec(&mut rt, &id, &["echo", "ok"]).await.stdout, b"ok\n");
}

/// critest's propagation check: a host mount made after start, seen or not
/// in the container; a mount made in the container, seen or not on the host.
async fn propagation(
    d: &Daemon,
    rt: &mut berth_e2e::CriRuntime,
    prop: cri::MountPropagation,
    name: &str,
) -> (bool, bool) {
    let base = d.dir.join(format!("prop-{name}"));
    let mnt = base.join("mnt");
    let src = base.join("src");
    std::fs::create_dir_all(mnt.join("from-host")).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("flag"), "").unwrap();
    let _mounts = HostMounts(base.clone());
    let how =
        if prop == cri::MountPropagation::PropagationPrivate { "rprivate" } else { "rshared" };
    sh(&format!("mount --bind {0} {0} && mount --make-{how} {0}", mnt.display()));

    let pod = run_pod(rt, pod_config(d, name)).await;
    let mut c = container("main", &["sleep", "1000"]);
    c.linux.as_mut().unwrap().security_context.as_mut().unwrap().privileged = true;
    c.mounts = vec![cri::Mount {
        host_path: mnt.display().to_string(),
        container_path: mnt.display().to_string(),
        propagation: prop as i32,
        ..Default::default()
    }];
    let id = create(rt, &pod, c).await.unwrap();
    start(rt, &id).await;

    sh(&format!("mount --bind {} {}", src.display(), mnt.join("from-host").display()));
    let inside = out(rt, &id, &["ls", "-A", &mnt.join("from-host").display().to_string()]).await;
    let from_ctr = mnt.join("from-container");
    out(
        rt,
        &id,
        &["sh", "-c", &format!("mkdir -p {0} && mount --bind /etc {0}", from_ctr.display())],
    )
    .await;
    let on_host = std::fs::read_dir(&from_ctr).unwrap().count() > 0;
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
    (!inside.is_empty(), on_host)
}

#[tokio::test]
async fn mount_propagation_private_slave_and_shared() {
    let d = Daemon::start();
    // As on a systemd node, the state dir is a shared mount: a container's
    // rootfs must still never appear on the host.
    let run = d.dir.join("run");
    let _run_mount = HostMounts(run.clone());
    sh(&format!("mount --bind {0} {0} && mount --make-rshared {0}", run.display()));
    let (mut rt, _) = d.cri().await;

    assert_eq!(
        propagation(&d, &mut rt, cri::MountPropagation::PropagationPrivate, "private").await,
        (false, false)
    );
    assert_eq!(
        propagation(&d, &mut rt, cri::MountPropagation::PropagationHostToContainer, "slave").await,
        (true, false)
    );

    // While a bidirectional container runs, its rootfs stays in its own namespace.
    let pod = run_pod(&mut rt, pod_config(&d, "shared-root")).await;
    let mut c = container("main", &["sleep", "1000"]);
    let vol = d.dir.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    c.mounts = vec![cri::Mount {
        host_path: vol.display().to_string(),
        container_path: "/vol".into(),
        propagation: cri::MountPropagation::PropagationBidirectional as i32,
        ..Default::default()
    }];
    let id = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &id).await;
    let leaked: Vec<PathBuf> = mounts_under(&run)
        .into_iter()
        .filter(|m| m != &run && !m.starts_with(run.join("sandboxes")))
        .collect();
    assert!(leaked.is_empty(), "container mounts on the host: {leaked:?}");
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();

    assert_eq!(
        propagation(&d, &mut rt, cri::MountPropagation::PropagationBidirectional, "shared").await,
        (true, true)
    );
}

#[tokio::test]
async fn recursive_read_only_mounts() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let st = rt.status(cri::StatusRequest { verbose: false }).await.unwrap().into_inner();
    assert!(st.runtime_handlers.iter().all(|h| h
        .features
        .as_ref()
        .unwrap()
        .recursive_read_only_mounts));

    let host = d.dir.join("rro");
    std::fs::create_dir_all(host.join("tmpfs")).unwrap();
    let _mounts = HostMounts(host.clone());
    sh(&format!("mount -t tmpfs none {}", host.join("tmpfs").display()));
    let pod = run_pod(&mut rt, pod_config(&d, "rro")).await;
    let mount = |rro: bool| cri::Mount {
        host_path: host.display().to_string(),
        container_path: "/mnt".into(),
        readonly: true,
        recursive_read_only: rro,
        selinux_relabel: true,
        ..Default::default()
    };

    // Plain read-only: the submount below stays writable (as in runc).
    let mut c = container("ro", &["sleep", "1000"]);
    c.mounts = vec![mount(false)];
    let ro = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &ro).await;
    assert_eq!(exec(&mut rt, &ro, &["touch", "/mnt/tmpfs/file"]).await.exit_code, 0);
    assert_ne!(exec(&mut rt, &ro, &["touch", "/mnt/file"]).await.exit_code, 0);

    // Recursive: read-only all the way down.
    let mut c = container("rro", &["sleep", "1000"]);
    c.mounts = vec![mount(true)];
    let rro = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &rro).await;
    let r = exec(&mut rt, &rro, &["touch", "/mnt/tmpfs/foo"]).await;
    assert!(String::from_utf8_lossy(&r.stderr).contains("Read-only file system"), "{r:?}");
    assert!(host.join("tmpfs/file").exists() && !host.join("tmpfs/foo").exists());

    // Refused: not read-only, or propagating.
    for (i, (readonly, prop)) in [
        (false, cri::MountPropagation::PropagationPrivate),
        (true, cri::MountPropagation::PropagationHostToContainer),
        (true, cri::MountPropagation::PropagationBidirectional),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = container(&format!("bad{i}"), &["true"]);
        c.mounts = vec![cri::Mount { readonly, propagation: prop as i32, ..mount(true) }];
        assert_eq!(create(&mut rt, &pod, c).await.unwrap_err().code(), Code::InvalidArgument);
    }
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}

#[tokio::test]
async fn run_as_group_needs_a_user() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "group")).await;
    let mut c = container("group-only", &["id"]);
    c.linux.as_mut().unwrap().security_context.as_mut().unwrap().run_as_group =
        Some(cri::Int64Value { value: 1002 });
    assert_eq!(create(&mut rt, &pod, c.clone()).await.unwrap_err().code(), Code::InvalidArgument);
    // With a user (by id or by name) the group applies.
    let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
    sc.run_as_user = Some(cri::Int64Value { value: 1000 });
    c.command = vec!["sleep".into(), "1000".into()];
    let id = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &id).await;
    assert_eq!(out(&mut rt, &id, &["sh", "-c", "echo $(id -u):$(id -g)"]).await, "1000:1002");
}

/// A pod with its own users (`hostUsers: false`), as kubelet asks for one.
fn userns_pod(
    d: &Daemon,
    name: &str,
    uids: Vec<cri::IdMapping>,
    gids: Vec<cri::IdMapping>,
    mode: cri::NamespaceMode,
) -> cri::PodSandboxConfig {
    let mut p = pod_config(d, name);
    let ns = p
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap();
    ns.pid = cri::NamespaceMode::Pod as i32;
    ns.userns_options = Some(cri::UserNamespace { mode: mode as i32, uids, gids });
    p
}

fn map(container_id: u32, host_id: u32, length: u32) -> cri::IdMapping {
    cri::IdMapping { container_id, host_id, length }
}

#[tokio::test]
async fn user_namespaced_pods() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let st = rt.status(cri::StatusRequest { verbose: false }).await.unwrap().into_inner();
    assert!(st.runtime_handlers.iter().all(|h| h.features.as_ref().unwrap().user_namespaces));

    // Refused as containerd and CRI-O refuse them; nothing is left behind.
    let bad = [
        (
            vec![map(0, 1000, 100000), map(0, 2000, 100000)],
            vec![map(0, 1000, 100000)],
            cri::NamespaceMode::Pod,
        ),
        (vec![map(1, 1000, 100000)], vec![map(1, 1000, 100000)], cri::NamespaceMode::Pod),
        (vec![], vec![], cri::NamespaceMode::Pod),
        (vec![], vec![], cri::NamespaceMode::Container),
        (vec![], vec![], cri::NamespaceMode::Target),
        (vec![map(0, 1000, 100000)], vec![map(0, 1000, 100000)], cri::NamespaceMode::Node),
    ];
    for (i, (u, g, mode)) in bad.into_iter().enumerate() {
        let e = rt
            .run_pod_sandbox(run_req(userns_pod(&d, &format!("bad{i}"), u, g, mode)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{i}: {e:?}");
    }
    let mut host_net = userns_pod(
        &d,
        "hostnet",
        vec![map(0, 1000, 100000)],
        vec![map(0, 1000, 100000)],
        cri::NamespaceMode::Pod,
    );
    host_net
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
    assert_eq!(
        rt.run_pod_sandbox(run_req(host_net)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert!(rt
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .unwrap()
        .into_inner()
        .items
        .is_empty());

    // NODE: the node's users.
    let node =
        run_pod(&mut rt, userns_pod(&d, "node", vec![], vec![], cri::NamespaceMode::Node)).await;
    let c = create(&mut rt, &node, container("main", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &c).await;
    let host_map = std::fs::read_to_string("/proc/self/uid_map").unwrap();
    assert_eq!(
        out(&mut rt, &c, &["cat", "/proc/self/uid_map"])
            .await
            .split_whitespace()
            .collect::<Vec<_>>(),
        host_map.split_whitespace().collect::<Vec<_>>()
    );

    // POD: root inside is 100000 outside; the image's files are root's
    // (idmapped layers), so are the writable layer and volumes.
    let vol = d.dir.join("userns-vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("from-host"), "hi").unwrap();
    let cfg = userns_pod(
        &d,
        "pod",
        vec![map(0, 100000, 65536)],
        vec![map(0, 200000, 65536)],
        cri::NamespaceMode::Pod,
    );
    let pod = run_pod(&mut rt, cfg.clone()).await;
    let st = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    let u = st.linux.unwrap().namespaces.unwrap().options.unwrap().userns_options.unwrap();
    assert_eq!(
        (u.mode, u.uids[0].host_id, u.gids[0].host_id),
        (cri::NamespaceMode::Pod as i32, 100000, 200000)
    );
    let mut c = container("main", &["sh", "-c", "nc -l -p 80 -e true & sleep 1000"]);
    c.linux.as_mut().unwrap().security_context.as_mut().unwrap().namespace_options =
        cfg.linux.as_ref().unwrap().security_context.as_ref().unwrap().namespace_options.clone();
    c.mounts = vec![cri::Mount {
        host_path: vol.display().to_string(),
        container_path: "/vol".into(),
        ..Default::default()
    }];
    let id = create(&mut rt, &pod, c.clone()).await.unwrap();
    start(&mut rt, &id).await;
    assert_eq!(
        out(&mut rt, &id, &["cat", "/proc/self/uid_map"])
            .await
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(
        out(&mut rt, &id, &["cat", "/proc/self/gid_map"])
            .await
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    assert_eq!(
        out(
            &mut rt,
            &id,
            &["sh", "-c", "echo $(id -u):$(id -g) $(stat -c %u:%g / /bin/busybox /vol/from-host)"]
        )
        .await,
        "0:0 0:0 0:0 0:0"
    );
    out(&mut rt, &id, &["sh", "-c", "echo x > /made-inside && echo y > /vol/made-inside"]).await;
    let upper = std::fs::read_dir(d.dir.join("root/containers"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("fs/upper"))
        .find(|p| p.join("made-inside").exists())
        .unwrap();
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(upper.join("made-inside")).unwrap();
    assert_eq!((md.uid(), md.gid()), (100000, 200000), "the writable layer holds the pod's ids");
    let md = std::fs::metadata(vol.join("made-inside")).unwrap();
    assert_eq!(
        (md.uid(), md.gid()),
        (0, 0),
        "the volume is idmapped: its disk ids are the pod's root as 0"
    );
    // Its network namespace is the pod's users' own: root inside binds port 80.
    assert!(out(&mut rt, &id, &["netstat", "-ltn"]).await.contains(":80 "));
    // ... but can't do what only the node's root can.
    assert_ne!(
        exec(&mut rt, &id, &["sh", "-c", "echo 1 > /proc/sys/kernel/sysrq"]).await.exit_code,
        0
    );

    // A privileged container, a bidirectional mount, or other users: refused.
    let mut p = c.clone();
    p.metadata.as_mut().unwrap().name = "priv".into();
    p.linux.as_mut().unwrap().security_context.as_mut().unwrap().privileged = true;
    assert_eq!(create(&mut rt, &pod, p).await.unwrap_err().code(), Code::InvalidArgument);
    let mut b = c.clone();
    b.metadata.as_mut().unwrap().name = "bidi".into();
    b.mounts[0].propagation = cri::MountPropagation::PropagationBidirectional as i32;
    assert_eq!(create(&mut rt, &pod, b).await.unwrap_err().code(), Code::InvalidArgument);
    let mut o = c.clone();
    o.metadata.as_mut().unwrap().name = "other".into();
    o.linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .userns_options =
        Some(cri::UserNamespace { mode: cri::NamespaceMode::Node as i32, ..Default::default() });
    assert_eq!(create(&mut rt, &pod, o).await.unwrap_err().code(), Code::InvalidArgument);

    for p in [node, pod.clone()] {
        rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: p.clone() })
            .await
            .unwrap();
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: p }).await.unwrap();
    }
    assert!(mounts_under(&d.dir).is_empty(), "{:?}", mounts_under(&d.dir));
}

#[tokio::test]
async fn the_cri_sees_only_pod_containers_by_id() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    // A container of the CLI's: not kubelet's, whatever it is called.
    d.berth(&["run", "-d", "--name", "cli-only", "busybox", "sleep", "1000"]).ok();
    let cli_id = d.inspect("cli-only")["Id"].as_str().unwrap().to_owned();
    let pod = run_pod(&mut rt, pod_config(&d, "byid")).await;
    let id = create(&mut rt, &pod, container("main", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &id).await;
    // The pod container's engine name, as `berth ps --all-namespaces` shows it.
    let listed = d
        .berth(&["ps", "--all-namespaces", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
        .ok()
        .stdout;
    let engine_name = listed
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{id} ")))
        .expect("the pod's container is listed")
        .to_owned();
    assert!(
        !d.berth(&["ps", "--format", "{{.ID}}"]).ok().stdout.contains(&id),
        "but not without --all-namespaces"
    );
    for key in [cli_id.as_str(), "cli-only", engine_name.as_str()] {
        let e = rt
            .container_status(cri::ContainerStatusRequest {
                container_id: key.into(),
                verbose: false,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{key}");
        let e = rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: key.into(),
                cmd: vec!["true".into()],
                timeout: 5,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{key}");
    }
    // Stop and remove of what isn't kubelet's are the no-ops of unknown ids: the CLI's container runs on.
    rt.stop_container(cri::StopContainerRequest { container_id: cli_id.clone(), timeout: 0 })
        .await
        .unwrap();
    rt.remove_container(cri::RemoveContainerRequest { container_id: cli_id.clone() })
        .await
        .unwrap();
    assert_eq!(d.inspect("cli-only")["State"]["Status"], "running");
    // A pod container by its id, or a unique prefix of it (as containerd takes one).
    assert_eq!(out(&mut rt, &id[..12], &["echo", "ok"]).await, "ok");
}

/// One unary gRPC call over raw HTTP/2 with a `grpc-timeout` header: the
/// `grpc-status` the *server* answers (a tonic client would end the call
/// itself when the time passes, so it can't see this).
async fn raw_call(
    socket: &std::path::Path,
    path: &str,
    msg: &impl prost::Message,
    timeout: &str,
) -> String {
    let io = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (client, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(())
        .unwrap();
    let (resp, mut body) = client.send_request(req, false).unwrap();
    let payload = msg.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    body.send_data(frame.into(), true).unwrap();
    let resp = resp.await.unwrap();
    if let Some(s) = resp.headers().get("grpc-status") {
        return s.to_str().unwrap().to_owned();
    }
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        let _ = chunk.unwrap();
    }
    let trailers = body.trailers().await.unwrap().unwrap_or_default();
    trailers.get("grpc-status").map(|s| s.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_passed_client_deadline_is_deadline_exceeded() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "deadline")).await;
    let id = create(&mut rt, &pod, container("main", &["tail", "-f", "/dev/null"])).await.unwrap();
    start(&mut rt, &id).await;
    // As gRPC says (and grpc-go, so containerd, answers): DEADLINE_EXCEEDED, 4, not CANCELLED.
    let req = cri::ExecSyncRequest {
        container_id: id.clone(),
        cmd: vec!["sleep".into(), "30".into()],
        timeout: 0,
    };
    assert_eq!(
        raw_call(&d.socket(), "/runtime.v1.RuntimeService/ExecSync", &req, "300m").await,
        "4"
    );
    // The abandoned command is ended too.
    let gone = || async {
        let procs = out(&mut rt.clone(), &id, &["sh", "-c", "cat /proc/[0-9]*/comm"]).await;
        !procs.lines().any(|l| l == "sleep")
    };
    let mut ok = false;
    for _ in 0..50 {
        if gone().await {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the sleep of the abandoned exec is gone");
}
