//! What a container is given, read from the spec its start hands the
//! (fake) shim: the process, its capabilities and seccomp, the rootfs and
//! mounts, limits, namespaces — Docker's defaults and what options change.

use super::{DockerOptions, NetworkMode};
use crate::model::{BindMount, Seccomp, Security, TmpfsMount, VolumeRequest};
use crate::testing::TestNode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Creates and starts a container; the spec its shim got.
async fn spec_of(n: &TestNode, opts: crate::CreateOptions) -> Spec {
    let opts = crate::CreateOptions {
        image: n.image.clone(),
        cmd: if opts.cmd.is_empty() { vec!["/bin/true".into()] } else { opts.cmd.clone() },
        ..opts
    };
    let id = n.engine.create(opts).await.unwrap();
    n.engine.start(&id).await.unwrap();
    let path = n.bundle(&id).join(berth_proto::shim::CONFIG_FILE);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn caps(spec: &Spec) -> Vec<String> {
    let caps = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
    let mut out: Vec<String> =
        caps.bounding().as_ref().unwrap().iter().map(|c| c.to_string()).collect();
    out.sort();
    out
}

fn namespaces(spec: &Spec) -> Vec<LinuxNamespaceType> {
    let ns = spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
    ns.iter().map(|n| n.typ()).collect()
}

fn mount<'a>(spec: &'a Spec, at: &str) -> Option<&'a oci_spec::runtime::Mount> {
    spec.mounts().as_ref()?.iter().find(|m| m.destination().to_str() == Some(at))
}

#[tokio::test]
async fn the_process_is_the_image_s_command_with_its_env_and_the_request_s_over_it() {
    let n = TestNode::new().await;
    let opts = crate::CreateOptions {
        cmd: vec!["/bin/true".into(), "-x".into()],
        env: vec!["A=1".into(), "PATH=/usr/bin".into()],
        working_dir: Some("/srv".into()),
        user: Some("1000:1000".into()),
        ..Default::default()
    };
    let spec = spec_of(&n, opts).await;
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.args().as_ref().unwrap(), &["/bin/true", "-x"]);
    let env = p.env().as_ref().unwrap();
    assert!(
        env.contains(&"A=1".to_owned()) && env.contains(&"PATH=/usr/bin".to_owned()),
        "{env:?}"
    );
    assert!(!env.contains(&"PATH=/bin".to_owned()), "the request's PATH wins: {env:?}");
    assert_eq!(p.cwd().to_str(), Some("/srv"));
    assert!(!p.terminal().unwrap_or(false));
}

