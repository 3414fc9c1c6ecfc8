//! The compose figure: Debian's docker-compose 1.29 brings up a
//! three-service project — db with a healthcheck, api (with one) waiting
//! for db to be healthy, web waiting for api, on a network of the
//! project's own, a named volume, a published port — until every service
//! runs and every healthcheck says healthy. Each sample is `up -d` and the
//! wait, as a user waits for them; `down -v -t 0` after is not timed. Both
//! engines probe every 100 ms, so the healthchecks' own waits are alike.

use crate::report::{Figure, Floor};
use anyhow::{bail, Context};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn project(image: &str, subnet: &str) -> String {
    format!(
        r#"version: "3.9"
services:
  db:
    image: {image}
    volumes: [dbdata:/data]
    networks: [app]
    command: sh -c "echo db > /tmp/i; touch /tmp/ready; exec httpd -f -p 5432 -h /tmp"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 100ms
      retries: 100
  api:
    image: {image}
    networks: [app]
    depends_on:
      db:
        condition: service_healthy
    command: sh -c "echo api > /tmp/i; exec httpd -f -p 8000 -h /tmp"
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://db:5432/i"]
      interval: 100ms
      retries: 100
  web:
    image: {image}
    networks: [app]
    ports: ["127.0.0.1::80"]
    depends_on:
      api:
        condition: service_healthy
    command: sh -c "echo web > /tmp/i; exec httpd -f -p 80 -h /tmp"
networks:
  app:
    ipam:
      config: [{{subnet: "{subnet}"}}]
volumes:
  dbdata:
"#
    )
}

fn compose(socket: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("/usr/bin/docker-compose")
        .args(["-p", "bench"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DOCKER_CONFIG", socket.with_file_name("docker-config"))
        .env_remove("DOCKER_API_VERSION")
        .stdin(Stdio::null())
        .output()
        .context("run docker-compose")?;
    if !out.status.success() {
        bail!(
            "docker-compose {args:?} against {}: {}",
            socket.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Whether the project's three containers run and none is unhealthy or starting.
fn all_healthy(socket: &Path) -> bool {
    let out = super::docker::docker(
        socket,
        &["ps", "--filter", "label=com.docker.compose.project=bench", "--format", "{{.Status}}"],
    );
    let Ok(out) = out else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    lines.len() == 3
        && lines
            .iter()
            .all(|l| l.starts_with("Up") && !l.contains("starting") && !l.contains("unhealthy"))
}

/// `docker-compose up -d` until all healthy, on both, alternating; and the
/// client's own floor, which no engine can go below: docker-compose's
/// start-up and one look at the project (`ps` with nothing up, on berth).
pub fn up(
    sides: &[(&str, &Path); 2],
    runs: usize,
    image: &str,
    base: &Path,
) -> anyhow::Result<(Figure, Floor)> {
    let mut fig = Figure::new(
        "docker-compose up -d (3 services, healthchecks, depends_on healthy), until all healthy",
    );
    let dirs: Vec<std::path::PathBuf> =
        ["berth", "dockerd"].iter().map(|w| base.join(format!("compose-{w}"))).collect();
    for (d, subnet) in dirs.iter().zip(["10.246.0.0/24", "10.247.0.0/24"]) {
        std::fs::create_dir_all(d)?;
        std::fs::write(d.join("docker-compose.yml"), project(image, subnet))?;
    }
    let once = |s: &Path, dir: &Path| -> anyhow::Result<Duration> {
        let t = Instant::now();
        compose(s, dir, &["up", "-d"])?;
        while !all_healthy(s) {
            if t.elapsed() > Duration::from_secs(60) {
                bail!("the project never got healthy on {}", s.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = t.elapsed();
        // (httpd as PID 1 ignores SIGTERM: no grace period to wait out, untimed anyway.)
        compose(s, dir, &["down", "-v", "-t", "0"])?;
        Ok(took)
    };
    let dir_of = |who: &str| if who == "berth" { &dirs[0] } else { &dirs[1] };
    for (who, s) in sides {
        once(s, dir_of(who))?;
    }
    for i in 0..runs {
        let order = if i % 2 == 0 { [sides[0], sides[1]] } else { [sides[1], sides[0]] };
        for (who, s) in order {
            fig.push(who, once(s, dir_of(who))?);
        }
    }
    let mut floor = Floor {
        name: "docker-compose ps (client start + one look at the project, berth)".into(),
        samples: Vec::new(),
    };
    for _ in 0..runs {
        let t = Instant::now();
        compose(sides[0].1, &dirs[0], &["ps"])?;
        floor.samples.push(t.elapsed());
    }
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    eprintln!("  compose up: done");
    Ok((fig, floor))
}
