//! User-defined networks with the real docker CLI: `network create` (its
//! own range from the daemon's pool, or `--subnet`/`--gateway`),
//! `--internal`, `ls`/`inspect`/`rm`/`prune`; `run --network <net>` with
//! `--ip` and `--network-alias`; containers find each other by name, alias
//! and short id through the network's embedded DNS, and a stopped or
//! removed one is not found any more (NXDOMAIN, never forwarded). Refused:
//! an overlapping subnet, a name taken, removing a network in use. Nothing
//! is left (bridge, addresses, records) after `rm`. Traffic stays on the
//! test's bridges.

use berth_e2e::{dir_names, Daemon};
use std::path::Path;

fn bridge_of(d: &Daemon, net: &str) -> String {
    d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        net,
    ])
    .ok()
    .stdout
    .trim()
    .to_owned()
}

/// What busybox's nslookup says of `name` in a container on `net`.
fn lookup(d: &Daemon, net: &str, name: &str) -> berth_e2e::Run {
    d.docker(&["run", "--rm", "--network", net, "busybox", "nslookup", name])
}

#[test]
fn containers_find_each_other_by_name_on_a_user_network() {
    let d = Daemon::start();
    let id = d.docker(&["network", "create", "appnet"]).ok().stdout.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let subnet = d
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            "appnet",
        ])
        .ok()
        .stdout;
    assert!(
        subnet.starts_with(&format!("{}.", d.network_pool)) && subnet.contains("/27"),
        "from the daemon's pool: {subnet}"
    );
    let ls = d.docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]).ok().stdout;
    for want in ["appnet bridge", "bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == want), "{want}: {ls}");
    }

    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "database",
        "busybox",
        "sh",
        "-c",
        "echo served > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    let db_ip = d
        .docker(&["inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "db"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(db_ip.starts_with(&format!("{}.", d.network_pool)), "{db_ip}");
    let resolv = d.docker(&["exec", "db", "cat", "/etc/resolv.conf"]).ok().stdout;
    let gateway = subnet.split_whitespace().nth(1).unwrap();
    assert!(resolv.contains(&format!("nameserver {gateway}")), "the network's DNS: {resolv}");
    // By name, by alias, by short id; and a request by name reaches it.
    let short = d.docker(&["inspect", "-f", "{{.Id}}", "db"]).ok().stdout[..12].to_owned();
    for name in ["db", "database", short.as_str()] {
        let r = lookup(&d, "appnet", name).ok();
        assert!(r.stdout.contains(&format!("Address: {db_ip}")), "{name}: {r:?}");
    }
    let get = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            "busybox",
            "wget",
            "-qO-",
            "http://db:8080/i",
        ])
        .ok();
    assert_eq!(get.stdout, "served\n");
    // --ip: the address asked for.
    let fixed = format!("{}.20", d.network_pool);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "appnet",
        "--ip",
        &fixed,
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "fixed"])
            .ok()
            .stdout
            .trim(),
        fixed
    );
    let users = d
        .docker(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "appnet"])
        .ok()
        .stdout;
    assert!(users.contains("db") && users.contains("fixed"), "{users}");

    // Names follow the containers: stopped, not found; started again, found.
    d.docker(&["stop", "-t", "0", "db"]).ok();
    let r = lookup(&d, "appnet", "db");
    assert!(
        r.code != 0 && !r.stdout.contains(&format!("Address: {db_ip}")),
        "a stopped container is not found: {r:?}"
    );
    d.docker(&["start", "db"]).ok();
    assert!(lookup(&d, "appnet", "database").ok().stdout.contains("Address: "), "started again");
    // Another network doesn't see them.
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &format!("{}.64/27", d.network_pool),
        "--internal",
        "other",
    ])
    .ok();
    assert!(lookup(&d, "other", "db").code != 0, "db is not on other");
    assert_eq!(
        d.docker(&["network", "inspect", "-f", "{{.Internal}}", "other"]).ok().stdout.trim(),
        "true"
    );
    let routes =
        d.docker(&["run", "--rm", "--network", "other", "busybox", "ip", "route"]).ok().stdout;
    assert!(!routes.contains("default"), "an internal network has no way out: {routes}");

    // Refusals: dockerd's words, nothing made.
    let overlap =
        d.docker(&["network", "create", "--subnet", &format!("{}.64/26", d.network_pool), "clash"]);
    assert!(
        overlap.code != 0
            && overlap.stderr.contains("Pool overlaps with other one on this address space"),
        "{overlap:?}"
    );
    let taken = d.docker(&["network", "create", "appnet"]);
    assert!(
        taken.code != 0 && taken.stderr.contains("network with name appnet already exists"),
        "{taken:?}"
    );
    let in_use = d.docker(&["network", "rm", "appnet"]);
    assert!(in_use.code != 0 && in_use.stderr.contains("has active endpoints"), "{in_use:?}");
    let missing = d.docker(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert!(missing.code != 0 && missing.stderr.contains("network nope not found"), "{missing:?}");
    // A 400: the CLI tries no pull (it would on a 404).
    assert!(!missing.stderr.contains("Unable to find image"), "{missing:?}");
    let outside =
        d.docker(&["run", "--rm", "--network", "appnet", "--ip", "192.0.2.1", "busybox", "true"]);
    assert!(outside.code != 0, "{outside:?}");
    let predefined = d.docker(&["network", "rm", "bridge"]);
    assert!(
        predefined.code != 0 && predefined.stderr.contains("pre-defined network"),
        "{predefined:?}"
    );

    // A removed container's name is gone; the network goes with nothing left.
    let bridge = bridge_of(&d, "appnet");
    assert!(Path::new("/sys/class/net").join(&bridge).exists(), "{bridge}");
    d.docker(&["rm", "-f", "db", "fixed"]).ok();
    assert!(lookup(&d, "appnet", "db").code != 0);
    d.docker(&["network", "rm", "appnet"]).ok();
    assert!(
        !Path::new("/sys/class/net").join(&bridge).exists(),
        "the bridge {bridge} went with the network"
    );
    let pruned = d.docker(&["network", "prune", "-f"]).ok().stdout;
    assert!(pruned.contains("other"), "{pruned}");
    assert!(
        dir_names(&d.root().join("networks")).is_empty()
            && dir_names(&d.dir.join("run/networks")).is_empty(),
        "network records and dirs left"
    );
    assert!(dir_names(&d.root().join("cni-cache")).is_empty(), "CNI attachments left");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}

