//! Image archives and the image housekeeping verbs: `save` → `load` round
//! trips (read back by skopeo, and skopeo's own archives loaded), legacy
//! Docker archives, hostile archives, `history`, `image inspect`,
//! `images --digests` and `image prune`.

use berth_e2e::registry::{busybox_layer, entry, file, tar, Layer};
use berth_e2e::{dir_names, Daemon};
use std::path::Path;
use std::process::Command;

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .expect("skopeo (deploy/common.sh installs it)");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn entries(archive: &Path) -> Vec<String> {
    let mut a = ::tar::Archive::new(std::fs::File::open(archive).unwrap());
    a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
}

#[test]
fn save_and_load_round_trip_also_through_skopeo() {
    let d = Daemon::start();
    d.berth(&["tag", "busybox", "team/bb:v1"]).ok();
    let id = d.inspect_image("busybox")["Id"].as_str().unwrap().to_owned();
    let archive = d.dir.join("images.tar");
    let a = archive.to_str().unwrap();
    d.berth(&["save", "-o", a, "busybox", "team/bb:v1"]).ok();

    // Docker's manifest.json and an OCI layout, over the same blobs.
    let listed = entries(&archive);
    for want in ["manifest.json", "index.json", "oci-layout", &format!("blobs/sha256/{}", &id[7..])]
    {
        assert!(listed.iter().any(|e| e == want), "{want} missing from {listed:?}");
    }
    // skopeo reads it both ways, and writes archives of its own.
    let seen: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{a}:team/bb:v1"),
    ]))
    .unwrap();
    assert_eq!(seen["config"]["Cmd"], serde_json::json!(["sh"]));
    skopeo(&["inspect", &format!("oci-archive:{a}:v1")]);
    let by_skopeo = d.dir.join("skopeo-docker.tar");
    let by_skopeo_oci = d.dir.join("skopeo-oci.tar");
    skopeo(&[
        "copy",
        &format!("docker-archive:{a}:busybox:latest"),
        &format!("docker-archive:{}:sk/bb:3", by_skopeo.display()),
    ]);
    skopeo(&[
        "copy",
        &format!("docker-archive:{a}:busybox:latest"),
        &format!("oci-archive:{}:sk/oci:4", by_skopeo_oci.display()),
    ]);

    d.berth(&["rmi", "-f", "busybox", "team/bb:v1"]).ok();
    assert!(dir_names(&d.root().join("images")).is_empty());
    let loaded = d.berth(&["load", "-i", a]).ok();
    assert!(
        loaded.stdout.contains("Loaded image: busybox:latest")
            && loaded.stdout.contains("Loaded image: team/bb:v1"),
        "{}",
        loaded.stdout
    );
    assert_eq!(d.inspect_image("team/bb:v1")["Id"], id, "the same image comes back");
    assert_eq!(
        d.berth(&["run", "--rm", "team/bb:v1", "echo", "loaded"]).ok().stdout.trim(),
        "loaded"
    );
    // Saved again, it is the same archive content (the manifest was kept).
    let again = d.dir.join("again.tar");
    d.berth(&["save", "-o", again.to_str().unwrap(), "busybox"]).ok();
    assert!(entries(&again).iter().all(|e| listed.contains(e)));

    let from_stdin = d.berth_stdin(&["load"], &std::fs::read(&by_skopeo).unwrap()).ok();
    assert!(from_stdin.stdout.contains("Loaded image: sk/bb:3"), "{}", from_stdin.stdout);
    let oci = d.berth(&["load", "-q", "-i", by_skopeo_oci.to_str().unwrap()]).ok();
    assert!(oci.stdout.is_empty(), "{}", oci.stdout);
    assert_eq!(d.berth(&["run", "--rm", "sk/oci:4", "echo", "oci"]).ok().stdout.trim(), "oci");
    assert!(dir_names(&d.root().join("tmp")).is_empty(), "the spool is gone");

    // save refuses a terminal and unknown images, and leaves no file behind.
    let missing = d.dir.join("missing.tar");
    let r = d.berth(&["save", "-o", missing.to_str().unwrap(), "nope:1"]);
    assert!(r.code != 0 && r.stderr.contains("No such image"), "{}", r.stderr);
    assert!(!missing.exists());
}

