//! Each instruction's effect on a stage: config steps change its config
//! and history, file steps go through [`Builder::layer_step`] (the cache,
//! or the worker).

use super::state::State;
use super::{Builder, Job};
use crate::context::FileDigests;
use crate::fetch;
use crate::mounts::{self, RunMount};
use crate::transfer::{self, Dest, Source};
use crate::worker::{CopyFrom, CopyStep, Made, Network, RunStep};
use crate::{BuildError, Event, Result};
use berth_dockerfile::instruction::{Command, Health, Instruction, Located, Transfer};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

impl Builder {
    pub(super) async fn step(
        &self,
        job: &Job<'_>,
        done: &HashMap<usize, State>,
        st: &mut State,
        step: &Located,
    ) -> Result<()> {
        match &step.instruction {
            Instruction::From { .. } => unreachable!("stages start at FROM"),
            Instruction::Arg(args) => {
                for (name, default) in args {
                    job.used_args.lock().unwrap().insert(name.clone());
                    let value = match (job.req.build_args.get(name), default) {
                        (Some(Some(v)), _) => Some(v.clone()),
                        (_, Some(d)) => Some(job.expand(st, d)?),
                        _ => job.global.get(name).cloned().flatten(),
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
                self.config_step(job, st, format!("ENV {}", shown.join(" ")));
            }
            Instruction::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (job.expand(st, k)?, job.expand(st, v)?);
                    shown.push(format!("{k}={v}"));
                    st.config.labels.get_or_insert_with(Default::default).insert(k, v);
                }
                self.config_step(job, st, format!("LABEL {}", shown.join(" ")));
            }
            Instruction::Cmd(c) => {
                st.config.cmd = Some(st.argv(c));
                st.inherited_cmd = false;
                self.config_step(job, st, step.text.clone());
            }
            Instruction::Entrypoint(c) => {
                st.config.entrypoint = Some(st.argv(c));
                if st.inherited_cmd {
                    st.config.cmd = None;
                }
                self.config_step(job, st, step.text.clone());
            }
            Instruction::Shell(s) => {
                st.shell = s.clone();
                st.config.shell = Some(s.clone());
                self.config_step(job, st, step.text.clone());
            }
            Instruction::User(u) => {
                let u = job.expand(st, u)?;
                st.config.user = Some(u.clone());
                self.config_step(job, st, format!("USER {u}"));
            }
            Instruction::StopSignal(s) => {
                st.config.stop_signal = Some(job.expand(st, s)?);
                self.config_step(job, st, step.text.clone());
            }
            Instruction::Expose(ports) => {
                let mut shown = Vec::new();
                for p in ports {
                    for p in job.expand_words(st, p)? {
                        let p = if p.contains('/') {
                            p.to_ascii_lowercase()
                        } else {
                            format!("{p}/tcp")
                        };
                        shown.push(p.clone());
                        st.config
                            .exposed_ports
                            .get_or_insert_with(Default::default)
                            .insert(p, serde_json::json!({}));
                    }
                }
                self.config_step(job, st, format!("EXPOSE {}", shown.join(" ")));
            }
            Instruction::Volume(vols) => {
                let mut shown = Vec::new();
                for v in vols {
                    for v in job.expand_words(st, v)? {
                        shown.push(v.clone());
                        st.config
                            .volumes
                            .get_or_insert_with(Default::default)
                            .insert(v, serde_json::json!({}));
                    }
                }
                self.config_step(job, st, format!("VOLUME [{}]", shown.join(" ")));
            }
            Instruction::OnBuild(trigger) => {
                st.config.on_build.get_or_insert_with(Vec::new).push(trigger.clone());
                self.config_step(job, st, step.text.clone())
            }
            Instruction::Maintainer(_) => self.config_step(job, st, step.text.clone()),
            Instruction::Healthcheck(h) => {
                st.config.healthcheck = Some(health(h)?);
                self.config_step(job, st, step.text.clone());
            }
            Instruction::Workdir(w) => {
                let dir = st.absolute(&job.expand(st, w)?);
                st.config.working_dir = Some(dir.clone());
                let text = format!("WORKDIR {dir}");
                st.chain(&[&text]);
                let parents = st.diff_ids.clone();
                let worker = self.worker.clone();
                self.layer_step(job, st, text, move || {
                    Box::pin(async move { worker.mkdir(&parents, dir).await })
                })
                .await?;
            }
            Instruction::Run(run) => self.run(job, done, st, step, run).await?,
            Instruction::Copy(t) => self.transfer(job, done, st, step, t, "COPY").await?,
            Instruction::Add(t) => self.transfer(job, done, st, step, t, "ADD").await?,
        }
        Ok(())
    }