#[test]
fn networks_outlive_a_daemon_restart() {
    let mut d = Daemon::start();
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &format!("{}.32/27", d.network_pool),
        "--gateway",
        &format!("{}.62", d.network_pool),
        "kept",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "kept",
        "--network-alias",
        "www",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.restart();
    let gw = d
        .docker(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "kept"])
        .ok()
        .stdout;
    assert_eq!(gw.trim(), format!("{}.62", d.network_pool));
    // The DNS is back with the daemon.
    assert!(lookup(&d, "kept", "www")
        .ok()
        .stdout
        .contains(&format!("Address: {}.", d.network_pool)));
    d.docker(&["rm", "-f", "web"]).ok();
    // berth's own CLI, the same way.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "kept",
        "--network-alias",
        "bee",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert!(lookup(&d, "kept", "bee").ok().stdout.contains("Address: "));
    assert!(d
        .berth(&["network", "ls"])
        .ok()
        .stdout
        .lines()
        .any(|l| l.contains(" kept ") && l.contains("bridge")));
    d.berth(&["rm", "-f", "b"]).ok();
    d.berth(&["network", "create", "--subnet", &format!("{}.96/27", d.network_pool), "mine"]).ok();
    assert_eq!(
        d.berth(&["network", "inspect", "-f", "{{.Name}}", "mine"]).ok().stdout.trim(),
        "mine"
    );
    d.berth(&["network", "rm", "mine"]).ok();
    d.docker(&["network", "rm", "kept"]).ok();
    assert!(dir_names(&d.root().join("networks")).is_empty());
}

