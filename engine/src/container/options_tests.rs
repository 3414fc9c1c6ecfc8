//! Options over a container's life, over the fakes of `crate::testing`:
//! updates, `--volumes-from`, stop timeouts, the list's order, renames and
//! their events, a commit's history, log reopening. Without root.

use super::events::EventKind;
use super::{DockerOptions, Status};
use crate::error::Error;
use crate::model::{Resources, RestartPolicy, VolumeRequest};
use crate::testing::TestNode;
use std::time::Duration;

#[tokio::test]
async fn an_update_of_a_stopped_container_is_recorded_for_its_next_run() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let mut events = n.engine.subscribe_events();
    let resources = Resources { memory_bytes: 32 << 20, pids_limit: 50, ..Default::default() };
    n.engine.update_resources(&id, resources).await.unwrap();
    let rec = n.engine.inspect(&id).unwrap();
    assert_eq!(
        (rec.config.resources.memory_bytes, rec.config.resources.pids_limit),
        (32 << 20, 50)
    );
    assert_eq!(events.try_recv().unwrap().kind, EventKind::Updated);
    n.engine.set_restart_policy(&id, RestartPolicy::Always).await.unwrap();
    assert_eq!(n.engine.inspect(&id).unwrap().config.restart, RestartPolicy::Always);
    // The next run's spec has it.
    n.engine.start(&id).await.unwrap();
    let path = n.bundle(&id).join(berth_proto::shim::CONFIG_FILE);
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mem = *spec.linux().as_ref().unwrap().resources().as_ref().unwrap().memory();
    assert_eq!(mem.unwrap().limit(), Some(32 << 20));
}

#[tokio::test]
async fn volumes_from_gives_another_container_s_volumes() {
    let n = TestNode::new().await;
    let vols = vec![VolumeRequest {
        name: Some("shared".into()),
        container_path: "/data".into(),
        readonly: false,
        copy_up: false,
    }];
    let a = n.create("a", DockerOptions { volumes: vols, ..Default::default() }).await;
    let b = n
        .create("b", DockerOptions { volumes_from: vec!["a:ro".into()], ..Default::default() })
        .await;
    let rec = n.engine.inspect(&b).unwrap();
    let used: Vec<(&str, bool)> =
        rec.config.volumes.iter().map(|v| (v.name.as_str(), v.readonly)).collect();
    assert_eq!(used, [("shared", true)]);
    assert_eq!(n.engine.volume_users("shared").len(), 2);
    let e = n.engine.create(crate::CreateOptions {
        image: n.image.clone(),
        cmd: vec!["/bin/true".into()],
        docker: DockerOptions { volumes_from: vec!["nope".into()], ..Default::default() },
        ..Default::default()
    });
    assert!(matches!(e.await, Err(Error::NotFound(_))));
    n.engine.remove(&a, false).await.unwrap();
}

#[tokio::test]
async fn a_stop_without_a_timeout_waits_the_container_s_own() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions { stop_timeout: Some(0), ..Default::default() }).await;
    n.engine.start(&id).await.unwrap();
    n.shims.ignored.lock().unwrap().push(15);
    let started = std::time::Instant::now();
    n.engine.stop(&id, None).await.unwrap();
    // Its own timeout of 0: no grace, the kill at once.
    assert_eq!(n.shims.signals(&id), [9]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_list_is_newest_first_and_only_running_ones_unless_all() {
    let n = TestNode::new().await;
    let first = n.create("first", DockerOptions::default()).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = n.create("second", DockerOptions::default()).await;
    n.engine.start(&first).await.unwrap();
    let all: Vec<String> = n.engine.list(true).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(all, [second.clone(), first.clone()]);
    let running: Vec<String> = n.engine.list(false).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(running, [first]);
}

#[tokio::test]
async fn a_rename_is_told_with_the_old_name_and_a_pod_s_container_keeps_its_own() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let mut events = n.engine.subscribe_events();
    n.engine.rename(&id, "/api").await.unwrap();
    let e = events.try_recv().unwrap();
    assert_eq!(
        (e.kind, e.name.as_str(), e.old_name.as_deref()),
        (EventKind::Renamed, "api", Some("web"))
    );
    assert!(matches!(n.engine.rename(&id, "api").await, Err(Error::InvalidArgument(_))));
    assert!(n.engine.rename(&id, "bad name").await.is_err());
}

#[tokio::test]
async fn a_commit_adds_a_step_to_the_image_s_history() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let request = crate::image::CommitRequest {
        reference: "unit.test/web:h".into(),
        comment: "by hand".into(),
        author: "me".into(),
        ..Default::default()
    };
    let opts = super::CommitOptions { request, pause: false, config: None };
    let img = n.engine.commit_container(&id, opts).await.unwrap();
    let steps = n.engine.images().history(&img.id).unwrap();
    assert_eq!(steps[0].id, img.id, "newest first, with the image's id");
    assert_eq!(steps[0].comment, "by hand");
    assert!(steps.iter().skip(1).all(|s| s.id.is_empty()), "the steps below have none");
}

#[tokio::test]
async fn a_log_is_reopened_only_for_a_running_container() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    assert!(matches!(n.engine.reopen_log(&id).await, Err(Error::FailedPrecondition(_))));
    n.engine.start(&id).await.unwrap();
    n.engine.reopen_log(&id).await.unwrap();
    n.shims.exit(&id, 0);
    n.until(&id, |r| r.state.status == Status::Exited).await;
}
