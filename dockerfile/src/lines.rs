//! A Dockerfile's text as logical lines: parser directives at the top,
//! comments dropped, continuations joined, heredocs read (BuildKit's
//! `parser.go` rules: a directive is only looked for before the first
//! comment, blank line or instruction; a comment or blank line inside a
//! continuation is skipped; a continuation line keeps its indentation).

use crate::ParseError;

/// One instruction's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where it starts, 1-based.
    pub number: usize,
    /// The instruction word, lower case (`run`, `copy`, …).
    pub command: String,
    /// The rest, continuations joined.
    pub rest: String,
    /// The heredocs it names, in order.
    pub heredocs: Vec<Heredoc>,
}

/// A `<<EOF` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// Its lines, each ending in a newline.
    pub content: String,
    /// Unquoted name: variables in it are expanded (by RUN's shell, or by
    /// COPY/ADD).
    pub expand: bool,
}

/// A Dockerfile's logical lines and directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub escape: char,
    /// `# syntax=` (berth serves Dockerfile 1.x itself and never fetches it).
    pub syntax: Option<String>,
    pub lines: Vec<Line>,
}

fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim().strip_prefix('#')?.trim();
    let (k, v) = body.split_once('=')?;
    let k = k.trim();
    let first = k.chars().next()?;
    (first.is_ascii_alphabetic() && k.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| (k.to_ascii_lowercase(), v.trim().to_owned()))
}

/// The line without its trailing escape (and whitespace after it), and
/// whether it had one.
fn continued(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(head) => (head, true),
        None => (line, false),
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The heredoc names in an instruction's rest: `<<EOF`, `<<-EOF`,
/// `<<"EOF"`, `<<'EOF'`; (name, expand, strip tabs).
fn heredoc_names(rest: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let mut s = rest;
    while let Some(i) = s.find("<<") {
        let mut after = &s[i + 2..];
        let strip = after.starts_with('-');
        if strip {
            after = &after[1..];
        }
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        let body = quote.map_or(after, |q| &after[q.len_utf8()..]);
        let name: String =
            body.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let closed = match quote {
            Some(q) => body[name.len()..].starts_with(q),
            None => true,
        };
        if !name.is_empty() && closed {
            out.push((name.clone(), quote.is_none(), strip));
        }
        s = &s[i + 2..];
    }
    out
}

/// Splits `text` into logical lines.
pub fn split(text: &str) -> Result<Parsed, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    // Directives, only at the very top.
    while i < raw.len() {
        let Some((k, v)) = directive(raw[i]) else { break };
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseError::at(
                            i + 1,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v),
            _ => {}
        }
        i += 1;
    }
    let mut lines = Vec::new();
    while i < raw.len() {
        let number = i + 1;
        let first = raw[i].trim_start();
        i += 1;
        if first.is_empty() || is_comment(first) {
            continue;
        }
        let (head, mut more) = continued(first, escape);
        let mut joined = head.to_owned();
        while more && i < raw.len() {
            let l = raw[i];
            i += 1;
            if is_comment(l) || l.trim().is_empty() {
                continue;
            }
            let (head, again) = continued(l, escape);
            joined.push_str(head);
            more = again;
        }
        let (word, rest) = match joined.split_once(|c: char| c.is_whitespace()) {
            Some((w, r)) => (w, r.trim_start()),
            None => (joined.as_str(), ""),
        };
        let command = word.to_ascii_lowercase();
        let mut heredocs = Vec::new();
        if matches!(command.as_str(), "run" | "copy" | "add") {
            for (name, expand, strip) in heredoc_names(rest) {
                let mut content = String::new();
                loop {
                    let Some(l) = raw.get(i) else {
                        return Err(ParseError::at(number, format!("unterminated heredoc {name}")));
                    };
                    i += 1;
                    let l = if strip { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                heredocs.push(Heredoc { name, content, expand });
            }
        }
        lines.push(Line { number, command, rest: rest.trim_end().to_owned(), heredocs });
    }
    Ok(Parsed { escape, syntax, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Line {
        let p = split(text).unwrap();
        assert_eq!(p.lines.len(), 1, "{p:?}");
        p.lines.into_iter().next().unwrap()
    }

    #[test]
    fn continuations_join_and_skip_comments_and_blank_lines() {
        let l = one(
            "RUN apt-get update && \\\n# a comment\n\n    apt-get install -y x \\  \n  && true\n",
        );
        assert_eq!(l.command, "run");
        assert_eq!(l.rest, "apt-get update &&     apt-get install -y x   && true");
        assert_eq!(l.number, 1);
    }

    #[test]
    fn directives_are_read_only_at_the_top() {
        let p = split("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n b\n").unwrap();
        assert_eq!(p.escape, '`');
        assert_eq!(p.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(p.lines[1].rest, "a  b");
        let p = split("\n# escape=`\nFROM x\n").unwrap();
        assert_eq!(p.escape, '\\', "after a blank line it is a comment");
        assert!(split("# escape=x\nFROM a").is_err());
    }

    #[test]
    fn heredocs_are_read_after_their_line() {
        let p = split("RUN <<EOF\necho hi\n  echo $X\nEOF\nCOPY <<-'A' /a\n\tone\n\tA\nCMD x\n")
            .unwrap();
        assert_eq!(p.lines.len(), 3);
        assert_eq!(p.lines[0].rest, "<<EOF");
        assert_eq!(p.lines[0].heredocs[0].content, "echo hi\n  echo $X\n");
        assert!(p.lines[0].heredocs[0].expand);
        let a = &p.lines[1].heredocs[0];
        assert_eq!((a.name.as_str(), a.content.as_str(), a.expand), ("A", "one\n", false));
        assert_eq!(p.lines[2].number, 8);
        assert!(split("RUN <<EOF\nno end\n").is_err());
    }

    #[test]
    fn words_are_case_insensitive_and_crlf_and_bom_are_dropped() {
        let l = one("\u{feff}from\tbusybox AS b\r\n");
        assert_eq!((l.command.as_str(), l.rest.as_str()), ("from", "busybox AS b"));
    }
}
