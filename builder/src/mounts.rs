//! `RUN --mount=…`: BuildKit's mounts for one step, parsed and checked.
//! `cache` (kept between builds under the builder's own dir, never in the
//! image), `bind` (read-only, from the context, a stage or an image),
//! `tmpfs`, `secret` (a file on a tmpfs of its own, or an environment
//! variable, from what the client sent; never in the image); `ssh` (a
//! socket forwarded to the client's agent; skipped unless `required` when
//! the client forwards none, as BuildKit does).

use crate::{BuildError, Result};

/// A mount as a step gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    Cache {
        id: String,
        target: String,
        sharing: Sharing,
        readonly: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A host path inside the context, read-only.
    Bind {
        source: std::path::PathBuf,
        target: String,
    },
    /// Layers (a stage's or an image's), read-only, or their `sub_path`.
    Layers {
        layers: Vec<String>,
        sub_path: String,
        target: String,
    },
    Tmpfs {
        target: String,
        size: Option<String>,
    },
    /// A build secret: a read-only file at `target` (unless only `env`),
    /// and/or the environment variable `env`.
    Secret {
        target: Option<String>,
        env: Option<String>,
        data: crate::Secret,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A socket at `target` whose connections go to the client's agent.
    Ssh {
        target: String,
        agent: crate::SshSource,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl RunMount {
    pub fn target(&self) -> &str {
        match self {
            RunMount::Cache { target, .. }
            | RunMount::Bind { target, .. }
            | RunMount::Layers { target, .. }
            | RunMount::Tmpfs { target, .. }
            | RunMount::Ssh { target, .. } => target,
            RunMount::Secret { target, .. } => target.as_deref().unwrap_or(""),
        }
    }
}

/// A cache mount's `sharing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    /// One writer at a time (berth treats `private` so too).
    Locked,
}

/// A `--mount` value, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub typ: String,
    pub target: String,
    pub source: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub sharing: Option<String>,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub readonly: bool,
    pub rw: bool,
    pub size: Option<String>,
    pub required: bool,
    pub env: Option<String>,
}

fn bad(m: impl Into<String>) -> BuildError {
    BuildError::Invalid(m.into())
}

/// A mount's numeric option (`mode` in octal, `uid`/`gid` in decimal), or its default.
fn number(v: &Option<String>, radix: u32, default: u32, what: &str) -> Result<u32> {
    match v {
        Some(v) => u32::from_str_radix(v, radix).map_err(|_| bad(format!("invalid {what} {v:?}"))),
        None => Ok(default),
    }
}

/// Parses `type=cache,target=/root/.cache,…`.
pub fn parse(raw: &str) -> Result<Spec> {
    let mut s = Spec { typ: "bind".into(), ..Default::default() };
    for field in raw.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => {
                (k.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"').to_owned()))
            }
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let flag = |v: &Option<String>| !matches!(v.as_deref(), Some("false" | "0"));
        let value = |v: Option<String>| v.ok_or_else(|| bad(format!("--mount {k} needs a value")));
        match k.as_str() {
            "type" => s.typ = value(v)?,
            "target" | "dst" | "destination" => s.target = value(v)?,
            "source" | "src" => s.source = Some(value(v)?),
            "from" => s.from = Some(value(v)?),
            "id" => s.id = Some(value(v)?),
            "sharing" => s.sharing = Some(value(v)?),
            "mode" => s.mode = Some(value(v)?),
            "uid" => s.uid = Some(value(v)?),
            "gid" => s.gid = Some(value(v)?),
            "size" => s.size = Some(value(v)?),
            "readonly" | "ro" => s.readonly = flag(&v),
            "rw" | "readwrite" => s.rw = flag(&v),
            "required" => s.required = flag(&v),
            "env" => s.env = Some(value(v)?),
            other => return Err(bad(format!("unexpected key '{other}' in '{raw}'"))),
        }
    }
    if !matches!(s.typ.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
        return Err(bad(format!("unsupported mount type {:?}", s.typ)));
    }
    if s.target.is_empty() && !matches!(s.typ.as_str(), "secret" | "ssh") {
        return Err(bad(format!("--mount {raw}: a target is required")));
    }
    if s.target.split('/').any(|c| c == "..") {
        return Err(bad(format!("--mount {raw}: the target may not climb with '..'")));
    }
    Ok(s)
}

