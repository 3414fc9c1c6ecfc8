//! The pod sandbox state machine over fake pins and CNI plugins
//! (`crate::testing`): run, stop, remove, a run that fails half-way, the
//! pod's containers, recovery — and the Docker containers whose network is
//! a sandbox of their own. Without root.

use super::{NsMode, SandboxFilter, SandboxOptions, SandboxState};
use crate::container::{DockerOptions, NetworkMode, Status};
use crate::error::Error;
use crate::model::PodLink;
use crate::testing::{pod, TestNode};
use std::time::Duration;

#[tokio::test]
async fn a_pod_runs_with_its_namespaces_pinned_and_an_address() {
    let n = TestNode::new().await;
    let id = n.engine.run_sandbox(pod("web")).await.unwrap();
    let rec = n.engine.sandbox_status(&id).unwrap();
    assert_eq!(rec.state, SandboxState::Ready);
    assert!(rec.ips[0].starts_with("10.88."), "{:?}", rec.ips);
    let kinds: Vec<String> =
        rec.pins.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(kinds, ["net", "uts", "ipc"]);
    assert_eq!(n.plugins.count("ADD", &id), 1);
    // The pod's files for its containers.
    let state = n.engine.paths().sandbox_state(&id).unwrap();
    let hosts = std::fs::read_to_string(state.join("hosts")).unwrap();
    assert!(hosts.contains("127.0.1.1\tweb"), "{hosts}");
    assert_eq!(n.engine.list_sandboxes(&SandboxFilter::default()).len(), 1);
}

#[tokio::test]
async fn bad_pods_are_refused_before_anything_is_made() {
    let n = TestNode::new().await;
    let mut no_uid = pod("web");
    no_uid.uid.clear();
    let mut handler = pod("web");
    handler.runtime_handler = "kata".into();
    let mut target = pod("web");
    target.namespaces.pid = NsMode::Target;
    for bad in [no_uid, handler, target] {
        assert!(matches!(n.engine.run_sandbox(bad).await, Err(Error::InvalidArgument(_))));
    }
    assert!(n.plugins.calls.lock().unwrap().is_empty());
    assert!(n.engine.list_sandboxes(&SandboxFilter::default()).is_empty());
}

#[tokio::test]
async fn a_pod_name_is_reserved_until_its_sandbox_is_removed() {
    let n = TestNode::new().await;
    let id = n.engine.run_sandbox(pod("web")).await.unwrap();
    let e = n.engine.run_sandbox(pod("web")).await.unwrap_err();
    assert!(matches!(&e, Error::AlreadyExists(m) if m.contains(&id)), "{e}");
    // Another attempt is another name (kubelet's next sandbox of the pod).
    let next = n.engine.run_sandbox(SandboxOptions { attempt: 1, ..pod("web") }).await.unwrap();
    n.engine.stop_sandbox(&id).await.unwrap();
    n.engine.remove_sandbox(&id).await.unwrap();
    n.engine.run_sandbox(pod("web")).await.unwrap();
    assert_ne!(next, id);
}

#[tokio::test]
async fn stop_gives_the_address_and_namespaces_back_and_is_idempotent() {
    let n = TestNode::new().await;
    let id = n.engine.run_sandbox(pod("web")).await.unwrap();
    let pins = n.engine.sandbox_status(&id).unwrap().pins;
    n.engine.stop_sandbox(&id).await.unwrap();
    let rec = n.engine.sandbox_status(&id).unwrap();
    assert_eq!(rec.state, SandboxState::NotReady);
    assert!(rec.pins.is_empty() && rec.ips.is_empty());
    assert_eq!(n.plugins.count("DEL", &id), 1);
    assert!(pins.iter().all(|p| !p.exists()));
    // Again: nothing more to do. Unknown ids are fine too (CRI).
    n.engine.stop_sandbox(&id).await.unwrap();
    assert_eq!(n.plugins.count("DEL", &id), 1);
    n.engine.stop_sandbox(&"ab".repeat(32)).await.unwrap();
    n.engine.remove_sandbox(&id).await.unwrap();
    assert!(matches!(n.engine.sandbox_status(&id), Err(Error::NotFound(_))));
    assert!(!n.engine.paths().sandbox_state(&id).unwrap().exists());
    n.engine.remove_sandbox(&id).await.unwrap();
}

