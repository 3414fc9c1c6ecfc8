//! Volumes, binds and tmpfs through Debian's docker CLI, as dockerd 20.10
//! answers them: named volumes that outlive their containers and refuse
//! removal while a container names them, the image's content copied into
//! an empty volume (not with `nocopy`), anonymous volumes for `-v /path`
//! and an image's `VOLUME` that `rm -v` and `--rm` take along, bind mounts
//! read-write and read-only, `--mount` and `--tmpfs`; bad specs get
//! dockerd's errors and leave nothing behind.

use berth_e2e::{dir_names, mounts_under, Daemon};

fn volumes(d: &Daemon) -> Vec<String> {
    d.docker(&["volume", "ls", "-q"]).ok().stdout.lines().map(str::to_owned).collect()
}

#[test]
fn named_volumes_outlive_their_containers() {
    let d = Daemon::start();
    assert_eq!(
        d.docker(&["volume", "create", "--label", "tier=db", "data"]).ok().stdout.trim(),
        "data"
    );
    // Written by one container, read by the next; read-only where asked.
    d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ])
    .ok();
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "data:/d:ro",
            "busybox",
            "cat",
            "/d/f"
        ])
        .ok()
        .stdout,
        "kept\n"
    );
    let ro = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/d:ro",
        "busybox",
        "touch",
        "/d/g",
    ]);
    assert!(ro.code != 0 && ro.stderr.contains("Read-only file system"), "{ro:?}");
    let doc = d
        .docker(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels.tier}} {{.Mountpoint}}",
            "data",
        ])
        .ok()
        .stdout;
    let mountpoint = d.root().join("volumes/data/_data");
    assert_eq!(doc.trim(), format!("data local local db {}", mountpoint.display()));
    assert_eq!(std::fs::read_to_string(mountpoint.join("f")).unwrap(), "kept\n");
    assert_eq!(
        d.docker(&["volume", "ls", "--filter", "label=tier=db", "-q"]).ok().stdout.trim(),
        "data"
    );

    // In use, even by a container that never ran: dockerd's 409.
    d.docker(&[
        "create",
        "--name",
        "holder",
        "--network",
        "none",
        "-v",
        "data:/d",
        "busybox",
        "true",
    ])
    .ok();
    let mounts = d
        .docker(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
            "holder",
        ])
        .ok()
        .stdout;
    assert_eq!(mounts.trim(), "volume data /d true");
    assert_eq!(
        d.docker(&["volume", "ls", "--filter", "dangling=true", "-q"]).ok().stdout.trim(),
        ""
    );
    let busy = d.docker(&["volume", "rm", "data"]);
    assert!(busy.code == 1 && busy.stderr.contains("volume is in use"), "{busy:?}");
    d.docker(&["rm", "holder"]).ok();
    assert_eq!(
        d.docker(&["volume", "ls", "--filter", "dangling=true", "-q"]).ok().stdout.trim(),
        "data"
    );
    d.docker(&["volume", "rm", "data"]).ok();
    let gone = d.docker(&["volume", "inspect", "data"]);
    assert!(gone.code == 1 && gone.stderr.contains("No such volume"), "{gone:?}");

    // A name given to -v makes the volume; an empty one takes the image's
    // content first, unless nocopy.
    assert!(d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "etc:/etc",
            "busybox",
            "cat",
            "/etc/passwd"
        ])
        .ok()
        .stdout
        .starts_with("root:x:0:0"));
    assert!(std::fs::read_to_string(d.root().join("volumes/etc/_data/passwd"))
        .unwrap()
        .starts_with("root:x:0:0"));
    // (Only the files berth mounts there itself: hostname, hosts.)
    let bare = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "bare:/etc:nocopy",
            "busybox",
            "ls",
            "-A",
            "/etc",
        ])
        .ok()
        .stdout;
    assert!(!bare.contains("passwd"), "{bare}");
    // A volume with content keeps it.
    d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "etc:/etc",
        "busybox",
        "sh",
        "-c",
        "echo mine > /etc/passwd",
    ])
    .ok();
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "etc:/etc",
            "busybox",
            "cat",
            "/etc/passwd"
        ])
        .ok()
        .stdout,
        "mine\n"
    );

    // df and prune (API 1.41: every unused volume).
    let df = d
        .docker(&["system", "df", "-v", "--format", "{{range .Volumes}}{{.Name}} {{end}}"])
        .ok()
        .stdout;
    assert!(df.contains("etc") && df.contains("bare"), "{df}");
    let pruned = d.docker(&["volume", "prune", "-f"]).ok().stdout;
    assert!(pruned.contains("etc") && pruned.contains("bare"), "{pruned}");
    assert!(volumes(&d).is_empty());
    assert!(dir_names(&d.root().join("volumes")).is_empty());
    assert_eq!(mounts_under(&d.dir), Vec::<std::path::PathBuf>::new());
}