/// `network connect`: one more interface (eth1) on the second network, the
/// container found there by name and alias, through stop/start and a
/// daemon restart; `disconnect` takes it away and the names with it.
/// Refused with dockerd's words: a second connect, a disconnect of what
/// isn't connected. Nothing is left in the CNI cache.
#[test]
fn network_connect_and_disconnect_move_a_container_between_networks() {
    let mut d = Daemon::start();
    d.docker(&["network", "create", "front"]).ok();
    d.docker(&["network", "create", "back"]).ok();
    let back_subnet = d
        .docker(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "back"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let back_prefix = back_subnet.rsplit_once('.').unwrap().0.to_owned();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        "echo api > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        "echo db > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    assert!(
        d.docker(&["exec", "api", "nslookup", "db"]).code != 0,
        "db is not on api's network yet"
    );

    d.docker(&["network", "connect", "--alias", "gateway-api", "back", "api"]).ok();
    let eth1 = d.docker(&["exec", "api", "ip", "-4", "addr", "show", "eth1"]).ok().stdout;
    assert!(eth1.contains(&format!("inet {back_prefix}.")), "{eth1}");
    assert_eq!(
        d.docker(&["exec", "api", "wget", "-qO-", "http://db:8080/i"]).ok().stdout,
        "db\n",
        "found through its first network's DNS"
    );
    assert_eq!(
        d.docker(&["exec", "db", "wget", "-qO-", "http://gateway-api:8080/i"]).ok().stdout,
        "api\n",
        "by its alias on the new network"
    );
    let nets = d
        .docker(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "api",
        ])
        .ok()
        .stdout;
    assert_eq!(nets.trim(), "back front");
    let on_back = d
        .docker(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "back"])
        .ok()
        .stdout;
    assert!(on_back.contains("api") && on_back.contains("db"), "{on_back}");
    let twice = d.docker(&["network", "connect", "back", "api"]);
    assert!(
        twice.code != 0
            && twice.stderr.contains("endpoint with name api already exists in network back"),
        "{twice:?}"
    );
    let in_use = d.docker(&["network", "rm", "back"]);
    assert!(in_use.code != 0 && in_use.stderr.contains("active endpoints"), "{in_use:?}");

    // Kept through a stop and start, and through a daemon restart.
    d.docker(&["restart", "-t", "0", "api"]).ok();
    assert_eq!(d.docker(&["exec", "api", "wget", "-qO-", "http://db:8080/i"]).ok().stdout, "db\n");
    d.restart();
    assert_eq!(d.docker(&["exec", "db", "wget", "-qO-", "http://api:8080/i"]).ok().stdout, "api\n");

    // berth's CLI disconnects it: the interface and the names go.
    d.berth(&["network", "disconnect", "back", "api"]).ok();
    assert!(d.docker(&["exec", "api", "ip", "addr", "show", "eth1"]).code != 0, "eth1 is gone");
    assert!(
        d.docker(&["exec", "db", "nslookup", "gateway-api"]).code != 0,
        "its alias is gone from back"
    );
    let again = d.docker(&["network", "disconnect", "back", "api"]);
    assert!(
        again.code != 0 && again.stderr.contains("is not connected to network back"),
        "{again:?}"
    );
    let first = d.docker(&["network", "disconnect", "front", "api"]);
    assert!(first.code != 0 && first.stderr.contains("not supported by berth yet"), "{first:?}");
    // A stopped container connects too; its interface is there when it starts.
    d.docker(&["stop", "-t", "0", "api"]).ok();
    d.berth(&["network", "connect", "back", "api"]).ok();
    d.docker(&["start", "api"]).ok();
    assert_eq!(d.docker(&["exec", "api", "wget", "-qO-", "http://db:8080/i"]).ok().stdout, "db\n");

    d.docker(&["rm", "-f", "api", "db"]).ok();
    d.docker(&["network", "rm", "front", "back"]).ok();
    assert!(
        dir_names(&d.root().join("cni-cache")).is_empty(),
        "CNI attachments left: {:?}",
        dir_names(&d.root().join("cni-cache"))
    );
}

