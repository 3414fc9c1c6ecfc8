//! Docker's execs: `POST /containers/{id}/exec` makes one, `/exec/{id}/start`
//! runs it (hijacked, or detached), `/exec/{id}/resize` sizes its terminal,
//! `/exec/{id}/json` tells how it ended (`docker exec` reads its exit code
//! there). As in dockerd, execs live in the daemon's memory only.
//!
//! A started exec is run by one task that owns the process until it exits;
//! the client's connection is only attached to it. A client that detaches
//! (the detach keys) or goes away leaves the process running, its output
//! read and dropped.

use crate::containers::find;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, DetachKeys, Input, Output};
use crate::http::{self, Body, Req};
use crate::Front;
use berth_docker_api::exec;
use berth_engine::container::events::ExecStep;
use berth_engine::container::{ExecProcess, ExecProcessOptions, ExecStreamOptions, Terminal};
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc::Receiver;

/// Finished execs are forgotten this long after they ended (dockerd keeps
/// them until its own clean-up; clients read the exit code right away).
const KEEP_FINISHED: Duration = Duration::from_secs(300);

/// Output still read after the process exited (a child may hold its streams).
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Arc<Exec>>>);

impl Execs {
    fn get(&self, id: &str) -> ApiResult<Arc<Exec>> {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }
}

pub struct Exec {
    id: String,
    container: String,
    config: exec::CreateRequest,
    keys: DetachKeys,
    state: Mutex<ExecState>,
    terminal: Mutex<Option<Arc<Terminal>>>,
}

#[derive(Debug, Default)]
struct ExecState {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    finished: Option<Instant>,
}

/// `POST /containers/{id}/exec`.
pub async fn create(front: &Front, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let c = find(&front.engine, key)?;
    let config: exec::CreateRequest = req.json().await?;
    if c.state.status != berth_engine::Status::Running {
        return Err(crate::error::not_running(&c.id));
    }
    if c.state.paused {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is paused, unpause the container before exec", c.id),
        ));
    }
    if config.cmd.is_empty() || config.cmd[0].is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    if config.privileged {
        return Err(ApiError::bad_request(
            "ExecConfig.Privileged (docker exec --privileged) is not supported by berth yet",
        ));
    }
    let keys = DetachKeys::parse(&config.detach_keys)?;
    let id = hex::encode(rand::random::<[u8; 32]>());
    front.engine.emit_exec(&c.id, ExecStep::Created, &id, &config.cmd, None);
    let exec = Arc::new(Exec {
        id: id.clone(),
        container: c.id,
        config,
        keys,
        state: Mutex::default(),
        terminal: Mutex::default(),
    });
    let mut all = front.execs.0.lock().unwrap();
    all.retain(|_, e| e.state.lock().unwrap().finished.is_none_or(|t| t.elapsed() < KEEP_FINISHED));
    all.insert(id.clone(), exec);
    Ok(http::json(StatusCode::CREATED, &berth_docker_api::IdResponse { id }))
}

/// `POST /exec/{id}/start`: hijacked unless `Detach`.
pub async fn start(front: &Front, id: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let exec = front.execs.get(id)?;
    let start: exec::StartRequest = req.json().await?;
    let cfg = &exec.config;
    let upgrade = if start.detach { None } else { Some(hijack::wanted(req.upgrade.take())?) };
    {
        let mut st = exec.state.lock().unwrap();
        if st.started {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Error: Exec command {} has already run", exec.id),
            ));
        }
        st.started = true;
        st.running = true;
    }
    let attach = !start.detach;
    let opts = ExecStreamOptions {
        args: cfg.cmd.clone(),
        tty: cfg.tty,
        stdin: attach && cfg.attach_stdin,
        stdout: attach && cfg.attach_stdout,
        stderr: attach && cfg.attach_stderr && !cfg.tty,
        process: ExecProcessOptions {
            env: cfg.env.clone().unwrap_or_default(),
            user: Some(cfg.user.clone()),
            workdir: Some(cfg.working_dir.clone()),
        },
    };
    let mut proc = match front.engine.exec_stream(&exec.container, &opts).await {
        Ok(p) => p,
        Err(e) => {
            *exec.state.lock().unwrap() = ExecState {
                started: true,
                running: false,
                exit_code: Some(126),
                finished: Some(Instant::now()),
            };
            front.engine.emit_exec(&exec.container, ExecStep::Died, &exec.id, &cfg.cmd, Some(126));
            return Err(crate::error::exec_start(e, &exec.container));
        }
    };
    if let Some(t) = proc.terminal.take() {
        let t = Arc::new(t);
        if let Some([h, w]) = start.console_size.or(cfg.console_size) {
            let _ = t.resize(w, h);
        }
        *exec.terminal.lock().unwrap() = Some(t);
    }
    front.engine.emit_exec(&exec.container, ExecStep::Started, &exec.id, &cfg.cmd, None);
    let runner = exec.clone();
    let engine = front.engine.clone();
    tokio::spawn(async move {
        let client = match upgrade {
            Some(u) => match u.await {
                Ok(conn) => {
                    let (r, w) = tokio::io::split(hyper_util::rt::TokioIo::new(conn));
                    let input =
                        hijack::read_input(r, runner.config.tty.then(|| runner.keys.clone()));
                    Some((Output::new(w, runner.config.tty), input))
                }
                Err(e) => {
                    tracing::debug!(error = %e, "exec: no upgrade");
                    None
                }
            },
            None => None,
        };
        let code = run(&runner, &mut proc, client).await;
        *runner.terminal.lock().unwrap() = None;
        *runner.state.lock().unwrap() = ExecState {
            started: true,
            running: false,
            exit_code: Some(code),
            finished: Some(Instant::now()),
        };
        engine.emit_exec(
            &runner.container,
            ExecStep::Died,
            &runner.id,
            &runner.config.cmd,
            Some(code),
        );
    });
    if start.detach {
        return Ok(http::empty(StatusCode::OK));
    }
    Ok(hijack::switching(exec.config.tty))
}

