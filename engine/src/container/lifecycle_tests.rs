//! The container state machine over fake shims (`crate::testing`): start,
//! exit, a start that fails, stop's signals, restart policies, removal,
//! names, and recovery after berthd restarts — without root.

use super::{DockerOptions, EndReason, Status};
use crate::error::Error;
use crate::model::RestartPolicy;
use crate::testing::{failed_start, no_shim, TestNode};
use std::time::Duration;

fn docker(restart: &str, retries: i64) -> DockerOptions {
    let restart = RestartPolicy::from_docker(restart, retries).unwrap();
    DockerOptions { restart, ..Default::default() }
}

#[tokio::test]
async fn a_run_is_recorded_from_its_start_to_its_exit() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    assert_eq!(n.engine.inspect("web").unwrap().state.status, Status::Created);
    let waiter = n.engine.waiter(&id, "next-exit").unwrap();
    n.engine.start(&id).await.unwrap();
    let rec = n.engine.inspect(&id).unwrap();
    assert_eq!(rec.state.status, Status::Running);
    assert!(rec.state.pid > 0 && rec.state.started_at > 0);
    // What the shim was given: the spec and its config, in the bundle.
    assert!(n.bundle(&id).join(berth_proto::shim::CONFIG_FILE).is_file());
    n.shims.exit(&id, 3);
    assert_eq!(waiter.wait().await.exit_code, 3);
    let rec = n.until(&id, |r| r.state.status == Status::Exited).await;
    assert_eq!((rec.state.exit_code, rec.state.end), (3, EndReason::Exited));
    assert!(rec.state.finished_at >= rec.state.started_at);
    assert_eq!(rec.state.restart_count, 0);
}

#[tokio::test]
async fn a_start_that_fails_leaves_the_container_created_with_its_error() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    n.shims.plan.lock().unwrap().push_back(failed_start(127, "exec: \"x\": not found"));
    let e = n.engine.start(&id).await.unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    let rec = n.engine.inspect(&id).unwrap();
    assert_eq!((rec.state.status, rec.state.exit_code), (Status::Created, 127));
    assert!(rec.state.error.contains("not found"));
    // A shim that can't run at all: the same, and the bundle goes.
    n.shims.plan.lock().unwrap().push_back(no_shim());
    assert!(n.engine.start(&id).await.is_err());
    assert_eq!(n.engine.inspect(&id).unwrap().state.status, Status::Created);
    assert!(!n.bundle(&id).join(berth_proto::shim::CONFIG_FILE).exists());
    // The next start runs.
    n.engine.start(&id).await.unwrap();
    assert_eq!(n.engine.inspect(&id).unwrap().state.status, Status::Running);
}

#[tokio::test]
async fn stop_sends_the_stop_signal_then_kills_after_the_timeout() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    n.engine.start(&id).await.unwrap();
    // The task ignores SIGTERM: the stop waits it out, then kills.
    n.shims.ignored.lock().unwrap().push(15);
    n.engine.stop(&id, Some(Duration::from_millis(50))).await.unwrap();
    assert_eq!(n.shims.signals(&id), [15, 9]);
    let rec = n.until(&id, |r| r.state.status == Status::Exited).await;
    assert_eq!(rec.state.exit_code, 137);
    assert!(rec.state.stopped_on_purpose);
    // Stopping what doesn't run changes nothing.
    n.engine.stop(&id, None).await.unwrap();
    assert_eq!(n.shims.signals(&id), [15, 9]);
}

#[tokio::test]
async fn on_failure_restarts_until_its_retries_run_out() {
    let n = TestNode::new().await;
    let id = n.create("job", docker("on-failure", 2)).await;
    n.engine.start(&id).await.unwrap();
    for run in 1..=2 {
        n.shims.exit(&id, 1);
        n.until(&id, |r| r.state.status == Status::Running && n.shims.launched(&id) == run + 1)
            .await;
    }
    n.shims.exit(&id, 1);
    let rec = n.until(&id, |r| r.state.status == Status::Exited && !r.state.restarting).await;
    assert_eq!((rec.state.exit_code, rec.state.restart_count), (1, 2));
    assert_eq!(n.shims.launched(&id), 3);
    // A success is no failure: not restarted.
    let ok = n.create("ok", docker("on-failure", 5)).await;
    n.engine.start(&ok).await.unwrap();
    n.shims.exit(&ok, 0);
    n.until(&ok, |r| r.state.status == Status::Exited).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(n.shims.launched(&ok), 1);
}

#[tokio::test]
async fn always_restarts_until_it_is_stopped_on_purpose() {
    let n = TestNode::new().await;
    let id = n.create("svc", docker("always", 0)).await;
    n.engine.start(&id).await.unwrap();
    n.shims.exit(&id, 0);
    let rec =
        n.until(&id, |r| r.state.status == Status::Running && r.state.restart_count == 1).await;
    assert_eq!(rec.state.restart_count, 1);
    n.engine.stop(&id, Some(Duration::from_millis(50))).await.unwrap();
    let rec = n.until(&id, |r| r.state.status == Status::Exited).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(n.shims.launched(&id), 2, "{:?}", rec.state);
    assert!(!n.engine.inspect(&id).unwrap().state.restarting);
}

