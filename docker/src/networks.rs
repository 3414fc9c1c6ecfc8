//! `/networks`: create, list (filters `name`, `id`, `label`, `driver`,
//! `type`, `dangling`), inspect, remove and prune, as dockerd's bridge
//! driver answers them; `bridge`, `host` and `none` are listed as dockerd
//! lists its predefined ones; connect and disconnect (a container on a
//! user-defined network to more of them).

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_engine::model::NetworkRecord;
use berth_engine::network::NetworkCreate;
use berth_engine::Engine;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    #[serde(deserialize_with = "crate::http::null_default")]
    driver: String,
    #[serde(deserialize_with = "crate::http::null_default")]
    internal: bool,
    #[serde(rename = "EnableIPv6", deserialize_with = "crate::http::null_default")]
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Ipam {
    #[serde(deserialize_with = "crate::http::null_default")]
    driver: String,
    config: Option<Vec<IpamConfig>>,
    options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct IpamConfig {
    #[serde(deserialize_with = "crate::http::null_default")]
    subnet: String,
    #[serde(rename = "IPRange", deserialize_with = "crate::http::null_default")]
    ip_range: String,
    #[serde(deserialize_with = "crate::http::null_default")]
    gateway: String,
    aux_address: Option<BTreeMap<String, String>>,
}

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
fn document(engine: &Engine, n: &NetworkRecord) -> Value {
    let containers: serde_json::Map<String, Value> = engine
        .network_users(&n.id)
        .into_iter()
        .filter(|c| c.state.status == berth_engine::container::Status::Running)
        .filter_map(|c| {
            let l = c.config.network.links().iter().find(|l| l.network == n.id)?.clone();
            let addr = l.address.map(|a| format!("{a}/{}", n.subnet.prefix)).unwrap_or_default();
            Some((c.id.clone(), json!({ "Name": c.name, "EndpointID": "", "MacAddress": "", "IPv4Address": addr, "IPv6Address": "" })))
        })
        .collect();
    json!({
        "Name": n.name, "Id": n.id, "Created": time(n.created_at), "Scope": "local", "Driver": "bridge", "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": {}, "Config": [{ "Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string() }] },
        "Internal": n.internal, "Attachable": false, "Ingress": false, "ConfigFrom": { "Network": "" }, "ConfigOnly": false,
        "Containers": containers, "Options": { "com.docker.network.bridge.name": n.bridge }, "Labels": n.labels,
    })
}

/// A predefined network's document.
fn predefined(engine: &Engine, name: &str) -> Value {
    let b = &engine.config().bridge;
    let (driver, config) = match name {
        "bridge" => (
            "bridge",
            json!([{ "Subnet": b.subnet, "Gateway": b.gateway().map(|g| g.to_string()).unwrap_or_default() }]),
        ),
        "host" => ("host", json!([])),
        _ => ("null", json!([])),
    };
    json!({
        "Name": name, "Id": predefined_id(name), "Created": time(0), "Scope": "local", "Driver": driver, "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": config }, "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": { "Network": "" }, "ConfigOnly": false, "Containers": {}, "Options": {}, "Labels": {},
    })
}

/// `POST /networks/create`: 201 with the id.
pub async fn create(engine: &Engine, req: &mut Req) -> ApiResult<Response<Body>> {
    let b: CreateBody = req.json().await?;
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
    Ok(http::json(StatusCode::CREATED, &json!({ "Id": n.id, "Warning": "" })))
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
    let out: Vec<Value> = docs
        .filter(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            let custom = !["bridge", "host", "none"].contains(&s("Name").as_str());
            any("name", &|v| s("Name").contains(v))
                && any("id", &|v| s("Id").starts_with(v))
                && any("driver", &|v| s("Driver") == v)
                && any("scope", &|v| v == "local")
                && any("type", &|v| (v == "custom") == custom)
                && any("dangling", &|v| {
                    matches!(v, "true" | "1")
                        == (custom && d["Containers"].as_object().is_some_and(|c| c.is_empty()))
                })
                && filters.get("label").is_none_or(|ls| {
                    ls.iter().all(|l| match l.split_once('=') {
                        Some((k, v)) => d["Labels"][k].as_str() == Some(v),
                        None => d["Labels"].get(l).is_some(),
                    })
                })
        })
        .collect();
    Ok(http::json(StatusCode::OK, &Value::Array(out)))
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
    Ok(http::json(StatusCode::OK, &json!({ "NetworksDeleted": gone })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    #[serde(deserialize_with = "crate::http::null_default")]
    endpoint_config: EndpointConfig,
    #[serde(deserialize_with = "crate::http::null_default")]
    force: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct EndpointConfig {
    #[serde(deserialize_with = "crate::http::null_default")]
    aliases: Vec<String>,
    #[serde(rename = "IPAMConfig", deserialize_with = "crate::http::null_default")]
    ipam_config: EndpointIpam,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address", deserialize_with = "crate::http::null_default")]
    ipv4_address: String,
}

/// The container a connect or disconnect names, as the Docker front sees them.
fn connect_target(engine: &Engine, key: &str, body: &ConnectBody) -> ApiResult<String> {
    if ["bridge", "host", "none"].contains(&key) {
        return Err(refuse(&format!("connecting containers to the predefined network {key:?}")));
    }
    Ok(crate::containers::find(engine, &body.container)?.id)
}

/// `POST /networks/{id}/connect`.
pub async fn connect(engine: &Engine, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let body: ConnectBody = req.json().await?;
    let id = connect_target(engine, key, &body)?;
    let ip = match body.endpoint_config.ipam_config.ipv4_address.as_str() {
        "" => None,
        a => Some(
            a.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv4 address {a}")))?,
        ),
    };
    engine
        .connect_network(
            key,
            &id,
            berth_engine::network::Connect { aliases: body.endpoint_config.aliases, ip },
        )
        .await?;
    Ok(http::empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect` (`Force` changes nothing: berth's
/// endpoints are the container's own records).
pub async fn disconnect(engine: &Engine, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let body: ConnectBody = req.json().await?;
    let _ = body.force;
    let id = connect_target(engine, key, &body)?;
    engine.disconnect_network(key, &id).await?;
    Ok(http::empty(StatusCode::OK))
}
