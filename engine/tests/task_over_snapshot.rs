//! A build step's shape with no container record (as root, with the
//! workspace's berth-shim): a task runs a command in a snapshot over a
//! layer, its exit code comes back, and its changes commit as a layer.

use berth_engine::image::ImageStore;
use berth_engine::paths::Paths;
use berth_engine::snapshot::Snapshots;
use berth_engine::task::{ShimRuntime, TaskSpec, Tasks};
use berth_proto::shim::ShimConfig;
use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, MountBuilder, ProcessBuilder,
    RootBuilder, SpecBuilder, UserBuilder,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn shim_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth-shim")
}

/// A stored layer holding Debian's static busybox as /bin/sh.
fn busybox_layer(paths: &Paths) -> String {
    let hex = "b5".repeat(32);
    let dir = paths.layer(&hex).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
    format!("sha256:{hex}")
}

fn spec(cmd: &str, cgroup: &str) -> oci_spec::runtime::Spec {
    let ns = |t| LinuxNamespaceBuilder::default().typ(t).build().unwrap();
    let process = ProcessBuilder::default()
        .args(vec!["/bin/sh".to_string(), "-c".into(), cmd.into()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .user(UserBuilder::default().uid(0u32).gid(0u32).build().unwrap())
        .build()
        .unwrap();
    let linux = LinuxBuilder::default()
        .namespaces(
            [
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Cgroup,
            ]
            .map(ns)
            .to_vec(),
        )
        .cgroups_path(PathBuf::from(cgroup))
        .build()
        .unwrap();
    let proc_mount =
        MountBuilder::default().destination("/proc").typ("proc").source("proc").build().unwrap();
    SpecBuilder::default()
        .process(process)
        .root(RootBuilder::default().path("rootfs").readonly(false).build().unwrap())
        .hostname("step")
        .mounts(vec![proc_mount])
        .linux(linux)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_task_runs_in_a_snapshot_with_no_container_and_its_changes_commit() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::Builder::new().prefix("berth-test-task-").tempdir().unwrap();
    let paths = Paths::new(dir.path().join("root"), dir.path().join("state"));
    let images = ImageStore::open(&paths, &Default::default()).unwrap();
    let snapshots = Snapshots::open(&paths, images.leases().clone()).unwrap();
    let tasks = Tasks::new(Arc::new(ShimRuntime::new(shim_path())), Duration::from_secs(10));
    let snap = snapshots.prepare(&[busybox_layer(&paths)]).unwrap();

    let bundle = dir.path().join("bundle");
    let cgroup = format!("/berth-test-task-{}", hex::encode(rand::random::<[u8; 6]>()));
    let shim = ShimConfig {
        id: "step-1".into(),
        lower_dirs: snap.layout().lower,
        upper_dir: snap.layout().upper,
        work_dir: snap.layout().work,
        rootfs: bundle.join("rootfs"),
        log_path: dir.path().join("step.log"),
        user: None,
        etc_files: vec![],
        groups_strict: false,
        stdin: false,
        stdin_once: false,
        tty: false,
        image_volumes: vec![],
        hold_output: false,
        init: false,
    };
    let cmd = "echo built > /out; read h < /proc/sys/kernel/hostname; echo $h says hi; exit 3";
    let task = TaskSpec { bundle: bundle.clone(), spec: spec(cmd, &cgroup), shim };
    tasks.prepare(&bundle).unwrap();
    let started = tasks.start(&task).await.unwrap();
    assert!(started.pid > 0 && started.shim_pid > 0);
    let exit = tokio::time::timeout(Duration::from_secs(20), tasks.wait(&bundle))
        .await
        .expect("the task ends")
        .unwrap()
        .expect("an exit from the shim");
    assert_eq!(exit.exit_code, 3);
    tasks.delete(&bundle).unwrap();
    let log = std::fs::read_to_string(dir.path().join("step.log")).unwrap();
    assert!(log.lines().any(|l| l.ends_with(" stdout F step says hi")), "{log}");
    // The shim took its cgroup along.
    assert!(!Path::new("/sys/fs/cgroup/memory").join(&cgroup[1..]).exists());

    // Its changes, and nothing of the layer beneath, as a new layer.
    let layer = snapshots.commit(&snap.layout(), &["/proc"]).await.unwrap();
    let ldir = paths.layer(layer.diff_id.trim_start_matches("sha256:")).unwrap();
    assert_eq!(std::fs::read_to_string(ldir.join("out")).unwrap(), "built\n");
    assert!(!ldir.join("bin").exists(), "{:?}", std::fs::read_dir(&ldir).unwrap().count());
    images.release(layer.lease);
    images.release(snapshots.remove(snap).unwrap());
}
