//! Docker's default network on berth: `docker run` without `--network`
//! gives the container an address on berth's default bridge (a test
//! daemon's own bridge and /24, apart from its pods' network), the node's
//! resolv.conf and its own name in /etc/hosts, as docker0 does. The
//! namespace is held by a sandbox of the container's own while it runs,
//! which the CRI never lists, and which goes with its exit: nothing is
//! left after a stop, a removal, a failed start, or a crash in between. Traffic stays on the
//! test's bridge.

use berth_e2e::{dir_names, mounts_under, Daemon};

fn ip_of(d: &Daemon, name: &str) -> String {
    d.docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

/// Addresses allocated on the daemon's default bridge.
fn addresses(d: &Daemon) -> Vec<String> {
    let ipam =
        d.dir.join("run/bridge-network/ipam").join(format!("berth-bridge-{}", d.docker_bridge));
    dir_names(&ipam).into_iter().filter(|n| n.starts_with(&d.docker_subnet)).collect()
}

fn assert_clean(d: &Daemon, what: &str) {
    assert_eq!(addresses(d), Vec::<String>::new(), "{what}: addresses left");
    assert!(dir_names(&d.root().join("sandboxes")).is_empty(), "{what}: sandbox records left");
    assert!(dir_names(&d.dir.join("run/sandboxes")).is_empty(), "{what}: sandbox state left");
    assert!(dir_names(&d.root().join("cni-cache")).is_empty(), "{what}: CNI attachments left");
    assert_eq!(mounts_under(&d.dir), Vec::<std::path::PathBuf>::new(), "{what}: mounts left");
}

#[tokio::test]
async fn docker_run_gets_an_address_on_the_default_bridge() {
    let d = Daemon::start();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; ip route; cat /etc/resolv.conf; hostname; cat /etc/hosts",
        ])
        .ok()
        .stdout;
    assert!(out.contains(&format!("inet {}.", d.docker_subnet)) && out.contains("/24"), "{out}");
    assert!(out.contains(&format!("default via {}.1", d.docker_subnet)), "{out}");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    assert!(out.contains(host_resolv.trim()), "the node's resolv.conf: {out}");
    assert_clean(&d, "after run --rm");

    // Two containers reach each other on the bridge, and the node reaches them.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "a",
        "busybox",
        "sh",
        "-c",
        "echo served > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    let a = ip_of(&d, "a");
    assert!(a.starts_with(&format!("{}.", d.docker_subnet)), "{a}");
    let get = d
        .docker(&[
            "run",
            "--rm",
            "--name",
            "b",
            "busybox",
            "sh",
            "-c",
            &format!("printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {a} 8080"),
        ])
        .ok();
    assert!(get.stdout.ends_with("\r\n\r\nserved\n"), "{get:?}");
    let mut conn = std::net::TcpStream::connect_timeout(
        &format!("{a}:8080").parse().unwrap(),
        std::time::Duration::from_secs(5),
    )
    .expect("the node reaches the container on its bridge");
    use std::io::{Read, Write};
    conn.write_all(b"GET /i HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with("served\n"), "{answer}");
    let hosts = d.docker(&["exec", "a", "cat", "/etc/hosts"]).ok().stdout;
    let short = d.docker(&["inspect", "-f", "{{.Config.Hostname}}", "a"]).ok().stdout;
    assert!(hosts.contains(&format!("{a}\t{}", short.trim())), "{hosts}");
    let mode = d
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPPrefixLen}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}{{end}}",
            "a",
        ])
        .ok();
    assert_eq!(mode.stdout.trim(), format!("default {}.1 24 bridge={a}", d.docker_subnet));
    // --network none: loopback only.
    let none =
        d.docker(&["run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"]).ok().stdout;
    assert_eq!(none.lines().count(), 1, "{none}");

    // --network host: the node's interfaces, name and resolv.conf.
    // (Tests beside this one add and remove bridges meanwhile: the node's
    // interfaces are those before and after, give or take theirs.)
    let node = || {
        berth_e2e::dir_names(std::path::Path::new("/sys/class/net"))
            .into_iter()
            .collect::<std::collections::BTreeSet<String>>()
    };
    let before = node();
    let host = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "sh",
            "-c",
            "ls /sys/class/net | sort; echo; hostname",
        ])
        .ok()
        .stdout;
    let after = node();
    let (ifaces, name) = host.split_once("\n\n").unwrap();
    let seen: std::collections::BTreeSet<String> = ifaces.lines().map(str::to_owned).collect();
    assert!(
        before.intersection(&after).all(|i| seen.contains(i))
            && seen.iter().all(|i| before.contains(i)
                || after.contains(i)
                || ["bt", "bd", "veth"].iter().any(|p| i.starts_with(p))),
        "the node's interfaces: {seen:?}, node {before:?} / {after:?}"
    );
    assert_eq!(name.trim(), nix::unistd::gethostname().unwrap().to_string_lossy());
    assert_eq!(d.docker(&["run", "--network", "host", "--name", "h", "busybox", "true"]).code, 0);
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "h"]).ok().stdout.trim(),
        "host"
    );
    d.docker(&["rm", "h"]).ok();

    // The pods' side never sees these sandboxes.
    let (mut rt, _) = d.cri().await;
    let pods = rt
        .list_pod_sandbox(berth_proto::cri::ListPodSandboxRequest::default())
        .await
        .unwrap()
        .into_inner()
        .items;
    assert!(pods.is_empty(), "{pods:?}");
    let ctrs = rt
        .list_containers(berth_proto::cri::ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert!(ctrs.is_empty(), "{ctrs:?}");

    // A stopped container holds no address, sandbox or namespace (as
    // dockerd's endpoints); its next start makes them anew, on the bridge.
    d.docker(&["stop", "-t", "0", "a"]).ok();
    assert_eq!(ip_of(&d, "a"), "");
    assert_clean(&d, "stopped");
    d.docker(&["start", "a"]).ok();
    let again = ip_of(&d, "a");
    assert!(again.starts_with(&format!("{}.", d.docker_subnet)), "{again}");
    assert_eq!(addresses(&d), std::slice::from_ref(&again));
    let hosts = d.docker(&["exec", "a", "cat", "/etc/hosts"]).ok().stdout;
    assert!(hosts.contains(&format!("{again}\t{}", short.trim())), "{hosts}");
    d.docker(&["rm", "-f", "a"]).ok();
    assert_clean(&d, "after rm -f");
}

