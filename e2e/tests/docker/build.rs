//! `docker build` (the classic `/build` API) with Debian's docker CLI
//! 20.10, the Docker SDK for Python and docker-compose 1.29: a multi-stage
//! Dockerfile with ARGs, `.dockerignore`, the layer cache (an unchanged
//! step reused, a changed file rebuilding from its COPY on), the image's
//! config and history, a failing RUN's exit code, and a context that tries
//! to reach the host through a symlink or a `../` entry.

use berth_e2e::Daemon;
use std::path::{Path, PathBuf};

const DOCKERFILE: &str = r#"ARG BASE=busybox
FROM ${BASE} AS build
ARG WHO=nobody
WORKDIR /src
COPY hello.txt ./
RUN echo "built $(cat hello.txt) for $WHO" > out.txt && echo step-output
FROM busybox
ENV GREETING="hello world"
LABEL stage=final
COPY --from=build /src/out.txt /app/
COPY --chmod=700 tool.sh /usr/local/bin/
WORKDIR /app
EXPOSE 8080
CMD ["cat", "/app/out.txt"]
"#;

/// A dir `name` in the test's dir with `dockerfile` as its Dockerfile.
fn dockerfile_dir(d: &Daemon, name: &str, dockerfile: &str) -> PathBuf {
    let dir = d.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

fn context(d: &Daemon, name: &str) -> PathBuf {
    let dir = dockerfile_dir(d, name, DOCKERFILE);
    std::fs::write(dir.join("hello.txt"), "hi").unwrap();
    std::fs::write(dir.join("tool.sh"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::write(dir.join(".dockerignore"), "*.log\n").unwrap();
    std::fs::write(dir.join("junk.log"), "ignored").unwrap();
    dir
}

fn build(d: &Daemon, dir: &Path, args: &[&str]) -> berth_e2e::Run {
    build_with(d, dir, "0", args)
}

/// The docker CLI 20.10's build: `DOCKER_BUILDKIT=0` the classic API,
/// `1` its BuildKit path (`/session` and `/build?version=2`).
fn build_with(d: &Daemon, dir: &Path, buildkit: &str, args: &[&str]) -> berth_e2e::Run {
    let out = d
        .docker_cmd()
        .env("DOCKER_BUILDKIT", buildkit)
        .current_dir(dir)
        .arg("build")
        .args(args)
        .arg(".")
        .output()
        .unwrap();
    berth_e2e::Run::from(out)
}

#[test]
fn docker_build_multi_stage_with_cache_config_and_history() {
    let d = Daemon::start();
    let dir = context(&d, "ctx");
    let first =
        build(&d, &dir, &["-t", "app:1", "--build-arg", "WHO=you", "--label", "by=e2e"]).ok();
    assert!(
        first.stdout.contains("Step 1/14 : ARG")
            || first.stdout.contains("Step 1/13 : FROM ${BASE} AS build"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.lines().any(|l| l == "step-output"), "{}", first.stdout);
    assert!(first.stdout.contains("Successfully tagged app:1"), "{}", first.stdout);
    assert!(!first.stdout.contains("Using cache"));
    assert_eq!(d.docker(&["run", "--rm", "app:1"]).ok().stdout, "built hi for you\n");
    let inside = d.docker(&["run", "--rm", "app:1", "sh", "-c", "echo $GREETING; pwd; tool.sh; stat -c %a /usr/local/bin/tool.sh; ls /src /junk.log 2>&1 | wc -l"]).ok();
    assert_eq!(
        inside.stdout, "hello world\n/app\ntool\n700\n2\n",
        "the build stage's files and ignored ones are not in the image"
    );
    let cfg = d.inspect_image("app:1");
    assert_eq!(cfg["Config"]["Labels"]["stage"], "final");
    assert_eq!(cfg["Config"]["Labels"]["by"], "e2e");
    assert_eq!(cfg["Config"]["WorkingDir"], "/app");
    assert!(cfg["Config"]["ExposedPorts"]["8080/tcp"].is_object());
    let history =
        d.docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "app:1"]).ok().stdout;
    for want in [
        "CMD [\"cat\", \"/app/out.txt\"]",
        "EXPOSE 8080",
        "COPY /src/out.txt /app/ # buildkit",
        "ENV GREETING=hello world",
    ] {
        assert!(history.contains(want), "{want} in {history}");
    }

    // Nothing changed: every step from the cache.
    let again =
        build(&d, &dir, &["-t", "app:1", "--build-arg", "WHO=you", "--label", "by=e2e"]).ok();
    assert!(!again.stdout.lines().any(|l| l == "step-output"), "{}", again.stdout);
    assert_eq!(
        again.stdout.matches("Using cache").count(),
        10,
        "every step but FROM and ARG: {}",
        again.stdout
    );
    let built = |out: &str| {
        out.lines().find_map(|l| l.strip_prefix("Successfully built ")).map(str::to_owned)
    };
    assert_eq!(
        built(&again.stdout),
        built(&first.stdout),
        "an unchanged build makes the same image"
    );
    // One file changed: its COPY and what follows run again, nothing before.
    std::fs::write(dir.join("hello.txt"), "there").unwrap();
    let changed = build(&d, &dir, &["-t", "app:2", "--build-arg", "WHO=you"]).ok();
    assert!(changed.stdout.lines().any(|l| l == "step-output"), "{}", changed.stdout);
    assert_eq!(
        changed.stdout.matches("Using cache").count(),
        3,
        "the WORKDIR before it, and the final stage's ENV and LABEL: {}",
        changed.stdout
    );
    assert_eq!(d.docker(&["run", "--rm", "app:2"]).ok().stdout, "built there for you\n");
    // A build arg is a RUN step's input too.
    let other = build(&d, &dir, &["-q", "--build-arg", "WHO=me"]).ok();
    let id = other.stdout.trim();
    assert!(id.starts_with("sha256:"), "{}", other.stdout);
    assert_eq!(d.docker(&["run", "--rm", id]).ok().stdout, "built there for me\n");

    // A failing step: its output, the command and its exit code.
    std::fs::write(dir.join("Dockerfile.bad"), "FROM busybox\nRUN echo before; exit 3\n").unwrap();
    let bad = build(&d, &dir, &["-f", "Dockerfile.bad"]);
    assert_eq!(bad.code, 3, "{bad:?}");
    assert!(bad.stdout.contains("before"), "{bad:?}");
    assert!(
        bad.stderr
            .contains("The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"),
        "{bad:?}"
    );
    let missing = build(&d, &dir, &["--target", "nope"]);
    assert!(
        missing.code != 0 && missing.stderr.contains("failed to reach build target nope"),
        "{missing:?}"
    );
}

#[test]
fn a_context_never_reaches_the_host() {
    let d = Daemon::start();
    let dir = d.dir.join("evil");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("leak")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("etcdir")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY leak /leak\nCOPY etcdir/hostname /h2\n",
    )
    .unwrap();
    let r = build(&d, &dir, &["-t", "evil:1"]);
    // The symlink is copied as a link (or its target resolved inside the
    // context, where there is none): never the host's file.
    if r.code == 0 {
        let host = std::fs::read_to_string("/etc/hostname").unwrap();
        let seen = d
            .docker(&["run", "--rm", "evil:1", "sh", "-c", "readlink /leak; cat /h2 2>&1; true"])
            .ok()
            .stdout;
        assert!(!seen.contains(host.trim()) || host.trim().is_empty(), "{seen}");
    }

    // A raw context tar with a `../` entry is refused, nothing written outside.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let body = b"FROM busybox\n";
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "Dockerfile", &body[..]).unwrap();
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..14].copy_from_slice(b"../../escaped!");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, &b"x"[..]).unwrap();
    let bytes = tar.into_inner().unwrap();
    let out = d.docker_stdin(&["build", "-t", "evil:2", "-"], &bytes);
    assert!(out.code != 0, "{out:?}");
    assert!(!d.dir.join("escaped!").exists() && !Path::new("/tmp/escaped!").exists());
}