#[test]
fn anonymous_volumes_go_with_their_container() {
    let d = Daemon::start();
    d.import_busybox("withvol", &[r#"CMD ["sh"]"#, "VOLUME /data"]);
    // -v /path: a volume of the container's own, with a random name.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "anon",
        "--network",
        "none",
        "-v",
        "/scratch",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    let name = d
        .docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(name.len(), 64, "{name}");
    assert_eq!(volumes(&d), std::slice::from_ref(&name));
    d.docker(&["rm", "-fv", "anon"]).ok();
    assert!(volumes(&d).is_empty(), "rm -v takes it");
    // --rm too.
    d.docker(&["run", "--rm", "--network", "none", "-v", "/scratch", "busybox", "true"]).ok();
    assert!(volumes(&d).is_empty(), "--rm takes it");
    // The image's VOLUME: one for each container; rm without -v keeps it.
    d.docker(&[
        "run",
        "--name",
        "iv",
        "--network",
        "none",
        "withvol",
        "sh",
        "-c",
        "echo x > /data/x",
    ])
    .ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}", "iv"])
            .ok()
            .stdout
            .trim(),
        "volume /data"
    );
    d.docker(&["rm", "iv"]).ok();
    assert_eq!(volumes(&d).len(), 1);
    // A -v at the same path covers the image's VOLUME.
    d.docker(&["run", "--rm", "--network", "none", "-v", "named:/data", "withvol", "true"]).ok();
    assert_eq!(volumes(&d).len(), 2);
    d.docker(&["volume", "prune", "-f"]).ok();
    assert!(volumes(&d).is_empty());
    assert!(dir_names(&d.root().join("volumes")).is_empty());
}

