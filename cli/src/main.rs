//! `berth`: Docker's verbs and flags over berthd's engine API.
use clap::Parser;

fn main() {
    let cli = berth::Cli::parse();
    std::process::exit(berth::run(cli));
}