#[test]
fn docker_py_and_compose_build() {
    let d = Daemon::start();
    let dir = context(&d, "py");
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='unix://{}')\nimg, logs = c.images.build(path='{}', tag='py:1', buildargs={{'WHO': 'py'}})\nprint(img.tags)\ntry:\n    c.images.build(path='{}', dockerfile='Dockerfile.bad')\nexcept docker.errors.BuildError as e:\n    print('BuildError', e.msg)\n",
        d.docker_socket().display(),
        dir.display(),
        dir.display()
    );
    std::fs::write(dir.join("Dockerfile.bad"), "FROM busybox\nRUN exit 7\n").unwrap();
    let out = std::process::Command::new("python3").arg("-c").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("['py:1']") && stdout.contains("returned a non-zero code: 7"),
        "{stdout}"
    );
    assert_eq!(d.docker(&["run", "--rm", "py:1"]).ok().stdout, "built hi for py\n");

    std::fs::write(
        dir.join("docker-compose.yml"),
        "version: \"3\"\nservices:\n  app:\n    build:\n      context: .\n      args:\n        WHO: compose\n      labels:\n        from: compose\n    image: composed:1\n",
    )
    .unwrap();
    let out = std::process::Command::new("docker-compose")
        .current_dir(&dir)
        .args(["-p", "py", "build"])
        .env("DOCKER_HOST", format!("unix://{}", d.docker_socket().display()))
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(d.docker(&["run", "--rm", "composed:1"]).ok().stdout, "built hi for compose\n");
    assert_eq!(d.inspect_image("composed:1")["Config"]["Labels"]["from"], "compose");
}

#[test]
fn run_steps_are_confined_like_containers() {
    let d = Daemon::start();
    let dir = d.dir.join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    let df = "FROM busybox\n\
        RUN ls /sys/class/net | tr '\\n' ' ' > /nets && hostname > /host && grep -E '^(NoNewPrivs|CapEff)' /proc/self/status | tr -s '\\t' ' ' > /status\n\
        RUN --network=none ls /sys/class/net | tr '\\n' ' ' > /nets-none\n";
    std::fs::write(dir.join("Dockerfile"), df).unwrap();
    build(&d, &dir, &["-t", "conf:1"]).ok();
    let seen = d
        .docker(&[
            "run",
            "--rm",
            "conf:1",
            "sh",
            "-c",
            "cat /nets; echo; cat /nets-none; echo; cat /host /status",
        ])
        .ok()
        .stdout;
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0].trim(), "eth0 lo", "its own namespace on the bridge: {seen}");
    assert_eq!(lines[1].trim(), "lo", "--network=none: {seen}");
    assert_eq!(lines[2], "buildkitsandbox");
    assert_eq!(lines[3], "CapEff: 00000000a80425fb", "Docker's capabilities: {seen}");
    assert_eq!(lines[4], "NoNewPrivs: 1");
    // The build's sandbox went with the build.
    let r =
        d.docker_raw("GET /containers/json?all=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.1.trim(), "[]");
}

