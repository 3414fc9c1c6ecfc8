//! Node-ready state: a record that can't be read is quarantined, never
//! deleted with the container's data; after a node restart, containers are
//! exited with 255 (reason NodeRestarted) and pods can still be removed,
//! CNI DEL included.

use berth_e2e::cri::{container, create, pod_config, run_pod, start, status};
use berth_e2e::Daemon;
use berth_proto::cri;

fn id_of(d: &Daemon, name: &str) -> String {
    d.inspect(name)["Id"].as_str().unwrap().to_owned()
}

#[test]
fn an_unreadable_record_is_quarantined_never_deleted() {
    let mut d = Daemon::start();
    d.berth(&["run", "--name", "torn", "busybox", "sh", "-c", "echo precious > /kept"]).ok();
    d.berth(&["run", "--name", "newer", "busybox", "true"]).ok();
    d.berth(&["run", "--name", "fine", "busybox", "true"]).ok();
    let (torn, newer) = (id_of(&d, "torn"), id_of(&d, "newer"));
    let root = d.root().join("containers");
    let dir = |id: &str| root.join(id);
    d.kill9();
    // A torn write, and a record of a newer berth (a downgrade).
    let rec = dir(&torn).join("container.json");
    let text = std::fs::read(&rec).unwrap();
    std::fs::write(&rec, &text[..text.len() / 2]).unwrap();
    let rec = dir(&newer).join("container.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    assert_eq!(v["schema"], 1, "records carry their schema");
    v["schema"] = 99.into();
    std::fs::write(&rec, v.to_string()).unwrap();

    for _ in 0..2 {
        // Twice: a second start keeps them quarantined, and sweeps nothing.
        d.restart();
        let ps = d.berth(&["ps", "-a", "--no-trunc"]).ok().stdout;
        assert!(ps.lines().any(|l| l.contains(&torn) && l.contains("Quarantined")), "{ps}");
        assert!(
            ps.lines()
                .any(|l| l.contains(&newer) && l.contains("newer") && l.contains("Quarantined")),
            "{ps}"
        );
        assert_eq!(d.inspect("fine")["State"]["Status"], "exited");
        assert_eq!(
            std::fs::read_to_string(dir(&torn).join("fs/upper/kept")).unwrap(),
            "precious\n"
        );
        assert!(
            dir(&torn).join("container.json.quarantined").exists()
                && !dir(&torn).join("container.json").exists()
        );
        assert!(d.log().contains("quarantined an unreadable record"));
    }
    let inspect = d.inspect(&torn);
    // Docker's word for a container that can't run again.
    assert_eq!(inspect["State"]["Status"], "dead");
    assert!(
        inspect["State"]["Error"].as_str().unwrap_or_default().contains("quarantined"),
        "{inspect}"
    );
    let r = d.berth(&["start", &torn]);
    assert!(r.code != 0, "{r:?}");
    // Removed on purpose: then it is gone.
    d.berth(&["rm", &torn, "newer"]).ok();
    assert!(!dir(&torn).exists() && !dir(&newer).exists());
    assert_eq!(d.berth(&["ps", "-a", "-q"]).ok().stdout.lines().count(), 1);
}

#[tokio::test]
async fn after_a_node_restart_containers_are_exited_and_pods_removable() {
    let mut d = Daemon::start();
    d.berth(&["run", "-d", "--name", "web", "busybox", "sleep", "300"]).ok();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "rebooted")).await;
    let c = create(&mut rt, &pod, container("main", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &c).await;
    let ipam = d.dir.join("cni/ipam").join(&d.network);
    let subnet = d.subnet.clone();
    let addresses = || {
        std::fs::read_dir(&ipam)
            .map(|r| {
                r.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&subnet)).count()
            })
            .unwrap_or(0)
    };
    assert_eq!(addresses(), 1);
    drop(rt);

    // The power goes: every process dies, the volatile state dir with them.
    d.power_cut();

    let web = d.inspect("web");
    assert_eq!(
        (web["State"]["Status"].as_str(), web["State"]["ExitCode"].as_i64()),
        (Some("exited"), Some(255)),
        "{web}"
    );
    let (mut rt, _) = d.cri().await;
    let st = status(&mut rt, &c).await;
    assert_eq!(
        (st.state, st.exit_code, st.reason.as_str()),
        (cri::ContainerState::ContainerExited as i32, 255, "NodeRestarted")
    );
    let ps = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(ps.state, cri::PodSandboxState::SandboxNotready as i32);
    // kubelet's next steps: stop (CNI DEL from the cache) and remove.
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
    assert_eq!(addresses(), 0, "the pod's address is released");
    d.berth(&["rm", "web"]).ok();
    assert!(d.berth(&["ps", "-a", "-q"]).ok().stdout.trim().is_empty());
}

#[test]
fn an_unreadable_image_record_keeps_its_layers() {
    let mut d = Daemon::start_bare();
    d.import_busybox("first", &[r#"CMD ["sh"]"#]);
    d.import_busybox("second", &[r#"CMD ["true"]"#]);
    let first =
        d.inspect_image("first")["Id"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let layers: Vec<String> = berth_e2e::dir_names(&d.root().join("layers"));
    assert_eq!(layers.len(), 1, "the two images share their one layer");
    d.kill9();
    let rec = d.root().join("images").join(format!("{first}.json"));
    let text = std::fs::read(&rec).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(v["schema"], 1);
    std::fs::write(&rec, &text[..text.len() - 40]).unwrap();
    d.restart();
    let images = d.berth(&["images"]).ok().stdout;
    assert!(images.contains("second") && !images.contains("first"), "{images}");
    assert!(d.root().join("images").join(format!("{first}.json.quarantined")).exists());
    // The other image goes; the layer the quarantined record names stays.
    d.berth(&["rmi", "second"]).ok();
    assert_eq!(berth_e2e::dir_names(&d.root().join("layers")), layers);
    d.restart();
    assert_eq!(berth_e2e::dir_names(&d.root().join("layers")), layers, "and across restarts");
}
