//! Image volumes (KEP-4639): an image's filesystem mounted read-only into
//! a container, whole or a sub path, from the same store; refused cleanly
//! when the image is missing; a symlink in the image never reaches the host.

use berth_e2e::cri::{
    container, create, exec, out, pod_config, pull_image, run_pod, start, status,
};
use berth_e2e::registry::{busybox_layer, dir, entry, file, push_image, tar, Layer, Registry};
use berth_e2e::Daemon;
use berth_proto::cri;
use tonic::Code;

fn volume(image: &str, at: &str, sub: &str) -> cri::Mount {
    cri::Mount {
        container_path: at.into(),
        image: Some(cri::ImageSpec { image: image.into(), ..Default::default() }),
        image_sub_path: sub.into(),
        readonly: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn image_volumes_whole_and_sub_path() {
    let reg = Registry::start();
    let d = Daemon::start();
    // Two layers: the second overrides a file and deletes one.
    let l1 = tar(|b| {
        dir(b, "data");
        file(b, "data/hello", b"one\n");
        file(b, "data/gone", b"x\n");
        entry(b, tar::EntryType::Symlink, "data/escape", "/etc", 0o777, b"");
        file(b, "single", b"a file\n");
    });
    let l2 = tar(|b| {
        dir(b, "data");
        file(b, "data/hello", b"two\n");
        entry(b, tar::EntryType::Regular, "data/.wh.gone", "", 0o644, b"");
    });
    push_image(
        &reg.addr,
        "content",
        "v1",
        &[Layer::plain(l1), Layer::plain(l2)],
        "amd64",
        serde_json::json!({}),
    )
    .await;
    push_image(&reg.addr, "one-layer", "v1", &[busybox_layer()], "amd64", serde_json::json!({}))
        .await;
    let (mut rt, mut images) = d.cri().await;
    let content = format!("{}/content:v1", reg.addr);
    let one = format!("{}/one-layer:v1", reg.addr);
    let pod = run_pod(&mut rt, pod_config(&d, "imgvol")).await;

    // Not pulled yet: NotFound, nothing created.
    let mut c = container("main", &["sleep", "1000"]);
    c.mounts = vec![
        volume(&content, "/img", ""),
        volume(&content, "/sub", "data"),
        volume(&one, "/bb", "bin"),
    ];
    assert_eq!(create(&mut rt, &pod, c.clone()).await.unwrap_err().code(), Code::NotFound);
    pull_image(&mut images, &content, None).await.unwrap();
    pull_image(&mut images, &one, None).await.unwrap();

    let id = create(&mut rt, &pod, c.clone()).await.unwrap();
    start(&mut rt, &id).await;
    assert_eq!(
        out(&mut rt, &id, &["cat", "/img/data/hello", "/sub/hello", "/img/single"]).await,
        "two\ntwo\na file"
    );
    assert_eq!(
        out(&mut rt, &id, &["ls", "/sub"]).await.split_whitespace().collect::<Vec<_>>(),
        ["escape", "hello"],
        "the whiteout hides the deleted file"
    );
    assert!(out(&mut rt, &id, &["ls", "/bb"]).await.contains("busybox"), "a single-layer image");
    for path in ["/img/new", "/sub/new", "/bb/new"] {
        assert_ne!(exec(&mut rt, &id, &["touch", path]).await.exit_code, 0, "{path} is read-only");
    }
    let st = status(&mut rt, &id).await;
    assert!(st.mounts.iter().any(|m| m.image.as_ref().is_some_and(|i| i.image == content)
        && m.image_sub_path == "data"
        && m.readonly));

    // In use: the image can't be removed.
    let e = images
        .remove_image(cri::RemoveImageRequest {
            image: Some(cri::ImageSpec { image: one.clone(), ..Default::default() }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // A sub path that isn't in the image, or that climbs out: refused at create.
    for (i, sub) in ["nope", "../etc", "/etc"].into_iter().enumerate() {
        let mut bad = container(&format!("bad{i}"), &["true"]);
        bad.mounts = vec![volume(&content, "/x", sub)];
        assert_eq!(
            create(&mut rt, &pod, bad).await.unwrap_err().code(),
            Code::InvalidArgument,
            "{sub}"
        );
    }
    // A symlink to /etc resolves inside the image, which has no /etc: the
    // start fails, the host's /etc is never mounted.
    let mut esc = container("escape", &["sleep", "1000"]);
    esc.mounts = vec![volume(&content, "/x", "data/escape")];
    let esc = create(&mut rt, &pod, esc).await.unwrap();
    let e = rt.start_container(cri::StartContainerRequest { container_id: esc }).await.unwrap_err();
    assert!(e.message().contains("image sub path"), "{e:?}");
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}
