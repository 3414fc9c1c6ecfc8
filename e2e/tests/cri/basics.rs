//! The CRI front, driven as kubelet drives it: a CRI v1 client on the
//! daemon's socket.

use berth_e2e::cri::image_spec as spec;
use berth_e2e::Daemon;
use berth_proto::cri;
use tonic::Code;

#[tokio::test]
async fn version_status_and_runtime_config() {
    let d = Daemon::start_bare();
    let (mut rt, _) = d.cri().await;
    let v = rt.version(cri::VersionRequest { version: "v1".into() }).await.unwrap().into_inner();
    assert_eq!((v.runtime_name.as_str(), v.runtime_api_version.as_str()), ("berth", "v1"));
    let s = rt.status(cri::StatusRequest { verbose: true }).await.unwrap().into_inner();
    let conds = s.status.unwrap().conditions;
    let cond = |t: &str| conds.iter().find(|c| c.r#type == t).unwrap().clone();
    assert!(cond("RuntimeReady").status);
    // The test daemon has a CNI config (no config: see cri_network.rs).
    assert!(cond("NetworkReady").status);
    assert!(s.info["config"].contains("cgroupfs"));
    let c = rt.runtime_config(cri::RuntimeConfigRequest {}).await.unwrap().into_inner();
    assert_eq!(c.linux.unwrap().cgroup_driver, cri::CgroupDriver::Cgroupfs as i32);
    let update = |cidr: &str| cri::UpdateRuntimeConfigRequest {
        runtime_config: Some(cri::RuntimeConfig {
            network_config: Some(cri::NetworkConfig { pod_cidr: cidr.into() }),
        }),
    };
    rt.update_runtime_config(update("10.88.0.0/16")).await.unwrap();
    let bad = rt.update_runtime_config(update("not-a-cidr")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn image_service_over_the_engine_store() {
    let d = Daemon::start();
    let (_, mut img) = d.cri().await;
    let list =
        img.list_images(cri::ListImagesRequest { filter: None }).await.unwrap().into_inner().images;
    assert_eq!(list.len(), 1);
    let busybox = &list[0];
    assert_eq!(busybox.repo_tags, ["docker.io/library/busybox:latest"]);
    assert!(busybox.id.starts_with("sha256:") && busybox.size > 1_000_000);
    assert_eq!(busybox.uid.as_ref().map(|u| u.value), Some(0));

    // Found by short name, canonical name and id; absent is an empty answer.
    for name in ["busybox", "docker.io/library/busybox:latest", busybox.id.as_str()] {
        let s = img
            .image_status(cri::ImageStatusRequest { image: spec(name), verbose: true })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.image.unwrap().id, busybox.id, "{name}");
    }
    let none = img
        .image_status(cri::ImageStatusRequest { image: spec("nosuch:1"), verbose: false })
        .await
        .unwrap()
        .into_inner();
    assert!(none.image.is_none());
    let filtered = img
        .list_images(cri::ListImagesRequest {
            filter: Some(cri::ImageFilter { image: spec("nosuch") }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(filtered.images.is_empty());

    // Pulls are registry pulls (images_pull.rs); here only what fails before any traffic
    // leaves the host: no image, a bad reference, a registry on a closed loopback port.
    let e = img
        .pull_image(cri::PullImageRequest { image: spec(""), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = img
        .pull_image(cri::PullImageRequest { image: spec("Bad//Name"), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = img
        .pull_image(cri::PullImageRequest {
            image: spec(&format!("{closed}/app:1")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");

    let fs = img.image_fs_info(cri::ImageFsInfoRequest {}).await.unwrap().into_inner();
    let used = fs.image_filesystems[0].used_bytes.as_ref().unwrap().value;
    assert!(used >= busybox.size, "{used}");
    let inodes = fs.image_filesystems[0].inodes_used.as_ref().unwrap().value;
    assert!(inodes > 250, "{inodes} inodes: busybox and its applet links");

    // An image a container uses can't go; removal is idempotent.
    d.berth(&["create", "--name", "user", "busybox", "true"]).ok();
    let e = img.remove_image(cri::RemoveImageRequest { image: spec("busybox") }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    d.berth(&["rm", "user"]).ok();
    img.remove_image(cri::RemoveImageRequest { image: spec("busybox") }).await.unwrap();
    img.remove_image(cri::RemoveImageRequest { image: spec("busybox") }).await.unwrap();
    assert!(img
        .list_images(cri::ListImagesRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .images
        .is_empty());
}

#[tokio::test]
async fn unknown_ids_follow_the_cri_contract() {
    let d = Daemon::start_bare();
    let (mut rt, _) = d.cri().await;
    // Stop and remove are idempotent: unknown ids succeed.
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: "nope".into() })
        .await
        .unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: "nope".into() })
        .await
        .unwrap();
    rt.stop_container(cri::StopContainerRequest { container_id: "nope".into(), timeout: 1 })
        .await
        .unwrap();
    rt.remove_container(cri::RemoveContainerRequest { container_id: "nope".into() }).await.unwrap();
    // Status of an unknown id is NotFound.
    let e = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: "nope".into(),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = rt
        .container_status(cri::ContainerStatusRequest {
            container_id: "nope".into(),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(rt
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .items
        .is_empty());
    assert!(rt
        .list_containers(cri::ListContainersRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .containers
        .is_empty());
    let e = rt.create_container(cri::CreateContainerRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = rt
        .exec_sync(cri::ExecSyncRequest {
            container_id: "nope".into(),
            cmd: vec!["true".into()],
            timeout: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = rt
        .attach(cri::AttachRequest {
            container_id: "nope".into(),
            stdout: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // Not implemented yet is said plainly.
    let e = rt
        .checkpoint_container(cri::CheckpointContainerRequest {
            container_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert!(e.message().contains("CheckpointContainer"));
    // A sandbox request without its config is invalid.
    let e = rt.run_pod_sandbox(cri::RunPodSandboxRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}
