//! What berthd finds when it comes back (a node restart, an unreadable
//! sandbox record), a container's changes and their commit, and published
//! ports held across runs — over the fakes of `crate::testing`, without root.

use super::{ChangeKind, DockerOptions, EndReason, NetworkMode, Status};
use crate::error::Error;
use crate::model::PortRequest;
use crate::sandbox::{SandboxFilter, SandboxState};
use crate::testing::{pod, TestNode};

/// Makes the next open see another boot of the node: another boot id, and
/// the state dir (a tmpfs on real nodes) gone with everything in it.
fn node_restarted(n: &TestNode) {
    std::fs::write(n.engine.paths().root.join("boot_id"), "an-earlier-boot\n").unwrap();
    std::fs::remove_dir_all(&n.engine.paths().state).unwrap();
}

#[tokio::test]
async fn after_a_node_restart_running_containers_ended_and_pods_are_not_ready() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    n.engine.start(&id).await.unwrap();
    let pod = n.engine.run_sandbox(pod("p")).await.unwrap();
    node_restarted(&n);
    let after = n.reopen().await;
    let rec = after.engine.inspect(&id).unwrap();
    assert_eq!((rec.state.status, rec.state.exit_code), (Status::Exited, 255));
    assert_eq!(rec.state.end, EndReason::NodeRestarted);
    assert_eq!(after.engine.sandbox_status(&pod).unwrap().state, SandboxState::NotReady);
    // Both can be started and removed again as usual.
    after.engine.start(&id).await.unwrap();
    after.engine.remove(&id, true).await.unwrap();
    after.engine.stop_sandbox(&pod).await.unwrap();
    after.engine.remove_sandbox(&pod).await.unwrap();
}

#[tokio::test]
async fn a_sandbox_whose_record_is_unreadable_is_kept_not_ready_until_removed() {
    let n = TestNode::new().await;
    let pod = n.engine.run_sandbox(pod("p")).await.unwrap();
    let record = n.engine.paths().sandbox(&pod).unwrap().join("sandbox.json");
    std::fs::write(&record, b"{").unwrap();
    let after = n.reopen().await;
    let listed = after.engine.list_sandboxes(&SandboxFilter::default());
    assert_eq!(listed.len(), 1);
    assert!(listed[0].quarantined && listed[0].state == SandboxState::NotReady);
    after.engine.stop_sandbox(&pod).await.unwrap();
    after.engine.remove_sandbox(&pod).await.unwrap();
    assert!(after.engine.list_sandboxes(&SandboxFilter::default()).is_empty());
}

#[tokio::test]
async fn a_container_s_changes_are_its_upper_dir_s_and_commit_makes_them_a_layer() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let upper = n.engine.paths().container(&id).unwrap().join("fs/upper");
    std::fs::create_dir_all(upper.join("srv")).unwrap();
    std::fs::write(upper.join("srv/index.html"), b"hello").unwrap();
    std::fs::create_dir_all(upper.join("bin")).unwrap();
    std::fs::write(upper.join("bin/true"), b"changed").unwrap();
    let changes = n.engine.changes(&id).await.unwrap();
    assert_eq!(
        changes,
        [
            ("/bin".to_owned(), ChangeKind::Modified),
            ("/bin/true".to_owned(), ChangeKind::Modified),
            ("/srv".to_owned(), ChangeKind::Added),
            ("/srv/index.html".to_owned(), ChangeKind::Added),
        ]
    );
    let request = crate::image::CommitRequest {
        reference: "unit.test/web:2".into(),
        changes: vec!["CMD [\"/srv/run\"]".into()],
        ..Default::default()
    };
    let opts = super::CommitOptions { request, pause: false, config: None };
    let img = n.engine.commit_container(&id, opts).await.unwrap();
    assert_eq!(img.layers.len(), 2, "the image's layer and the container's");
    assert_eq!(img.config.cmd.as_deref(), Some(&["/srv/run".to_owned()][..]));
    let layer = n.engine.images().lower_dirs(&img).unwrap()[0].clone();
    assert_eq!(std::fs::read(layer.join("srv/index.html")).unwrap(), b"hello");
    assert_eq!(n.engine.images().resolve("unit.test/web:2").unwrap().id, img.id);
}

#[tokio::test]
async fn a_host_port_is_one_container_s_while_it_runs() {
    let n = TestNode::new().await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let publish = |_| {
        let req = PortRequest::from_docker("80/tcp", "127.0.0.1", &free.to_string()).unwrap();
        DockerOptions { network: NetworkMode::Bridge, publish: vec![req], ..Default::default() }
    };
    let a = n.create("a", publish(())).await;
    let b = n.create("b", publish(())).await;
    n.engine.start(&a).await.unwrap();
    let e = n.engine.start(&b).await.unwrap_err();
    assert!(e.to_string().contains("port is already allocated"), "{e}");
    // The failed start left no network behind.
    let rec = n.engine.inspect(&b).unwrap();
    assert_eq!(rec.state.status, Status::Created);
    assert!(rec.config.network.sandbox().is_none());
    assert!(matches!(e, Error::AlreadyExists(_)));
    n.engine.stop(&a, Some(std::time::Duration::from_millis(50))).await.unwrap();
    n.until(&a, |r| r.state.status == Status::Exited).await;
    // Given back with the run: now the other one takes it.
    for _ in 0..100 {
        if n.engine.start(&b).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(n.engine.inspect(&b).unwrap().state.status, Status::Running);
    assert_eq!(n.engine.inspect(&b).unwrap().config.ports[0].host_port, free);
}
