//! `POST /containers/{id}/attach` (hijacked) and `/resize`. `docker run`
//! attaches before it starts the container: the attachment is announced to
//! the engine at once ([`berth_engine::container::AttachTicket`]), so the
//! start holds the container's output until the attachment is connected
//! and nothing the command printed is lost. Input that comes before the
//! container runs waits for it.

use crate::containers::find;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, DetachKeys, Input, Output};
use crate::http::{self, Body, Req};
use berth_engine::container::{AttachEvent, AttachTicket};
use berth_engine::Engine;
use hyper::{Response, StatusCode};

#[derive(Debug, Clone, Copy)]
struct Want {
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

/// `?stream&stdin&stdout&stderr&logs&detachKeys`.
pub async fn attach(engine: &Engine, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let upgrade = hijack::wanted(req.upgrade.take())?;
    let stdio = c.config.stdio;
    let want = Want {
        stdin: req.flag("stdin") && stdio.stdin,
        stdout: req.flag("stdout"),
        stderr: req.flag("stderr"),
    };
    let keys = DetachKeys::parse(req.query("detachKeys").unwrap_or(""))?;
    let logs =
        if req.flag("logs") { Some(engine.logs(&c.id, false, None, 0).await?) } else { None };
    let ticket = if req.flag("stream") { Some(engine.attach_next_start(&c.id)?) } else { None };
    let tty = stdio.tty;
    tokio::spawn(async move {
        let conn = match upgrade.await {
            Ok(u) => hyper_util::rt::TokioIo::new(u),
            Err(e) => return tracing::debug!(error = %e, "attach: no upgrade"),
        };
        let (r, w) = tokio::io::split(conn);
        let mut out = Output::new(w, tty);
        if let Some(mut logs) = logs {
            while let Some(rec) = logs.recv().await {
                let n = if rec.stream == berth_proto::crilog::Stream::Stderr { 2 } else { 1 };
                if (n == 1 && want.stdout || n == 2 && want.stderr)
                    && out.write(n, &rec.data).await.is_err()
                {
                    return;
                }
            }
        }
        if let Some(t) = ticket {
            // Without stdin the client's side is only watched for detach keys (with a terminal).
            let input = hijack::read_input(r, tty.then_some(keys));
            session(t, want, &mut out, input).await;
        }
        out.close().await;
    });
    Ok(hijack::switching(tty))
}

async fn session<W: tokio::io::AsyncWrite + Unpin>(
    ticket: AttachTicket,
    want: Want,
    out: &mut Output<W>,
    mut input: tokio::sync::mpsc::Receiver<Input>,
) {
    let (mut output, mut stdin, _) = match ticket.attach().await {
        Ok(a) => a,
        Err(e) => return tracing::debug!(error = %e, "attach"),
    };
    let mut input_open = true;
    loop {
        tokio::select! {
            ev = output.next() => match ev {
                Ok(Some(AttachEvent::Output(n, data))) => {
                    if (n == 1 && want.stdout || n == 2 && want.stderr) && out.write(n, &data).await.is_err() {
                        return;
                    }
                }
                Ok(Some(AttachEvent::Exit(_))) | Ok(None) | Err(_) => return,
            },
            got = input.recv(), if input_open => match got {
                Some(Input::Data(d)) if want.stdin => {
                    if stdin.write(&d).await.is_err() {
                        input_open = false;
                    }
                }
                Some(Input::Data(_)) => {}
                Some(Input::End) | None => {
                    input_open = false;
                    if want.stdin {
                        let _ = stdin.close_stdin().await;
                    }
                }
                // Detached: the container runs on, its stdin open.
                Some(Input::Detach) => return,
            },
        }
    }
}

/// `?h&w` of a resize.
pub(crate) fn size(req: &Req) -> ApiResult<(u16, u16)> {
    let dim = |k: &str| {
        req.query(k).unwrap_or("0").parse::<u16>().map_err(|_| {
            ApiError::bad_request(format!("invalid {k}: {:?}", req.query(k).unwrap_or("")))
        })
    };
    Ok((dim("w")?, dim("h")?))
}

/// `POST /containers/{id}/resize?h&w`: the container's terminal.
pub async fn resize(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let (cols, rows) = size(req)?;
    if c.state.status != berth_engine::Status::Running {
        return Err(crate::error::not_running(&c.id));
    }
    engine.resize_terminal(&c.id, cols, rows).await?;
    Ok(http::empty(StatusCode::OK))
}
