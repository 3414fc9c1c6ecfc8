//! Debian's docker-compose (1.29, over the Docker API) on berth, with
//! services on the default bridge (`network_mode: bridge`) and on the
//! project's own network (found by service name), environment, a named volume that outlives `down`, a restart policy,
//! `up -d`, `ps`, `logs`, `exec`, `top`, `down`, `down -v`.

use berth_e2e::Daemon;
use std::process::Command;

/// docker-compose on project `proj` in `dir`, against the daemon.
fn compose_cmd(d: &Daemon, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new("docker-compose");
    c.current_dir(dir)
        .args(["-p", "proj"])
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", d.docker_socket().display()))
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .env_remove("DOCKER_API_VERSION")
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1");
    c
}

/// A project dir `name` in the test's dir, with its docker-compose.yml.
fn project(d: &Daemon, name: &str, yml: &str) -> std::path::PathBuf {
    let dir = d.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), yml).unwrap();
    dir
}

fn compose(d: &Daemon, dir: &std::path::Path, args: &[&str]) -> berth_e2e::Run {
    let out =
        compose_cmd(d, dir, args).output().expect("docker-compose (deploy/test.sh installs it)");
    berth_e2e::Run::from(out)
}

#[test]
fn a_compose_project_on_the_default_bridge() {
    let d = Daemon::start();
    let dir = project(
        &d,
        "proj",
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
    );
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
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "proj_worker_1"])
            .ok()
            .stdout
            .trim(),
        "unless-stopped"
    );
    let down = compose(&d, &dir, &["down"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "", "down removed the project");
    // The named volume outlives down; the next up finds its data.
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout.trim(), "proj_data");
    assert_eq!(compose(&d, &dir, &["up", "-d"]).code, 0);
    assert!(d.eventually(std::time::Duration::from_secs(10), || {
        compose(&d, &dir, &["exec", "-T", "worker", "sh", "-c", "wc -l < /data/starts"])
            .stdout
            .trim()
            == "2"
    }));
    let down = compose(&d, &dir, &["down", "-v"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout, "", "down -v removed the volume");
}

#[test]
fn a_service_waits_for_its_dependency_to_be_healthy() {
    let d = Daemon::start();
    let dir = project(
        &d,
        "healthy",
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
    );
    let up = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(up.code, 0, "{up:?}");
    // compose started app only once db was healthy.
    let started = |name: &str| {
        d.docker(&["inspect", "-f", "{{.State.StartedAt}}", name]).ok().stdout.trim().to_owned()
    };
    let db_healthy = d.docker(&["inspect", "-f", "{{.State.Health.Status}} {{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}} {{end}}{{end}}", "proj_db_1"]).ok().stdout;
    assert!(db_healthy.starts_with("healthy "), "{db_healthy}");
    let first_ok = db_healthy.split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        started("proj_app_1") >= first_ok,
        "app started {} before db was healthy at {first_ok}",
        started("proj_app_1")
    );
    let ps = compose(&d, &dir, &["ps"]).ok().stdout;
    assert!(ps.lines().any(|l| l.starts_with("proj_db_1") && l.contains("(healthy)")), "{ps}");
    assert_eq!(compose(&d, &dir, &["down"]).code, 0);
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}

