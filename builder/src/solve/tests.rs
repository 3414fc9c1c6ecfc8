//! The solver with a fake worker (no root, no engine): which stages and
//! steps run, what the cache reuses and what a change reruns, ARG and ENV
//! scoping, independent stages at once, failures and the build's network.

use super::Builder;
use crate::cache::Cache;
use crate::worker::{Base, CopyStep, Made, RunStep, Worker};
use crate::{BuildError, BuildRequest, Event, Result};
use berth_engine::image::assemble::{NewImage, NewLayer};
use berth_engine::image::ImageConfig;
use berth_engine::snapshot::lease::LeaseTable;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

fn paths(step: &CopyStep) -> Vec<&str> {
    step.sources.iter().map(|s| s.path.as_str()).collect()
}
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    images: Mutex<Vec<NewImage>>,
    bridges: Mutex<(usize, usize)>,
    /// RUN steps whose command has `together` wait here for each other.
    barrier: Option<tokio::sync::Barrier>,
}

fn digest(s: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(s.as_bytes())))
}

fn made(what: &str) -> Option<Made> {
    let layer = NewLayer {
        diff_id: digest(what),
        blob_digest: digest(&format!("blob {what}")),
        blob_size: 10,
        compression: None,
    };
    Some(Made { layer, lease: None })
}

impl Worker for Fake {
    fn image<'a>(
        &'a self,
        name: &'a str,
        _pull: bool,
        _c: &'a berth_registry::Credentials,
    ) -> BoxFuture<'a, Result<Base>> {
        self.calls.lock().unwrap().push(format!("image {name}"));
        let config = ImageConfig {
            cmd: Some(vec!["sh".into()]),
            env: Some(vec!["PATH=/bin".into()]),
            ..Default::default()
        };
        Box::pin(async move {
            Ok(Base {
                id: digest(name),
                layers: vec![digest(&format!("layer {name}"))],
                config,
                created: 7,
            })
        })
    }

    fn run<'a>(
        &'a self,
        parents: &'a [String],
        step: RunStep,
        events: UnboundedSender<Event>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        let cmd = step.args.last().cloned().unwrap_or_default();
        self.calls.lock().unwrap().push(format!(
            "run {cmd} env={} user={} cwd={} net={:?}",
            step.env.join(","),
            step.user,
            step.working_dir,
            step.network
        ));
        Box::pin(async move {
            let number = step.number;
            let _ =
                events.send(Event::Output { number, text: format!("ran {cmd}"), stderr: false });
            if cmd.contains("together") {
                let b = self.barrier.as_ref().unwrap();
                tokio::time::timeout(std::time::Duration::from_secs(5), b.wait())
                    .await
                    .expect("the stages ran at once");
            }
            if cmd.contains("slow") {
                tokio::select! {
                    _ = cancel.cancelled() => return Err(BuildError::Cancelled),
                    _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
                }
            }
            if cmd.contains("fail") {
                return Err(BuildError::StepFailed { command: cmd, code: 2, step: number });
            }
            Ok(made(&format!("{parents:?} {cmd} {:?}", step.env)))
        })
    }

    fn copy<'a>(
        &'a self,
        parents: &'a [String],
        step: CopyStep,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        self.calls.lock().unwrap().push(format!("copy {:?} {}", paths(&step), step.dest.path));
        Box::pin(
            async move { Ok(made(&format!("{parents:?} {:?} {}", paths(&step), step.dest.path))) },
        )
    }

    fn mkdir<'a>(
        &'a self,
        parents: &'a [String],
        path: String,
    ) -> BoxFuture<'a, Result<Option<Made>>> {
        self.calls.lock().unwrap().push(format!("mkdir {path}"));
        Box::pin(async move { Ok(made(&format!("{parents:?} mkdir {path}"))) })
    }

    fn assemble(&self, base: Option<&str>, image: NewImage) -> Result<String> {
        let config = serde_json::to_string(&image.config).unwrap();
        let history: Vec<_> = image
            .history
            .iter()
            .map(|h| (h.created, h.created_by.clone(), h.empty_layer))
            .collect();
        let layers: Vec<_> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        let id = digest(&format!("{base:?} {config} {history:?} {layers:?} {:?}", image.created));
        self.images.lock().unwrap().push(image);
        Ok(id)
    }

    fn stored(&self, _layer: &NewLayer) -> bool {
        true
    }

    fn release(&self, lease: berth_engine::snapshot::lease::Lease) -> u64 {
        lease.digests().len() as u64
    }

    fn in_image(&self, diff_id: &str) -> bool {
        self.images.lock().unwrap().iter().any(|i| i.layers.iter().any(|l| l.diff_id == diff_id))
    }

    fn has_image(&self, name: &str) -> bool {
        name != "nosuchtag"
    }

    fn bridge<'a>(
        &'a self,
        _name: &'a str,
        _network: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String>> {
        self.bridges.lock().unwrap().0 += 1;
        Box::pin(async { Ok("bridge-1".to_string()) })
    }

    fn remove_bridge<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<()>> {
        self.bridges.lock().unwrap().1 += 1;
        Box::pin(async { Ok(()) })
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    fake: Arc<Fake>,
    builder: Builder,
}

