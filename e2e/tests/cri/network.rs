//! Pod networking through real CNI plugins (Debian's bridge, host-local,
//! portmap): NetworkReady, pod IPs, host ↔ pod and pod ↔ pod traffic on
//! the test's own bridge, port mappings, DEL on stop (also after a daemon
//! restart), and nothing left behind.

use berth_e2e::{CriRuntime, Daemon};
use berth_proto::cri;
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;
use tonic::Code;

fn pod(
    d: &Daemon,
    name: &str,
    ports: Vec<cri::PortMapping>,
    host_network: bool,
) -> cri::RunPodSandboxRequest {
    let network =
        if host_network { cri::NamespaceMode::Node } else { cri::NamespaceMode::Pod } as i32;
    cri::RunPodSandboxRequest {
        config: Some(cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "net".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: d.dir.join("logs").join(name).display().to_string(),
            port_mappings: ports,
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: format!("/{}/pod-{name}", d.cgroup_parent),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network,
                        pid: cri::NamespaceMode::Container as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        runtime_handler: String::new(),
    }
}

/// A container answering every TCP connection on `port` with `reply`.
async fn serve(rt: &mut CriRuntime, pod: &str, port: u16, reply: &str) -> String {
    let config = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: "srv".into(), attempt: 0 }),
        image: Some(cri::ImageSpec { image: "busybox".into(), ..Default::default() }),
        command: vec![
            "nc".into(),
            "-ll".into(),
            "-p".into(),
            port.to_string(),
            "-e".into(),
            "echo".into(),
            reply.into(),
        ],
        ..Default::default()
    };
    let id = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: None,
        })
        .await
        .unwrap()
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest { container_id: id.clone() }).await.unwrap();
    id
}

fn fetch(d: &Daemon, addr: &str) -> String {
    let mut got = String::new();
    d.eventually(Duration::from_secs(10), || {
        got.clear();
        TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.read_to_string(&mut got)
            })
            .is_ok()
            && !got.is_empty()
    });
    got.trim().to_owned()
}

async fn ip_of(rt: &mut CriRuntime, id: &str) -> String {
    let st = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner();
    st.status.unwrap().network.unwrap().ip
}

fn nat_rules_mention(id: &str) -> bool {
    let o = std::process::Command::new("iptables").args(["-t", "nat", "-S"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).contains(id)
}

#[tokio::test]
async fn pods_get_addresses_talk_and_are_torn_down() {
    let mut d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let st = rt
        .status(cri::StatusRequest { verbose: false })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(st.conditions.iter().any(|c| c.r#type == "NetworkReady" && c.status), "{st:?}");

    let ports = vec![cri::PortMapping {
        protocol: cri::Protocol::Tcp as i32,
        container_port: 8080,
        host_port: 0,
        host_ip: String::new(),
    }];
    let a =
        rt.run_pod_sandbox(pod(&d, "a", ports, false)).await.unwrap().into_inner().pod_sandbox_id;
    let b = rt
        .run_pod_sandbox(pod(&d, "b", Vec::new(), false))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let (ip_a, ip_b) = (ip_of(&mut rt, &a).await, ip_of(&mut rt, &b).await);
    assert!(
        ip_a.starts_with(&format!("{}.", d.subnet)) && ip_b.starts_with(&format!("{}.", d.subnet)),
        "{ip_a} {ip_b}"
    );
    assert_ne!(ip_a, ip_b);

    // Host → pod, over the test's bridge.
    serve(&mut rt, &a, 8080, "hello-from-a").await;
    assert_eq!(fetch(&d, &format!("{ip_a}:8080")), "hello-from-a");
    // Pod → pod.
    let client = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: "client".into(), attempt: 0 }),
        image: Some(cri::ImageSpec { image: "busybox".into(), ..Default::default() }),
        command: vec!["sleep".into(), "1000".into()],
        ..Default::default()
    };
    let c = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: b.clone(),
            config: Some(client),
            sandbox_config: None,
        })
        .await
        .unwrap()
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest { container_id: c.clone() }).await.unwrap();
    let r = rt
        .exec_sync(cri::ExecSyncRequest {
            container_id: c.clone(),
            cmd: vec!["sh".into(), "-c".into(), format!("nc {ip_a} 8080 </dev/null")],
            timeout: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        String::from_utf8_lossy(&r.stdout).trim(),
        "hello-from-a",
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // The pod's interface and its address, from inside.
    let r = rt
        .exec_sync(cri::ExecSyncRequest {
            container_id: c.clone(),
            cmd: vec![
                "ip".into(),
                "-4".into(),
                "-o".into(),
                "addr".into(),
                "show".into(),
                "eth0".into(),
            ],
            timeout: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(String::from_utf8_lossy(&r.stdout).contains(&ip_b));

    // A published port: DNAT from a host address (the bridge's gateway) to the pod.
    let published = vec![cri::PortMapping {
        protocol: cri::Protocol::Tcp as i32,
        container_port: 8080,
        host_port: 28080,
        host_ip: String::new(),
    }];
    let p = rt
        .run_pod_sandbox(pod(&d, "p", published, false))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    serve(&mut rt, &p, 8080, "hello-via-port").await;
    assert!(nat_rules_mention(&p));
    assert_eq!(fetch(&d, &format!("{}.1:28080", d.subnet)), "hello-via-port");

    // kill -9 and restart: DEL still works from the result cache.
    d.kill9();
    d.restart();
    let (mut rt, _) = d.cri().await;
    for id in [&a, &b, &p] {
        rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id.to_string() })
            .await
            .unwrap();
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id.to_string() })
            .await
            .unwrap();
    }
    assert!(!nat_rules_mention(&p));
    let ipam = std::fs::read_dir(d.dir.join("cni/ipam").join(&d.network))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&d.subnet))
        .count();
    assert_eq!(ipam, 0, "every address is released");
    let veths = std::fs::read_dir(format!("/sys/class/net/{}/brif", d.bridge))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(veths, 0, "no veth left on the bridge");
    assert_eq!(std::fs::read_dir(d.dir.join("root/cni-cache")).unwrap().count(), 0);
}

