//! The solver: the stages the target needs, in order, each step from the
//! cache or run, then the image assembled. Stages run one after another
//! (parallel stages are not done yet).

use crate::cache::Cache;
use crate::transfer::{self, Dest};
use crate::{BuildError, BuildRequest, Built, Event, Result};
use berth_dockerfile::instruction::{Command, Health, Instruction, Located, Transfer};
use berth_dockerfile::{shell, Dockerfile, Stage};
use berth_engine::image::assemble::{NewHistory, NewImage, NewLayer};
use berth_engine::image::{ImageConfig, ImageRecord};
use berth_engine::snapshot::Layout;
use berth_engine::task::step::{StepNetwork, StepRequest};
use berth_engine::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Paths berth's shim makes in every step's root as mount points.
const MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// The builder: the engine it drives and its cache.
pub struct Builder {
    engine: Engine,
    cache: Cache,
    work: PathBuf,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("work", &self.work).finish()
    }
}

/// A stage as built so far.
#[derive(Debug, Clone)]
struct State {
    base: Option<ImageRecord>,
    diff_ids: Vec<String>,
    layers: Vec<NewLayer>,
    history: Vec<NewHistory>,
    config: ImageConfig,
    key: String,
    /// ARGs in scope: name → value (`None`: declared, unset).
    args: BTreeMap<String, Option<String>>,
    shell: Vec<String>,
    /// CMD came from the base (an ENTRYPOINT resets it).
    inherited_cmd: bool,
}

impl State {
    fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        let env = self.config.env.iter().flatten().rev().find_map(|e| e.strip_prefix(&prefix));
        env.map(str::to_owned).or_else(|| self.args.get(name).cloned().flatten())
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let env = self.config.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.split_once('=').map(|(n, _)| n) != Some(k));
        env.push(format!("{k}={v}"));
    }

    fn workdir(&self) -> String {
        self.config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into())
    }

    /// A path as the stage sees it: relative ones from its WORKDIR.
    fn absolute(&self, p: &str) -> String {
        if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("{}/{p}", self.workdir().trim_end_matches('/'))
        }
    }

    fn chain(&mut self, parts: &[&str]) {
        let mut h = Sha256::new();
        h.update(self.key.as_bytes());
        for p in parts {
            h.update(b"\0");
            h.update(p.as_bytes());
        }
        self.key = hex::encode(h.finalize());
    }

    fn history(&mut self, created_by: String, empty_layer: bool) {
        self.history.push(NewHistory { created_by, comment: String::new(), empty_layer });
    }

    fn argv(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }
}

/// What one build shares across its stages.
struct Job<'a> {
    req: &'a BuildRequest,
    df: &'a Dockerfile,
    events: &'a UnboundedSender<Event>,
    cancel: &'a CancellationToken,
    global: BTreeMap<String, Option<String>>,
    done: HashMap<usize, State>,
    used_args: BTreeSet<String>,
    step: usize,
    total: usize,
    /// The build's sandbox on the default bridge, made at its first RUN that wants it.
    bridge: std::sync::Mutex<Option<String>>,
}

impl Job<'_> {
    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn expand(&self, st: &State, s: &str) -> Result<String> {
        shell::word(s, &|n| st.lookup(n), self.df.escape).map_err(|e| BuildError::Invalid(e.0))
    }

    fn expand_words(&self, st: &State, s: &str) -> Result<Vec<String>> {
        shell::words(s, &|n| st.lookup(n), self.df.escape).map_err(|e| BuildError::Invalid(e.0))
    }

    /// A FROM's base, global ARGs expanded.
    fn base_name(&self, stage: &Stage) -> Result<String> {
        let g = &self.global;
        shell::word(&stage.base, &|n| g.get(n).cloned().flatten(), self.df.escape)
            .map_err(|e| BuildError::Invalid(e.0))
    }

    /// A stage named by `name`, if it is one before `before`.
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.df.stage(name).map(|s| s.index).filter(|i| *i < before)
    }

    /// The stages `target` needs, in order.
    fn needed(&self, target: usize) -> Result<Vec<usize>> {
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !need.insert(i) {
                continue;
            }
            let stage = &self.df.stages[i];
            if let Some(j) = self.stage_named(&self.base_name(stage)?, i) {
                todo.push(j);
            }
            for s in &stage.steps {
                if let Instruction::Copy(Transfer { from: Some(f), .. }) = &s.instruction {
                    if let Some(j) = self.stage_named(f, i) {
                        todo.push(j);
                    }
                }
            }
        }
        Ok(need.into_iter().collect())
    }
}

