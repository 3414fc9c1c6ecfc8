//! Exec, Attach and PortForward: the request is checked here, and answered with a
//! one-time URL of the streaming server, where the streams then run.

use crate::Cri;
use berth_engine::model::SandboxState;
use berth_engine::model::Status as State;
use berth_proto::cri;
use tonic::Status;

fn server(c: &Cri) -> Result<&crate::streaming::Streaming, Status> {
    c.streaming
        .as_deref()
        .ok_or_else(|| Status::unavailable("berthd's streaming server is not running"))
}

pub(crate) fn exec(c: &Cri, req: cri::ExecRequest) -> Result<cri::ExecResponse, Status> {
    if req.cmd.is_empty() || req.cmd[0].is_empty() {
        return Err(Status::invalid_argument("exec needs a command"));
    }
    if !(req.stdin || req.stdout || req.stderr) {
        return Err(Status::invalid_argument("one of stdin, stdout, or stderr must be set"));
    }
    if req.tty && req.stderr {
        return Err(Status::invalid_argument(
            "tty and stderr cannot both be set: a terminal has one output",
        ));
    }
    let rec = super::container_status::cri_container(c, &req.container_id)?;
    if rec.state.status != State::Running {
        return Err(Status::failed_precondition(format!("container {} is not running", rec.id)));
    }
    let req = cri::ExecRequest { container_id: rec.id, ..req };
    Ok(cri::ExecResponse { url: server(c)?.exec_url(req)? })
}

pub(crate) fn attach(c: &Cri, req: cri::AttachRequest) -> Result<cri::AttachResponse, Status> {
    if !(req.stdin || req.stdout || req.stderr) {
        return Err(Status::invalid_argument("one of stdin, stdout, or stderr must be set"));
    }
    let rec = super::container_status::cri_container(c, &req.container_id)?;
    if rec.state.status != State::Running {
        return Err(Status::failed_precondition(format!("container {} is not running", rec.id)));
    }
    let stdio = rec.config.stdio;
    if req.stdin && !stdio.stdin {
        return Err(Status::invalid_argument(format!(
            "container {} was created without stdin",
            rec.id
        )));
    }
    if req.tty != stdio.tty {
        return Err(Status::invalid_argument(format!(
            "tty={} does not match the container's (tty={})",
            req.tty, stdio.tty
        )));
    }
    // A terminal has one output.
    let req = cri::AttachRequest { container_id: rec.id, stderr: req.stderr && !stdio.tty, ..req };
    Ok(cri::AttachResponse { url: server(c)?.attach_url(req)? })
}

pub(crate) fn port_forward(
    c: &Cri,
    req: cri::PortForwardRequest,
) -> Result<cri::PortForwardResponse, Status> {
    if let Some(p) = req.port.iter().find(|p| !(1..=65535).contains(*p)) {
        return Err(Status::invalid_argument(format!("invalid port {p}")));
    }
    let rec = c.engine.sandbox_status(&req.pod_sandbox_id)?;
    if rec.state != SandboxState::Ready {
        return Err(Status::failed_precondition(format!("pod sandbox {} is not ready", rec.id)));
    }
    let req = cri::PortForwardRequest { pod_sandbox_id: rec.id, ..req };
    Ok(cri::PortForwardResponse { url: server(c)?.port_forward_url(req)? })
}
