//! Each logical line as a typed instruction (BuildKit's
//! `instructions/parse.go`): flags parsed and checked, exec (JSON) or
//! shell form told apart, words left unexpanded for the builder.

use crate::lines::{Heredoc, Line};
use crate::ParseError;

/// An instruction and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: usize,
    /// `COMMAND rest` as written (continuations joined), for history and progress.
    pub text: String,
    pub instruction: Instruction,
}

/// A command: exec form (`["a", "b"]`) or shell form (run by the stage's SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// `RUN [--mount=…] [--network=…] [--security=…] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: Command,
    /// Each `--mount`'s value, as written.
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// COPY and ADD: sources (context paths, globs, URLs or heredoc names) to a destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transfer {
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    /// Inline files named among the sources.
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK` options as written, and its command (`None` for NONE).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
    pub command: Option<Command>,
}

/// A Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    /// Raw `name=value` pairs (both still to expand).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    /// Names and raw defaults.
    Arg(Vec<(String, Option<String>)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    StopSignal(String),
    Copy(Transfer),
    Add(Transfer),
    Healthcheck(Health),
    /// The trigger instruction, as written.
    OnBuild(String),
    Maintainer(String),
}

fn err(line: &Line, m: impl Into<String>) -> ParseError {
    ParseError::at(line.number, m)
}

/// Flags as written: names and values (`--link` has none).
type Flags = Vec<(String, Option<String>)>;

/// Leading `--name[=value]` flags, and what follows them.
fn flags<'a>(line: &Line, rest: &'a str, allowed: &[&str]) -> Result<(Flags, &'a str), ParseError> {
    let mut out = Vec::new();
    let mut s = rest.trim_start();
    while let Some(f) = s.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (word, after) = f.split_at(end);
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (word, None),
        };
        if !allowed.contains(&name) {
            return Err(err(line, format!("unknown flag: {name}")));
        }
        out.push((name.to_owned(), value));
        s = after.trim_start();
    }
    Ok((out, s))
}

/// The one value a flag must have.
fn value(line: &Line, name: &str, v: Option<String>) -> Result<String, ParseError> {
    v.ok_or_else(|| err(line, format!("flag --{name} needs a value")))
}

fn boolean(line: &Line, name: &str, v: Option<String>) -> Result<bool, ParseError> {
    match v.as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(o) => Err(err(line, format!("expecting boolean value for flag {name}, not: {o}"))),
    }
}

/// A JSON array of strings, if the text is one.
fn json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    t.starts_with('[').then(|| serde_json::from_str::<Vec<String>>(t).ok()).flatten()
}

fn command(rest: &str) -> Command {
    match json_array(rest) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(rest.to_owned()),
    }
}

/// `name=value …`, or the legacy `name value` (one pair).
fn pairs(
    line: &Line,
    rest: &str,
    escape: char,
    what: &str,
) -> Result<Vec<(String, String)>, ParseError> {
    let words = crate::shell::raw_words(rest, escape);
    if words.is_empty() {
        return Err(err(line, format!("{what} requires at least one argument")));
    }
    if !words[0].contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| err(line, format!("{what} must have two arguments")))?;
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(err(line, format!("{what} names can not be blank: {w:?}"))),
        })
        .collect()
}

fn single(line: &Line, rest: &str, what: &str) -> Result<String, ParseError> {
    if rest.trim().is_empty() {
        return Err(err(line, format!("{what} requires exactly one argument")));
    }
    Ok(rest.trim().to_owned())
}

fn transfer(line: &Line, rest: &str, escape: char, add: bool) -> Result<Transfer, ParseError> {
    let allowed: &[&str] = if add {
        &["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", "parents"]
    } else {
        &["from", "chown", "chmod", "link", "parents", "exclude"]
    };
    let (fl, rest) = flags(line, rest, allowed)?;
    let mut t = Transfer { heredocs: line.heredocs.clone(), ..Default::default() };
    for (n, v) in fl {
        match n.as_str() {
            "from" => t.from = Some(value(line, &n, v)?),
            "chown" => t.chown = Some(value(line, &n, v)?),
            "chmod" => t.chmod = Some(value(line, &n, v)?),
            "checksum" => t.checksum = Some(value(line, &n, v)?),
            "exclude" => t.exclude.push(value(line, &n, v)?),
            "link" => t.link = boolean(line, &n, v)?,
            "parents" => t.parents = boolean(line, &n, v)?,
            _ => t.keep_git_dir = boolean(line, &n, v)?,
        }
    }
    let mut words = json_array(rest).unwrap_or_else(|| crate::shell::raw_words(rest, escape));
    let what = if add { "ADD" } else { "COPY" };
    if words.len() < 2 {
        return Err(err(
            line,
            format!("{what} requires at least two arguments, but only {} provided", words.len()),
        ));
    }
    t.dest = words.pop().unwrap_or_default();
    // A heredoc source is named by its marker, `<<EOF` or `<<-"EOF"`.
    t.sources = words
        .into_iter()
        .map(|w| match t.heredocs.iter().find(|h| w.starts_with("<<") && w.contains(&h.name)) {
            Some(h) => format!("<<{}", h.name),
            None => w,
        })
        .collect();
    Ok(t)
}

fn health(line: &Line, rest: &str) -> Result<Health, ParseError> {
    let allowed = ["interval", "timeout", "start-period", "start-interval", "retries"];
    let (fl, rest) = flags(line, rest, &allowed)?;
    let mut h = Health::default();
    for (n, v) in fl {
        let v = Some(value(line, &n, v)?);
        match n.as_str() {
            "interval" => h.interval = v,
            "timeout" => h.timeout = v,
            "start-period" => h.start_period = v,
            "start-interval" => h.start_interval = v,
            _ => h.retries = v,
        }
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if cmd.trim().is_empty() => Ok(h),
        "NONE" => Err(err(line, "HEALTHCHECK NONE takes no arguments")),
        "CMD" if !cmd.trim().is_empty() => {
            h.command = Some(command(cmd.trim()));
            Ok(h)
        }
        _ => Err(err(line, "Unknown type for healthcheck command: expected CMD or NONE")),
    }
}

/// Parses one logical line.
pub fn parse(line: &Line, escape: char) -> Result<Located, ParseError> {
    let rest = line.rest.as_str();
    let text = format!("{} {}", line.command.to_ascii_uppercase(), rest).trim_end().to_owned();
    let instruction = match line.command.as_str() {
        "from" => {
            let (fl, rest) = flags(line, rest, &["platform"])?;
            let platform = fl.into_iter().next().map(|(n, v)| value(line, &n, v)).transpose()?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [image] => Instruction::From { image: image.to_string(), name: None, platform },
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => Instruction::From {
                    image: image.to_string(),
                    name: Some(name.to_ascii_lowercase()),
                    platform,
                },
                _ => return Err(err(line, "FROM requires either one or three arguments")),
            }
        }
        "run" => {
            let (fl, rest) = flags(line, rest, &["mount", "network", "security"])?;
            let mut run = Run {
                command: Command::Shell(String::new()),
                mounts: vec![],
                network: None,
                security: None,
            };
            for (n, v) in fl {
                let v = value(line, &n, v)?;
                match n.as_str() {
                    "mount" => run.mounts.push(v),
                    "network" => run.network = Some(v),
                    _ => run.security = Some(v),
                }
            }
            if rest.trim().is_empty() {
                return Err(err(line, "RUN requires at least one argument"));
            }
            run.command = match line.heredocs.as_slice() {
                // `RUN <<EOF`: the document is the script.
                [h] if rest
                    .trim()
                    .trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(['"', '\''])
                    == h.name =>
                {
                    Command::Shell(h.content.clone())
                }
                // `RUN cmd <<EOF`: the shell reads the documents itself.
                [] => command(rest),
                docs => Command::Shell(
                    docs.iter()
                        .fold(rest.to_owned(), |s, h| format!("{s}\n{}{}", h.content, h.name)),
                ),
            };
            Instruction::Run(run)
        }
        "cmd" => Instruction::Cmd(command(rest)),
        "entrypoint" => Instruction::Entrypoint(command(rest)),
        "shell" => Instruction::Shell(
            json_array(rest)
                .ok_or_else(|| err(line, "SHELL requires the arguments to be in JSON form"))?,
        ),
        "env" => Instruction::Env(pairs(line, rest, escape, "ENV")?),
        "label" => Instruction::Label(pairs(line, rest, escape, "LABEL")?),
        "arg" => {
            let words = crate::shell::raw_words(rest, escape);
            if words.is_empty() {
                return Err(err(line, "ARG requires at least one argument"));
            }
            Instruction::Arg(
                words
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                        None => (w, None),
                    })
                    .collect(),
            )
        }
        "expose" => Instruction::Expose(crate::shell::raw_words(rest, escape)),
        "volume" => Instruction::Volume(
            json_array(rest).unwrap_or_else(|| crate::shell::raw_words(rest, escape)),
        ),
        "user" => Instruction::User(single(line, rest, "USER")?),
        "workdir" => Instruction::Workdir(single(line, rest, "WORKDIR")?),
        "stopsignal" => Instruction::StopSignal(single(line, rest, "STOPSIGNAL")?),
        "copy" => Instruction::Copy(transfer(line, rest, escape, false)?),
        "add" => Instruction::Add(transfer(line, rest, escape, true)?),
        "healthcheck" => Instruction::Healthcheck(health(line, rest)?),
        "onbuild" => {
            let inner = rest.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER" | "") {
                return Err(err(line, format!("{inner} isn't allowed as an ONBUILD trigger")));
            }
            Instruction::OnBuild(rest.to_owned())
        }
        "maintainer" => Instruction::Maintainer(single(line, rest, "MAINTAINER")?),
        other => {
            return Err(err(line, format!("unknown instruction: {}", other.to_ascii_uppercase())))
        }
    };
    Ok(Located { line: line.number, text, instruction })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Instruction, ParseError> {
        let parsed = crate::lines::split(text)?;
        parse(&parsed.lines[0], parsed.escape).map(|l| l.instruction)
    }

    #[test]
    fn from_run_cmd_forms() {
        assert_eq!(
            p("FROM --platform=linux/amd64 alpine:3 AS Build").unwrap(),
            Instruction::From {
                image: "alpine:3".into(),
                name: Some("build".into()),
                platform: Some("linux/amd64".into())
            }
        );
        assert!(p("FROM a b").is_err());
        let Instruction::Run(r) =
            p("RUN --mount=type=cache,target=/c --network=none echo hi").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (r.mounts, r.network, r.command),
            (
                vec!["type=cache,target=/c".to_string()],
                Some("none".into()),
                Command::Shell("echo hi".into())
            )
        );
        assert_eq!(
            p(r#"CMD ["a", "b c"]"#).unwrap(),
            Instruction::Cmd(Command::Exec(vec!["a".into(), "b c".into()]))
        );
        assert_eq!(p("CMD [oops").unwrap(), Instruction::Cmd(Command::Shell("[oops".into())));
        assert!(p("RUN --bogus x").unwrap_err().message.contains("unknown flag: bogus"));
        assert!(p("FROBNICATE x").unwrap_err().message.contains("unknown instruction: FROBNICATE"));
    }

    #[test]
    fn run_heredocs() {
        let Instruction::Run(r) = p("RUN <<EOF\necho a\necho b\nEOF\n").unwrap() else { panic!() };
        assert_eq!(r.command, Command::Shell("echo a\necho b\n".into()));
        let Instruction::Run(r) = p("RUN cat <<EOF > /x\nhi\nEOF\n").unwrap() else { panic!() };
        assert_eq!(r.command, Command::Shell("cat <<EOF > /x\nhi\nEOF".into()));
    }

    #[test]
    fn env_label_arg_pairs() {
        assert_eq!(
            p(r#"ENV A="x y" B=c\ d"#).unwrap(),
            Instruction::Env(vec![("A".into(), r#""x y""#.into()), ("B".into(), r"c\ d".into())])
        );
        assert_eq!(p("ENV A b c").unwrap(), Instruction::Env(vec![("A".into(), "b c".into())]));
        assert!(p("ENV =x").is_err());
        assert_eq!(
            p("ARG A B=2").unwrap(),
            Instruction::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))])
        );
    }

    #[test]
    fn copy_and_add_flags_and_sources() {
        let Instruction::Copy(t) =
            p("COPY --from=build --chown=app:app --chmod=755 a b* /dst/").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (t.from.as_deref(), t.chown.as_deref(), t.chmod.as_deref()),
            (Some("build"), Some("app:app"), Some("755"))
        );
        assert_eq!((t.sources, t.dest), (vec!["a".to_string(), "b*".into()], "/dst/".to_string()));
        let Instruction::Copy(t) = p(r#"COPY ["a b", "/c"]"#).unwrap() else { panic!() };
        assert_eq!(t.sources, ["a b"]);
        let Instruction::Copy(t) = p("COPY <<EOF /f\nhello\nEOF\n").unwrap() else { panic!() };
        assert_eq!((t.sources[0].as_str(), t.heredocs[0].content.as_str()), ("<<EOF", "hello\n"));
        assert!(p("COPY onlyone").is_err());
        assert!(p("ADD --from=x a b").is_err(), "ADD has no --from");
    }

    #[test]
    fn healthcheck_and_onbuild() {
        let Instruction::Healthcheck(h) =
            p("HEALTHCHECK --interval=5s --retries=3 CMD curl -f x").unwrap()
        else {
            panic!()
        };
        assert_eq!((h.interval.as_deref(), h.retries.as_deref()), (Some("5s"), Some("3")));
        assert_eq!(h.command, Some(Command::Shell("curl -f x".into())));
        assert_eq!(p("HEALTHCHECK NONE").unwrap(), Instruction::Healthcheck(Health::default()));
        assert!(p("HEALTHCHECK WHAT").is_err());
        assert!(p("ONBUILD FROM x").is_err());
        assert_eq!(p("ONBUILD RUN x").unwrap(), Instruction::OnBuild("RUN x".into()));
    }
}