#[test]
fn the_network_goes_with_the_container_through_crashes() {
    let mut d = Daemon::start();
    d.docker(&["run", "-d", "--name", "keep", "busybox", "sleep", "1000"]).ok();
    let ip = ip_of(&d, "keep");
    // SIGKILLed daemon: the container, its address and its namespace stay.
    d.restart();
    assert_eq!(ip_of(&d, "keep"), ip);
    assert_eq!(
        d.docker(&["exec", "keep", "sh", "-c", "ip -4 -o addr show eth0 | grep -c inet"])
            .ok()
            .stdout
            .trim(),
        "1"
    );
    d.docker(&["rm", "-f", "keep"]).ok();
    assert_clean(&d, "removed after a restart");

    // A create that fails after the network was made: undone.
    d.arm("create.before_record=error");
    let failed = d.docker(&["create", "busybox", "true"]);
    assert!(failed.code != 0, "{failed:?}");
    assert_clean(&d, "failed create");
    // berthd dies there: the next start sweeps the container's network.
    d.arm("create.before_record=abort");
    let _ = d.docker(&["create", "busybox", "true"]);
    d.disarm();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert_clean(&d, "create cut short by a crash");

    // A start that fails after its network was made: given back, the
    // container created still, and it starts later.
    d.docker(&["create", "--name", "late", "busybox", "sleep", "1000"]).ok();
    d.arm("start.before_record=error");
    let failed = d.docker(&["start", "late"]);
    assert!(failed.code != 0, "{failed:?}");
    d.disarm();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}} {{.NetworkSettings.IPAddress}}", "late"])
            .ok()
            .stdout
            .trim(),
        "created"
    );
    assert_clean(&d, "failed start");
    // berthd dies there: the next start-up gives it back.
    d.arm("start.before_record=abort");
    let _ = d.docker(&["start", "late"]);
    d.disarm();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}} {{.NetworkSettings.IPAddress}}", "late"])
            .ok()
            .stdout
            .trim(),
        "created"
    );
    assert_clean(&d, "start cut short by a crash");
    d.docker(&["start", "late"]).ok();
    assert!(ip_of(&d, "late").starts_with(&format!("{}.", d.docker_subnet)));
    d.docker(&["rm", "-f", "late"]).ok();
    assert_clean(&d, "at the end");
}

