//! `berth volume create|ls|inspect|rm|prune`, as Docker's CLI has them.

use crate::client::{query, seg, Client};
use crate::units::human_size;
use crate::Failure;
use hyper::Method;
use serde_json::{json, Map, Value};

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

fn pairs(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect()
}

pub async fn run(c: &Client, cmd: VolumeCommand) -> Result<i32, Failure> {
    match cmd {
        VolumeCommand::Create(a) => {
            let body = json!({ "Name": a.name.unwrap_or_default(), "Driver": a.driver, "Labels": pairs(&a.label), "DriverOpts": pairs(&a.opt) });
            let v = c.json(Method::POST, "/volumes/create", Some(&body)).await?;
            println!("{}", v["Name"].as_str().unwrap_or_default());
            Ok(0)
        }
        VolumeCommand::Ls(a) => {
            let filters = super::filters_json(&a.filter)?;
            let r = c.get(&format!("/volumes?{}", query([("filters", filters)]))).await?;
            let vols = r["Volumes"].as_array().cloned().unwrap_or_default();
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
            let filters = if a.all { r#"{"all":["true"]}"# } else { "{}" };
            let r = c
                .json(
                    Method::POST,
                    &format!("/volumes/prune?{}", query([("filters", filters.to_owned())])),
                    None,
                )
                .await?;
            let gone: &[Value] = r["VolumesDeleted"].as_array().map_or(&[], Vec::as_slice);
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for g in gone {
                    println!("{}", g.as_str().unwrap_or_default());
                }
                println!();
            }
            println!(
                "Total reclaimed space: {}",
                human_size(r["SpaceReclaimed"].as_u64().unwrap_or(0))
            );
            Ok(0)
        }
    }
}
