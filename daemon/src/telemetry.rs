//! OpenTelemetry traces, off unless `[tracing] endpoint` is set: berth's
//! `tracing` spans (one per gRPC request, with the engine's steps inside
//! it: CNI, namespace pinning, the shim's start-up, pulls) exported over
//! OTLP/gRPC in batches. A request's `traceparent` (W3C trace context, as
//! kubelet sends it when its tracing is on) makes its span a child of the
//! caller's; berth's own traces are sampled at `sampling_ratio`.
//!
//! Off, nothing here runs: no layer, no exporter thread, no header parsing.

use crate::config::TracingSection;
use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tonic::codegen::http;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::Layer;

/// The exporter, kept to flush at shutdown.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// The spans that are exported: berth's own, at info and above (not the
/// HTTP/2 and gRPC libraries' internals).
fn exported() -> Targets {
    Targets::new()
        .with_target("berthd", tracing::Level::INFO)
        .with_target("berth_engine", tracing::Level::INFO)
        .with_target("berth_cri", tracing::Level::INFO)
        .with_target("berth_cni", tracing::Level::INFO)
}

/// The layer that exports spans, and its handle. Must run inside the tokio
/// runtime (the gRPC client lives on it).
pub fn layer<S>(cfg: &TracingSection) -> anyhow::Result<(impl Layer<S>, Telemetry)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&cfg.endpoint)
        .build()
        .context("tracing: the OTLP exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            cfg.sampling_ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(cfg.service_name.clone()).build())
        .build();
    let tracer = provider.tracer("berthd");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(exported());
    Ok((layer, Telemetry { provider }))
}

impl Telemetry {
    /// Sends what is still buffered; waits for the collector at most its timeout.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "tracing: flushing the last spans");
        }
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The caller's trace context from a request's `traceparent` and
/// `tracestate` headers (an empty context without them).
pub fn caller(headers: &http::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    #[test]
    fn traceparent_as_w3c_says() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap(),
        );
        let cx = caller(&h);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
        h.insert("traceparent", "garbage".parse().unwrap());
        assert!(!caller(&h).span().span_context().is_valid());
    }
}
