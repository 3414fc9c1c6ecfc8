//! The container lifecycle through the CLI: exit codes, logs, stop, kill,
//! rm, wait, ps, inspect, restart of an exited container.

use berth_e2e::Daemon;
use std::time::{Duration, Instant};

#[test]
fn run_returns_the_containers_exit_code_and_output() {
    let d = Daemon::start();
    let r = d.berth(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (7, "out\n", "err\n"));
    let r = d.berth(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(r.code, 127);
    assert!(r.stderr.contains("executable file not found"), "{}", r.stderr);
    let r = d.berth(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(r.code, 126, "{r:?}");
    // --rm removed all of them, failed starts included, by the time run returns.
    assert_eq!(d.berth(&["ps", "-aq"]).ok().stdout, "");
    for _ in 0..5 {
        d.berth(&["run", "--rm", "busybox", "true"]).ok();
        assert_eq!(d.berth(&["ps", "-aq"]).ok().stdout, "");
    }
}

#[test]
fn logs_are_in_cri_format_and_long_lines_are_split() {
    let d = Daemon::start();
    d.berth(&[
        "run",
        "--name",
        "l",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; head -c 40000 /dev/zero | tr '\\0' x; echo; printf tail",
    ])
    .ok();
    let id = d.inspect("l")["Id"].as_str().unwrap().to_owned();
    let path = d.inspect("l")["LogPath"].as_str().unwrap().to_owned();
    assert!(path.contains(&id));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines {
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        assert!(
            f[0].len() == 30 && f[0].ends_with('Z') && f[0].as_bytes()[10] == b'T',
            "timestamp: {l}"
        );
        assert!(f[1] == "stdout" || f[1] == "stderr");
        assert!(f[2] == "F" || f[2] == "P");
    }
    assert!(lines.iter().any(|l| l.ends_with(" stdout F one")));
    assert!(lines.iter().any(|l| l.ends_with(" stderr F two")));
    let x: Vec<&&str> =
        lines.iter().filter(|l| l.contains(" stdout P ") || l.contains("xxxx")).collect();
    assert_eq!(x.len(), 3, "40000 bytes: two 16 KiB partials and a full record");
    assert!(x[0].contains(" P ") && x[1].contains(" P ") && x[2].contains(" F "));
    assert!(lines.last().unwrap().ends_with(" stdout F tail"));
    // The CLI reassembles records; --tail and -t work.
    let out = d.berth(&["logs", "l"]).ok();
    assert!(out.stdout.contains(&format!("one\n{}\ntail\n", "x".repeat(40000))), "reassembled");
    assert_eq!(d.berth(&["logs", "--tail", "1", "l"]).ok().stdout, "tail\n");
    let t = d.berth(&["logs", "-t", "--tail", "1", "l"]).ok().stdout;
    assert!(t.ends_with("Z tail\n") && t.len() == 31 + 5, "{t:?}");
}

#[test]
fn stop_honours_the_grace_period_and_the_image_stop_signal() {
    let d = Daemon::start();
    // An init that ignores SIGTERM is killed after the grace period.
    d.berth(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "60"]).ok();
    let t = Instant::now();
    d.berth(&["stop", "-t", "1", "stubborn"]).ok();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "{took:?}");
    assert_eq!(d.inspect("stubborn")["State"]["ExitCode"], 137);
    // One that handles SIGTERM exits at once with its own code.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(300));
    d.berth(&["stop", "-t", "10", "polite"]).ok();
    assert_eq!(d.inspect("polite")["State"]["ExitCode"], 3);
    // The image's STOPSIGNAL is what stop sends.
    d.import_busybox("usr1", &["STOPSIGNAL SIGUSR1", r#"CMD ["sh"]"#]);
    d.berth(&[
        "run",
        "-d",
        "--name",
        "u",
        "usr1",
        "sh",
        "-c",
        "trap 'exit 10' USR1; trap '' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(300));
    d.berth(&["stop", "-t", "10", "u"]).ok();
    assert_eq!(d.inspect("u")["State"]["ExitCode"], 10);
    // Stopping a stopped container is fine.
    d.berth(&["stop", "u"]).ok();
}

#[test]
fn kill_wait_rm_and_restart() {
    let d = Daemon::start();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "k",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' HUP; touch /trapped; while true; do sleep 0.1; done",
    ])
    .ok();
    // The shell is PID 1 of its namespace: a HUP before its trap would be dropped.
    let trapped = || d.berth(&["exec", "k", "test", "-e", "/trapped"]).code == 0;
    assert!(d.eventually(Duration::from_secs(10), trapped));
    let running = d.berth(&["rm", "k"]);
    assert_ne!(running.code, 0, "removing a running container needs -f");
    assert!(running.stderr.contains("You cannot remove a running container"), "{}", running.stderr);
    d.berth(&["kill", "-s", "HUP", "k"]).ok();
    let w = d.berth(&["wait", "k"]);
    assert_eq!((w.code, w.stdout.as_str()), (42, "42\n"));
    let k = d.berth(&["kill", "k"]);
    assert!(k.code != 0 && k.stderr.contains("is not running"), "{k:?}");
    // An exited container starts again (same upper dir).
    d.berth(&[
        "run",
        "--name",
        "again",
        "busybox",
        "sh",
        "-c",
        "echo run >> /count; wc -l < /count",
    ])
    .ok();
    d.berth(&["start", "again"]).ok();
    d.berth(&["wait", "again"]).ok();
    assert_eq!(d.berth(&["logs", "again"]).ok().stdout, "1\n2\n");
    // rm -f kills a running one.
    d.berth(&["run", "-d", "--name", "f", "busybox", "sleep", "60"]).ok();
    d.berth(&["rm", "-f", "f", "k", "again"]).ok();
    assert_eq!(d.berth(&["ps", "-aq"]).ok().stdout, "");
    assert_eq!(std::fs::read_dir(d.dir.join("root/containers")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(d.dir.join("run/containers")).unwrap().count(), 0);
}

#[test]
fn a_daemon_started_under_nohup_leaves_its_containers_signals_alone() {
    let mut d = Daemon::start();
    d.wrapper = Some("nohup".into());
    d.restart();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "h",
        "busybox",
        "sh",
        "-c",
        "grep -E '^Sig(Ign|Blk)' /proc/self/status > /sigs; trap 'exit 42' HUP; touch /trapped; while true; do sleep 0.1; done",
    ])
    .ok();
    let trapped = || d.berth(&["exec", "h", "test", "-e", "/trapped"]).code == 0;
    assert!(d.eventually(Duration::from_secs(10), trapped));
    // Nothing ignored or blocked but what the shell itself set up (none here).
    let sigs = d.berth(&["exec", "h", "cat", "/sigs"]).ok().stdout;
    assert_eq!(sigs, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    d.berth(&["kill", "-s", "HUP", "h"]).ok();
    assert_eq!(d.berth(&["wait", "h"]).stdout, "42\n");
    d.berth(&["rm", "-f", "h"]).ok();
}

#[test]
fn create_then_start_ps_filters_and_inspect() {
    let d = Daemon::start();
    let id = d
        .berth(&["create", "--name", "c1", "-l", "tier=web", "busybox", "sleep", "60"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(d.inspect("c1")["State"]["Status"], "created");
    assert_eq!(d.berth(&["ps", "-q"]).ok().stdout, "");
    d.berth(&["start", "c1"]).ok();
    d.berth(&["run", "-d", "--name", "c2", "busybox", "sleep", "60"]).ok();
    assert_eq!(d.berth(&["ps", "-q", "--filter", "label=tier=web"]).ok().stdout.trim(), &id[..12]);
    // Every label must match, as in Docker.
    assert_eq!(
        d.berth(&["ps", "-q", "--filter", "label=tier=web", "--filter", "label=tier=db"])
            .ok()
            .stdout
            .trim(),
        ""
    );
    assert_eq!(d.berth(&["ps", "-q", "-f", "name=c2"]).ok().stdout.lines().count(), 1);
    let i = d.inspect(&id[..8]);
    assert_eq!(i["Name"], "/c1");
    assert_eq!(i["State"]["Running"], true);
    assert!(i["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(i["Config"]["Labels"]["tier"], "web");
    let ps = d.berth(&["ps"]).ok().stdout;
    assert!(ps.contains("Up ") && ps.contains("c1") && ps.contains("c2"), "{ps}");
    d.berth(&["stop", "-t", "0", "c1", "c2"]).ok();
    assert_eq!(d.berth(&["ps", "-aq", "--filter", "status=exited"]).ok().stdout.lines().count(), 2);
    d.berth(&["rm", "c1", "c2"]).ok();
}

#[test]
fn env_file_entrypoint_and_images() {
    let d = Daemon::start();
    let envf = d.dir.join("env");
    std::fs::write(&envf, "# comment\nA=1\n\nB=two words\n").unwrap();
    let r = d
        .berth(&[
            "run",
            "--rm",
            "--env-file",
            envf.to_str().unwrap(),
            "-e",
            "A=3",
            "busybox",
            "sh",
            "-c",
            "echo $A $B",
        ])
        .ok();
    assert_eq!(r.stdout, "3 two words\n");
    let r = d.berth(&["run", "--rm", "--entrypoint", "echo", "busybox", "hello"]).ok();
    assert_eq!(r.stdout, "hello\n");
    let imgs = d.berth(&["images"]).ok().stdout;
    assert!(imgs.contains("busybox") && imgs.contains("latest"), "{imgs}");
    d.import_busybox("other:v1", &[]);
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout.lines().count(), 2);
    let r = d.berth(&["run", "--rm", "other:v1"]);
    assert!(r.code != 0 && r.stderr.contains("no command specified"), "{r:?}");
    d.berth(&["run", "-d", "--name", "user", "other:v1", "sleep", "30"]).ok();
    let rmi = d.berth(&["rmi", "other:v1"]);
    assert!(rmi.code != 0 && rmi.stderr.contains("being used"), "{rmi:?}");
    d.berth(&["rm", "-f", "user"]).ok();
    let rmi = d.berth(&["rmi", "other:v1"]).ok();
    assert!(
        rmi.stdout.contains("Untagged: other:v1") && rmi.stdout.contains("Deleted: sha256:"),
        "{}",
        rmi.stdout
    );
}
