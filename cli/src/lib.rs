//! The berth CLI: a client of berthd's Docker Engine API, as Docker's CLI
//! is one of dockerd's. Argument parsing (clap), one module per command
//! group, the HTTP client (`client.rs`), attached streams (`streams.rs`),
//! `--format` templates and tables. Request and answer bodies are
//! `berth_docker_api`'s types, the ones berthd's Docker front uses.
//! Errors print as one line.

mod auth;
mod client;
mod cmd;
mod streams;
mod table;
mod template;
mod tty;
mod units;

use clap::Parser;

pub use cmd::Command;

/// berthd's Docker API socket (`[docker] socket`).
pub const DEFAULT_HOST: &str = "unix:///run/berth/docker.sock";

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A container engine for Kubernetes nodes, with Docker's verbs"
)]
pub struct Cli {
    /// Daemon socket to connect to.
    #[arg(short = 'H', long, env = "BERTH_HOST", default_value = DEFAULT_HOST, global = true)]
    pub host: String,
    #[command(subcommand)]
    pub command: Command,
}

/// A failure the CLI reports: one line and an exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    /// A failure with exit status 1.
    pub fn new(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: 1 }
    }
}

impl Failure {
    /// The same failure, its message after `prefix` (`berth: ` for run).
    pub fn prefixed(self, prefix: &str) -> Self {
        Failure { message: format!("{prefix}{}", self.message), ..self }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure { message: format!("Error: {e:#}"), code: 1 }
    }
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let code = match rt.block_on(cmd::dispatch(&cli.host, cli.command)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("{}", f.message);
            f.code
        }
    };
    // A read of our stdin may still block a thread: don't wait for it.
    rt.shutdown_background();
    code
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
