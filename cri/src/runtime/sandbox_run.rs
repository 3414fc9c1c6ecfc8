//! RunPodSandbox.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) async fn run_pod_sandbox(
    c: &Cri,
    req: cri::RunPodSandboxRequest,
) -> Result<cri::RunPodSandboxResponse, Status> {
    let opts = super::sandbox_convert::options(req)?;
    let id = c.engine.run_sandbox(opts).await?;
    Ok(cri::RunPodSandboxResponse { pod_sandbox_id: id })
}
