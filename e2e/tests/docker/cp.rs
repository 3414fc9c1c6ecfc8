//! `docker cp` with the real docker CLI (the archive endpoints: HEAD, GET,
//! PUT): files and trees both ways, into and out of volumes, for running
//! and stopped containers, tar streams on stdin and stdout, a read-only
//! rootfs refused with dockerd's words; and the CVE-2018-15664 class: a
//! symlink the container plants, or swaps in while the copy runs, never
//! makes berth read or write a host path. Nothing stays mounted.

use berth_e2e::{mounts_under, Daemon};
use std::path::Path;

fn host_dir(d: &Daemon, name: &str) -> std::path::PathBuf {
    let p = d.root().parent().unwrap().join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// No mount of the daemon's dirs is left in berthd's (this) namespace.
fn nothing_mounted(d: &Daemon) {
    assert_eq!(mounts_under(&d.root()), Vec::<std::path::PathBuf>::new());
}

#[test]
fn files_and_trees_go_both_ways_running_or_stopped() {
    let d = Daemon::start();
    let src = host_dir(&d, "src");
    std::fs::write(src.join("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(src.join("tree/sub")).unwrap();
    std::fs::write(src.join("tree/sub/deep.txt"), "deep\n").unwrap();
    std::os::unix::fs::symlink("sub/deep.txt", src.join("tree/link")).unwrap();
    let out = host_dir(&d, "out");
    d.docker(&["run", "-d", "--name", "c", "-v", "cpvol:/data", "busybox", "sleep", "1000"]).ok();

    // Into a running container: a file into a dir, a tree under a new name, a tree's contents.
    d.docker(&["cp", &s(&src.join("hello.txt")), "c:/tmp/"]).ok();
    d.docker(&["cp", &s(&src.join("tree")), "c:/tmp/copied"]).ok();
    d.docker(&["exec", "c", "mkdir", "/tmp/into"]).ok();
    d.docker(&["cp", &format!("{}/.", s(&src.join("tree"))), "c:/tmp/into"]).ok();
    let seen = d
        .docker(&[
            "exec",
            "c",
            "sh",
            "-c",
            "cat /tmp/hello.txt /tmp/copied/sub/deep.txt /tmp/into/link; readlink /tmp/copied/link",
        ])
        .ok()
        .stdout;
    assert_eq!(seen, "hello\ndeep\ndeep\nsub/deep.txt\n");
    // Into its volume.
    d.docker(&["cp", &s(&src.join("hello.txt")), "c:/data/"]).ok();
    assert_eq!(d.docker(&["exec", "c", "cat", "/data/hello.txt"]).ok().stdout, "hello\n");

    // Out of it: a file, a tree, a symlink as a link.
    d.docker(&[
        "exec",
        "c",
        "sh",
        "-c",
        "echo made-inside > /tmp/made; ln -s /tmp/made /tmp/made-link",
    ])
    .ok();
    d.docker(&["cp", "c:/tmp/made", &s(&out)]).ok();
    d.docker(&["cp", "c:/tmp/copied", &s(&out.join("back"))]).ok();
    d.docker(&["cp", "c:/tmp/made-link", &s(&out)]).ok();
    assert_eq!(std::fs::read_to_string(out.join("made")).unwrap(), "made-inside\n");
    assert_eq!(std::fs::read_to_string(out.join("back/sub/deep.txt")).unwrap(), "deep\n");
    assert_eq!(std::fs::read_link(out.join("made-link")).unwrap(), Path::new("/tmp/made"));
    // -L follows it (inside the container).
    d.docker(&["cp", "-L", "c:/tmp/made-link", &s(&out.join("followed"))]).ok();
    assert_eq!(std::fs::read_to_string(out.join("followed")).unwrap(), "made-inside\n");

    // Tar streams: out on stdout, in on stdin.
    let tarred = d.docker_cmd().args(["cp", "c:/tmp/hello.txt", "-"]).output().unwrap();
    assert!(tarred.status.success());
    let mut a = tar::Archive::new(tarred.stdout.as_slice());
    let names: Vec<String> =
        a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert_eq!(names, ["hello.txt"]);
    let input =
        berth_e2e::registry::tar(|b| berth_e2e::registry::file(b, "from-stdin.txt", b"piped\n"));
    d.docker_stdin(&["cp", "-", "c:/tmp"], &input).ok();
    assert_eq!(d.docker(&["exec", "c", "cat", "/tmp/from-stdin.txt"]).ok().stdout, "piped\n");

    // Stopped: its rootfs and volume are still there to copy from and into.
    d.docker(&["stop", "-t", "0", "c"]).ok();
    d.docker(&["cp", "c:/data/hello.txt", &s(&out.join("from-stopped"))]).ok();
    assert_eq!(std::fs::read_to_string(out.join("from-stopped")).unwrap(), "hello\n");
    std::fs::write(src.join("later.txt"), "later\n").unwrap();
    d.docker(&["cp", &s(&src.join("later.txt")), "c:/tmp/"]).ok();
    d.docker(&["cp", &s(&src.join("later.txt")), "c:/data/"]).ok();
    nothing_mounted(&d);
    d.docker(&["start", "c"]).ok();
    assert_eq!(
        d.docker(&["exec", "c", "cat", "/tmp/later.txt", "/data/later.txt", "/tmp/made"])
            .ok()
            .stdout,
        "later\nlater\nmade-inside\n"
    );

    // Refusals with dockerd's words.
    let missing = d.docker(&["cp", "c:/no/such/file", &s(&out)]);
    assert!(
        missing.code != 0 && missing.stderr.contains("No such container:path: c:/no/such/file"),
        "{missing:?}"
    );
    let no_ctr = d.docker(&["cp", "nosuch:/etc/hostname", &s(&out)]);
    assert!(no_ctr.code != 0 && no_ctr.stderr.contains("No such container"), "{no_ctr:?}");
    let (code, body) = d.docker_raw(
        "PUT /containers/c/archive?path=/tmp/hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(code, 400, "into a file: {body}");
    let (code, body) = d.docker_raw("GET /containers/c/archive HTTP/1.0\r\n\r\n");
    assert!(code == 400 && body.contains("Path cannot be empty"), "{code} {body}");
    d.docker(&["rm", "-f", "c"]).ok();
    nothing_mounted(&d);
}

#[test]
fn a_read_only_rootfs_refuses_copies_but_its_volumes_take_them() {
    let d = Daemon::start();
    let src = host_dir(&d, "src");
    std::fs::write(src.join("f"), "x\n").unwrap();
    d.docker(&[
        "create",
        "--name",
        "ro",
        "--read-only",
        "-v",
        "rovol:/w",
        "-v",
        &format!("{}:/ro-bind:ro", s(&src)),
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    for running in [false, true] {
        let r = d.docker(&["cp", &s(&src.join("f")), "ro:/tmp/"]);
        assert!(
            r.code != 0 && r.stderr.contains("container rootfs is marked read-only"),
            "running={running}: {r:?}"
        );
        let r = d.docker(&["cp", &s(&src.join("f")), "ro:/ro-bind/"]);
        assert!(
            r.code != 0 && r.stderr.contains("mounted volume is marked read-only"),
            "running={running}: {r:?}"
        );
        d.docker(&["cp", &s(&src.join("f")), "ro:/w/"]).ok();
        d.docker(&["start", "ro"]).ok();
    }
    assert_eq!(d.docker(&["exec", "ro", "cat", "/w/f"]).ok().stdout, "x\n");
    d.docker(&["rm", "-f", "ro"]).ok();
    nothing_mounted(&d);
}

/// CVE-2018-15664 and its kin: links to host paths, planted or swapped in
/// while copies run, resolve inside the container, never on the host.
#[test]
fn a_containers_symlinks_never_reach_the_host() {
    let d = Daemon::start();
    let secret_dir = host_dir(&d, "host-secrets");
    std::fs::write(secret_dir.join("secret"), "host-only\n").unwrap();
    let target = host_dir(&d, "host-target");
    let sd = s(&secret_dir);
    let td = s(&target);
    let out = host_dir(&d, "out");
    let script = format!(
        "mkdir -p /w; ln -s / /w/root; ln -s {sd} /w/abs; ln -s ../../../../../../../{sd} /w/climb; ln -s {td} /w/tgt; \
         while :; do rm -rf /w/swap; mkdir -p /w/swap; rm -rf /w/swap; ln -s / /w/swap; done"
    );
    d.docker(&["run", "-d", "--name", "evil", "busybox", "sh", "-c", &script]).ok();
    d.eventually(std::time::Duration::from_secs(10), || {
        d.docker(&["exec", "evil", "test", "-L", "/w/tgt"]).code == 0
    });
    // Reads through planted links: the container has no such file.
    for p in ["/w/abs/secret", "/w/climb/secret", &format!("/w/root{sd}/secret")] {
        let r = d.docker(&["cp", &format!("evil:{p}"), &s(&out.join("got"))]);
        assert!(r.code != 0, "{p}: {r:?}");
        assert!(!out.join("got").exists(), "{p} read the host's file");
    }
    let stdout = d.docker_cmd().args(["cp", "-L", "evil:/w/abs", "-"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&stdout.stdout).contains("host-only"));
    // Writes through planted links: the host's dir stays empty.
    std::fs::write(out.join("payload"), "pwned\n").unwrap();
    for dest in ["evil:/w/tgt/", "evil:/w/tgt", &format!("evil:/w/root{td}/")] {
        let _ = d.docker(&["cp", &s(&out.join("payload")), dest]);
    }
    let (code, _) = d.docker_raw(
        "PUT /containers/evil/archive?path=/w/tgt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(code, 404, "the link's target is looked for inside the container");
    // A link swapped in while copies run (the CVE's race): some copies
    // fail, none touches the host.
    for _ in 0..30 {
        let _ = d.docker(&["cp", &format!("evil:/w/swap{sd}/secret"), &s(&out.join("raced"))]);
        assert!(
            !out.join("raced").exists()
                || !std::fs::read_to_string(out.join("raced")).unwrap().contains("host-only")
        );
        let _ = d.docker(&["cp", &s(&out.join("payload")), &format!("evil:/w/swap{td}/")]);
    }
    assert_eq!(
        berth_e2e::dir_names(&target),
        Vec::<String>::new(),
        "nothing was written on the host"
    );
    assert_eq!(std::fs::read_to_string(secret_dir.join("secret")).unwrap(), "host-only\n");
    d.docker(&["rm", "-f", "evil"]).ok();
    nothing_mounted(&d);
}

/// berth's own CLI: the same requests, the same naming rules.
#[test]
fn berths_cli_copies_as_docker_does() {
    let d = Daemon::start();
    let src = host_dir(&d, "src");
    std::fs::write(src.join("a.txt"), "a\n").unwrap();
    std::fs::create_dir_all(src.join("dir/sub")).unwrap();
    std::fs::write(src.join("dir/sub/b.txt"), "b\n").unwrap();
    let out = host_dir(&d, "out");
    d.berth(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]).ok();
    d.berth(&["cp", &s(&src.join("a.txt")), "c:/tmp/"]).ok();
    d.berth(&["cp", &s(&src.join("a.txt")), "c:/tmp/renamed.txt"]).ok();
    d.berth(&["cp", &s(&src.join("dir")), "c:/tmp/newdir"]).ok();
    d.berth(&["cp", &s(&src.join("dir")), "c:/tmp/newdir"]).ok();
    d.berth(&["cp", &format!("{}/.", s(&src.join("dir"))), "c:/tmp/"]).ok();
    let seen = d.docker(&["exec", "c", "sh", "-c", "cat /tmp/a.txt /tmp/renamed.txt /tmp/newdir/sub/b.txt /tmp/newdir/dir/sub/b.txt /tmp/sub/b.txt"]).ok().stdout;
    assert_eq!(seen, "a\na\nb\nb\nb\n");
    d.berth(&["cp", "c:/tmp/newdir", &s(&out.join("back"))]).ok();
    d.berth(&["cp", "c:/tmp/a.txt", &s(&out)]).ok();
    d.berth(&["cp", "c:/tmp/renamed.txt", &s(&out.join("r"))]).ok();
    d.berth(&["cp", "c:/tmp/newdir/.", &s(&out.join("contents"))]).ok();
    assert_eq!(std::fs::read_to_string(out.join("back/sub/b.txt")).unwrap(), "b\n");
    assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "a\n");
    assert_eq!(std::fs::read_to_string(out.join("r")).unwrap(), "a\n");
    assert_eq!(std::fs::read_to_string(out.join("contents/sub/b.txt")).unwrap(), "b\n");
    let r = d.berth(&["cp", "c:/no/such", &s(&out)]);
    assert!(r.code != 0 && r.stderr.contains("No such container:path: c:/no/such"), "{r:?}");
    let r = d.berth(&["cp", "nosuch:/etc", &s(&out)]);
    assert!(r.code != 0 && r.stderr.contains("No such container: nosuch"), "{r:?}");
    let r = d.berth(&["cp", &s(&src.join("dir")), "c:/tmp/a.txt"]);
    assert!(r.code != 0 && r.stderr.contains("cannot copy directory"), "{r:?}");
    // A hostile archive from the container stays in the destination dir.
    d.docker(&[
        "exec",
        "c",
        "sh",
        "-c",
        &format!("mkdir /tmp/evil && ln -s {} /tmp/evil/esc", s(&src)),
    ])
    .ok();
    d.berth(&["cp", "c:/tmp/evil", &s(&out.join("evil"))]).ok();
    assert_eq!(std::fs::read_link(out.join("evil/esc")).unwrap(), src);
    d.berth(&["rm", "-f", "c"]).ok();
    nothing_mounted(&d);
}
