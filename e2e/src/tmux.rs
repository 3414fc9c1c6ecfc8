//! Terminals as a person uses them: a program in a tmux pane of its own
//! (a private tmux server, on a socket in the test's dir), driven with
//! `send-keys` and read with `capture-pane`. Dropping it ends the server
//! and what runs in it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `shell_command` (run by sh) in a `cols`x`rows` pane; the pane
    /// stays when it ends, so its last words can still be read.
    pub fn start(dir: &Path, shell_command: &str, cols: u16, rows: u16) -> Self {
        let socket = dir.join(format!("tmux-{}.sock", crate::hex(4)));
        let t = Tmux { socket };
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            shell_command,
        ]);
        t.run(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux (deploy/test.sh installs it)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` (tmux key names, e.g. `Enter`, `C-p`, or text).
    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types a line of text and Enter.
    pub fn line(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
        self.send(&["Enter"]);
    }

    /// What the pane shows, with its scrollback.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t", "-S", "-200"])
    }

    /// Resizes the window (the program gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        self.run(&["resize-window", "-t", "t", "-x", &cols.to_string(), "-y", &rows.to_string()]);
    }

    /// Waits until the pane shows `text`; the screen, or a panic with it.
    pub fn wait_for(&self, text: &str) -> String {
        self.shows_within(text, Duration::from_secs(15)).unwrap_or_else(|screen| {
            panic!("the terminal never showed {text:?}; it shows:\n{screen}")
        })
    }

    /// The screen once it shows `text`, or the last screen after `limit`.
    pub fn shows_within(&self, text: &str, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `line` until the pane shows `text`, as a person asks again
    /// when the answer came before what it depends on (a resize on its way).
    pub fn retype_until(&self, line: &str, text: &str) -> String {
        for _ in 0..10 {
            self.line(line);
            if let Ok(screen) = self.shows_within(text, Duration::from_millis(1500)) {
                return screen;
            }
        }
        self.wait_for(text)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
        let _ = std::fs::remove_file(&self.socket);
    }
}
