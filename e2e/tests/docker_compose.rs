//! Debian's docker-compose (1.29, over the Docker API) on berth, with
//! what berth has so far: services on the default bridge
//! (`network_mode: bridge`; compose's own networks are the next issue's),
//! environment, a named volume that outlives `down`, a restart policy,
//! `up -d`, `ps`, `logs`, `exec`, `top`, `down`, `down -v`.

use berth_e2e::Daemon;
use std::process::Command;

fn compose(d: &Daemon, dir: &std::path::Path, args: &[&str]) -> berth_e2e::Run {
    let out = Command::new("docker-compose")
        .current_dir(dir)
        .args(["-p", "proj"])
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", d.docker_socket().display()))
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .env_remove("DOCKER_API_VERSION")
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .output()
        .expect("docker-compose (deploy/test.sh installs it)");
    berth_e2e::Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

#[test]
fn a_compose_project_on_the_default_bridge() {
    let d = Daemon::start();
    let dir = d.dir.join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        r#"version: "3.8"
services:
  web:
    image: busybox
    network_mode: bridge
    command: sh -c "echo hello from web; exec httpd -f -p 8080"
  worker:
    image: busybox
    network_mode: bridge
    restart: unless-stopped
    environment:
      ROLE: worker
    volumes:
      - data:/data
    command: sh -c "echo worker $$ROLE; date >> /data/starts; exec sleep 1000"
volumes:
  data:
"#,
    )
    .unwrap();
    let up = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(up.code, 0, "{up:?}");
    let ps = compose(&d, &dir, &["ps"]).ok();
    let rows: Vec<&str> = ps.stdout.lines().filter(|l| l.starts_with("proj_")).collect();
    assert_eq!(rows.len(), 2, "each service once: {}", ps.stdout);
    assert!(rows.iter().all(|r| r.contains(" Up")), "{}", ps.stdout);
    assert!(d.eventually(std::time::Duration::from_secs(10), || {
        let logs = compose(&d, &dir, &["logs", "--no-color"]).stdout;
        logs.contains("hello from web") && logs.contains("worker worker")
    }));
    let exec = compose(&d, &dir, &["exec", "-T", "worker", "sh", "-c", "echo exec $ROLE"]).ok();
    assert_eq!(exec.stdout.trim(), "exec worker");
    let top = compose(&d, &dir, &["top", "web"]).ok();
    assert!(top.stdout.contains("httpd -f -p 8080"), "{}", top.stdout);
    assert_eq!(d.docker(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "proj_worker_1"]).ok().stdout.trim(), "unless-stopped");
    let down = compose(&d, &dir, &["down"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "", "down removed the project");
    // The named volume outlives down; the next up finds its data.
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout.trim(), "proj_data");
    assert_eq!(compose(&d, &dir, &["up", "-d"]).code, 0);
    assert!(d.eventually(std::time::Duration::from_secs(10), || { compose(&d, &dir, &["exec", "-T", "worker", "sh", "-c", "wc -l < /data/starts"]).stdout.trim() == "2" }));
    let down = compose(&d, &dir, &["down", "-v"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout, "", "down -v removed the volume");
}
