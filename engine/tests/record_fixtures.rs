//! Records written by earlier berths load: one fixture per older format
//! (`fixtures/schema<N>/`, written by that berth), kept forever.

use berth_engine::model::Propagation;
use berth_engine::model::{NsMode, SandboxRecord};
use berth_engine::store::{self, Loaded, Record};
use berth_engine::ContainerRecord;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load<T: Record + std::fmt::Debug>(name: &str) -> T {
    match store::read::<T>(&fixture(name)) {
        Loaded::Record(r) => r,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn schema0_records_load_and_are_rewritten_with_the_schema() {
    let cli: ContainerRecord = load("schema0/container-cli.json");
    assert_eq!((cli.name.as_str(), cli.config.resources.memory_bytes), ("old-format", 64 << 20));
    assert_eq!(cli.state.status, berth_engine::Status::Exited);

    let pod: ContainerRecord = load("schema0/container-pod.json");
    let m = &pod.config.mounts[0];
    assert_eq!(
        (m.propagation, m.readonly, m.recursive_readonly),
        (Propagation::Slave, true, false)
    );
    assert!(pod.config.pod.is_some());

    let sandbox: SandboxRecord = load("schema0/sandbox.json");
    assert_eq!(
        (
            sandbox.config.name.as_str(),
            sandbox.config.namespaces.network,
            sandbox.config.namespaces.user
        ),
        ("old-pod", NsMode::Node, None)
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("container.json");
    store::commit(&p, &pod).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    assert_eq!(v["schema"], ContainerRecord::SCHEMA);
    assert!(matches!(store::read::<ContainerRecord>(&p), Loaded::Record(r) if r == pod));
}