#[tokio::test]
async fn a_run_that_fails_at_its_network_leaves_nothing() {
    let n = TestNode::new().await;
    *n.plugins.fail_add.lock().unwrap() = Some("bridge".into());
    let e = n.engine.run_sandbox(pod("web")).await.unwrap_err();
    assert!(e.to_string().contains("no"), "{e}");
    // The half-done ADD was undone, the namespaces released, the name freed.
    let calls = n.plugins.calls.lock().unwrap().clone();
    let (cmds, ids): (Vec<String>, Vec<String>) = calls.into_iter().map(|(c, i, _)| (c, i)).unzip();
    assert_eq!(cmds, ["ADD", "DEL"]);
    assert_eq!(n.pins.released.lock().unwrap().len(), 3);
    assert!(n.engine.list_sandboxes(&SandboxFilter::default()).is_empty());
    assert!(!n.engine.paths().sandbox_state(&ids[0]).unwrap().exists());
    *n.plugins.fail_add.lock().unwrap() = None;
    n.engine.run_sandbox(pod("web")).await.unwrap();
}

#[tokio::test]
async fn a_run_whose_namespaces_cannot_be_pinned_leaves_nothing() {
    let n = TestNode::new().await;
    *n.pins.fail.lock().unwrap() = true;
    assert!(n.engine.run_sandbox(pod("web")).await.is_err());
    assert!(n.plugins.calls.lock().unwrap().is_empty(), "no network without namespaces");
    assert!(n.engine.list_sandboxes(&SandboxFilter::default()).is_empty());
    *n.pins.fail.lock().unwrap() = false;
    n.engine.run_sandbox(pod("web")).await.unwrap();
}

#[tokio::test]
async fn a_pod_s_containers_run_in_it_and_go_with_its_stop() {
    let n = TestNode::new().await;
    let sid = n.engine.run_sandbox(pod("web")).await.unwrap();
    let in_pod = |name: &str| crate::CreateOptions {
        image: n.image.clone(),
        cmd: vec!["/bin/true".into()],
        pod: Some(PodLink { sandbox_id: sid.clone(), name: name.into(), attempt: 0 }),
        ..Default::default()
    };
    let app = n.engine.create(in_pod("app")).await.unwrap();
    n.engine.start(&app).await.unwrap();
    assert_eq!(n.engine.pod_containers(&sid), std::slice::from_ref(&app));
    // Docker's settings are not a pod container's.
    let docker = crate::CreateOptions {
        docker: DockerOptions { auto_remove: true, ..Default::default() },
        ..in_pod("bad")
    };
    assert!(n.engine.create(docker).await.is_err());
    // A pod container is found by the CRI, not by name.
    assert!(n.engine.pod_container(&app[..12]).is_ok());
    n.engine.stop_sandbox(&sid).await.unwrap();
    let rec = n.until(&app, |r| r.state.status == Status::Exited).await;
    assert_eq!(rec.state.exit_code, 137);
    // A pod that isn't ready takes no new container.
    let e = n.engine.create(in_pod("side")).await;
    assert!(matches!(e, Err(Error::FailedPrecondition(_))), "{e:?}");
}

#[tokio::test]
async fn after_a_restart_a_pod_with_its_pins_is_ready_and_one_without_is_not() {
    let n = TestNode::new().await;
    let kept = n.engine.run_sandbox(pod("kept")).await.unwrap();
    let lost = n.engine.run_sandbox(pod("lost")).await.unwrap();
    // While berthd was down, the node lost one pod's namespaces.
    let net = n.engine.sandbox_status(&lost).unwrap().pins[0].clone();
    std::fs::remove_file(net).unwrap();
    let after = n.reopen().await;
    assert_eq!(after.engine.sandbox_status(&kept).unwrap().state, SandboxState::Ready);
    let rec = after.engine.sandbox_status(&lost).unwrap();
    assert_eq!((rec.state, rec.pins.len()), (SandboxState::NotReady, 0));
    // Its network is still owed a DEL: the stop runs it.
    after.engine.stop_sandbox(&lost).await.unwrap();
    assert_eq!(after.plugins.count("DEL", &lost), 1);
}

#[tokio::test]
async fn an_attachment_whose_sandbox_never_finished_is_deleted_at_start_up() {
    let n = TestNode::new().await;
    let id = n.engine.run_sandbox(pod("web")).await.unwrap();
    // As if berthd died after ADD, before the record: the record is gone.
    let dir = n.engine.paths().sandbox(&id).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    let after = n.reopen().await;
    assert_eq!(after.plugins.count("DEL", &id), 1);
    assert!(after.engine.sandbox_status(&id).is_err());
}