#[tokio::test]
async fn no_network_config_means_not_ready() {
    let d = Daemon::start();
    std::fs::remove_file(d.cni_conf()).unwrap();
    let (mut rt, _) = d.cri().await;
    let st = rt
        .status(cri::StatusRequest { verbose: false })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    let net = st.conditions.iter().find(|c| c.r#type == "NetworkReady").unwrap();
    assert!(
        !net.status
            && net.reason == "NetworkPluginNotReady"
            && net.message.contains("no CNI network config"),
        "{net:?}"
    );
    let e = rt.run_pod_sandbox(pod(&d, "x", Vec::new(), false)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(berth_e2e::mounts_under(&d.dir).is_empty(), "a failed run leaves nothing pinned");
    // A host-network pod needs no CNI.
    let h = rt
        .run_pod_sandbox(pod(&d, "h", Vec::new(), true))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    assert_eq!(ip_of(&mut rt, &h).await, "");
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: h }).await.unwrap();
}

fn ifb_devices() -> Vec<String> {
    let o = std::process::Command::new("ip")
        .args(["-o", "link", "show", "type", "ifb"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn bandwidth_and_requested_ips_reach_the_plugins() {
    let d = Daemon::start();
    let (mut rt, _img) = d.cri().await;
    let mut req = pod(&d, "shaped", vec![], false);
    let wanted = format!("{}.77", d.subnet);
    let annotations = [
        ("kubernetes.io/ingress-bandwidth", "1M"),
        ("kubernetes.io/egress-bandwidth", "2M"),
        ("berth.dev/ips", wanted.as_str()),
    ];
    req.config.as_mut().unwrap().annotations =
        annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();

    // Bad annotations are the caller's error, and nothing is left of the pod.
    for (k, v) in [
        ("kubernetes.io/ingress-bandwidth", "lots"),
        ("kubernetes.io/egress-bandwidth", "10"),
        ("berth.dev/ips", "10.0.0.999"),
    ] {
        let mut bad = req.clone();
        bad.config.as_mut().unwrap().annotations.insert(k.into(), v.into());
        assert_eq!(
            rt.run_pod_sandbox(bad).await.unwrap_err().code(),
            Code::InvalidArgument,
            "{k}={v}"
        );
    }

    let before = ifb_devices();
    let id = rt.run_pod_sandbox(req).await.unwrap().into_inner().pod_sandbox_id;
    assert_eq!(ip_of(&mut rt, &id).await, wanted, "host-local gave the requested address");
    let veths = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", &d.bridge])
        .output()
        .unwrap();
    let veth = String::from_utf8_lossy(&veths.stdout)
        .lines()
        .next()
        .and_then(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_owned())
        .expect("the pod's veth");
    let qdisc =
        std::process::Command::new("tc").args(["qdisc", "show", "dev", &veth]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&qdisc.stdout).contains("tbf"),
        "ingress is shaped: {}",
        String::from_utf8_lossy(&qdisc.stdout)
    );
    let added: Vec<String> = ifb_devices().into_iter().filter(|n| !before.contains(n)).collect();
    assert_eq!(added.len(), 1, "egress is shaped through an ifb device");

    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id.clone() }).await.unwrap();
    assert!(!ifb_devices().contains(&added[0]), "DEL removed the ifb device");
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id }).await.unwrap();
}
