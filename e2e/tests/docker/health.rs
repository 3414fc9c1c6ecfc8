//! Healthchecks through Debian's docker CLI, as dockerd 20.10 runs them:
//! `--health-*` flags and the image's `HEALTHCHECK`, probed inside the
//! container; `starting`, then `healthy` or `unhealthy` after the retries,
//! in `ps`, its `health` filter, inspect's `State.Health` (the last five
//! probes with their output) and `health_status` events; a probe that
//! overruns its timeout fails and leaves nothing running; `--no-healthcheck`
//! turns the image's off; bad values get dockerd's errors.

use berth_e2e::Daemon;
use std::time::Duration;

fn health(d: &Daemon, name: &str) -> String {
    d.docker(&["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}} {{.State.Health.FailingStreak}}{{else}}none{{end}}", name]).ok().stdout.trim().to_owned()
}

#[test]
fn healthchecks_as_dockerd_runs_them() {
    let d = Daemon::start();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    // Unhealthy until the file exists, inside the container; failures in
    // the start period don't count.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--health-start-period",
        "10s",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ok; exec sleep 100",
    ])
    .ok();
    assert!(health(&d, "web").starts_with("starting"), "{}", health(&d, "web"));
    assert!(
        d.eventually(Duration::from_secs(10), || health(&d, "web") == "healthy 0"),
        "{}",
        health(&d, "web")
    );
    let ps = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]).ok().stdout;
    assert!(ps.trim().starts_with("web Up") && ps.trim().ends_with("(healthy)"), "{ps}");
    assert_eq!(
        d.docker(&["ps", "-q", "--filter", "health=healthy"]).ok().stdout.lines().count(),
        1
    );
    assert_eq!(d.docker(&["ps", "-q", "--filter", "health=unhealthy"]).ok().stdout, "");
    let log = d
        .docker(&[
            "inspect",
            "-f",
            "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}{{end}}",
            "web",
        ])
        .ok()
        .stdout;
    assert!(log.contains("0:fine"), "{log}");
    // The file goes: two failures later, unhealthy.
    d.docker(&["exec", "web", "rm", "/tmp/ok"]).ok();
    assert!(
        d.eventually(Duration::from_secs(10), || health(&d, "web").starts_with("unhealthy")),
        "{}",
        health(&d, "web")
    );
    assert!(d
        .docker(&["ps", "--format", "{{.Status}}"])
        .ok()
        .stdout
        .trim()
        .ends_with("(unhealthy)"));
    let kept = d.docker(&["inspect", "-f", "{{len .State.Health.Log}}", "web"]).ok().stdout;
    assert!(kept.trim().parse::<usize>().unwrap() <= 5, "{kept}");
    let until =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1)
            .to_string();
    let events = d
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "event=health_status",
            "--format",
            "{{.Action}}",
        ])
        .ok()
        .stdout;
    assert_eq!(
        events.lines().collect::<Vec<_>>(),
        ["health_status: healthy", "health_status: unhealthy"],
        "{events}"
    );

    // A probe past its timeout fails, and its command is ended.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "--health-cmd",
        "sleep 7",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert!(d.eventually(Duration::from_secs(10), || health(&d, "slow").starts_with("unhealthy")));
    let out = d
        .docker(&[
            "inspect",
            "-f",
            "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}|{{end}}",
            "slow",
        ])
        .ok()
        .stdout;
    assert!(out.contains("-1 Health check exceeded timeout"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    let top = d.docker(&["top", "slow"]).ok().stdout;
    assert!(
        top.lines().filter(|l| l.contains("sleep 7")).count() <= 1,
        "at most the probe in flight: {top}"
    );

    // The image's HEALTHCHECK, and --no-healthcheck.
    d.import_busybox(
        "checked",
        &[r#"CMD ["sleep", "100"]"#, "HEALTHCHECK --interval=200ms --retries=1 CMD true"],
    );
    d.docker(&["run", "-d", "--name", "img", "--network", "none", "checked"]).ok();
    assert!(d.eventually(Duration::from_secs(10), || health(&d, "img") == "healthy 0"));
    assert_eq!(
        d.docker(&[
            "inspect",
            "-f",
            "{{.Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}}",
            "img"
        ])
        .ok()
        .stdout
        .trim(),
        "[CMD-SHELL true] 200ms"
    );
    d.docker(&["run", "-d", "--name", "off", "--network", "none", "--no-healthcheck", "checked"])
        .ok();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(health(&d, "off"), "none");
    let off = d.docker(&["ps", "--filter", "name=off", "--format", "{{.Status}}"]).ok().stdout;
    assert!(off.starts_with("Up") && !off.contains("health"), "{off}");
    assert_eq!(d.docker(&["ps", "-q", "--filter", "health=none"]).ok().stdout.lines().count(), 1);

    // Refusals, and nothing made.
    let before = d.docker(&["ps", "-aq"]).ok().stdout;
    let r = d.docker(&[
        "run",
        "--network",
        "none",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "busybox",
        "true",
    ]);
    assert!(
        r.code == 125 && r.stderr.contains("--no-healthcheck conflicts with --health-* options"),
        "{r:?}"
    );
    let api = d.docker_post(
        "/v1.41/containers/create",
        r#"{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":-1}}"#,
    );
    assert!(
        api.0 == 400 && api.1.contains("Interval in Healthcheck cannot be less than 1ms"),
        "{api:?}"
    );
    let api = d.docker_post(
        "/v1.41/containers/create",
        r#"{"Image":"busybox","Healthcheck":{"Test":["SOMETIMES","true"]}}"#,
    );
    assert!(api.0 == 400 && api.1.contains("invalid healthcheck test"), "{api:?}");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, before);
    // The berth CLI's flags, seen by both CLIs.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "mine",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert!(d.eventually(Duration::from_secs(10), || health(&d, "mine") == "healthy 0"));
    let ps = d.berth(&["ps", "--filter", "name=mine", "--format", "{{.Status}}"]).ok().stdout;
    assert!(ps.trim().ends_with("(healthy)"), "{ps}");
    d.docker(&["rm", "-f", "web", "slow", "img", "off", "mine"]).ok();
}

#[test]
fn a_restarted_berthd_goes_on_from_the_recorded_health() {
    let mut d = Daemon::start();
    // Healthy after the first probe, then probed every 2 s: a restarted
    // berthd that began at `starting` again would show it until its first.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "kept",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "2s",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert!(
        d.eventually(Duration::from_secs(10), || health(&d, "kept") == "healthy 0"),
        "{}",
        health(&d, "kept")
    );
    d.restart();
    assert_eq!(health(&d, "kept"), "healthy 0", "adopted with the health it had");
    let log = d.docker(&["inspect", "-f", "{{len .State.Health.Log}}", "kept"]).ok().stdout;
    assert!(log.trim().parse::<usize>().unwrap() >= 1, "its probes too: {log}");
    // A new run begins at `starting`.
    d.docker(&["restart", "-t", "0", "kept"]).ok();
    assert!(health(&d, "kept").starts_with("starting"), "{}", health(&d, "kept"));
    d.docker(&["rm", "-f", "kept"]).ok();
}
