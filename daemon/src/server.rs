//! The daemon's life: logging, the engine, the API socket, and a graceful
//! shutdown on SIGTERM/SIGINT that leaves every container running.

use crate::config::Config;
use anyhow::Context;
use std::os::unix::fs::PermissionsExt;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How long in-flight requests get after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs berthd until SIGTERM or SIGINT.
pub fn run(cfg: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(EnvFilter::try_new(&cfg.log_level).unwrap_or_else(|_| EnvFilter::new("info")));
    let (traces, telemetry) = match cfg.tracing.endpoint.is_empty() {
        true => (None, None),
        false => {
            let _in_runtime = rt.enter();
            let (layer, t) = crate::telemetry::layer(&cfg.tracing)?;
            (Some(layer), Some(t))
        }
    };
    tracing_subscriber::registry().with(logs).with(traces).init();
    if telemetry.is_some() {
        tracing::info!(endpoint = %cfg.tracing.endpoint, sampling_ratio = cfg.tracing.sampling_ratio, "exporting traces over OTLP");
    }
    let traced = telemetry.is_some();
    let r = rt.block_on(serve(cfg, traced));
    if let Some(t) = telemetry {
        // The exporter's client runs on the runtime: flush before it goes.
        let _ = rt.block_on(tokio::task::spawn_blocking(move || t.shutdown()));
    }
    r
}

async fn serve(cfg: Config, traced: bool) -> anyhow::Result<()> {
    let engine = berth_engine::Engine::open(cfg.engine()).await.context("open engine")?;
    let sock = engine.paths().socket();
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock)
        .with_context(|| format!("bind {}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %sock.display(), root = %cfg.root.display(), cgroups = %berth_kernel_setup(), "berthd ready");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let (streaming, stream_listener) =
        berth_cri::streaming::Streaming::bind(cfg.streaming.socket_addr()?)
            .await
            .context("bind the streaming server")?;
    tracing::info!(address = %stream_listener.local_addr()?, "streaming server ready");
    let stream_server = tokio::spawn(streaming.clone().serve(engine.clone(), stream_listener));
    let (runtime, images) =
        berth_cri::Cri::new(engine.clone()).with_streaming(streaming).services();
    let rpcs = std::sync::Arc::new(crate::metrics::Rpcs::default());
    let metrics_server = match cfg.metrics.socket_addr()? {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind the metrics endpoint {addr}"))?;
            tracing::info!(address = %l.local_addr()?, "metrics at /metrics");
            Some(tokio::spawn(crate::metrics::serve(l, rpcs.clone(), engine.clone())))
        }
        None => None,
    };
    let docker_engine = engine.clone();
    // The CRI socket serves Kubernetes CRI v1 only; everything else is the Docker API's.
    let routes = tonic::service::Routes::new(runtime).add_service(images).prepare();
    drop(engine);
    // Requests are timed only when someone may ask.
    let per_request =
        crate::grpc::PerRequest { rpcs: metrics_server.is_some().then_some(rpcs), traced };
    let service = tower::ServiceBuilder::new().layer(per_request).service(routes);
    let server = tokio::spawn(crate::grpc::serve(
        listener,
        service,
        async move { stopped.notified().await },
        SHUTDOWN_GRACE,
    ));
    let docker_listener = berth_docker::bind(&cfg.docker.socket)
        .with_context(|| format!("bind the Docker API socket {}", cfg.docker.socket.display()))?;
    tracing::info!(socket = %cfg.docker.socket.display(), "Docker Engine API ready");
    let docker_stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let docker_stopped = docker_stop.clone();
    let docker_tcp = match cfg.docker.tcp_tls()? {
        Some((addr, files)) => {
            let acceptor =
                berth_docker::tls::acceptor(&files).context("the Docker API's TLS files")?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind the Docker API's TCP listener {addr}"))?;
            tracing::info!(address = %listener.local_addr()?, "Docker Engine API on TCP, mutual TLS");
            Some(berth_docker::TcpTls { listener, acceptor })
        }
        None => None,
    };
    let docker_server = tokio::spawn(berth_docker::serve(
        docker_engine,
        docker_listener,
        docker_tcp,
        cfg.builder.grants()?,
        async move { docker_stopped.notified().await },
        SHUTDOWN_GRACE,
    ));
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down; containers keep running");
    stop.notify_one();
    docker_stop.notify_one();
    // Followers of logs would hold a graceful shutdown forever; they reconnect.
    let _ =
        tokio::time::timeout(SHUTDOWN_GRACE + std::time::Duration::from_millis(200), server).await;
    stream_server.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    let _ =
        tokio::time::timeout(SHUTDOWN_GRACE + std::time::Duration::from_millis(200), docker_server)
            .await;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&cfg.docker.socket);
    Ok(())
}

fn berth_kernel_setup() -> String {
    berth_engine::cgroup_setup()
}
