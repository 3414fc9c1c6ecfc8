//! PodSandboxStatus and ListPodSandbox.

use crate::Cri;
use berth_engine::sandbox::SandboxFilter;
use berth_proto::cri;
use tonic::Status;

pub(crate) fn pod_sandbox_status(
    c: &Cri,
    req: cri::PodSandboxStatusRequest,
) -> Result<cri::PodSandboxStatusResponse, Status> {
    let rec = c.engine.sandbox_status(&req.pod_sandbox_id)?;
    let mut info = std::collections::HashMap::new();
    if req.verbose {
        info.insert("info".to_owned(), serde_json::to_string(&rec).unwrap_or_default());
    }
    Ok(cri::PodSandboxStatusResponse {
        status: Some(super::sandbox_convert::status(&rec)),
        info,
        containers_statuses: Vec::new(),
        timestamp: 0,
    })
}

pub(crate) fn list_pod_sandbox(
    c: &Cri,
    req: cri::ListPodSandboxRequest,
) -> Result<cri::ListPodSandboxResponse, Status> {
    let f = req.filter.unwrap_or_default();
    let filter = SandboxFilter {
        id: f.id,
        state: f.state.map(|s| super::sandbox_convert::state(s.state)).transpose()?,
        labels: f.label_selector.into_iter().collect(),
    };
    let items = c.engine.list_sandboxes(&filter).iter().map(super::sandbox_convert::item).collect();
    Ok(cri::ListPodSandboxResponse { items })
}
