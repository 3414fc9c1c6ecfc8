//! The commands, each in the module of its group.

mod archive;
mod containers;
mod image_info;
mod images;
mod login;
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
    /// Write images to a tar archive (Docker format, also an OCI layout).
    Save(archive::SaveArgs),
    /// Load images from a tar archive (Docker format or OCI layout).
    Load(archive::LoadArgs),
    /// Show how an image was built.
    History(image_info::HistoryArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Log in to a registry (credentials kept in config.json).
    Login(login::LoginArgs),
    /// Log out from a registry.
    Logout(login::LogoutArgs),
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
    /// Show containers (or images) as JSON.
    Inspect(image_info::InspectArgs),
    /// Show versions.
    Version,
}

/// `berth image <verb>`: Docker's management commands for images.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show images as JSON.
    Inspect(image_info::InspectArgs),
    /// Remove unused images.
    Prune(image_info::PruneArgs),
    /// Show how an image was built.
    History(image_info::HistoryArgs),
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
    Tag(transfer::TagArgs),
    /// Write images to a tar archive.
    Save(archive::SaveArgs),
    /// Load images from a tar archive.
    Load(archive::LoadArgs),
    /// Import a rootfs tarball as an image.
    Import(images::ImportArgs),
}

/// Runs one command; `Ok(status)` is the process exit status.
pub async fn dispatch(host: &str, cmd: Command) -> Result<i32, Failure> {
    if let Command::Logout(a) = cmd {
        return login::logout(a);
    }
    let mut c = client::connect(host).await?;
    match cmd {
        Command::Logout(_) => unreachable!("handled above"),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(&mut c, a).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(&mut c, a).await,
        Command::History(a) | Command::Image(ImageCommand::History(a)) => image_info::history(&mut c, a).await,
        Command::Image(ImageCommand::Inspect(a)) => image_info::inspect(&mut c, a).await,
        Command::Image(ImageCommand::Prune(a)) => image_info::prune(&mut c, a).await,
        Command::Image(ImageCommand::Ls(a)) => images::list(&mut c, a).await,
        Command::Image(ImageCommand::Rm(a)) => images::remove(&mut c, a).await,
        Command::Image(ImageCommand::Pull(a)) => transfer::pull(&mut c, a).await,
        Command::Image(ImageCommand::Push(a)) => transfer::push(&mut c, a).await,
        Command::Image(ImageCommand::Tag(a)) => transfer::tag(&mut c, a).await,
        Command::Image(ImageCommand::Import(a)) => images::import(&mut c, a).await,
        Command::Login(a) => login::login(&mut c, a).await,
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

/// Streams `input` to the daemon in 256 KiB messages made by `wrap`; the
/// handle reports a read failure (the daemon sees a truncated stream).
fn upload<T: Send + 'static>(
    mut input: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    wrap: fn(Vec<u8>) -> T,
) -> (tokio_stream::wrappers::ReceiverStream<T>, tokio::task::JoinHandle<std::io::Result<()>>) {
    use tokio::io::AsyncReadExt;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let reader = tokio::spawn(async move {
        loop {
            let mut buf = vec![0u8; 256 * 1024];
            match input.read(&mut buf).await? {
                0 => return Ok(()),
                n => {
                    buf.truncate(n);
                    if tx.send(wrap(buf)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    });
    (tokio_stream::wrappers::ReceiverStream::new(rx), reader)
}
