//! The tasks part with a fake runtime: what a start writes, what it
//! answers for each shim report, and what it leaves behind when it fails.

use super::*;
use std::sync::Mutex;

/// Answers each launch with the next planned report (or error, or
/// silence), and records what it saw of the bundle.
#[derive(Default)]
struct FakeRuntime {
    plan: Mutex<Vec<Plan>>,
    seen: Mutex<Vec<(serde_json::Value, serde_json::Value)>>,
    killed: Mutex<Vec<(PathBuf, i32, bool)>>,
    resized: Mutex<Vec<(u16, u16)>>,
    /// The shim's side of the last attachment.
    attached: Mutex<Option<tokio::io::DuplexStream>>,
}

enum Plan {
    Report(StartReport),
    Fail(Error),
    Hang,
}

impl TaskRuntime for FakeRuntime {
    fn launch<'a>(&'a self, bundle: &'a Path) -> BoxFuture<'a, Result<StartReport>> {
        let read =
            |f: &str| serde_json::from_slice(&std::fs::read(bundle.join(f)).unwrap()).unwrap();
        self.seen.lock().unwrap().push((read(CONFIG_FILE), read(SHIM_FILE)));
        let next = self.plan.lock().unwrap().remove(0);
        Box::pin(async move {
            match next {
                Plan::Report(r) => Ok(r),
                Plan::Fail(e) => Err(e),
                Plan::Hang => futures::future::pending().await,
            }
        })
    }

    fn kill<'a>(
        &'a self,
        bundle: &'a Path,
        signal: i32,
        all: bool,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        self.killed.lock().unwrap().push((bundle.to_owned(), signal, all));
        Box::pin(async { Ok(()) })
    }

    fn wait<'a>(&'a self, _bundle: &'a Path) -> BoxFuture<'a, std::io::Result<Option<Exit>>> {
        Box::pin(async { Ok(Some(Exit { exit_code: 3, ..Default::default() })) })
    }

    fn attach<'a>(
        &'a self,
        _bundle: &'a Path,
    ) -> BoxFuture<'a, std::io::Result<(TaskReader, TaskWriter)>> {
        let (ours, shims) = tokio::io::duplex(1024);
        *self.attached.lock().unwrap() = Some(shims);
        let (r, w) = tokio::io::split(ours);
        Box::pin(async move { Ok((Box::new(r) as TaskReader, Box::new(w) as TaskWriter)) })
    }

    fn resize<'a>(
        &'a self,
        _bundle: &'a Path,
        cols: u16,
        rows: u16,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        self.resized.lock().unwrap().push((cols, rows));
        Box::pin(async { Ok(()) })
    }

    fn reopen_log<'a>(&'a self, _bundle: &'a Path) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async { Err(std::io::Error::other("shim gone")) })
    }

    fn version<'a>(&'a self, _bundle: &'a Path) -> BoxFuture<'a, std::io::Result<u32>> {
        Box::pin(async { Ok(2) })
    }
}

fn tasks(plan: Vec<Plan>) -> (Tasks, Arc<FakeRuntime>) {
    let fake = Arc::new(FakeRuntime { plan: Mutex::new(plan), ..Default::default() });
    (Tasks::new(fake.clone(), Duration::from_millis(200)), fake)
}

fn task(dir: &Path) -> TaskSpec {
    let bundle = dir.join("bundle");
    let mut spec = Spec::default();
    spec.set_hostname(Some("step-1".into()));
    let shim = ShimConfig {
        id: "t1".into(),
        lower_dirs: vec![dir.join("layer")],
        upper_dir: dir.join("upper"),
        work_dir: dir.join("work"),
        rootfs: bundle.join("rootfs"),
        log_path: dir.join("log"),
        user: Some("1000".into()),
        etc_files: vec![],
        groups_strict: false,
        stdin: false,
        stdin_once: false,
        tty: false,
        image_volumes: vec![],
        hold_output: true,
        init: false,
    };
    TaskSpec { bundle, spec, shim }
}

fn report(pid: i32) -> StartReport {
    StartReport {
        shim_pid: pid - 1,
        pid,
        error: None,
        exit_code: 0,
        started_unix_nanos: 42,
        protocol: 0,
    }
}