#[test]
fn binds_mounts_and_tmpfs() {
    let d = Daemon::start();
    let host = d.dir.join("host-dir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let h = host.display().to_string();
    // Read-write: the container's writes are the host's files.
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{h}:/h"),
            "busybox",
            "sh",
            "-c",
            "cat /h/in; echo back > /h/out"
        ])
        .ok()
        .stdout,
        "from the host\n"
    );
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{h}:/h:ro"),
        "busybox",
        "touch",
        "/h/x",
    ]);
    assert!(ro.code != 0 && ro.stderr.contains("Read-only file system"), "{ro:?}");
    // -v makes a missing host dir; --mount doesn't.
    let made = d.dir.join("made-by-v");
    d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/m", made.display()),
        "busybox",
        "true",
    ])
    .ok();
    assert!(made.is_dir());
    let missing = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--mount",
        &format!("type=bind,source={}/nope,target=/m", d.dir.display()),
        "busybox",
        "true",
    ]);
    assert!(
        missing.code == 125 && missing.stderr.contains("bind source path does not exist"),
        "{missing:?}"
    );
    let bound = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            &format!("type=bind,source={h},target=/h,readonly"),
            "busybox",
            "sh",
            "-c",
            "cat /h/in; touch /h/y 2>&1 || true",
        ])
        .ok()
        .stdout;
    assert!(bound.starts_with("from the host\n") && bound.contains("Read-only"), "{bound}");
    // --mount type=volume makes the volume; type=tmpfs and --tmpfs are tmpfs.
    d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--mount",
        "type=volume,source=mv,target=/mv",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(volumes(&d), ["mv"]);
    let t = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--tmpfs",
            "/t:size=1m,mode=1770",
            "--mount",
            "type=tmpfs,target=/t2",
            "busybox",
            "sh",
            "-c",
            "grep -E ' /t2? ' /proc/mounts; stat -c %a /t",
        ])
        .ok()
        .stdout;
    assert!(
        t.contains("tmpfs /t tmpfs")
            && t.contains("size=1024k")
            && t.contains("tmpfs /t2 tmpfs")
            && t.trim_end().ends_with("1770"),
        "{t}"
    );

    // dockerd's refusals; nothing made.
    let before = (d.docker(&["ps", "-aq"]).ok().stdout, volumes(&d));
    for (args, err) in [
        (vec!["-v", "vol:relative"], "mount path must be absolute"),
        (vec!["-v", "a1:/x", "-v", "b1:/x"], "Duplicate mount point: /x"),
        (vec!["-v", "vol:/x:bogus"], "invalid mode: bogus"),
        (vec!["--tmpfs", "/t:size=1m,exec=yes,bogus"], "invalid tmpfs option"),
        (vec!["--mount", "type=tmpfs,source=/x,target=/t"], "Source must not be specified"),
    ] {
        let r = d.docker(
            &[&["run", "--rm", "--network", "none"][..], &args, &["busybox", "true"]].concat(),
        );
        assert!(r.code == 125 && r.stderr.contains(err), "{args:?}: {r:?}");
    }
    let bad = d.docker(&["volume", "create", "../escape"]);
    assert!(
        bad.code == 1 && bad.stderr.contains("includes invalid characters for a local volume name"),
        "{bad:?}"
    );
    assert_eq!((d.docker(&["ps", "-aq"]).ok().stdout, volumes(&d)), before);
    d.docker(&["volume", "rm", "mv"]).ok();
    assert_eq!(mounts_under(&d.dir), Vec::<std::path::PathBuf>::new());
}