/// The issue's project: a database with a healthcheck, an api that waits
/// for it to be healthy and reaches it by service name on the project's
/// own network, a web front with a published port that reaches the api; a
/// named volume that outlives `down`, a file secret in /run/secrets,
/// `environment` and `env_file`, restart policies; `up -d`, `ps`, `logs`,
/// `exec`, `restart`, `down -v`, and nothing left. (`init: true`: busybox's
/// httpd as PID 1 would ignore the stop signal.)
#[test]
fn a_project_on_its_own_network() {
    let d = Daemon::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = project(
        &d,
        "shop",
        &format!(
            r#"version: "3.9"
services:
  db:
    image: busybox
    init: true
    restart: always
    secrets: [db_password]
    volumes: [dbdata:/data]
    networks: [backend]
    command: sh -c "cat /run/secrets/db_password > /data/pw; date >> /data/starts; echo db-ok > /tmp/i; touch /tmp/ready; exec httpd -f -p 5432 -h /tmp"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 5
      start_period: 10s
  api:
    image: busybox
    init: true
    restart: on-failure
    env_file: [api.env]
    environment:
      API_NAME: orders
    networks: [backend]
    depends_on:
      db:
        condition: service_healthy
    command: sh -c "mkdir -p /www; echo api-$$API_NAME-$$API_MODE > /www/i; exec httpd -f -p 8000 -h /www"
  web:
    image: busybox
    init: true
    networks: [backend]
    ports: ["127.0.0.1:{port}:80"]
    depends_on: [api]
    volumes: ["./all.sh:/www/cgi-bin/all:ro"]
    command: httpd -f -p 80 -h /www
networks:
  backend:
volumes:
  dbdata:
secrets:
  db_password:
    file: ./db_password.txt
"#
        ),
    );
    std::fs::write(dir.join("db_password.txt"), "s3cret\n").unwrap();
    std::fs::write(dir.join("api.env"), "API_MODE=fast\n# a comment\n").unwrap();
    // web's CGI: it asks api and db by their service names.
    let cgi = dir.join("all.sh");
    std::fs::write(&cgi, "#!/bin/sh\necho Content-Type: text/plain\necho\nwget -qO- http://api:8000/i\nwget -qO- http://db:5432/i\n").unwrap();
    std::fs::set_permissions(&cgi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let up = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(up.code, 0, "{up:?}");
    let ps = compose(&d, &dir, &["ps"]).ok().stdout;
    assert!(ps.lines().any(|l| l.starts_with("proj_db_1") && l.contains("(healthy)")), "{ps}");
    assert_eq!(
        ps.lines().filter(|l| l.starts_with("proj_") && l.contains(" Up")).count(),
        3,
        "{ps}"
    );
    // From the node, through the published port, web asks api and db by service name.
    let fetch = || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        use std::io::{Read, Write};
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /cgi-bin/all HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let mut body = String::new();
    d.eventually(std::time::Duration::from_secs(10), || {
        body = fetch().unwrap_or_default();
        body.contains("api-orders-fast") && body.contains("db-ok")
    });
    assert!(body.contains("api-orders-fast\n") && body.contains("db-ok\n"), "{body}");
    assert_eq!(compose(&d, &dir, &["exec", "-T", "db", "cat", "/data/pw"]).ok().stdout, "s3cret\n");
    let nets = d.docker(&["network", "ls", "--format", "{{.Name}}"]).ok().stdout;
    assert!(nets.lines().any(|n| n == "proj_backend"), "{nets}");
    let logs = compose(&d, &dir, &["logs", "--no-color", "db"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    // restart: names still resolve afterwards.
    assert_eq!(compose(&d, &dir, &["restart", "api"]).code, 0);
    d.eventually(std::time::Duration::from_secs(10), || {
        fetch().is_some_and(|b| b.contains("api-orders-fast"))
    });
    assert!(fetch().unwrap_or_default().contains("api-orders-fast"), "api after restart");
    // down keeps the volume, up finds its data, down -v takes everything.
    assert_eq!(compose(&d, &dir, &["down"]).code, 0);
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert_eq!(compose(&d, &dir, &["up", "-d"]).code, 0);
    assert!(d.eventually(std::time::Duration::from_secs(10), || compose(
        &d,
        &dir,
        &["exec", "-T", "db", "sh", "-c", "wc -l < /data/starts"]
    )
    .stdout
    .trim()
        == "2"));
    let down = compose(&d, &dir, &["down", "-v"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout, "");
    assert_eq!(
        d.docker(&["network", "ls", "-q", "--filter", "type=custom"]).ok().stdout,
        "",
        "down removed the project's network"
    );
}

/// A service on two networks (compose creates it on one and connects the
/// other before it starts): it reaches both sides by name, with a
/// per-network alias; the sides don't see each other's names. `logs -f`
/// follows a service's output as it comes.
#[test]
fn a_service_on_two_networks() {
    let d = Daemon::start();
    let dir = project(
        &d,
        "tiers",
        r#"version: "3.9"
services:
  db:
    image: busybox
    init: true
    networks:
      back:
        aliases: [database]
    command: sh -c "echo db-ok > /tmp/i; exec httpd -f -p 5432 -h /tmp"
  app:
    image: busybox
    init: true
    networks: [front, back]
    command: sh -c "echo app-ok > /tmp/i; echo app-up; httpd -p 8000 -h /tmp; while sleep 0.2; do echo tick; done"
  edge:
    image: busybox
    init: true
    networks: [front]
    command: sleep 1000
networks:
  front:
  back:
"#,
    );
    let up = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(up.code, 0, "{up:?}");
    let nets = d
        .docker(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "proj_app_1",
        ])
        .ok()
        .stdout;
    assert_eq!(nets.split_whitespace().collect::<Vec<_>>(), ["proj_back", "proj_front"], "{nets}");
    let get = |from: &str, url: &str| {
        compose(&d, &dir, &["exec", "-T", from, "timeout", "5", "wget", "-qO-", url])
    };
    // app reaches db (by service name and its alias) on back; edge reaches app on front.
    assert!(d
        .eventually(std::time::Duration::from_secs(10), || get("app", "http://db:5432/i").stdout
            == "db-ok\n"));
    assert_eq!(get("app", "http://database:5432/i").ok().stdout, "db-ok\n");
    assert!(d.eventually(std::time::Duration::from_secs(10), || get("edge", "http://app:8000/i")
        .stdout
        == "app-ok\n"));
    // edge is not on back: db's name is not known there.
    let hidden = compose(&d, &dir, &["exec", "-T", "edge", "nslookup", "db"]);
    assert!(hidden.code != 0, "{hidden:?}");
    // logs -f: what app writes, as it writes it.
    let mut follow = compose_cmd(&d, &dir, &["logs", "-f", "--no-color", "app"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let ticks =
        (&mut lines).map_while(Result::ok).filter(|l| l.ends_with("| tick")).take(3).count();
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(ticks, 3, "followed");
    let down = compose(&d, &dir, &["down"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert_eq!(
        d.docker(&["network", "ls", "-q", "--filter", "type=custom"]).ok().stdout,
        "",
        "down removed both networks"
    );
}