/// `--network container:<name>`: the other container's namespace (its
/// loopback, its address), hostname, hosts and resolv.conf; dockerd's
/// refusals for what belongs to that namespace; a stopped target can't be
/// joined.
#[test]
fn a_container_joins_anothers_network() {
    let d = Daemon::start();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "webhost",
        "busybox",
        "sh",
        "-c",
        "echo shared > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    let joined = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "container:web", "busybox"];
        all.extend_from_slice(args);
        d.docker(&all)
    };
    assert_eq!(
        joined(&["wget", "-qO-", "http://127.0.0.1:8080/i"]).ok().stdout,
        "shared\n",
        "the target's loopback"
    );
    assert_eq!(joined(&["hostname"]).ok().stdout, "webhost\n");
    let own = d.docker(&["exec", "web", "ip", "-4", "-o", "addr", "show", "eth0"]).ok().stdout;
    let theirs = joined(&["ip", "-4", "-o", "addr", "show", "eth0"]).ok().stdout;
    assert_eq!(
        own.split_whitespace().nth(3),
        theirs.split_whitespace().nth(3),
        "one address: {own} / {theirs}"
    );
    assert_eq!(
        joined(&["cat", "/etc/hosts"]).ok().stdout,
        d.docker(&["exec", "web", "cat", "/etc/hosts"]).ok().stdout
    );
    d.docker(&[
        "create",
        "--name",
        "joiner",
        "--network",
        "container:web",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let web_id = d.docker(&["inspect", "-f", "{{.Id}}", "web"]).ok().stdout.trim().to_owned();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "joiner"]).ok().stdout.trim(),
        format!("container:{web_id}")
    );
    for (flag, says) in [
        (
            vec!["-p", "8081:80"],
            "conflicting options: port publishing and the container type network mode",
        ),
        (vec!["--hostname", "x"], "conflicting options: hostname and the network mode"),
        (vec!["--dns", "10.0.0.1"], "conflicting options: dns and the network mode"),
        (
            vec!["--add-host", "a:10.0.0.1"],
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
    ] {
        let mut args = vec!["run", "--rm", "--network", "container:web"];
        args.extend_from_slice(&flag);
        args.extend_from_slice(&["busybox", "true"]);
        let r = d.docker(&args);
        assert!(r.code == 125 && r.stderr.contains(says), "{flag:?}: {r:?}");
    }
    let r = d.docker(&["run", "--rm", "--network", "container:nosuch", "busybox", "true"]);
    assert!(r.code == 125 && r.stderr.contains("No such container: nosuch"), "{r:?}");
    d.docker(&["stop", "-t", "0", "web"]).ok();
    let r = d.docker(&["start", "joiner"]);
    assert!(
        r.code != 0 && r.stderr.contains("cannot join network of a non running container"),
        "{r:?}"
    );
    // On a user network: the target's DNS is the joiner's too.
    d.docker(&["network", "create", "joined"]).ok();
    d.docker(&["run", "-d", "--name", "named", "--network", "joined", "busybox", "sleep", "1000"])
        .ok();
    let r = d
        .docker(&["run", "--rm", "--network", "container:named", "busybox", "nslookup", "named"])
        .ok();
    assert!(r.stdout.contains(&format!("Address: {}.", d.network_pool)), "{r:?}");
    d.docker(&["rm", "-f", "web", "joiner", "named"]).ok();
    d.docker(&["network", "rm", "joined"]).ok();
}