#[tokio::test]
async fn a_running_container_is_removed_only_by_force() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    n.engine.start(&id).await.unwrap();
    assert!(matches!(n.engine.remove(&id, false).await, Err(Error::FailedPrecondition(_))));
    assert_eq!(n.engine.inspect(&id).unwrap().state.status, Status::Running);
    n.engine.remove(&id, true).await.unwrap();
    assert_eq!(n.shims.signals(&id), [9]);
    assert!(matches!(n.engine.inspect(&id), Err(Error::NotFound(_))));
    assert!(!n.bundle(&id).exists());
    // Its name is free again.
    n.create("web", DockerOptions::default()).await;
}

#[tokio::test]
async fn names_have_one_holder_and_a_rename_gives_the_old_one_back() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let opts = crate::CreateOptions {
        name: Some("web".into()),
        image: n.image.clone(),
        cmd: vec!["/bin/true".into()],
        ..Default::default()
    };
    let e = n.engine.create(opts).await.unwrap_err();
    assert!(matches!(&e, Error::AlreadyExists(m) if m.contains(&id)), "{e}");
    n.engine.rename("web", "api").await.unwrap();
    assert_eq!(n.engine.inspect("api").unwrap().id, id);
    assert!(n.engine.inspect("web").is_err());
    n.create("web", DockerOptions::default()).await;
    assert!(matches!(n.engine.rename("api", "web").await, Err(Error::AlreadyExists(_))));
}

#[tokio::test]
async fn after_a_restart_an_exit_the_shim_left_is_read_and_a_lost_shim_is_unknown() {
    let n = TestNode::new().await;
    let left = n.create("left", DockerOptions::default()).await;
    let lost = n.create("lost", DockerOptions::default()).await;
    let idle = n.create("idle", DockerOptions::default()).await;
    for id in [&left, &lost] {
        n.engine.start(id).await.unwrap();
    }
    // While berthd was down: one shim wrote its exit and went; one went without.
    let exit = berth_proto::exit::ExitRecord {
        exit_code: 7,
        oom_killed: false,
        finished_unix_nanos: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
        reason: String::new(),
    };
    let path = n.bundle(&left).join(berth_proto::shim::EXIT_FILE);
    std::fs::write(path, serde_json::to_vec(&exit).unwrap()).unwrap();
    let after = n.reopen().await;
    let rec = after.until(&left, |r| r.state.status == Status::Exited).await;
    assert_eq!((rec.state.exit_code, rec.state.end), (7, EndReason::Exited));
    let rec = after.until(&lost, |r| r.state.status != Status::Running).await;
    assert_eq!((rec.state.status, rec.state.exit_code), (Status::Unknown, 255));
    assert_eq!(rec.state.end, EndReason::ShimLost);
    assert_eq!(after.engine.inspect(&idle).unwrap().state.status, Status::Created);
    // Names come back with the records.
    assert!(after
        .engine
        .create(crate::CreateOptions {
            name: Some("left".into()),
            image: after.image.clone(),
            ..Default::default()
        })
        .await
        .is_err());
}

#[tokio::test]
async fn an_always_container_is_started_again_when_berthd_comes_back() {
    let n = TestNode::new().await;
    let id = n.create("svc", docker("always", 0)).await;
    let stopped = n.create("stopped", docker("unless-stopped", 0)).await;
    for c in [&id, &stopped] {
        n.engine.start(c).await.unwrap();
    }
    n.engine.stop(&stopped, Some(Duration::from_millis(50))).await.unwrap();
    n.until(&stopped, |r| r.state.status == Status::Exited).await;
    // While berthd is away, `svc` exits (its shim leaves the record and goes).
    let exit = berth_proto::exit::ExitRecord {
        exit_code: 0,
        oom_killed: false,
        finished_unix_nanos: berth_proto::time::unix_nanos(std::time::SystemTime::now()),
        reason: String::new(),
    };
    let path = n.bundle(&id).join(berth_proto::shim::EXIT_FILE);
    std::fs::write(path, serde_json::to_vec(&exit).unwrap()).unwrap();
    let after = n.reopen().await;
    let rec = after.until(&id, |r| r.state.status == Status::Running).await;
    assert_eq!((after.shims.launched(&id), rec.state.restart_count), (1, 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(after.shims.launched(&stopped), 0, "stopped on purpose: stays stopped");
}

#[tokio::test]
async fn a_network_is_isolated_and_masqueraded_and_its_removal_takes_both_back() {
    let n = TestNode::new().await;
    let at_open = n.filter.0.lock().unwrap().clone();
    assert!(at_open.contains(&"setup_publish".to_owned()), "{at_open:?}");
    let req = crate::network::NetworkCreate { name: "front".into(), ..Default::default() };
    let net = n.engine.create_network(req).unwrap();
    let id = n.create("web", DockerOptions::default()).await;
    // A network a container names is not removed.
    let mut opts =
        DockerOptions { network: super::NetworkMode::User("front".into()), ..Default::default() };
    opts.restart = RestartPolicy::default();
    let user = n.create("user", opts).await;
    assert!(matches!(n.engine.remove_network("front"), Err(Error::FailedPrecondition(_))));
    n.engine.remove(&user, true).await.unwrap();
    n.engine.remove_network("front").unwrap();
    let calls = n.filter.0.lock().unwrap().clone();
    for call in [
        format!("isolate {} {}", net.bridge, n.engine.config().bridge.name),
        format!("release_isolation {}", net.bridge),
        format!("release_masquerade {}", net.bridge),
    ] {
        assert!(calls.contains(&call), "{call} not in {calls:?}");
    }
    assert!(n.engine.network("front").is_err());
    assert_eq!(n.engine.inspect(&id).unwrap().state.status, Status::Created);
}
