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

#[tokio::test]
async fn events_tell_a_run_in_docker_s_order() {
    let n = TestNode::new().await;
    let mut events = n.engine.subscribe_events();
    let id = n.create("web", DockerOptions::default()).await;
    n.engine.start(&id).await.unwrap();
    n.engine.kill(&id, "SIGUSR1").await.unwrap();
    n.shims.exit(&id, 2);
    n.until(&id, |r| r.state.status == Status::Exited).await;
    n.engine.remove(&id, false).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        assert_eq!((e.id.as_str(), e.name.as_str()), (id.as_str(), "web"));
        seen.push((e.kind, e.exit_code));
    }
    use super::events::EventKind::*;
    let kinds: Vec<_> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [Created, Started, Killed(10), Stopped, Deleted]);
    assert_eq!(seen[3].1, 2, "the exit code rides on the stop");
}

#[tokio::test]
async fn kill_sends_the_named_signal_and_refuses_what_does_not_run() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    assert!(matches!(n.engine.kill(&id, "SIGTERM").await, Err(Error::FailedPrecondition(_))));
    n.engine.start(&id).await.unwrap();
    assert!(matches!(n.engine.kill(&id, "SIGNOPE").await, Err(Error::InvalidArgument(_))));
    n.shims.ignored.lock().unwrap().extend([1, 15]);
    n.engine.kill(&id, "HUP").await.unwrap();
    n.engine.kill(&id, "15").await.unwrap();
    assert_eq!(n.engine.inspect(&id).unwrap().state.status, Status::Running);
    // No signal named: SIGKILL, as docker kill.
    n.engine.kill(&id, "").await.unwrap();
    assert_eq!(n.shims.signals(&id), [1, 15, 9]);
    let rec = n.until(&id, |r| r.state.status == Status::Exited).await;
    assert_eq!(rec.state.exit_code, 137);
    // As dockerd's: a kill on purpose keeps a restart policy from bringing it back.
    assert!(rec.state.stopped_on_purpose);
}

#[tokio::test]
async fn a_stop_signal_of_the_container_s_own_is_sent_first() {
    let n = TestNode::new().await;
    let opts = crate::CreateOptions {
        name: Some("web".into()),
        image: n.image.clone(),
        cmd: vec!["/bin/true".into()],
        stop_signal: Some("SIGQUIT".into()),
        ..Default::default()
    };
    let id = n.engine.create(opts).await.unwrap();
    n.engine.start(&id).await.unwrap();
    n.engine.stop(&id, Some(Duration::from_secs(5))).await.unwrap();
    assert_eq!(n.shims.signals(&id), [3]);
    assert_eq!(n.until(&id, |r| r.state.status == Status::Exited).await.state.exit_code, 131);
}

#[tokio::test]
async fn restart_stops_then_starts_and_counts_nothing() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    // Restarting what doesn't run starts it.
    n.engine.restart(&id, Some(Duration::from_millis(50))).await.unwrap();
    assert_eq!(n.engine.inspect(&id).unwrap().state.status, Status::Running);
    n.engine.restart(&id, Some(Duration::from_millis(50))).await.unwrap();
    let rec = n.engine.inspect(&id).unwrap();
    assert_eq!((rec.state.status, rec.state.restart_count), (Status::Running, 0));
    assert_eq!(n.shims.launched(&id), 2);
    assert_eq!(n.shims.signals(&id), [15]);
}

#[tokio::test]
async fn an_auto_remove_container_goes_with_its_exit() {
    let n = TestNode::new().await;
    let id = n.create("once", DockerOptions { auto_remove: true, ..Default::default() }).await;
    let removed = n.engine.waiter(&id, "removed").unwrap();
    n.engine.start(&id).await.unwrap();
    n.shims.exit(&id, 4);
    assert_eq!(removed.wait().await.exit_code, 4);
    for _ in 0..200 {
        if n.engine.inspect(&id).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(n.engine.inspect(&id), Err(Error::NotFound(_))));
    assert!(!n.engine.paths().container(&id).unwrap().exists());
}

#[tokio::test]
async fn a_wait_for_not_running_answers_at_once_when_nothing_runs() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let w = n.engine.waiter(&id, "not-running").unwrap();
    assert_eq!(w.wait().await.exit_code, 0);
    assert!(matches!(n.engine.waiter(&id, "sometime"), Err(Error::InvalidArgument(_))));
    assert!(matches!(n.engine.waiter("nope", "not-running"), Err(Error::NotFound(_))));
}