#[test]
fn history_inspect_and_digests() {
    let d = Daemon::start();
    let h = d.berth(&["history", "busybox"]).ok().stdout;
    let lines: Vec<&str> = h.lines().collect();
    assert!(lines[0].starts_with("IMAGE") && lines[0].contains("CREATED BY"), "{h}");
    assert!(lines[1].contains("berth import") && !lines[1].starts_with("<missing>"), "{h}");
    let id = d.berth(&["image", "inspect", "--format", "{{.Id}}", "busybox"]).ok().stdout;
    assert!(id.trim().starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(d.berth(&["history", "-q", "--no-trunc", "busybox"]).ok().stdout.trim(), id.trim());
    // `inspect` falls back to images, Docker's way.
    let cmd = d.berth(&["inspect", "-f", "{{json .Config.Cmd}} {{.Os}}", "busybox"]).ok().stdout;
    assert_eq!(cmd.trim(), r#"["sh"] linux"#);
    let bad = d.berth(&["image", "inspect", "--format", "{{index .Id 1}}", "busybox"]);
    assert!(bad.code != 0 && bad.stderr.contains("template"), "{}", bad.stderr);
    let none = d.berth(&["image", "inspect", "nope"]);
    assert!(none.code != 0 && none.stderr.contains("No such image"), "{}", none.stderr);
    let digests = d.berth(&["images", "--digests"]).ok().stdout;
    assert!(digests.lines().next().unwrap().contains("DIGEST"), "{digests}");
}

#[test]
fn prune_removes_dangling_then_unused_images() {
    let d = Daemon::start();
    d.import_busybox("other", &[r#"CMD ["echo", "1"]"#]);
    // Re-importing the name leaves the first `other` dangling.
    d.import_busybox("other", &[r#"CMD ["echo", "2"]"#]);
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout.lines().count(), 3);
    let refused = d.berth(&["image", "prune"]);
    assert!(refused.code != 0 && refused.stderr.contains("--force"), "{}", refused.stderr);
    let p = d.berth(&["image", "prune", "-f"]).ok().stdout;
    assert!(p.contains("deleted: sha256:") && p.contains("Total reclaimed space:"), "{p}");
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout.lines().count(), 2);
    d.berth(&["create", "--name", "keeper", "busybox"]).ok();
    let all = d.berth(&["image", "prune", "-a", "-f"]).ok().stdout;
    assert!(all.contains("untagged: other:latest"), "{all}");
    let left = d.berth(&["images"]).ok().stdout;
    assert!(left.contains("busybox") && !left.contains("other"), "{left}");
    // The shared layer stays for the image still in use.
    d.berth(&["start", "keeper"]).ok();
    d.berth(&["rm", "-f", "keeper"]).ok();
}

/// A legacy (pre-25) Docker archive, gzip-compressed: `<id>/layer.tar`
/// files, one a symlink to another (the same layer twice), the config as
/// `<hex>.json`.
#[test]
fn loads_legacy_docker_archives() {
    let d = Daemon::start_bare();
    let layer = busybox_layer();
    let extra = Layer::plain(tar(|b| file(b, "etc/motd", b"legacy\n")));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
        "config": { "Cmd": ["cat", "/etc/motd"] },
        "rootfs": { "type": "layers", "diff_ids": [layer.diff_id, extra.diff_id, extra.diff_id] },
        "history": [{ "created_by": "ADD busybox" }, { "created_by": "ADD motd" }, { "created_by": "ADD motd again" }],
    })
    .to_string();
    let chex = &berth_registry::digest::of(config.as_bytes())[7..];
    let manifest =
        serde_json::json!([{ "Config": format!("{chex}.json"), "RepoTags": ["legacy/app:1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"] }]).to_string();
    let archive = tar(|b| {
        file(b, "aaa/layer.tar", &layer.blob);
        file(b, "bbb/layer.tar", &extra.blob);
        entry(b, ::tar::EntryType::Symlink, "ccc/layer.tar", "../bbb/layer.tar", 0o777, b"");
        file(b, &format!("{chex}.json"), config.as_bytes());
        file(b, "manifest.json", manifest.as_bytes());
    });
    let gz = Layer::gzip(archive).blob;
    let out = d.berth_stdin(&["load"], &gz).ok();
    assert!(out.stdout.contains("Loaded image: legacy/app:1"), "{}", out.stdout);
    assert_eq!(d.berth(&["run", "--rm", "legacy/app:1"]).ok().stdout, "legacy\n");
    let h = d.berth(&["history", "legacy/app:1"]).ok().stdout;
    assert_eq!(h.lines().count(), 4, "{h}");
    // What berth made of it can be pushed and saved like anything else.
    let back = d.dir.join("back.tar");
    d.berth(&["save", "-o", back.to_str().unwrap(), "legacy/app:1"]).ok();
    skopeo(&["inspect", &format!("docker-archive:{}", back.display())]);
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    let d = Daemon::start_bare();
    let layer = busybox_layer();
    let config = |n: usize| {
        serde_json::json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": vec![layer.diff_id.clone(); n] } }).to_string()
    };
    let docker = |cfg_name: &str, layers: &[&str]| {
        serde_json::json!([{ "Config": cfg_name, "RepoTags": ["evil:1"], "Layers": layers }])
            .to_string()
    };
    let cfg1 = config(1);
    let c1 = berth_registry::digest::of(cfg1.as_bytes());
    let cfg_path = format!("blobs/sha256/{}", &c1[7..]);
    let lpath = format!("blobs/sha256/{}", &layer.digest()[7..]);
    let hostile_layer = Layer::plain(tar(|b| file(b, "../../escaped", b"x")));
    let hcfg = serde_json::json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [hostile_layer.diff_id] } }).to_string();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("an entry climbing out", tar(|b| file(b, "../escape", b"x")), "escapes the archive"),
        (
            "a manifest naming a host path",
            tar(|b| file(b, "manifest.json", docker("../../etc/passwd", &[]).as_bytes())),
            "escapes the archive",
        ),
        (
            "a symlink to a host file",
            tar(|b| {
                entry(b, ::tar::EntryType::Symlink, "cfg.json", "/etc/passwd", 0o777, b"");
                file(b, "manifest.json", docker("cfg.json", &[]).as_bytes());
            }),
            "has no file",
        ),
        (
            "a blob that is not what its name says",
            tar(|b| {
                file(b, &cfg_path, b"{}");
                file(b, "manifest.json", docker(&cfg_path, &[]).as_bytes());
            }),
            "does not match its digest",
        ),
        (
            "a config listing other layers",
            tar(|b| {
                file(b, "c.json", config(2).as_bytes());
                file(b, &lpath, &layer.blob);
                file(b, "manifest.json", docker("c.json", &[&lpath]).as_bytes());
            }),
            "image config lists 2 layers",
        ),
        (
            "a layer writing outside its root",
            tar(|b| {
                file(b, "h.json", hcfg.as_bytes());
                file(b, "l.tar", &hostile_layer.blob);
                file(b, "manifest.json", docker("h.json", &["l.tar"]).as_bytes());
            }),
            "escapes the root",
        ),
        ("no image at all", tar(|b| file(b, "README", b"hello")), "not an image archive"),
        ("not a tar", berth_e2e::registry::noise(4096, 7), "reading the archive"),
    ];
    for (what, data, want) in cases {
        let r = d.berth_stdin(&["load"], &data);
        assert!(r.code != 0, "{what}: loaded");
        assert!(r.stderr.contains(want), "{what}: {}", r.stderr);
        for sub in ["tmp", "images", "layers"] {
            assert!(dir_names(&d.root().join(sub)).is_empty(), "{what}: {sub} not empty");
        }
        assert!(
            !d.root().join("escaped").exists()
                && !d.root().parent().unwrap().join("escaped").exists(),
            "{what}"
        );
    }
}
