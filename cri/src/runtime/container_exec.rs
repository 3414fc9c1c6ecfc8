//! ExecSync: a command in a running container, with its output and exit code.

use crate::Cri;
use berth_proto::cri;
use std::time::Duration;
use tonic::Status;

pub(crate) async fn exec_sync(
    c: &Cri,
    req: cri::ExecSyncRequest,
) -> Result<cri::ExecSyncResponse, Status> {
    if req.timeout < 0 {
        return Err(Status::invalid_argument("timeout must not be negative"));
    }
    let rec = super::container_status::cri_container(c, &req.container_id)?;
    let out = c.engine.exec_sync(&rec.id, req.cmd, Duration::from_secs(req.timeout as u64)).await?;
    Ok(cri::ExecSyncResponse { stdout: out.stdout, stderr: out.stderr, exit_code: out.exit_code })
}
