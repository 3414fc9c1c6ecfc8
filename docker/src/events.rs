//! `GET /events`: Docker's event stream for the Docker front's containers
//! (create, start, die with its exit code, destroy), one JSON object per
//! event, filtered by `container` (id or name), `event`, `image`, `label`
//! and `type`; `since` replays what the journal still holds (the last
//! [`KEPT`], as dockerd keeps the last 256 in memory) and `until` ends
//! the stream. The journal follows the engine's events from the start.

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::system;
use berth_engine::container::events::{ContainerEvent, EventKind, ExecStep};
use berth_engine::Engine;
use hyper::Response;
use std::collections::BTreeMap;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Events kept for `since`.
pub const KEPT: usize = 256;

/// One Docker event and when it happened (Unix nanoseconds).
#[derive(Debug, Clone)]
pub struct Event {
    at: i64,
    doc: system::Event,
}

/// The recent events, and the live ones.
pub struct Journal {
    kept: Mutex<VecDeque<Event>>,
    live: broadcast::Sender<Event>,
}

impl Journal {
    /// Starts following the engine's events.
    pub fn follow(engine: &Engine) -> std::sync::Arc<Self> {
        let j = std::sync::Arc::new(Journal {
            kept: Mutex::new(VecDeque::with_capacity(KEPT)),
            live: broadcast::channel(KEPT).0,
        });
        let mut rx = engine.subscribe_events();
        let journal = std::sync::Arc::downgrade(&j);
        tokio::spawn(async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(j) = journal.upgrade() else { return };
                // Pods' containers are the CRI's.
                if ev.sandbox_id.is_some() {
                    continue;
                }
                let e = Event { at: ev.at, doc: docker_event(&ev) };
                {
                    let mut kept = j.kept.lock().unwrap();
                    if kept.len() == KEPT {
                        kept.pop_front();
                    }
                    kept.push_back(e.clone());
                }
                let _ = j.live.send(e);
            }
        });
        j
    }
}

fn docker_event(ev: &ContainerEvent) -> system::Event {
    let action = match ev.kind {
        EventKind::Created => "create".to_owned(),
        EventKind::Started => "start".to_owned(),
        EventKind::Stopped => "die".to_owned(),
        EventKind::Deleted => "destroy".to_owned(),
        EventKind::Health(s) => format!("health_status: {}", s.as_str()),
        EventKind::Killed(_) => "kill".to_owned(),
        EventKind::StoppedOnPurpose => "stop".to_owned(),
        EventKind::Restarted => "restart".to_owned(),
        EventKind::Paused => "pause".to_owned(),
        EventKind::Unpaused => "unpause".to_owned(),
        EventKind::Renamed => "rename".to_owned(),
        EventKind::OomKilled => "oom".to_owned(),
        EventKind::Updated => "update".to_owned(),
        EventKind::Committed => "commit".to_owned(),
        EventKind::Exported => "export".to_owned(),
        EventKind::ArchiveRead => "archive-path".to_owned(),
        EventKind::ArchiveWritten => "extract-to-dir".to_owned(),
        EventKind::Exec(step) => {
            let command = ev.exec.as_ref().map(|(_, c)| c.as_str()).unwrap_or_default();
            match step {
                ExecStep::Created => format!("exec_create: {command}"),
                ExecStep::Started => format!("exec_start: {command}"),
                ExecStep::Died => "exec_die".to_owned(),
            }
        }
    };
    let mut attrs: BTreeMap<String, String> = ev.labels.clone().into_iter().collect();
    attrs.insert("image".into(), ev.image.clone());
    attrs.insert("name".into(), ev.name.clone());
    match ev.kind {
        EventKind::Stopped => drop(attrs.insert("exitCode".into(), ev.exit_code.to_string())),
        EventKind::Killed(signal) => drop(attrs.insert("signal".into(), signal.to_string())),
        EventKind::Renamed => {
            drop(attrs.insert(
                "oldName".into(),
                format!("/{}", ev.old_name.as_deref().unwrap_or_default()),
            ))
        }
        _ => {}
    }
    if let (EventKind::Exec(step), Some((id, _))) = (ev.kind, &ev.exec) {
        attrs.insert("execID".into(), id.clone());
        if step == ExecStep::Died {
            attrs.insert("exitCode".into(), ev.exit_code.to_string());
        }
    }
    system::Event {
        status: action.clone(),
        id: ev.id.clone(),
        from: ev.image.clone(),
        kind: "container".into(),
        action,
        actor: system::Actor { id: ev.id.clone(), attributes: attrs },
        scope: "local".into(),
        time: ev.at / 1_000_000_000,
        time_nano: ev.at,
    }
}