#[tokio::test]
async fn docker_s_capabilities_and_seccomp_profile_unless_privileged() {
    let n = TestNode::new().await;
    // As the Docker front asks (the CRI's default is unconfined, as kubelet's).
    let docker = Security { seccomp: Seccomp::RuntimeDefault, ..Default::default() };
    let cri = spec_of(&n, crate::CreateOptions::default()).await;
    assert!(cri.linux().as_ref().unwrap().seccomp().is_none());
    let spec = spec_of(&n, crate::CreateOptions { security: docker, ..Default::default() }).await;
    let defaults = caps(&spec);
    // Docker's 14 (oci-spec names them without the CAP_ prefix).
    let docker_s = [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    assert_eq!(defaults, docker_s);
    assert!(spec.linux().as_ref().unwrap().seccomp().is_some(), "the default profile");
    let mut security = Security {
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["CHOWN".into()],
        seccomp: Seccomp::RuntimeDefault,
        ..Default::default()
    };
    let spec =
        spec_of(&n, crate::CreateOptions { security: security.clone(), ..Default::default() })
            .await;
    let changed = caps(&spec);
    assert!(changed.contains(&"NET_ADMIN".to_owned()) && !changed.contains(&"CHOWN".to_owned()));
    security =
        Security { privileged: true, seccomp: Seccomp::RuntimeDefault, ..Default::default() };
    let spec = spec_of(&n, crate::CreateOptions { security, ..Default::default() }).await;
    assert!(caps(&spec).contains(&"SYS_ADMIN".to_owned()));
    assert!(spec.linux().as_ref().unwrap().seccomp().is_none(), "privileged: unconfined");
}

#[tokio::test]
async fn docker_s_paths_are_masked_and_read_only_and_the_rootfs_can_be_too() {
    let n = TestNode::new().await;
    let spec = spec_of(&n, crate::CreateOptions::default()).await;
    let linux = spec.linux().as_ref().unwrap();
    let masked = linux.masked_paths().as_ref().unwrap();
    assert!(masked.contains(&"/proc/kcore".to_owned()), "{masked:?}");
    let ro = linux.readonly_paths().as_ref().unwrap();
    assert!(ro.contains(&"/proc/sys".to_owned()), "{ro:?}");
    assert!(!spec.root().as_ref().unwrap().readonly().unwrap_or(false));
    let spec = spec_of(&n, crate::CreateOptions { read_only: true, ..Default::default() }).await;
    assert!(spec.root().as_ref().unwrap().readonly().unwrap_or(false));
}

#[tokio::test]
async fn binds_volumes_and_tmpfs_are_mounted_where_asked() {
    let n = TestNode::new().await;
    let host = tempfile::tempdir().unwrap();
    let bind = BindMount {
        host_path: host.path().to_owned(),
        container_path: "/host".into(),
        readonly: true,
        ..Default::default()
    };
    let docker = DockerOptions {
        volumes: vec![VolumeRequest {
            name: Some("data".into()),
            container_path: "/data".into(),
            readonly: false,
            copy_up: false,
        }],
        tmpfs: vec![TmpfsMount {
            container_path: "/run/x".into(),
            options: vec!["size=1m".into()],
        }],
        ..Default::default()
    };
    let opts = crate::CreateOptions { mounts: vec![bind], docker, ..Default::default() };
    let spec = spec_of(&n, opts).await;
    let host_m = mount(&spec, "/host").expect("the bind");
    assert_eq!(host_m.source().as_deref(), Some(host.path()));
    assert!(host_m.options().as_ref().unwrap().contains(&"ro".to_owned()));
    let data = mount(&spec, "/data").expect("the volume");
    assert_eq!(data.source().as_deref(), Some(n.engine.volume_data("data").unwrap().as_path()));
    let t = mount(&spec, "/run/x").expect("the tmpfs");
    assert_eq!(t.typ().as_deref(), Some("tmpfs"));
    assert!(t.options().as_ref().unwrap().contains(&"size=1m".to_owned()));
}

#[tokio::test]
async fn namespaces_follow_the_network_mode() {
    let n = TestNode::new().await;
    let own = spec_of(&n, crate::CreateOptions::default()).await;
    for t in [LinuxNamespaceType::Network, LinuxNamespaceType::Pid, LinuxNamespaceType::Mount] {
        assert!(namespaces(&own).contains(&t), "{t:?}");
    }
    let docker = DockerOptions { network: NetworkMode::Host, ..Default::default() };
    let host = spec_of(&n, crate::CreateOptions { docker, ..Default::default() }).await;
    assert!(!namespaces(&host).contains(&LinuxNamespaceType::Network), "the node's network");
    // As dockerd: its own UTS namespace still (with the node's hostname).
    assert!(namespaces(&host).contains(&LinuxNamespaceType::Uts));
}

#[tokio::test]
async fn limits_reach_the_spec_as_asked() {
    let n = TestNode::new().await;
    let resources = crate::model::Resources {
        memory_bytes: 64 << 20,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        pids_limit: 100,
        ..Default::default()
    };
    let opts = crate::CreateOptions {
        resources,
        ulimits: vec!["nofile=256:512".into()],
        ..Default::default()
    };
    let spec = spec_of(&n, opts).await;
    let r = spec.linux().as_ref().unwrap().resources().as_ref().unwrap();
    assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
    assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
    assert_eq!(r.pids().as_ref().unwrap().limit(), 100);
    let rl = spec.process().as_ref().unwrap().rlimits().as_ref().unwrap();
    let nofile = rl.iter().find(|l| format!("{:?}", l.typ()).contains("Nofile")).unwrap();
    assert_eq!((nofile.soft(), nofile.hard()), (256, 512));
}
