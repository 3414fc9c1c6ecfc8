//! UpdateContainerResources: new limits on the live cgroup.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) async fn update_container_resources(
    c: &Cri,
    req: cri::UpdateContainerResourcesRequest,
) -> Result<cri::UpdateContainerResourcesResponse, Status> {
    let linux =
        req.linux.ok_or_else(|| Status::invalid_argument("linux resources are required"))?;
    let mut res = super::container_convert::resources(&linux)?;
    // Limits kubelet does not send stay as they were.
    let rec = super::container_status::cri_container(c, &req.container_id)?;
    res.pids_limit = rec.config.resources.pids_limit;
    c.engine.update_resources(&rec.id, res).await?;
    Ok(cri::UpdateContainerResourcesResponse {})
}
