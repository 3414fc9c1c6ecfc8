//! berthd restarts: containers keep running, are reattached, and exits
//! that happened meanwhile are reported with their real code.

use berth_e2e::Daemon;
use std::time::Duration;

#[test]
fn kill9_with_twenty_running_containers_then_restart() {
    let mut d = Daemon::start();
    for i in 0..20 {
        d.berth(&["run", "-d", "--name", &format!("c{i}"), "busybox", "sleep", "300"]).ok();
    }
    d.berth(&["run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; exit 42"]).ok();
    d.kill9();
    // The shims outlive the daemon; one container exits while it is down.
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();
    let running = d.berth(&["ps", "-q"]).ok().stdout;
    assert_eq!(running.lines().count(), 20, "{running}");
    assert!(d.eventually(Duration::from_secs(5), || d.inspect("quitter")["State"]["Status"]
        == "exited"));
    assert_eq!(d.inspect("quitter")["State"]["ExitCode"], 42);
    // All 20 are controllable again.
    let names: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let mut args = vec!["stop", "-t", "0"];
    args.extend(names.iter().map(String::as_str));
    d.berth(&args).ok();
    assert_eq!(d.berth(&["ps", "-q"]).ok().stdout, "");
    for n in &names {
        assert_eq!(d.inspect(n)["State"]["ExitCode"], 137);
    }
}

#[test]
fn graceful_shutdown_leaves_containers_running_and_logs_follow_across_restart() {
    let mut d = Daemon::start();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 40 ]; do echo tick $i; i=$((i+1)); sleep 0.05; done",
    ])
    .ok();
    let follower = d
        .cmd()
        .args(["logs", "-f", "ticker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.terminate();
    std::thread::sleep(Duration::from_millis(500));
    d.restart();
    let out = follower.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let expected: String = (0..40).map(|i| format!("tick {i}\n")).collect();
    assert_eq!(text, expected, "the follower must see every line exactly once");
    assert_eq!(d.inspect("ticker")["State"]["ExitCode"], 0);
}

#[test]
fn a_lost_shim_is_reported_and_the_container_can_be_removed() {
    let mut d = Daemon::start();
    d.berth(&["run", "-d", "--name", "orphan", "busybox", "sleep", "300"]).ok();
    d.kill9();
    for pid in d.shim_pids() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    d.restart();
    assert!(d.eventually(Duration::from_secs(10), || d.inspect("orphan")["State"]["Status"]
        != "running"));
    assert_eq!(d.inspect("orphan")["State"]["ExitCode"], 255);
    d.berth(&["rm", "-f", "orphan"]).ok();
}
