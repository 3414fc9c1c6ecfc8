//! build: a context dir (or a tar, or a lone Dockerfile, on stdin) sent to
//! berthd's `/build` with `.dockerignore` applied here first, as the docker
//! CLI does; the steps' progress printed as it comes; the image id kept
//! (`-q`, `--iidfile`). A failed RUN's exit code is the command's.

use crate::client::{query, Client};
use crate::Failure;
use berth_docker_api::progress::Message;
use berth_dockerfile::ignore::Ignore;
use hyper::Method;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (`name:tag`); may be repeated.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default: PATH/Dockerfile; `-` for stdin).
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// `NAME=VALUE`, or `NAME` to take it from the environment.
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// `KEY=VALUE` labels on the image.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    no_cache: bool,
    /// Pull the base images even if present.
    #[arg(long)]
    pull: bool,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// Write the image id to this file.
    #[arg(long)]
    iidfile: Option<String>,
    /// The RUN steps' network: default, host or none.
    #[arg(long, default_value = "default")]
    network: String,
    #[arg(long)]
    platform: Option<String>,
    /// auto, plain, tty or quiet.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// A secret for `RUN --mount=type=secret`: `id=NAME,src=FILE`,
    /// `id=NAME,env=VAR`, or `id=NAME` (the variable NAME, else the file NAME).
    #[arg(long)]
    secret: Vec<String>,
    /// An ssh agent for `RUN --mount=type=ssh`: `default` (`$SSH_AUTH_SOCK`),
    /// `default=SOCKET` or `ID=SOCKET`.
    #[arg(long)]
    ssh: Vec<String>,
    /// An entitlement berthd's `[builder]` grants: `security.insecure`
    /// (for `RUN --security=insecure`).
    #[arg(long)]
    allow: Vec<String>,
    /// Write the target's files instead of keeping an image: DIR,
    /// `type=local,dest=DIR`, `type=tar,dest=FILE` or `-` (a tar on stdout).
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// Push the image's tags after the build.
    #[arg(long)]
    push: bool,
    /// RUN steps' memory limit (`512m`, `1g`).
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// RUN steps' memory plus swap (`-1`: unlimited swap).
    #[arg(long)]
    memory_swap: Option<String>,
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    #[arg(long)]
    cpu_period: Option<u64>,
    #[arg(long)]
    cpu_quota: Option<i64>,
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// RUN steps' /dev/shm size (`128m`).
    #[arg(long)]
    shm_size: Option<String>,
    /// The context: a directory, or `-` for a tar (or a Dockerfile) on stdin.
    path: String,
}

fn pairs(items: &[String], from_env: bool) -> Result<BTreeMap<String, Option<String>>, Failure> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), Some(v.to_owned()))),
            None if from_env => Ok((i.clone(), std::env::var(i).ok())),
            None => Err(Failure::new(format!("invalid argument {i:?}: expected KEY=VALUE"))),
        })
        .collect()
}

/// Whether the bytes start a tar (or a compressed stream).
fn is_archive(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
        || b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || b.get(257..262) == Some(b"ustar")
}

