//! Bad input gets a clear error, writes nothing outside berth's dirs, and
//! leaves no half-created container behind.

use berth_e2e::Daemon;

fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    body: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(body.len() as u64);
    // Raw names: the tar crate refuses to build hostile ones itself.
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, body).unwrap();
}

fn tarball(entries: &[(tar::EntryType, &str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (k, n, l) in entries {
        raw_entry(&mut b, *k, n, l, if *k == tar::EntryType::Regular { b"pwned" } else { b"" });
    }
    b.into_inner().unwrap()
}

#[test]
fn hostile_tarballs_are_refused_and_write_nothing_outside() {
    let d = Daemon::start_bare();
    let canary = d.dir.join("canary");
    std::fs::create_dir(&canary).unwrap();
    let target = canary.display().to_string();
    use tar::EntryType::{Link, Regular, Symlink};
    let up = "../../../../../../../../../../..".to_string() + &target;
    let abs = format!("{target}/abs");
    let up_x = format!("{up}/x");
    let cases: Vec<Vec<(tar::EntryType, &str, &str)>> = vec![
        vec![(Regular, "../escape", "")],
        vec![(Regular, "a/../../escape", "")],
        vec![(Regular, &abs, "")],
        vec![(Symlink, "evil", &target), (Regular, "evil/through-symlink", "")],
        vec![(Symlink, "evil", &up), (Regular, "evil/through-relative-symlink", "")],
        vec![(Link, "hard", &up_x)],
        vec![(Symlink, "dir", &target), (Link, "hard", "dir/x")],
    ];
    for (i, entries) in cases.iter().enumerate() {
        let r = d.berth_stdin(&["import", "-", &format!("hostile:{i}")], &tarball(entries));
        assert_ne!(r.code, 0, "case {i} was accepted: {entries:?}");
        assert!(r.stderr.contains("Error response from daemon"), "case {i}: {}", r.stderr);
        assert_eq!(
            std::fs::read_dir(&canary).unwrap().count(),
            0,
            "case {i} wrote outside the layer"
        );
    }
    assert!(!d.dir.join("escape").exists());
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
    // Nothing half-extracted remains.
    assert_eq!(std::fs::read_dir(d.dir.join("root/layers")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(d.dir.join("root/tmp")).unwrap().count(), 0);
}

#[test]
fn malformed_tarball_and_bad_references() {
    let d = Daemon::start_bare();
    let r = d.berth_stdin(
        &["import", "-", "junk"],
        b"this is not a tar archive, not at all, nope................",
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("malformed"), "{}", r.stderr);
    let r = d.berth_stdin(&["import", "-", "Bad/UPPER"], berth_e2e::busybox_tarball());
    assert!(r.code != 0 && r.stderr.contains("invalid reference format"), "{}", r.stderr);
    let r = d.berth(&["import", "/nonexistent.tar", "x"]);
    assert_ne!(r.code, 0);
    let r =
        d.berth_stdin(&["import", "-c", "RUN rm -rf /", "-", "x"], berth_e2e::busybox_tarball());
    assert!(r.code != 0 && r.stderr.contains("not a valid change command"), "{}", r.stderr);
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
}

#[test]
fn unknown_objects_duplicates_and_invalid_names() {
    let d = Daemon::start();
    // Never pulled (Docker's default would ask Docker Hub): no traffic leaves the machine.
    let r = d.berth(&["run", "--rm", "--pull", "never", "nosuchimage"]);
    assert!(r.code != 0 && r.stderr.contains("No such image: nosuchimage"), "{r:?}");
    for verb in [
        vec!["start"],
        vec!["stop"],
        vec!["kill"],
        vec!["rm"],
        vec!["logs"],
        vec!["wait"],
        vec!["inspect"],
    ] {
        let mut a = verb.clone();
        a.push("ghost");
        let r = d.berth(&a);
        // inspect looks for any object, as Docker's does.
        let expected =
            if verb == ["inspect"] { "No such object: ghost" } else { "No such container: ghost" };
        assert!(r.code != 0 && r.stderr.contains(expected), "{a:?}: {r:?}");
    }
    for key in ["", "../x", "a/b"] {
        let r = d.berth(&["start", key]);
        assert!(r.code != 0 && r.stderr.contains("No such container"), "{key:?}: {r:?}");
    }
    let r = d.berth(&["rmi", "ghost"]);
    assert!(r.code != 0 && r.stderr.contains("No such image"), "{r:?}");
    d.berth(&["create", "--name", "dup", "busybox", "true"]).ok();
    let r = d.berth(&["create", "--name", "dup", "busybox", "true"]);
    assert!(r.code != 0 && r.stderr.contains("already in use"), "{r:?}");
    // One past the engine's limit (room for the CRI's k8s_… names).
    let long = "a".repeat(1025);
    for bad in ["../x", "a/b", "-x", long.as_str(), "a\u{1}b"] {
        let r = d.berth(&["create", &format!("--name={bad}"), "busybox", "true"]);
        assert!(r.code != 0 && r.stderr.contains("invalid container name"), "{bad:?}: {r:?}");
    }
    for (flag, value, msg) in [
        ("--memory", "1k", "minimum memory"),
        ("-w", "relative", "absolute path"),
        ("--stop-signal", "SIGNOPE", "invalid signal"),
        ("-h", "bad_host", "invalid hostname"),
    ] {
        let r = d.berth(&["create", flag, value, "busybox", "true"]);
        assert!(r.code != 0 && r.stderr.contains(msg), "{flag} {value}: {r:?}");
    }
    let r = d.berth(&["kill", "-s", "NOPE", "dup"]);
    assert!(r.code != 0 && r.stderr.contains("invalid signal"), "{r:?}");
    let r = d.berth(&["ps", "--filter", "bogus=1"]);
    assert!(r.code != 0 && r.stderr.contains("invalid filter"), "{r:?}");
    // Only the one good container exists; nothing half-created.
    assert_eq!(d.berth(&["ps", "-aq"]).ok().stdout.lines().count(), 1);
    assert_eq!(std::fs::read_dir(d.dir.join("root/containers")).unwrap().count(), 1);
    // A container whose command can't start leaves no bundle, mount or cgroup.
    let r = d.berth(&["run", "--name", "broken", "busybox", "/nonexistent"]);
    assert_eq!(r.code, 127);
    let id = d.inspect("broken")["Id"].as_str().unwrap().to_owned();
    assert!(!d.dir.join("run/containers").join(&id).exists());
    assert!(
        !std::path::Path::new(&format!("/sys/fs/cgroup/memory/{}/{id}", d.cgroup_parent)).exists()
    );
}

#[test]
fn the_daemon_refuses_a_bad_config() {
    let dir = std::env::temp_dir().join(format!("berth-test-cfg-{}", berth_e2e::hex(4)));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.toml"), "root = \"relative\"\n").unwrap();
    let out = std::process::Command::new(berth_e2e::bin_dir().join("berthd"))
        .arg("--config")
        .arg(dir.join("c.toml"))
        .output()
        .unwrap();
    std::fs::write(dir.join("d.toml"), "unknown_key = 1\n").unwrap();
    let out2 = std::process::Command::new(berth_e2e::bin_dir().join("berthd"))
        .arg("--config")
        .arg(dir.join("d.toml"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("absolute"));
    assert!(
        !out2.status.success() && String::from_utf8_lossy(&out2.stderr).contains("unknown field")
    );
}
