//! A Dockerfile as its global ARGs (those before the first FROM, which
//! FROM lines may use) and its stages.

use crate::instruction::{Instruction, Located};
use crate::ParseError;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    /// ARGs before the first FROM: names and raw defaults.
    pub args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

/// `FROM base [AS name]` and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    /// The base as written (global ARGs still to expand).
    pub base: String,
    pub platform: Option<String>,
    pub from: Located,
    pub steps: Vec<Located>,
}

impl Dockerfile {
    /// The stage a `--target` or `--from` names: by name (case-insensitive)
    /// or index.
    pub fn stage(&self, key: &str) -> Option<&Stage> {
        let key = key.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(&key))
            .or_else(|| key.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }
}

/// Groups instructions into stages.
pub fn group(instructions: Vec<Located>, escape: char) -> Result<Dockerfile, ParseError> {
    let mut args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for l in instructions {
        match (&l.instruction, stages.last_mut()) {
            (Instruction::From { image, name, platform }, _) => {
                if let Some(n) = name {
                    if stages.iter().any(|s| s.name.as_ref() == Some(n)) {
                        return Err(ParseError::at(l.line, format!("duplicate stage name {n:?}")));
                    }
                    if n.parse::<usize>().is_ok() {
                        return Err(ParseError::at(
                            l.line,
                            format!("invalid stage name {n:?}, cannot be a number"),
                        ));
                    }
                }
                stages.push(Stage {
                    index: stages.len(),
                    name: name.clone(),
                    base: image.clone(),
                    platform: platform.clone(),
                    from: l.clone(),
                    steps: Vec::new(),
                });
            }
            (Instruction::Arg(a), None) => args.extend(a.iter().cloned()),
            (_, None) => return Err(ParseError::at(l.line, "no build stage in current context")),
            (_, Some(s)) => s.steps.push(l),
        }
    }
    if stages.is_empty() {
        return Err(ParseError::at(1, "file with no instructions"));
    }
    Ok(Dockerfile { escape, args, stages })
}

#[cfg(test)]
mod tests {
    #[test]
    fn global_args_then_stages() {
        let d = crate::parse("ARG V=1\nFROM a:$V AS one\nRUN x\nFROM one\nCOPY --from=one /a /b\n")
            .unwrap();
        assert_eq!(d.args, [("V".to_string(), Some("1".to_string()))]);
        assert_eq!(d.stages.len(), 2);
        assert_eq!((d.stages[0].base.as_str(), d.stages[0].steps.len()), ("a:$V", 1));
        assert_eq!(d.stage("ONE").unwrap().index, 0);
        assert_eq!(d.stage("1").unwrap().base, "one");
        assert!(d.stage("2").is_none());
    }

    #[test]
    fn bad_shapes() {
        assert!(crate::parse("RUN x\n").unwrap_err().message.contains("no build stage"));
        assert!(crate::parse("# only a comment\n").is_err());
        assert!(crate::parse("FROM a AS x\nFROM b AS x\n").is_err());
        assert!(crate::parse("FROM a AS 1\n").is_err());
    }
}