/// The context as a tar (blocking), and the Dockerfile's name in it.
fn context(path: &str, file: Option<&str>) -> Result<(Vec<u8>, String), Failure> {
    let io = |what: String| move |e: std::io::Error| Failure::new(format!("Error: {what}: {e}"));
    let read_stdin = || {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map(|_| b).map_err(io("read stdin".into()))
    };
    if path == "-" {
        let input = read_stdin()?;
        if is_archive(&input) {
            return Ok((input, file.unwrap_or("Dockerfile").to_owned()));
        }
        // A lone Dockerfile: no context.
        let mut tar = tar::Builder::new(Vec::new());
        append(&mut tar, "Dockerfile", &input).map_err(io("tar".into()))?;
        return Ok((tar.into_inner().map_err(io("tar".into()))?, "Dockerfile".into()));
    }
    let root = PathBuf::from(path);
    if !root.is_dir() {
        return Err(Failure::new(format!("unable to prepare context: path {path:?} not found")));
    }
    // The Dockerfile: inside the context by its relative name, else added under a name of its own.
    let (inside, extra) = match file {
        Some("-") => (None, Some(read_stdin()?)),
        None => (Some("Dockerfile".to_owned()), None),
        Some(f) => {
            let p = Path::new(f);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            };
            match abs.canonicalize().ok().zip(root.canonicalize().ok()) {
                Some((f, r)) if f.starts_with(&r) => {
                    (Some(f.strip_prefix(&r).unwrap_or(&f).to_string_lossy().into_owned()), None)
                }
                _ => (None, Some(std::fs::read(&abs).map_err(io(format!("read {f}")))?)),
            }
        }
    };
    let ignore_text = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
    let ignore = Ignore::parse(&ignore_text);
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let keep = Keep { dockerfile: inside.as_deref(), ignore_file: extra.is_none() };
    walk(&mut tar, &root, "", &ignore, &keep).map_err(io("read the context".into()))?;
    let name = match (inside, extra) {
        (Some(n), _) => n,
        (None, Some(text)) => {
            // Added under a name of its own and kept from COPY by
            // `.dockerignore`, as the docker CLI does.
            let n = format!(".dockerfile.{:x}", std::process::id() as u64 * 0x9e37_79b9);
            append(&mut tar, &n, &text).map_err(io("tar".into()))?;
            let ignore = format!("{ignore_text}\n.dockerignore\n{n}\n");
            append(&mut tar, ".dockerignore", ignore.as_bytes()).map_err(io("tar".into()))?;
            n
        }
        (None, None) => unreachable!("a Dockerfile is inside or read"),
    };
    Ok((tar.into_inner().map_err(io("tar".into()))?, name))
}

/// `--secret id=NAME[,src=FILE|,env=VAR][,type=file|env]`.
fn secret(spec: &str) -> Result<berth_docker_api::build::BuildSecret, Failure> {
    use base64::Engine as _;
    let (mut id, mut src, mut env) = (None, None, None);
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("src" | "source", v)) => src = Some(v.to_owned()),
            Some(("env", v)) => env = Some(v.to_owned()),
            Some(("type", "file" | "env")) => {}
            _ => {
                return Err(Failure::new(format!(
                    "invalid --secret {spec:?}: unexpected {field:?}"
                )))
            }
        }
    }
    let id = id
        .or_else(|| src.clone())
        .or_else(|| env.clone())
        .ok_or_else(|| Failure::new(format!("invalid --secret {spec:?}: id=NAME is required")))?;
    let data = match (src, env) {
        (Some(f), _) => std::fs::read(&f)
            .map_err(|e| Failure::new(format!("Error: secret {id}: read {f}: {e}")))?,
        (None, Some(v)) => std::env::var(&v)
            .map_err(|_| Failure::new(format!("Error: secret {id}: no environment variable {v}")))?
            .into_bytes(),
        (None, None) => match std::env::var(&id) {
            Ok(v) => v.into_bytes(),
            Err(_) => std::fs::read(&id).map_err(|e| {
                Failure::new(format!("Error: secret {id}: no variable {id}, and read {id}: {e}"))
            })?,
        },
    };
    Ok(berth_docker_api::build::BuildSecret {
        id,
        data: base64::engine::general_purpose::STANDARD.encode(data),
    })
}

/// The Dockerfile of a directory context: `-f` (relative to the current
/// directory, as the docker CLI reads it; `-` for stdin) or DIR/Dockerfile.
fn dockerfile_text(dir: &str, file: Option<&str>) -> Result<String, Failure> {
    let path = match file {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::new(format!("Error: read stdin: {e}")))?;
            return Ok(text);
        }
        Some(f) => PathBuf::from(f),
        None => Path::new(dir).join("Dockerfile"),
    };
    if !Path::new(dir).is_dir() {
        return Err(Failure::new(format!("unable to prepare context: path {dir:?} not found")));
    }
    std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(format!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: {}: {e}",
            path.display()
        ))
    })
}