    /// A step that may change files: from the cache, or made by the worker
    /// and cached. A step another build is making now is waited for.
    async fn layer_step<'s>(
        &'s self,
        job: &'s Job<'_>,
        st: &mut State,
        created_by: String,
        make: impl FnOnce() -> BoxFuture<'s, Result<Option<Made>>>,
    ) -> Result<()> {
        let key = st.key.clone();
        let gate = self.running.lock().unwrap().entry(key.clone()).or_default().clone();
        let made = async {
            let _running = gate.lock().await;
            if job.use_cache {
                if let Some(hit) = self.cache.get(&key, |l| self.worker.stored(l)) {
                    job.emit(Event::Cached { number: st.number });
                    return Ok((hit.layer, hit.created));
                }
            }
            let made = make().await?;
            let now = job
                .epoch
                .unwrap_or_else(|| berth_proto::time::unix_nanos(std::time::SystemTime::now()));
            // The cache's lease takes the layer over from the worker's.
            self.cache.put(&key, made.as_ref().map(|m| &m.layer), now);
            Ok::<_, BuildError>((made.map(|m| m.layer), now))
        }
        .await;
        {
            let mut running = self.running.lock().unwrap();
            if Arc::strong_count(&gate) == 2 {
                running.remove(&key);
            }
        }
        let (layer, created) = made?;
        match layer {
            Some(l) => {
                st.diff_ids.push(l.diff_id.clone());
                st.layers.push(l);
                st.created = job.epoch.unwrap_or(created);
                st.history(created_by, false);
            }
            None => st.history(created_by, true),
        }
        Ok(())
    }

    /// The build's namespace, on the default bridge or the build's network.
    async fn bridge(&self, job: &Job<'_>, network: Option<&str>) -> Result<String> {
        let mut bridge = job.bridge.lock().await;
        if let Some(sid) = bridge.clone() {
            return Ok(sid);
        }
        let name = format!("build-{}", hex::encode(rand::random::<[u8; 6]>()));
        let sid = self.worker.bridge(&name, network).await?;
        *bridge = Some(sid.clone());
        Ok(sid)
    }

    /// One `--mount`, resolved, and what of it the step's cache key covers
    /// (`None`: a secret or ssh mount the classic API has nothing for).
    async fn mount(
        &self,
        job: &Job<'_>,
        done: &HashMap<usize, State>,
        st: &State,
        raw: &str,
        ssh_n: usize,
    ) -> Result<Option<(RunMount, String)>> {
        let spec = mounts::parse(raw)?;
        let target = st.absolute(&spec.target);
        let m = match spec.typ.as_str() {
            "secret" => {
                let mut spec = spec;
                if !spec.target.is_empty() {
                    spec.target = target;
                }
                // The key covers the mount as written, never the secret.
                return Ok(mounts::secret(&spec, &job.req.secrets)?.map(|m| (m, raw.to_owned())));
            }
            "ssh" => {
                let mut spec = spec;
                if !spec.target.is_empty() {
                    spec.target = target;
                }
                // The key covers the mount as written, never the agent.
                return Ok(mounts::ssh(&spec, ssh_n, &job.req.ssh)?.map(|m| (m, raw.to_owned())));
            }
            "cache" => {
                let mut m = mounts::cache(&spec)?;
                if let RunMount::Cache { target: t, .. } = &mut m {
                    *t = target;
                }
                (m, raw.to_owned())
            }
            "tmpfs" => (RunMount::Tmpfs { target, size: spec.size.clone() }, raw.to_owned()),
            _ if spec.rw => {
                return Err(BuildError::Invalid(format!(
                    "--mount {raw}: rw bind mounts are not supported by berth yet"
                )))
            }
            _ => {
                let source = spec.source.clone().unwrap_or_else(|| ".".into());
                match &spec.from {
                    None => {
                        let ctx = &job.req.context;
                        let host = transfer::inside(ctx, &source)
                            .filter(|p| {
                                std::fs::symlink_metadata(p)
                                    .is_ok_and(|m| !m.file_type().is_symlink())
                            })
                            .ok_or_else(|| {
                                BuildError::NotFound(format!(
                                    "--mount {raw}: {source} is not in the build context"
                                ))
                            })?;
                        let (h, s, files) = (host.clone(), source.clone(), self.files.clone());
                        let digest = tokio::task::spawn_blocking(move || {
                            crate::context::content_digest(&h, &files)
                                .map_err(|e| BuildError::Io { context: s, source: e })
                        })
                        .await
                        .map_err(|e| BuildError::Invalid(e.to_string()))??;
                        (RunMount::Bind { source: host, target }, format!("{raw}\0{digest}"))
                    }
                    Some(f) => {
                        let stage = job.stage_named(f, usize::MAX).and_then(|i| done.get(&i));
                        let (layers, key) = match stage {
                            Some(s) => (s.diff_ids.clone(), s.key.clone()),
                            None => {
                                let c = self.credentials(job, f);
                                let img = self.worker.image(f, job.req.pull, &c).await?;
                                (img.layers, img.id)
                            }
                        };
                        let sub_path = source.trim_start_matches('/').to_owned();
                        (RunMount::Layers { layers, sub_path, target }, format!("{raw}\0{key}"))
                    }
                }
            }
        };
        Ok(Some(m))
    }

    async fn run(
        &self,
        job: &Job<'_>,
        done: &HashMap<usize, State>,
        st: &mut State,
        step: &Located,
        run: &berth_dockerfile::Run,
    ) -> Result<()> {
        let insecure = match run.security.as_deref() {
            None | Some("sandbox") => false,
            // Granted by berthd's configuration (checked at the start) and asked for.
            Some("insecure") if job.req.allow.iter().any(|a| a == crate::SECURITY_INSECURE) => true,
            Some("insecure") => {
                return Err(BuildError::Forbidden(format!(
                    "entitlement {} is not allowed (berth build --allow {0})",
                    crate::SECURITY_INSECURE
                )))
            }
            Some(o) => return Err(BuildError::Invalid(format!("invalid --security {o:?}"))),
        };
        // A step's `--network` is default, host or none; the build's may
        // also name a user-defined network.
        let mode = match (run.network.as_deref(), job.req.network.as_str()) {
            (Some(m @ ("default" | "host" | "none")), _) => m,
            (Some(m), _) => {
                return Err(BuildError::Invalid(format!(
                    "RUN --network={m}: default, host or none"
                )))
            }
            (None, "" | "default" | "bridge") => "default",
            (None, m) => m,
        };
        let args = st.argv(&run.command);
        // What the step sees: the image's env, then the ARGs ENV doesn't set.
        let mut env: Vec<String> = st.config.env.clone().unwrap_or_default();
        let arg_env: Vec<String> = st
            .args
            .iter()
            .filter_map(|(k, v)| Some(format!("{k}={}", v.as_ref()?)))
            .filter(|kv| {
                let k = kv.split('=').next().unwrap_or_default();
                !env.iter().any(|e| e.starts_with(&format!("{k}=")))
            })
            .collect();
        env.extend(arg_env.iter().cloned());
        let shown = args.join(" ");
        let created_by = if arg_env.is_empty() {
            format!("RUN {shown} # buildkit")
        } else {
            format!("RUN |{} {} {shown} # buildkit", arg_env.len(), arg_env.join(" "))
        };
        let mut mounts = Vec::new();
        let mut mount_keys = Vec::new();
        let mut ssh_n = 0;
        for raw in &run.mounts {
            let raw = job.expand(st, raw)?;
            if let Some((m, key)) = self.mount(job, done, st, &raw, ssh_n).await? {
                if matches!(m, RunMount::Ssh { .. }) {
                    ssh_n += 1;
                }
                mounts.push(m);
                mount_keys.push(key);
            }
        }
        st.chain(&[
            "run",
            &serde_json::to_string(&args).unwrap_or_default(),
            &env.join("\0"),
            mode,
            &step.text,
            &mount_keys.join("\0"),
            &format!("{:?}", job.req.extra_hosts),
        ]);
        let mut step = RunStep {
            number: st.number,
            args,
            env,
            working_dir: st.workdir(),
            user: st.config.user.clone().unwrap_or_default(),
            network: Network::None,
            mounts,
            extra_hosts: job.req.extra_hosts.clone(),
            resources: job.req.resources.clone(),
            shm_size: job.req.shm_size,
            insecure,
        };
        let (parents, worker) = (st.diff_ids.clone(), self.worker.clone());
        let (events, cancel) = (job.events.clone(), job.cancel.clone());
        let mode = mode.to_owned();
        self.layer_step(job, st, created_by, move || {
            Box::pin(async move {
                // The build's namespace is made for the first step that runs, not for a cached one.
                step.network = match mode.as_str() {
                    "host" => Network::Host,
                    "none" => Network::None,
                    "default" => Network::Bridge(self.bridge(job, None).await?),
                    user => Network::Bridge(self.bridge(job, Some(user)).await?),
                };
                worker.run(&parents, step, events, cancel).await
            })
        })
        .await
    }

    async fn transfer(
        &self,
        job: &Job<'_>,
        done: &HashMap<usize, State>,
        st: &mut State,
        step: &Located,
        t: &Transfer,
        what: &'static str,
    ) -> Result<()> {
        let dest_raw = job.expand(st, &t.dest)?;
        let mut dest = Dest {
            what,
            path: st.absolute(&dest_raw),
            chown: t.chown.as_ref().map(|c| job.expand(st, c)).transpose()?,
            chmod: match &t.chmod {
                Some(m) => Some(
                    u32::from_str_radix(&job.expand(st, m)?, 8)
                        .map_err(|_| BuildError::Invalid(format!("invalid chmod {m:?}")))?,
                ),
                None => None,
            },
            is_dir: dest_raw.ends_with('/') || t.sources.len() > 1 || t.parents,
            extract: what == "ADD",
            exclude: t.exclude.iter().map(|e| job.expand(st, e)).collect::<Result<_>>()?,
        };
        let below = |written: &str, path: &str| {
            t.parents.then(|| transfer::below_pivot(written, path).to_owned())
        };
        let mut sources = Vec::new();
        for s in &t.sources {
            let s = job.expand(st, s)?;
            if what == "ADD" && fetch::is_git(&s) {
                return Err(BuildError::Invalid(format!(
                    "ADD {s}: git sources are not supported by berth's builder yet"
                )));
            }
            if s.contains(['*', '?', '[']) {
                dest.is_dir = true;
            }
            sources.push(s);
        }
        let urls = sources.iter().filter(|s| what == "ADD" && fetch::is_url(s)).count();
        let checksum = t.checksum.as_ref().map(|c| job.expand(st, c)).transpose()?;
        let checksum = checksum.as_deref().map(fetch::parse_checksum).transpose()?;
        if (checksum.is_some() && urls == 0) || (urls > 0 && urls < sources.len()) {
            return Err(BuildError::Invalid(match checksum.is_some() && urls == 0 {
                true => "checksum can't be specified for non-HTTP(S) sources".into(),
                false => format!("{what}: URLs can't be added together with other sources"),
            }));
        }
        // Where the files come from: inline files, fetched ones, a stage, an image or the context.
        let heredocs = match (t.heredocs.is_empty(), urls > 0) {
            (false, _) => Some((self.heredoc_files(job, st, t, &sources)?, String::new())),
            (true, true) => {
                dest.extract = false;
                Some(self.fetched_files(job, &sources, checksum.as_deref()).await?)
            }
            (true, false) => None,
        };
        let (from, paths, digest) = match (&t.from, &heredocs) {
            (_, Some(h)) if urls > 0 => {
                let ps: Vec<Source> =
                    sources.iter().map(|u| Source::plain(fetch::file_name(u))).collect();
                (CopyFrom::Context(h.0 .0.clone()), ps, h.1.clone())
            }
            (_, Some(h)) => {
                let (ctx, ps) = (
                    h.0 .0.clone(),
                    sources
                        .iter()
                        .map(|s| Source::plain(s.trim_start_matches("<<")))
                        .collect::<Vec<_>>(),
                );
                let digest = context_digest(&ctx, &ps, &[], &self.files);
                (CopyFrom::Context(ctx), ps, digest)
            }
            (Some(f), None) => {
                let f = job.expand(st, f)?;
                let (layers, key) = match job.stage_named(&f, usize::MAX) {
                    Some(i) => {
                        let s = done.get(&i).ok_or_else(|| {
                            BuildError::Invalid(format!(
                                "COPY --from={f}: a stage must come before its use"
                            ))
                        })?;
                        (s.diff_ids.clone(), s.key.clone())
                    }
                    None => {
                        let credentials = self.credentials(job, &f);
                        let img = self.worker.image(&f, job.req.pull, &credentials).await?;
                        (img.layers, img.id)
                    }
                };
                let paths = sources
                    .iter()
                    .map(|s| {
                        let path = s.trim_start_matches('/').to_owned();
                        Source { below: below(s, &path), path, matched: false }
                    })
                    .collect();
                (CopyFrom::Layers(layers), paths, key)
            }
            (None, None) => {
                let context = job.req.context.clone();
                let mut paths = Vec::new();
                for s in &sources {
                    let found = transfer::expand_glob(&context, s)?;
                    if found.is_empty() {
                        return Err(BuildError::NotFound(format!(
                            "{what} failed: no source files were specified"
                        )));
                    }
                    let matched = s.contains(['*', '?', '[']);
                    paths.extend(found.into_iter().map(|path| Source {
                        below: below(s, &path),
                        path,
                        matched,
                    }));
                }
                let (ctx, ps, files) = (context.clone(), paths.clone(), self.files.clone());
                let exclude = dest.exclude.clone();
                let digest = tokio::task::spawn_blocking(move || {
                    context_digest(&ctx, &ps, &exclude, &files)
                })
                .await
                .map_err(|e| BuildError::Invalid(e.to_string()))?;
                (CopyFrom::Context(context), paths, digest)
            }
        };
        let created_by = format!("{what} {} {} # buildkit", sources.join(" "), dest_raw);
        st.chain(&[
            what,
            &step.text,
            &dest.path,
            &digest,
            &format!("{:?}{:?}", dest.chown, dest.chmod),
            &paths
                .iter()
                .map(|s| format!("{}>{:?}", s.path, s.below))
                .collect::<Vec<_>>()
                .join("\0"),
        ]);
        let (parents, worker) = (st.diff_ids.clone(), self.worker.clone());
        let copy = CopyStep { from, sources: paths, dest };
        let done = self
            .layer_step(job, st, created_by, move || {
                Box::pin(async move { worker.copy(&parents, copy).await })
            })
            .await;
        drop(heredocs);
        done
    }

    /// `ADD <url>…`: each fetched into a dir of its own; the dir and the
    /// digest of what was fetched.
    async fn fetched_files(
        &self,
        job: &Job<'_>,
        urls: &[String],
        checksum: Option<&str>,
    ) -> Result<(TempDir, String)> {
        if checksum.is_some() && urls.len() > 1 {
            return Err(BuildError::Invalid("ADD --checksum takes one URL".into()));
        }
        let dir = TempDir(self.work.join("fetched").join(hex::encode(rand::random::<[u8; 8]>())));
        std::fs::create_dir_all(&dir.0)
            .map_err(|source| BuildError::Io { context: "ADD".into(), source })?;
        let mut h = Sha256::new();
        for url in urls {
            let name = fetch::file_name(url);
            let digest = fetch::fetch(url, &dir.0, &name, checksum, &job.cancel).await?;
            h.update(format!("{name}\0{digest}\n").as_bytes());
        }
        Ok((dir, hex::encode(h.finalize())))
    }

    /// `COPY <<EOF /file`: each inline file written into a dir of its own
    /// (its variables expanded unless its name was quoted).
    fn heredoc_files(
        &self,
        job: &Job<'_>,
        st: &State,
        t: &Transfer,
        sources: &[String],
    ) -> Result<TempDir> {
        let dir = TempDir(self.work.join("heredocs").join(hex::encode(rand::random::<[u8; 8]>())));
        let io = |source| BuildError::Io { context: "COPY heredoc".into(), source };
        std::fs::create_dir_all(&dir.0).map_err(io)?;
        for s in sources {
            let name = s.strip_prefix("<<").ok_or_else(|| {
                BuildError::Invalid(format!(
                    "COPY {s}: a heredoc can't be copied together with context files"
                ))
            })?;
            let h =
                t.heredocs.iter().find(|h| h.name == name).ok_or_else(|| {
                    BuildError::Invalid(format!("COPY {s}: no heredoc of that name"))
                })?;
            let content = if h.expand { job.expand(st, &h.content)? } else { h.content.clone() };
            std::fs::write(dir.0.join(name), content).map_err(io)?;
        }
        Ok(dir)
    }
}