impl Builder {
    pub fn open(engine: Engine) -> std::io::Result<Self> {
        let cache = Cache::open(engine.paths(), engine.images().leases())?;
        let work = engine.paths().root.join("builder/work");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)?;
        Ok(Self { engine, cache, work })
    }

    /// Where contexts are extracted.
    pub fn contexts_dir(&self) -> PathBuf {
        self.work.join("contexts")
    }

    /// Builds the request's target stage; its image, tagged.
    pub async fn build(
        &self,
        req: &BuildRequest,
        events: &UnboundedSender<Event>,
        cancel: &CancellationToken,
    ) -> Result<Built> {
        if let Some(p) = req.platform.as_deref().filter(|p| !p.is_empty()) {
            let want = berth_registry::Platform::parse(p)
                .map_err(|e| BuildError::Invalid(e.to_string()))?;
            let host = berth_registry::Platform::host();
            if want.os != host.os || want.architecture != host.architecture {
                return Err(BuildError::Invalid(format!(
                    "platform {p} is not this node's ({}/{}): berth builds for its own platform only",
                    host.os, host.architecture
                )));
            }
        }
        let df = berth_dockerfile::parse(&req.dockerfile)?;
        let mut global = BTreeMap::new();
        for (name, default) in &df.args {
            let value = match req.build_args.get(name) {
                Some(Some(v)) => Some(v.clone()),
                _ => match default {
                    Some(d) => Some(
                        shell::word(d, &|n| global.get(n).cloned().flatten(), df.escape)
                            .map_err(|e| BuildError::Invalid(e.0))?,
                    ),
                    None => None,
                },
            };
            global.insert(name.clone(), value);
        }
        let target = match req.target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => df.stage(t).ok_or_else(|| {
                BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
            })?,
            None => df.stages.last().expect("a parsed Dockerfile has a stage"),
        };
        let mut job = Job {
            req,
            df: &df,
            events,
            cancel,
            used_args: global.keys().cloned().collect(),
            global,
            done: HashMap::new(),
            step: 0,
            total: 0,
            bridge: Default::default(),
        };
        let built = self.solve(&mut job, target.index).await;
        let bridge = job.bridge.lock().unwrap().take();
        if let Some(sid) = bridge {
            if let Err(e) = self.engine.remove_step_sandbox(&sid).await {
                tracing::warn!(sandbox = %sid, error = %e, "remove the build's network; retried at the next start");
            }
        }
        built
    }

    async fn solve(&self, job: &mut Job<'_>, target: usize) -> Result<Built> {
        let (req, df) = (job.req, job.df);
        let target = &df.stages[target];
        let needed = job.needed(target.index)?;
        job.total = needed.iter().map(|i| 1 + df.stages[*i].steps.len()).sum();
        for i in needed {
            let st = self.stage(job, &df.stages[i]).await?;
            job.done.insert(i, st);
        }
        let unused: Vec<&String> = req
            .build_args
            .keys()
            .filter(|k| !job.used_args.contains(*k) && !predefined(k))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            job.emit(Event::Warning(format!(
                "[Warning] One or more build-args [{}] were not consumed",
                names.join(" ")
            )));
        }
        let mut st = job.done.remove(&target.index).expect("the target was built");
        if !req.labels.is_empty() {
            st.config.labels.get_or_insert_with(Default::default).extend(req.labels.clone());
        }
        let tags = req
            .tags
            .iter()
            .map(|t| {
                berth_registry::Reference::parse(t)
                    .map(|r| r.with_default_tag())
                    .map_err(|e| BuildError::Invalid(format!("invalid tag {t:?}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let img = self.engine.images().assemble(NewImage {
            base: st.base.clone(),
            layers: st.layers.clone(),
            config: st.config.clone(),
            history: st.history.clone(),
            created: std::time::SystemTime::now(),
            author: String::new(),
            container: String::new(),
            tags: tags.clone(),
        })?;
        Ok(Built {
            id: img.id,
            tags: tags
                .iter()
                .map(|t| berth_registry::reference::familiar(&t.canonical()))
                .collect(),
        })
    }

    async fn base(&self, job: &Job<'_>, stage: &Stage) -> Result<State> {
        let name = job.base_name(stage)?;
        if let Some(i) = job.stage_named(&name, stage.index) {
            let mut st = job.done.get(&i).cloned().expect("needed stages are built in order");
            st.args.clear();
            return Ok(st);
        }
        let mut st = State {
            base: None,
            diff_ids: vec![],
            layers: vec![],
            history: vec![],
            config: ImageConfig::default(),
            key: String::new(),
            args: BTreeMap::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
            inherited_cmd: false,
        };
        if name == "scratch" {
            st.chain(&["scratch"]);
            return Ok(st);
        }
        let img = self.image(job, &name).await?;
        st.chain(&["image", &img.id]);
        st.diff_ids = img.layers.clone();
        st.config = img.config.clone();
        st.inherited_cmd = st.config.cmd.is_some();
        st.base = Some(img);
        Ok(st)
    }

    /// An image by name: the store's, or pulled (always with `--pull`).
    async fn image(&self, job: &Job<'_>, name: &str) -> Result<ImageRecord> {
        if !job.req.pull {
            if let Ok(img) = self.engine.images().resolve(name) {
                return Ok(img);
            }
        }
        let r = berth_registry::Reference::parse(name)
            .map_err(|e| BuildError::Invalid(format!("invalid reference {name:?}: {e}")))?
            .with_default_tag();
        let credentials = job.req.credentials.get(&r.domain).cloned().unwrap_or_default();
        let pull = berth_engine::image::PullRequest {
            reference: r.canonical(),
            credentials,
            platform: None,
        };
        Ok(self.engine.images().pull(pull, None).await?)
    }

    async fn stage(&self, job: &mut Job<'_>, stage: &Stage) -> Result<State> {
        job.step += 1;
        job.emit(Event::Step { number: job.step, total: job.total, text: stage.from.text.clone() });
        let mut st = self.base(job, stage).await?;
        job.emit(Event::StepDone { id: st.key[..12].to_owned() });
        for step in &stage.steps {
            if job.cancel.is_cancelled() {
                return Err(BuildError::Cancelled);
            }
            job.step += 1;
            job.emit(Event::Step { number: job.step, total: job.total, text: step.text.clone() });
            self.step(job, &mut st, step).await?;
            job.emit(Event::StepDone { id: st.key[..12].to_owned() });
        }
        Ok(st)
    }

    async fn step(&self, job: &mut Job<'_>, st: &mut State, step: &Located) -> Result<()> {
        match &step.instruction {
            Instruction::From { .. } => unreachable!("stages start at FROM"),
            Instruction::Arg(args) => {
                for (name, default) in args {
                    job.used_args.insert(name.clone());
                    let value = match job.req.build_args.get(name) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => match default {
                            Some(d) => Some(job.expand(st, d)?),
                            None => job.global.get(name).cloned().flatten(),
                        },
                    };
                    st.chain(&["arg", name, value.as_deref().unwrap_or("\0unset")]);
                    st.args.insert(name.clone(), value);
                }
            }
            Instruction::Env(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (job.expand(st, k)?, job.expand(st, v)?);
                    st.set_env(&k, &v);
                    shown.push(format!("{k}={v}"));
                }
                let text = format!("ENV {}", shown.join(" "));
                st.chain(&[&text]);
                st.history(text, true);
            }
            Instruction::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (job.expand(st, k)?, job.expand(st, v)?);
                    shown.push(format!("{k}={v}"));
                    st.config.labels.get_or_insert_with(Default::default).insert(k, v);
                }
                let text = format!("LABEL {}", shown.join(" "));
                st.chain(&[&text]);
                st.history(text, true);
            }
            Instruction::Cmd(c) => {
                st.config.cmd = Some(st.argv(c));
                st.inherited_cmd = false;
                self.config_step(st, step);
            }
            Instruction::Entrypoint(c) => {
                st.config.entrypoint = Some(st.argv(c));
                if st.inherited_cmd {
                    st.config.cmd = None;
                }
                self.config_step(st, step);
            }
            Instruction::Shell(s) => {
                st.shell = s.clone();
                self.config_step(st, step);
            }
            Instruction::User(u) => {
                st.config.user = Some(job.expand(st, u)?);
                self.config_step(st, step);
            }
            Instruction::StopSignal(s) => {
                st.config.stop_signal = Some(job.expand(st, s)?);
                self.config_step(st, step);
            }
            Instruction::Expose(ports) => {
                for p in ports {
                    for p in job.expand_words(st, p)? {
                        let p = if p.contains('/') {
                            p.to_ascii_lowercase()
                        } else {
                            format!("{p}/tcp")
                        };
                        st.config
                            .exposed_ports
                            .get_or_insert_with(Default::default)
                            .insert(p, serde_json::json!({}));
                    }
                }
                self.config_step(st, step);
            }
            Instruction::Volume(vols) => {
                for v in vols {
                    for v in job.expand_words(st, v)? {
                        st.config
                            .volumes
                            .get_or_insert_with(Default::default)
                            .insert(v, serde_json::json!({}));
                    }
                }
                self.config_step(st, step);
            }
            Instruction::Maintainer(_) | Instruction::OnBuild(_) => self.config_step(st, step),
            Instruction::Healthcheck(h) => {
                st.config.healthcheck = Some(health(st, h)?);
                self.config_step(st, step);
            }
            Instruction::Workdir(w) => {
                let dir = st.absolute(&job.expand(st, w)?);
                st.config.working_dir = Some(dir.clone());
                let text = format!("WORKDIR {dir}");
                st.chain(&[&text]);
                self.layer_step(job, st, text, |layout| async move {
                    tokio::task::spawn_blocking(move || {
                        let view = layout
                            .view(false, &[])
                            .map_err(|e| BuildError::Invalid(format!("WORKDIR: {e}")))?;
                        transfer::mkdir(&view, &dir, (0, 0))
                    })
                    .await
                    .map_err(|e| BuildError::Invalid(format!("WORKDIR: {e}")))?
                })
                .await?;
            }
            Instruction::Run(run) => self.run(job, st, step, run).await?,
            Instruction::Copy(t) | Instruction::Add(t) => {
                let add = matches!(step.instruction, Instruction::Add(_));
                self.transfer(job, st, step, t, add).await?
            }
        }
        Ok(())
    }

    fn config_step(&self, st: &mut State, step: &Located) {
        st.chain(&[&step.text]);
        st.history(step.text.clone(), true);
    }

    /// A step that may change files: from the cache, or run over a fresh
    /// snapshot of the stage and committed.
    async fn layer_step<F, Fut>(
        &self,
        job: &Job<'_>,
        st: &mut State,
        created_by: String,
        f: F,
    ) -> Result<()>
    where
        F: FnOnce(Layout) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let cached = if job.req.no_cache { None } else { self.cache.get(&st.key) };
        let layer = match cached {
            Some(layer) => {
                job.emit(Event::Cached);
                layer
            }
            None => {
                let snap = self.engine.snapshots().prepare(&st.diff_ids)?;
                let layout = snap.layout();
                let made = async {
                    f(layout.clone()).await?;
                    let upper = layout.upper.clone();
                    let same = tokio::task::spawn_blocking(move || {
                        transfer::unchanged(&upper, MOUNT_POINTS)
                    })
                    .await
                    .unwrap_or(false);
                    if same {
                        return Ok(None);
                    }
                    let c = self.engine.snapshots().commit(&layout, MOUNT_POINTS).await?;
                    let layer = NewLayer {
                        diff_id: c.diff_id.clone(),
                        blob_digest: c.blob_digest.clone(),
                        blob_size: c.blob_size,
                        compression: c.compression,
                    };
                    // The cache's lease takes over from the commit's.
                    self.cache.put(&st.key, Some(&layer));
                    drop(c.lease);
                    Ok::<_, BuildError>(Some(layer))
                }
                .await;
                self.engine.remove_snapshot(snap)?;
                let layer = made?;
                if layer.is_none() {
                    self.cache.put(&st.key, None);
                }
                layer
            }
        };
        match layer {
            Some(l) => {
                st.diff_ids.push(l.diff_id.clone());
                st.layers.push(l);
                st.history(created_by, false);
            }
            None => st.history(created_by, true),
        }
        Ok(())
    }

    async fn run(
        &self,
        job: &Job<'_>,
        st: &mut State,
        step: &Located,
        run: &berth_dockerfile::Run,
    ) -> Result<()> {
        if !run.mounts.is_empty() {
            return Err(BuildError::Invalid(
                "RUN --mount is not supported by berth's builder yet".into(),
            ));
        }
        let mode = match run.network.as_deref().unwrap_or(job.req.network.as_str()) {
            "" => "default",
            m => m,
        };
        let network = match mode {
            "" | "default" => StepNetwork::Bridge(self.bridge(job).await?),
            "host" => StepNetwork::Host,
            "none" => StepNetwork::None,
            other => {
                return Err(BuildError::Invalid(format!(
                    "network mode {other:?} not supported by the builder"
                )))
            }
        };
        let insecure = match run.security.as_deref() {
            None | Some("sandbox") => false,
            Some("insecure") => return Err(BuildError::Invalid(
                "RUN --security=insecure is not allowed: berthd does not grant security.insecure"
                    .into(),
            )),
            Some(o) => return Err(BuildError::Invalid(format!("invalid --security {o:?}"))),
        };
        let args = st.argv(&run.command);
        // What the step sees: the image's env, then the ARGs not set by ENV.
        let mut env: Vec<String> = st.config.env.clone().unwrap_or_default();
        let mut arg_env = Vec::new();
        for (k, v) in &st.args {
            if let Some(v) = v {
                if !env.iter().any(|e| e.starts_with(&format!("{k}="))) {
                    arg_env.push(format!("{k}={v}"));
                }
            }
        }
        env.extend(arg_env.iter().cloned());
        let shown = args.join(" ");
        let created_by = if arg_env.is_empty() {
            format!("RUN {shown} # buildkit")
        } else {
            format!("RUN |{} {} {shown} # buildkit", arg_env.len(), arg_env.join(" "))
        };
        st.chain(&[
            "run",
            &serde_json::to_string(&args).unwrap_or_default(),
            &env.join("\0"),
            mode,
            &step.text,
        ]);
        let user = st.config.user.clone().unwrap_or_default();
        let workdir = st.workdir();
        let log = self.work.join(format!("{}.log", hex::encode(rand::random::<[u8; 8]>())));
        let engine = self.engine.clone();
        let argv = args.clone();
        let (events, cancel) = (job.events.clone(), job.cancel.clone());
        self.layer_step(job, st, created_by, |layout| async move {
            let _ = std::fs::write(&log, b"");
            let req = StepRequest { layout, args: argv.clone(), env, working_dir: workdir, user, network, insecure, log: log.clone() };
            let running = engine.run_step(req, cancel);
            tokio::pin!(running);
            let mut tail = LogTail::default();
            let code = loop {
                tokio::select! {
                    r = &mut running => break r,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => tail.read(&log, &events),
                }
            };
            tail.read(&log, &events);
            let _ = std::fs::remove_file(&log);
            match code {
                Ok(0) => Ok(()),
                Ok(code) => Err(BuildError::StepFailed { command: argv.join(" "), code }),
                Err(berth_engine::Error::Cancelled) => Err(BuildError::Cancelled),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// The build's sandbox on the default bridge.
    async fn bridge(&self, job: &Job<'_>) -> Result<String> {
        if let Some(sid) = job.bridge.lock().unwrap().clone() {
            return Ok(sid);
        }
        let name = format!("build-{}", hex::encode(rand::random::<[u8; 6]>()));
        let sid = self.engine.step_sandbox(&name).await?;
        *job.bridge.lock().unwrap() = Some(sid.clone());
        Ok(sid)
    }

    async fn transfer(
        &self,
        job: &Job<'_>,
        st: &mut State,
        step: &Located,
        t: &Transfer,
        add: bool,
    ) -> Result<()> {
        let what = if add { "ADD" } else { "COPY" };
        if !t.heredocs.is_empty() || t.parents || !t.exclude.is_empty() || t.checksum.is_some() {
            return Err(BuildError::Invalid(format!("{what} with heredocs, --parents, --exclude or --checksum is not supported by berth's builder yet")));
        }
        let dest_raw = job.expand(st, &t.dest)?;
        let mut dest = Dest {
            path: st.absolute(&dest_raw),
            chown: t.chown.as_ref().map(|c| job.expand(st, c)).transpose()?,
            chmod: match &t.chmod {
                Some(m) => Some(
                    u32::from_str_radix(&job.expand(st, m)?, 8)
                        .map_err(|_| BuildError::Invalid(format!("invalid chmod {m:?}")))?,
                ),
                None => None,
            },
            is_dir: dest_raw.ends_with('/') || t.sources.len() > 1,
        };
        let mut sources = Vec::new();
        for s in &t.sources {
            let s = job.expand(st, s)?;
            if add
                && (s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@"))
            {
                return Err(BuildError::Invalid(format!(
                    "ADD {s}: remote sources are not supported by berth's builder yet"
                )));
            }
            if s.contains(['*', '?', '[']) {
                dest.is_dir = true;
            }
            sources.push(s);
        }
        // Where the files come from: a stage, an image or the context.
        let from = match &t.from {
            Some(f) => {
                let f = job.expand(st, f)?;
                match job.stage_named(&f, usize::MAX) {
                    Some(i) => Some(job.done.get(&i).cloned().ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "COPY --from={f}: a stage must come before its use"
                        ))
                    })?),
                    None => {
                        let img = self.image(job, &f).await?;
                        let mut s = self
                            .base(
                                job,
                                &Stage {
                                    index: usize::MAX,
                                    name: None,
                                    base: img.id.clone(),
                                    platform: None,
                                    from: step.clone(),
                                    steps: vec![],
                                },
                            )
                            .await?;
                        s.key = img.id.clone();
                        Some(s)
                    }
                }
            }
            None => None,
        };
        let context = job.req.context.clone();
        let (paths, digest) = match &from {
            None => {
                let mut paths = Vec::new();
                for s in &sources {
                    let found = transfer::expand_glob(&context, s)?;
                    if found.is_empty() {
                        return Err(BuildError::NotFound(format!(
                            "{what} failed: no source files were specified"
                        )));
                    }
                    paths.extend(found);
                }
                let ctx = context.clone();
                let ps = paths.clone();
                let digest = tokio::task::spawn_blocking(move || {
                    let mut h = Sha256::new();
                    for p in &ps {
                        let d = transfer::inside(&ctx, p)
                            .map(|hp| {
                                crate::context::content_digest(&hp)
                                    .unwrap_or_else(|_| "missing".into())
                            })
                            .unwrap_or_else(|| "outside".into());
                        h.update(format!("{p}\0{d}\n").as_bytes());
                    }
                    hex::encode(h.finalize())
                })
                .await
                .map_err(|e| BuildError::Invalid(e.to_string()))?;
                (paths, digest)
            }
            Some(s) => (sources.clone(), s.key.clone()),
        };
        let shown = format!("{what} {} {} # buildkit", sources.join(" "), dest_raw);
        st.chain(&[
            what,
            &step.text,
            &dest.path,
            &digest,
            &format!("{:?}{:?}", dest.chown, dest.chmod),
            &paths.join("\0"),
        ]);
        let from_snap = match &from {
            Some(s) => Some(self.engine.snapshots().prepare(&s.diff_ids)?),
            None => None,
        };
        let from_layout = from_snap.as_ref().map(|s| s.layout());
        let done = self
            .layer_step(job, st, shown, |layout| async move {
                tokio::task::spawn_blocking(move || {
                    let to = layout
                        .view(false, &[])
                        .map_err(|e| BuildError::Invalid(format!("{what}: {e}")))?;
                    let src = match from_layout {
                        Some(l) => l.view(true, &[]),
                        None => berth_kernel::cp::View::of_dir(&context),
                    }
                    .map_err(|e| BuildError::Invalid(format!("{what}: {e}")))?;
                    transfer::copy(&src, &paths, &to, &dest, what)
                })
                .await
                .map_err(|e| BuildError::Invalid(format!("{what}: {e}")))?
            })
            .await;
        if let Some(s) = from_snap {
            self.engine.remove_snapshot(s)?;
        }
        done
    }
}

