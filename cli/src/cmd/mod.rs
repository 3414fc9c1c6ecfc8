//! The commands, each in the module of its group. All of them are calls
//! to berthd's Docker Engine API (`client.rs`).

mod archive;
mod build;
mod build_context;
mod build_progress;
mod build_session;
mod changes;
mod containers;
mod cp;
mod exec;
mod images;
mod inspect;
mod login;
mod logs;
mod network;
mod observe;
mod ports;
mod ps;
mod run;
mod system;
mod transfer;
mod update;
mod volume;

use crate::client::Client;
use crate::Failure;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a container.
    Run(run::RunArgs),
    /// Create a container.
    Create(run::CreateArgs),
    /// Start containers (-a to attach, -i for its stdin).
    Start(containers::StartArgs),
    /// Stop containers (the stop signal, then SIGKILL after the grace period).
    Stop(containers::StopArgs),
    /// Restart containers.
    Restart(containers::StopArgs),
    /// Send a signal to containers.
    Kill(containers::KillArgs),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Show a container's logs.
    Logs(logs::LogsArgs),
    /// Wait for containers to stop; print their exit codes.
    Wait(containers::NamesArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// Attach to a running container's streams.
    Attach(exec::AttachArgs),
    /// Show a container's processes.
    Top(observe::TopArgs),
    /// Show containers' resource use.
    Stats(observe::StatsArgs),
    /// Stream the engine's events.
    Events(observe::EventsArgs),
    /// Freeze containers' processes.
    Pause(containers::NamesArgs),
    /// Thaw containers' processes.
    Unpause(containers::NamesArgs),
    /// Rename a container.
    Rename(containers::RenameArgs),
    /// Copy files between a container and the host (or a tar stream).
    Cp(cp::CpArgs),
    /// Show what a container changed in its filesystem.
    Diff(changes::DiffArgs),
    /// Write a container's filesystem as a tar archive.
    Export(changes::ExportArgs),
    /// Make a new image of a container's changes.
    Commit(changes::CommitArgs),
    /// Change containers' resources.
    Update(update::UpdateArgs),
    /// Show containers or images as JSON.
    Inspect(inspect::InspectArgs),
    /// Show a container's published ports.
    Port(ports::PortArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// List images.
    Images(images::ImagesArgs),
    /// Pull an image from a registry.
    Pull(transfer::PullArgs),
    /// Push an image to a registry.
    Push(transfer::PushArgs),
    /// Give an image another name.
    Tag(images::TagArgs),
    /// Remove images.
    Rmi(images::RmiArgs),
    /// Write images to a tar archive (Docker format, also an OCI layout).
    Save(archive::SaveArgs),
    /// Load images from a tar archive (Docker format or OCI layout).
    Load(archive::LoadArgs),
    /// Build an image from a Dockerfile.
    Build(Box<build::BuildArgs>),
    /// Import a rootfs tarball (FILE or - for stdin) as an image.
    Import(images::ImportArgs),
    /// Show how an image was built.
    History(images::HistoryArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Log in to a registry (credentials kept in config.json).
    Login(login::LoginArgs),
    /// Log out from a registry.
    Logout(login::LogoutArgs),
    /// Show versions.
    Version,
    /// Show the engine's system-wide information.
    Info,
    /// Manage the engine.
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCommand),
}

/// `berth container <verb>`: Docker's management commands for containers.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(alias = "list")]
    Ls(ps::PsArgs),
    /// Show containers as JSON.
    Inspect(inspect::InspectArgs),
    /// Remove every stopped container.
    Prune(containers::PruneArgs),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// Copy files between a container and the host.
    Cp(cp::CpArgs),
    /// Show what a container changed in its filesystem.
    Diff(changes::DiffArgs),
    /// Write a container's filesystem as a tar archive.
    Export(changes::ExportArgs),
    /// Make a new image of a container's changes.
    Commit(changes::CommitArgs),
}

/// `berth image <verb>`: Docker's management commands for images.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show images as JSON.
    Inspect(inspect::InspectArgs),
    /// Remove unused images.
    Prune(images::PruneArgs),
    /// Show how an image was built.
    History(images::HistoryArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove images.
    Rm(images::RmiArgs),
    /// Pull an image from a registry.
    Pull(transfer::PullArgs),
    /// Push an image to a registry.
    Push(transfer::PushArgs),
    /// Give an image another name.
    Tag(images::TagArgs),
    /// Write images to a tar archive.
    Save(archive::SaveArgs),
    /// Load images from a tar archive.
    Load(archive::LoadArgs),
    /// Build an image from a Dockerfile.
    Build(Box<build::BuildArgs>),
    /// Import a rootfs tarball as an image.
    Import(images::ImportArgs),
}