/// A dir removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Builder {
    /// A step that changes only the config. Recorded in the cache too, so a
    /// rebuild reports it cached, as dockerd's classic builder does.
    fn config_step(&self, job: &Job<'_>, st: &mut State, text: String) {
        st.chain(&[&text]);
        st.history(text, true);
        if job.use_cache && self.cache.get(&st.key, |_| true).is_some() {
            job.emit(Event::Cached { number: st.number });
        } else {
            self.cache.put(&st.key, None, st.created);
        }
    }
}

/// What COPY reads from the context, by content (no times, no owners).
/// The content a COPY from the context reads: its sources' but what
/// `exclude` leaves out (an excluded file's change is no reason to copy again).
fn context_digest(
    ctx: &std::path::Path,
    sources: &[Source],
    exclude: &[String],
    files: &FileDigests,
) -> String {
    let excluded = berth_dockerfile::ignore::Ignore::parse(&exclude.join("\n"));
    let mut h = Sha256::new();
    for s in sources {
        let p = &s.path;
        let name = p.rsplit('/').next().unwrap_or(p);
        if !exclude.is_empty() && s.left_out(&excluded, name) {
            continue;
        }
        let skip = |rel: &str| !exclude.is_empty() && s.leaves_out(&excluded, rel);
        let d = transfer::inside(ctx, p)
            .map(|hp| {
                crate::context::content_digest_without(&hp, files, &skip)
                    .unwrap_or_else(|_| "missing".into())
            })
            .unwrap_or_else(|| "outside".into());
        h.update(format!("{p}\0{d}\n").as_bytes());
    }
    hex::encode(h.finalize())
}

fn health(h: &Health) -> Result<berth_engine::model::HealthConfig> {
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
            Some(Command::Shell(s)) => vec!["CMD-SHELL".into(), s.clone()],
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
