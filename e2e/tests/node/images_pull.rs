//! Images from a real registry (Debian's docker-registry on 127.0.0.1):
//! push and pull round trips through the CLI, CRI PullImage of crafted
//! images (gzip, zstd and plain layers; whiteouts and opaque dirs; hardlinks
//! across dirs; a multi-arch index), pulls by digest, concurrent pulls, and
//! the failures that must leave the store clean.

use berth_e2e::cri::{container, create, image_spec, out, pod_config, pull_image, run_pod, start};
use berth_e2e::registry::{
    busybox_layer, dir, entry, file, push_image, push_index, tar, Layer, Registry,
};
use berth_e2e::{dir_names, Daemon};
use berth_proto::cri;
use tonic::Code;

/// Nothing but whole, referenced content: no temp files, no layers or blobs.
fn assert_store_empty(d: &Daemon) {
    for sub in ["tmp", "layers", "blobs/sha256", "images"] {
        assert_eq!(dir_names(&d.root().join(sub)), Vec::<String>::new(), "{sub} is not empty");
    }
}

#[tokio::test]
async fn push_then_pull_round_trip_with_the_cli() {
    let reg = Registry::start();
    let d = Daemon::start();
    let name = format!("{}/team/busybox:v1", reg.addr);
    d.berth(&["tag", "busybox", &name]).ok();
    let pushed = d.berth(&["push", &name]).ok();
    assert!(
        pushed.stdout.contains(": Pushed") && pushed.stdout.contains("v1: digest: sha256:"),
        "{}",
        pushed.stdout
    );
    // A second repository on the same registry mounts the blobs instead of uploading them.
    let other = format!("{}/other/bb:v2", reg.addr);
    d.berth(&["tag", "busybox", &other]).ok();
    let mounted = d.berth(&["push", &other]).ok();
    assert!(mounted.stdout.contains("Mounted from team/busybox"), "{}", mounted.stdout);
    let digest =
        pushed.stdout.split("digest: ").nth(1).unwrap().split(' ').next().unwrap().to_owned();

    d.berth(&["rmi", "-f", "busybox", &name, &other]).ok();
    assert_store_empty(&d);
    let p = d.berth(&["pull", &name]).ok();
    assert!(
        p.stdout.contains("v1: Pulling from team/busybox") && p.stdout.contains("Pull complete"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.contains(&format!("Digest: {digest}"))
            && p.stdout.contains("Status: Downloaded newer image"),
        "{}",
        p.stdout
    );
    let again = d.berth(&["pull", &name]).ok();
    assert!(
        again.stdout.contains("Already exists") && again.stdout.contains("Image is up to date"),
        "{}",
        again.stdout
    );
    let r = d.berth(&["run", "--rm", &name, "echo", "pulled"]).ok();
    assert_eq!(r.stdout.trim(), "pulled");

    // By digest: the same image, no new tag.
    let by_digest = format!("{}/team/busybox@{digest}", reg.addr);
    d.berth(&["pull", &by_digest]).ok();
    let images = d.berth(&["images"]).ok().stdout;
    assert_eq!(images.lines().count(), 2, "{images}");
    d.berth(&["run", "--rm", &by_digest, "true"]).ok();

    // Errors: a missing tag, a bad reference, a platform the image lacks.
    let missing = d.berth(&["pull", &format!("{}/team/busybox:nope", reg.addr)]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("manifest unknown"), "{}", missing.stderr);
    let bad = d.berth(&["pull", "Bad//Ref"]);
    assert!(bad.stderr.contains("invalid reference format"), "{}", bad.stderr);
}

/// Layer 1 (gzip): dirs, files, a hardlink across dirs. Layer 2 (zstd):
/// a whiteout, an opaque dir. Layer 3 (plain tar): a new file.
fn layered() -> Vec<Layer> {
    let l1 = tar(|b| {
        dir(b, "data");
        file(b, "data/keep", b"keep\n");
        file(b, "data/gone", b"gone\n");
        dir(b, "opaque");
        file(b, "opaque/old", b"old\n");
        dir(b, "links");
        entry(b, tar::EntryType::Link, "links/hard", "data/keep", 0o644, b"");
    });
    let l2 = tar(|b| {
        entry(b, tar::EntryType::Regular, "data/.wh.gone", "", 0o644, b"");
        dir(b, "opaque");
        entry(b, tar::EntryType::Regular, "opaque/.wh..wh..opq", "", 0o644, b"");
        file(b, "opaque/new", b"new\n");
    });
    let l3 = tar(|b| file(b, "top", b"top\n"));
    vec![busybox_layer(), Layer::gzip(l1), Layer::zstd(l2), Layer::plain(l3)]
}

#[tokio::test]
async fn cri_pulls_layered_images_and_runs_them() {
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let pushed = push_image(
        &reg.addr,
        "layered",
        "v1",
        &layered(),
        "amd64",
        serde_json::json!({ "Env": ["PATH=/bin", "FROM_IMAGE=yes"], "Cmd": ["sh"] }),
    )
    .await;
    let (mut rt, mut images) = d.cri().await;
    let name = format!("{}/layered:v1", reg.addr);
    let id = pull_image(&mut images, &name, None).await.unwrap();
    assert_eq!(id, pushed.config_digest, "the image id is the config digest");

    let st = images
        .image_status(cri::ImageStatusRequest { image: image_spec(&name), verbose: false })
        .await
        .unwrap()
        .into_inner();
    let img = st.image.unwrap();
    assert_eq!(img.repo_tags, vec![name.clone()]);
    assert_eq!(img.repo_digests, vec![format!("{}/layered@{}", reg.addr, pushed.digest)]);
    // The repo digest names the image too.
    let by_digest = images
        .image_status(cri::ImageStatusRequest {
            image: image_spec(&img.repo_digests[0]),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_digest.image.unwrap().id, id);
    let list = images
        .list_images(cri::ListImagesRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .images;
    assert_eq!(list.len(), 1);

    let pod = run_pod(&mut rt, pod_config(&d, "layered")).await;
    let mut c = container("app", &["sleep", "1000"]);
    c.image = image_spec(&name);
    let cid = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &cid).await;
    let show = out(
        &mut rt,
        &cid,
        &[
            "sh",
            "-c",
            "ls /data; ls /opaque; cat /top /links/hard; echo $FROM_IMAGE; stat -c %h /data/keep",
        ],
    )
    .await;
    assert_eq!(
        show.trim_end(),
        "keep\nnew\ntop\nkeep\nyes\n2",
        "whiteouts, opaque dirs, hardlinks, env"
    );

    // ImageFsInfo counts the layers and blobs.
    let fs = images.image_fs_info(cri::ImageFsInfoRequest {}).await.unwrap().into_inner();
    assert!(fs.image_filesystems[0].used_bytes.as_ref().unwrap().value > 1_000_000);
}

#[tokio::test]
async fn multi_arch_index_picks_the_node_platform() {
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let mark = |arch: &str| Layer::gzip(tar(|b| file(b, "arch", arch.as_bytes())));
    let amd = push_image(
        &reg.addr,
        "multi",
        "amd64",
        &[busybox_layer(), mark("amd64")],
        "amd64",
        serde_json::json!({}),
    )
    .await;
    let arm = push_image(
        &reg.addr,
        "multi",
        "arm64",
        &[busybox_layer(), mark("arm64")],
        "arm64",
        serde_json::json!({}),
    )
    .await;
    let index = push_index(&reg.addr, "multi", "latest", &[(&arm, "arm64"), (&amd, "amd64")]).await;
    let name = format!("{}/multi", reg.addr);
    let p = d.berth(&["pull", &name]).ok();
    assert!(
        p.stdout.contains(&format!("Digest: {index}")),
        "Docker shows the index digest: {}",
        p.stdout
    );
    let r = d.berth(&["run", "--rm", &name, "cat", "/arch"]).ok();
    assert_eq!(r.stdout.trim(), "amd64");
    // Another platform on request.
    d.berth(&["pull", "--platform", "linux/arm64", &format!("{}/multi:latest", reg.addr)]).ok();
    let (_, mut images) = d.cri().await;
    let st = images
        .image_status(cri::ImageStatusRequest {
            image: image_spec(&format!("{name}:latest")),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.image.unwrap().id, arm.config_digest);
    let none = d.berth(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        none.stderr.contains("no image for linux/s390x") && none.stderr.contains("linux/amd64"),
        "{}",
        none.stderr
    );
    assert!(d.berth(&["pull", "--platform", "linux", &name]).stderr.contains("invalid platform"));
}

#[tokio::test]
async fn corrupted_blob_fails_the_pull_and_leaves_nothing() {
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let layers = vec![busybox_layer(), Layer::gzip(tar(|b| file(b, "x", &vec![7u8; 100_000])))];
    push_image(&reg.addr, "bad", "v1", &layers, "amd64", serde_json::json!({})).await;
    // Same size, other bytes: only the digest can tell.
    let blob = reg.blob_file(&layers[1].digest());
    let mut data = std::fs::read(&blob).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&blob, data).unwrap();
    let (_, mut images) = d.cri().await;
    let err = pull_image(&mut images, &format!("{}/bad:v1", reg.addr), None).await.unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{err:?}");
    assert!(
        err.message().contains("digest mismatch")
            || err.message().contains("corrupt")
            || err.message().contains("unpack"),
        "{}",
        err.message()
    );
    // The good layer may stay (whole, verified, reusable); nothing half-written, no image.
    assert!(dir_names(&d.root().join("tmp")).is_empty());
    assert!(dir_names(&d.root().join("images")).is_empty());
    assert!(
        !dir_names(&d.root().join("blobs/sha256")).contains(&layers[1].digest()[7..].to_owned())
    );
}

#[tokio::test]
async fn hostile_layers_are_refused_and_write_nothing_outside() {
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let canary = d.dir.join("escaped");
    let target = canary.display().to_string();
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", tar(|b| file(b, "../../../../../../../../../../escaped", b"x"))),
        ("absolute", tar(|b| file(b, &target, b"x"))),
        (
            "symlink-then-write",
            tar(|b| {
                entry(b, tar::EntryType::Symlink, "out", d.dir.to_str().unwrap(), 0o777, b"");
                file(b, "out/escaped", b"x");
            }),
        ),
        (
            "symlink-dotdot",
            tar(|b| {
                entry(b, tar::EntryType::Symlink, "up", "../../../../../../../../..", 0o777, b"");
                file(b, &format!("up{target}"), b"x");
            }),
        ),
        (
            "hardlink-outside",
            tar(|b| {
                entry(
                    b,
                    tar::EntryType::Link,
                    "passwd",
                    "../../../../../../../etc/passwd",
                    0o644,
                    b"",
                )
            }),
        ),
        (
            "hardlink-absolute",
            tar(|b| entry(b, tar::EntryType::Link, "passwd", "/etc/passwd", 0o644, b"")),
        ),
    ];
    let (_, mut images) = d.cri().await;
    for (name, layer) in hostile {
        push_image(
            &reg.addr,
            name,
            "v1",
            &[busybox_layer(), Layer::gzip(layer)],
            "amd64",
            serde_json::json!({}),
        )
        .await;
        let err =
            pull_image(&mut images, &format!("{}/{name}:v1", reg.addr), None).await.unwrap_err();
        assert_eq!(err.code(), Code::DataLoss, "{name}: {err:?}");
        assert!(
            err.message().contains("escapes the root") || err.message().contains("hardlink"),
            "{name}: {}",
            err.message()
        );
        assert!(!canary.exists(), "{name} wrote outside its layer");
        assert!(dir_names(&d.root().join("images")).is_empty(), "{name}");
        assert!(dir_names(&d.root().join("tmp")).is_empty(), "{name}");
    }
    // Image config is data: a hostile config can't point anywhere on the host.
    let evil_cfg = serde_json::json!({ "Volumes": { "/etc": {} }, "WorkingDir": "/../../../../etc", "Labels": { "io.kubernetes.pod.name": "x" } });
    push_image(&reg.addr, "cfg", "v1", &[busybox_layer()], "amd64", evil_cfg).await;
    pull_image(&mut images, &format!("{}/cfg:v1", reg.addr), None).await.unwrap();
    let r =
        d.berth(&["run", "--rm", &format!("{}/cfg:v1", reg.addr), "sh", "-c", "pwd; ls /etc"]).ok();
    assert!(
        r.stdout.starts_with("/etc\n"),
        "the working dir is resolved inside the rootfs: {}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("shadow") && !r.stdout.contains("hostname\nhosts\nhostname"),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn concurrent_pulls_share_the_work() {
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let big = Layer::gzip(tar(|b| {
        file(
            b,
            "big",
            &(0..8_000_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect::<Vec<_>>(),
        )
    }));
    push_image(&reg.addr, "shared", "v1", &[busybox_layer(), big], "amd64", serde_json::json!({}))
        .await;
    let name = format!("{}/shared:v1", reg.addr);
    let (_, images) = d.cri().await;
    let pulls = (0..4).map(|_| {
        let mut i = images.clone();
        let n = name.clone();
        tokio::spawn(async move { pull_image(&mut i, &n, None).await })
    });
    let ids: Vec<String> = futures_join(pulls).await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(dir_names(&d.root().join("layers")).len(), 2);
    assert_eq!(dir_names(&d.root().join("images")).len(), 1);
    assert!(dir_names(&d.root().join("tmp")).is_empty());
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<String, tonic::Status>>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn removing_images_keeps_shared_layers_and_collects_the_rest() {
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let a = Layer::gzip(tar(|b| file(b, "a", b"a")));
    let bl = Layer::gzip(tar(|b| file(b, "b", b"b")));
    push_image(&reg.addr, "a", "v1", &[busybox_layer(), a], "amd64", serde_json::json!({})).await;
    push_image(&reg.addr, "b", "v1", &[busybox_layer(), bl], "amd64", serde_json::json!({})).await;
    let (_, mut images) = d.cri().await;
    pull_image(&mut images, &format!("{}/a:v1", reg.addr), None).await.unwrap();
    pull_image(&mut images, &format!("{}/b:v1", reg.addr), None).await.unwrap();
    assert_eq!(dir_names(&d.root().join("layers")).len(), 3);
    images
        .remove_image(cri::RemoveImageRequest { image: image_spec(&format!("{}/a:v1", reg.addr)) })
        .await
        .unwrap();
    assert_eq!(dir_names(&d.root().join("layers")).len(), 2, "busybox's layer is still used by b");
    d.berth(&["run", "--rm", &format!("{}/b:v1", reg.addr), "cat", "/b"]).ok();
    images
        .remove_image(cri::RemoveImageRequest { image: image_spec(&format!("{}/b:v1", reg.addr)) })
        .await
        .unwrap();
    assert_store_empty(&d);
}

/// A 200 MB layer streams through berthd (its memory stays small) and
/// unpacks whole; a layer repeated in one image is fetched once and the
/// container still starts (overlay gets each dir once).
#[tokio::test(flavor = "multi_thread")]
async fn a_200_mb_layer_streams_and_repeated_layers_work() {
    use sha2::Digest;
    let reg = Registry::start();
    let d = Daemon::start_bare();
    let big = berth_e2e::registry::noise(200 << 20, 42);
    let want = hex::encode(sha2::Sha256::digest(&big));
    let layer = Layer::plain(tar(|b| file(b, "big.bin", &big)));
    drop(big);
    let again = Layer::gzip(tar(|b| file(b, "again", b"twice\n")));
    push_image(
        &reg.addr,
        "big",
        "v1",
        &[busybox_layer(), layer, again.clone(), again],
        "amd64",
        serde_json::json!({ "Cmd": ["sh"] }),
    )
    .await;
    let (mut rt, mut images) = d.cri().await;
    let name = format!("{}/big:v1", reg.addr);
    tokio::time::timeout(std::time::Duration::from_secs(300), pull_image(&mut images, &name, None))
        .await
        .expect("the pull finishes")
        .unwrap();

    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid().unwrap())).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("berthd VmHWM after the pull: {hwm_kb} kB");
    assert!(
        hwm_kb < 150 * 1024,
        "berthd peaked at {hwm_kb} kB: the layer was buffered, not streamed"
    );

    let pod = run_pod(&mut rt, pod_config(&d, "big")).await;
    let mut c = container("app", &["sleep", "1000"]);
    c.image = image_spec(&name);
    let cid = create(&mut rt, &pod, c).await.unwrap();
    start(&mut rt, &cid).await;
    let show =
        out(&mut rt, &cid, &["sh", "-c", "stat -c %s /big.bin; sha256sum /big.bin; cat /again"])
            .await;
    assert_eq!(show.trim_end(), format!("{}\n{want}  /big.bin\ntwice", 200u64 << 20));
}