fn append(tar: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, body)
}

/// What is sent whatever `.dockerignore` says.
struct Keep<'a> {
    dockerfile: Option<&'a str>,
    /// `.dockerignore` itself (not when the CLI writes its own).
    ignore_file: bool,
}

/// Adds what `.dockerignore` keeps (the Dockerfile and `.dockerignore` always).
fn walk(
    tar: &mut tar::Builder<Vec<u8>>,
    dir: &Path,
    rel: &str,
    ignore: &Ignore,
    keep: &Keep,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if r == ".dockerignore" && !keep.ignore_file {
            continue;
        }
        let always = r == ".dockerignore" || Some(r.as_str()) == keep.dockerfile;
        let is_dir = e.file_type()?.is_dir();
        if ignore.excludes(&r) && !always && !(is_dir && ignore.has_exceptions()) {
            continue;
        }
        if !(ignore.excludes(&r) && is_dir) || always {
            tar.append_path_with_name(e.path(), &r)?;
        }
        if is_dir {
            walk(tar, &e.path(), &r, ignore, keep)?;
        }
    }
    Ok(())
}

pub async fn build(c: &Client, a: BuildArgs) -> Result<i32, Failure> {
    let agents = super::build_session::agents(&a.ssh)?;
    if !agents.is_empty() && a.path == "-" {
        return Err(Failure::new("--ssh needs a directory context, not -"));
    }
    let secrets = a.secret.iter().map(|s| secret(s)).collect::<Result<Vec<_>, _>>()?;
    if !secrets.is_empty() && a.path == "-" {
        return Err(Failure::new("--secret needs a directory context, not -"));
    }
    let output = a.output.as_deref().map(Output::parse).transpose()?;
    if a.push && (a.tags.is_empty() || output.is_some()) {
        return Err(Failure::new("--push needs a -t tag and no --output"));
    }
    if !matches!(a.progress.as_str(), "auto" | "plain" | "tty" | "quiet") {
        return Err(Failure::new(format!(
            "invalid progress mode {:?}: auto, plain, tty or quiet",
            a.progress
        )));
    }
    let quiet = a.quiet || a.progress == "quiet";
    let build_args = pairs(&a.build_args, true)?;
    let labels: BTreeMap<String, String> =
        pairs(&a.labels, false)?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect();
    let mut q: Vec<(&str, String)> = a.tags.iter().map(|t| ("t", t.clone())).collect();
    // A directory is synced by diff into a context berthd keeps, the
    // Dockerfile sent as the body; else (stdin, or a berthd that keeps
    // none) the context goes whole as a tar.
    let kept = match a.path.as_str() {
        "-" => None,
        dir => {
            let text = dockerfile_text(dir, a.file.as_deref())?;
            super::build_context::sync(c, Path::new(dir)).await?.map(|id| (id, text))
        }
    };
    // berthd answers a kept-context build with typed events, drawn here as BuildKit does.
    let drawn = kept.as_ref().map(|(_, text)| text.clone());
    let (body, content_type) = match kept {
        Some((id, dockerfile)) => {
            q.push(("berthcontext", id));
            if !agents.is_empty() {
                // A session that serves the agents, open while the build runs.
                q.push(("session", super::build_session::open(c, agents.clone()).await?));
            }
            let inputs = berth_docker_api::build::BuildInputs { dockerfile, secrets };
            (serde_json::to_vec(&inputs).unwrap_or_default(), "application/json")
        }
        None if !secrets.is_empty() => {
            return Err(Failure::new(
                "--secret: this berthd takes no secrets (it keeps no contexts)",
            ))
        }
        None => {
            let (path, file) = (a.path.clone(), a.file.clone());
            // Reading the context is blocking work.
            let (body, dockerfile) =
                tokio::task::spawn_blocking(move || context(&path, file.as_deref()))
                    .await
                    .map_err(|e| Failure::new(e.to_string()))??;
            q.push(("dockerfile", dockerfile));
            (body, "application/x-tar")
        }
    };
    q.push(("buildargs", serde_json::to_string(&build_args).unwrap_or_default()));
    q.push(("labels", serde_json::to_string(&labels).unwrap_or_default()));
    q.push(("networkmode", a.network.clone()));
    let size = |v: &Option<String>, what: &str| -> Result<Option<String>, Failure> {
        match v.as_deref() {
            None => Ok(None),
            Some("-1") => Ok(Some("-1".into())),
            Some(v) => crate::units::parse_bytes(v)
                .map(|b| Some(b.to_string()))
                .map_err(|e| Failure::new(format!("invalid argument {v:?} for {what}: {e}"))),
        }
    };
    let limits = [
        ("memory", size(&a.memory, "--memory")?),
        ("memswap", size(&a.memory_swap, "--memory-swap")?),
        ("shmsize", size(&a.shm_size, "--shm-size")?),
        ("cpushares", a.cpu_shares.map(|v| v.to_string())),
        ("cpuperiod", a.cpu_period.map(|v| v.to_string())),
        ("cpuquota", a.cpu_quota.map(|v| v.to_string())),
        ("cpusetcpus", a.cpuset_cpus.clone()),
    ];
    q.extend(limits.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    q.push(("rm", "1".into()));
    q.extend(a.allow.iter().map(|e| ("allow", e.clone())));
    for (k, v) in [("target", &a.target), ("platform", &a.platform)] {
        if let Some(v) = v {
            q.push((k, v.clone()));
        }
    }
    for (k, on) in [("nocache", a.no_cache), ("pull", a.pull), ("q", quiet)] {
        if on {
            q.push((k, "1".into()));
        }
    }
    let headers = [("Content-Type", content_type.to_owned())];
    let resp = c
        .checked(
            Method::POST,
            &format!("/build?{}", query(q)),
            &headers,
            crate::client::reader_body(std::io::Cursor::new(body)),
        )
        .await?;
    let id = match drawn {
        Some(dockerfile) => {
            let mode = super::build_progress::Mode::pick(&a.progress, quiet);
            events(resp.into_body(), super::build_progress::Progress::new(mode, dockerfile)).await?
        }
        None => classic(resp.into_body(), quiet).await?,
    };
    if let Some(o) = output {
        // The target's files, not an image: the image is taken apart and removed.
        let written = write_output(c, &id, &o).await;
        if a.tags.is_empty() {
            let _ = c.call(Method::DELETE, &format!("/images/{id}?noprune=0"), None).await;
        }
        return written.map(|()| 0);
    }
    if quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).map_err(|e| Failure::new(format!("Error: write {f}: {e}")))?;
    }
    if a.push {
        for t in &a.tags {
            super::transfer::push_reference(c, t).await?;
        }
    }
    Ok(0)
}

