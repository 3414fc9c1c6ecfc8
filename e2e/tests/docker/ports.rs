//! Published ports with the real docker CLI: `-p host:ctr`,
//! `-p ip:host:ctr`, `-p ctr` and `-P` (any free host port), host port
//! ranges, `/udp`; TCP ones reachable on 127.0.0.1 from the node; `docker port`,
//! `ps` and inspect show them. A port another container or a program of
//! the node holds is refused at start with Docker's words and leaves
//! nothing behind; a stop, an exit or a removal gives the port back, the
//! next start takes it again; a restarted berthd still knows who holds what. Traffic stays on the node (loopback and the test's
//! bridge).

use berth_e2e::{dir_names, Daemon};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A port nothing on the node listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What an HTTP GET of `/i` on 127.0.0.1:`port` answers (retried while the server starts).
fn get(d: &Daemon, port: u16) -> String {
    let mut body = String::new();
    d.eventually(Duration::from_secs(10), || {
        body.clear();
        let Ok(mut s) = TcpStream::connect_timeout(
            &format!("127.0.0.1:{port}").parse().unwrap(),
            Duration::from_secs(2),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        s.write_all(b"GET /i HTTP/1.0\r\n\r\n").is_ok()
            && s.read_to_string(&mut body).is_ok()
            && body.ends_with("served\n")
    });
    body
}

const HTTPD: &str = "echo served > /tmp/i; exec httpd -f -p 8080 -h /tmp";

fn assert_no_leftovers(d: &Daemon, what: &str) {
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "", "{what}: containers left");
    assert!(dir_names(&d.root().join("sandboxes")).is_empty(), "{what}: sandboxes left");
    assert!(dir_names(&d.root().join("cni-cache")).is_empty(), "{what}: CNI attachments left");
    let nat = std::process::Command::new("iptables").args(["-t", "nat", "-S"]).output().unwrap();
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(!nat.lines().any(|l| l.contains(&d.docker_subnet)), "{what}: NAT rules left: {nat}");
}

#[test]
fn published_ports_answer_on_the_node() {
    let d = Daemon::start();
    let (fixed, local) = (free_port(), free_port());
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{fixed}:8080"),
        "-p",
        &format!("127.0.0.1:{local}:8080"),
        "-p",
        "8080",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ])
    .ok();
    assert!(get(&d, fixed).ends_with("served\n"), "-p {fixed}:8080");
    assert!(get(&d, local).ends_with("served\n"), "-p 127.0.0.1:{local}:8080");
    // Through an address of the node's (the bridge's gateway): from the
    // container itself (hairpin) and from a neighbour on its bridge.
    let url = format!("http://{}.1:{fixed}/i", d.docker_subnet);
    assert_eq!(
        d.docker(&["exec", "web", "timeout", "5", "wget", "-qO-", &url]).ok().stdout,
        "served\n",
        "hairpin"
    );
    assert_eq!(
        d.docker(&["run", "--rm", "--init", "busybox", "timeout", "5", "wget", "-qO-", &url])
            .ok()
            .stdout,
        "served\n",
        "a neighbour"
    );
    // `docker port`: the fixed ones and one the daemon chose.
    let ports = d.docker(&["port", "web", "8080"]).ok().stdout;
    let lines: Vec<&str> = ports.lines().collect();
    assert_eq!(lines.len(), 3, "{ports}");
    assert!(
        lines.contains(&format!("0.0.0.0:{fixed}").as_str())
            && lines.contains(&format!("127.0.0.1:{local}").as_str()),
        "{ports}"
    );
    let any: u16 = lines
        .iter()
        .find(|l| !l.ends_with(&format!(":{fixed}")) && !l.ends_with(&format!(":{local}")))
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(any > 1024, "{ports}");
    assert!(get(&d, any).ends_with("served\n"), "the chosen port {any}: {ports}");
    let ps = d.docker(&["ps", "--format", "{{.Ports}}"]).ok().stdout;
    assert!(
        ps.contains(&format!("0.0.0.0:{fixed}->8080/tcp"))
            && ps.contains(&format!("127.0.0.1:{local}->8080/tcp")),
        "{ps}"
    );
    let inspect = d.inspect("web");
    assert_eq!(
        inspect["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"],
        fixed.to_string(),
        "{inspect}"
    );
    assert_eq!(inspect["Config"]["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));

    // -P: every exposed port (the image's EXPOSE and --expose) on a port of its own.
    d.import_busybox("exposing", &["EXPOSE 8080/tcp"]);
    d.docker(&[
        "run", "-d", "--name", "all", "-P", "--expose", "9999/udp", "exposing", "sh", "-c", HTTPD,
    ])
    .ok();
    let all = d.docker(&["port", "all"]).ok().stdout;
    assert!(all.contains("8080/tcp -> 0.0.0.0:") && all.contains("9999/udp -> 0.0.0.0:"), "{all}");
    let p: u16 = d
        .docker(&["port", "all", "8080/tcp"])
        .ok()
        .stdout
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(get(&d, p).ends_with("served\n"));

    // A range takes its first free port; /udp is published as udp.
    let first = free_port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "ranged",
        "-p",
        &format!("{first}-{}:8080", first + 5),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ])
    .ok();
    assert!(d.docker(&["port", "ranged"]).ok().stdout.starts_with("8080/tcp -> 0.0.0.0:"));
    // (busybox has no UDP server: the mapping is checked in the node's NAT table.)
    let udp = free_port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        &format!("127.0.0.1:{udp}:9999/udp"),
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(
        d.docker(&["port", "echo"]).ok().stdout.trim(),
        format!("9999/udp -> 127.0.0.1:{udp}")
    );
    let ip = d
        .docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "echo"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let nat = String::from_utf8_lossy(
        &std::process::Command::new("iptables").args(["-t", "nat", "-S"]).output().unwrap().stdout,
    )
    .into_owned();
    assert!(
        nat.lines().any(|l| l.contains("-d 127.0.0.1/32 -p udp")
            && l.contains(&format!("--dport {udp} "))
            && l.ends_with(&format!("-j DNAT --to-destination {ip}:9999"))),
        "{nat}"
    );

    d.docker(&["rm", "-f", "web", "all", "ranged", "echo"]).ok();
    assert_no_leftovers(&d, "after rm -f");
    // Given back: the same host port serves a new container.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "again",
        "-p",
        &format!("{fixed}:8080"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ])
    .ok();
    assert!(get(&d, fixed).ends_with("served\n"));
    d.docker(&["rm", "-f", "again"]).ok();
    assert_no_leftovers(&d, "at the end");
}