#[test]
fn dns_settings_and_extra_hosts() {
    let d = Daemon::start();
    // The container's own resolver over the node's, on the bridge and without a network.
    for net in ["bridge", "none"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--network",
                net,
                "--dns",
                "192.0.2.53",
                "--dns-search",
                "corp.example",
                "--dns-option",
                "ndots:3",
                "--add-host",
                "db:192.0.2.7",
                "busybox",
                "sh",
                "-c",
                "cat /etc/resolv.conf; grep db /etc/hosts",
            ])
            .ok()
            .stdout;
        assert!(
            out.contains("nameserver 192.0.2.53\n")
                && out.contains("search corp.example\n")
                && out.contains("options ndots:3\n"),
            "{net}: {out}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("nameserver") && !l.contains("192.0.2.53")),
            "{net}: only the given server: {out}"
        );
        assert!(out.contains("192.0.2.7\tdb"), "{net}: {out}");
    }
    // The berth CLI's flags, the same way; inspect shows them.
    d.berth(&[
        "run",
        "--name",
        "b",
        "--network",
        "none",
        "--dns",
        "192.0.2.9",
        "--add-host",
        "cache:192.0.2.8",
        "busybox",
        "true",
    ])
    .ok();
    let hc = d
        .docker(&["inspect", "-f", "{{.HostConfig.Dns}} {{.HostConfig.ExtraHosts}}", "b"])
        .ok()
        .stdout;
    assert_eq!(hc.trim(), "[192.0.2.9] [cache:192.0.2.8]");
    d.docker(&["rm", "b"]).ok();
    // dockerd's refusals.
    for (args, err) in [
        (vec!["--add-host", "db:nope"], "invalid IP address in add-host"),
        (vec!["--dns-search", "a b"], "invalid DNS search domain"),
        (
            vec!["--network", "host", "--dns", "192.0.2.1"],
            "conflicting options: dns and the network mode",
        ),
    ] {
        let r = d.docker_post(
            "/v1.41/containers/create",
            &serde_json::json!({ "Image": "busybox", "HostConfig": host_config(&args) })
                .to_string(),
        );
        assert!(r.0 == 400 && r.1.contains(err), "{args:?}: {r:?}");
    }
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert_clean(&d, "after the DNS checks");
}

/// The HostConfig the docker CLI sends for these flags.
fn host_config(args: &[&str]) -> serde_json::Value {
    let mut hc = serde_json::json!({});
    for pair in args.chunks(2) {
        let (key, list) = match pair[0] {
            "--add-host" => ("ExtraHosts", true),
            "--dns-search" => ("DnsSearch", true),
            "--dns" => ("Dns", true),
            "--network" => ("NetworkMode", false),
            other => panic!("{other}"),
        };
        hc[key] = if list { serde_json::json!([pair[1]]) } else { serde_json::json!(pair[1]) };
    }
    hc
}