/// Build args Docker knows without an ARG (proxies).
fn predefined(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY"
    )
}

fn health(st: &State, h: &Health) -> Result<berth_engine::model::HealthConfig> {
    let dur = |v: &Option<String>, what: &str| -> Result<Option<i64>> {
        v.as_deref()
            .map(|v| {
                berth_proto::time::parse_go_duration(v).ok_or_else(|| {
                    BuildError::Invalid(format!("HEALTHCHECK --{what}: invalid duration {v:?}"))
                })
            })
            .transpose()
    };
    Ok(berth_engine::model::HealthConfig {
        test: Some(match &h.command {
            None => vec!["NONE".into()],
            Some(Command::Exec(v)) => {
                std::iter::once("CMD".to_owned()).chain(v.iter().cloned()).collect()
            }
            Some(Command::Shell(s)) => {
                let _ = st;
                vec!["CMD-SHELL".into(), s.clone()]
            }
        }),
        interval: dur(&h.interval, "interval")?,
        timeout: dur(&h.timeout, "timeout")?,
        start_period: dur(&h.start_period, "start-period")?,
        start_interval: dur(&h.start_interval, "start-interval")?,
        retries: h
            .retries
            .as_deref()
            .map(|r| {
                r.parse().map_err(|_| {
                    BuildError::Invalid(format!("HEALTHCHECK --retries: invalid number {r:?}"))
                })
            })
            .transpose()?,
    })
}

/// Follows a step's CRI log file, line by line.
#[derive(Default)]
struct LogTail {
    offset: u64,
    partial: String,
}

impl LogTail {
    fn read(&mut self, log: &std::path::Path, events: &UnboundedSender<Event>) {
        use std::io::{Read, Seek};
        let Ok(mut f) = std::fs::File::open(log) else { return };
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = String::new();
        let Ok(n) = f.read_to_string(&mut buf) else { return };
        let Some(end) = buf.rfind('\n') else { return };
        self.offset += (end + 1) as u64;
        let _ = n;
        for line in buf[..end].lines() {
            // `<time> <stream> <P|F> <text>`
            let mut parts = line.splitn(4, ' ');
            let (_, _, tag, text) =
                (parts.next(), parts.next(), parts.next(), parts.next().unwrap_or(""));
            self.partial.push_str(text);
            if tag != Some("P") {
                let _ = events.send(Event::Output(std::mem::take(&mut self.partial)));
            }
        }
    }
}