/// A secret mount, given the secret: its id defaults to the target's
/// name, its target to `/run/secrets/<id>` (none when only `env` is asked).
pub fn secret(
    s: &Spec,
    secrets: &std::collections::BTreeMap<String, crate::Secret>,
) -> Result<Option<RunMount>> {
    let id = match (&s.id, s.target.rsplit('/').next().filter(|n| !n.is_empty())) {
        (Some(id), _) => id.clone(),
        (None, Some(name)) => name.to_owned(),
        (None, None) => return Err(bad("a secret mount needs an id or a target")),
    };
    let Some(data) = secrets.get(&id) else {
        return match s.required {
            true => Err(bad(format!("secret {id} is required but no secret was given"))),
            false => Ok(None),
        };
    };
    let target = match (s.target.is_empty(), &s.env) {
        (false, _) => Some(s.target.clone()),
        (true, Some(_)) => None,
        (true, None) => Some(format!("/run/secrets/{id}")),
    };
    Ok(Some(RunMount::Secret {
        target,
        env: s.env.clone(),
        data: data.clone(),
        mode: number(&s.mode, 8, 0o400, "mode")?,
        uid: number(&s.uid, 10, 0, "uid")?,
        gid: number(&s.gid, 10, 0, "gid")?,
    }))
}

/// A cache mount's settings.
pub fn cache(s: &Spec) -> Result<RunMount> {
    if s.from.is_some() {
        return Err(bad("a cache mount seeded --from another stage is not supported by berth yet"));
    }
    Ok(RunMount::Cache {
        id: s.id.clone().unwrap_or_else(|| s.target.clone()),
        target: s.target.clone(),
        sharing: match s.sharing.as_deref() {
            None | Some("shared") => Sharing::Shared,
            Some("private" | "locked") => Sharing::Locked,
            Some(o) => {
                return Err(bad(format!("invalid sharing {o:?}: shared, private or locked")))
            }
        },
        readonly: s.readonly,
        mode: number(&s.mode, 8, 0o755, "mode")?,
        uid: number(&s.uid, 10, 0, "uid")?,
        gid: number(&s.gid, 10, 0, "gid")?,
    })
}

/// An ssh mount, given the agents the client forwards: `id` defaults to
/// `default`, the target to `/run/buildkit/ssh_agent.<n>` (`n`: its
/// place among the step's ssh mounts), mode 0600.
pub fn ssh(
    s: &Spec,
    n: usize,
    agents: &std::collections::BTreeMap<String, crate::SshSource>,
) -> Result<Option<RunMount>> {
    let id = s.id.clone().unwrap_or_else(|| "default".into());
    let Some(agent) = agents.get(&id) else {
        return match s.required {
            true => Err(bad(format!("no SSH key {id:?} forwarded from the client"))),
            false => Ok(None),
        };
    };
    let target = match s.target.is_empty() {
        true => format!("/run/buildkit/ssh_agent.{n}"),
        false => s.target.clone(),
    };
    Ok(Some(RunMount::Ssh {
        target,
        agent: agent.clone(),
        mode: number(&s.mode, 8, 0o600, "mode")?,
        uid: number(&s.uid, 10, 0, "uid")?,
        gid: number(&s.gid, 10, 0, "gid")?,
    }))
}

