//! The berth CLI as a client of the Docker Engine API: the verbs it shares
//! with the docker CLI, against the same daemon, and its terminals under
//! tmux as a person types at them.

use berth_e2e::tmux::Tmux;
use berth_e2e::Daemon;

#[test]
fn berth_verbs_over_the_docker_api() {
    let d = Daemon::start();
    // What the docker CLI made, berth sees, and the other way round.
    d.docker(&["run", "-d", "--name", "web", "--label", "tier=web", "busybox", "sleep", "1000"])
        .ok();
    assert_eq!(
        d.berth(&["ps", "--format", "{{.Names}} {{.Label \"tier\"}} {{.State}}"]).ok().stdout,
        "web web running\n"
    );
    let table = d.berth(&["ps"]).ok().stdout;
    assert!(
        table.starts_with("CONTAINER ID")
            && table.contains("\"sleep 1000\"")
            && table.contains("web"),
        "{table}"
    );
    // exec: output, exit codes, -e/-u/-w; stdin with -i.
    assert_eq!(
        d.berth(&[
            "exec",
            "-e",
            "A=1",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $A $(id -un) $(pwd)"
        ])
        .ok()
        .stdout,
        "1 nobody /tmp\n"
    );
    assert_eq!(d.berth(&["exec", "web", "sh", "-c", "exit 3"]).code, 3);
    assert_eq!(d.berth_stdin(&["exec", "-i", "web", "cat"], b"piped\n").ok().stdout, "piped\n");
    // top, stats, pause, rename, update, inspect -f.
    assert!(d.berth(&["top", "web"]).ok().stdout.contains("sleep 1000"));
    let stats =
        d.berth(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web"]).ok().stdout;
    assert_eq!(stats, "web 1\n");
    d.berth(&["pause", "web"]).ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}}", "web"]).ok().stdout.trim(),
        "paused"
    );
    d.berth(&["unpause", "web"]).ok();
    d.berth(&["rename", "web", "site"]).ok();
    d.berth(&["update", "--memory", "64m", "site"]).ok();
    assert_eq!(
        d.berth(&["inspect", "-f", "{{.Name}} {{.HostConfig.Memory}}", "site"]).ok().stdout.trim(),
        format!("/site {}", 64 << 20)
    );
    // events: what happened, with Docker's attributes.
    d.berth(&["restart", "-t", "0", "site"]).ok();
    let events = d
        .berth(&[
            "events",
            "--since",
            "1m",
            "--until",
            "0s",
            "--filter",
            "container=site",
            "--format",
            "{{.Action}}",
        ])
        .ok()
        .stdout;
    assert!(events.contains("die") && events.contains("start"), "{events}");
    // Logs of the same container by both CLIs.
    d.berth(&["run", "--name", "chatty", "busybox", "sh", "-c", "echo out; echo err >&2"]).ok();
    let r = d.berth(&["logs", "chatty"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));
    assert_eq!(d.docker(&["logs", "chatty"]).ok().stdout, "out\n");
    // run: --rm's exit code, a daemon's refusal with its exit code.
    assert_eq!(d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 9"]).code, 9);
    let refused = d.berth(&["run", "--rm", "--network", "container:nope", "busybox", "true"]);
    assert!(
        refused.code == 125 && refused.stderr.contains("No such container: nope"),
        "{refused:?}"
    );
    // images, history and import with formats.
    let images = d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).ok().stdout;
    assert!(images.lines().any(|l| l == "busybox:latest"), "{images}");
    let imported = d
        .berth_stdin(
            &["import", "-c", "CMD [\"echo\", \"imported\"]", "-", "mine:1"],
            berth_e2e::busybox_tarball(),
        )
        .ok()
        .stdout;
    assert!(imported.trim().starts_with("sha256:"), "{imported}");
    assert_eq!(d.berth(&["run", "--rm", "mine:1"]).ok().stdout, "imported\n");
    assert_eq!(
        d.docker(&["images", "-q", "mine:1"]).ok().stdout.trim(),
        &imported.trim().trim_start_matches("sha256:")[..12]
    );
    assert!(d.berth(&["system", "df"]).ok().stdout.starts_with("TYPE"));
    d.berth(&["rm", "-f", "site", "chatty"]).ok();
    d.berth(&["rmi", "mine:1"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}

#[test]
fn berth_terminals_under_tmux() {
    let d = Daemon::start();
    let berth = format!(
        "BERTH_HOST=unix://{} {}",
        d.docker_socket().display(),
        berth_e2e::bin_dir().join("berth").display()
    );
    // run -it: the pane's size, resizes, Ctrl-P Ctrl-Q leaves it running.
    let t = Tmux::start(
        &d.dir,
        &format!("{berth} run -it --name term --network none busybox sh; echo EXITED=$?"),
        100,
        30,
    );
    t.wait_for("/ #");
    t.line("echo hello $((6*7)); stty size");
    t.wait_for("30 100");
    assert!(t.screen().contains("hello 42"));
    t.resize(120, 40);
    t.retype_until("stty size", "40 120");
    t.send(&["C-p", "C-q"]);
    t.wait_for("EXITED=0");
    assert_eq!(
        d.berth(&["inspect", "-f", "{{.State.Running}}", "term"]).ok().stdout.trim(),
        "true"
    );
    drop(t);
    // attach: the same shell; its exit is the CLI's.
    let t = Tmux::start(&d.dir, &format!("{berth} attach term; echo EXITED=$?"), 100, 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.line("echo again");
    t.wait_for("again\n");
    t.line("exit 5");
    t.wait_for("EXITED=5");
    drop(t);
    // exec -it: its own terminal; detaching says so and exits 1, as docker exec.
    d.berth(&["run", "-d", "--network", "none", "--name", "host", "busybox", "sleep", "1000"]).ok();
    let t = Tmux::start(&d.dir, &format!("{berth} exec -it host sh; echo EXITED=$?"), 90, 25);
    t.wait_for("/ #");
    t.line("stty size; tty");
    t.wait_for("25 90");
    t.send(&["C-p", "C-q"]);
    let screen = t.wait_for("EXITED=1");
    assert!(screen.contains("read escape sequence"), "{screen}");
    drop(t);
    let t = Tmux::start(
        &d.dir,
        &format!("{berth} exec -it host sh -c 'read x; exit $x'; echo EXITED=$?"),
        80,
        24,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.line("7");
    t.wait_for("EXITED=7");
    drop(t);
    d.berth(&["rm", "-f", "term", "host"]).ok();
}

#[test]
fn berth_run_hands_its_signals_to_the_container() {
    let d = Daemon::start();
    let running = |name: &str| {
        d.docker(&["inspect", "-f", "{{.State.Running}}", name]).stdout.trim() == "true"
    };
    let script = "trap 'echo got INT; exit 4' INT; echo ready; while true; do sleep 0.1; done";
    // --sig-proxy (the default): Ctrl-C's SIGINT reaches the container's shell.
    let child = d
        .cmd()
        .args(["run", "--name", "proxied", "--network", "none", "busybox", "sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(d.eventually(std::time::Duration::from_secs(10), || running("proxied")));
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "the container's exit code: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("got INT"));
    // --sig-proxy=false: the CLI goes, the container runs on. (Through
    // `env --default-signal`: a test run from a background job inherits
    // SIGINT ignored, and a CLI keeps a signal its parent ignored.)
    let berth = d.cmd().get_program().to_owned();
    let mut child = std::process::Command::new("env")
        .arg("--default-signal=INT")
        .arg(format!("BERTH_HOST=unix://{}", d.docker_socket().display()))
        .arg(berth)
        .stdin(std::process::Stdio::null())
        .args([
            "run",
            "--sig-proxy=false",
            "--name",
            "unproxied",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(d.eventually(std::time::Duration::from_secs(10), || running("unproxied")));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by the signal: {status:?}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(running("unproxied"));
    d.docker(&["rm", "-f", "proxied", "unproxied"]).ok();
}
