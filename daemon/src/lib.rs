//! berthd: configuration, and the daemon's life (`server.rs`): one engine
//! behind two fronts, Kubernetes CRI v1 over gRPC on the CRI socket and the
//! Docker Engine API (`berth-docker`) on the Docker socket.

pub mod config;
pub mod grpc;
pub mod metrics;
mod server;
pub mod telemetry;

pub use server::run;
