//! `berth volume create|ls|inspect|rm|prune`, as Docker's CLI has them.

use crate::client::{json_body, query, seg, Client};
use crate::units::human_size;
use crate::Failure;
use berth_docker_api::volume;
use hyper::Method;
use std::collections::BTreeMap;

#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON.
    Inspect(super::inspect::InspectArgs),
    /// Remove volumes.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes.
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Volume driver (only local).
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume (key=value).
    #[arg(long)]
    label: Vec<String>,
    /// Driver options.
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only names.
    #[arg(short, long)]
    quiet: bool,
    /// Filter (dangling=true, name=, label=, driver=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Go template, or table/json.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Don't fail on a missing volume.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Every unused volume, named ones too.
    #[arg(short, long)]
    all: bool,
    /// Don't ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn pairs(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub async fn run(c: &Client, cmd: VolumeCommand) -> Result<i32, Failure> {
    match cmd {
        VolumeCommand::Create(a) => {
            let body = volume::CreateRequest {
                name: a.name.unwrap_or_default(),
                driver: a.driver,
                labels: Some(pairs(&a.label)),
                driver_opts: Some(pairs(&a.opt)),
            };
            let v: volume::Volume =
                c.json(Method::POST, "/volumes/create", Some(json_body(&body))).await?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCommand::Ls(a) => {
            let filters = super::filters_json(&a.filter)?;
            let r: volume::ListResponse =
                c.get(&format!("/volumes?{}", query([("filters", filters)]))).await?;
            let vols = r.volumes.unwrap_or_default();
            let default = if a.quiet { "{{.Name}}" } else { "table {{.Driver}}\t{{.Name}}" };
            let format = if a.quiet { None } else { a.format.as_deref() };
            crate::table::print(&vols, format, default, |f| match f {
                "Name" => "VOLUME NAME".into(),
                other => crate::table::docker_header(other),
            })
            .map_err(|e| Failure::new(format!("Error: {e}")))?;
            Ok(0)
        }
        VolumeCommand::Inspect(a) => super::inspect_each(c, &a, "/volumes", "volume").await,
        VolumeCommand::Rm(a) => {
            let force = a.force;
            super::for_each(&a.volumes, |n| async move {
                c.checked(
                    Method::DELETE,
                    &format!("/volumes/{}?force={}", seg(n), u8::from(force)),
                    &[],
                    crate::client::empty(),
                )
                .await
                .map(drop)
                .map_err(|e| Failure::new(format!("Error response from daemon: {}", e.message)))
            })
            .await
        }
        VolumeCommand::Prune(a) => {
            if !a.force && !super::confirm("WARNING! This will remove all local volumes not used by at least one container.")? {
                return Ok(0);
            }
            let all = ["all=true".to_owned()];
            let filters = super::filters_json(if a.all { &all[..] } else { &[] })?;
            let r: volume::PruneResponse = c
                .json(
                    Method::POST,
                    &format!("/volumes/prune?{}", query([("filters", filters.to_owned())])),
                    None,
                )
                .await?;
            let gone = r.volumes_deleted.unwrap_or_default();
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for g in gone {
                    println!("{g}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", human_size(r.space_reclaimed));
            Ok(0)
        }
    }
}
