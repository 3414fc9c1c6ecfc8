//! UpdateContainerResources: new limits on the live cgroup.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) async fn update_container_resources(c: &Cri, req: cri::UpdateContainerResourcesRequest) -> Result<cri::UpdateContainerResourcesResponse, Status> {
    let linux = req.linux.ok_or_else(|| Status::invalid_argument("linux resources are required"))?;
    let mut res = super::container_convert::resources(&linux)?;
    // Limits kubelet does not send stay as they were.
    let old = c.engine.inspect(&req.container_id)?.config.resources;
    res.pids_limit = old.pids_limit;
    c.engine.update_resources(&req.container_id, res).await?;
    Ok(cri::UpdateContainerResourcesResponse {})
}
