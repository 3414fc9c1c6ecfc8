//! GetContainerEvents (kubelet's evented PLEG): the engine's lifecycle
//! events of pod containers, each with its pod's status and the statuses of
//! the pod's containers at that moment. A client that fell behind gets
//! `ABORTED` and the stream ends: kubelet then relists and subscribes again.

use crate::Cri;
use berth_engine::container::events::{ContainerEvent, EventKind};
use berth_proto::cri;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use tonic::Status;

pub(crate) type EventStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<cri::ContainerEventResponse, Status>> + Send>,
>;

/// The CRI's name for an event; `None`: not one kubelet hears of.
fn kind(k: EventKind) -> Option<cri::ContainerEventType> {
    Some(match k {
        EventKind::Created => cri::ContainerEventType::ContainerCreatedEvent,
        EventKind::Started => cri::ContainerEventType::ContainerStartedEvent,
        EventKind::Stopped => cri::ContainerEventType::ContainerStoppedEvent,
        EventKind::Deleted => cri::ContainerEventType::ContainerDeletedEvent,
        // Docker's events besides the lifecycle: not the CRI's.
        _ => return None,
    })
}

fn response(
    c: &Cri,
    e: ContainerEvent,
    sandbox_id: String,
    kind: cri::ContainerEventType,
) -> cri::ContainerEventResponse {
    let pod_sandbox_status =
        c.engine.sandbox_status(&sandbox_id).ok().map(|s| super::sandbox_convert::status(&s));
    let containers_statuses = c
        .engine
        .pod_containers(&sandbox_id)
        .iter()
        .filter_map(|id| c.engine.inspect(id).ok())
        .map(|r| {
            let log_path =
                r.config.log_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            super::container_convert::status(&r, log_path)
        })
        .collect();
    cri::ContainerEventResponse {
        container_id: e.id,
        container_event_type: kind as i32,
        created_at: e.at,
        pod_sandbox_status,
        containers_statuses,
    }
}

pub(crate) fn get_container_events(c: &Cri) -> EventStream {
    let c = c.clone();
    let events = BroadcastStream::new(c.engine.subscribe_events());
    let mut ended = false;
    Box::pin(
        events
            .filter_map(move |e| match e {
                Ok(e) => match (e.sandbox_id.clone(), kind(e.kind)) {
                    (Some(s), Some(k)) => Some(Ok(response(&c, e, s, k))),
                    _ => None,
                },
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                    Some(Err(Status::aborted(format!("{n} container events were missed: relist"))))
                }
            })
            // The Aborted is the last message.
            .map_while(move |r| {
                if ended {
                    return None;
                }
                ended = r.is_err();
                Some(r)
            }),
    )
}