#[test]
fn a_taken_port_is_refused_and_leaves_nothing() {
    let mut d = Daemon::start();
    let port = free_port();
    let publish = format!("{port}:80");
    d.docker(&["run", "-d", "--name", "holder", "-p", &publish, "busybox", "sleep", "1000"]).ok();
    // As dockerd: the port is taken at start, so the create goes through
    // and the start is refused; the container stays, created, holding nothing.
    let taken =
        d.docker(&["run", "-d", "--name", "second", "-p", &publish, "busybox", "sleep", "1000"]);
    assert!(
        taken.code == 125
            && taken
                .stderr
                .contains(&format!("Bind for 0.0.0.0:{port} failed: port is already allocated")),
        "{taken:?}"
    );
    assert_eq!(
        d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.NetworkSettings.IPAddress}}|{{len .NetworkSettings.Ports}}",
            "second"
        ])
        .ok()
        .stdout
        .trim(),
        "created |0"
    );
    // 127.0.0.1 is one of 0.0.0.0's addresses.
    d.docker(&[
        "create",
        "--name",
        "local",
        "-p",
        &format!("127.0.0.1:{publish}"),
        "busybox",
        "true",
    ])
    .ok();
    let local = d.docker(&["start", "local"]);
    assert!(local.code != 0 && local.stderr.contains("port is already allocated"), "{local:?}");
    // A restarted berthd still knows who holds it.
    d.restart();
    let after = d.docker(&["start", "second"]);
    assert!(after.code != 0 && after.stderr.contains("port is already allocated"), "{after:?}");
    assert_eq!(d.docker(&["ps", "-q"]).ok().stdout.lines().count(), 1, "only the holder runs");

    // A stop gives the port back at once; the next start takes it again.
    d.docker(&["stop", "-t", "0", "holder"]).ok();
    assert_eq!(
        d.docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}}|{{len .NetworkSettings.Ports}}",
            "holder"
        ])
        .ok()
        .stdout
        .trim(),
        "|0"
    );
    assert_eq!(d.docker(&["port", "holder"]).ok().stdout, "");
    d.docker(&["start", "second"]).ok();
    assert_eq!(
        d.docker(&["port", "second"]).ok().stdout.trim(),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    let back = d.docker(&["start", "holder"]);
    assert!(back.code != 0 && back.stderr.contains("port is already allocated"), "{back:?}");
    // Its exit gives it back as well (no stop on purpose).
    d.docker(&["kill", "second"]).ok();
    d.docker(&["wait", "second"]).ok();
    d.docker(&["start", "holder"]).ok();
    assert_eq!(
        d.docker(&["port", "holder"]).ok().stdout.trim(),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    d.docker(&["rm", "-f", "holder", "second", "local"]).ok();

    // A program of the node listening on it.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let busy = listener.local_addr().unwrap().port();
    let r = d.docker(&["run", "-d", "--rm", "-p", &format!("{busy}:80"), "busybox", "true"]);
    assert!(
        r.code == 125
            && r.stderr
                .contains(&format!("listen tcp4 0.0.0.0:{busy}: bind: address already in use")),
        "{r:?}"
    );
    // Bad specs: the CLI's or the daemon's words, nothing created.
    for (spec, err) in
        [("99999:80", "nvalid hostPort"), ("80/sctp", "sctp"), ("[::1]:8080:80", "IPv4")]
    {
        let r = d.docker(&["create", "-p", spec, "busybox", "true"]);
        assert!(r.code != 0 && r.stderr.contains(err), "{spec}: {r:?}");
    }
    drop(listener);
    assert_no_leftovers(&d, "after the refusals");

    // A start that fails, or berthd dying, after the ports were published
    // and before the sandbox is recorded: the rules go (at once, or with
    // the start-up's sweep of the attachment the sandbox never recorded).
    let spec = format!("{}:80", free_port());
    for (armed, why) in [
        ("run_sandbox.after_network=error", "a failed start"),
        ("run_sandbox.after_network=abort", "a crash"),
    ] {
        d.arm(armed);
        assert!(
            d.docker(&["run", "-d", "--name", "cut", "-p", &spec, "busybox", "sleep", "1000"]).code
                != 0
        );
        d.disarm();
        d.docker(&["rm", "-f", "cut"]).ok();
        assert_no_leftovers(&d, why);
    }
}

#[test]
fn the_berth_cli_publishes_too() {
    let d = Daemon::start();
    let port = free_port();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "b",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ])
    .ok();
    assert!(get(&d, port).ends_with("served\n"));
    assert_eq!(d.berth(&["port", "b"]).ok().stdout.trim(), format!("8080/tcp -> 127.0.0.1:{port}"));
    d.berth(&["rm", "-f", "b"]).ok();
    assert_no_leftovers(&d, "berth CLI");
}
