//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, as Docker's CLI has them.

use crate::client::{json_body, query, seg, Client};
use crate::Failure;
use berth_docker_api::container::{EndpointConfig, EndpointIpamConfig};
use berth_docker_api::network;
use hyper::Method;

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

/// One row of `network ls`: the network with its short id, as Docker's CLI shows it.
#[derive(serde::Serialize)]
struct NetworkRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(flatten)]
    network: network::Network,
}

pub async fn run(c: &Client, cmd: NetworkCommand) -> Result<i32, Failure> {
    match cmd {
        NetworkCommand::Create(a) => {
            let mut config = Vec::new();
            if a.subnet.is_some() || a.gateway.is_some() {
                config.push(network::IpamConfig {
                    subnet: a.subnet.unwrap_or_default(),
                    gateway: a.gateway.unwrap_or_default(),
                    ..Default::default()
                });
            }
            let labels = a
                .label
                .iter()
                .map(|l| l.split_once('=').unwrap_or((l, "")))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let body = network::CreateRequest {
                name: a.name,
                check_duplicate: Some(true),
                driver: a.driver,
                internal: a.internal,
                ipam: Some(network::Ipam {
                    driver: "default".into(),
                    options: None,
                    config: Some(config),
                }),
                labels: Some(labels),
                ..Default::default()
            };
            let v: network::CreateResponse =
                c.json(Method::POST, "/networks/create", Some(json_body(&body))).await?;
            println!("{}", v.id);
            Ok(0)
        }
        NetworkCommand::Ls(a) => {
            let filters = super::filters_json(&a.filter)?;
            let nets: Vec<network::Network> =
                c.get(&format!("/networks?{}", query([("filters", filters)]))).await?;
            let nets: Vec<NetworkRow> = nets
                .into_iter()
                .map(|n| NetworkRow { id: n.id.chars().take(12).collect(), network: n })
                .collect();
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
            let body = network::ConnectRequest {
                container: a.container,
                endpoint_config: EndpointConfig {
                    aliases: Some(a.aliases),
                    ipam_config: a.ip.map(|ip| EndpointIpamConfig { ipv4_address: ip }),
                    ..Default::default()
                },
            };
            let path = format!("/networks/{}/connect", seg(&a.network));
            c.call(Method::POST, &path, Some(json_body(&body))).await?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            let body = network::DisconnectRequest { container: a.container, force: a.force };
            let path = format!("/networks/{}/disconnect", seg(&a.network));
            c.call(Method::POST, &path, Some(json_body(&body))).await?;
            Ok(0)
        }
        NetworkCommand::Prune(a) => {
            if !a.force && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.")? {
                return Ok(0);
            }
            let r: network::PruneResponse = c.json(Method::POST, "/networks/prune", None).await?;
            let gone = r.networks_deleted.unwrap_or_default();
            if !gone.is_empty() {
                println!("Deleted Networks:");
                for g in gone {
                    println!("{g}");
                }
            }
            Ok(0)
        }
    }
}
