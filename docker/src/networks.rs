//! `/networks`: create, list (filters `name`, `id`, `label`, `driver`,
//! `type`, `dangling`), inspect, remove and prune, as dockerd's bridge
//! driver answers them; `bridge`, `host` and `none` are listed as dockerd
//! lists its predefined ones; connect and disconnect (a container on a
//! user-defined network to more of them).

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::network::{self, Ipam, IpamConfig, Network, NetworkContainer};
use berth_engine::model::NetworkRecord;
use berth_engine::network::NetworkCreate;
use berth_engine::Engine;
use hyper::{Response, StatusCode};
use std::collections::BTreeMap;

fn refuse(what: &str) -> ApiError {
    ApiError::bad_request(format!("{what} is not supported by berth yet"))
}

/// The ids berth shows for the predefined networks (stable, like dockerd's).
fn predefined_id(name: &str) -> String {
    // A fixed 64-hex id per name (dockerd makes random ones once).
    let seed: u64 = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{seed:016x}").repeat(4)
}

fn time(nanos: i64) -> String {
    berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(nanos))
}

/// Docker's network document, with the containers on it (the running
/// ones: dockerd's endpoints go with a container's stop).
fn document(engine: &Engine, n: &NetworkRecord) -> Network {
    let containers = engine
        .network_users(&n.id)
        .into_iter()
        .filter(|c| c.state.status == berth_engine::container::Status::Running)
        .filter_map(|c| {
            let l = c.config.network.links().iter().find(|l| l.network == n.id)?.clone();
            let addr = l.address.map(|a| format!("{a}/{}", n.subnet.prefix)).unwrap_or_default();
            let endpoint =
                NetworkContainer { name: c.name.clone(), ipv4_address: addr, ..Default::default() };
            Some((c.id.clone(), endpoint))
        })
        .collect();
    let pool = IpamConfig {
        subnet: n.subnet.to_string(),
        gateway: n.gateway.to_string(),
        ..Default::default()
    };
    Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: time(n.created_at),
        scope: "local".into(),
        driver: "bridge".into(),
        ipam: Ipam {
            driver: "default".into(),
            options: Some(BTreeMap::new()),
            config: Some(vec![pool]),
        },
        internal: n.internal,
        containers,
        options: BTreeMap::from([("com.docker.network.bridge.name".into(), n.bridge.clone())]),
        labels: n.labels.clone(),
        ..Default::default()
    }
}

/// A predefined network's document.
fn predefined(engine: &Engine, name: &str) -> Network {
    let b = &engine.config().bridge;
    let (driver, config) = match name {
        "bridge" => {
            let gateway = b.gateway().map(|g| g.to_string()).unwrap_or_default();
            ("bridge", vec![IpamConfig { subnet: b.subnet.clone(), gateway, ..Default::default() }])
        }
        "host" => ("host", Vec::new()),
        _ => ("null", Vec::new()),
    };
    Network {
        name: name.into(),
        id: predefined_id(name),
        created: time(0),
        scope: "local".into(),
        driver: driver.into(),
        ipam: Ipam { driver: "default".into(), options: None, config: Some(config) },
        ..Default::default()
    }
}

/// `POST /networks/create`: 201 with the id.
pub async fn create(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let b: network::CreateRequest = req.json().await?;
    if !matches!(b.driver.as_str(), "" | "bridge") {
        return Err(ApiError::not_found(format!("plugin \"{}\" not found", b.driver)));
    }
    if b.enable_ipv6 {
        return Err(refuse("EnableIPv6 (--ipv6)"));
    }
    if b.options.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(refuse("Options (bridge driver options, -o)"));
    }
    let ipam = b.ipam.unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default")
        || ipam.options.as_ref().is_some_and(|o| !o.is_empty())
    {
        return Err(refuse("an IPAM driver or its options (--ipam-driver, --ipam-opt)"));
    }
    let configs = ipam.config.unwrap_or_default();
    if configs.len() > 1 {
        return Err(refuse("more than one subnet"));
    }
    let (mut subnet, mut gateway) = (None, None);
    if let Some(c) = configs.first() {
        if !c.ip_range.is_empty() || c.aux_address.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(refuse("IPRange and AuxAddresses (--ip-range, --aux-address)"));
        }
        if !c.subnet.is_empty() {
            subnet = Some(c.subnet.parse()?);
        }
        if !c.gateway.is_empty() {
            gateway = Some(c.gateway.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid gateway address {}", c.gateway))
            })?);
        }
    }
    let n = engine.create_network(NetworkCreate {
        name: b.name,
        subnet,
        gateway,
        internal: b.internal,
        labels: b.labels.unwrap_or_default(),
    })?;
    let answer = network::CreateResponse { id: n.id, warning: String::new() };
    Ok(http::json(StatusCode::CREATED, &answer))
}