#[test]
fn security_insecure_needs_berthd_s_grant_and_the_build_s_allow() {
    let df = "FROM busybox\nRUN --security=insecure grep CapEff /proc/self/status | tr -s '\\t' ' ' > /caps && mkdir /m && mount -t tmpfs none /m && echo mounted > /ok\n";
    // Not granted: asked for or not, refused.
    let d = Daemon::start();
    let ctx = dockerfile_dir(&d, "insecure", df).display().to_string();
    let out = d.berth(&["build", "--allow", "security.insecure", &ctx]);
    assert!(out.code != 0, "{out:?}");
    assert!(out.stderr.contains("not allowed by build daemon configuration"), "{out:?}");
    let out = build(&d, std::path::Path::new(&ctx), &[]);
    assert!(
        out.code != 0 && out.stderr.contains("entitlement security.insecure is not allowed"),
        "{out:?}"
    );
    drop(d);

    let d = Daemon::start_bare_with("[builder]\ninsecure_entitlements = [\"security.insecure\"]\n");
    d.import_busybox("busybox", &[r#"CMD ["sh"]"#]);
    let ctx = dockerfile_dir(&d, "insecure", df).display().to_string();
    // Granted but not asked for (the classic API cannot ask): refused.
    let out = d.berth(&["build", &ctx]);
    assert!(
        out.code != 0 && out.stderr.contains("berth build --allow security.insecure"),
        "{out:?}"
    );
    // Granted and asked for: privileged.
    d.berth(&["build", "--allow", "security.insecure", "-t", "ins:1", &ctx]).ok();
    let seen = d.docker(&["run", "--rm", "ins:1", "cat", "/caps", "/ok"]).ok().stdout;
    // Every capability berthd has (this machine withholds CAP_SYS_RESOURCE from root).
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = ours.lines().find(|l| l.starts_with("CapEff")).unwrap().replace('\t', " ");
    assert_eq!(seen, format!("{ours}\nmounted\n"));
    // Other steps stay confined.
    std::fs::write(
        std::path::Path::new(&ctx).join("Dockerfile"),
        "FROM busybox\nRUN grep CapEff /proc/self/status | tr -s '\\t' ' ' > /caps\n",
    )
    .unwrap();
    d.berth(&["build", "--allow", "security.insecure", "-t", "ins:2", &ctx]).ok();
    let seen = d.docker(&["run", "--rm", "ins:2", "cat", "/caps"]).ok().stdout;
    assert_eq!(seen, "CapEff: 00000000a80425fb\n");
}

#[test]
fn run_mounts_cache_bind_tmpfs_and_secrets() {
    let d = Daemon::start();
    let dir = d.dir.join("mounts");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/input.txt"), "from-context\n").unwrap();
    let df = "FROM busybox AS tools\nRUN echo tool > /tool.txt\n\
        FROM busybox\n\
        RUN --mount=type=cache,target=/cache,id=c1 n=$(cat /cache/n 2>/dev/null || echo 0); echo $((n+1)) > /cache/n; cp /cache/n /runs\n\
        RUN --mount=type=bind,source=src,target=/in cat /in/input.txt > /copied && ! touch /in/x 2>/dev/null\n\
        RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cat /t.txt > /tool-copy\n\
        RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && test -f /scratch/f\n\
        RUN --mount=type=secret,id=none cat /run/secrets/none 2>/dev/null; true\n";
    std::fs::write(dir.join("Dockerfile"), df).unwrap();
    build(&d, &dir, &["-t", "m:1"]).ok();
    let seen = d.docker(&["run", "--rm", "m:1", "sh", "-c", "cat /runs /copied /tool-copy; ls -A /cache /in /scratch /t.txt 2>&1 | wc -l; ls -A /cache /in /scratch 2>/dev/null | wc -l"]).ok().stdout;
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(&lines[..3], ["1", "from-context", "tool"], "{seen}");
    // The mounts' contents are in no layer (their empty mount points are left out too).
    assert_eq!(lines[4].trim(), "0", "{seen}");

    // The cache mount outlives the build: a rebuild that reruns the step sees it.
    build(&d, &dir, &["-t", "m:2", "--no-cache"]).ok();
    assert_eq!(d.docker(&["run", "--rm", "m:2", "cat", "/runs"]).ok().stdout, "2\n");

    std::fs::write(
        dir.join("Dockerfile.req"),
        "FROM busybox\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok\n",
    )
    .unwrap();
    let r = build(&d, &dir, &["-f", "Dockerfile.req"]);
    assert!(r.code != 0 && r.stderr.contains("no secret was given"), "{r:?}");
}

#[test]
fn berth_build_from_a_dir_another_dockerfile_and_stdin() {
    let d = Daemon::start();
    let dir = context(&d, "berth");
    let iid = d.dir.join("iid");
    let ctx = dir.display().to_string();
    let r = d
        .berth(&[
            "build",
            "-t",
            "b:1",
            "--build-arg",
            "WHO=berth",
            "--iidfile",
            &iid.display().to_string(),
            &ctx,
        ])
        .ok();
    // BuildKit's plain progress on stderr: a step's output under its number, the tags named.
    assert!(
        r.stderr.contains("] RUN echo \"built") && r.stderr.contains(" step-output\n"),
        "{r:?}"
    );
    assert!(r.stderr.contains("naming to b:1 done") && r.stdout.is_empty(), "{r:?}");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(d.docker(&["run", "--rm", "b:1"]).ok().stdout, "built hi for berth\n");
    assert_eq!(d.inspect_image("b:1")["Id"], id.as_str());

    // A Dockerfile outside the context; -q prints the id only.
    let other = d.dir.join("elsewhere.Dockerfile");
    std::fs::write(&other, "FROM busybox\nCOPY hello.txt /h\nCMD [\"cat\", \"/h\"]\n").unwrap();
    let q = d.berth(&["build", "-q", "-f", &other.display().to_string(), &ctx]).ok();
    assert!(q.stdout.trim().starts_with("sha256:") && q.stdout.lines().count() == 1, "{q:?}");
    assert_eq!(d.docker(&["run", "--rm", q.stdout.trim()]).ok().stdout, "hi");

    // A lone Dockerfile on stdin; a failing step's exit code is berth's.
    let s = d
        .berth_stdin(
            &["build", "-q", "-t", "s:1", "-"],
            b"FROM busybox\nCMD [\"echo\", \"from stdin\"]\n",
        )
        .ok();
    assert!(s.stdout.starts_with("sha256:"), "{s:?}");
    assert_eq!(d.docker(&["run", "--rm", "s:1"]).ok().stdout, "from stdin\n");
    let bad = d.berth_stdin(&["build", "-"], b"FROM busybox\nRUN exit 5\n");
    assert_eq!(bad.code, 5, "{bad:?}");
    assert!(bad.stderr.contains("returned a non-zero code: 5"), "{bad:?}");
}

#[test]
fn heredocs_and_add_of_a_local_archive() {
    let d = Daemon::start();
    let dir = d.dir.join("here");
    std::fs::create_dir_all(dir.join("pkg/sub")).unwrap();
    std::fs::write(dir.join("pkg/sub/a.txt"), "in the archive\n").unwrap();
    let tar = std::process::Command::new("tar")
        .args(["czf", "files.tar.gz", "--owner=1234", "--group=5678", "-C", "pkg", "."])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(tar.success());
    for (flag, name) in [("cjf", "files.tar.bz2"), ("cJf", "files.tar.xz")] {
        std::fs::write(dir.join("pkg/sub").join(format!("{name}.txt")), name).unwrap();
        let tar = std::process::Command::new("tar")
            .args([flag, name, "-C", "pkg", "."])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(tar.success());
    }
    std::fs::write(dir.join("plain.txt"), "not an archive\n").unwrap();
    let df = "FROM busybox\nARG NAME=world\n\
        COPY <<EOF /greeting\nhello $NAME\nEOF\n\
        COPY <<'EOF' /raw\nkeep $NAME\nEOF\n\
        ADD files.tar.gz /opt/\n\
        ADD files.tar.bz2 files.tar.xz /more/\n\
        ADD plain.txt /opt/plain.txt\n\
        RUN <<EOF\necho from-heredoc > /ran\nEOF\n";
    std::fs::write(dir.join("Dockerfile"), df).unwrap();
    build(&d, &dir, &["-t", "h:1"]).ok();
    let seen = d
        .docker(&["run", "--rm", "h:1", "sh", "-c", "cat /greeting /raw /opt/sub/a.txt /opt/plain.txt /ran; stat -c '%u:%g' /opt/sub/a.txt; ls /opt"])
        .ok()
        .stdout;
    assert_eq!(
        seen,
        "hello world\nkeep $NAME\nin the archive\nnot an archive\nfrom-heredoc\n1234:5678\nplain.txt\nsub\n"
    );
    let more = d.docker(&["run", "--rm", "h:1", "sh", "-c", "cat /more/sub/files*"]).ok().stdout;
    assert_eq!(more, "files.tar.bz2files.tar.xz");
}

#[test]
fn copy_parents_and_exclude_as_dockerfile_1_19_has_them() {
    let d = Daemon::start();
    let df = "# syntax=docker/dockerfile:1.7-labs\n\
        FROM busybox AS base\nCOPY --parents packages/a/package.json /app/\n\
        FROM busybox\n\
        COPY --parents packages/*/package.json /app/\n\
        COPY --parents x/./y/*.txt /pivot/\n\
        COPY --exclude=*.txt hom* /mydir/\n\
        COPY --exclude=*_test.go --exclude=vendor app /src/\n\
        COPY --from=base --parents /app/packages/a/package.json /again/\n";
    let dir = dockerfile_dir(&d, "parents", df);
    for f in [
        "packages/a/package.json",
        "packages/b/package.json",
        "packages/b/src/index.js",
        "x/y/one.txt",
        "x/y/two.md",
        "home.txt",
        "home.md",
        "homedir/keep.md",
        "homedir/drop.txt",
        "app/main.go",
        "app/main_test.go",
        "app/vendor/v.go",
    ] {
        std::fs::create_dir_all(dir.join(f).parent().unwrap()).unwrap();
        std::fs::write(dir.join(f), f).unwrap();
    }
    build(&d, &dir, &["-t", "parents:1"]).ok();
    let files = d
        .docker(&[
            "run",
            "--rm",
            "parents:1",
            "sh",
            "-c",
            "find /app /pivot /mydir /src /again -type f | sort",
        ])
        .ok()
        .stdout;
    assert_eq!(
        files,
        "/again/app/packages/a/package.json\n/app/packages/a/package.json\n/app/packages/b/package.json\n\
         /mydir/home.md\n/mydir/keep.md\n/pivot/y/one.txt\n/src/main.go\n"
    );
    // An excluded file's change is no reason to copy again; a kept one's is.
    let again = |f: &str| {
        std::fs::write(dir.join(f), "changed").unwrap();
        build(&d, &dir, &["-t", "parents:1"]).ok().stdout
    };
    let out = again("app/main.go");
    let copied =
        "Step 7/8 : COPY --exclude=*_test.go --exclude=vendor app /src/\n ---> Using cache";
    assert!(!out.contains(copied), "{out}");
    let out = again("app/main_test.go");
    assert!(out.contains(copied), "{out}");
}

/// A loopback HTTP server of fixed files (`Last-Modified` 2015-10-21
/// 07:28:00 UTC); anything else is a 404. Its port.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> u16 {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&conn);
            let mut line = String::new();
            reader.read_line(&mut line).ok();
            let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {}
            let mut out = &conn;
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(body));
                }
                None => {
                    let _ = out.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    port
}

