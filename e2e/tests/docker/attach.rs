//! Attach and exec over the Docker API's hijacked connections, with the
//! real clients: Debian's `docker` CLI (20.10) — `docker run` in the
//! foreground, `-i` with piped input, `start -a`, `exec` with `-e/-w/-u`,
//! `-i` and `-d` — the same CLI under tmux as a person types at it (`run
//! -it`, `exec -it`, resizes, Ctrl-P Ctrl-Q, `attach`), and the Python SDK.
//! Exit codes and messages are dockerd 20.10's for the same commands.

use berth_e2e::tmux::Tmux;
use berth_e2e::Daemon;
use std::process::Command;

#[test]
fn docker_run_in_the_foreground_gets_all_output_and_the_exit_code() {
    let d = Daemon::start();
    // The command prints and exits at once: the attachment made before the
    // start still gets every line (the shim holds the output for it).
    for i in 0..5 {
        let r = d
            .docker(&["run", "--rm", "--network", "none", "busybox", "echo", &format!("hi {i}")])
            .ok();
        assert_eq!(r.stdout, format!("hi {i}\n"));
    }
    let r = d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "split",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (3, "out\n", "err\n"), "{r:?}");
    // More than a pipe's buffer, from a container that exits at once.
    let big =
        d.docker(&["run", "--rm", "--network", "none", "busybox", "sh", "-c", "seq 1 30000"]).ok();
    assert_eq!(big.stdout.lines().count(), 30000);
    assert_eq!(big.stdout.lines().last(), Some("30000"));

    let piped = d
        .docker_stdin(
            &["run", "-i", "--rm", "--network", "none", "busybox", "sh", "-c", "cat; echo done"],
            b"line one\nline two\n",
        )
        .ok();
    assert_eq!(piped.stdout, "line one\nline two\ndone\n", "stdin to its end, then EOF");

    // start -a: attach again, to the next run.
    let again = d.docker(&["start", "-a", "split"]);
    assert_eq!((again.code, again.stdout.as_str()), (3, "out\n"), "{again:?}");
    // A command that isn't there: Docker's 127 and its message.
    let missing = d.docker(&["run", "--rm", "--network", "none", "busybox", "nosuch"]);
    assert_eq!(missing.code, 127, "{missing:?}");
    d.docker(&["rm", "split"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "", "--rm removed the rest");
}

#[test]
fn docker_exec_runs_commands_in_a_running_container() {
    let d = Daemon::start();
    d.docker(&["run", "-d", "--network", "none", "--name", "box", "busybox", "sleep", "1000"]).ok();
    let r = d.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (4, "out\n", "err\n"), "{r:?}");
    let who = d
        .docker(&[
            "exec",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "box",
            "sh",
            "-c",
            "echo $FOO $(pwd) $(id -u)",
        ])
        .ok();
    assert_eq!(who.stdout, "bar /tmp 65534\n");
    let input = d.docker_stdin(&["exec", "-i", "box", "sh", "-c", "wc -l"], b"a\nb\nc\n").ok();
    assert_eq!(input.stdout.trim(), "3");
    // Detached: it runs on after the CLI has returned.
    d.docker(&["exec", "-d", "box", "sh", "-c", "sleep 0.3; echo later > /tmp/detached"]).ok();
    assert!(d.eventually(std::time::Duration::from_secs(10), || d
        .docker(&["exec", "box", "cat", "/tmp/detached"])
        .stdout
        == "later\n"));

    let bad_env = d.docker(&["exec", "-e", "=x", "box", "true"]);
    assert!(bad_env.code != 0, "{bad_env:?}");
    let none = d.docker(&["exec", "nosuch", "true"]);
    assert!(none.code != 0 && none.stderr.contains("No such container: nosuch"), "{none:?}");
    d.docker(&["stop", "-t", "0", "box"]).ok();
    let stopped = d.docker(&["exec", "box", "true"]);
    assert!(stopped.code != 0 && stopped.stderr.contains("is not running"), "{stopped:?}");
    d.docker(&["rm", "box"]).ok();
}

