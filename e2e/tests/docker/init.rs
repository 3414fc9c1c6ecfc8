//! `--init` through Debian's docker CLI: berth's own PID 1 under the
//! command (no host binary in the container), which reaps orphans, hands
//! the stop signal on, and exits with the command's code.

use berth_e2e::Daemon;
use std::time::Duration;

#[test]
fn an_init_of_berths_own_under_the_command() {
    let d = Daemon::start();
    // PID 1 is not the command; the command's exit code is the container's.
    let r = d.docker(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo $$; exit 7",
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    assert_ne!(r.stdout.trim(), "1", "the command is not PID 1");
    // A command killed by a signal: 128 + the signal, as docker-init says.
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--init",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "kill -9 $$"
        ])
        .code,
        137
    );
    // Orphans are reaped: no zombie stays.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "z",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do sh -c 'sleep 0.1 &'; done; exec sleep 100",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(800));
    let zombies = d
        .docker(&[
            "exec",
            "z",
            "sh",
            "-c",
            "cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ' || true",
        ])
        .ok()
        .stdout;
    assert_eq!(zombies.trim(), "0");
    // PID 1 never execs: it keeps stdio and nothing of the shim's.
    let pid = d.docker(&["inspect", "-f", "{{.State.Pid}}", "z"]).ok().stdout.trim().to_owned();
    let fds = berth_e2e::dir_names(std::path::Path::new(&format!("/proc/{pid}/fd")));
    assert_eq!(fds, ["0", "1", "2"], "PID 1's descriptors");
    // The stop signal reaches the command, which exits its own way.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "trap",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got TERM; exit 3' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(300));
    d.docker(&["stop", "-t", "5", "trap"]).ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.Init}}", "trap"])
            .ok()
            .stdout
            .trim(),
        "3 true"
    );
    assert!(d.docker(&["logs", "trap"]).ok().stdout.contains("got TERM"));
    // A terminal stays the command's.
    let t = d
        .docker(&[
            "run",
            "--rm",
            "--init",
            "-t",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "tty; echo pgid=$(cut -d' ' -f5 /proc/$$/stat) tpgid=$(cut -d' ' -f8 /proc/$$/stat)",
        ])
        .ok()
        .stdout;
    assert!(t.starts_with("/dev/pts/"), "{t}");
    let ids: Vec<&str> = t
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|w| w.split('=').nth(1).unwrap())
        .collect();
    assert_eq!(ids[0], ids[1].trim(), "the command's group is the terminal's foreground: {t}");
    // A command that can't start: Docker's 127, nothing left.
    let bad = d.docker(&["run", "--rm", "--init", "--network", "none", "busybox", "nosuchcmd"]);
    assert_eq!(bad.code, 127, "{bad:?}");
    d.docker(&["rm", "-f", "z", "trap"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}
