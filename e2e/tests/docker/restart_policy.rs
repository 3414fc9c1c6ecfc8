//! Restart policies through Debian's docker CLI, as dockerd 20.10 follows
//! them (compared by hand): `on-failure:N` gives up after N restarts,
//! `always` goes on until a stop or kill on purpose, a container waiting
//! for its restart shows as restarting, can be stopped but not removed
//! without force; at berthd's start-up `always` comes back even when it
//! was stopped, `unless-stopped` only when it wasn't, and after a node
//! restart a default-bridge container comes back with a new address.
//! Bad policies get dockerd's errors and create nothing.

use berth_e2e::{cgroup_pids, dir_names, mounts_under, Daemon};
use std::time::Duration;

fn state(d: &Daemon, name: &str) -> String {
    d.docker(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", name])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

fn count(d: &Daemon, name: &str) -> u32 {
    state(d, name).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap()
}

#[test]
fn restart_policies_as_dockerd_follows_them() {
    let d = Daemon::start();
    // on-failure:2: two restarts (after 100 and 200 ms), then it stays down.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "fails",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .ok();
    assert!(
        d.eventually(Duration::from_secs(10), || state(&d, "fails") == "exited 2 3"),
        "{}",
        state(&d, "fails")
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(state(&d, "fails"), "exited 2 3", "no third restart");
    assert_eq!(
        d.docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "fails"
        ])
        .ok()
        .stdout
        .trim(),
        "on-failure 2"
    );
    // A success is no failure.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--network",
        "none",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ])
    .ok();
    assert!(d.eventually(Duration::from_secs(5), || state(&d, "fine") == "exited 0 0"));

    // always: again and again, each wait twice the last; shown as restarting.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ])
    .ok();
    assert!(
        d.eventually(Duration::from_secs(10), || state(&d, "loop").starts_with("restarting")
            && count(&d, "loop") >= 3),
        "{}",
        state(&d, "loop")
    );
    let ps = d.docker(&["ps", "--filter", "name=loop", "--format", "{{.Status}}"]).ok().stdout;
    assert!(ps.starts_with("Restarting (5)") || ps.starts_with("Up"), "{ps}");
    assert!(d.eventually(Duration::from_secs(10), || state(&d, "loop").starts_with("restarting")));
    let rm = d.docker(&["rm", "loop"]);
    assert!(
        rm.code == 1 && rm.stderr.contains("You cannot remove a restarting container"),
        "{rm:?}"
    );
    // A stop ends the wait for good.
    d.docker(&["stop", "loop"]).ok();
    let stopped = state(&d, "loop");
    assert!(stopped.starts_with("exited"), "{stopped}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state(&d, "loop"), stopped, "stopped on purpose, it stays down");
    // A start on purpose counts anew.
    d.docker(&["update", "--restart", "no", "loop"]).ok();
    d.docker(&["start", "loop"]).ok();
    assert!(
        d.eventually(Duration::from_secs(5), || state(&d, "loop") == "exited 0 5"),
        "{}",
        state(&d, "loop")
    );

    // A kill is on purpose too.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "killed",
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    d.docker(&["kill", "killed"]).ok();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(state(&d, "killed"), "exited 0 137");

    // update --restart: the new policy follows the next exit.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "later",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ])
    .ok();
    d.docker(&["update", "--restart", "on-failure:1", "later"]).ok();
    assert!(
        d.eventually(Duration::from_secs(10), || state(&d, "later") == "exited 1 7"),
        "{}",
        state(&d, "later")
    );

    // dockerd's refusals, and nothing made.
    let before = d.docker(&["ps", "-aq"]).ok().stdout;
    for (args, err) in [
        (vec!["--restart", "bogus"], "invalid restart policy 'bogus'"),
        (
            vec!["--restart", "always:3"],
            "maximum retry count cannot be used with restart policy 'always'",
        ),
        (vec!["--restart", "on-failure:x"], "maximum retry count must be an integer"),
        (vec!["--rm", "--restart", "always"], "Conflicting options: --restart and --rm"),
    ] {
        let r =
            d.docker(&[&["run", "--network", "none"][..], &args, &["busybox", "true"]].concat());
        assert!(r.code == 125 && r.stderr.contains(err), "{args:?}: {r:?}");
    }
    let upd = d.docker(&["update", "--restart", "sometimes", "fails"]);
    assert!(upd.code != 0 && upd.stderr.contains("invalid restart policy 'sometimes'"), "{upd:?}");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, before);
    // The API's own checks (the CLI lets these through to the daemon).
    let api = d.docker_post(
        "/v1.41/containers/create",
        r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
    );
    assert!(
        api.0 == 400
            && api
                .1
                .contains(r#""message":"can't create 'AutoRemove' container with restart policy""#),
        "{api:?}"
    );
    let api = d.docker_post("/v1.41/containers/create", r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}"#);
    assert!(
        api.0 == 400 && api.1.contains(r#""message":"maximum retry count cannot be negative""#),
        "{api:?}"
    );

    let all = d.docker(&["ps", "-aq"]).ok().stdout;
    let ids: Vec<&str> = all.split_whitespace().collect();
    d.docker(&[&["rm", "-f"][..], &ids].concat()).ok();
    assert!(cgroup_pids(&d.cgroup_parent).is_empty());
}

#[test]
fn policies_at_start_up_and_after_a_node_restart() {
    let mut d = Daemon::start();
    // Stopped on purpose before berthd restarts.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "always-stopped",
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "unless-stopped",
        "--network",
        "none",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker(&["stop", "-t", "0", "always-stopped", "unless-stopped"]).ok();
    d.restart();
    assert!(
        d.eventually(Duration::from_secs(10), || state(&d, "always-stopped")
            .starts_with("running")),
        "{}",
        state(&d, "always-stopped")
    );
    assert_eq!(state(&d, "unless-stopped"), "exited 0 137");

    // The node restarts: every process and the volatile state dir go.
    d.docker(&["run", "-d", "--name", "web", "--restart", "always", "busybox", "sleep", "300"])
        .ok();
    d.docker(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"]).ok();
    let old_ip = d.docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).ok().stdout;
    d.power_cut();
    assert!(
        d.eventually(Duration::from_secs(10), || state(&d, "web").starts_with("running")),
        "{}\n{}",
        state(&d, "web"),
        d.log()
    );
    assert!(d.eventually(Duration::from_secs(10), || state(&d, "always-stopped")
        .starts_with("running")));
    assert_eq!(state(&d, "plain"), "exited 0 255", "no policy: down with the node");
    assert_eq!(state(&d, "unless-stopped"), "exited 0 137");
    // On the bridge again, with an address of the new boot, reachable as before.
    let ip = d.docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).ok().stdout;
    assert!(ip.trim().starts_with(&d.docker_subnet), "{ip} (was {old_ip})");
    let eth0 = d.docker(&["exec", "web", "sh", "-c", "ip -4 -o addr show eth0"]).ok().stdout;
    assert!(eth0.contains(ip.trim()), "{eth0}");
    // plain's old network is replaced at its next start too.
    d.docker(&["start", "plain"]).ok();
    assert!(state(&d, "plain").starts_with("running"));

    d.docker(&["rm", "-f", "web", "plain", "always-stopped", "unless-stopped"]).ok();
    assert!(dir_names(&d.root().join("sandboxes")).is_empty(), "sandbox records left");
    assert!(dir_names(&d.root().join("cni-cache")).is_empty(), "CNI attachments left");
    assert_eq!(mounts_under(&d.dir), Vec::<std::path::PathBuf>::new(), "mounts left");
}
