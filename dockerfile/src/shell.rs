//! Shell-like word processing, as Dockerfile instructions other than RUN,
//! CMD and ENTRYPOINT see it (BuildKit's `shell/lex.go`): `$VAR`,
//! `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
//! `${VAR+word}`, `${VAR:?message}`, single and double quotes, the
//! escape character; unquoted expansions split into words where words
//! are wanted.

/// Looks a variable up in the step's scope.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What went wrong expanding a word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// One word: quotes removed, variables expanded, whitespace kept.
pub fn word(s: &str, env: Lookup, escape: char) -> Result<String, ExpandError> {
    let mut p = Proc { chars: s.chars().collect(), pos: 0, escape, env };
    Ok(p.run(false)?.concat())
}

/// Words split at unquoted whitespace (and within unquoted expansions).
pub fn words(s: &str, env: Lookup, escape: char) -> Result<Vec<String>, ExpandError> {
    let mut p = Proc { chars: s.chars().collect(), pos: 0, escape, env };
    p.run(true)
}

/// Words split at unquoted whitespace, quotes and escapes kept (for
/// `name=value` lists, whose values are then expanded one by one).
pub fn raw_words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                continue;
            }
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (Some('\''), _) => {}
            (_, c) if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Proc<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: Lookup<'a>,
}

impl Proc<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    fn run(&mut self, split: bool) -> Result<Vec<String>, ExpandError> {
        let mut out: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut started = false;
        while let Some(c) = self.next() {
            if c == self.escape {
                match self.next() {
                    Some(n) => cur.push(n),
                    None => cur.push(c),
                }
                started = true;
            } else if c == '\'' {
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(ExpandError(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        )),
                    }
                }
                started = true;
            } else if c == '"' {
                self.double_quoted(&mut cur)?;
                started = true;
            } else if c == '$' {
                let value = self.dollar()?;
                if !split {
                    cur.push_str(&value);
                    continue;
                }
                // Unquoted: the value's words split.
                let mut parts = value.split(char::is_whitespace).peekable();
                let leading = value.starts_with(char::is_whitespace);
                if leading && started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
                while let Some(p) = parts.next() {
                    if !p.is_empty() {
                        cur.push_str(p);
                        started = true;
                    }
                    if parts.peek().is_some() && started {
                        out.push(std::mem::take(&mut cur));
                        started = false;
                    }
                }
            } else if split && c.is_whitespace() {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            } else {
                cur.push(c);
                started = true;
            }
        }
        if started || (!split && out.is_empty()) {
            out.push(cur);
        }
        Ok(out)
    }

    fn double_quoted(&mut self, cur: &mut String) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                Some('"') => return Ok(()),
                Some('$') => cur.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.next() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => cur.push(n),
                    Some(n) => {
                        cur.push(c);
                        cur.push(n);
                    }
                    None => cur.push(c),
                },
                Some(c) => cur.push(c),
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
            n.push(c);
            self.pos += 1;
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.peek() != Some('{') {
            let n = self.name();
            if n.is_empty() {
                return Ok("$".into());
            }
            return Ok((self.env)(&n).unwrap_or_default());
        }
        self.pos += 1;
        let n = self.name();
        if n.is_empty() {
            return Err(ExpandError("bad substitution: missing name in ${}".into()));
        }
        let value = (self.env)(&n);
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let op = self.next();
        if op == Some('}') && !colon {
            return Ok(value.unwrap_or_default());
        }
        let Some(op @ ('-' | '+' | '?')) = op else {
            return Err(ExpandError(format!(
                "unsupported modifier ({op:?}) in substitution of {n}"
            )));
        };
        // The operand, up to the matching brace, itself expanded.
        let start = self.pos;
        let mut depth = 0;
        loop {
            match self.next() {
                Some('}') if depth == 0 => break,
                Some('}') => depth -= 1,
                Some('{') if self.chars.get(self.pos.wrapping_sub(2)) == Some(&'$') => depth += 1,
                Some(c) if c == self.escape => self.pos += 1,
                Some(_) => {}
                None => return Err(ExpandError(format!("missing '}}' in substitution of {n}"))),
            }
        }
        let operand: String = self.chars[start..self.pos - 1].iter().collect();
        let operand = || word(&operand, self.env, self.escape);
        let set = match (&value, colon) {
            (Some(v), true) => !v.is_empty(),
            (Some(_), false) => true,
            (None, _) => false,
        };
        match op {
            '-' if set => Ok(value.unwrap_or_default()),
            '-' => operand(),
            '+' if set => operand(),
            '+' => Ok(String::new()),
            _ if set => Ok(value.unwrap_or_default()),
            _ => {
                let m = operand()?;
                Err(ExpandError(format!(
                    "{n}: {}",
                    if m.is_empty() { "is not allowed to be unset" } else { &m }
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("one".into()),
            "E" => Some(String::new()),
            "S" => Some("x y".into()),
            _ => None,
        }
    }

    fn w(s: &str) -> String {
        word(s, &env, '\\').unwrap()
    }

    #[test]
    fn variables_and_modifiers_expand() {
        assert_eq!(w("$A-${A}_$NONE."), "one-one_.");
        assert_eq!(w("${NONE:-def} ${E:-def} ${E-def} ${A:-def}"), "def def  one");
        assert_eq!(w("${A:+alt} ${E:+alt} ${E+alt} ${NONE+alt}"), "alt  alt ");
        assert_eq!(w("${NONE:-${A}x}"), "onex");
        assert_eq!(w("cost: $5 and $"), "cost:  and $", "$5 is a (positional) variable");
        assert!(word("${NONE:?must be set}", &env, '\\').unwrap_err().0.contains("must be set"));
        assert!(word("${A", &env, '\\').is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w(r#"'$A' "$A" \$A "a\"b" "c\d""#), r#"$A one $A a"b c\d"#);
        assert_eq!(word("`$A", &env, '`').unwrap(), "$A");
        assert!(word("'open", &env, '\\').is_err());
    }

    #[test]
    fn words_split_where_unquoted() {
        let ws = words("a  \"b c\" $S '' x$S", &env, '\\').unwrap();
        assert_eq!(ws, ["a", "b c", "x", "y", "", "xx", "y"]);
        assert_eq!(words("$NONE", &env, '\\').unwrap(), Vec::<String>::new());
    }

    #[test]
    fn raw_words_keep_quotes() {
        assert_eq!(
            raw_words(r#"a="x y" b=c\ d  e='f g'"#, '\\'),
            [r#"a="x y""#, r"b=c\ d", "e='f g'"]
        );
    }
}
