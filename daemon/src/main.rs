//! `berthd`: the berth daemon.
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = berthd::config::Args::parse();
    let cfg = berthd::config::Config::load(&args)?;
    berthd::run(cfg)
}
