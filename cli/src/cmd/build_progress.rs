//! `berth build`'s progress, drawn from berthd's typed build events as
//! BuildKit draws its own, on standard error: `plain` prints `#N` lines as
//! they come (a step's header, its output with the seconds since it
//! started, `CACHED` or `DONE 1.2s`; stages that run at once interleave,
//! each line naming its step), `tty` redraws a view in place (a line per
//! step with its time, `CACHED` marks, the last lines of running steps).
//! A failed step is reported with its last output and the Dockerfile's
//! lines around it.

use berth_docker_api::build::BuildEvent;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Tty,
    Quiet,
}

impl Mode {
    /// `auto` is `tty` on a terminal, else `plain`.
    pub fn pick(progress: &str, quiet: bool) -> Self {
        use std::io::IsTerminal;
        match progress {
            _ if quiet => Mode::Quiet,
            "quiet" => Mode::Quiet,
            "plain" => Mode::Plain,
            "tty" => Mode::Tty,
            _ if std::io::stderr().is_terminal() => Mode::Tty,
            _ => Mode::Plain,
        }
    }
}

/// Output lines kept per step: the view shows the last few, a failure more.
const KEPT_LINES: usize = 10;
const SHOWN_LINES: usize = 6;

#[derive(Debug)]
struct Step {
    label: String,
    text: String,
    line: usize,
    started: Instant,
    took: Option<Duration>,
    cached: bool,
    output: Vec<String>,
}

