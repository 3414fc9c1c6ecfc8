//! A node for the engine's unit tests: shims whose tasks run until the
//! test ends them, a packet filter that only records, and a one-layer
//! image imported into a temp dir. Nothing runs as root or touches the
//! node; a test reopens the engine over the same dirs to see recovery.

use crate::error::{Error, Result};
use crate::network::filter::Recorded;
use crate::task::{TaskReader, TaskRuntime, TaskWriter};
use crate::{Engine, EngineConfig, Seams};
use berth_proto::shim::{Exit, StartReport};
use futures::future::BoxFuture;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Pids no process of the node has (above the kernel's usual `pid_max`).
static NEXT_PID: AtomicI32 = AtomicI32::new(5_000_000);

/// Shims that run nothing: a task runs from its launch until the test
/// ends it ([`FakeShims::exit`]) or a signal it dies of arrives.
#[derive(Default)]
pub(crate) struct FakeShims {
    tasks: Mutex<HashMap<String, watch::Sender<Option<Exit>>>>,
    /// What the next launches answer (then: a started task).
    pub(crate) plan: Mutex<VecDeque<Result<StartReport>>>,
    pub(crate) launches: Mutex<Vec<String>>,
    /// (container, signal) as sent.
    pub(crate) kills: Mutex<Vec<(String, i32)>>,
    /// Signals the tasks ignore (as a process with a handler would).
    pub(crate) ignored: Mutex<Vec<i32>>,
}

fn id_of(bundle: &Path) -> String {
    bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

impl FakeShims {
    /// Ends the container's task with `code`.
    pub(crate) fn exit(&self, id: &str, code: i32) {
        if let Some(t) = self.tasks.lock().unwrap().get(id) {
            let at = berth_proto::time::unix_nanos(std::time::SystemTime::now());
            t.send_replace(Some(Exit {
                exit_code: code,
                finished_unix_nanos: at,
                ..Default::default()
            }));
        }
    }

    pub(crate) fn launched(&self, id: &str) -> usize {
        self.launches.lock().unwrap().iter().filter(|l| *l == id).count()
    }

    pub(crate) fn signals(&self, id: &str) -> Vec<i32> {
        self.kills.lock().unwrap().iter().filter(|(c, _)| c == id).map(|(_, s)| *s).collect()
    }
}

impl TaskRuntime for FakeShims {
    fn launch<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, Result<StartReport>> {
        let id = id_of(bundle);
        self.launches.lock().unwrap().push(id.clone());
        let planned = self.plan.lock().unwrap().pop_front();
        Box::pin(async move {
            let report = match planned {
                Some(r) => r?,
                None => {
                    let shim_pid = NEXT_PID.fetch_add(2, Ordering::Relaxed);
                    StartReport {
                        shim_pid,
                        pid: shim_pid + 1,
                        error: None,
                        exit_code: 0,
                        started_unix_nanos: berth_proto::time::unix_nanos(
                            std::time::SystemTime::now(),
                        ),
                        protocol: berth_proto::shim::PROTOCOL,
                    }
                }
            };
            if report.error.is_none() {
                self.tasks.lock().unwrap().insert(id, watch::channel(None).0);
            }
            Ok(report)
        })
    }

    fn kill<'a>(
        &'a self,
        bundle: &'a Path,
        signal: i32,
        _all: bool,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        let id = id_of(bundle);
        self.kills.lock().unwrap().push((id.clone(), signal));
        if !self.ignored.lock().unwrap().contains(&signal) {
            self.exit(&id, 128 + signal);
        }
        Box::pin(async { Ok(()) })
    }

    fn wait<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, std::io::Result<Option<Exit>>> {
        let rx = self.tasks.lock().unwrap().get(&id_of(bundle)).map(|t| t.subscribe());
        Box::pin(async move {
            let Some(mut rx) = rx else { return Ok(None) };
            let exit = rx.wait_for(Option::is_some).await.map_err(std::io::Error::other)?;
            Ok(exit.clone())
        })
    }

    fn attach<'a>(
        &'a self,
        _bundle: &'a Path,
    ) -> BoxFuture<'a, std::io::Result<(TaskReader, TaskWriter)>> {
        Box::pin(async { Err(std::io::Error::other("no stdio in these tests")) })
    }

    fn resize<'a>(&'a self, _: &'a Path, _: u16, _: u16) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn reopen_log<'a>(&'a self, _bundle: &'a Path) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn version<'a>(&'a self, _bundle: &'a Path) -> BoxFuture<'a, std::io::Result<u32>> {
        Box::pin(async { Ok(berth_proto::shim::PROTOCOL) })
    }
}

/// Namespaces "pinned" as plain files in the state dir (no mounts).
#[derive(Default)]
pub(crate) struct FakePins {
    pub(crate) released: Mutex<Vec<PathBuf>>,
    pub(crate) fail: Mutex<bool>,
}