/// The classic stream (a berthd that keeps no contexts, or a context on
/// stdin): its text printed as it comes; the image id.
async fn classic(body: hyper::body::Incoming, quiet: bool) -> Result<String, Failure> {
    let mut id = None;
    let mut failure = None;
    crate::client::each_json(body, |m: Message| {
        if let Some(aux_id) = m.aux.as_ref().and_then(|x| x.id.clone()) {
            id = Some(aux_id);
        } else if let Some(d) = &m.error_detail {
            failure =
                Some(Failure { message: d.message.clone(), code: d.code.map_or(1, |c| c as i32) });
        } else if !m.error.is_empty() {
            failure = Some(Failure::new(m.error.clone()));
        } else if !quiet {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(m.stream.as_bytes()).and_then(|_| out.flush());
        }
        Ok(())
    })
    .await?;
    match failure {
        Some(f) => Err(f),
        None => id.ok_or_else(|| Failure::new("the build ended without an image")),
    }
}

/// berth's typed events, drawn as they come (the live view redrawn as time
/// passes too); the image id, or the failure with its report.
async fn events(
    body: hyper::body::Incoming,
    progress: super::build_progress::Progress,
) -> Result<String, Failure> {
    use berth_docker_api::build::BuildEvent;
    let progress = std::sync::Mutex::new(progress);
    let outcome = std::sync::Mutex::new(None);
    let reading = crate::client::each_json(body, |e: BuildEvent| {
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        p.event(&e);
        match e {
            BuildEvent::Built { id, .. } => {
                *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(Ok(id))
            }
            BuildEvent::Failed { message, code, step } => {
                let report = p.failure(&message, step);
                let failure = Failure { message: report, code: code.map_or(1, |c| c as i32) };
                *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(Err(failure));
            }
            _ => {}
        }
        Ok(())
    });
    let ticking = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            progress.lock().unwrap_or_else(|e| e.into_inner()).draw(false);
        }
    };
    tokio::select! {
        r = reading => r?,
        () = ticking => {}
    }
    progress.lock().unwrap_or_else(|e| e.into_inner()).draw(true);
    let outcome = outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    outcome.unwrap_or_else(|| Err(Failure::new("the build ended without an image")))
}

