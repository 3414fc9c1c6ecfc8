//! A gRPC channel to berthd over its unix socket.

use crate::Failure;
use berth_proto::engine::engine_client::EngineClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

pub type Client = EngineClient<Channel>;

fn socket_path(host: &str) -> Result<String, Failure> {
    match host.strip_prefix("unix://") {
        Some(p) => Ok(p.to_owned()),
        None if host.starts_with('/') => Ok(host.to_owned()),
        None => Err(Failure { message: format!("Error: unsupported host {host:?}: use unix:///path/to/berth.sock"), code: 1 }),
    }
}

/// Connects to berthd.
pub async fn connect(host: &str) -> Result<Client, Failure> {
    let path = socket_path(host)?;
    let p = path.clone();
    let channel = Endpoint::from_static("http://berthd.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let p = p.clone();
            async move { tokio::net::UnixStream::connect(p).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|_| Failure { message: format!("Cannot connect to the berth daemon at unix://{path}. Is berthd running?"), code: 1 })?;
    Ok(EngineClient::new(channel).max_decoding_message_size(64 << 20))
}