/// `--mac-address`: the container's interface has it, on the default
/// bridge and on a user network (docker CLI and berth's), and inspect shows
/// it; a malformed one is a 400, nothing created.
#[test]
fn a_container_gets_the_mac_address_asked_for() {
    let d = Daemon::start();
    d.docker(&["network", "create", "macnet"]).ok();
    for (net, mac) in [("bridge", "02:42:ac:11:00:09"), ("macnet", "02:42:ac:11:00:0a")] {
        let shown = d
            .docker(&[
                "run",
                "--rm",
                "--network",
                net,
                "--mac-address",
                mac,
                "busybox",
                "cat",
                "/sys/class/net/eth0/address",
            ])
            .ok()
            .stdout;
        assert_eq!(shown.trim(), mac, "{net}");
    }
    d.berth(&[
        "run",
        "-d",
        "--name",
        "m",
        "--mac-address",
        "02:42:AC:11:00:0B",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(
        d.docker(&["exec", "m", "cat", "/sys/class/net/eth0/address"]).ok().stdout.trim(),
        "02:42:ac:11:00:0b"
    );
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.Config.MacAddress}} {{.NetworkSettings.MacAddress}}", "m"])
            .ok()
            .stdout
            .trim(),
        "02:42:ac:11:00:0b 02:42:ac:11:00:0b"
    );
    let (code, body) = d.docker_post(
        "/v1.41/containers/create",
        r#"{"Image":"busybox","MacAddress":"02:42:zz:11:00:09"}"#,
    );
    assert!(code == 400 && body.contains("invalid MAC address"), "{code} {body}");
    d.docker(&["rm", "-f", "m"]).ok();
    d.docker(&["network", "rm", "macnet"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}

/// The nat table's rules, as `iptables -S` prints them.
fn nat_rules() -> Vec<String> {
    let out =
        std::process::Command::new("iptables").args(["-w", "-t", "nat", "-S"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// The veths on a bridge.
fn veths_on(bridge: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif")).map(|r| r.count()).unwrap_or(0)
}

#[test]
fn outbound_nat_is_one_rule_per_network_and_exits_leave_no_interface() {
    let mut d = Daemon::start();
    // The base config has outbound NAT off; this daemon has it on.
    let conf = d.dir.join("berthd.toml");
    std::fs::write(
        &conf,
        std::fs::read_to_string(&conf).unwrap().replace("masquerade = false", "masquerade = true"),
    )
    .unwrap();
    d.restart();
    let masq = |subnet: &str, bridge: &str| {
        format!("-A POSTROUTING -s {subnet} ! -o {bridge} -j MASQUERADE")
    };
    let default_rule = masq(&format!("{}.0/24", d.docker_subnet), &d.docker_bridge);
    let count = |rule: &str| nat_rules().iter().filter(|r| *r == rule).count();
    assert_eq!(count(&default_rule), 1, "{:#?}", nat_rules());
    let subnet = format!("{}.32/27", d.network_pool);
    let id =
        d.docker(&["network", "create", "--subnet", &subnet, "out"]).ok().stdout.trim().to_owned();
    let bridge = format!("br-{}", &id[..12]);
    let inner = d
        .docker(&[
            "network",
            "create",
            "--internal",
            "--subnet",
            &format!("{}.64/27", d.network_pool),
            "in",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(count(&masq(&subnet, &bridge)), 1);
    assert!(
        !nat_rules().iter().any(|r| r.contains(&format!("br-{}", &inner[..12]))),
        "an internal network has no outbound NAT"
    );

    // Containers on them add no NAT of their own; a restart makes nothing twice.
    d.docker(&["run", "-d", "--name", "a", "busybox", "sleep", "1000"]).ok();
    d.docker(&["run", "-d", "--name", "b", "--network", "out", "busybox", "sleep", "1000"]).ok();
    let per_container: Vec<String> = nat_rules()
        .into_iter()
        .filter(|r| r.contains("berth-bridge-") || r.contains("berth-net-"))
        .collect();
    assert!(per_container.is_empty(), "{per_container:#?}");
    d.restart();
    assert_eq!((count(&default_rule), count(&masq(&subnet, &bridge))), (1, 1));

    // An exit leaves no interface behind (the namespace takes it), nor an address.
    assert_eq!((veths_on(&d.docker_bridge), veths_on(&bridge)), (1, 1));
    d.docker(&["rm", "-f", "a", "b"]).ok();
    assert!(
        d.eventually(std::time::Duration::from_secs(10), || veths_on(&d.docker_bridge)
            + veths_on(&bridge)
            == 0),
        "veths left"
    );
    assert_clean(&d, "after rm -f");
    d.docker(&["network", "rm", "out", "in"]).ok();
    assert_eq!(count(&masq(&subnet, &bridge)), 0, "the network's rule goes with it");
}
