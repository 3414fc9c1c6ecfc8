//! The Kubernetes CRI v1 front: `RuntimeService` and `ImageService` served
//! over the same engine (and socket) as berth's own API.
//!
//! Each RPC is a thin adapter in its own file: CRI messages are converted to
//! engine calls once, and engine errors become gRPC codes through the one
//! mapping (`From<berth_engine::Error> for tonic::Status`). RPCs that berth
//! does not implement yet answer `Unimplemented` with a clear message —
//! never a silent wrong answer.

mod image;
mod runtime;
mod stream;
pub mod streaming;

use berth_engine::Engine;
use berth_proto::cri::image_service_server::ImageServiceServer;
use berth_proto::cri::runtime_service_server::RuntimeServiceServer;
use std::sync::{Arc, Mutex};

/// The CRI API version berth speaks.
pub const RUNTIME_API_VERSION: &str = "v1";
/// The runtime name kubelet and crictl show.
pub const RUNTIME_NAME: &str = "berth";

/// Shared state of the CRI front.
#[derive(Clone)]
pub struct Cri {
    engine: Engine,
    /// Set by kubelet through UpdateRuntimeConfig.
    pod_cidr: Arc<Mutex<String>>,
    /// The last CPU sample (unix nanos, cumulative ns) per container or pod.
    cpu_samples: Arc<Mutex<std::collections::HashMap<String, (i64, u64)>>>,
    /// Where Exec and PortForward URLs point; `None`: those RPCs are unavailable.
    streaming: Option<Arc<streaming::Streaming>>,
}

impl Cri {
    pub fn new(engine: Engine) -> Self {
        Self { engine, pod_cidr: Arc::default(), cpu_samples: Arc::default(), streaming: None }
    }

    /// With the streaming server for Exec and PortForward.
    pub fn with_streaming(mut self, s: Arc<streaming::Streaming>) -> Self {
        self.streaming = Some(s);
        self
    }

    /// The two tonic services, ready to be added to a server.
    pub fn services(self) -> (RuntimeServiceServer<Cri>, ImageServiceServer<Cri>) {
        (RuntimeServiceServer::new(self.clone()), ImageServiceServer::new(self))
    }

    pub fn pod_cidr(&self) -> String {
        self.pod_cidr.lock().unwrap().clone()
    }
}

/// `Unimplemented`, naming the RPC.
pub(crate) fn not_yet(rpc: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("{rpc} is not implemented by berth yet"))
}
