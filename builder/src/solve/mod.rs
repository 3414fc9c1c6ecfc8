//! The solver: the stages the target needs, independent ones at once
//! (stage by stage in dependency levels), each step from the cache or run
//! by the worker, then the image assembled. A step two builds want at the
//! same time runs once: the second waits for the first and finds it cached.

pub mod prune;
mod state;
mod steps;
#[cfg(test)]
mod tests;

use crate::cache::Cache;
use crate::context::{Context, FileDigests};
use crate::kept::KeptContexts;
use crate::worker::Worker;
use crate::{BuildError, BuildRequest, Built, Event, Result};
use berth_dockerfile::instruction::{Instruction, Transfer};
use berth_dockerfile::{shell, Dockerfile, Stage};
use berth_engine::image::assemble::NewImage;
use state::State;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// The builder: its worker, its cache, the steps running now.
pub struct Builder {
    worker: Arc<dyn Worker>,
    cache: Cache,
    work: PathBuf,
    running: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Contexts `berth build` syncs by diff.
    kept: KeptContexts,
    /// Context files' digests, remembered while they don't change.
    files: Arc<FileDigests>,
    /// Dirs classic contexts are extracted into, kept between builds.
    slots: crate::slots::Slots,
    /// What berthd's configuration lets builds ask for.
    grants: crate::Grants,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("work", &self.work).finish()
    }
}

