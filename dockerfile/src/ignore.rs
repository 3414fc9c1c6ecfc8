//! `.dockerignore`: Docker's pattern rules (moby's patternmatcher). Each
//! line is a pattern, cleaned, a leading `/` dropped; `*` and `?` stay
//! within one path element, `**` spans any number of them, `[…]` is a
//! class, `\` escapes; a `!` line is an exception to the lines before it;
//! the last matching line decides. A path is excluded when it, or a
//! directory above it, matches.

/// The patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Self {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exception, p) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            let cleaned = clean(p);
            if cleaned.is_empty() {
                continue;
            }
            patterns.push((exception, cleaned.split('/').map(str::to_owned).collect()));
        }
        Self { patterns }
    }

    /// Whether `path` (relative, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        let mut excluded = false;
        for (exception, pat) in &self.patterns {
            // The path itself or any directory above it.
            let hit = (1..=parts.len()).any(|n| matches(pat, &parts[..n]));
            if hit {
                excluded = !exception;
            }
        }
        excluded
    }

    /// Whether an exception could re-include something under `dir` (so
    /// an excluded directory must still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|(e, _)| *e)
    }
}

fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// Pattern elements against path elements.
fn matches(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|i| matches(rest, &path[i..])),
        Some((p, rest)) => match path.split_first() {
            Some((first, more)) => element(p.as_bytes(), first.as_bytes()) && matches(rest, more),
            None => false,
        },
    }
}

/// One element against a glob (`*`, `?`, `[…]`, `\`).
pub fn element(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| element(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && element(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|c| *c == b']') else {
                return s.first() == Some(&b'[') && element(rest, &s[1..]);
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let Some(&c) = s.first() else { return false };
            let (negate, class) = match class.first() {
                Some(b'^') | Some(b'!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && element(after, &s[1..])
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            s.first() == Some(&rest[0]) && element(&rest[1..], &s[1..])
        }
        Some((c, rest)) => s.first() == Some(c) && element(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_s_rules() {
        let i = Ignore::parse(
            "# comment\n*.log\n/tmp\nnode_modules\n**/*.bak\n!keep.log\ndocs/[a-c]*.md\n",
        );
        assert!(i.excludes("a.log") && !i.excludes("keep.log"));
        assert!(!i.excludes("sub/a.log"), "* stays in the top element");
        assert!(i.excludes("tmp/x/y") && i.excludes("node_modules/pkg/index.js"));
        assert!(i.excludes("a/b/c.bak") && i.excludes("c.bak"));
        assert!(i.excludes("docs/b1.md") && !i.excludes("docs/d1.md"));
        assert!(!i.excludes("src/main.rs"));
        let j = Ignore::parse("*\n!src\n");
        assert!(j.excludes("Dockerfile") && !j.excludes("src/a.rs") && j.has_exceptions());
    }

    #[test]
    fn globs() {
        assert!(element(b"a?c", b"abc") && !element(b"a?c", b"ac"));
        assert!(element(b"[!a]x", b"bx") && !element(b"[!a]x", b"ax"));
        assert!(element(br"\*", b"*") && !element(br"\*", b"a"));
    }
}
