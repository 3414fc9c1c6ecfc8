//! Watching containers through the Docker API with Debian's `docker` CLI:
//! `events` (live, `--since` from the journal, `--until`, filters),
//! `logs --since/--until`, `top`, and `rename`.

use berth_e2e::Daemon;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn docker_events_live_and_replayed() {
    let d = Daemon::start();
    let start = unix_now();
    // A live follower, filtered to one container's name.
    let mut follower = d
        .docker_cmd()
        .args([
            "events",
            "--filter",
            "container=ev",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.docker(&["run", "--name", "other", "--network", "none", "busybox", "true"]).ok();
    let r = d.docker(&[
        "run",
        "--name",
        "ev",
        "--label",
        "tier=web",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    d.docker(&["rm", "ev"]).ok();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let got: Vec<String> = (0..4).map(|_| lines.next().unwrap().unwrap()).collect();
    let _ = follower.kill();
    let _ = follower.wait();
    // A missing attribute is "<no value>" in the CLI's template, as with dockerd.
    assert_eq!(
        got,
        ["create ev <no value>", "start ev <no value>", "die ev 3", "destroy ev <no value>"]
    );

    // Replayed from the journal, ended by --until; filtered by event and label.
    let until = format!("{:.3}", unix_now());
    let past = d
        .docker(&[
            "events",
            "--since",
            &format!("{start:.3}"),
            "--until",
            &until,
            "--filter",
            "event=die",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .ok();
    assert_eq!(past.stdout, "other\nev\n");
    let labelled = d
        .docker(&[
            "events",
            "--since",
            &format!("{start:.3}"),
            "--until",
            &until,
            "--filter",
            "label=tier=web",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    assert_eq!(labelled.stdout, "create\nstart\ndie\ndestroy\n");
    let bad = d.docker(&["events", "--filter", "colour=red", "--until", &until]);
    assert!(bad.code != 0 && bad.stderr.contains("invalid filter"), "{bad:?}");
}

#[test]
fn logs_since_until_top_and_rename() {
    let d = Daemon::start();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "talk",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 1.5; echo late; exec sleep 1000",
    ])
    .ok();
    assert!(d.eventually(Duration::from_secs(10), || d
        .docker(&["logs", "talk"])
        .stdout
        .contains("late")));
    let logs = d.docker(&["logs", "--timestamps", "talk"]).ok().stdout;
    let late_at =
        logs.lines().find(|l| l.ends_with(" late")).unwrap().split(' ').next().unwrap().to_owned();
    let since = d.docker(&["logs", "--since", &late_at, "talk"]).ok();
    assert_eq!(since.stdout, "late\n");
    // The CLI sends a relative --until as whole seconds: be past them.
    std::thread::sleep(Duration::from_millis(2200));
    let until = d.docker(&["logs", "--until", "1s", "talk"]).ok();
    assert_eq!(until.stdout, "early\nlate\n", "--until 1s ago: both were earlier");
    let bad = d.docker(&["logs", "--since", "not-a-time", "talk"]);
    assert!(bad.code != 0, "{bad:?}");

    let top = d.docker(&["top", "talk"]).ok().stdout;
    let mut rows = top.lines();
    let titles: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    let cmds: Vec<&str> = rows.collect();
    assert!(
        cmds.len() == 1 && cmds[0].starts_with("0 ") && cmds[0].ends_with("sleep 1000"),
        "{top}"
    );
    let refused = d.docker(&["top", "talk", "aux"]);
    assert!(refused.code != 0 && refused.stderr.contains("ps_args"), "{refused:?}");

    d.docker(&["run", "-d", "--name", "taken", "--network", "none", "busybox", "sleep", "1000"])
        .ok();
    let clash = d.docker(&["rename", "talk", "taken"]);
    assert!(clash.code != 0 && clash.stderr.contains("is already in use"), "{clash:?}");
    d.docker(&["rename", "talk", "quiet"]).ok();
    assert_eq!(d.docker(&["inspect", "-f", "{{.Name}}", "quiet"]).ok().stdout.trim(), "/quiet");
    let old = d.docker(&["inspect", "talk"]);
    assert!(old.code != 0, "the old name is free: {old:?}");
    // The old name can be taken again.
    d.docker(&["run", "-d", "--name", "talk", "--network", "none", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["rm", "-f", "talk", "quiet", "taken"]).ok();
}

#[test]
fn stats_and_pause() {
    let d = Daemon::start();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ])
    .ok();
    let s = d
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}} {{.NetIO}}",
            "busy",
        ])
        .ok()
        .stdout;
    let f: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(f[0], "busy", "{s}");
    let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0, "a spinning shell uses a core: {s}");
    assert!(f[4] == "64MiB" && f[5] == "1", "the limit and one process: {s}");
    assert!(f[6].ends_with('B') && f[8].ends_with('B'), "network I/O on the bridge: {s}");

    // docker update: the live cgroup and the record.
    d.docker(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "busy",
    ])
    .ok();
    let limits = d
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.PidsLimit}}",
            "busy",
        ])
        .ok()
        .stdout;
    assert_eq!(limits.trim(), "134217728 50000 50");
    let mem = d.docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "busy"]).ok().stdout;
    assert!(mem.trim().ends_with("/ 128MiB"), "{mem}");
    d.docker(&["update", "--restart", "on-failure:4", "busy"]).ok();
    let policy = d.docker(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}}", "busy"]).ok().stdout;
    assert_eq!(policy.trim(), "on-failure:4 134217728", "a new policy, the limits kept");
    let small = d.docker(&["update", "--memory", "1m", "busy"]);
    assert!(small.code != 0 && small.stderr.contains("Minimum memory limit"), "{small:?}");

    // Paused: frozen, shown as such, no exec; unpaused it runs on; a stop thaws it.
    d.docker(&["pause", "busy"]).ok();
    assert!(d.docker(&["ps", "--format", "{{.Status}}"]).ok().stdout.trim().ends_with("(Paused)"));
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "busy"])
            .ok()
            .stdout
            .trim(),
        "paused true"
    );
    let frozen =
        d.docker(&["stats", "--no-stream", "--format", "{{.CPUPerc}}", "busy"]).ok().stdout;
    assert!(frozen.trim().trim_end_matches('%').parse::<f64>().unwrap() < 5.0, "{frozen}");
    let exec = d.docker(&["exec", "busy", "true"]);
    assert!(
        exec.code != 0 && exec.stderr.contains("is paused, unpause the container before exec"),
        "{exec:?}"
    );
    let again = d.docker(&["pause", "busy"]);
    assert!(again.code != 0 && again.stderr.contains("already paused"), "{again:?}");
    d.docker(&["unpause", "busy"]).ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}}", "busy"]).ok().stdout.trim(),
        "running"
    );
    d.docker(&["exec", "busy", "true"]).ok();
    d.docker(&["pause", "busy"]).ok();
    d.docker(&["stop", "-t", "1", "busy"]).ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "busy"])
            .ok()
            .stdout
            .trim(),
        "exited false"
    );
    let not_running = d.docker(&["pause", "busy"]);
    assert!(
        not_running.code != 0 && not_running.stderr.contains("is not running"),
        "{not_running:?}"
    );
    d.docker(&["rm", "busy"]).ok();
}

