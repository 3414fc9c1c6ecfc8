//! The clients a test drives a daemon with: the `berth` CLI, Debian's
//! `docker` CLI (raw requests too), a shell in a busybox container, and the
//! busybox image they run.

use crate::{bin_dir, unix_channel, CriImages, CriRuntime, Daemon};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The output of one CLI call.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with both streams unless the call succeeded.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed: stdout={:?} stderr={:?}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so a
/// command that answers before it has read everything can't block us).
fn run_with_input(cmd: &mut Command, input: &[u8]) -> Run {
    use std::io::Write;
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run::from(out)
}

impl Daemon {
    /// A `berth` command line aimed at this daemon.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin_dir().join("berth"));
        c.env("BERTH_HOST", format!("unix://{}", self.docker_socket().display()))
            .stdin(Stdio::null());
        c
    }

    /// Runs `berth ARGS`.
    pub fn berth(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().unwrap())
    }

    /// Runs `berth ARGS` with `input` on stdin.
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        run_with_input(self.cmd().args(args), input)
    }

    /// Debian's `docker` CLI (Docker 20.10, API 1.41) pointed at this
    /// daemon's Docker API, with a private client config. Debian's
    /// (/usr/bin), never another docker earlier on PATH; its dockerd is
    /// never started.
    pub fn docker_cmd(&self) -> Command {
        let config = self.dir.join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        let mut cmd = Command::new("/usr/bin/docker");
        cmd.env("DOCKER_HOST", format!("unix://{}", self.docker_socket().display()))
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_API_VERSION");
        cmd
    }

    /// Runs `docker ARGS`.
    pub fn docker(&self, args: &[&str]) -> Run {
        Run::from(
            self.docker_cmd()
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("Debian's docker CLI (deploy/test.sh installs docker.io)"),
        )
    }

    /// Runs `docker ARGS` with `input` on stdin.
    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        run_with_input(self.docker_cmd().args(args), input)
    }

    /// One raw HTTP/1.1 request on the Docker API's socket (the request
    /// says `Connection: close`): status and body.
    pub fn docker_raw(&self, request: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(self.docker_socket()).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
    }

    /// A JSON `POST` on the Docker API: status and body.
    pub fn docker_post(&self, path: &str, json: &str) -> (u16, String) {
        self.docker_raw(&format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}", json.len()))
    }

    /// The environment `docker` needs to reach this daemon, as shell words.
    pub fn docker_env(&self) -> String {
        let config = self.dir.join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        format!(
            "DOCKER_HOST=unix://{} DOCKER_CONFIG={}",
            self.docker_socket().display(),
            config.display()
        )
    }

    /// Imports the busybox rootfs as `name` with `--change` instructions.
    pub fn import_busybox(&self, name: &str, changes: &[&str]) {
        let mut args = vec!["import"];
        for c in changes {
            args.push("-c");
            args.push(c);
        }
        args.push("-");
        args.push(name);
        self.berth_stdin(&args, busybox_tarball()).ok();
    }

    /// The running berthd's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `berth image inspect NAME`, parsed.
    pub fn inspect_image(&self, name: &str) -> serde_json::Value {
        let out = self.berth(&["image", "inspect", name]).ok().stdout;
        let mut v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        v.remove(0)
    }

    /// `berth run --rm busybox sh -c SCRIPT` and its output.
    pub fn sh(&self, extra: &[&str], script: &str) -> Run {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        self.berth(&args)
    }

    /// `berth inspect NAME` as JSON.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let r = self.berth(&["inspect", name]).ok();
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v[0].clone()
    }

    /// A CRI client (runtime and image services) on this daemon's socket, as kubelet would connect.
    pub async fn cri(&self) -> (CriRuntime, CriImages) {
        let channel = unix_channel(self.socket()).await.expect("connect to the CRI socket");
        (CriRuntime::new(channel.clone()), CriImages::new(channel))
    }
}

/// The busybox rootfs as a tarball (in memory), built once per test process.
pub fn busybox_tarball() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(size);
            h
        };
        let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
            b.append_data(&mut header(tar::EntryType::Directory, mode, 0), name, &[][..]).unwrap();
        };
        let file_entry = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]| {
            b.append_data(&mut header(tar::EntryType::Regular, mode, data.len() as u64), name, data).unwrap();
        };
        for (d, m) in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700), ("home", 0o755), ("var", 0o755)] {
            dir(&mut b, d, m);
        }
        let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian busybox-static) is required");
        file_entry(&mut b, "bin/busybox", 0o755, &busybox);
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox" && !a.is_empty()) {
            b.append_link(&mut header(tar::EntryType::Symlink, 0o777, 0), format!("bin/{applet}"), "busybox").unwrap();
        }
        file_entry(
            &mut b,
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        );
        file_entry(&mut b, "etc/group", 0o644, b"root:x:0:\nalice:x:1000:\nwheel:x:10:alice\naudio:x:29:alice\nnogroup:x:65534:\n");
        b.into_inner().unwrap()
    })
}
