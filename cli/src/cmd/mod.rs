//! The commands, each in the module of its group.

mod containers;
mod images;
mod logs;
mod run;
mod transfer;

use crate::{client, Failure};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a rootfs tarball (FILE or - for stdin) as an image.
    Import(images::ImportArgs),
    /// List images.
    Images(images::ImagesArgs),
    /// Remove images.
    Rmi(images::RmiArgs),
    /// Pull an image from a registry.
    Pull(transfer::PullArgs),
    /// Push an image to a registry.
    Push(transfer::PushArgs),
    /// Give an image another name.
    Tag(transfer::TagArgs),
    /// Create a container.
    Create(run::CreateArgs),
    /// Create and start a container.
    Run(run::RunArgs),
    /// Start containers.
    Start(containers::NamesArgs),
    /// Stop containers (the stop signal, then SIGKILL after the grace period).
    Stop(containers::StopArgs),
    /// Send a signal to containers.
    Kill(containers::KillArgs),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// Show a container's logs.
    Logs(logs::LogsArgs),
    /// Wait for containers to stop; print their exit codes.
    Wait(containers::NamesArgs),
    /// Show containers as JSON.
    Inspect(containers::NamesArgs),
    /// Show versions.
    Version,
}

/// Runs one command; `Ok(status)` is the process exit status.
pub async fn dispatch(host: &str, cmd: Command) -> Result<i32, Failure> {
    let mut c = client::connect(host).await?;
    match cmd {
        Command::Import(a) => images::import(&mut c, a).await,
        Command::Images(a) => images::list(&mut c, a).await,
        Command::Rmi(a) => images::remove(&mut c, a).await,
        Command::Pull(a) => transfer::pull(&mut c, a).await,
        Command::Push(a) => transfer::push(&mut c, a).await,
        Command::Tag(a) => transfer::tag(&mut c, a).await,
        Command::Create(a) => run::create(&mut c, a).await,
        Command::Run(a) => run::run(&mut c, host, a).await,
        Command::Start(a) => containers::start(&mut c, a).await,
        Command::Stop(a) => containers::stop(&mut c, a).await,
        Command::Kill(a) => containers::kill(&mut c, a).await,
        Command::Rm(a) => containers::remove(&mut c, a).await,
        Command::Ps(a) => containers::ps(&mut c, a).await,
        Command::Logs(a) => logs::logs(host, a).await,
        Command::Wait(a) => containers::wait(&mut c, a).await,
        Command::Inspect(a) => containers::inspect(&mut c, a).await,
        Command::Version => {
            let v = c.version(berth_proto::engine::VersionRequest {}).await?.into_inner();
            println!("Client:\n Version:\t{}\nServer:\n Version:\t{}\n API version:\t{}\n Cgroups:\t{}", env!("CARGO_PKG_VERSION"), v.version, v.api_version, v.cgroup_setup);
            Ok(0)
        }
    }
}

/// Runs `f` for each name; the first failure is reported after trying all.
async fn for_each<'a, F, Fut>(names: &'a [String], mut f: F) -> Result<i32, Failure>
where
    F: FnMut(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let mut failed = None;
    for n in names {
        match f(n).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("{}", e.message);
                failed = Some(e.code);
            }
        }
    }
    Ok(failed.unwrap_or(0))
}