#[test]
fn add_fetches_a_url_checks_its_checksum_and_keeps_it_whole() {
    use sha2::Digest;
    let d = Daemon::start();
    let hello = b"hello over http\n".to_vec();
    let sum = hex::encode(sha2::Sha256::digest(&hello));
    let port =
        serve(vec![("/files/hello.txt", hello), ("/files/a.tar.gz", vec![0x1f, 0x8b, 8, 0, 1, 2])]);
    let url = format!("http://127.0.0.1:{port}/files");
    let df = format!(
        "FROM busybox\nADD {url}/hello.txt /dl/\n\
         ADD --checksum=sha256:{sum} {url}/hello.txt /named.txt\n\
         ADD {url}/a.tar.gz /dl/\n"
    );
    let dir = dockerfile_dir(&d, "urls", &df);
    build(&d, &dir, &["-t", "urls:1"]).ok();
    let seen = d
        .docker(&[
            "run",
            "--rm",
            "urls:1",
            "sh",
            "-c",
            "stat -c '%a %u:%g %Y %n' /dl/* /named.txt; cat /named.txt",
        ])
        .ok()
        .stdout;
    assert_eq!(
        seen,
        "600 0:0 1445412480 /dl/a.tar.gz\n600 0:0 1445412480 /dl/hello.txt\n\
         600 0:0 1445412480 /named.txt\nhello over http\n"
    );
    // The same content again: the steps are cached.
    let again = build(&d, &dir, &["-t", "urls:1"]).ok().stdout;
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    // A wrong checksum, a missing file: the build fails and says why.
    let bad =
        format!("FROM busybox\nADD --checksum=sha256:{} {url}/hello.txt /x\n", "0".repeat(64));
    std::fs::write(dir.join("Dockerfile"), bad).unwrap();
    let out = build(&d, &dir, &[]);
    assert!(out.code != 0 && out.stderr.contains("digest mismatch"), "{out:?}");
    std::fs::write(dir.join("Dockerfile"), format!("FROM busybox\nADD {url}/nothing /x\n"))
        .unwrap();
    let out = build(&d, &dir, &[]);
    assert!(out.code != 0 && out.stderr.contains("404"), "{out:?}");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY --checksum=sha256:00 Dockerfile /x\n",
    )
    .unwrap();
    assert!(build(&d, &dir, &[]).code != 0);
}

fn buildkit(d: &Daemon, dir: &Path, args: &[&str]) -> berth_e2e::Run {
    build_with(d, dir, "1", args)
}

#[test]
fn docker_buildkit_1_builds_over_the_session() {
    let d = Daemon::start();
    let df = "FROM busybox\nCOPY . /ctx/\n\
        RUN --mount=type=secret,id=tok tr a-z A-Z < /run/secrets/tok > /secret-upper\n\
        RUN echo out-of-step\n";
    let dir = dockerfile_dir(&d, "bk", df);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    std::fs::write(dir.join("sub/b.txt"), "b").unwrap();
    std::fs::write(dir.join("junk.log"), "ignored").unwrap();
    std::fs::write(dir.join(".dockerignore"), "*.log\n").unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("link")).unwrap();
    let tok = d.dir.join("tok");
    std::fs::write(&tok, "s3cret-9931").unwrap();
    let secret = format!("id=tok,src={}", tok.display());
    let out = buildkit(&d, &dir, &["--progress=plain", "--secret", &secret, "-t", "bk:1"]).ok();
    assert!(
        out.stderr.contains("out-of-step") && out.stderr.contains("[2/4] COPY . /ctx/"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("s3cret-9931"), "{out:?}");
    let seen = d
        .docker(&[
            "run",
            "--rm",
            "bk:1",
            "sh",
            "-c",
            "find /ctx | sort; readlink /ctx/link; cat /secret-upper",
        ])
        .ok()
        .stdout;
    assert_eq!(
        seen,
        "/ctx\n/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/a.txt\n/ctx/link\n/ctx/sub\n/ctx/sub/b.txt\na.txt\nS3CRET-9931"
    );
    // -q prints the id alone; nothing changed: the same image.
    let q = buildkit(&d, &dir, &["-q", "--secret", &secret, "-t", "bk:1"]).ok().stdout;
    assert_eq!(q.trim(), d.inspect_image("bk:1")["Id"].as_str().unwrap());
    // A failing step: exit 1 (as with dockerd's BuildKit), its error shown.
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN echo failing; exit 3\n").unwrap();
    let out = buildkit(&d, &dir, &["--progress=plain"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("failing") && out.stderr.contains("non-zero code: 3"), "{out:?}");
    // A missing Dockerfile.
    let out = buildkit(&d, &dir, &["-f", "Nope"]);
    assert!(out.code != 0, "{out:?}");

    // On a terminal, as a person sees it: BuildKit's view; Ctrl-C cancels the build.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo first\nRUN sleep 0.5; echo slept\nRUN sleep 47.5\n",
    )
    .unwrap();
    let shell = format!(
        "cd {} && DOCKER_HOST=unix://{} DOCKER_CONFIG={} DOCKER_BUILDKIT=1 /usr/bin/docker build -t tty:1 .; echo EXITED=$?",
        dir.display(),
        d.docker_socket().display(),
        d.dir.join("docker-config").display(),
    );
    let t = berth_e2e::tmux::Tmux::start(&d.dir, &shell, 100, 30);
    let screen = t.wait_for("RUN sleep 47.5");
    assert!(
        screen.contains("[+] Building") && screen.contains("=> [2/4] RUN echo first"),
        "{screen}"
    );
    let running = || {
        std::process::Command::new("pgrep").args(["-f", "sleep 47.5"]).status().unwrap().success()
    };
    assert!(d.eventually(std::time::Duration::from_secs(10), running));
    t.send(&["C-c"]);
    let screen = t.wait_for("EXITED=");
    assert!(!screen.contains("EXITED=0"), "{screen}");
    assert!(d.eventually(std::time::Duration::from_secs(10), || !running()), "the step was killed");
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN echo done\n").unwrap();
    let shell = shell.replace("tty:1", "tty:2");
    let t = berth_e2e::tmux::Tmux::start(&d.dir, &shell, 100, 30);
    let screen = t.wait_for("EXITED=0");
    assert!(screen.contains("FINISHED") && screen.contains("exporting to image"), "{screen}");
}

