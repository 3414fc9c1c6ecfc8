//! CreateContainer: the request is converted once, then the engine creates
//! the container in the pod (its namespaces, cgroup parent and log directory).

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) async fn create_container(
    c: &Cri,
    req: cri::CreateContainerRequest,
) -> Result<cri::CreateContainerResponse, Status> {
    let sandbox = c.engine.sandbox_status(&req.pod_sandbox_id)?;
    let opts = super::container_convert::options(req, &sandbox)?;
    let id = c.engine.create(opts).await?;
    Ok(cri::CreateContainerResponse { container_id: id })
}
