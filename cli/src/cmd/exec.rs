//! exec and attach: a process in a running container, or the container's
//! own streams, over a hijacked connection (`streams.rs`).

use super::containers::path;
use crate::client::{json_body, seg, Client};
use crate::streams::{self, Ended, Resize, Streams};
use crate::Failure;
use berth_docker_api::inspect::ContainerInspect;
use berth_docker_api::{exec, IdResponse};
use hyper::Method;
use std::io::IsTerminal;

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Run in the background.
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    privileged: bool,
    /// The keys that detach from the process.
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub async fn exec(c: &Client, a: ExecArgs) -> Result<i32, Failure> {
    let detach = streams::detach_sequence(a.detach_keys.as_deref())?;
    let s = Streams { tty: a.tty, stdin: a.interactive && !a.detach };
    let body = exec::CreateRequest {
        attach_stdin: s.stdin,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        tty: a.tty,
        cmd: a.command.clone(),
        env: Some(a.env.clone()),
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        privileged: a.privileged,
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        console_size: None,
    };
    let exec_path = path(&a.container, "/exec")?;
    let created: IdResponse = c.json(Method::POST, &exec_path, Some(json_body(&body))).await?;
    let id = created.id;
    let start = format!("/exec/{}/start", seg(&id));
    let start_body =
        |detach| json_body(&exec::StartRequest { detach, tty: a.tty, console_size: None });
    if a.detach {
        c.call(Method::POST, &start, Some(start_body(true))).await?;
        return Ok(0);
    }
    let io = c.hijack(&start, Some(start_body(false))).await?;
    let ended = streams::pump(
        io,
        s,
        Some(Resize { client: c, path: format!("/exec/{}/resize", seg(&id)) }),
        &detach,
    )
    .await?;
    if ended == Ended::Detached {
        // As docker exec: the process runs on, and the CLI says why it left.
        return Err(Failure::new("read escape sequence"));
    }
    let info: exec::Inspect = c.get(&format!("/exec/{}/json", seg(&id))).await?;
    Ok(info.exit_code.unwrap_or(0))
}

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long)]
    no_stdin: bool,
    /// The keys that detach from the container.
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
}

pub async fn attach(c: &Client, a: AttachArgs) -> Result<i32, Failure> {
    let detach = streams::detach_sequence(a.detach_keys.as_deref())?;
    let info: ContainerInspect = c.get(&path(&a.container, "/json")?).await?;
    let id = info.id;
    if !info.state.running {
        return Err(Failure::new("You cannot attach to a stopped container, start it first"));
    }
    let (tty, open_stdin) = (info.config.tty, info.config.open_stdin);
    if tty && !a.no_stdin && !std::io::stdin().is_terminal() && open_stdin {
        return Err(Failure::new("the input device is not a TTY"));
    }
    let s = Streams { tty, stdin: !a.no_stdin && open_stdin };
    let wait = c
        .checked(
            Method::POST,
            &path(&id, "/wait?condition=next-exit")?,
            &[],
            crate::client::empty(),
        )
        .await?;
    let io = c
        .hijack(&super::containers::attach_path(&id, s.stdin, a.detach_keys.as_deref())?, None)
        .await?;
    match streams::pump(io, s, Some(Resize { client: c, path: path(&id, "/resize")? }), &detach)
        .await?
    {
        Ended::Detached => Ok(0),
        Ended::Output => super::containers::exit_status(c, &id, wait).await,
    }
}