/// `GET /networks`.
pub fn list(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    let filters = req.filters()?;
    if let Some(k) = filters.keys().find(|k| {
        !["name", "id", "label", "driver", "type", "dangling", "scope"].contains(&k.as_str())
    }) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let custom_networks = engine.networks();
    let docs = ["bridge", "host", "none"]
        .iter()
        .map(|n| predefined(engine, n))
        .chain(custom_networks.iter().map(|n| document(engine, n)));
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        filters.get(key).is_none_or(|vals| vals.iter().any(|v| f(v)))
    };
    let out: Vec<Network> = docs
        .filter(|d| {
            let custom = !["bridge", "host", "none"].contains(&d.name.as_str());
            any("name", &|v| d.name.contains(v))
                && any("id", &|v| d.id.starts_with(v))
                && any("driver", &|v| d.driver == v)
                && any("scope", &|v| v == "local")
                && any("type", &|v| (v == "custom") == custom)
                && any("dangling", &|v| {
                    matches!(v, "true" | "1") == (custom && d.containers.is_empty())
                })
                && filters.get("label").is_none_or(|ls| {
                    ls.iter().all(|l| match l.split_once('=') {
                        Some((k, v)) => d.labels.get(k).is_some_and(|x| x == v),
                        None => d.labels.contains_key(l),
                    })
                })
        })
        .collect();
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /networks/{id}`.
pub fn inspect(engine: &Engine, key: &str) -> ApiResult<Response<Body>> {
    if ["bridge", "host", "none"].contains(&key) {
        return Ok(http::json(StatusCode::OK, &predefined(engine, key)));
    }
    let n = engine.network(key)?;
    Ok(http::json(StatusCode::OK, &document(engine, &n)))
}

/// `DELETE /networks/{id}`.
pub fn remove(engine: &Engine, key: &str) -> ApiResult<Response<Body>> {
    if ["bridge", "host", "none"].contains(&key) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{key} is a pre-defined network and cannot be removed"),
        ));
    }
    engine.remove_network(key)?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /networks/prune`: every user-defined network no container is on.
pub fn prune(engine: &Engine, req: &Req) -> ApiResult<Response<Body>> {
    if let Some(k) = req.filters()?.keys().next() {
        return Err(ApiError::bad_request(format!(
            "network prune filter {k:?} is not supported by berth yet"
        )));
    }
    let mut gone = Vec::new();
    for n in engine.networks() {
        match engine.remove_network(&n.id) {
            Ok(()) => gone.push(n.name),
            // In use (or just removed): not this prune's.
            Err(berth_engine::Error::FailedPrecondition(_) | berth_engine::Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(http::json(StatusCode::OK, &network::PruneResponse { networks_deleted: Some(gone) }))
}

/// The container a connect or disconnect names, as the Docker front sees them.
fn connect_target(engine: &Engine, key: &str, container: &str) -> ApiResult<String> {
    if ["bridge", "host", "none"].contains(&key) {
        return Err(refuse(&format!("connecting containers to the predefined network {key:?}")));
    }
    Ok(crate::containers::find(engine, container)?.id)
}

/// `POST /networks/{id}/connect`.
pub async fn connect(engine: &Engine, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let body: network::ConnectRequest = req.json().await?;
    let id = connect_target(engine, key, &body.container)?;
    let endpoint = body.endpoint_config;
    let ip = match endpoint.ipam_config.as_ref().map_or("", |i| i.ipv4_address.as_str()) {
        "" => None,
        a => Some(
            a.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv4 address {a}")))?,
        ),
    };
    engine
        .connect_network(
            key,
            &id,
            berth_engine::network::Connect { aliases: endpoint.aliases.unwrap_or_default(), ip },
        )
        .await?;
    Ok(http::empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect` (`Force` changes nothing: berth's
/// endpoints are the container's own records).
pub async fn disconnect(engine: &Engine, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let body: network::DisconnectRequest = req.json().await?;
    let id = connect_target(engine, key, &body.container)?;
    engine.disconnect_network(key, &id).await?;
    Ok(http::empty(StatusCode::OK))
}