#[test]
fn interactive_terminals_under_tmux() {
    let d = Daemon::start();
    let env = d.docker_env();
    // run -it: a shell on the container's terminal, sized as the pane.
    let t = Tmux::start(
        &d.dir,
        &format!(
            "{env} /usr/bin/docker run -it --name term --network none busybox sh; echo EXITED=$?"
        ),
        100,
        30,
    );
    t.wait_for("/ #");
    t.line("echo hello $((6*7)); stty size");
    t.wait_for("30 100");
    assert!(t.screen().contains("hello 42"));
    t.resize(120, 40);
    t.retype_until("stty size", "40 120");
    // Ctrl-P Ctrl-Q: the CLI returns (0, as dockerd's), the shell runs on.
    t.send(&["C-p", "C-q"]);
    t.wait_for("EXITED=0");
    assert_eq!(
        d.docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.Config.Tty}} {{.Config.OpenStdin}}",
            "term"
        ])
        .ok()
        .stdout
        .trim(),
        "true true true"
    );
    drop(t);

    // attach: the same shell; its exit is the CLI's exit code.
    let t =
        Tmux::start(&d.dir, &format!("{env} /usr/bin/docker attach term; echo EXITED=$?"), 100, 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.line("echo again");
    t.wait_for("again\n");
    t.line("exit 5");
    t.wait_for("EXITED=5");
    drop(t);

    // exec -it in a running container: its own terminal, resized; the
    // detach keys leave it running ("read escape sequence", 1, as dockerd).
    d.docker(&["run", "-d", "--network", "none", "--name", "host", "busybox", "sleep", "1000"])
        .ok();
    let t = Tmux::start(
        &d.dir,
        &format!("{env} /usr/bin/docker exec -it host sh; echo EXITED=$?"),
        90,
        25,
    );
    t.wait_for("/ #");
    t.line("stty size; tty");
    t.wait_for("25 90");
    assert!(t.screen().contains("/dev/pts/"), "{}", t.screen());
    t.resize(80, 20);
    t.retype_until("stty size", "20 80");
    t.line("sleep 1000 &");
    t.send(&["C-p", "C-q"]);
    let screen = t.wait_for("EXITED=1");
    assert!(screen.contains("read escape sequence"), "{screen}");
    let ps = d.docker(&["exec", "host", "ps"]).ok();
    assert!(ps.stdout.contains("sh"), "the detached shell runs on: {}", ps.stdout);
    drop(t);
    // exec -it ... exit N: N.
    let t = Tmux::start(
        &d.dir,
        &format!("{env} /usr/bin/docker exec -it host sh -c 'read x; exit $x'; echo EXITED=$?"),
        80,
        24,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.line("7");
    t.wait_for("EXITED=7");
    drop(t);
    d.docker(&["rm", "-f", "term", "host"]).ok();
}

#[test]
fn the_python_sdk_attaches_and_execs() {
    let d = Daemon::start();
    let script = format!(
        r#"
import docker
c = docker.DockerClient(base_url="unix://{sock}", version="auto")
box = c.containers.create("busybox", ["sh", "-c", "echo started; exec sleep 1000"], name="sdk")
sock = box.attach(stream=True, stdout=True, stderr=True, logs=False)
box.start()
first = next(iter(sock))
assert first == b"started\n", first
code, out = box.exec_run(["sh", "-c", "echo $GREETING from $(pwd)"], environment={{"GREETING": "hi"}}, workdir="/tmp")
assert (code, out) == (0, b"hi from /tmp\n"), (code, out)
code, out = box.exec_run(["sh", "-c", "exit 9"])
assert code == 9, code
code, (out, err) = box.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
assert (out, err) == (b"o\n", b"e\n"), (out, err)
st = box.stats(stream=False)
assert st["memory_stats"]["usage"] > 0 and st["pids_stats"]["current"] >= 1, st
assert st["precpu_stats"]["system_cpu_usage"] > 0, st
box.pause()
box.reload()
assert box.status == "paused", box.status
box.unpause()
box.reload()
assert box.status == "running", box.status
box.rename("sdk2")
assert c.containers.get("sdk2").id == box.id
assert [p[-1] for p in box.top()["Processes"]] == ["sleep 1000"], box.top()
box.remove(force=True)
# An attachment waiting for a start ends when the container is removed instead.
gone = c.containers.create("busybox", ["true"], name="gone")
waiting = gone.attach(stream=True, stdout=True, stderr=True)
gone.remove()
assert list(waiting) == []
print("sdk ok")
"#,
        sock = d.docker_socket().display(),
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 with the docker SDK (deploy/test.sh installs it)");
    assert!(
        out.status.success(),
        "stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sdk ok");
}