#[tokio::test]
async fn docker_buildkit_1_pulls_a_private_base_with_the_client_s_login() {
    use berth_e2e::registry::{busybox_layer, push_image_as, Registry};
    let reg = Registry::start_with_auth(Some(("alice", "s3cret-pw")));
    let creds = berth_registry::Credentials::Basic {
        username: "alice".into(),
        password: "s3cret-pw".into(),
    };
    let layers = [busybox_layer()];
    let cfg = serde_json::json!({ "Cmd": ["sh"] });
    push_image_as(&reg.addr, "private/bb", "v1", &layers, "amd64", cfg, &creds).await;
    let d = Daemon::start();
    let df = format!("FROM {}/private/bb:v1\nRUN echo from-private > /ok\n", reg.addr);
    let dir = dockerfile_dir(&d, "private", &df);
    // Not logged in: the registry refuses the pull.
    let out = buildkit(&d, &dir, &["-q"]);
    assert!(out.code != 0, "{out:?}");
    // The CLI answers the session's credential requests from its config.
    d.docker(&["login", "-u", "alice", "-p", "s3cret-pw", &reg.addr]).ok();
    let out = buildkit(&d, &dir, &["-q", "-t", "priv:1"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(d.docker(&["run", "--rm", "priv:1", "cat", "/ok"]).ok().stdout, "from-private\n");
}

/// An ssh-agent of the test's own, killed when dropped.
struct Agent {
    pid: i32,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let out = std::process::Command::new("ssh-agent")
            .args(["-a", &socket.display().to_string(), "-s"])
            .output()
            .expect("ssh-agent (openssh-client)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let pid = text.split("SSH_AGENT_PID=").nth(1).and_then(|r| r.split(';').next()).unwrap();
        let agent = Agent { pid: pid.parse().unwrap(), socket };
        let key = dir.join("id_test");
        let keygen = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "berth-test-key", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(keygen.success());
        let add = std::process::Command::new("ssh-add")
            .env("SSH_AUTH_SOCK", &agent.socket)
            .arg(&key)
            .output()
            .unwrap();
        assert!(add.status.success(), "{add:?}");
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::SIGTERM);
    }
}

/// An image of the host's ssh-add and the libraries it loads, for a RUN
/// step to bind (busybox has no ssh client).
fn import_ssh_add(d: &Daemon) {
    let ldd = std::process::Command::new("ldd").arg("/usr/bin/ssh-add").output().unwrap();
    let mut files = vec!["/usr/bin/ssh-add".to_owned()];
    for l in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = l.split_whitespace().find(|w| w.starts_with('/'));
        files.extend(path.map(str::to_owned));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for f in &files {
        tar.append_path_with_name(f, f.trim_start_matches('/')).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    d.berth_stdin(&["import", "-", "sshtools"], &tar).ok();
}

#[test]
fn the_ssh_agent_is_forwarded_by_the_docker_cli_and_berth_build() {
    let d = Daemon::start();
    import_ssh_add(&d);
    let agent = Agent::start(&d.dir);
    let df = "FROM busybox\n\
        RUN --mount=type=bind,from=sshtools,target=/t --mount=type=ssh \
            /t/lib64/ld-linux-x86-64.so.2 --library-path /t/lib/x86_64-linux-gnu /t/usr/bin/ssh-add -l > /keys; \
            ls -l $SSH_AUTH_SOCK | cut -c1 >> /keys\n";
    let dir = dockerfile_dir(&d, "ssh", df);
    let ssh = format!("default={}", agent.socket.display());
    let out = buildkit(&d, &dir, &["--progress=plain", "--ssh", &ssh, "-t", "ssh:1"]);
    assert_eq!(out.code, 0, "{out:?}");
    let keys = d
        .docker(&["run", "--rm", "ssh:1", "sh", "-c", "cat /keys; ls /run 2>&1; true"])
        .ok()
        .stdout;
    assert!(keys.contains("berth-test-key (ED25519)\ns\n"), "{keys}");
    assert!(keys.contains("No such file"), "the socket is not in the image: {keys}");
    // berth build serves the agent over a session of its own.
    let ctx = dir.display().to_string();
    let out = d.berth(&["build", "--no-cache", "--ssh", &ssh, "-t", "ssh:2", &ctx]);
    assert_eq!(out.code, 0, "{out:?}");
    let keys = d.docker(&["run", "--rm", "ssh:2", "cat", "/keys"]).ok().stdout;
    assert!(keys.contains("berth-test-key (ED25519)\ns\n"), "{keys}");
    // Required but not forwarded: the build says so.
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN --mount=type=ssh,required true\n")
        .unwrap();
    let out = buildkit(&d, &dir, &[]);
    assert!(out.code != 0 && out.stderr.contains("no SSH key \"default\" forwarded"), "{out:?}");
}

#[test]
fn builder_prune_and_system_df_show_the_cache() {
    let d = Daemon::start();
    let dir =
        dockerfile_dir(&d, "prune", "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n");
    build(&d, &dir, &["-t", "p:1"]).ok();
    let df = d.docker(&["system", "df"]).ok().stdout;
    let row = df.lines().find(|l| l.starts_with("Build Cache")).unwrap_or_default().to_owned();
    assert!(row.split_whitespace().nth(2) == Some("2"), "two cached steps: {df}");

    // Their layers are the image's: a plain prune keeps them, `-a` forgets them.
    d.docker(&["builder", "prune", "-f"]).ok();
    assert!(build(&d, &dir, &["-t", "p:1"]).ok().stdout.contains("Using cache"));
    let pruned = d.docker(&["builder", "prune", "-a", "-f"]).ok().stdout;
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let again = build(&d, &dir, &["-t", "p:1"]).ok().stdout;
    assert!(!again.contains("Using cache"), "{again}");
    // The image kept its layers.
    assert_eq!(d.docker(&["run", "--rm", "p:1", "cat", "/one", "/two"]).ok().stdout, "one\ntwo\n");
    let gone = || d.docker(&["ps", "-aq"]).stdout.trim().is_empty();
    assert!(d.eventually(std::time::Duration::from_secs(10), gone));
    // Without the image the cache's layers are what a prune frees.
    // (The first p:1, untagged by the second, may share its layers: gone too.)
    d.docker(&["rmi", "-f", "p:1"]).ok();
    d.docker(&["image", "prune", "-f"]).ok();
    let df = d.docker(&["system", "df", "-v"]).ok().stdout;
    let out = d.docker(&["builder", "prune", "-f"]).ok().stdout;
    assert!(!out.contains("Total reclaimed space: 0B"), "{df} {out}");
}

/// What a build leaves while it runs: step bundles, snapshots, processes.
fn build_leftovers(d: &Daemon) -> Vec<String> {
    let mut left = Vec::new();
    for dir in [
        d.dir.join("run/steps"),
        d.root().join("snapshots"),
        d.root().join("builder/work/contexts"),
    ] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let inside: Vec<String> = std::fs::read_dir(e.path())
                    .map(|r| {
                        r.flatten().map(|f| f.file_name().to_string_lossy().into_owned()).collect()
                    })
                    .unwrap_or_default();
                left.push(format!("{} {inside:?}", e.path().display()));
            }
        }
    }
    left.extend(berth_e2e::cgroup_pids(&d.cgroup_parent).iter().map(|p| format!("pid {p}")));
    left.extend(berth_e2e::mounts_under(&d.dir).iter().map(|m| format!("mount {}", m.display())));
    left
}

/// Starts `docker build` of a step that runs until killed; returns once the step runs.
fn long_build(d: &Daemon, name: &str) -> std::process::Child {
    let dir = dockerfile_dir(d, name, "FROM busybox\nRUN touch /started && sleep 1000\n");
    let child = d
        .docker_cmd()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "."])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = || !berth_e2e::cgroup_pids(&d.cgroup_parent).is_empty();
    assert!(d.eventually(std::time::Duration::from_secs(20), running), "the step runs");
    child
}

