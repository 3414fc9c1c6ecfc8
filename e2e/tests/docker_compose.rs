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

#[test]
fn a_service_waits_for_its_dependency_to_be_healthy() {
    let d = Daemon::start();
    let dir = d.dir.join("healthy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        r#"version: "2.4"
services:
  db:
    image: busybox
    network_mode: bridge
    command: sh -c "sleep 1; touch /tmp/ready; exec sleep 1000"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 3
      start_period: 10s
  app:
    image: busybox
    network_mode: bridge
    depends_on:
      db:
        condition: service_healthy
    command: sleep 1000
"#,
    )
    .unwrap();
    let up = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(up.code, 0, "{up:?}");
    // compose started app only once db was healthy.
    let started = |name: &str| d.docker(&["inspect", "-f", "{{.State.StartedAt}}", name]).ok().stdout.trim().to_owned();
    let db_healthy = d.docker(&["inspect", "-f", "{{.State.Health.Status}} {{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}} {{end}}{{end}}", "proj_db_1"]).ok().stdout;
    assert!(db_healthy.starts_with("healthy "), "{db_healthy}");
    let first_ok = db_healthy.split_whitespace().nth(1).unwrap().to_owned();
    assert!(started("proj_app_1") >= first_ok, "app started {} before db was healthy at {first_ok}", started("proj_app_1"));
    let ps = compose(&d, &dir, &["ps"]).ok().stdout;
    assert!(ps.lines().any(|l| l.starts_with("proj_db_1") && l.contains("(healthy)")), "{ps}");
    assert_eq!(compose(&d, &dir, &["down"]).code, 0);
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}
