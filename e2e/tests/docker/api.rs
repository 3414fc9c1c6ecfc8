//! The Docker Engine API on berthd, driven by the real clients: Debian's
//! `docker` CLI (Docker 20.10, API 1.41; its dockerd is never started) and
//! the Docker SDK for Python. This slice: version negotiation, errors,
//! `info`, `ps`, images (list, inspect, pull with progress, tag, remove);
//! endpoints berth doesn't serve yet are refused by name.

use berth_e2e::registry::{busybox_layer, file, push_image, tar, Layer, Registry};
use berth_e2e::{Daemon, Run};
use std::process::Command;

fn docker(d: &Daemon, args: &[&str]) -> Run {
    d.docker(args)
}

#[test]
fn the_docker_cli_negotiates_and_reads_the_node() {
    let d = Daemon::start();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.docker_socket()).unwrap().permissions().mode() & 0o777;
    let docker_group = nix::unistd::Group::from_name("docker").ok().flatten().is_some();
    assert_eq!(
        mode,
        if docker_group { 0o660 } else { 0o600 },
        "root-equivalent: as dockerd guards it"
    );

    let v = docker(&d, &["version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}} {{.Server.Os}}"]).ok();
    assert_eq!(
        v.stdout.trim(),
        "1.47 1.24 1.41 linux",
        "the 20.10 CLI negotiates down to its 1.41"
    );
    let info = docker(
        &d,
        &["info", "--format", "{{.OSType}} {{.Images}} {{.Containers}} {{.CgroupDriver}}"],
    )
    .ok();
    assert_eq!(info.stdout.trim(), "linux 1 0 cgroupfs");
    let ps = docker(&d, &["ps", "-a"]).ok();
    assert!(ps.stdout.starts_with("CONTAINER ID"), "{}", ps.stdout);

    // Versions outside 1.24–1.47, unknown paths, bad filters: Docker's answers.
    let (code, body) =
        d.docker_raw("GET /v1.99/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (code, body.trim()),
        (
            400,
            r#"{"message":"client version 1.99 is too new. Maximum supported API version is 1.47"}"#
        )
    );
    let (code, body) =
        d.docker_raw("GET /v1.41/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!((code, body.trim()), (404, r#"{"message":"page not found"}"#));
    let (code, _) = d.docker_raw("GET /v1.41/images/json?filters=%7Bnot-json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 400);
    let (code, _) = d.docker_raw("HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 200);

    // A daemon's refusal: the CLI's exit code for it.
    let run = docker(&d, &["run", "--rm", "--network", "container:other", "busybox", "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("No such container: other"), "{}", run.stderr);
    assert!(!run.stderr.contains("Unable to find image"), "a 400, no pull: {}", run.stderr);
}

#[tokio::test]
async fn images_through_the_docker_cli() {
    let reg = Registry::start();
    let d = Daemon::start();
    let extra = Layer::gzip(tar(|b| file(b, "etc/motd", b"from the registry\n")));
    push_image(
        &reg.addr,
        "team/app",
        "v1",
        &[busybox_layer(), extra],
        "amd64",
        serde_json::json!({ "Cmd": ["sh"], "Labels": { "tier": "web" } }),
    )
    .await;
    let name = format!("{}/team/app:v1", reg.addr);

    let pull = docker(&d, &["pull", &name]).ok();
    assert!(pull.stdout.contains("v1: Pulling from team/app"), "{}", pull.stdout);
    assert!(
        pull.stdout.contains("Digest: sha256:")
            && pull.stdout.contains(&format!("Status: Downloaded newer image for {name}")),
        "{}",
        pull.stdout
    );
    let again = docker(&d, &["pull", &name]).ok();
    assert!(
        again.stdout.contains(&format!("Status: Image is up to date for {name}")),
        "{}",
        again.stdout
    );
    let missing = docker(&d, &["pull", &format!("{}/team/none:v1", reg.addr)]);
    assert_eq!(missing.code, 1);
    // dockerd's words for it (checked against Debian's dockerd 20.10 by hand).
    assert!(
        missing.stderr.contains(&format!(
            "Error response from daemon: manifest for {}/team/none:v1 not found:",
            reg.addr
        )),
        "{}",
        missing.stderr
    );

    // One store with the CRI and berth's CLI: the image berth imported is there too.
    let images = docker(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]).ok();
    let listed: Vec<&str> = images.stdout.lines().collect();
    assert!(listed.contains(&"busybox:latest") && listed.contains(&name.as_str()), "{listed:?}");
    let filtered =
        docker(&d, &["images", "--filter", "label=tier=web", "--format", "{{.Repository}}"]).ok();
    assert_eq!(filtered.stdout.trim(), format!("{}/team/app", reg.addr));
    let id =
        docker(&d, &["image", "inspect", "-f", "{{.Id}}", &name]).ok().stdout.trim().to_owned();
    assert!(id.starts_with("sha256:"), "{id}");

    docker(&d, &["tag", &name, "mine:1"]).ok();
    assert_eq!(docker(&d, &["image", "inspect", "-f", "{{.Id}}", "mine:1"]).ok().stdout.trim(), id);
    let rmi = docker(&d, &["rmi", "mine:1"]).ok();
    assert_eq!(rmi.stdout.trim(), "Untagged: mine:1");
    let gone = docker(&d, &["rmi", "mine:1"]);
    assert!(gone.code != 0 && gone.stderr.contains("No such image: mine:1"), "{gone:?}");
    let rmi = docker(&d, &["rmi", &name]).ok();
    assert!(
        rmi.stdout.contains(&format!("Untagged: {name}"))
            && rmi.stdout.contains(&format!("Deleted: {id}")),
        "{}",
        rmi.stdout
    );
}

#[tokio::test]
async fn the_python_sdk_drives_the_same_engine() {
    let reg = Registry::start();
    let d = Daemon::start();
    push_image(
        &reg.addr,
        "sdk/app",
        "v2",
        &[busybox_layer()],
        "amd64",
        serde_json::json!({ "Cmd": ["sh"] }),
    )
    .await;
    let script = format!(
        r#"
import docker
c = docker.DockerClient(base_url="unix://{sock}", version="auto")
assert c.ping()
v = c.version()
assert v["ApiVersion"] == "1.47", v
img = c.images.pull("{reg}/sdk/app", tag="v2")
assert "{reg}/sdk/app:v2" in img.tags, img.tags
tags = sorted(t for i in c.images.list() for t in i.tags)
assert "busybox:latest" in tags and "{reg}/sdk/app:v2" in tags, tags
assert c.images.get("{reg}/sdk/app:v2").id == img.id
try:
    c.images.get("nope:1")
    raise SystemExit("found an image that doesn't exist")
except docker.errors.ImageNotFound:
    pass
box = c.containers.run("{reg}/sdk/app:v2", ["sh", "-c", "echo hi"], network_mode="none", detach=True, name="sdk-box")
assert box.wait()["StatusCode"] == 0
assert box.logs() == b"hi\n", box.logs()
assert [x.name for x in c.containers.list(all=True)] == ["sdk-box"]
box.remove()
# A restart policy: two restarts after failures, then down for good.
retry = c.containers.run("busybox", ["sh", "-c", "exit 2"], network_mode="none", detach=True, restart_policy={{"Name": "on-failure", "MaximumRetryCount": 2}})
import time
for _ in range(100):
    retry.reload()
    if retry.attrs["RestartCount"] == 2 and retry.status == "exited":
        break
    time.sleep(0.1)
assert (retry.attrs["RestartCount"], retry.status, retry.attrs["State"]["ExitCode"]) == (2, "exited", 2), retry.attrs["State"]
retry.remove()
assert c.containers.list(all=True) == []
c.images.remove("{reg}/sdk/app:v2")
print("sdk ok")
"#,
        sock = d.docker_socket().display(),
        reg = reg.addr
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 with the docker SDK (deploy/test.sh installs it)");
    assert!(
        out.status.success(),
        "stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sdk ok");
}

#[test]
fn docker_login_checks_the_credentials_with_the_registry() {
    let reg = Registry::start_with_auth(Some(("alice", "s3cret")));
    let d = Daemon::start();
    let ok = docker(&d, &["login", "-u", "alice", "-p", "s3cret", &reg.addr]).ok();
    assert!(ok.stdout.contains("Login Succeeded"), "{ok:?}");
    let bad = docker(&d, &["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("Error response from daemon"), "{}", bad.stderr);
}

#[tokio::test]
async fn containers_through_the_docker_cli() {
    let d = Daemon::start();
    // Refused, nothing created.
    let r = docker(
        &d,
        &[
            "run",
            "-d",
            "--network",
            "host",
            "--mac-address",
            "02:42:ac:11:00:09",
            "busybox",
            "true",
        ],
    );
    assert!(
        r.code == 125 && r.stderr.contains("conflicting options: mac-address and the network mode"),
        "{r:?}"
    );
    assert_eq!(docker(&d, &["ps", "-aq"]).ok().stdout, "", "nothing was left behind");

    let id = docker(
        &d,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "web",
            "-e",
            "A=1",
            "--label",
            "tier=web",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exec sleep 1000",
        ],
    )
    .ok()
    .stdout
    .trim()
    .to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let ps = docker(&d, &["ps", "--format", "{{.Names}} {{.Status}} {{.Label \"tier\"}}"]).ok();
    assert!(
        ps.stdout.starts_with("web Up ") && ps.stdout.trim().ends_with(" web"),
        "{}",
        ps.stdout
    );
    let state = docker(
        &d,
        &[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Image}} {{.Name}} {{.HostConfig.NetworkMode}}",
            "web",
        ],
    )
    .ok();
    assert_eq!(state.stdout.trim(), "running busybox /web none");
    assert!(d
        .eventually(std::time::Duration::from_secs(10), || docker(&d, &["logs", "web"]).stdout
            == "out\n"));
    let logs = docker(&d, &["logs", "web"]).ok();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n"),
        "stdout and stderr apart, as Docker's framing carries them"
    );
    let exec_env = docker(&d, &["inspect", "-f", "{{range .Config.Env}}{{.}} {{end}}", "web"]).ok();
    assert!(exec_env.stdout.contains("A=1"), "{}", exec_env.stdout);

    // A running container is not removed without force.
    let busy = docker(&d, &["rm", "web"]);
    assert!(
        busy.code != 0 && busy.stderr.contains("You cannot remove a running container"),
        "{busy:?}"
    );
    assert_eq!(docker(&d, &["stop", "-t", "1", "web"]).ok().stdout.trim(), "web");
    assert_eq!(
        docker(&d, &["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"])
            .ok()
            .stdout
            .trim(),
        "exited 137"
    );
    assert_eq!(docker(&d, &["wait", "web"]).ok().stdout.trim(), "137");
    docker(&d, &["start", "web"]).ok();
    docker(&d, &["restart", "-t", "0", "web"]).ok();
    // A start right behind an exit: the exit's clean-up must not take the new run's bundle.
    for _ in 0..5 {
        docker(&d, &["restart", "-t", "0", "web"]).ok();
    }
    assert_eq!(
        docker(&d, &["inspect", "-f", "{{.State.Running}}", "web"]).ok().stdout.trim(),
        "true"
    );
    docker(&d, &["kill", "web"]).ok();
    let not_running = docker(&d, &["kill", "web"]);
    assert!(
        not_running.code != 0 && not_running.stderr.contains("is not running"),
        "{not_running:?}"
    );
    assert_eq!(docker(&d, &["rm", "web"]).ok().stdout.trim(), "web");
    let gone = docker(&d, &["rm", "web"]);
    assert!(gone.code != 0 && gone.stderr.contains("No such container: web"), "{gone:?}");

    // The CRI's containers are not Docker's.
    let (mut rt, _img) = d.cri().await;
    let pod = berth_e2e::cri::run_pod(&mut rt, berth_e2e::cri::pod_config(&d, "hidden")).await;
    let c =
        berth_e2e::cri::create(&mut rt, &pod, berth_e2e::cri::container("c", &["sleep", "1000"]))
            .await
            .unwrap();
    berth_e2e::cri::start(&mut rt, &c).await;
    assert_eq!(docker(&d, &["ps", "-aq"]).ok().stdout, "");
    assert!(docker(&d, &["inspect", &c]).code != 0);
    assert!(docker(&d, &["rm", "-f", &c]).stderr.contains("No such container"));
    assert_eq!(
        berth_e2e::cri::status(&mut rt, &c).await.state(),
        berth_proto::cri::ContainerState::ContainerRunning
    );
}
