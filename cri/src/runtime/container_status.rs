//! ContainerStatus and ListContainers: pod containers only (the CLI's
//! containers share the engine but are not kubelet's).

use crate::Cri;
use berth_engine::model::ContainerRecord;
use berth_proto::cri;
use tonic::Status;

/// The pod container a CRI request names (the CLI's containers are not kubelet's).
pub(crate) fn cri_container(c: &Cri, id: &str) -> Result<ContainerRecord, Status> {
    Ok(c.engine.pod_container(id)?)
}

pub(crate) fn container_status(
    c: &Cri,
    req: cri::ContainerStatusRequest,
) -> Result<cri::ContainerStatusResponse, Status> {
    let rec = cri_container(c, &req.container_id)?;
    let log_path =
        rec.config.log_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let mut info = std::collections::HashMap::new();
    if req.verbose {
        let v = serde_json::json!({ "pid": rec.state.pid, "sandboxID": rec.config.pod.as_ref().map(|p| &p.sandbox_id), "config": rec.config, "state": rec.state });
        info.insert("info".to_owned(), v.to_string());
    }
    Ok(cri::ContainerStatusResponse {
        status: Some(super::container_convert::status(&rec, log_path)),
        info,
    })
}

pub(crate) fn list_containers(
    c: &Cri,
    req: cri::ListContainersRequest,
) -> Result<cri::ListContainersResponse, Status> {
    let f = req.filter.unwrap_or_default();
    let state = f.state.map(|s| super::container_convert::state(s.state)).transpose()?;
    let containers = c
        .engine
        .list(true)?
        .iter()
        .filter(|r| {
            let Some(pod) = &r.config.pod else { return false };
            (f.id.is_empty() || r.id.starts_with(&f.id))
                && (f.pod_sandbox_id.is_empty() || pod.sandbox_id.starts_with(&f.pod_sandbox_id))
                && state.is_none_or(|s| r.state.status == s)
                && f.label_selector.iter().all(|(k, v)| r.config.labels.get(k) == Some(v))
        })
        .map(super::container_convert::item)
        .collect();
    Ok(cri::ListContainersResponse { containers })
}