/// The busybox rootfs plus one symlink entry.
fn busybox_with_link(name: &str, target: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut src = tar::Archive::new(berth_e2e::busybox_tarball());
    for e in src.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        b.append(&h, &mut e).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h.set_path(name).unwrap();
    h.set_link_name(target).unwrap();
    h.set_cksum();
    b.append(&h, std::io::empty()).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn a_copy_up_never_reads_outside_the_container() {
    let d = Daemon::start();
    // A host file the image's symlink aims at, from outside its root.
    let secret = d.dir.join("host-secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("key"), "host only").unwrap();
    let up = "../".repeat(12);
    let tar = busybox_with_link(
        "data",
        &format!("{up}{}", secret.display().to_string().trim_start_matches('/')),
    );
    d.berth_stdin(&["import", "-c", r#"CMD ["sh"]"#, "-c", "VOLUME /data", "-", "linked"], &tar)
        .ok();
    let abs = busybox_with_link("data", &secret.display().to_string());
    d.berth_stdin(
        &["import", "-c", r#"CMD ["sh"]"#, "-c", "VOLUME /data", "-", "linked-abs"],
        &abs,
    )
    .ok();
    for image in ["linked", "linked-abs"] {
        // (The dangling link, resolved inside the root, names no directory:
        // berth refuses to mount there rather than make one through it.)
        let _ = d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("vol-{image}:/data"),
            image,
            "true",
        ]);
        let data = d.root().join(format!("volumes/vol-{image}/_data"));
        assert!(!data.join("key").exists(), "{image}: the host's file was copied into the volume");
        assert_eq!(std::fs::read_to_string(secret.join("key")).unwrap(), "host only");
    }
    assert_eq!(dir_names(&secret), ["key"], "nothing written beside the host's file");
    d.docker(&["volume", "rm", "vol-linked", "vol-linked-abs"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "", "--rm took the failed containers");
    assert_eq!(mounts_under(&d.dir), Vec::<std::path::PathBuf>::new());
}

#[test]
fn the_berth_cli_drives_the_same_volumes() {
    let d = Daemon::start();
    assert_eq!(d.berth(&["volume", "create", "v1"]).ok().stdout.trim(), "v1");
    d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "v1:/d",
        "busybox",
        "sh",
        "-c",
        "echo x > /d/f",
    ])
    .ok();
    assert_eq!(
        d.berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,source=v1,target=/d,readonly",
            "busybox",
            "cat",
            "/d/f"
        ])
        .ok()
        .stdout,
        "x\n"
    );
    // The docker CLI sees them too.
    assert_eq!(
        d.docker(&["run", "--rm", "--network", "none", "-v", "v1:/d", "busybox", "cat", "/d/f"])
            .ok()
            .stdout,
        "x\n"
    );
    let t = d
        .berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--tmpfs",
            "/t:size=1m",
            "busybox",
            "grep",
            " /t ",
            "/proc/mounts",
        ])
        .ok()
        .stdout;
    assert!(t.starts_with("tmpfs /t tmpfs") && t.contains("size=1024k"), "{t}");
    let ls = d.berth(&["volume", "ls"]).ok().stdout;
    assert!(
        ls.starts_with("DRIVER")
            && ls.contains("VOLUME NAME")
            && ls.contains("local")
            && ls.contains("v1"),
        "{ls}"
    );
    assert_eq!(
        d.berth(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "v1"]).ok().stdout.trim(),
        "v1 local"
    );
    d.berth(&["create", "--name", "user", "--network", "none", "-v", "v1:/d", "busybox", "true"])
        .ok();
    let busy = d.berth(&["volume", "rm", "v1"]);
    assert!(busy.code == 1 && busy.stderr.contains("volume is in use"), "{busy:?}");
    let df = d.berth(&["system", "df"]).ok().stdout;
    assert!(
        df.lines()
            .any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("1")),
        "{df}"
    );
    d.berth(&["rm", "user"]).ok();
    // API 1.47, as Docker 23 on: named volumes only with --all.
    assert!(!d.berth(&["volume", "prune", "-f"]).ok().stdout.contains("v1"));
    let pruned = d.berth(&["volume", "prune", "-f", "--all"]).ok().stdout;
    assert!(pruned.contains("v1"), "{pruned}");
    let missing = d.berth(&["volume", "inspect", "v1"]);
    assert!(missing.code == 1 && missing.stderr.contains("No such volume: v1"), "{missing:?}");
    // And a restart policy from the berth CLI.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "retry",
        "--network",
        "none",
        "--restart",
        "on-failure:1",
        "busybox",
        "sh",
        "-c",
        "exit 9",
    ])
    .ok();
    assert!(d.eventually(std::time::Duration::from_secs(10), || d
        .docker(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "retry"])
        .ok()
        .stdout
        .trim()
        == "exited 1"));
    d.berth(&["rm", "retry"]).ok();
    assert!(dir_names(&d.root().join("volumes")).is_empty());
}

#[test]
fn volumes_from_another_container_and_a_read_only_root() {
    let d = Daemon::start();
    let host = d.dir.join("shared");
    std::fs::create_dir_all(&host).unwrap();
    d.docker(&[
        "create",
        "--name",
        "src",
        "--network",
        "none",
        "-v",
        "data:/data",
        "-v",
        "/anon",
        "-v",
        &format!("{}:/h", host.display()),
        "busybox",
        "true",
    ])
    .ok();
    // Every volume and bind of src, read-write as there.
    d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo v > /data/f; echo a > /anon/f; echo h > /h/f",
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "h\n");
    assert_eq!(
        d.docker(&["run", "--rm", "--network", "none", "-v", "data:/d", "busybox", "cat", "/d/f"])
            .ok()
            .stdout,
        "v\n"
    );
    // :ro makes them all read-only; the request's own mount wins.
    let ro = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--volumes-from",
            "src:ro",
            "-v",
            "other:/h",
            "busybox",
            "sh",
            "-c",
            "touch /data/x 2>&1; cat /anon/f; touch /h/ok && echo h-own",
        ])
        .ok()
        .stdout;
    assert!(
        ro.contains("Read-only file system") && ro.contains("a\n") && ro.contains("h-own"),
        "{ro}"
    );
    // --read-only: the root can't be written, its volumes can.
    let r = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "-v",
            "data:/data",
            "--tmpfs",
            "/tmp",
            "busybox",
            "sh",
            "-c",
            "touch /x 2>&1; echo ok > /data/g; echo t > /tmp/t; cat /data/g /tmp/t",
        ])
        .ok()
        .stdout;
    assert!(r.contains("Read-only file system") && r.ends_with("ok\nt\n"), "{r}");
    let missing = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volumes-from",
        "nosuch",
        "busybox",
        "true",
    ]);
    assert!(
        missing.code == 125 && missing.stderr.contains("No such container: nosuch"),
        "{missing:?}"
    );
    // rm -v of a container that shares src's anonymous volume keeps it for src.
    d.docker(&[
        "create",
        "--name",
        "sharer",
        "--network",
        "none",
        "--volumes-from",
        "src",
        "busybox",
        "true",
    ])
    .ok();
    d.docker(&["rm", "-v", "sharer"]).ok();
    assert_eq!(volumes(&d).len(), 3, "data, other and src's anonymous one stay");
    d.docker(&["rm", "-v", "src"]).ok();
    assert_eq!(volumes(&d).len(), 2);
    d.docker(&["volume", "rm", "data", "other"]).ok();
    assert!(dir_names(&d.root().join("volumes")).is_empty());
}