#[test]
fn a_client_that_goes_away_cancels_its_build_and_nothing_is_left() {
    let d = Daemon::start();
    let mut client = long_build(&d, "cancel");
    assert!(!build_leftovers(&d).is_empty(), "the running build has its step");
    client.kill().unwrap();
    let _ = client.wait();
    let clean = || build_leftovers(&d).is_empty();
    assert!(d.eventually(std::time::Duration::from_secs(20), clean), "{:?}", build_leftovers(&d));
    // berthd builds on.
    let dir = dockerfile_dir(&d, "after", "FROM busybox\nRUN echo fine > /f\n");
    build(&d, &dir, &["-t", "after:1"]).ok();
    assert_eq!(d.docker(&["run", "--rm", "after:1", "cat", "/f"]).ok().stdout, "fine\n");
}

#[test]
fn a_build_cut_by_berthd_s_death_is_swept_at_its_next_start() {
    let mut d = Daemon::start();
    let mut client = long_build(&d, "killed");
    d.kill9();
    let _ = client.kill();
    let _ = client.wait();
    d.restart();
    let clean = || build_leftovers(&d).is_empty();
    assert!(d.eventually(std::time::Duration::from_secs(20), clean), "{:?}", build_leftovers(&d));
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout.trim(), "");
    let dir = dockerfile_dir(&d, "after", "FROM busybox\nRUN echo fine > /f\n");
    build(&d, &dir, &["-t", "after:1"]).ok();
}

#[test]
fn build_networks_hosts_cache_from_and_what_docker_py_sends() {
    let d = Daemon::start();
    // RUN steps on a user-defined network find its containers by alias.
    d.docker(&["network", "create", "--subnet", &format!("{}.0/27", d.network_pool), "bnet"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "target",
        "--network",
        "bnet",
        "--network-alias",
        "pingtarget.test",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let dir = dockerfile_dir(&d, "net", "FROM busybox\nRUN ping -c1 -W2 pingtarget.test && ping -c1 -W2 extra.test && cp /etc/hosts /hosts\n");
    build(&d, &dir, &["-t", "net:1", "--network", "bnet", "--add-host", "extra.test:127.0.0.1"])
        .ok();
    let hosts = d.docker(&["run", "--rm", "net:1", "cat", "/hosts"]).ok().stdout;
    assert!(hosts.contains("127.0.0.1\textra.test"), "{hosts}");
    let r = build(&d, &dir, &["--network", "nosuchnet", "--no-cache"]);
    assert!(r.code != 0 && r.stderr.contains("nosuchnet"), "{r:?}");

    // --cache-from an image that isn't here reuses nothing.
    let r = build(
        &d,
        &dir,
        &["--network", "bnet", "--add-host", "extra.test:127.0.0.1", "--cache-from", "nosuchtag"],
    )
    .ok();
    assert!(!r.stdout.contains("Using cache"), "{}", r.stdout);
    d.docker(&["rm", "-f", "target"]).ok();

    // docker-py: a Dockerfile outside the context (two `dockerfile` values),
    // one inside it that COPY sees, stderr in red.
    let ctx = d.dir.join("py");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("file.txt"), "x").unwrap();
    std::fs::write(ctx.join("custom.dockerfile"), "FROM busybox\nCOPY . /src\n").unwrap();
    let outside = d.dir.join("outside.Dockerfile");
    std::fs::write(&outside, "FROM busybox\nCOPY . /src\n").unwrap();
    let script = format!(
        r#"import docker, io
c = docker.APIClient(base_url='unix://{sock}')
def run(**kw):
    return list(c.build(decode=True, **kw))
run(path='{ctx}', dockerfile='custom.dockerfile', tag='in:1')
run(path='{ctx}', dockerfile='{outside}', tag='out:1')
lines = run(fileobj=io.BytesIO(b'FROM busybox\nRUN sh -c ">&2 echo to-stderr"'), nocache=True)
print(any(l.get('stream') == '\x1b[91mto-stderr\n\x1b[0m' for l in lines))
"#,
        sock = d.docker_socket().display(),
        ctx = ctx.display(),
        outside = outside.display()
    );
    let out = std::process::Command::new("python3").arg("-c").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "True", "stderr lines are red, as dockerd's");
    let ls = |img: &str| d.docker(&["run", "--rm", img, "ls", "-A", "/src"]).ok().stdout;
    assert_eq!(ls("in:1"), "custom.dockerfile\nfile.txt\n");
    assert_eq!(
        ls("out:1"),
        "custom.dockerfile\nfile.txt\n",
        "the added Dockerfile is not in the image"
    );
}

#[test]
fn berth_build_writes_the_target_s_files_or_pushes_the_image() {
    let reg = berth_e2e::registry::Registry::start();
    let d = Daemon::start();
    let dir = dockerfile_dir(&d, "out", "FROM busybox AS build\nRUN mkdir -p /dist && echo binary > /dist/app\nFROM scratch AS client\nCOPY --from=build /dist/app /app\n");
    let ctx = dir.display().to_string();
    let images_before = d.docker(&["images", "-q"]).ok().stdout;
    // The seeds' "export binaries": --output=DIR --target=client.
    let out = d.dir.join("exported");
    d.berth(&["build", "-q", "--target", "client", "--output", &out.display().to_string(), &ctx])
        .ok();
    assert_eq!(std::fs::read_to_string(out.join("app")).unwrap(), "binary\n");
    assert_eq!(d.docker(&["images", "-q"]).ok().stdout, images_before, "no image is left");
    let tarball = d.dir.join("client.tar");
    d.berth(&[
        "build",
        "-q",
        "--target",
        "client",
        "-o",
        &format!("type=tar,dest={}", tarball.display()),
        &ctx,
    ])
    .ok();
    let mut names = Vec::new();
    for e in tar::Archive::new(std::fs::File::open(&tarball).unwrap()).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n == "app"), "{names:?}");
    let bad = d.berth(&["build", "-o", "type=registry", &ctx]);
    assert!(bad.code != 0 && bad.stderr.contains("local or tar"), "{bad:?}");

    // --push: the tags go to the registry.
    let name = format!("{}/team/built:v1", reg.addr);
    let pushed = d.berth(&["build", "-q", "-t", &name, "--push", "--target", "build", &ctx]).ok();
    assert!(
        pushed.stdout.contains("digest: sha256:") || pushed.stdout.contains("sha256:"),
        "{pushed:?}"
    );
    d.docker(&["rmi", &name]).ok();
    d.docker(&["pull", &name]).ok();
    assert_eq!(d.docker(&["run", "--rm", &name, "cat", "/dist/app"]).ok().stdout, "binary\n");
}

#[test]
fn onbuild_triggers_and_shell_pass_to_the_child_build() {
    let d = Daemon::start();
    let dir = dockerfile_dir(&d, "parent", "FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nONBUILD RUN echo triggered > /trigger\nONBUILD ENV FROM_TRIGGER=yes\n");
    build(&d, &dir, &["-t", "parent:1"]).ok();
    let cfg = d.inspect_image("parent:1");
    assert_eq!(cfg["Config"]["OnBuild"][0], "RUN echo triggered > /trigger", "{cfg}");
    assert_eq!(cfg["Config"]["Shell"][1], "-ec");
    let child = dockerfile_dir(&d, "child", "FROM parent:1\nRUN echo $FROM_TRIGGER > /env\n");
    let out = build(&d, &child, &["-t", "child:1"]).ok();
    assert!(out.stdout.contains("# Executing 2 build triggers"), "{}", out.stdout);
    assert_eq!(
        d.docker(&["run", "--rm", "child:1", "cat", "/trigger", "/env"]).ok().stdout,
        "triggered\nyes\n"
    );
    let cfg = d.inspect_image("child:1");
    assert!(
        cfg["Config"]["OnBuild"].as_array().is_none_or(|a| a.is_empty()),
        "triggers are not inherited: {cfg}"
    );
}

