//! berthd: configuration, the gRPC server on the API socket, and the thin
//! adapter that turns engine API requests into engine calls.

pub mod api;
pub mod config;
pub mod grpc;
mod image_api;
pub mod metrics;
mod server;
pub mod status;
pub mod telemetry;

pub use server::run;