/// Networks are kept apart, as dockerd's isolation rules keep them: no
/// container on one reaches a container on another, or on the default
/// bridge, by its address; a published port is reachable from any of them;
/// the rules go with the network.
#[test]
fn networks_are_isolated_from_each_other() {
    let d = Daemon::start();
    d.docker(&["network", "create", "one"]).ok();
    d.docker(&["network", "create", "two"]).ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "one",
        "-p",
        &format!("{port}:8080"),
        "busybox",
        "sh",
        "-c",
        "echo one > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    let ip = d
        .docker(&["inspect", "-f", "{{.NetworkSettings.Networks.one.IPAddress}}", "srv"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // (busybox's `wget -T` crashes on a refused connection: `timeout` bounds a
    // dropped one, under an init, as PID 1 would ignore its SIGTERM.)
    let get = |net: &str, url: &str| {
        d.docker(&[
            "run",
            "--rm",
            "--init",
            "--network",
            net,
            "busybox",
            "timeout",
            "3",
            "wget",
            "-qO-",
            url,
        ])
    };
    assert!(d.eventually(std::time::Duration::from_secs(10), || get(
        "one",
        &format!("http://{ip}:8080/i")
    )
    .code
        == 0));
    assert_eq!(get("one", &format!("http://{ip}:8080/i")).ok().stdout, "one\n", "the same network");
    let across = get("two", &format!("http://{ip}:8080/i"));
    assert!(across.code != 0, "another network reached it: {across:?}");
    let from_bridge = get("bridge", &format!("http://{ip}:8080/i"));
    assert!(from_bridge.code != 0, "the default bridge reached it: {from_bridge:?}");
    // Its published port, at the other network's gateway (an address of the node's).
    let gw = d
        .docker(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "two"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(
        get("two", &format!("http://{gw}:{port}/i")).ok().stdout,
        "one\n",
        "a published port is for everyone"
    );
    let bridge = d
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{index .Options \"com.docker.network.bridge.name\"}}",
            "one",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(berth_e2e::isolation_exists(&bridge));
    d.docker(&["rm", "-f", "srv"]).ok();
    d.docker(&["network", "rm", "one", "two"]).ok();
    assert!(!berth_e2e::isolation_exists(&bridge), "the network's rules went with it");
}

/// A container on the default bridge connected to a user-defined network,
/// as dockerd lets it: one more interface, found by name and alias there,
/// kept through a restart, taken away by a disconnect.
#[test]
fn a_default_bridge_container_joins_a_user_network() {
    let d = Daemon::start();
    d.docker(&["network", "create", "--subnet", &format!("{}.32/27", d.network_pool), "side"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "b",
        "busybox",
        "sh",
        "-c",
        "echo b > /tmp/i; exec httpd -f -p 8080 -h /tmp",
    ])
    .ok();
    d.docker(&["run", "-d", "--name", "u", "--network", "side", "busybox", "sleep", "1000"]).ok();
    d.docker(&["network", "connect", "--alias", "balias", "side", "b"]).ok();
    let eth1 = d.docker(&["exec", "b", "ip", "-4", "-o", "addr", "show", "eth1"]).ok().stdout;
    assert!(eth1.contains(&format!("{}.", d.network_pool)), "{eth1}");
    for name in ["b", "balias"] {
        assert_eq!(
            d.docker(&["exec", "u", "wget", "-qO-", &format!("http://{name}:8080/i")]).ok().stdout,
            "b\n",
            "{name}"
        );
    }
    let nets = d.docker(&["inspect", "-f", "{{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "b"]).ok().stdout;
    assert_eq!(nets.trim(), "default bridge side");
    assert!(d.docker(&["network", "rm", "side"]).code != 0, "in use");
    // Through a restart of the container, then off again.
    d.docker(&["restart", "-t", "0", "b"]).ok();
    assert_eq!(d.docker(&["exec", "u", "wget", "-qO-", "http://b:8080/i"]).ok().stdout, "b\n");
    d.docker(&["network", "disconnect", "side", "b"]).ok();
    assert!(d.docker(&["exec", "b", "ip", "addr", "show", "eth1"]).code != 0, "eth1 is gone");
    assert!(d.docker(&["exec", "u", "nslookup", "b"]).code != 0, "its name is gone from side");
    // A stopped one connects too; its start attaches it.
    d.docker(&["stop", "-t", "0", "b"]).ok();
    d.docker(&["network", "connect", "side", "b"]).ok();
    d.docker(&["start", "b"]).ok();
    assert_eq!(d.docker(&["exec", "u", "wget", "-qO-", "http://b:8080/i"]).ok().stdout, "b\n");
    assert!(d
        .docker(&["network", "connect", "side", "b"])
        .stderr
        .contains("already exists in network side"));
    // dockerd's refusals for the modes without a bridge.
    for (mode, says) in [
        ("none", "in private (none) mode"),
        ("host", "sharing network namespace with another container or host"),
    ] {
        d.docker(&["create", "--name", mode, "--network", mode, "busybox", "true"]).ok();
        let r = d.docker(&["network", "connect", "side", mode]);
        assert!(r.code != 0 && r.stderr.contains(says), "{mode}: {r:?}");
        d.docker(&["rm", mode]).ok();
    }
    d.docker(&["rm", "-f", "b", "u"]).ok();
    d.docker(&["network", "rm", "side"]).ok();
    assert!(
        dir_names(&d.root().join("cni-cache")).is_empty(),
        "CNI attachments left: {:?}",
        dir_names(&d.root().join("cni-cache"))
    );
}
