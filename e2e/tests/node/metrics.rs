//! Prometheus metrics: berthd's `/metrics` scraped by Debian's real
//! `prometheus`, and queried through Prometheus' own API.

use berth_e2e::cri::{pod_config, run_pod};
use berth_e2e::Daemon;
use berth_proto::cri;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:port; the body.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// A Prometheus server of the test's own, killed however the test ends
/// (its dir goes after it).
struct Prometheus {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus(target: u16, port: u16) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("prometheus.yml");
    std::fs::write(&conf, format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: berthd\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"))
        .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", conf.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
        .spawn()
        .expect("Debian's prometheus (deploy/test.sh installs it)");
    Prometheus { child, _dir: dir }
}

#[tokio::test]
async fn prometheus_scrapes_berthd() {
    let port = free_port();
    let d = Daemon::start_bare_with(&format!("[metrics]\naddress = \"127.0.0.1:{port}\"\n"));
    d.import_busybox("busybox", &[]);
    let (mut rt, _) = d.cri().await;
    rt.version(cri::VersionRequest::default()).await.unwrap();
    let e = rt
        .container_status(cri::ContainerStatusRequest {
            container_id: "f".repeat(64),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let pod = run_pod(&mut rt, pod_config(&d, "metered")).await;

    // The endpoint itself, in Prometheus' text format.
    let text = get(port, "/metrics").expect("/metrics answers");
    assert!(text.contains(r#"berth_grpc_requests_total{method="/runtime.v1.RuntimeService/Version",grpc_code="Ok"} 1"#), "{text}");
    assert!(text.contains(r#"berth_grpc_requests_total{method="/runtime.v1.RuntimeService/ContainerStatus",grpc_code="NotFound"} 1"#), "{text}");
    assert!(text.contains(r#"berth_grpc_request_duration_seconds_bucket{method="/runtime.v1.RuntimeService/RunPodSandbox",grpc_code="Ok",le="+Inf"} 1"#), "{text}");
    assert!(text.contains("berth_pod_sandboxes{state=\"ready\"} 1"), "{text}");
    assert!(text.contains("# TYPE berth_image_pull_duration_seconds histogram"));
    assert!(get(port, "/other").is_none());

    // Prometheus scrapes it, and answers queries on what it scraped.
    let prom_port = free_port();
    let _prom = prometheus(port, prom_port);
    let query = "/api/v1/query?query=berth_pod_sandboxes%7Bstate%3D%22ready%22%7D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        if let Some(body) = get(prom_port, query) {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["data"]["result"].as_array().is_some_and(|r| !r.is_empty()) {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "prometheus never scraped berthd");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let sample = &answer["data"]["result"][0];
    assert_eq!(sample["metric"]["job"], "berthd");
    assert_eq!(sample["value"][1], "1");
    let up = get(prom_port, "/api/v1/query?query=up").unwrap();
    assert!(up.contains(r#""value":["#) && up.contains(r#","1"]"#), "{up}");

    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}