#[test]
fn berth_build_sends_only_what_changed_and_sees_every_change() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = Daemon::start();
    let df = "FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . | sort > /list && cat $(find . -type f | sort) > /all\nCMD [\"cat\", \"/list\", \"/all\"]\n";
    let dir = dockerfile_dir(&d, "kept", df);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for (f, body) in [
        ("a.txt", "a1\n"),
        ("same.txt", "same\n"),
        ("gone.txt", "gone\n"),
        ("sub/b.txt", "b\n"),
        ("x.log", "log\n"),
    ] {
        std::fs::write(dir.join(f), body).unwrap();
    }
    std::fs::write(dir.join(".dockerignore"), "*.log\nDockerfile\n").unwrap();
    let ctx = dir.display().to_string();
    d.berth(&["build", "-q", "-t", "k:1", &ctx]).ok();
    let out = d.docker(&["run", "--rm", "k:1"]).ok().stdout;
    assert_eq!(out, ".\n./.dockerignore\n./a.txt\n./gone.txt\n./same.txt\n./sub\n./sub/b.txt\n*.log\nDockerfile\na1\ngone\nsame\nb\n");

    // The copy is what COPY makes (a new destination is linked, not copied): modes, links, owners.
    std::fs::set_permissions(dir.join("same.txt"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("ln")).unwrap();
    std::fs::write(dir.join(".dockerignore"), "*.log\nDockerfile\nln\n").unwrap();
    d.berth(&["build", "-q", "-t", "k:1", &ctx]).ok();
    let meta = "stat -c '%a %u:%g %Y %n' /ctx/same.txt /ctx/sub && cd /ctx && ls";
    let probe =
        |img: &str| d.docker(&["run", "--rm", "--entrypoint", "sh", img, "-c", meta]).ok().stdout;
    let mtime = |p: &str| std::fs::metadata(dir.join(p)).unwrap().mtime();
    let (m1, m2) = (mtime("same.txt"), mtime("sub"));
    let want = format!(
        "750 0:0 {m1} /ctx/same.txt\n755 0:0 {m2} /ctx/sub\na.txt\ngone.txt\nsame.txt\nsub\n"
    );
    assert_eq!(probe("k:1"), want);
    std::fs::write(dir.join(".dockerignore"), "*.log\nDockerfile\n").unwrap();
    d.berth(&["build", "-q", "-t", "k:1", &ctx]).ok();
    let l = d.docker(&["run", "--rm", "--entrypoint", "readlink", "k:1", "/ctx/ln"]).ok().stdout;
    assert_eq!(l, "a.txt\n");

    // berthd keeps the context: an unchanged file's copy is the same file next time.
    let kept = d.root().join("builder/contexts");
    let copy_of = |name: &str| {
        let ids: Vec<_> =
            std::fs::read_dir(&kept).unwrap().flatten().filter(|e| e.path().is_dir()).collect();
        assert_eq!(ids.len(), 1, "one kept context");
        std::fs::metadata(ids[0].path().join(name)).map(|m| m.ino()).ok()
    };
    let same = copy_of("same.txt").expect("kept");
    assert_eq!(copy_of("x.log"), None, ".dockerignore applied before sending");

    // A changed file, one removed, a dir removed, one added: each seen.
    std::fs::write(dir.join("a.txt"), "a2 longer\n").unwrap();
    std::fs::remove_file(dir.join("gone.txt")).unwrap();
    std::fs::remove_dir_all(dir.join("sub")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("new/c.txt"), "c\n").unwrap();
    d.berth(&["build", "-q", "-t", "k:2", &ctx]).ok();
    let out = d.docker(&["run", "--rm", "k:2"]).ok().stdout;
    assert_eq!(out, ".\n./.dockerignore\n./a.txt\n./ln\n./new\n./new/c.txt\n./same.txt\n*.log\nDockerfile\na2 longer\nc\nsame\n");
    assert_eq!(copy_of("same.txt"), Some(same), "an unchanged file is not sent again");
    // The first image's files did not change with the context.
    assert!(d.docker(&["run", "--rm", "k:1"]).ok().stdout.ends_with("a1\ngone\nsame\nb\n"));

    // Nothing changed: every step from the cache, the same image.
    let again = d.berth(&["build", "-t", "k:3", &ctx]).ok();
    assert!(again.stderr.contains("CACHED"), "{}", again.stderr);
    assert_eq!(d.inspect_image("k:3")["Id"], d.inspect_image("k:2")["Id"]);

    // The kept context is build cache: `builder prune` removes it.
    d.docker(&["builder", "prune", "-f"]).ok();
    assert_eq!(std::fs::read_dir(&kept).unwrap().count(), 0);
    d.berth(&["build", "-q", "-t", "k:4", &ctx]).ok();
    assert_eq!(d.inspect_image("k:4")["Id"], d.inspect_image("k:2")["Id"]);
}

/// Every byte of every file under `dir` (but `skip`) searched for `needle`.
fn files_holding(dir: &Path, skip: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return found };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(m) = p.symlink_metadata() else { continue };
        if p == skip || m.file_type().is_symlink() {
            continue;
        }
        if m.is_dir() {
            found.extend(files_holding(&p, skip, needle));
        } else if m.is_file() {
            let bytes = std::fs::read(&p).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn berth_build_secrets_reach_the_step_and_nothing_else() {
    let d = Daemon::start();
    const VALUE: &str = "s3cr3t-VALUE-4729";
    let df = "FROM busybox\n\
        RUN --mount=type=secret,id=tok test \"$(tr a-z A-Z < /run/secrets/tok)\" = S3CR3T-VALUE-4729 && stat -c '%a %u' /run/secrets/tok > /seen\n\
        RUN --mount=type=secret,id=tok,env=TOK,target=/tmp/t,mode=0440,uid=7 test \"$(echo $TOK | tr a-z A-Z)\" = S3CR3T-VALUE-4729 && stat -c '%a %u' /tmp/t >> /seen\n\
        CMD [\"cat\", \"/seen\"]\n";
    let dir = dockerfile_dir(&d, "sec", df);
    let src = d.dir.join("secret-src");
    std::fs::write(&src, VALUE).unwrap();
    let ctx = dir.display().to_string();
    let secret = format!("id=tok,src={}", src.display());
    let out = d.berth(&["build", "-t", "sec:1", "--secret", &secret, &ctx]).ok();
    assert_eq!(d.docker(&["run", "--rm", "sec:1"]).ok().stdout, "400 0\n440 7\n");
    // The mount points and the dirs made for them are not in the image (busybox has no /run).
    let stubs = d.docker(&["run", "--rm", "sec:1", "sh", "-c", "ls -d /run /tmp/t 2>&1"]).stdout;
    assert!(
        stubs.contains("/run: No such file") && stubs.contains("/tmp/t: No such file"),
        "{stubs}"
    );

    // Not in the progress stream, the history, inspect, an exported image,
    // berthd's log or any file berthd keeps (layers, blobs, cache, state).
    assert!(!out.stdout.contains(VALUE) && !out.stderr.contains(VALUE), "{out:?}");
    let history = d.docker(&["history", "--no-trunc", "sec:1"]).ok().stdout;
    assert!(!history.contains(VALUE) && history.contains("/run/secrets/tok"), "{history}");
    assert!(!d.docker(&["image", "inspect", "sec:1"]).ok().stdout.contains(VALUE));
    let saved = d.dir.join("sec.tar");
    d.docker(&["save", "-o", &saved.display().to_string(), "sec:1"]).ok();
    let leaks = files_holding(&d.dir, &src, VALUE.as_bytes());
    assert!(leaks.is_empty(), "the secret is in {leaks:?}");
    assert!(!std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(&d.dir.display().to_string()));

    // The cache key covers the mount, never the secret: another value reuses the steps.
    std::fs::write(&src, "another").unwrap();
    let again = d.berth(&["build", "-t", "sec:2", "--secret", &secret, &ctx]).ok();
    assert_eq!(again.stderr.matches(" CACHED\n").count(), 3, "{}", again.stderr);

    // A required secret not given fails by its id; a secret from the environment.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok\n",
    )
    .unwrap();
    let r = d.berth(&["build", "--no-cache", &ctx]);
    assert!(r.code != 0 && r.stderr.contains("secret tok is required"), "{r:?}");
    let env = d
        .cmd()
        .env("TOK_VAR", "from-env")
        .args(["build", "--no-cache", "--secret", "id=tok,env=TOK_VAR", &ctx])
        .output()
        .unwrap();
    let env = berth_e2e::Run::from(env).ok();
    assert!(env.stderr.contains(" from-env\n"), "{env:?}");
}