/// The build as it goes.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    dockerfile: String,
    started: Instant,
    total: usize,
    steps: BTreeMap<usize, Step>,
    /// Lines the tty view drew last (moved over at the next draw).
    drawn: usize,
    last_draw: Option<Instant>,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Progress {
    pub fn new(mode: Mode, dockerfile: String) -> Self {
        Progress {
            mode,
            dockerfile,
            started: Instant::now(),
            total: 0,
            steps: BTreeMap::new(),
            drawn: 0,
            last_draw: None,
        }
    }

    fn plain(&self, text: &str) {
        if self.mode == Mode::Plain {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
        }
    }

    /// Takes one event.
    pub fn event(&mut self, e: &BuildEvent) {
        match e {
            BuildEvent::Step { number, total, label, text, line } => {
                self.total = *total;
                self.plain(&format!("#{number} [{label}] {text}\n"));
                self.steps.insert(
                    *number,
                    Step {
                        label: label.clone(),
                        text: text.clone(),
                        line: *line,
                        started: Instant::now(),
                        took: None,
                        cached: false,
                        output: Vec::new(),
                    },
                );
            }
            BuildEvent::Cached { number } => {
                self.plain(&format!("#{number} CACHED\n"));
                if let Some(s) = self.steps.get_mut(number) {
                    s.cached = true;
                }
            }
            BuildEvent::Output { number, text, .. } => {
                if let Some(s) = self.steps.get_mut(number) {
                    let at = s.started.elapsed().as_secs_f64();
                    let line = format!("#{number} {at:.3} {text}\n");
                    s.output.push(text.clone());
                    if s.output.len() > KEPT_LINES {
                        s.output.remove(0);
                    }
                    self.plain(&line);
                }
            }
            BuildEvent::Done { number, .. } => {
                if let Some(s) = self.steps.get_mut(number) {
                    let took = s.started.elapsed();
                    s.took = Some(took);
                    let done = if s.cached {
                        String::new()
                    } else {
                        format!("#{number} DONE {}\n", secs(took))
                    };
                    self.plain(&format!("{done}\n"));
                }
            }
            BuildEvent::Warning { text } => self.plain(&format!("WARNING: {text}\n")),
            BuildEvent::Built { id, tags } => {
                let n = self.total + 1;
                let mut t = format!("#{n} exporting to image\n#{n} writing image {id} done\n");
                for tag in tags {
                    t.push_str(&format!("#{n} naming to {tag} done\n"));
                }
                t.push_str(&format!("#{n} DONE 0.0s\n"));
                self.plain(&t);
            }
            BuildEvent::Failed { .. } => {}
        }
        self.draw(false);
    }

    /// Redraws the tty view (at most every 100 ms unless `now`).
    pub fn draw(&mut self, now: bool) {
        if self.mode != Mode::Tty {
            return;
        }
        if !now && self.last_draw.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let width = crate::tty::size(&std::io::stderr()).map_or(80, |(_, c)| c as usize).max(40);
        let done = self.steps.values().filter(|s| s.took.is_some()).count();
        let mut lines = vec![format!(
            "[+] Building {} ({done}/{})",
            secs(self.started.elapsed()),
            self.total.max(self.steps.len())
        )];
        for s in self.steps.values() {
            let time = secs(s.took.unwrap_or_else(|| s.started.elapsed()));
            let mark = if s.cached { "CACHED " } else { "" };
            let head: String = format!(" => {mark}[{}] {}", s.label, s.text);
            let room = width.saturating_sub(time.len() + 2);
            let head: String = head.chars().take(room).collect();
            let pad = width.saturating_sub(head.chars().count() + time.len() + 1);
            lines.push(format!("{head}{}{time}", " ".repeat(pad)));
            if s.took.is_none() {
                for o in s.output.iter().rev().take(SHOWN_LINES).rev() {
                    lines.push(format!(" => => # {o}").chars().take(width - 1).collect());
                }
            }
        }
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for l in &lines {
            out.push_str("\x1b[2K");
            out.push_str(l);
            out.push('\n');
        }
        // Lines the last view had beyond this one are cleared.
        for _ in lines.len()..self.drawn {
            out.push_str("\x1b[2K\n");
        }
        let extra = self.drawn.saturating_sub(lines.len());
        if extra > 0 {
            out.push_str(&format!("\x1b[{extra}A"));
        }
        self.drawn = lines.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes()).and_then(|_| err.flush());
    }

    /// What a failure looks like: the failed step's last output and the
    /// Dockerfile's lines around it, then the error.
    pub fn failure(&mut self, message: &str, step: Option<usize>) -> String {
        self.draw(true);
        let mut t = String::new();
        if let Some(s) = step.and_then(|n| self.steps.get(&n)) {
            if self.mode == Mode::Plain {
                t.push_str(&format!("#{} ERROR: {message}\n", step.unwrap_or_default()));
            }
            t.push_str(&format!("------\n > [{}] {}:\n", s.label, s.text));
            for o in &s.output {
                t.push_str(&format!("{o}\n"));
            }
            t.push_str("------\n");
            if s.line > 0 {
                t.push_str(&format!("Dockerfile:{}\n--------------------\n", s.line));
                let lines: Vec<&str> = self.dockerfile.lines().collect();
                let from = s.line.saturating_sub(3).max(1);
                let to = (s.line + 2).min(lines.len());
                for n in from..=to {
                    let mark = if n == s.line { ">>>" } else { "   " };
                    t.push_str(&format!(" {n:>3} | {mark} {}\n", lines[n - 1]));
                }
                t.push_str("--------------------\n");
            }
        }
        t.push_str(&format!("ERROR: {message}"));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_shows_the_step_s_output_and_its_dockerfile_lines() {
        let df = "FROM busybox\nRUN echo one\nRUN exit 5\nCMD [\"sh\"]\n";
        let mut p = Progress::new(Mode::Quiet, df.into());
        let step = |number, label: &str, text: &str, line| BuildEvent::Step {
            number,
            total: 4,
            label: label.into(),
            text: text.into(),
            line,
        };
        p.event(&step(3, "3/4", "RUN exit 5", 3));
        p.event(&BuildEvent::Output { number: 3, text: "bye".into(), stderr: true });
        let report =
            p.failure("The command '/bin/sh -c exit 5' returned a non-zero code: 5", Some(3));
        let want = "------\n > [3/4] RUN exit 5:\nbye\n------\nDockerfile:3\n--------------------\n   1 |     FROM busybox\n   2 |     RUN echo one\n   3 | >>> RUN exit 5\n   4 |     CMD [\"sh\"]\n--------------------\nERROR: The command '/bin/sh -c exit 5' returned a non-zero code: 5";
        assert_eq!(report, want);
    }
}
