//! start, stop, kill, rm, ps, wait, inspect.

use super::for_each;
use crate::client::Client;
use crate::units::short_id;
use crate::Failure;
use berth_proto::engine as pb;
use tokio_stream::StreamExt;

#[derive(Debug, clap::Args)]
pub struct NamesArgs {
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
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container ids.
    #[arg(short, long)]
    quiet: bool,
    /// Filter output (id=, name=, label=, status=, exited=, ancestor=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
}

pub async fn start(c: &mut Client, a: NamesArgs) -> Result<i32, Failure> {
    for_each(&a.containers, |n| {
        let mut c = c.clone();
        async move { c.start_container(pb::ContainerRef { id: n.into() }).await.map(|_| ()).map_err(Failure::from) }
    })
    .await
}

pub async fn stop(c: &mut Client, a: StopArgs) -> Result<i32, Failure> {
    let t = a.time.unwrap_or(-1);
    let signal = a.signal.clone();
    for_each(&a.containers, |n| {
        let mut c = c.clone();
        let signal = signal.clone();
        async move {
            if let Some(s) = signal {
                // docker stop --signal: that signal first, then the usual grace and SIGKILL.
                let _ = c.kill_container(pb::KillContainerRequest { id: n.into(), signal: s }).await;
            }
            c.stop_container(pb::StopContainerRequest { id: n.into(), timeout_seconds: t }).await.map(|_| ()).map_err(Failure::from)
        }
    })
    .await
}

pub async fn kill(c: &mut Client, a: KillArgs) -> Result<i32, Failure> {
    let sig = a.signal.clone();
    for_each(&a.containers, |n| {
        let mut c = c.clone();
        let signal = sig.clone();
        async move { c.kill_container(pb::KillContainerRequest { id: n.into(), signal }).await.map(|_| ()).map_err(Failure::from) }
    })
    .await
}

pub async fn remove(c: &mut Client, a: RmArgs) -> Result<i32, Failure> {
    let force = a.force;
    for_each(&a.containers, |n| {
        let mut c = c.clone();
        async move { c.remove_container(pb::RemoveContainerRequest { id: n.into(), force }).await.map(|_| ()).map_err(Failure::from) }
    })
    .await
}

pub async fn ps(c: &mut Client, a: PsArgs) -> Result<i32, Failure> {
    let list = c.list_containers(pb::ListContainersRequest { all: a.all, filters: a.filter }).await?.into_inner().containers;
    if a.quiet {
        for s in &list {
            println!("{}", if a.no_trunc { &s.id } else { short_id(&s.id) });
        }
        return Ok(0);
    }
    println!("{:<14} {:<20} {:<24} {:<24} {:<28} NAMES", "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS");
    for s in &list {
        let mut cmd = s.command.join(" ");
        if !a.no_trunc && cmd.chars().count() > 20 {
            cmd = cmd.chars().take(19).collect::<String>() + "…";
        }
        println!(
            "{:<14} {:<20} {:<24} {:<24} {:<28} {}",
            if a.no_trunc { &s.id } else { short_id(&s.id) },
            s.image,
            format!("\"{cmd}\""),
            crate::units::ago(s.created_unix),
            s.status,
            s.name
        );
    }
    Ok(0)
}

/// Prints each exit code; exits with the last one (the container's status).
pub async fn wait(c: &mut Client, a: NamesArgs) -> Result<i32, Failure> {
    let mut last = 0;
    for n in &a.containers {
        let mut s = c.wait_container(pb::WaitRequest { id: n.clone(), condition: "not-running".into() }).await?.into_inner();
        let _registered = s.next().await;
        match s.next().await {
            Some(Ok(ev)) => {
                println!("{}", ev.exit_code);
                last = ev.exit_code;
            }
            Some(Err(st)) => return Err(st.into()),
            None => return Err(Failure { message: "Error: the daemon closed the wait".into(), code: 1 }),
        }
    }
    Ok(last)
}

/// Containers, or images (a name no container has), as Docker does.
pub async fn inspect(c: &mut Client, a: super::image_info::InspectArgs) -> Result<i32, Failure> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in &a.names {
        let json = match c.inspect_container(pb::ContainerRef { id: n.clone() }).await {
            Ok(r) => Ok(r.into_inner().json),
            Err(s) if s.code() == tonic::Code::NotFound => c.inspect_image(pb::ImageRef { name: n.clone() }).await.map(|r| r.into_inner().json).map_err(|_| s),
            Err(s) => Err(s),
        };
        match json {
            Ok(j) => out.push(serde_json::from_str::<serde_json::Value>(&j).unwrap_or_default()),
            Err(s) => {
                eprintln!("{}", Failure::from(s).message);
                code = 1;
            }
        }
    }
    super::image_info::print_docs(&out, a.format.as_deref())?;
    Ok(code)
}
