//! GetContainerEvents (kubelet's evented PLEG): created, started, stopped
//! and deleted, for pod containers only, each with the pod's status.

use berth_e2e::cri::{container, create, pod_config, run_pod, start};
use berth_e2e::Daemon;
use berth_proto::cri;
use std::time::Duration;
use tokio_stream::StreamExt;

#[tokio::test]
async fn container_events_follow_the_lifecycle() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let mut events = rt.get_container_events(cri::GetEventsRequest {}).await.unwrap().into_inner();
    let pod = run_pod(&mut rt, pod_config(&d, "events")).await;
    // A container of the CLI's is no business of kubelet's.
    d.berth(&["run", "--rm", "busybox", "true"]).ok();
    let id = create(&mut rt, &pod, container("main", &["sh", "-c", "sleep 0.2"])).await.unwrap();
    start(&mut rt, &id).await;
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap()
    };
    let e = next().await;
    assert_eq!(
        (e.container_id.as_str(), e.container_event_type),
        (id.as_str(), cri::ContainerEventType::ContainerCreatedEvent as i32)
    );
    assert_eq!(e.pod_sandbox_status.as_ref().unwrap().id, pod);
    assert_eq!(e.containers_statuses.len(), 1);
    assert!(e.created_at > 0);
    let e = next().await;
    assert_eq!(e.container_event_type, cri::ContainerEventType::ContainerStartedEvent as i32);
    assert_eq!(e.containers_statuses[0].state, cri::ContainerState::ContainerRunning as i32);
    // It exits by itself.
    let e = next().await;
    assert_eq!(e.container_event_type, cri::ContainerEventType::ContainerStoppedEvent as i32);
    assert_eq!(e.containers_statuses[0].state, cri::ContainerState::ContainerExited as i32);
    rt.remove_container(cri::RemoveContainerRequest { container_id: id.clone() }).await.unwrap();
    let e = next().await;
    assert_eq!(
        (e.container_id.as_str(), e.container_event_type),
        (id.as_str(), cri::ContainerEventType::ContainerDeletedEvent as i32)
    );
    assert!(e.containers_statuses.is_empty());
}
