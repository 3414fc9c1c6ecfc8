//! The CRI front end to end: a CRI v1 client on a real berthd's socket, as
//! kubelet and crictl drive it (pods, containers, streaming, images,
//! stats, events, and what critest and a real kubelet found).
//!
//! One test binary per front (linked once, not once per file); each module
//! is one area, each test starts its own daemon.

mod basics;
mod conformance;
mod containers;
mod events;
mod image_volumes;
mod kubelet_requests;
mod metrics;
mod network;
mod pods;
mod seccomp;
mod shared_pid;
mod stats;
mod streaming;
mod websocket;