/// Where `--output` writes the target's files.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Output {
    /// A directory.
    Local(PathBuf),
    /// A tar file; `None`: standard output.
    Tar(Option<PathBuf>),
}

impl Output {
    fn parse(s: &str) -> Result<Self, Failure> {
        if s == "-" {
            return Ok(Output::Tar(None));
        }
        if !s.contains('=') {
            return Ok(Output::Local(s.into()));
        }
        let mut kind = None;
        let mut dest = None;
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("type", t)) => kind = Some(t.to_owned()),
                Some(("dest", d)) => dest = Some(d.to_owned()),
                _ => return Err(Failure::new(format!("invalid --output field {field:?}"))),
            }
        }
        match (kind.as_deref(), dest) {
            (Some("local"), Some(d)) => Ok(Output::Local(d.into())),
            (Some("tar"), Some(d)) if d == "-" => Ok(Output::Tar(None)),
            (Some("tar"), Some(d)) => Ok(Output::Tar(Some(d.into()))),
            (Some("tar"), None) => Ok(Output::Tar(None)),
            (Some("local"), None) => Err(Failure::new("--output type=local needs dest=")),
            (t, _) => Err(Failure::new(format!(
                "--output type {:?} is not supported by berth build: local or tar",
                t.unwrap_or("")
            ))),
        }
    }
}

/// The image's filesystem, through a container that never runs.
async fn write_output(c: &Client, id: &str, o: &Output) -> Result<(), Failure> {
    use berth_docker_api::container::{Config, CreateRequest, CreateResponse};
    let body = CreateRequest {
        config: Config {
            image: id.to_owned(),
            cmd: Some(vec!["berth-output".into()]),
            ..Default::default()
        },
        ..Default::default()
    };
    let made: CreateResponse =
        c.json(Method::POST, "/containers/create", Some(crate::client::json_body(&body))).await?;
    let exported = async {
        let path = format!("/containers/{}/export", made.id);
        let resp = c.checked(Method::GET, &path, &[], crate::client::empty()).await?;
        match o {
            Output::Tar(file) => {
                let file = file.as_ref().map(|f| f.display().to_string());
                super::archive::write_out(resp.into_body(), file.as_deref()).await
            }
            Output::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Failure::new(format!("Error: create {}: {e}", dir.display())))?;
                super::cp::extract_into(resp.into_body(), dir).await
            }
        }
    }
    .await;
    let _ = c.call(Method::DELETE, &format!("/containers/{}?force=1", made.id), None).await;
    exported
}