fn rig(fake: Fake) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().join("cache"), &Arc::new(LeaseTable::default())).unwrap();
    let fake = Arc::new(fake);
    let kept = crate::kept::KeptContexts::open(dir.path().join("kept")).unwrap();
    let builder = Builder::with_worker(fake.clone(), cache, dir.path().join("work"), kept);
    Rig { _dir: dir, fake, builder }
}

impl Rig {
    async fn build(&self, req: BuildRequest) -> (Result<crate::Built>, Vec<Event>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let r = self.builder.build(&req, &tx, &CancellationToken::new()).await;
        drop(tx);
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        (r, events)
    }

    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.fake.calls.lock().unwrap())
    }

    fn last_image(&self) -> NewImage {
        self.fake.images.lock().unwrap().last().cloned().unwrap()
    }
}

fn req(dockerfile: &str) -> BuildRequest {
    BuildRequest { dockerfile: dockerfile.into(), tags: vec!["app:1".into()], ..Default::default() }
}

fn with_args(dockerfile: &str, args: &[(&str, &str)]) -> BuildRequest {
    let mut r = req(dockerfile);
    r.build_args = args.iter().map(|(k, v)| (k.to_string(), Some(v.to_string()))).collect();
    r
}

const MULTI: &str = "ARG BASE=alpine\nFROM $BASE AS deps\nRUN deps\nFROM busybox AS unused\nRUN never\nFROM deps AS build\nARG V\nRUN build $V\nFROM busybox\nCOPY --from=build /out /out\nCMD [\"/out\"]\n";

#[tokio::test]
async fn only_the_stages_the_target_needs_run_and_the_image_is_the_target_s() {
    let r = rig(Fake::default());
    let (built, events) = r.build(with_args(MULTI, &[("V", "1")])).await;
    let built = built.unwrap();
    assert_eq!(built.tags, ["app:1"]);
    let calls = r.calls();
    assert!(
        calls.contains(&"image alpine".to_string()) && calls.contains(&"image busybox".to_string()),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| c.starts_with("run build $V env=PATH=/bin,V=1")), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("never")), "the unused stage: {calls:?}");
    let img = r.last_image();
    assert_eq!(img.config.cmd, Some(vec!["/out".to_string()]));
    assert_eq!(img.layers.len(), 1, "the final stage's COPY only");
    // Steps are numbered over the stages built: 3 stages, 8 steps.
    let steps: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step { number, total, .. } => Some((*number, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 8);
    assert!(steps.iter().all(|(_, t)| *t == 8));

    // --target picks a stage.
    let mut t = with_args(MULTI, &[("V", "1")]);
    t.target = Some("unused".into());
    r.build(t).await.0.unwrap();
    assert!(r.calls().iter().any(|c| c.starts_with("run never")));
    let mut t = req(MULTI);
    t.target = Some("nope".into());
    let e = r.build(t).await.0.unwrap_err();
    assert!(e.to_string().contains("failed to reach build target nope"), "{e}");
}

#[tokio::test]
async fn an_unchanged_build_is_all_cached_and_makes_the_same_image() {
    let r = rig(Fake::default());
    let df = "FROM busybox\nWORKDIR /app\nCOPY --from=alpine /a /a\nARG V=1\nRUN one $V\nENV E=x\nRUN two\n";
    let first = r.build(req(df)).await.0.unwrap();
    assert_eq!(r.calls().len(), 6, "2 images, mkdir, copy, 2 runs");
    let bridges = *r.fake.bridges.lock().unwrap();
    let (again, events) = r.build(req(df)).await;
    assert_eq!(
        *r.fake.bridges.lock().unwrap(),
        bridges,
        "no namespace for a build that runs nothing"
    );
    assert_eq!(again.unwrap().id, first.id, "same config, history and times");
    assert_eq!(
        events.iter().filter(|e| matches!(e, Event::Cached { .. })).count(),
        5,
        "ENV counts too, as dockerd's"
    );
    assert!(r.calls().iter().all(|c| c.starts_with("image")), "only the bases are looked up");

    // A build arg a RUN sees reruns it and what follows, not what is before.
    let (_, events) = r.build(with_args(df, &[("V", "2")])).await;
    let calls = r.calls();
    assert!(calls.iter().any(|c| c.starts_with("run one $V env=PATH=/bin,V=2")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("run two")), "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("mkdir") || c.starts_with("copy")), "{calls:?}");
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Cached { .. })).count(), 2);

    // A --cache-from of which no image is here reuses nothing; one that is, the cache.
    let mut f = req(df);
    f.cache_from = vec!["nosuchtag".into()];
    let (_, events) = r.build(f.clone()).await;
    assert!(!events.iter().any(|e| matches!(e, Event::Cached { .. })));
    r.calls();
    f.cache_from = vec!["app:1".into()];
    let (_, events) = r.build(f).await;
    assert!(events.iter().any(|e| matches!(e, Event::Cached { .. })));
    r.calls();

    // --no-cache runs everything again.
    let mut n = req(df);
    n.no_cache = true;
    r.build(n).await.0.unwrap();
    assert_eq!(r.calls().len(), 6);
}