/// The ids of the ssh agents a Dockerfile's RUN steps mount (`default`
/// unless named).
pub fn ssh_ids(dockerfile: &str) -> Vec<String> {
    specs(dockerfile, "ssh")
        .into_iter()
        .map(|s| s.id.unwrap_or_else(|| "default".into()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The images a Dockerfile names as written (stage bases, `COPY --from`,
/// `--mount from=`), but stage names and what has variables in it.
pub fn image_names(dockerfile: &str) -> Vec<String> {
    let Ok(df) = berth_dockerfile::parse(dockerfile) else { return Vec::new() };
    let stages: Vec<&str> = df.stages.iter().filter_map(|s| s.name.as_deref()).collect();
    let mut names: Vec<String> = df.stages.iter().map(|s| s.base.clone()).collect();
    for l in df.stages.iter().flat_map(|s| s.steps.iter()) {
        match &l.instruction {
            berth_dockerfile::Instruction::Copy(t) => names.extend(t.from.clone()),
            berth_dockerfile::Instruction::Run(r) => {
                names.extend(r.mounts.iter().filter_map(|m| parse(m).ok()?.from))
            }
            _ => {}
        }
    }
    names.retain(|n| {
        n != "scratch"
            && !n.contains('$')
            && !stages.contains(&n.as_str())
            && n.parse::<usize>().is_err()
    });
    names.sort();
    names.dedup();
    names
}

/// The `--mount`s of one type in a Dockerfile's RUN steps.
fn specs(dockerfile: &str, typ: &str) -> Vec<Spec> {
    let Ok(df) = berth_dockerfile::parse(dockerfile) else { return Vec::new() };
    df.stages
        .iter()
        .flat_map(|s| s.steps.iter())
        .filter_map(|l| match &l.instruction {
            berth_dockerfile::Instruction::Run(r) => Some(r.mounts.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|raw| parse(raw).ok())
        .filter(|s| s.typ == typ)
        .collect()
}

/// The ids of the secrets a Dockerfile's RUN steps mount (what a client
/// holding them is asked for); a Dockerfile that does not parse has none.
pub fn secret_ids(dockerfile: &str) -> Vec<String> {
    let mut ids: Vec<String> = specs(dockerfile, "secret")
        .into_iter()
        .filter_map(|s| s.id.or_else(|| s.target.rsplit('/').next().map(str::to_owned)))
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_specs() {
        let s =
            parse("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1").unwrap();
        assert_eq!(
            cache(&s).unwrap(),
            RunMount::Cache {
                id: "pip".into(),
                target: "/root/.cache".into(),
                sharing: Sharing::Locked,
                readonly: false,
                mode: 0o700,
                uid: 1,
                gid: 0
            }
        );
        let b = parse("target=/src,source=app,ro").unwrap();
        assert_eq!((b.typ.as_str(), b.source.as_deref(), b.readonly), ("bind", Some("app"), true));
        assert!(parse("type=volume,target=/x").is_err());
        assert!(parse("type=cache").is_err());
        assert!(parse("type=bind,target=/a/../b").is_err());
        assert!(parse("type=cache,target=/x,bogus=1").is_err());
        assert!(parse("type=secret,id=tok").unwrap().target.is_empty());
    }

    #[test]
    fn the_secrets_a_dockerfile_mounts() {
        let df = "FROM a\nRUN --mount=type=secret,id=tok --mount=type=cache,target=/c x\n\
                  FROM b\nRUN --mount=type=secret,target=/run/secrets/key y\nRUN --mount=type=secret,id=tok z\n";
        assert_eq!(secret_ids(df), ["key", "tok"]);
        let df = "FROM a\nRUN --mount=type=ssh x\nRUN --mount=type=ssh,id=gh --mount=type=ssh y\n";
        assert_eq!(ssh_ids(df), ["default", "gh"]);
        let df = "ARG V=1\nFROM reg.example:5000/base:$V AS b\nFROM alpine AS a\nCOPY --from=b /x /x\n\
                  COPY --from=tools/img:2 /y /y\nRUN --mount=from=ghcr.io/o/c,target=/c true\nFROM scratch\n";
        assert_eq!(image_names(df), ["alpine", "ghcr.io/o/c", "tools/img:2"]);
        assert!(secret_ids("not a dockerfile").is_empty());
    }
}
