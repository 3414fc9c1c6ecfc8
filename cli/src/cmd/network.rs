//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, as Docker's CLI has them.

use crate::client::{query, seg, Client};
use crate::Failure;
use hyper::Method;
use serde_json::{json, Map, Value};

#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON.
    Inspect(super::inspect::InspectArgs),
    /// Remove networks.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Another name for the container on the network.
    #[arg(long = "alias")]
    aliases: Vec<String>,
    /// Its IPv4 address there.
    #[arg(long)]
    ip: Option<String>,
    network: String,
    container: String,
}

#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect.
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Driver (only bridge).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Its IPv4 range (CIDR).
    #[arg(long)]
    subnet: Option<String>,
    /// Its gateway, in the subnet.
    #[arg(long)]
    gateway: Option<String>,
    /// No way out of the network.
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network (key=value).
    #[arg(long)]
    label: Vec<String>,
    name: String,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only ids.
    #[arg(short, long)]
    quiet: bool,
    /// Filter (name=, id=, label=, driver=, type=custom|builtin, dangling=true).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Go template, or table/json.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Don't ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub async fn run(c: &Client, cmd: NetworkCommand) -> Result<i32, Failure> {
    match cmd {
        NetworkCommand::Create(a) => {
            let config = if a.subnet.is_some() || a.gateway.is_some() {
                json!([{ "Subnet": a.subnet.unwrap_or_default(), "Gateway": a.gateway.unwrap_or_default() }])
            } else {
                json!([])
            };
            let labels: Map<String, Value> = a
                .label
                .iter()
                .map(|l| l.split_once('=').unwrap_or((l, "")))
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect();
            let body = json!({ "Name": a.name, "Driver": a.driver, "Internal": a.internal, "IPAM": { "Driver": "default", "Config": config }, "Labels": labels, "CheckDuplicate": true });
            let v = c.json(Method::POST, "/networks/create", Some(&body)).await?;
            println!("{}", v["Id"].as_str().unwrap_or_default());
            Ok(0)
        }
        NetworkCommand::Ls(a) => {
            let filters = super::filters_json(&a.filter)?;
            let r = c.get(&format!("/networks?{}", query([("filters", filters)]))).await?;
            let mut nets = r.as_array().cloned().unwrap_or_default();
            for n in &mut nets {
                // The table's short id, as Docker's CLI shows it.
                let short: String = n["Id"].as_str().unwrap_or_default().chars().take(12).collect();
                n["ID"] = json!(short);
            }
            let default = if a.quiet {
                "{{.ID}}"
            } else {
                "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
            };
            let format = if a.quiet { None } else { a.format.as_deref() };
            crate::table::print(&nets, format, default, |f| match f {
                "ID" => "NETWORK ID".into(),
                other => crate::table::docker_header(other),
            })
            .map_err(|e| Failure::new(format!("Error: {e}")))?;
            Ok(0)
        }
        NetworkCommand::Inspect(a) => super::inspect_each(c, &a, "/networks", "network").await,
        NetworkCommand::Rm(a) => {
            super::for_each(&a.networks, |n| async move {
                c.checked(
                    Method::DELETE,
                    &format!("/networks/{}", seg(n)),
                    &[],
                    crate::client::empty(),
                )
                .await
                .map(|_| println!("{n}"))
                .map_err(|e| Failure::new(format!("Error response from daemon: {}", e.message)))
            })
            .await
        }
        NetworkCommand::Connect(a) => {
            let ipam = a.ip.map(|ip| json!({ "IPv4Address": ip }));
            let body = json!({ "Container": a.container, "EndpointConfig": { "Aliases": a.aliases, "IPAMConfig": ipam } });
            c.json(Method::POST, &format!("/networks/{}/connect", seg(&a.network)), Some(&body))
                .await?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            let body = json!({ "Container": a.container, "Force": a.force });
            c.json(Method::POST, &format!("/networks/{}/disconnect", seg(&a.network)), Some(&body))
                .await?;
            Ok(0)
        }
        NetworkCommand::Prune(a) => {
            if !a.force && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.")? {
                return Ok(0);
            }
            let r = c.json(Method::POST, "/networks/prune", None).await?;
            let gone: &[Value] = r["NetworksDeleted"].as_array().map_or(&[], Vec::as_slice);
            if !gone.is_empty() {
                println!("Deleted Networks:");
                for g in gone {
                    println!("{}", g.as_str().unwrap_or_default());
                }
            }
            Ok(0)
        }
    }
}