#[tokio::test]
async fn args_env_and_the_command_forms_as_docker_has_them() {
    let r = rig(Fake::default());
    let df = "ARG G=global\nFROM busybox\nARG G\nARG L=local-$G\nENV L=from-env\nUSER $G\nWORKDIR rel\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo\nENTRYPOINT [\"/e\"]\nEXPOSE 80 53/udp\n";
    let (built, events) = r.build(with_args(df, &[("UNUSED", "x")])).await;
    built.unwrap();
    let calls = r.calls();
    let run = calls.iter().find(|c| c.starts_with("run echo")).unwrap();
    // ENV wins over the ARG of the same name; an ARG without a default takes the global one.
    assert!(run.contains("env=PATH=/bin,L=from-env,G=global"), "{run}");
    assert!(run.contains("user=global") && run.contains("cwd=/rel"), "{run}");
    let img = r.last_image();
    assert_eq!(img.config.cmd, None, "an ENTRYPOINT resets the base's CMD");
    assert_eq!(img.config.entrypoint, Some(vec!["/e".to_string()]));
    let ports: Vec<_> = img.config.exposed_ports.unwrap().into_keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp"]);
    assert!(img
        .history
        .iter()
        .any(|h| h.created_by == "RUN |1 G=global /bin/bash -c echo # buildkit" && !h.empty_layer));
    assert!(img.history.iter().any(|h| h.created_by == "USER global" && h.empty_layer));
    assert!(events.contains(&Event::Warning(
        "[Warning] One or more build-args [UNUSED] were not consumed".into()
    )));
}

#[tokio::test]
async fn independent_stages_run_at_once() {
    let r = rig(Fake { barrier: Some(tokio::sync::Barrier::new(2)), ..Default::default() });
    let df = "FROM busybox AS a\nRUN together-a\nFROM busybox AS b\nRUN together-b\nFROM busybox\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n";
    r.build(req(df)).await.0.unwrap();
    let copies = r.calls().iter().filter(|c| c.starts_with("copy")).count();
    assert_eq!(copies, 2);
}

#[tokio::test]
async fn a_failed_step_stops_the_build_and_its_siblings_and_the_network_goes() {
    let r = rig(Fake::default());
    let df = "FROM busybox AS a\nRUN slow\nFROM busybox AS b\nRUN fail\nFROM busybox\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n";
    let started = std::time::Instant::now();
    let e = r.build(req(df)).await.0.unwrap_err();
    assert!(
        matches!(e, BuildError::StepFailed { code: 2, .. }),
        "the failure, not the sibling's cancellation: {e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the slow sibling was stopped");
    assert_eq!(*r.fake.bridges.lock().unwrap(), (1, 1), "one network for the build, removed");

    // A build whose steps want no network makes none.
    r.build(req("FROM busybox\nRUN --network=none x\nRUN --network=host y\n")).await.0.unwrap();
    assert_eq!(*r.fake.bridges.lock().unwrap(), (1, 1));
    let calls = r.calls();
    assert!(
        calls.iter().any(|c| c.ends_with("net=None"))
            && calls.iter().any(|c| c.ends_with("net=Host")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn source_date_epoch_sets_every_time() {
    let r = rig(Fake::default());
    r.build(with_args("FROM busybox\nRUN a\nENV X=1\n", &[("SOURCE_DATE_EPOCH", "100")]))
        .await
        .0
        .unwrap();
    let img = r.last_image();
    assert_eq!(img.created, berth_proto::time::from_unix_nanos(100_000_000_000));
    assert!(img.history.iter().all(|h| h.created == Some(100_000_000_000)), "{:?}", img.history);
}

#[tokio::test]
async fn onbuild_triggers_run_in_the_child_build_and_shell_is_kept() {
    let r = rig(Fake::default());
    let parent =
        "FROM busybox\nSHELL [\"/bin/bash\", \"-c\"]\nONBUILD RUN from-trigger\nONBUILD ENV T=1\n";
    r.build(req(parent)).await.0.unwrap();
    let img = r.last_image();
    assert_eq!(img.config.on_build, Some(vec!["RUN from-trigger".into(), "ENV T=1".into()]));
    assert_eq!(img.config.shell, Some(vec!["/bin/bash".into(), "-c".into()]));
    r.calls();
}