#[test]
fn berth_build_progress_plain_tty_and_a_failure_s_report() {
    let d = Daemon::start();
    let df = "FROM busybox AS base\nRUN echo first\nFROM base\nRUN echo last words && exit 5\n";
    let dir = dockerfile_dir(&d, "prog", df);
    let ctx = dir.display().to_string();
    // A failed step: its exit code, its last output and the Dockerfile lines around it.
    let r = d.berth(&["build", "--progress", "plain", &ctx]);
    assert_eq!(r.code, 5, "{r:?}");
    for want in [
        "#1 [base 1/2] FROM busybox AS base\n",
        "] RUN echo first\n",
        " > [stage-1 2/2] RUN echo last words && exit 5:\nlast words\n------\n",
        "Dockerfile:4\n--------------------\n   1 |     FROM busybox AS base\n   2 |     RUN echo first\n   3 |     FROM base\n   4 | >>> RUN echo last words && exit 5\n--------------------\n",
        "ERROR: The command '/bin/sh -c echo last words && exit 5' returned a non-zero code: 5",
    ] {
        assert!(r.stderr.contains(want), "{want:?} not in:\n{}", r.stderr);
    }

    // The live view on a terminal: a line per step with its time, CACHED marks.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo first\nRUN sleep 1; echo slept\n",
    )
    .unwrap();
    d.berth(&["build", "-q", &ctx]).ok();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo first\nRUN sleep 1; echo slept\nRUN echo and more\n",
    )
    .unwrap();
    let berth = d.cmd().get_program().to_string_lossy().into_owned();
    let host = format!("unix://{}", d.docker_socket().display());
    let t = berth_e2e::tmux::Tmux::start(
        &d.dir,
        &format!("BERTH_HOST={host} {berth} build -t live:1 {ctx}; echo EXITED=$?"),
        100,
        30,
    );
    let screen = t.wait_for("EXITED=0");
    assert!(screen.contains("[+] Building"), "{screen}");
    assert!(screen.contains("=> CACHED [3/4] RUN sleep 1; echo slept"), "{screen}");
    let last = screen.lines().find(|l| l.contains("[4/4] RUN echo and more")).unwrap_or_default();
    assert!(
        last.trim_end().ends_with('s') && last.len() >= 99,
        "a step's line ends with its time: {screen}"
    );
    assert!(!screen.contains("#1 "), "no plain lines on a terminal: {screen}");
}

#[test]
fn docker_build_extracts_its_context_over_the_last_one() {
    use std::os::unix::fs::MetadataExt;
    let d = Daemon::start();
    let dir = dockerfile_dir(
        &d,
        "classic",
        "FROM busybox\nCOPY . /ctx/\nCMD [\"cat\", \"/ctx/a\", \"/ctx/sub/b\"]\n",
    );
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a"), "a1\n").unwrap();
    std::fs::write(dir.join("sub/b"), "b1\n").unwrap();
    build(&d, &dir, &["-q", "-t", "c:1"]).ok();
    let slot_file = |name: &str| {
        let classic = d.root().join("builder/work/classic");
        std::fs::read_dir(classic)
            .unwrap()
            .flatten()
            .find_map(|e| std::fs::metadata(e.path().join(name)).ok())
            .map(|m| (m.ino(), m.created().unwrap()))
    };
    let b = slot_file("sub/b").expect("the context stays in its slot");
    std::fs::write(dir.join("a"), "a2\n").unwrap();
    build(&d, &dir, &["-q", "-t", "c:2"]).ok();
    assert_eq!(slot_file("sub/b"), Some(b), "an unchanged file is not written again");
    assert_eq!(d.docker(&["run", "--rm", "c:2"]).ok().stdout, "a2\nb1\n");
    assert_eq!(d.docker(&["run", "--rm", "c:1"]).ok().stdout, "a1\nb1\n");
    std::fs::remove_file(dir.join("sub/b")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"/ctx/sub\"]\n",
    )
    .unwrap();
    build(&d, &dir, &["-q", "-t", "c:3"]).ok();
    assert_eq!(d.docker(&["run", "--rm", "c:3"]).ok().stdout, "");
}

#[test]
fn run_steps_get_the_build_s_memory_and_shm_limits() {
    let d = Daemon::start();
    let df = "FROM busybox\nRUN df -k /dev/shm | tail -1 | awk '{print $2}' > /shm\nCMD [\"cat\", \"/shm\"]\n";
    let dir = dockerfile_dir(&d, "limits", df);
    build(&d, &dir, &["-q", "-t", "l:1", "--shm-size", "16m"]).ok();
    assert_eq!(d.docker(&["run", "--rm", "l:1"]).ok().stdout, "16384\n");
    let ctx = dir.display().to_string();
    d.berth(&["build", "-q", "--no-cache", "-t", "l:2", "--shm-size", "8m", &ctx]).ok();
    assert_eq!(d.docker(&["run", "--rm", "l:2"]).ok().stdout, "8192\n");

    // A step that wants more memory than the build allows is killed (137); with room, it runs.
    let hungry = "FROM busybox\nRUN dd if=/dev/zero of=/dev/null bs=96M count=1\n";
    std::fs::write(dir.join("Dockerfile"), hungry).unwrap();
    let r = build(&d, &dir, &["--memory", "32m"]);
    assert_eq!(r.code, 137, "{r:?}");
    let r = d.berth(&["build", "--progress", "plain", "-m", "32m", &ctx]);
    assert_eq!(r.code, 137, "{r:?}");
    build(&d, &dir, &["-q", "--memory", "256m"]).ok();
}
