//! exec and attach: a process in a running container, or the container's
//! own streams, over a hijacked connection (`streams.rs`).

use super::containers::path;
use crate::client::{seg, Client};
use crate::streams::{self, Ended, Resize, Streams};
use crate::Failure;
use hyper::Method;
use serde_json::json;
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
    let body = json!({
        "AttachStdin": s.stdin,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Cmd": a.command,
        "Env": a.env,
        "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
    });
    let created = c.json(Method::POST, &path(&a.container, "/exec")?, Some(&body)).await?;
    let id = created["Id"].as_str().unwrap_or_default().to_owned();
    let start = format!("/exec/{}/start", seg(&id));
    if a.detach {
        c.json(Method::POST, &start, Some(&json!({ "Detach": true, "Tty": a.tty }))).await?;
        return Ok(0);
    }
    let io = c.hijack(&start, Some(&json!({ "Detach": false, "Tty": a.tty }))).await?;
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
    let info = c.get(&format!("/exec/{}/json", seg(&id))).await?;
    Ok(info["ExitCode"].as_i64().unwrap_or(0) as i32)
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
    let info = c.get(&path(&a.container, "/json")?).await?;
    let id = info["Id"].as_str().unwrap_or(&a.container).to_owned();
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(Failure::new("You cannot attach to a stopped container, start it first"));
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    if tty
        && !a.no_stdin
        && !std::io::stdin().is_terminal()
        && info["Config"]["OpenStdin"].as_bool().unwrap_or(false)
    {
        return Err(Failure::new("the input device is not a TTY"));
    }
    let s = Streams {
        tty,
        stdin: !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false),
    };
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