/// `berth system <verb>`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage.
    Df,
    /// Show the engine's system-wide information.
    Info,
}

/// Runs one command; `Ok(status)` is the process exit status.
pub async fn dispatch(host: &str, cmd: Command) -> Result<i32, Failure> {
    use inspect::Kind;
    if let Command::Logout(a) = cmd {
        return login::logout(a);
    }
    let c = &Client::new(host)?;
    match cmd {
        Command::Logout(_) => unreachable!("handled above"),
        Command::Run(a) => run::run(c, a).await,
        Command::Create(a) => run::create(c, a).await,
        Command::Start(a) => containers::start(c, a).await,
        Command::Stop(a) => containers::stop(c, a).await,
        Command::Restart(a) => containers::restart(c, a).await,
        Command::Kill(a) => containers::kill(c, a).await,
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => {
            containers::remove(c, a).await
        }
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => ps::ps(c, a).await,
        Command::Logs(a) => logs::logs(c, a).await,
        Command::Wait(a) => containers::wait(c, a).await,
        Command::Exec(a) => exec::exec(c, a).await,
        Command::Attach(a) => exec::attach(c, a).await,
        Command::Top(a) => observe::top(c, a).await,
        Command::Stats(a) => observe::stats(c, a).await,
        Command::Events(a) => observe::events(c, a).await,
        Command::Pause(a) => containers::pause(c, a, "pause").await,
        Command::Unpause(a) => containers::pause(c, a, "unpause").await,
        Command::Rename(a) => containers::rename(c, a).await,
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => cp::run(c, a).await,
        Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => {
            changes::diff(c, a).await
        }
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            changes::export(c, a).await
        }
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            changes::commit(c, a).await
        }
        Command::Update(a) => update::update(c, a).await,
        Command::Inspect(a) => inspect::inspect(c, a, Kind::Any).await,
        Command::Port(a) => ports::port(c, a).await,
        Command::Container(ContainerCommand::Inspect(a)) => {
            inspect::inspect(c, a, Kind::Container).await
        }
        Command::Container(ContainerCommand::Prune(a)) => containers::prune(c, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(c, a).await,
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => transfer::pull(c, a).await,
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => transfer::push(c, a).await,
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(c, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(c, a).await,
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(c, a).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(c, a).await,
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::build(c, *a).await,
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => images::import(c, a).await,
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            images::history(c, a).await
        }
        Command::Image(ImageCommand::Inspect(a)) => inspect::inspect(c, a, Kind::Image).await,
        Command::Image(ImageCommand::Prune(a)) => images::prune(c, a).await,
        Command::Login(a) => login::login(c, a).await,
        Command::Version => system::version(c).await,
        Command::Info | Command::System(SystemCommand::Info) => system::info(c).await,
        Command::System(SystemCommand::Df) => system::df(c).await,
        Command::Volume(v) => volume::run(c, v).await,
        Command::Network(n) => network::run(c, n).await,
    }
}

/// Runs `f` for each name, printing the names that worked, as Docker
/// does; the first failure's status is reported after trying all.
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
                failed = failed.or(Some(e.code));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}

/// `--filter key=value`s as the API's `filters` JSON (`{"key": ["value", …]}`),
/// the keys lowercased as Docker's CLI does.
pub(crate) fn filters_json(filters: &[String]) -> Result<String, Failure> {
    let mut out = berth_docker_api::filters::Filters::default();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            Failure::new(format!("Error: bad format of filter (expected name=value): {f}"))
        })?;
        out.add(k.to_ascii_lowercase(), v);
    }
    Ok(out.to_param())
}

/// `<kind> inspect`: each document at `<prefix>/<name>`, printed together;
/// status 1 if any is missing (`Error: No such <kind>: <name>`).
async fn inspect_each(
    c: &Client,
    a: &inspect::InspectArgs,
    prefix: &str,
    kind: &str,
) -> Result<i32, Failure> {
    let mut docs = Vec::new();
    let mut code = 0;
    for n in &a.names {
        match c.get(&format!("{prefix}/{}", crate::client::seg(n))).await {
            Ok(v) => docs.push(v),
            Err(e) if e.is_not_found() => {
                eprintln!("Error: No such {kind}: {n}");
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    inspect::print(&docs, a.format.as_deref())?;
    Ok(code)
}

/// Docker's `[y/N]` question; refuses outright when nobody can answer.
fn confirm(warning: &str) -> Result<bool, Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new("Error: refusing to prune without confirmation: use --force"));
    }
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