#[tokio::test]
async fn a_start_writes_the_spec_and_shim_config_then_runs_the_shim() {
    let dir = tempfile::tempdir().unwrap();
    let (tasks, fake) = tasks(vec![Plan::Report(report(100))]);
    let t = task(dir.path());
    tasks.prepare(&t.bundle).unwrap();
    std::fs::write(t.bundle.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    let started = tasks.start(&t).await.unwrap();
    assert_eq!(started, Started { pid: 100, shim_pid: 99, protocol: 1, started_unix_nanos: 42 });
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen[0].0["hostname"], "step-1");
    assert_eq!(seen[0].1["user"], "1000");
    assert!(seen[0].1["hold_output"].as_bool().unwrap());
    // The caller's files stay, and the root's mount point is made.
    assert!(t.bundle.join("hosts").exists() && t.bundle.join("rootfs").is_dir());
}

#[tokio::test]
async fn prepare_gives_a_fresh_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (tasks, _) = tasks(vec![]);
    let t = task(dir.path());
    tasks.prepare(&t.bundle).unwrap();
    std::fs::write(t.bundle.join("exit.json"), "{}").unwrap();
    tasks.prepare(&t.bundle).unwrap();
    assert_eq!(std::fs::read_dir(&t.bundle).unwrap().count(), 0);
}

#[tokio::test]
async fn a_process_that_could_not_run_is_start_failed_with_its_code_and_leaves_no_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let failed = StartReport {
        error: Some("exec: \"nope\": not found".into()),
        exit_code: 127,
        ..report(0)
    };
    let (tasks, _) = tasks(vec![Plan::Report(failed)]);
    let t = task(dir.path());
    tasks.prepare(&t.bundle).unwrap();
    match tasks.start(&t).await {
        Err(Error::StartFailed { message, exit_code: 127 }) => {
            assert!(message.contains("not found"))
        }
        other => panic!("{other:?}"),
    }
    assert!(!t.bundle.exists());
}

#[tokio::test]
async fn a_shim_that_fails_or_never_reports_leaves_no_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (tasks, _) =
        tasks(vec![Plan::Fail(Error::Internal("unreadable shim report".into())), Plan::Hang]);
    let t = task(dir.path());
    tasks.prepare(&t.bundle).unwrap();
    assert!(matches!(tasks.start(&t).await, Err(Error::Internal(_))));
    assert!(!t.bundle.exists());
    tasks.prepare(&t.bundle).unwrap();
    assert!(matches!(tasks.start(&t).await, Err(Error::DeadlineExceeded(_))));
    assert!(!t.bundle.exists());
}

#[tokio::test]
async fn signals_and_waits_go_to_the_tasks_shim() {
    let dir = tempfile::tempdir().unwrap();
    let (tasks, fake) = tasks(vec![]);
    let bundle = dir.path().join("bundle");
    tasks.kill(&bundle, libc::SIGTERM, false).await.unwrap();
    assert_eq!(fake.killed.lock().unwrap()[0], (bundle.clone(), libc::SIGTERM, false));
    assert_eq!(tasks.wait(&bundle).await.unwrap().unwrap().exit_code, 3);
}

#[tokio::test]
async fn an_attachment_carries_the_tasks_stdio_both_ways() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (tasks, fake) = tasks(vec![]);
    let bundle = dir.path().join("bundle");
    let (mut out, mut input) = tasks.attach(&bundle).await.unwrap();
    let mut shim = fake.attached.lock().unwrap().take().unwrap();
    shim.write_all(b"output").await.unwrap();
    let mut got = [0u8; 6];
    out.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"output");
    input.write_all(b"input").await.unwrap();
    let mut got = [0u8; 5];
    shim.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"input");
    tasks.resize(&bundle, 120, 30).await.unwrap();
    assert_eq!(fake.resized.lock().unwrap()[0], (120, 30));
    assert_eq!(tasks.version(&bundle).await.unwrap(), 2);
    assert!(tasks.reopen_log(&bundle).await.is_err());
}