#[tokio::test]
async fn an_image_a_container_uses_is_not_removed() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    assert!(n.engine.image_in_use(&n.image));
    assert!(n.engine.remove_image(&n.image, false).is_err());
    assert!(n.engine.images().resolve(&n.image).is_ok());
    n.engine.remove(&id, false).await.unwrap();
    assert!(!n.engine.image_in_use(&n.image));
    n.engine.remove_image(&n.image, false).unwrap();
    assert!(n.engine.images().resolve(&n.image).is_err());
}

#[tokio::test]
async fn a_container_on_a_missing_image_or_network_is_not_created() {
    let n = TestNode::new().await;
    let opts = |image: &str, network| crate::CreateOptions {
        image: image.into(),
        cmd: vec!["/bin/true".into()],
        docker: DockerOptions { network, ..Default::default() },
        ..Default::default()
    };
    let e = n.engine.create(opts("unit.test/none:1", super::NetworkMode::None)).await;
    assert!(matches!(e, Err(Error::NotFound(crate::Missing::Image(_)))), "{e:?}");
    let e = n.engine.create(opts(&n.image, super::NetworkMode::User("nope".into()))).await;
    assert!(matches!(e, Err(Error::NotFound(crate::Missing::Network(_)))), "{e:?}");
    assert!(n.engine.list(true).unwrap().is_empty(), "nothing left of either");
}

#[tokio::test]
async fn named_and_anonymous_volumes_come_and_go_with_their_container() {
    let n = TestNode::new().await;
    let vols = vec![
        crate::model::VolumeRequest {
            name: Some("data".into()),
            container_path: "/data".into(),
            readonly: false,
            copy_up: false,
        },
        crate::model::VolumeRequest {
            name: None,
            container_path: "/cache".into(),
            readonly: false,
            copy_up: false,
        },
    ];
    let id = n.create("web", DockerOptions { volumes: vols, ..Default::default() }).await;
    let names: Vec<String> = n.engine.volumes().unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(matches!(
        n.engine.remove_volume("data", false).await,
        Err(Error::FailedPrecondition(_))
    ));
    assert_eq!(n.engine.volume_users("data"), std::slice::from_ref(&id));
    n.engine.remove_with_volumes(&id, false).await.unwrap();
    // `rm -v`: the anonymous one goes, the named one stays.
    let left: Vec<String> = n.engine.volumes().unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(left, ["data"]);
    n.engine.remove_volume("data", false).await.unwrap();
}

#[tokio::test]
async fn an_unreadable_record_is_quarantined_and_only_removed() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    let record = n.engine.paths().container_record(&id).unwrap();
    std::fs::write(&record, b"{ not json").unwrap();
    let after = n.reopen().await;
    let rec = after.engine.inspect(&id).unwrap();
    assert_eq!(rec.state.status, Status::Quarantined);
    assert!(after.engine.start(&id).await.is_err());
    assert_eq!(after.shims.launched(&id), 0);
    after.engine.remove(&id, true).await.unwrap();
    assert!(after.engine.inspect(&id).is_err());
}

/// Appends CRI log lines (`<time> <stream> F <text>`) as the shim writes them.
fn log(n: &TestNode, id: &str, lines: &[(&str, &str)]) {
    use std::io::Write;
    let rec = n.engine.inspect(id).unwrap();
    let path = n.engine.log_path(&rec).unwrap();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for (stream, text) in lines {
        writeln!(f, "2026-12-07T10:00:00.000000001Z {stream} F {text}").unwrap();
    }
}

#[tokio::test]
async fn logs_read_the_shim_s_records_from_the_tail() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    log(&n, &id, &[("stdout", "one"), ("stderr", "two"), ("stdout", "three")]);
    let mut rx = n.engine.logs(&id, false, Some(2), 0).await.unwrap();
    let mut got = Vec::new();
    while let Some(r) = rx.recv().await {
        got.push((r.stream, String::from_utf8(r.data).unwrap()));
    }
    use berth_proto::crilog::Stream;
    assert_eq!(got, [(Stream::Stderr, "two\n".into()), (Stream::Stdout, "three\n".into())]);
}

#[tokio::test]
async fn a_follower_gets_new_records_and_ends_with_the_run() {
    let n = TestNode::new().await;
    let id = n.create("web", DockerOptions::default()).await;
    n.engine.start(&id).await.unwrap();
    log(&n, &id, &[("stdout", "before")]);
    let mut rx = n.engine.logs(&id, true, None, 0).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().data, b"before\n");
    log(&n, &id, &[("stdout", "after")]);
    assert_eq!(rx.recv().await.unwrap().data, b"after\n");
    n.shims.exit(&id, 0);
    let end = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap();
    assert!(end.is_none(), "the follow ends once the run has");
}
