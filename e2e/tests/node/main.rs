//! berthd on a node: restarts and upgrades, failpoints, records, images
//! pulled, saved and loaded, isolation, metrics and traces.
//!
//! One test binary per front (linked once, not once per file); each module
//! is one area, each test starts its own daemon.

mod daemon_restart;
mod failpoints;
mod images_archive;
mod images_faults;
mod images_pull;
mod isolation;
mod lifecycle;
mod metrics;
mod records;
mod tracing;
mod upgrade;
