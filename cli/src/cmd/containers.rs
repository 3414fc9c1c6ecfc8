//! start, stop, restart, kill, rm, wait, rename, pause, unpause and
//! container prune: one request per container, Docker's messages.

use super::{confirm, for_each};
use crate::client::{seg, Client};
use crate::streams::{self, Resize, Streams};
use crate::units::human_size;
use crate::Failure;
use berth_docker_api::container::{PruneResponse, WaitResponse};
use berth_docker_api::inspect::ContainerInspect;
use hyper::body::Incoming;
use hyper::{Method, Response};

#[derive(Debug, clap::Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach stdout/stderr and forward signals.
    #[arg(short, long)]
    attach: bool,
    /// Attach the container's stdin.
    #[arg(short, long)]
    interactive: bool,
    /// The keys that detach from the container.
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time")]
    time: Option<i64>,
    /// Signal to send instead of the container's stop signal.
    #[arg(short, long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short, long)]
    force: bool,
    /// Remove the container's anonymous volumes.
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Don't ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// `/containers/{name}…`; an empty name is no container's.
pub(crate) fn path(name: &str, rest: &str) -> Result<String, Failure> {
    if name.is_empty() {
        return Err(Failure::new("Error response from daemon: No such container: "));
    }
    Ok(format!("/containers/{}{rest}", seg(name)))
}

/// `/containers/{id}/attach`: its output streams, stdin if asked, and the
/// detach keys if given (the daemon acts on them).
pub(crate) fn attach_path(
    id: &str,
    stdin: bool,
    detach_keys: Option<&str>,
) -> Result<String, Failure> {
    let mut q =
        vec![("stream", "1".to_owned()), ("stdout", "1".to_owned()), ("stderr", "1".to_owned())];
    if stdin {
        q.push(("stdin", "1".to_owned()));
    }
    if let Some(k) = detach_keys {
        q.push(("detachKeys", k.to_owned()));
    }
    Ok(format!("{}?{}", path(id, "/attach")?, crate::client::query(q)))
}

/// One POST per container; Docker prints each name that worked.
async fn post_each(c: &Client, names: &[String], rest: &str) -> Result<i32, Failure> {
    for_each(names, |n| async move {
        c.post(&path(n, rest)?).await?;
        Ok(())
    })
    .await
}

pub async fn start(c: &Client, a: StartArgs) -> Result<i32, Failure> {
    if !a.attach && !a.interactive {
        return post_each(c, &a.containers, "/start").await;
    }
    let [name] = a.containers.as_slice() else {
        return Err(Failure::new("Error: you cannot start and attach multiple containers at once"));
    };
    let info: ContainerInspect = c.get(&path(name, "/json")?).await?;
    let id = info.id;
    let s = Streams { tty: info.config.tty, stdin: a.interactive && info.config.open_stdin };
    let detach = streams::detach_sequence(a.detach_keys.as_deref())?;
    let io = c.hijack(&attach_path(&id, s.stdin, a.detach_keys.as_deref())?, None).await?;
    let wait = c
        .checked(
            Method::POST,
            &path(&id, "/wait?condition=next-exit")?,
            &[],
            crate::client::empty(),
        )
        .await?;
    c.post(&path(&id, "/start")?).await?;
    match streams::pump(io, s, Some(Resize { client: c, path: path(&id, "/resize")? }), &detach)
        .await?
    {
        streams::Ended::Detached => Ok(0),
        streams::Ended::Output => exit_status(c, &id, wait).await,
    }
}

/// The exit status a wait answers with (its body comes when the container
/// stops); if the daemon went away meanwhile, asked again once it is back.
pub(crate) async fn exit_status(
    c: &Client,
    id: &str,
    wait: Response<Incoming>,
) -> Result<i32, Failure> {
    let mut body = wait.into_body();
    let mut text = Vec::new();
    let mut broke = false;
    loop {
        match crate::client::next_chunk(&mut body).await {
            Ok(Some(b)) => text.extend_from_slice(&b),
            Ok(None) => break,
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    if let (false, Ok(v)) = (broke, serde_json::from_slice::<WaitResponse>(&text)) {
        return Ok(v.status_code as i32);
    }
    // The daemon restarted mid-run: the container may run on; wait again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let wait = path(id, "/wait?condition=not-running")?;
        if let Ok(v) = c.json::<WaitResponse>(Method::POST, &wait, None).await {
            return Ok(v.status_code as i32);
        }
    }
    Err(Failure { message: "Error: lost the daemon while waiting".into(), code: 125 })
}

fn stop_query(time: Option<i64>, signal: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(t) = time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = signal {
        q.push(("signal", s.to_owned()));
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", crate::client::query(q))
    }
}

pub async fn stop(c: &Client, a: StopArgs) -> Result<i32, Failure> {
    post_each(c, &a.containers, &format!("/stop{}", stop_query(a.time, a.signal.as_deref()))).await
}

pub async fn restart(c: &Client, a: StopArgs) -> Result<i32, Failure> {
    post_each(c, &a.containers, &format!("/restart{}", stop_query(a.time, a.signal.as_deref())))
        .await
}

pub async fn kill(c: &Client, a: KillArgs) -> Result<i32, Failure> {
    post_each(
        c,
        &a.containers,
        &format!("/kill?{}", crate::client::query([("signal", a.signal.clone())])),
    )
    .await
}

pub async fn pause(c: &Client, a: NamesArgs, verb: &str) -> Result<i32, Failure> {
    post_each(c, &a.containers, &format!("/{verb}")).await
}

pub async fn remove(c: &Client, a: RmArgs) -> Result<i32, Failure> {
    let q = format!("?force={}&v={}", u8::from(a.force), u8::from(a.volumes));
    for_each(&a.containers, |n| {
        let q = q.clone();
        async move {
            c.call(Method::DELETE, &path(n, &q)?, None).await?;
            Ok(())
        }
    })
    .await
}

/// Prints each exit code; exits with the last one (the container's status).
pub async fn wait(c: &Client, a: NamesArgs) -> Result<i32, Failure> {
    let mut last = 0;
    let mut failed = false;
    for n in &a.containers {
        let wait = path(n, "/wait?condition=not-running")?;
        match c.json::<WaitResponse>(Method::POST, &wait, None).await {
            Ok(v) => {
                last = v.status_code as i32;
                println!("{last}");
            }
            Err(e) => {
                eprintln!("{}", Failure::from(e).message);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { last })
}

pub async fn rename(c: &Client, a: RenameArgs) -> Result<i32, Failure> {
    if a.new_name.is_empty() {
        return Err(Failure::new("Error: Neither old nor new names may be empty"));
    }
    c.post(&path(
        &a.container,
        &format!("/rename?{}", crate::client::query([("name", a.new_name.clone())])),
    )?)
    .await?;
    Ok(0)
}

pub async fn prune(c: &Client, a: PruneArgs) -> Result<i32, Failure> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let v: PruneResponse = c.json(Method::POST, "/containers/prune", None).await?;
    let deleted = v.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        deleted.iter().for_each(|d| println!("{d}"));
        println!();
    }
    println!("Total reclaimed space: {}", human_size(v.space_reclaimed));
    Ok(0)
}
