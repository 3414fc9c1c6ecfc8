//! Upgrades: containers whose shims a previous berth started keep running
//! under the new berthd, which keeps talking to them in their protocol.
//! The previous shims are this build's shim speaking protocol 1
//! (`BERTH_SHIM_PROTOCOL=1`): they answer and report exactly as the shims
//! of protocol 1 did.

use berth_e2e::cri::{container, create, exec, pod_config, run_pod, start, status, wait_state};
use berth_e2e::Daemon;
use berth_proto::cri;

fn shim_protocol(d: &Daemon, id: &str) -> u64 {
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.root().join("containers").join(id).join("container.json")).unwrap(),
    )
    .unwrap();
    rec["state"]["shim_protocol"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn shims_of_the_previous_protocol_are_adopted_and_served() {
    let mut d = Daemon::start();
    // "The previous berth": its shims speak protocol 1.
    d.env = vec![("BERTH_SHIM_PROTOCOL".into(), "1".into())];
    d.restart();
    let (mut rt, _img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "upgrade")).await;
    let old = create(&mut rt, &pod, container("old", &["sh", "-c", "echo before; sleep 1000"]))
        .await
        .unwrap();
    start(&mut rt, &old).await;
    assert_eq!(
        shim_protocol(&d, &old),
        1,
        "a protocol 1 shim doesn't say its protocol: 1 is recorded"
    );
    let (started, shims) = (status(&mut rt, &old).await.started_at, d.shim_pids());
    drop(rt);

    // The upgrade: the new berthd, same dirs, the container untouched.
    d.env.clear();
    d.restart();
    let (mut rt, _img) = d.cri().await;
    let st = status(&mut rt, &old).await;
    assert_eq!(st.state(), cri::ContainerState::ContainerRunning, "{}", d.log());
    assert_eq!((st.started_at, d.shim_pids()), (started, shims), "the same run, the same shim");
    assert_eq!(shim_protocol(&d, &old), 1);
    // Everything the CRI does with a container still works with its shim.
    let r = exec(&mut rt, &old, &["echo", "still here"]).await;
    assert_eq!(
        (r.exit_code, String::from_utf8_lossy(&r.stdout).into_owned()),
        (0, "still here\n".into())
    );
    rt.reopen_container_log(cri::ReopenContainerLogRequest { container_id: old.clone() })
        .await
        .unwrap();
    // A new container gets a shim of this build's protocol.
    let new = create(&mut rt, &pod, container("new", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &new).await;
    assert_eq!(shim_protocol(&d, &new), u64::from(berth_proto::shim::PROTOCOL));
    for id in [&old, &new] {
        rt.stop_container(cri::StopContainerRequest { container_id: id.clone(), timeout: 0 })
            .await
            .unwrap();
        let st = wait_state(&mut rt, id, cri::ContainerState::ContainerExited).await;
        assert_eq!(st.exit_code, 137, "killed by SIGKILL");
    }
    let log = std::fs::read_to_string(status(&mut rt, &old).await.log_path).unwrap();
    assert!(log.contains("stdout F before"), "{log}");
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
    assert!(d.shim_pids().is_empty(), "no shim left");
}