#[test]
fn docker_events_of_what_is_done_to_a_container() {
    let d = Daemon::start();
    let start = unix_now();
    d.docker(&["run", "-d", "--name", "busy", "--network", "none", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["pause", "busy"]).ok();
    d.docker(&["unpause", "busy"]).ok();
    d.docker(&["rename", "busy", "acted"]).ok();
    d.docker(&["update", "--restart", "on-failure", "acted"]).ok();
    assert_eq!(d.docker(&["exec", "acted", "sh", "-c", "exit 3"]).code, 3);
    let dir = d.dir.join("cp");
    std::fs::create_dir_all(&dir).unwrap();
    d.docker(&["cp", "acted:/etc/hostname", dir.to_str().unwrap()]).ok();
    d.docker(&["cp", dir.join("hostname").to_str().unwrap(), "acted:/tmp/"]).ok();
    d.docker(&["commit", "acted", "acted-image"]).ok();
    d.docker(&["stop", "-t", "1", "acted"]).ok();
    d.docker(&["restart", "-t", "0", "acted"]).ok();
    d.docker(&["kill", "-s", "USR1", "acted"]).ok();
    d.docker(&["rm", "-f", "acted"]).ok();
    d.docker(&["rmi", "acted-image"]).ok();
    let until = format!("{:.3}", unix_now() + 0.5);
    std::thread::sleep(Duration::from_millis(600));
    let got = d
        .docker(&[
            "events",
            "--since",
            &format!("{start:.3}"),
            "--until",
            &until,
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.signal}} {{.Actor.Attributes.oldName}}",
        ])
        .ok()
        .stdout;
    let got: Vec<&str> = got.lines().map(str::trim_end).collect();
    // dockerd 20.10's, in order (a stop's signal is the container's, SIGTERM; rm -f's SIGKILL).
    let want = [
        "create <no value> <no value>",
        "start <no value> <no value>",
        "pause <no value> <no value>",
        "unpause <no value> <no value>",
        "rename <no value> /busy",
        "update <no value> <no value>",
        "exec_create: sh -c exit 3 <no value> <no value>",
        "exec_start: sh -c exit 3 <no value> <no value>",
        "exec_die <no value> <no value>",
        "archive-path <no value> <no value>",
        "extract-to-dir <no value> <no value>",
        "pause <no value> <no value>",
        "unpause <no value> <no value>",
        "commit <no value> <no value>",
        // `sleep` as PID 1 ignores SIGTERM: SIGKILL after the second.
        "kill 15 <no value>",
        "kill 9 <no value>",
        "die <no value> <no value>",
        "stop <no value> <no value>",
        // A restart of a stopped container is a start.
        "start <no value> <no value>",
        "restart <no value> <no value>",
        "kill 10 <no value>",
        "kill 9 <no value>",
        "die <no value> <no value>",
        "destroy <no value> <no value>",
    ];
    assert_eq!(got, want, "{got:#?}");
}