impl crate::sandbox::pins::NamespacePins for FakePins {
    fn pin<'a>(
        &'a self,
        r: crate::sandbox::pins::PinRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<i32>>> {
        Box::pin(async move {
            if *self.fail.lock().unwrap() {
                return Err(Error::Internal("pin pod namespaces: no".into()));
            }
            for k in r.kinds.iter().copied().chain(r.user.map(|_| "user")) {
                std::fs::write(r.dir.join(k), b"").unwrap();
            }
            let pid = r.kinds.contains(&"pid").then(|| NEXT_PID.fetch_add(2, Ordering::Relaxed));
            Ok(pid)
        })
    }
    fn release(&self, pins: &[PathBuf]) {
        for p in pins {
            if std::fs::remove_file(p).is_ok() {
                self.released.lock().unwrap().push(p.clone());
            }
        }
    }
    fn is_pinned(&self, pin: &Path) -> bool {
        pin.is_file()
    }
    fn kill_init(&self, _pid: i32, _pid_pin: &Path) {}
    fn find_init(&self, _pid_pin: &Path) -> Option<i32> {
        None
    }
}

/// CNI plugins that hand out addresses in 10.88.0.0/16 and record calls.
#[derive(Debug, Default)]
pub(crate) struct FakePlugins {
    /// (command, container id, network name).
    pub(crate) calls: Mutex<Vec<(String, String, String)>>,
    /// The ADD that fails (the plugin type).
    pub(crate) fail_add: Mutex<Option<String>>,
}

impl FakePlugins {
    pub(crate) fn count(&self, command: &str, id: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|(c, i, _)| c == command && i == id).count()
    }
}

impl berth_cni::Plugins for FakePlugins {
    fn call<'a>(
        &'a self,
        _cfg: &'a berth_cni::CniConfig,
        net: &'a berth_cni::NetworkList,
        plugin: &'a serde_json::Value,
        command: &'a str,
        a: Option<&'a berth_cni::Attachment>,
        _prev: Option<&'a serde_json::Value>,
    ) -> berth_cni::Call<'a> {
        let id = a.map(|a| a.id.clone()).unwrap_or_default();
        let name = net.raw["name"].as_str().unwrap_or_default().to_owned();
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((command.to_owned(), id, name));
            calls.len()
        };
        let typ = plugin["type"].as_str().unwrap_or_default().to_owned();
        let failing = self.fail_add.lock().unwrap().as_deref() == Some(typ.as_str());
        Box::pin(async move {
            match command {
                "ADD" if failing => Err(berth_cni::Error::Plugin { plugin: typ, msg: "no".into() }),
                "ADD" => Ok(Some(serde_json::json!({
                    "cniVersion": "1.0.0",
                    "interfaces": [{ "name": "eth0" }],
                    "ips": [{ "address": format!("10.88.{}.{}/16", n / 250, n % 250 + 2), "interface": 0 }],
                }))),
                _ => Ok(None),
            }
        })
    }
}

/// An engine over a temp dir, its fakes, and an image to run.
pub(crate) struct TestNode {
    pub(crate) engine: Engine,
    pub(crate) shims: Arc<FakeShims>,
    pub(crate) filter: Arc<Recorded>,
    pub(crate) pins: Arc<FakePins>,
    pub(crate) plugins: Arc<FakePlugins>,
    pub(crate) image: String,
    dir: Arc<tempfile::TempDir>,
}

fn config(dir: &Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir.join("root"), dir.join("state"), "/nonexistent/berth-shim");
    cfg.cgroup_parent = "berth-unit-test".into();
    cfg.start_timeout = Duration::from_secs(5);
    cfg.default_stop_timeout = Duration::from_millis(200);
    cfg.cni.conf_dir = dir.join("cni");
    cfg.cni.bin_dirs = vec![dir.join("cni-bin")];
    cfg.bridge.masquerade = false;
    cfg
}

