//! `docker diff`, `docker export` and `docker commit` with the real docker
//! CLI and berth's: a container's changes over its image (additions,
//! changes, deletions; none of berth's own mount points, nothing of its
//! volumes), its filesystem as a tar, and a new image of it — whiteouts
//! included, `--change`s applied — that runs, survives a daemon restart,
//! and can be removed again.

use berth_e2e::Daemon;
use std::collections::BTreeSet;

fn tar_names(bytes: &[u8]) -> BTreeSet<String> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string().trim_end_matches('/').to_owned())
        .collect()
}

#[test]
fn diff_export_and_commit_a_containers_changes() {
    let mut d = Daemon::start();
    let script = "mkdir /new && echo made > /new/file && echo extra >> /etc/passwd && rm /etc/group && touch /data/in-volume && touch /ready; exec sleep 1000";
    d.docker(&["run", "-d", "--name", "c", "-v", "cvol:/data", "busybox", "sh", "-c", script]).ok();
    assert!(d.eventually(std::time::Duration::from_secs(10), || d
        .docker(&["exec", "c", "test", "-f", "/ready"])
        .code
        == 0));

    let diff = d.docker(&["diff", "c"]).ok().stdout;
    let lines: BTreeSet<&str> = diff.lines().collect();
    for want in ["A /new", "A /new/file", "C /etc", "C /etc/passwd", "D /etc/group", "A /ready"] {
        assert!(lines.contains(want), "{want} in {diff}");
    }
    for not in [
        "/proc",
        "/sys",
        "/dev",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/data/in-volume",
    ] {
        assert!(
            !lines.iter().any(|l| l[2..] == *not || l[2..].starts_with(&format!("{not}/"))),
            "{not} in {diff}"
        );
    }
    assert_eq!(d.berth(&["diff", "c"]).ok().stdout, diff, "berth's CLI shows the same");

    // Export: the rootfs with the changes, without the volume's content.
    let exported = d.docker_cmd().args(["export", "c"]).output().unwrap();
    assert!(exported.status.success());
    let names = tar_names(&exported.stdout);
    for want in ["bin/busybox", "new/file", "etc/passwd", "proc", "data"] {
        assert!(names.contains(want), "{want} exported");
    }
    assert!(
        !names.contains("etc/group")
            && !names.contains("data/in-volume")
            && !names.iter().any(|n| n.starts_with("proc/")),
        "{names:?}"
    );
    let out = d.root().parent().unwrap().join("export.tar");
    d.berth(&["export", "-o", &out.display().to_string(), "c"]).ok();
    assert_eq!(tar_names(&std::fs::read(&out).unwrap()), names);

    // Commit (paused while it runs), with changes; the image runs with them.
    let id = d
        .docker(&[
            "commit",
            "-m",
            "snap",
            "-a",
            "tester",
            "-c",
            "ENV SNAP=1",
            "-c",
            "CMD [\"cat\", \"/new/file\"]",
            "c",
            "snap:v1",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "c"]).ok().stdout.trim(),
        "running false"
    );
    assert_eq!(d.docker(&["run", "--rm", "snap:v1"]).ok().stdout, "made\n");
    let seen = d.docker(&["run", "--rm", "snap:v1", "sh", "-c", "echo $SNAP; test -e /etc/group && echo group-back; tail -1 /etc/passwd; ls /data | wc -l"]).ok().stdout;
    assert_eq!(seen, "1\nextra\n0\n", "the deletion is a whiteout, the volume is not in the image");
    let hist =
        d.docker(&["history", "--no-trunc", "--format", "{{.Comment}}", "snap:v1"]).ok().stdout;
    assert!(hist.lines().next() == Some("snap"), "{hist}");
    assert_eq!(d.docker(&["inspect", "-f", "{{.Author}}", "snap:v1"]).ok().stdout.trim(), "tester");
    // berth's CLI, of a stopped container, untagged.
    d.docker(&["stop", "-t", "0", "c"]).ok();
    let untagged = d.berth(&["commit", "c"]).ok().stdout.trim().to_owned();
    assert!(untagged.starts_with("sha256:"));
    assert_eq!(d.docker(&["run", "--rm", &untagged, "cat", "/new/file"]).ok().stdout, "made\n");
    // The images are records like any other: they outlive the daemon, and go.
    d.restart();
    assert_eq!(d.docker(&["run", "--rm", "snap:v1"]).ok().stdout, "made\n");
    let bad = d.docker(&["commit", "-c", "BOGUS x", "c", "snap:v2"]);
    assert!(bad.code != 0 && bad.stderr.to_lowercase().contains("bogus"), "{bad:?}");
    let none = d.docker(&["commit", "nosuch", "x:y"]);
    assert!(none.code != 0 && none.stderr.contains("No such container: nosuch"), "{none:?}");
    d.docker(&["rm", "-f", "c"]).ok();
    d.docker(&["rmi", "snap:v1", &untagged]).ok();
}