#[tokio::test]
async fn a_bridged_docker_container_gets_a_sandbox_and_its_ports_for_each_run() {
    let n = TestNode::new().await;
    let publish = vec![crate::model::PortRequest::from_docker("80/tcp", "127.0.0.1", "").unwrap()];
    let opts = DockerOptions { network: NetworkMode::Bridge, publish, ..Default::default() };
    let id = n.create("web", opts).await;
    n.engine.start(&id).await.unwrap();
    let rec = n.engine.inspect(&id).unwrap();
    let sandbox = rec.config.network.sandbox().expect("a sandbox of its own").to_owned();
    let ips = n.engine.container_ips(&rec);
    assert!(ips[0].starts_with("10.88."), "{ips:?}");
    assert_eq!(rec.config.ports.len(), 1);
    // The CRI doesn't see it.
    assert!(n.engine.list_sandboxes(&SandboxFilter::default()).is_empty());
    // Its run's end takes the network and the ports back.
    n.engine.stop(&id, Some(Duration::from_millis(50))).await.unwrap();
    n.until(&id, |r| r.state.status == Status::Exited).await;
    for _ in 0..200 {
        if n.plugins.count("DEL", &sandbox) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(n.plugins.count("DEL", &sandbox), 1);
    let calls = n.filter.0.lock().unwrap().clone();
    assert!(calls.contains(&format!("publish {sandbox} 1")), "{calls:?}");
}

#[tokio::test]
async fn the_list_filters_by_id_prefix_state_and_labels() {
    let n = TestNode::new().await;
    let mut labelled = pod("a");
    labelled.labels.insert("app".into(), "web".into());
    let a = n.engine.run_sandbox(labelled).await.unwrap();
    let b = n.engine.run_sandbox(pod("b")).await.unwrap();
    n.engine.stop_sandbox(&b).await.unwrap();
    let ids = |f: SandboxFilter| -> Vec<String> {
        n.engine.list_sandboxes(&f).into_iter().map(|r| r.id).collect()
    };
    assert_eq!(
        ids(SandboxFilter { id: a[..8].into(), ..Default::default() }),
        std::slice::from_ref(&a)
    );
    let ready = SandboxFilter { state: Some(SandboxState::Ready), ..Default::default() };
    assert_eq!(ids(ready), std::slice::from_ref(&a));
    let mut by_label = SandboxFilter::default();
    by_label.labels.insert("app".into(), "web".into());
    assert_eq!(ids(by_label), [a]);
    assert_eq!(ids(SandboxFilter::default()).len(), 2);
}

#[tokio::test]
async fn a_pod_whose_init_is_gone_is_not_ready() {
    let n = TestNode::new().await;
    let mut shared = pod("web");
    shared.namespaces.pid = NsMode::Pod;
    let id = n.engine.run_sandbox(shared).await.unwrap();
    // The fake's init pid is no process of the node: gone at once.
    let rec = n.engine.sandbox_status(&id).unwrap();
    assert!(rec.init_pid.is_some());
    assert_eq!(rec.state, SandboxState::NotReady, "kubelet then makes a new one");
    n.engine.stop_sandbox(&id).await.unwrap();
}

#[tokio::test]
async fn a_pod_on_the_node_s_network_pins_and_attaches_nothing_of_it() {
    let n = TestNode::new().await;
    let mut host = pod("web");
    host.namespaces.network = NsMode::Node;
    let id = n.engine.run_sandbox(host).await.unwrap();
    let rec = n.engine.sandbox_status(&id).unwrap();
    let kinds: Vec<String> =
        rec.pins.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(kinds, ["ipc"]);
    assert_eq!(n.plugins.count("ADD", &id), 0);
    assert!(rec.ips.is_empty());
}

#[tokio::test]
async fn sysctls_are_refused_where_they_would_reach_the_node() {
    let n = TestNode::new().await;
    let mut host = pod("web");
    host.namespaces.network = NsMode::Node;
    host.sysctls = vec![("net.ipv4.ip_forward".into(), "1".into())];
    assert!(matches!(n.engine.run_sandbox(host).await, Err(Error::InvalidArgument(_))));
    let mut node_wide = pod("web");
    node_wide.sysctls = vec![("kernel.panic".into(), "1".into())];
    assert!(matches!(n.engine.run_sandbox(node_wide).await, Err(Error::InvalidArgument(_))));
    let mut fine = pod("web");
    fine.sysctls = vec![("net.ipv4.ip_unprivileged_port_start".into(), "0".into())];
    n.engine.run_sandbox(fine).await.unwrap();
}