/// What one build shares across its stages.
pub(crate) struct Job<'a> {
    req: &'a BuildRequest,
    df: &'a Dockerfile,
    events: UnboundedSender<Event>,
    cancel: CancellationToken,
    global: BTreeMap<String, Option<String>>,
    used_args: Mutex<BTreeSet<String>>,
    /// The first step number of each stage built.
    numbers: HashMap<usize, usize>,
    total: usize,
    /// `SOURCE_DATE_EPOCH`, in unix nanos: every time in the image.
    epoch: Option<i64>,
    /// Whether cached steps are reused (not with `--no-cache`, nor with a
    /// `--cache-from` of which no image is here).
    use_cache: bool,
    /// The build's namespace on the default bridge, made at its first RUN that wants it.
    bridge: tokio::sync::Mutex<Option<String>>,
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

    /// The stage `name` names, if it is one before `before`.
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.df.stage(name).map(|s| s.index).filter(|i| *i < before)
    }

    /// The stages stage `i` uses (its base, `COPY --from`, `RUN --mount=from=`).
    fn deps(&self, i: usize) -> Result<Vec<usize>> {
        let stage = &self.df.stages[i];
        let mut out: Vec<usize> =
            self.stage_named(&self.base_name(stage)?, i).into_iter().collect();
        for s in &stage.steps {
            match &s.instruction {
                Instruction::Copy(Transfer { from: Some(f), .. }) => {
                    out.extend(self.stage_named(f, i))
                }
                Instruction::Run(r) => {
                    for m in &r.mounts {
                        let from = crate::mounts::parse(m).ok().and_then(|m| m.from);
                        out.extend(from.and_then(|f| self.stage_named(&f, i)));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The stages `target` needs, in levels: each level's stages use only
    /// those of the levels before it.
    fn levels(&self, target: usize) -> Result<Vec<Vec<usize>>> {
        let mut level: BTreeMap<usize, usize> = BTreeMap::new();
        // Stages only use earlier ones, so index order is a topological order.
        let mut need = BTreeSet::from([target]);
        for i in (0..=target).rev() {
            if need.contains(&i) {
                need.extend(self.deps(i)?);
            }
        }
        for &i in &need {
            let l = self.deps(i)?.iter().map(|d| level[d] + 1).max().unwrap_or(0);
            level.insert(i, l);
        }
        let depth = level.values().max().map_or(0, |m| m + 1);
        let mut out = vec![Vec::new(); depth];
        for (i, l) in level {
            out[l].push(i);
        }
        Ok(out)
    }
}

impl Builder {
    /// berthd's builder: the engine as its worker, its cache and work dirs
    /// under `<root>/builder` (the work dir emptied: what a stopped berthd left).
    pub fn open(engine: berth_engine::Engine) -> std::io::Result<Self> {
        let root = engine.paths().root.join("builder");
        let cache = Cache::open(root.join("cache"), engine.images().leases())?;
        let work = root.join("work");
        // A killed berthd may have left a step's secret mounted.
        berth_kernel::secret_fs::sweep(&work.join("secrets"))?;
        let _ = std::fs::remove_dir_all(&work);
        let kept = KeptContexts::open(root.join("contexts"))?;
        std::fs::create_dir_all(work.join("logs"))?;
        let worker = crate::engine_worker::EngineWorker::new(
            engine,
            work.join("logs"),
            root.join("cache-mounts"),
            work.join("secrets"),
        );
        Ok(Self::with_worker(Arc::new(worker), cache, work, kept))
    }

    pub fn with_worker(
        worker: Arc<dyn Worker>,
        cache: Cache,
        work: PathBuf,
        kept: KeptContexts,
    ) -> Self {
        let slots = crate::slots::Slots::new(work.join("classic"));
        Self {
            worker,
            cache,
            work,
            running: Mutex::default(),
            kept,
            files: Arc::default(),
            slots,
            grants: crate::Grants::default(),
        }
    }

    /// Entitlements a build asks for must be granted (as BuildKit refuses them).
    fn check_allowed(&self, allow: &[String]) -> Result<()> {
        for a in allow {
            match a.as_str() {
                // Always granted, as Docker's builders grant it.
                "network.host" => {}
                crate::SECURITY_INSECURE if self.grants.security_insecure => {}
                crate::SECURITY_INSECURE => {
                    return Err(BuildError::Forbidden(format!(
                        "granting entitlement {a} is not allowed by build daemon configuration"
                    )))
                }
                _ => return Err(BuildError::Invalid(format!("invalid entitlement {a:?}"))),
            }
        }
        Ok(())
    }

    /// The same, granting what berthd's configuration grants.
    pub fn granting(mut self, grants: crate::Grants) -> Self {
        self.grants = grants;
        self
    }

    /// The classic API's context, extracted over the last one a free slot
    /// held (`hint`: what names the build, for the slot it used last), or
    /// into a fresh dir when none is free (blocking).
    pub fn context_from_tar(&self, hint: &str, tar: impl std::io::Read) -> Result<Context> {
        match self.slots.take(hint) {
            Some(held) => Context::in_slot(held, tar),
            None => Context::from_tar(&self.contexts_dir(), tar),
        }
    }

    /// The contexts kept between builds.
    pub fn kept(&self) -> &KeptContexts {
        &self.kept
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
        check_platform(req.platform.as_deref())?;
        self.check_allowed(&req.allow)?;
        let df = berth_dockerfile::parse(&req.dockerfile)?;
        let mut global = BTreeMap::new();
        for (name, default) in &df.args {
            let value = match (req.build_args.get(name), default) {
                (Some(Some(v)), _) => Some(v.clone()),
                (_, Some(d)) => Some(
                    shell::word(d, &|n| global.get(n).cloned().flatten(), df.escape)
                        .map_err(|e| BuildError::Invalid(e.0))?,
                ),
                _ => None,
            };
            global.insert(name.clone(), value);
        }
        let target = match req.target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => df.stage(t).ok_or_else(|| {
                BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
            })?,
            None => df.stages.last().expect("a parsed Dockerfile has a stage"),
        };
        let epoch = match req.build_args.get("SOURCE_DATE_EPOCH") {
            Some(Some(e)) => Some(
                e.parse::<i64>()
                    .map_err(|_| BuildError::Invalid(format!("invalid SOURCE_DATE_EPOCH {e:?}")))?
                    * 1_000_000_000,
            ),
            _ => None,
        };
        let use_cache = !req.no_cache
            && (req.cache_from.is_empty()
                || req.cache_from.iter().any(|i| self.worker.has_image(i)));
        let mut job = Job {
            use_cache,
            req,
            df: &df,
            events: events.clone(),
            cancel: cancel.child_token(),
            used_args: Mutex::new(global.keys().cloned().collect()),
            global,
            numbers: HashMap::new(),
            total: 0,
            epoch,
            bridge: Default::default(),
        };
        let levels = job.levels(target.index)?;
        let mut n = 1;
        for i in levels.iter().flatten().copied().collect::<BTreeSet<_>>() {
            job.numbers.insert(i, n);
            n += 1 + df.stages[i].steps.len();
        }
        job.total = n - 1;
        let built = self.solve(&job, &levels, target.index).await;
        if let Some(sid) = job.bridge.lock().await.take() {
            if let Err(e) = self.worker.remove_bridge(&sid).await {
                tracing::warn!(sandbox = %sid, error = %e, "remove the build's network; retried at the next start");
            }
        }
        built
    }

    async fn solve(&self, job: &Job<'_>, levels: &[Vec<usize>], target: usize) -> Result<Built> {
        let mut done: HashMap<usize, State> = HashMap::new();
        for level in levels {
            let stages = level.iter().map(|&i| {
                let done = &done;
                async move {
                    let r = self.stage(job, done, i).await;
                    if r.is_err() {
                        // The others stop too, each at its next step.
                        job.cancel.cancel();
                    }
                    (i, r)
                }
            });
            let mut first_error = None;
            for (i, r) in futures::future::join_all(stages).await {
                match r {
                    Ok(st) => {
                        done.insert(i, st);
                    }
                    // What failed first, not a sibling stopped because of it.
                    Err(BuildError::Cancelled) if first_error.is_some() => {}
                    Err(e) if matches!(first_error, None | Some(BuildError::Cancelled)) => {
                        first_error = Some(e)
                    }
                    Err(_) => {}
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        let req = job.req;
        let unused: Vec<&str> = {
            let used = job.used_args.lock().unwrap();
            req.build_args
                .keys()
                .filter(|k| !used.contains(*k) && !predefined(k))
                .map(String::as_str)
                .collect()
        };
        if !unused.is_empty() {
            job.emit(Event::Warning(format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            )));
        }
        let mut st = done.remove(&target).expect("the target was built");
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
        let created = match st.created {
            0 => std::time::SystemTime::now(),
            n => berth_proto::time::from_unix_nanos(n),
        };
        let id = self.worker.assemble(
            st.base.as_deref(),
            NewImage {
                base: None,
                layers: st.layers.clone(),
                config: st.config.clone(),
                history: st.history.clone(),
                created,
                author: String::new(),
                container: String::new(),
                tags: tags.clone(),
            },
        )?;
        let tags =
            tags.iter().map(|t| berth_registry::reference::familiar(&t.canonical())).collect();
        Ok(Built { id, tags })
    }

    async fn base(
        &self,
        job: &Job<'_>,
        done: &HashMap<usize, State>,
        stage: &Stage,
    ) -> Result<State> {
        let name = job.base_name(stage)?;
        if let Some(i) = job.stage_named(&name, stage.index) {
            let mut st =
                done.get(&i).cloned().expect("a stage's base is built in a level before it");
            st.args.clear();
            return Ok(st);
        }
        let mut st = State::scratch();
        if name == "scratch" {
            return Ok(st);
        }
        let credentials = self.credentials(job, &name);
        let img = self.worker.image(&name, job.req.pull, &credentials).await?;
        st.chain(&["image", &img.id]);
        st.diff_ids = img.layers;
        st.inherited_cmd = img.config.cmd.is_some();
        if let Some(shell) = img.config.shell.clone() {
            st.shell = shell;
        }
        st.config = img.config;
        st.created = job.epoch.unwrap_or(img.created);
        st.base = Some(img.id);
        Ok(st)
    }

    fn credentials(&self, job: &Job<'_>, name: &str) -> berth_registry::Credentials {
        berth_registry::Reference::parse(name)
            .ok()
            .and_then(|r| job.req.credentials.get(&r.domain).cloned())
            .unwrap_or_default()
    }

    async fn stage(&self, job: &Job<'_>, done: &HashMap<usize, State>, i: usize) -> Result<State> {
        let stage = &job.df.stages[i];
        let first = job.numbers[&i];
        // BuildKit's `[name k/n]`: the stage's name (`stage-i` unnamed), FROM as 1.
        let n = stage.steps.len() + 1;
        let label = |k: usize| match (&stage.name, job.df.stages.len()) {
            (Some(name), _) => format!("{name} {k}/{n}"),
            (None, 1) => format!("{k}/{n}"),
            (None, _) => format!("stage-{i} {k}/{n}"),
        };
        job.emit(Event::Step {
            number: first,
            total: job.total,
            text: stage.from.text.clone(),
            label: label(1),
            line: stage.from.line,
        });
        let mut st = self.base(job, done, stage).await?;
        st.number = first;
        // The base image's ONBUILD triggers run first; the new image has none.
        if let Some(triggers) = st.config.on_build.take().filter(|t| !t.is_empty()) {
            let n = triggers.len();
            let s = if n == 1 { "" } else { "s" };
            job.emit(Event::Output {
                number: first,
                text: format!("# Executing {n} build trigger{s}"),
                stderr: false,
            });
            for t in triggers {
                let parsed = berth_dockerfile::lines::split(&t)?;
                for line in &parsed.lines {
                    let step = berth_dockerfile::instruction::parse(line, job.df.escape)?;
                    if matches!(
                        step.instruction,
                        Instruction::OnBuild(_) | Instruction::From { .. }
                    ) {
                        return Err(BuildError::Invalid(format!(
                            "{t}: not allowed as an ONBUILD trigger"
                        )));
                    }
                    self.step(job, done, &mut st, &step).await?;
                }
            }
        }
        job.emit(Event::StepDone { number: first, id: st.short() });
        for (k, step) in stage.steps.iter().enumerate() {
            if job.cancel.is_cancelled() {
                return Err(BuildError::Cancelled);
            }
            st.number = first + 1 + k;
            job.emit(Event::Step {
                number: st.number,
                total: job.total,
                text: step.text.clone(),
                label: label(k + 2),
                line: step.line,
            });
            self.step(job, done, &mut st, step).await?;
            job.emit(Event::StepDone { number: st.number, id: st.short() });
        }
        Ok(st)
    }
}

fn check_platform(p: Option<&str>) -> Result<()> {
    let Some(p) = p.filter(|p| !p.is_empty()) else { return Ok(()) };
    let want =
        berth_registry::Platform::parse(p).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let host = berth_registry::Platform::host();
    if want.os != host.os || want.architecture != host.architecture {
        return Err(BuildError::Invalid(format!(
            "platform {p} is not this node's ({}/{}): berth builds for its own platform only",
            host.os, host.architecture
        )));
    }
    Ok(())
}

/// Build args Docker knows without an ARG (proxies, SOURCE_DATE_EPOCH).
fn predefined(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY" | "SOURCE_DATE_EPOCH"
    )
}
