//! OpenTelemetry traces: berthd exports its spans over OTLP/gRPC to a
//! receiver this test starts — the OTLP TraceService of OpenTelemetry's
//! own protocol definitions (opentelemetry-proto), what a collector serves
//! on 4317. A CRI request carrying kubelet's `traceparent` continues the
//! caller's trace; the engine's steps (CNI, pinning, the shim's start-up)
//! are children of the request's span; berth's own traces follow the
//! sampling ratio.

use berth_e2e::cri::{container, pod_config};
use berth_e2e::Daemon;
use berth_proto::cri;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver got: each span with its resource's service name.
#[derive(Default, Clone)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for rs in req.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                self.spans
                    .lock()
                    .unwrap()
                    .extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn traced<T>(msg: T, traceparent: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    r
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn spans_go_to_an_otlp_receiver_under_the_callers_trace() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = Receiver::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    // berth's own traces at ratio 0: only callers' sampled traces are recorded.
    let mut d = Daemon::start_bare_with(&format!(
        "[tracing]\nendpoint = \"http://127.0.0.1:{port}\"\nsampling_ratio = 0.0\n"
    ));
    d.env = vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())];
    d.restart();
    d.import_busybox("busybox", &[r#"CMD ["sh"]"#]);
    let (mut rt, _img) = d.cri().await;
    rt.version(cri::VersionRequest::default()).await.unwrap();
    let parent = format!("00-{TRACE}-{CALLER}-01");
    let pod = rt
        .run_pod_sandbox(traced(
            cri::RunPodSandboxRequest {
                config: Some(pod_config(&d, "traced")),
                runtime_handler: String::new(),
            },
            &parent,
        ))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let create = cri::CreateContainerRequest {
        pod_sandbox_id: pod.clone(),
        config: Some(container("c", &["sleep", "1000"])),
        sandbox_config: Some(pod_config(&d, "traced")),
    };
    let c = rt.create_container(traced(create, &parent)).await.unwrap().into_inner().container_id;
    rt.start_container(traced(cri::StartContainerRequest { container_id: c.clone() }, &parent))
        .await
        .unwrap();

    let named = |name: &str| {
        receiver
            .spans
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| s.name == name)
            .map(|(svc, s)| (svc.clone(), s.clone()))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while named("shim_start").is_none() {
        assert!(
            Instant::now() < deadline,
            "no shim_start span arrived; got {:?}",
            receiver.spans.lock().unwrap().iter().map(|(_, s)| s.name.clone()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (service, run) =
        named("/runtime.v1.RuntimeService/RunPodSandbox").expect("the RunPodSandbox span");
    assert!(service.contains("berthd"), "{service}");
    assert_eq!(hex(&run.trace_id), TRACE, "the caller's trace");
    assert_eq!(hex(&run.parent_span_id), CALLER, "a child of the caller's span");
    assert_eq!(run.kind, 2, "a server span");
    // Whether `span` is `ancestor` or below it.
    let under = |span: &Span, ancestor: &Span| {
        let all = receiver.spans.lock().unwrap().clone();
        let mut cur = Some(span.clone());
        while let Some(s) = cur {
            if s.span_id == ancestor.span_id {
                return true;
            }
            cur = all.iter().find(|(_, p)| p.span_id == s.parent_span_id).map(|(_, p)| p.clone());
        }
        false
    };
    for step in ["pin_namespaces", "cni_add"] {
        let (_, s) = named(step).unwrap_or_else(|| panic!("a {step} span"));
        assert!(under(&s, &run), "{step} is a step of RunPodSandbox");
    }
    let (_, start) =
        named("/runtime.v1.RuntimeService/StartContainer").expect("the StartContainer span");
    let (_, shim) = named("shim_start").unwrap();
    assert!(
        hex(&shim.trace_id) == TRACE && under(&shim, &start),
        "the shim's start-up is a step of StartContainer"
    );
    assert!(shim.end_time_unix_nano > shim.start_time_unix_nano);
    // Unsampled: the untraced Version call, and the CLI's import.
    assert!(
        receiver.spans.lock().unwrap().iter().all(|(_, s)| hex(&s.trace_id) == TRACE),
        "only the caller's trace was recorded"
    );

    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
    server.abort();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
