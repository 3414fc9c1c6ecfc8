//! `-p`, `-P`, `--expose` as Docker's CLI sends them (`ExposedPorts`,
//! `PortBindings`), and `berth port`.

use super::containers::path;
use crate::client::Client;
use crate::Failure;
use berth_docker_api::container::{PortBinding, PortMap};
use berth_docker_api::inspect::ContainerInspect;
use berth_docker_api::EmptyObject;
use std::collections::BTreeMap;

/// `80` or `8000-8010` as (first, last).
fn range(s: &str, what: &str) -> Result<(u32, u32), String> {
    let bad = || format!("invalid {what}: {s}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a > b || b > 65535 {
        return Err(bad());
    }
    Ok((a, b))
}

/// One `-p [ip:][hostPort:]containerPort[/proto]` (either port a range) as
/// `(containerPort/proto, HostIp, HostPort)` bindings, as Docker's CLI
/// splits them: a container range pairs with a host range of its length.
fn bindings(spec: &str) -> Result<Vec<(String, String, String)>, String> {
    let (rest, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    // An IPv6 host address comes in brackets.
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => r
            .split_once("]:")
            .map(|(ip, r)| (ip.to_owned(), r))
            .ok_or_else(|| format!("invalid port format: {spec}"))?,
        None => (String::new(), rest),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match (ip.is_empty(), parts.as_slice()) {
        (true, [c]) => (String::new(), "", *c),
        (true, [h, c]) => (String::new(), *h, *c),
        (true, [i, h, c]) => ((*i).to_owned(), *h, *c),
        (false, [h, c]) => (ip, *h, *c),
        _ => return Err(format!("invalid port format: {spec}")),
    };
    if ctr.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (c0, c1) = range(ctr, "containerPort")?;
    let host_range = if host.is_empty() { None } else { Some(range(host, "hostPort")?) };
    let pairwise = host_range.is_some_and(|(h0, h1)| h1 - h0 == c1 - c0 && c1 > c0);
    if let Some((h0, h1)) = host_range {
        if c1 > c0 && h1 - h0 != c1 - c0 && h0 != h1 {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {ctr} and {host}"
            ));
        }
    }
    Ok((c0..=c1)
        .map(|c| {
            let host_port = match host_range {
                None => String::new(),
                Some((h0, _)) if pairwise => (h0 + c - c0).to_string(),
                Some(_) => host.to_owned(),
            };
            (format!("{c}/{proto}"), ip.clone(), host_port)
        })
        .collect())
}

/// What `-p` and `--expose` ask for.
pub type CreateFields = (BTreeMap<String, EmptyObject>, PortMap);

/// `Config.ExposedPorts` and `HostConfig.PortBindings` of `-p` and `--expose`.
pub fn create_fields(publish: &[String], expose: &[String]) -> Result<CreateFields, String> {
    let (mut exposed, mut bound) = (BTreeMap::new(), PortMap::new());
    for spec in publish {
        for (key, host_ip, host_port) in bindings(spec)? {
            exposed.insert(key.clone(), EmptyObject {});
            let list = bound.entry(key).or_insert_with(|| Some(Vec::new()));
            list.get_or_insert_default().push(PortBinding { host_ip, host_port });
        }
    }
    for e in expose {
        let (ports, proto) = e.rsplit_once('/').unwrap_or((e, "tcp"));
        let (a, b) = range(ports, "range format for --expose")?;
        for p in a..=b {
            exposed.insert(format!("{p}/{proto}"), EmptyObject {});
        }
    }
    Ok((exposed, bound))
}

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// The container.
    pub container: String,
    /// Only this port (`80`, `80/tcp`).
    pub port: Option<String>,
}

/// `berth port`: the container's published ports, from its inspect.
pub async fn port(c: &Client, a: PortArgs) -> Result<i32, Failure> {
    let doc: ContainerInspect = c.get(&path(&a.container, "/json")?).await?;
    let ports = &doc.network_settings.ports;
    let wanted =
        a.port.as_deref().map(|p| if p.contains('/') { p.to_owned() } else { format!("{p}/tcp") });
    let mut lines = Vec::new();
    for (key, list) in ports {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in list.iter().flatten() {
            let host = format!("{}:{}", b.host_ip, b.host_port);
            lines.push(if wanted.is_some() { host } else { format!("{key} -> {host}") });
        }
    }
    if lines.is_empty() {
        if let Some(w) = wanted {
            return Err(Failure::new(format!(
                "Error: No public port '{w}' published for {}",
                a.container
            )));
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs_split_as_docker_s_cli_does() {
        let b = |s| bindings(s).unwrap();
        assert_eq!(b("80"), [("80/tcp".into(), "".into(), "".into())]);
        assert_eq!(b("8080:80/udp"), [("80/udp".into(), "".into(), "8080".into())]);
        assert_eq!(b("127.0.0.1:8080:80"), [("80/tcp".into(), "127.0.0.1".into(), "8080".into())]);
        assert_eq!(b("[::1]:8080:80"), [("80/tcp".into(), "::1".into(), "8080".into())]);
        assert_eq!(b("8000-8010:80"), [("80/tcp".into(), "".into(), "8000-8010".into())]);
        assert_eq!(
            b("8080-8081:80-81"),
            [
                ("80/tcp".into(), "".into(), "8080".into()),
                ("81/tcp".into(), "".into(), "8081".into())
            ]
        );
        for bad in ["", "x:80", "1:2:3:4", "99999:80", "8080-8082:80-81", "80:"] {
            assert!(bindings(bad).is_err(), "{bad}");
        }
        let (exposed, _) = create_fields(&[], &["7000-7001/udp".into()]).unwrap();
        assert_eq!(exposed.keys().collect::<Vec<_>>(), ["7000/udp", "7001/udp"]);
    }
}