/// The local driver's options: `type=none o=bind device=<dir>` (the
/// node's directory, which outlives the volume) and `type=tmpfs o=…`
/// (a tmpfs with those options in the container); dockerd's refusals of
/// unknown keys, and berth's of types it doesn't mount yet.
#[test]
fn the_local_drivers_bind_and_tmpfs_options() {
    let d = Daemon::start();
    let host = d.root().parent().unwrap().join("bound");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("seed"), "seed\n").unwrap();
    let device = format!("device={}", host.display());
    d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        "bound",
    ])
    .ok();
    assert_eq!(
        d.docker(&[
            "volume",
            "inspect",
            "-f",
            "{{.Options.type}} {{.Options.o}} {{.Options.device}}",
            "bound"
        ])
        .ok()
        .stdout
        .trim(),
        format!("none bind {}", host.display())
    );
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "bound:/data",
            "busybox",
            "sh",
            "-c",
            "cat /data/seed; echo from-ctr > /data/new",
        ])
        .ok()
        .stdout;
    assert_eq!(out, "seed\n");
    assert_eq!(std::fs::read_to_string(host.join("new")).unwrap(), "from-ctr\n");

    d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m,uid=1000",
        "tv",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "tv:/t",
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts; stat -c %u /t",
        ])
        .ok()
        .stdout;
    assert!(
        out.contains("tmpfs /t tmpfs") && out.contains("size=1024k") && out.ends_with("1000\n"),
        "{out}"
    );
    d.berth(&["volume", "create", "-o", "type=tmpfs", "-o", "o=size=2m", "bt"]).ok();
    let out = d
        .berth(&["run", "--rm", "-v", "bt:/t", "busybox", "grep", " /t ", "/proc/mounts"])
        .ok()
        .stdout;
    assert!(out.contains("size=2048k"), "{out}");

    for (opts, says) in [
        (vec!["--opt", "foo=bar"], "invalid option key: \"foo\""),
        (
            vec!["--opt", "type=ext4", "--opt", "device=/dev/nonexistent"],
            "is not supported by berth yet",
        ),
        (vec!["--opt", "type=none", "--opt", &device], "o=bind"),
        (vec!["--opt", "type=tmpfs", "--opt", "o=size=1m,evil"], "invalid tmpfs option"),
    ] {
        let mut args = vec!["volume", "create"];
        args.extend_from_slice(&opts);
        args.push("refused");
        let r = d.docker(&args);
        assert!(r.code != 0 && r.stderr.contains(says), "{opts:?}: {r:?}");
    }
    assert!(d.docker(&["volume", "inspect", "refused"]).code != 0, "nothing was made");
    d.docker(&["volume", "rm", "bound", "tv", "bt"]).ok();
    assert_eq!(
        std::fs::read_to_string(host.join("seed")).unwrap(),
        "seed\n",
        "a bind volume's directory stays"
    );
}
