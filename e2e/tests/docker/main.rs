//! The Docker front end to end: Debian's docker CLI, the berth CLI, the
//! Docker SDK for Python and docker-compose against a real berthd.
//!
//! One test binary per front (linked once, not once per file); each module
//! is one area, each test starts its own daemon.

mod api;
mod attach;
mod bad_input;
mod build;
mod cli;
mod commit;
mod compose;
mod cp;
mod default_bridge;
mod dns;
mod health;
mod images;
mod init;
mod observe;
mod ports;
mod restart_policy;
mod sdk;
mod tls;
mod user_networks;
mod volumes;
