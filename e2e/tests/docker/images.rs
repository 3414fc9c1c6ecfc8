//! The rest of the image verbs with Debian's `docker` CLI against berth:
//! push to a local registry (then pulled back), history, save and load
//! (the archive also read by skopeo), image and container prune, and
//! `system df`.

use berth_e2e::registry::{busybox_layer, file, push_image, tar, Layer, Registry};
use berth_e2e::Daemon;

#[tokio::test]
async fn push_history_save_load_and_prune() {
    let reg = Registry::start();
    let d = Daemon::start();
    let name = format!("{}/team/box:v1", reg.addr);
    d.docker(&["tag", "busybox", &name]).ok();
    let push = d.docker(&["push", &name]).ok();
    assert!(
        push.stdout.contains(&format!("The push refers to repository [{}/team/box]", reg.addr)),
        "{}",
        push.stdout
    );
    assert!(push.stdout.contains("v1: digest: sha256:"), "{}", push.stdout);
    let again = d.docker(&["push", &name]).ok();
    assert!(again.stdout.contains("Layer already exists"), "{}", again.stdout);
    let missing = d.docker(&["push", &format!("{}/team/none:v1", reg.addr)]);
    assert!(
        missing.code != 0
            && missing.stderr.contains("An image does not exist locally with the tag"),
        "{missing:?}"
    );

    let history = d.docker(&["history", "--format", "{{.ID}} {{.Size}}", "busybox"]).ok().stdout;
    assert!(
        history.lines().count() >= 1 && history.starts_with("sha256:") || history.len() > 10,
        "{history}"
    );
    let nohist = d.docker(&["history", "nope:1"]);
    assert!(nohist.code != 0 && nohist.stderr.contains("No such image"), "{nohist:?}");

    // save → rmi → load: the same image back, tags and all.
    let archive = d.dir.join("box.tar");
    d.docker(&["save", "-o", archive.to_str().unwrap(), &name]).ok();
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", &format!("docker-archive:{}", archive.display())])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "skopeo reads it: {}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let id = d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok().stdout;
    d.docker(&["rmi", &name]).ok();
    let load = d.docker(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert!(load.stdout.contains(&format!("Loaded image: {name}")), "{load:?}");
    assert_eq!(d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok().stdout, id);
    let bad = d.docker_stdin(&["load"], b"not a tar archive at all");
    assert!(bad.code != 0, "{bad:?}");

    // Prune: stopped containers first, then unused images.
    let extra = Layer::gzip(tar(|b| file(b, "etc/other", b"another image\n")));
    push_image(
        &reg.addr,
        "team/other",
        "v1",
        &[busybox_layer(), extra],
        "amd64",
        serde_json::json!({ "Cmd": ["sh"] }),
    )
    .await;
    let other = format!("{}/team/other:v1", reg.addr);
    d.docker(&["pull", "-q", &other]).ok();
    d.docker(&["run", "--network", "none", "--name", "done", &other, "true"]).ok();
    d.docker(&["run", "-d", "--network", "none", "--name", "up", "busybox", "sleep", "1000"]).ok();
    let df = d
        .docker(&["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"])
        .ok()
        .stdout;
    assert!(df.contains("Images 2 2") && df.contains("Containers 2 1"), "{df}");
    let pruned = d.docker(&["container", "prune", "-f"]).ok().stdout;
    assert!(pruned.contains("Deleted Containers:"), "{pruned}");
    assert_eq!(d.docker(&["ps", "-a", "--format", "{{.Names}}"]).ok().stdout.trim(), "up");
    let images = d.docker(&["image", "prune", "-a", "-f"]).ok().stdout;
    assert!(images.contains(&format!("untagged: {other}")) && !images.contains(&name), "{images}");
    assert!(d.docker(&["image", "inspect", "busybox"]).code == 0, "in use: kept");
    d.docker(&["rm", "-f", "up"]).ok();
}