impl TestNode {
    pub(crate) async fn new() -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut node = Self::open(dir).await;
        node.image = node.add_image();
        node
    }

    async fn open(dir: Arc<tempfile::TempDir>) -> Self {
        let shims = Arc::new(FakeShims::default());
        let filter = Arc::new(Recorded::default());
        let pins = Arc::new(FakePins::default());
        let plugins = Arc::new(FakePlugins::default());
        let seams = Seams {
            runtime: shims.clone(),
            filter: filter.clone(),
            pins: pins.clone(),
            plugins: plugins.clone(),
        };
        let cfg = config(dir.path());
        // The pods' network: one bridge plugin (the fake's).
        std::fs::create_dir_all(&cfg.cni.conf_dir).unwrap();
        let conf = r#"{"cniVersion": "1.0.0", "name": "pods", "plugins": [{"type": "bridge"}]}"#;
        std::fs::write(cfg.cni.conf_dir.join("10-pods.conflist"), conf).unwrap();
        let engine = Engine::open_with(cfg, seams).await.unwrap();
        Self { engine, shims, filter, pins, plugins, image: String::new(), dir }
    }

    /// A new engine (and new shims) over the same dirs: what berthd does
    /// after a restart. The old engine's tasks are left to themselves.
    pub(crate) async fn reopen(&self) -> Self {
        let mut node = Self::open(self.dir.clone()).await;
        node.image = self.image.clone();
        node
    }

    /// A one-layer image stored as a pull leaves one — its layer unpacked,
    /// its blobs and manifest in the content store — with no root needed
    /// (the layer is written as the test's user, nothing is chowned).
    fn add_image(&self) -> String {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(4);
        h.set_mode(0o755);
        h.set_cksum();
        tar.append_data(&mut h, "bin/true", &b"\x7fELF"[..]).unwrap();
        let blob = tar.into_inner().unwrap();
        let diff_id = berth_registry::digest::of(&blob);
        let hex = diff_id.trim_start_matches("sha256:");
        let layer = self.engine.paths().layer(hex).unwrap();
        std::fs::create_dir_all(layer.join("bin")).unwrap();
        std::fs::write(layer.join("bin/true"), b"\x7fELF").unwrap();
        let config_json = serde_json::to_string(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": { "Env": ["PATH=/bin"] },
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        }))
        .unwrap();
        let id = berth_registry::digest::of(config_json.as_bytes());
        let manifest = serde_json::to_string(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": berth_registry::manifest::OCI_MANIFEST,
            "config": { "mediaType": berth_registry::manifest::OCI_CONFIG, "digest": id, "size": config_json.len() },
            "layers": [{ "mediaType": berth_registry::manifest::OCI_LAYER_TAR, "digest": diff_id, "size": blob.len() }],
        }))
        .unwrap();
        let manifest_digest = berth_registry::digest::of(manifest.as_bytes());
        let paths = self.engine.paths();
        crate::image::content::put(paths, &diff_id, &blob).unwrap();
        crate::image::content::put(paths, &id, config_json.as_bytes()).unwrap();
        crate::image::content::put(paths, &manifest_digest, manifest.as_bytes()).unwrap();
        let rec = crate::model::ImageRecord {
            id,
            repo_tags: vec!["unit.test/rootfs:1".into()],
            repo_digests: Vec::new(),
            manifest: Some(manifest_digest.clone()),
            manifest_media_type: Some(berth_registry::manifest::OCI_MANIFEST.into()),
            blobs: vec![manifest_digest, diff_id.clone()],
            layers: vec![diff_id],
            config: crate::model::ImageConfig {
                env: Some(vec!["PATH=/bin".into()]),
                ..Default::default()
            },
            created_unix_nanos: 1,
            size: blob.len() as u64,
            config_json,
        };
        self.engine.images().add(rec).unwrap().id
    }

    pub(crate) fn bundle(&self, id: &str) -> PathBuf {
        self.engine.paths().bundle(id).unwrap()
    }

    /// Creates a container of the test image outside pods, with no network.
    pub(crate) async fn create(
        &self,
        name: &str,
        docker: crate::container::DockerOptions,
    ) -> String {
        let opts = crate::CreateOptions {
            name: Some(name.into()),
            image: self.image.clone(),
            cmd: vec!["/bin/true".into()],
            docker,
            ..Default::default()
        };
        self.engine.create(opts).await.unwrap()
    }

    /// The record once `done` holds of it (a restart happens in the background).
    pub(crate) async fn until(
        &self,
        id: &str,
        done: impl Fn(&crate::ContainerRecord) -> bool,
    ) -> crate::ContainerRecord {
        for _ in 0..200 {
            let rec = self.engine.inspect(id).unwrap();
            if done(&rec) {
                return rec;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never: {:?}", self.engine.inspect(id).unwrap().state);
    }
}

/// A pod as kubelet asks for one by default (a PID namespace per container).
pub(crate) fn pod(name: &str) -> crate::sandbox::SandboxOptions {
    let mut o = crate::sandbox::SandboxOptions {
        name: name.into(),
        namespace: "default".into(),
        uid: format!("uid-{name}"),
        hostname: name.into(),
        ..Default::default()
    };
    o.namespaces.pid = crate::model::NsMode::Container;
    o
}

/// A start the shim reports as failed (the command isn't there).
pub(crate) fn failed_start(code: i32, error: &str) -> Result<StartReport> {
    Ok(StartReport {
        shim_pid: 0,
        pid: 0,
        error: Some(error.into()),
        exit_code: code,
        started_unix_nanos: 0,
        protocol: berth_proto::shim::PROTOCOL,
    })
}

/// A shim that couldn't be run at all.
pub(crate) fn no_shim() -> Result<StartReport> {
    Err(Error::Internal("berth-shim: no such file".into()))
}