fn matches(doc: &system::Event, filters: &HashMap<String, Vec<String>>) -> bool {
    let attrs = &doc.actor.attributes;
    let attr = |k: &str| attrs.get(k).cloned().unwrap_or_default();
    let id = doc.id.as_str();
    let label = |w: &str| match w.split_once('=') {
        Some((k, v)) => attr(k) == v,
        None => attrs.contains_key(w),
    };
    filters.iter().all(|(key, wanted)| {
        // As dockerd: every label, one of the values of any other key.
        if key == "label" {
            return wanted.iter().all(|w| label(w));
        }
        wanted.is_empty()
            || wanted.iter().any(|w| match key.as_str() {
                "type" => w == "container",
                "container" => id.starts_with(w.as_str()) || attr("name") == *w,
                // `health_status` matches each of `health_status: <status>`, as dockerd.
                "event" => {
                    let a = doc.action.as_str();
                    a == w || a.split_once(':').is_some_and(|(k, _)| k == w)
                }
                "image" => attr("image") == *w,
                // Networks, volumes, images, daemons: none of theirs are told yet.
                _ => false,
            })
    })
}

pub fn events(front: &crate::Front, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    for key in filters.keys() {
        if ![
            "type",
            "container",
            "event",
            "image",
            "label",
            "network",
            "volume",
            "daemon",
            "plugin",
            "node",
            "service",
            "secret",
            "config",
            "scope",
        ]
        .contains(&key.as_str())
        {
            return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
        }
    }
    // Unix seconds (with a fraction) or RFC 3339.
    let (since, until) = (
        crate::containers::time_param(req, "since")?,
        crate::containers::time_param(req, "until")?,
    );
    let now = berth_proto::time::unix_nanos(std::time::SystemTime::now());
    let mut live = front.journal.live.subscribe();
    let past: Vec<Event> = match since {
        Some(t) => front
            .journal
            .kept
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.at >= t && until.is_none_or(|u| e.at <= u))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let line = |e: &Event| {
            let mut b = serde_json::to_vec(&e.doc).unwrap_or_default();
            b.push(b'\n');
            bytes::Bytes::from(b)
        };
        for e in past.iter().filter(|e| matches(&e.doc, &filters)) {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        // An `until` in the past: only what was kept.
        let end = until.map(|u| {
            tokio::time::Instant::now()
                + std::time::Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        loop {
            let next = async {
                match end {
                    Some(t) => tokio::time::timeout_at(t, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            tokio::select! {
                got = next => match got {
                    None | Some(Err(broadcast::error::RecvError::Closed)) => return,
                    Some(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                    Some(Ok(e)) => {
                        if until.is_some_and(|u| e.at > u) {
                            return;
                        }
                        if matches(&e.doc, &filters) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(http::stream("application/json", rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> system::Event {
        docker_event(&ContainerEvent {
            id: "abc123".into(),
            sandbox_id: None,
            kind,
            at: 1_700_000_000_500_000_000,
            name: "web".into(),
            image: "busybox".into(),
            labels: [("tier".to_string(), "front".to_string())].into(),
            exit_code: 3,
            old_name: Some("old".into()),
            exec: Some(("e1".into(), "sh -c true".into())),
        })
    }

    #[test]
    fn docker_shapes_and_filters() {
        let die = ev(EventKind::Stopped);
        let attr = |e: &system::Event, k: &str| e.actor.attributes.get(k).cloned();
        assert_eq!(
            (die.action.as_str(), die.time, attr(&die, "exitCode")),
            ("die", 1_700_000_000, Some("3".into()))
        );
        let f = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect::<HashMap<_, _>>()
        };
        assert!(matches(
            &die,
            &f(&[
                ("container", "web"),
                ("event", "die"),
                ("label", "tier=front"),
                ("type", "container")
            ])
        ));
        assert!(matches(&die, &f(&[("container", "abc")])));
        assert!(!matches(&die, &f(&[("event", "start")])));
        assert!(!matches(&die, &f(&[("type", "network")])));
        let kill = ev(EventKind::Killed(15));
        assert_eq!((kill.action.as_str(), attr(&kill, "signal")), ("kill", Some("15".into())));
        assert_eq!(attr(&ev(EventKind::Renamed), "oldName"), Some("/old".into()));
        assert_eq!(ev(EventKind::ArchiveRead).action, "archive-path");
        let died = ev(EventKind::Exec(ExecStep::Died));
        assert_eq!(
            (died.action.as_str(), attr(&died, "execID"), attr(&died, "exitCode")),
            ("exec_die", Some("e1".into()), Some("3".into()))
        );
        assert_eq!(ev(EventKind::Exec(ExecStep::Started)).action, "exec_start: sh -c true");
        assert!(!matches(&ev(EventKind::Created), &f(&[("label", "tier=back")])));
        let both = |a: &str, b: &str| {
            [("label".to_string(), vec![a.to_string(), b.to_string()])]
                .into_iter()
                .collect::<HashMap<_, _>>()
        };
        assert!(matches(&die, &both("tier=front", "tier")), "every label");
        assert!(!matches(&die, &both("tier=front", "tier=back")), "every label, not one");
    }
}
