//! Helpers for the CRI tests: a pod and a container as the tests use them,
//! and short forms of the calls they make over and over.

use crate::{CriRuntime, Daemon};
use berth_proto::cri;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// A pod on the test's network, in its own cgroup under the test's parent,
/// with one PID namespace per container.
pub fn pod_config(d: &Daemon, name: &str) -> cri::PodSandboxConfig {
    pod(
        name,
        &format!("uid-{name}"),
        &d.dir.join("logs").join(name),
        &format!("/{}/pod-{name}", d.cgroup_parent),
    )
}

/// A pod as kubelet asks for one by default (hostname `<name>-host`, one
/// PID namespace per container), in `cgroup_parent`, logging to `log_dir`.
pub fn pod(
    name: &str,
    uid: &str,
    log_dir: &std::path::Path,
    cgroup_parent: &str,
) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: uid.into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: format!("{name}-host"),
        log_directory: log_dir.display().to_string(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    pid: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub async fn run_pod(rt: &mut CriRuntime, config: cri::PodSandboxConfig) -> String {
    rt.run_pod_sandbox(cri::RunPodSandboxRequest {
        config: Some(config),
        runtime_handler: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .pod_sandbox_id
}

pub fn container(name: &str, cmd: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(cri::ImageSpec { image: "busybox".into(), ..Default::default() }),
        command: cmd.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        envs: vec![cri::KeyValue { key: "FOO".into(), value: "bar".into() }],
        labels: [("app".to_string(), name.to_string())].into(),
        annotations: [("note".to_string(), "x".to_string())].into(),
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                seccomp: Some(cri::SecurityProfile {
                    profile_type: cri::security_profile::ProfileType::Unconfined as i32,
                    localhost_ref: String::new(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An Exec request with stdout (and stderr unless `tty`) as kubelet asks for it.
pub fn exec_request(id: &str, cmd: &[&str], stdin: bool, tty: bool) -> cri::ExecRequest {
    cri::ExecRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        tty,
        stdin,
        stdout: true,
        stderr: !tty,
    }
}

/// A web server on the pod's loopback only (port 8080): reachable through port-forward alone.
pub fn loopback_web() -> cri::ContainerConfig {
    container("web", &["sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"])
}

pub async fn create(
    rt: &mut CriRuntime,
    pod: &str,
    config: cri::ContainerConfig,
) -> Result<String, tonic::Status> {
    rt.create_container(cri::CreateContainerRequest {
        pod_sandbox_id: pod.into(),
        config: Some(config),
        sandbox_config: None,
    })
    .await
    .map(|r| r.into_inner().container_id)
}

pub async fn start(rt: &mut CriRuntime, id: &str) {
    let st = rt
        .container_status(cri::ContainerStatusRequest { container_id: id.into(), verbose: false })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    if let Err(e) = rt.start_container(cri::StartContainerRequest { container_id: id.into() }).await
    {
        panic!("start {:?}: {e}", st.metadata.unwrap().name);
    }
}

pub async fn status(rt: &mut CriRuntime, id: &str) -> cri::ContainerStatus {
    rt.container_status(cri::ContainerStatusRequest { container_id: id.into(), verbose: true })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap()
}

pub async fn exec(rt: &mut CriRuntime, id: &str, cmd: &[&str]) -> cri::ExecSyncResponse {
    rt.exec_sync(cri::ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout: 10,
    })
    .await
    .unwrap()
    .into_inner()
}

pub async fn out(rt: &mut CriRuntime, id: &str, cmd: &[&str]) -> String {
    let r = exec(rt, id, cmd).await;
    assert_eq!(r.exit_code, 0, "{cmd:?}: {}", String::from_utf8_lossy(&r.stderr));
    String::from_utf8_lossy(&r.stdout).trim().to_owned()
}

pub async fn wait_state(
    rt: &mut CriRuntime,
    id: &str,
    state: cri::ContainerState,
) -> cri::ContainerStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(rt, id).await;
        if s.state == state as i32 || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn ino(path: impl AsRef<std::path::Path>) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// An image spec naming `image`.
pub fn image_spec(image: &str) -> Option<cri::ImageSpec> {
    Some(cri::ImageSpec { image: image.into(), ..Default::default() })
}

/// CRI PullImage with optional credentials; the image ref on success.
pub async fn pull_image(
    images: &mut crate::CriImages,
    image: &str,
    auth: Option<cri::AuthConfig>,
) -> Result<String, tonic::Status> {
    images
        .pull_image(cri::PullImageRequest { image: image_spec(image), auth, sandbox_config: None })
        .await
        .map(|r| r.into_inner().image_ref)
}