/// Runs the exec to its end, its output to the client while there is one;
/// its exit code.
async fn run<W: AsyncWrite + Unpin>(
    exec: &Exec,
    proc: &mut ExecProcess,
    client: Option<(Output<W>, Receiver<Input>)>,
) -> i32 {
    let terminal = exec.terminal.lock().unwrap().clone();
    let (mut out, mut input) = match client {
        Some((o, i)) => (Some(o), Some(i)),
        None => (None, None),
    };
    let mut stdin = proc.stdin.take();
    let mut stdout = proc.stdout.take();
    let mut stderr = proc.stderr.take();
    let (mut buf_out, mut buf_err, mut buf_term) =
        (vec![0u8; 32 << 10], vec![0u8; 32 << 10], vec![0u8; 32 << 10]);
    let mut term_open = terminal.is_some();
    let mut exit: Option<i32> = None;
    let mut drain_until = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    loop {
        if exit.is_some() && stdout.is_none() && stderr.is_none() && !term_open {
            break;
        }
        tokio::select! {
            code = proc.wait(), if exit.is_none() => {
                exit = Some(code.unwrap_or(126));
                drain_until = tokio::time::Instant::now() + DRAIN;
            }
            _ = tokio::time::sleep_until(drain_until), if exit.is_some() => break,
            n = read_opt(&mut stdout, &mut buf_out) => match n {
                0 => stdout = None,
                n => send(&mut out, 1, &buf_out[..n]).await,
            },
            n = read_opt(&mut stderr, &mut buf_err) => match n {
                0 => stderr = None,
                n => send(&mut out, 2, &buf_err[..n]).await,
            },
            n = async { terminal.as_ref().expect("open").read(&mut buf_term).await.unwrap_or(0) }, if term_open => match n {
                0 => term_open = false,
                n => send(&mut out, 1, &buf_term[..n]).await,
            },
            got = async { input.as_mut().expect("open").recv().await }, if input.is_some() => match got {
                Some(Input::Data(d)) => {
                    let ok = match (&terminal, stdin.as_mut()) {
                        (Some(t), _) => t.write_all(&d).await.is_ok(),
                        (None, Some(s)) => tokio::io::AsyncWriteExt::write_all(s, &d).await.is_ok(),
                        (None, None) => true,
                    };
                    if !ok {
                        stdin = None;
                    }
                }
                // The client's input ended: so does the command's stdin (a terminal stays).
                Some(Input::End) | None => {
                    input = None;
                    stdin = None;
                }
                // The client leaves; the command runs on.
                Some(Input::Detach) => {
                    input = None;
                    if let Some(o) = out.take() {
                        o.close().await;
                    }
                }
            },
        }
    }
    if let Some(o) = out {
        o.close().await;
    }
    exit.unwrap_or(126)
}

/// Reads from a stream that may be gone (then never ready); 0 at its end.
async fn read_opt(r: &mut Option<impl AsyncRead + Unpin>, buf: &mut [u8]) -> usize {
    match r {
        Some(r) => r.read(buf).await.unwrap_or(0),
        None => std::future::pending().await,
    }
}

/// Output to the client, while it still reads.
async fn send<W: AsyncWrite + Unpin>(out: &mut Option<Output<W>>, stream: u8, data: &[u8]) {
    if let Some(o) = out.as_mut() {
        if o.write(stream, data).await.is_err() {
            *out = None;
        }
    }
}

/// `POST /exec/{id}/resize?h&w`.
pub fn resize(front: &Front, id: &str, req: &Req) -> ApiResult<Response<Body>> {
    let exec = front.execs.get(id)?;
    let (cols, rows) = crate::attach::size(req)?;
    if let Some(t) = exec.terminal.lock().unwrap().as_ref() {
        t.resize(cols, rows).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("resize the exec's terminal: {e}"),
            )
        })?;
    }
    Ok(http::empty(StatusCode::OK))
}

/// `GET /exec/{id}/json`.
pub fn inspect(front: &Front, id: &str) -> ApiResult<Response<Body>> {
    let exec = front.execs.get(id)?;
    let st = exec.state.lock().unwrap();
    let c = &exec.config;
    let doc = exec::Inspect {
        id: exec.id.clone(),
        running: st.running,
        exit_code: st.exit_code,
        process_config: exec::ProcessConfig {
            tty: c.tty,
            entrypoint: c.cmd[0].clone(),
            arguments: c.cmd[1..].to_vec(),
            privileged: c.privileged,
            user: c.user.clone(),
        },
        open_stdin: c.attach_stdin,
        open_stderr: c.attach_stderr,
        open_stdout: c.attach_stdout,
        can_remove: false,
        container_id: exec.container.clone(),
        detach_keys: c.detach_keys.clone(),
        pid: 0,
    };
    Ok(http::json(StatusCode::OK, &doc))
}
