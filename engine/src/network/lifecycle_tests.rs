//! User-defined networks over the fake CNI plugins and packet filter
//! (`crate::testing`): names, subnets, the embedded DNS's answers, and
//! connect/disconnect. Without root.

use super::dns::Lookup;
use super::{Connect, NetworkCreate};
use crate::container::{DockerOptions, NetworkMode};
use crate::error::Error;
use crate::testing::TestNode;
use std::net::Ipv4Addr;

fn on(network: &str, aliases: &[&str]) -> DockerOptions {
    DockerOptions {
        network: NetworkMode::User(network.into()),
        network_aliases: aliases.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

fn net(name: &str) -> NetworkCreate {
    NetworkCreate { name: name.into(), ..Default::default() }
}

/// The container's address on the network.
fn address(n: &TestNode, id: &str, network: &str) -> Ipv4Addr {
    let rec = n.engine.inspect(id).unwrap();
    rec.config.network.links().iter().find(|l| l.network == network).unwrap().address.unwrap()
}

#[tokio::test]
async fn a_network_name_is_taken_once_and_each_gets_a_subnet_of_its_own() {
    let n = TestNode::new().await;
    let a = n.engine.create_network(net("front")).unwrap();
    assert!(matches!(n.engine.create_network(net("front")), Err(Error::AlreadyExists(_))));
    let b = n.engine.create_network(net("back")).unwrap();
    assert_ne!(a.subnet, b.subnet);
    assert!(a.subnet.is_host(a.gateway));
    let clash = NetworkCreate { subnet: Some(a.subnet), ..net("third") };
    assert!(n.engine.create_network(clash).is_err(), "an overlapping subnet");
    let names: Vec<String> = n.engine.networks().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["back", "front"]);
    // Bad names are refused.
    assert!(n.engine.create_network(net("no/slash")).is_err());
}

#[tokio::test]
async fn the_embedded_dns_answers_names_aliases_and_short_ids_of_running_containers() {
    let n = TestNode::new().await;
    let front = n.engine.create_network(net("front")).unwrap();
    let web = n.create("web", on("front", &["www"])).await;
    let db = n.create("db", on("front", &[])).await;
    for c in [&web, &db] {
        n.engine.start(c).await.unwrap();
    }
    let (web_ip, db_ip) = (address(&n, &web, &front.id), address(&n, &db, &front.id));
    let ask = |name: &str| n.engine.dns_lookup(&front.id, db_ip, name).0;
    for name in ["web", "WEB", "www", &web[..12]] {
        assert!(matches!(ask(name), Lookup::Found(ips) if ips == [web_ip]), "{name}");
    }
    assert!(matches!(ask("nobody"), Lookup::Local));
    assert!(matches!(ask("example.com"), Lookup::Elsewhere));
    // A stopped container has no name there.
    n.engine.stop(&web, Some(std::time::Duration::from_millis(50))).await.unwrap();
    n.until(&web, |r| r.state.status == crate::Status::Exited).await;
    assert!(matches!(ask("web"), Lookup::Local));
}

#[tokio::test]
async fn connect_adds_an_interface_and_disconnect_takes_it_back() {
    let n = TestNode::new().await;
    let front = n.engine.create_network(net("front")).unwrap();
    let back = n.engine.create_network(net("back")).unwrap();
    let id = n.create("web", on("front", &[])).await;
    n.engine.start(&id).await.unwrap();
    let sandbox = n.engine.inspect(&id).unwrap().config.network.sandbox().unwrap().to_owned();
    let how = Connect { aliases: vec!["api".into()], ip: None };
    n.engine.connect_network("back", &id, how.clone()).await.unwrap();
    let extra = format!("{sandbox}-eth1");
    assert_eq!(n.plugins.count("ADD", &extra), 1);
    let rec = n.engine.inspect(&id).unwrap();
    let links: Vec<&str> = rec.config.network.links().iter().map(|l| l.network.as_str()).collect();
    assert_eq!(links, [front.id.as_str(), back.id.as_str()]);
    // Once per network.
    assert!(n.engine.connect_network("back", &id, how).await.is_err());
    // A network with a container on it stays.
    assert!(matches!(n.engine.remove_network("back"), Err(Error::FailedPrecondition(_))));
    n.engine.disconnect_network("back", &id).await.unwrap();
    assert_eq!(n.plugins.count("DEL", &extra), 1);
    assert_eq!(n.engine.inspect(&id).unwrap().config.network.links().len(), 1);
    assert!(matches!(
        n.engine.disconnect_network("back", &id).await,
        Err(Error::FailedPrecondition(_))
    ));
    n.engine.remove_network("back").unwrap();
}

#[tokio::test]
async fn an_address_asked_for_must_be_in_the_subnet() {
    let n = TestNode::new().await;
    let front = n.engine.create_network(net("front")).unwrap();
    let outside = DockerOptions { ip: Some(Ipv4Addr::new(192, 0, 2, 9)), ..on("front", &[]) };
    let opts = crate::CreateOptions {
        image: n.image.clone(),
        cmd: vec!["/bin/true".into()],
        docker: outside,
        ..Default::default()
    };
    assert!(matches!(n.engine.create(opts).await, Err(Error::InvalidArgument(_))));
    let gateway = DockerOptions { ip: Some(front.gateway), ..on("front", &[]) };
    let opts = crate::CreateOptions {
        image: n.image.clone(),
        cmd: vec!["/bin/true".into()],
        docker: gateway,
        ..Default::default()
    };
    assert!(n.engine.create(opts).await.is_err(), "the gateway is the network's");
}

#[tokio::test]
async fn an_internal_network_has_no_outbound_nat_and_keeps_its_labels() {
    let n = TestNode::new().await;
    let labels = [("team".to_owned(), "a".to_owned())].into();
    let req = NetworkCreate { internal: true, labels, ..net("inside") };
    let inside = n.engine.create_network(req).unwrap();
    assert!(inside.internal);
    assert_eq!(inside.labels.get("team").map(String::as_str), Some("a"));
    let calls = n.filter.0.lock().unwrap().clone();
    let nat = format!("masquerade {} {} false", inside.bridge, inside.subnet);
    assert!(calls.contains(&nat), "{nat} not in {calls:?}");
}

#[tokio::test]
async fn publish_all_takes_a_host_port_for_every_exposed_port() {
    let n = TestNode::new().await;
    let exposed = vec!["80/tcp".parse().unwrap(), "53/udp".parse().unwrap()];
    let opts = DockerOptions {
        network: NetworkMode::Bridge,
        exposed_ports: exposed,
        publish_all: true,
        ..Default::default()
    };
    let id = n.create("web", opts).await;
    n.engine.start(&id).await.unwrap();
    let rec = n.engine.inspect(&id).unwrap();
    let mut ports: Vec<String> = rec.config.ports.iter().map(|p| p.container.to_string()).collect();
    ports.sort();
    assert_eq!(ports, ["53/udp", "80/tcp"]);
    assert!(rec.config.ports.iter().all(|p| p.host_port > 0));
}

#[tokio::test]
async fn a_container_joining_another_s_network_gets_its_namespace() {
    let n = TestNode::new().await;
    let a =
        n.create("a", DockerOptions { network: NetworkMode::Bridge, ..Default::default() }).await;
    n.engine.start(&a).await.unwrap();
    let sandbox = n.engine.inspect(&a).unwrap().config.network.sandbox().unwrap().to_owned();
    let joiner =
        DockerOptions { network: NetworkMode::Container("a".into()), ..Default::default() };
    let b = n.create("b", joiner).await;
    n.engine.start(&b).await.unwrap();
    let path = n.bundle(&b).join(berth_proto::shim::CONFIG_FILE);
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let ns = spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
    let net = ns.iter().find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network);
    let want = n.engine.paths().sandbox_state(&sandbox).unwrap().join("net");
    assert_eq!(net.unwrap().path().as_deref(), Some(want.as_path()));
    // No sandbox of its own, no address of its own.
    assert!(n.engine.inspect(&b).unwrap().config.network.sandbox().is_none());
    assert_eq!(n.plugins.calls.lock().unwrap().iter().filter(|c| c.0 == "ADD").count(), 1);
}
